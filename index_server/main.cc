// index_server: the community's index (IndexService over PostgreSQL).
//
//   index_server init DIR [--advertise=HOST:PORT]      (a new community)
//   index_server enrol-supernode DIR --out=STATE_DIR   (a supernode's cert)
//   index_server renew-index DIR                        (the index's cert)
//   index_server --config=DIR/config
//   index_server --postgres="host=db user=trove dbname=trove"
//       --listen=0.0.0.0:7400 --tls_cert=... --tls_key=... --tls_ca=...
//       [--ready_file=PATH] [--lease_seconds=60] ...
//
// At start it waits (bounded) for PostgreSQL, applies the schema
// migrations, then serves while it loads the catalog into memory for
// search (gRPC health says NOT_SERVING until that is done). A background
// thread drops the sources of supernodes whose lease ended and trims the
// change log. SIGINT/SIGTERM stop it gracefully.
#include <libpq-fe.h>
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <iostream>
#include <optional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/community_link.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rate_limit.h"
#include "common/server_util.h"
#include "common/tls.h"
#include "common/tls_credentials.h"
#include "common/tls_flags.h"
#include "common/startup.h"
#include "common/validation.h"
#include "index_server/admin_service.h"
#include "index_server/admin_token.h"
#include "index_server/election.h"
#include "index_server/election_runner.h"
#include "index_server/index_metrics.h"
#include "index_server/reachability.h"
#include "index_server/community_main.h"
#include "index_server/indexed_store.h"
#include "index_server/pg_store.h"
#include "index_server/service.h"
#include "index_server/supernode_keys_file.h"
#include "index_server/web_page.h"

ABSL_FLAG(std::string, postgres, "",
          "PostgreSQL connection string (libpq keyword=value or "
          "postgresql:// URI). Required.");
ABSL_FLAG(std::string, listen, "127.0.0.1:7400",
          "host:port to serve IndexService on (port 0 picks a free port), "
          "or unix:PATH");
ABSL_FLAG(std::string, ready_file, "",
          "once the catalog is in memory and searches are answered, write "
          "the bound host:port to this file");
ABSL_FLAG(int, db_pool_size, 4,
          "PostgreSQL connections for catalog writes (publishes, "
          "registrations, expiry)");
ABSL_FLAG(int, lease_db_pool_size, 2,
          "PostgreSQL connections kept for lease renewals alone");
ABSL_FLAG(int, read_db_pool_size, 4,
          "PostgreSQL connections for Locate, Bootstrap and the change log");
ABSL_FLAG(int, db_connect_timeout_seconds, 60,
          "at start, keep retrying an unreachable PostgreSQL this long, then "
          "exit with an error");
ABSL_FLAG(int, db_statement_timeout_ms, 30000,
          "cancel any single SQL statement after this long");
ABSL_FLAG(int, max_concurrent_searches, 32,
          "searches answered at once; more are refused with "
          "RESOURCE_EXHAUSTED instead of queued");
ABSL_FLAG(int, change_log_keep_seconds, 900,
          "keep change log entries this long: a replica that falls further "
          "behind loads the whole catalog again");
ABSL_FLAG(int, forget_peers_after_days, 30,
          "forget when a peer became known (its age, which weighs its votes "
          "on names and its reports) once it holds no source and was not "
          "seen this long; it then starts again as a newcomer");
ABSL_FLAG(int, apply_wait_ms, 2000,
          "a write waits at most this long for this replica's memory to "
          "show it before answering");
ABSL_FLAG(int, established_after_seconds, 3600,
          "a peer's sources vote on the name their files show against "
          "newcomers' once the index has known the peer this long (0: at "
          "once); before that they vote only where no established source "
          "does");
ABSL_FLAG(std::string, enrol_supernode_keys, "",
          "a file of supernodes' public keys (64 hex digits a line, as "
          "`supernode --print_key` prints them) to enrol at start, for "
          "bootstrapping a community; keys already enrolled stay, revoked "
          "ones in the file are enrolled again");
ABSL_FLAG(std::string, initial_admin_token_hash, "",
          "the hex SHA-256 of an admin token (role admin) to accept from "
          "the start, as `index_server init` writes it into the config file "
          "for the token it made; stored at start unless a token with this "
          "hash exists (so a revoked one stays revoked)");
ABSL_FLAG(int, moderation_refresh_ms, 1000,
          "read the bans and takedowns sent with supernodes' leases again "
          "after this long (a change made through this index is sent at "
          "once)");
// add-admin-token's own flags (community_main.cc, kept out of config files).
ABSL_DECLARE_FLAG(std::string, role);
ABSL_DECLARE_FLAG(std::string, label);
ABSL_DECLARE_FLAG(std::string, token_out);

ABSL_FLAG(bool, testonly_unenrolled_supernodes, false,
          "TESTS ONLY: accept RegisterSupernode without an enrolled key and "
          "calls without a session");
ABSL_FLAG(bool, testonly_unverified_changes, false,
          "TESTS AND BENCHMARKS ONLY: accept leaves' changes without "
          "verifying their signatures or order");
ABSL_FLAG(int, lease_seconds, 60, "lease granted to supernodes");
ABSL_FLAG(int, renew_every_seconds, 20, "how often supernodes should renew");
ABSL_FLAG(int, presence_grace_seconds, 120,
          "how long a leaf's full list keeps its sources before a signed "
          "presence (forwarded with its supernode's renewals) vouches for "
          "it; a leaf that dies before its first presence arrives is "
          "withdrawn this long after its list");
ABSL_FLAG(int, expire_interval_ms, 5000,
          "how often to drop supernodes whose lease ended, with their sources");
ABSL_FLAG(int, gc_interval_seconds, 3600,
          "how often to forget long-gone peers' standing (the change log "
          "is trimmed at least this often)");
ABSL_FLAG(int, max_deltas_per_batch, 1000, "most deltas in one PublishDeltas");
ABSL_FLAG(int, max_files_per_delta, 100000,
          "most added files (and partial files, and removed cids) in one "
          "delta");
ABSL_FLAG(int, max_signature_bytes, 1024, "most bytes in a delta's signature");
ABSL_FLAG(int, search_default_limit, 50, "search hits when a query asks for 0");
ABSL_FLAG(int, search_max_limit, 500, "most search hits per query");
ABSL_FLAG(int, locate_default_limit, 50, "sources Locate returns by default");
ABSL_FLAG(int, locate_max_limit, 500, "most sources Locate returns");
ABSL_FLAG(int, locate_many_max_cids, 1000, "most cids in one LocateMany call");
ABSL_FLAG(int, bootstrap_limit, 20, "most supernodes Bootstrap returns");
ABSL_FLAG(bool, election, true,
          "run the supernode election (promote peers, demote idle ones)");
ABSL_FLAG(int, target_leaves_per_supernode, 100,
          "election: leaves one supernode should serve at most");
ABSL_FLAG(int, min_supernodes, 2,
          "election: supernodes kept whenever that many eligible peers exist");
ABSL_FLAG(int, election_interval_ms, 10000, "election: how often a round runs");
ABSL_FLAG(int, election_min_uptime_seconds, 300,
          "election: how long a peer must have run to be promoted");
ABSL_FLAG(int, election_bootstrap_min_uptime_seconds, 10,
          "election: the same while no supernode serves at all");
ABSL_FLAG(int, election_min_tenure_seconds, 600,
          "election: a promoted supernode serves at least this long before "
          "a demotion for low load");
ABSL_FLAG(int, election_drain_seconds, 30,
          "election: how long a demoted supernode serves while its leaves move");
ABSL_FLAG(int, election_max_promotions, 4, "election: most promotions per round");
ABSL_FLAG(int, report_every_seconds, 15,
          "how often peers send their capacity report");
ABSL_FLAG(int, reprobe_seconds, 600,
          "how old a peer's reachability check may be before it is dialled "
          "again");
ABSL_FLAG(std::string, peer_search_rate, "20:60",
          "searches a peer (or an address without a proven id) may make: "
          "RATE a second, optionally :BURST at once; 0 for no limit. A "
          "caller over it is told when to retry; one that keeps calling is "
          "cut off (--cut_off_after)");
ABSL_FLAG(std::string, supernode_search_rate, "1000:2000",
          "searches a supernode may make for its leaves (RATE[:BURST]; 0: "
          "no limit)");
ABSL_FLAG(std::string, peer_locate_rate, "50:150",
          "Locate calls a peer or address may make (RATE[:BURST]; 0: no "
          "limit)");
ABSL_FLAG(std::string, supernode_locate_rate, "2000:4000",
          "Locate calls a supernode may make (RATE[:BURST]; 0: no limit)");
ABSL_FLAG(std::string, publish_rate, "50:200",
          "PublishDeltas batches a supernode may send (RATE[:BURST]; 0: no "
          "limit)");
ABSL_FLAG(std::string, join_rate, "10:50",
          "Bootstrap and SupernodeChallenge calls a peer (or an address "
          "without a proven id) may make (RATE[:BURST]; 0: no limit); "
          "supernodes are not limited");
ABSL_FLAG(std::string, join_rate_per_address, "100:500",
          "the same calls from all the identities of one address together "
          "(RATE[:BURST]; 0: no limit; never cut off, so that a shared "
          "address is only slowed)");
ABSL_FLAG(int, cut_off_after, 100,
          "calls a caller makes before the retry time it was given, within "
          "10 seconds, after which it is cut off; 0: never");
ABSL_FLAG(int, cut_off_seconds, 60, "how long a cut-off caller is refused");
ABSL_FLAG(int, shutdown_grace_ms, 5000,
          "on SIGINT/SIGTERM, let running calls finish this long");

// jemalloc's options, which it reads from this symbol when it starts
// (MALLOC_CONF in the environment still adds to them): the index's memory
// on transparent huge pages where the system allows them (THP `madvise`
// or `always`). The search index is millions of small records reached at
// random, and every new 4 KiB page of a growing catalog cost a fault; on
// huge pages the catalog's apply and the search engine used less CPU
// (bench/RESULTS.md).
extern "C" {
const char* malloc_conf = "thp:always";
}

namespace trove {
namespace index_server {
namespace {

// Sleeps `d` unless SIGINT/SIGTERM arrives (they are blocked, so this is
// how the startup retry loop notices them). Returns true on a signal.
bool SleepOrSignal(absl::Duration d) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  timespec ts = absl::ToTimespec(d);
  return sigtimedwait(&set, nullptr, &ts) > 0;
}

// A connection string libpq cannot parse is a usage error, not a reason to
// wait for PostgreSQL.
absl::Status CheckDsnSyntax(const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* parsed = PQconninfoParse(dsn.c_str(), &error);
  if (parsed != nullptr) {
    PQconninfoFree(parsed);
    return absl::OkStatus();
  }
  std::string message = error != nullptr ? error : "out of memory";
  PQfreemem(error);
  return absl::InvalidArgumentError(
      absl::StrCat("--postgres is not a valid connection string: ",
                   absl::StripTrailingAsciiWhitespace(message)));
}

// Connects to PostgreSQL, retrying with backoff until the deadline.
absl::StatusOr<std::unique_ptr<PgIndexStore>> ConnectWithRetry(
    const PgStoreOptions& options, absl::Duration patience) {
  absl::Time deadline = absl::Now() + patience;
  absl::Duration backoff = absl::Milliseconds(250);
  for (int attempt = 1;; ++attempt) {
    absl::StatusOr<std::unique_ptr<PgIndexStore>> store =
        PgIndexStore::Connect(options);
    if (store.ok()) return store;
    if (store.status().code() != absl::StatusCode::kUnavailable) {
      return store.status();
    }
    if (absl::Now() + backoff > deadline) {
      return absl::UnavailableError(absl::StrCat(
          store.status().message(), " (gave up after ", attempt,
          " attempts in ", absl::FormatDuration(patience),
          "; see --db_connect_timeout_seconds)"));
    }
    TROVE_LOG(WARNING) << "PostgreSQL not reachable yet (attempt " << attempt
                       << "): " << store.status().message() << "; retrying in "
                       << backoff;
    if (SleepOrSignal(backoff)) {
      return absl::CancelledError("stopped by a signal while waiting for PostgreSQL");
    }
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

// Runs expiry every `interval`; trims the change log and forgets long-gone
// peers' standing every `gc_interval` (or a quarter of `log_keep`), until
// `stop` is notified.
void Housekeeping(IndexedStore* store, absl::Duration interval,
                  absl::Duration gc_interval,
                  absl::Duration log_keep, absl::Duration standing_keep,
                  absl::Notification* stop) {
  absl::Time next_trim = absl::Now() + std::min(gc_interval, log_keep / 4);
  while (!stop->WaitForNotificationWithTimeout(interval)) {
    absl::StatusOr<ExpiryStats> stats = store->ExpireDeadSupernodes();
    if (!stats.ok()) {
      TROVE_LOG(WARNING) << "lease expiry failed: " << stats.status();
    } else if (stats->supernodes > 0) {
      TROVE_LOG(INFO) << "leases ended: dropped " << stats->supernodes
                      << " supernodes, " << stats->peers << " peers, "
                      << stats->sources << " sources";
    }
    if (absl::Now() >= next_trim) {
      next_trim = absl::Now() + std::min(gc_interval, log_keep / 4);
      absl::StatusOr<int64_t> trimmed = store->pg()->TrimChangeLog(log_keep);
      if (!trimmed.ok()) {
        TROVE_LOG(WARNING) << "trimming the change log failed: "
                           << trimmed.status();
      }
      absl::StatusOr<int64_t> forgotten =
          store->pg()->TrimPeerStanding(standing_keep);
      if (!forgotten.ok()) {
        TROVE_LOG(WARNING) << "forgetting long-gone peers failed: "
                           << forgotten.status();
      } else if (*forgotten > 0) {
        TROVE_LOG(INFO) << "forgot when " << *forgotten
                        << " peers gone for over "
                        << absl::FormatDuration(standing_keep)
                        << " became known";
      }
    }
  }
}

// Once the catalog is in memory: says SERVING on gRPC health and writes
// --ready_file (stopping the server, by SIGTERM, when it cannot).
void ReportReadiness(IndexedStore* store, const RunningServer* server,
                     absl::Notification* stop) {
  while (!stop->HasBeenNotified()) {
    if (!store->follower()->WaitReady(absl::Now() + absl::Milliseconds(200))) {
      continue;
    }
    SetServing(*server, true);
    absl::Status ready =
        WriteReadyFile(absl::GetFlag(FLAGS_ready_file), server->address);
    if (!ready.ok()) {
      TROVE_LOG(ERROR) << "cannot write --ready_file: " << ready;
      kill(getpid(), SIGTERM);
    }
    return;
  }
}

// Runs `fn` on a store connected to --postgres with its schema up to date.
absl::Status WithStore(const std::function<absl::Status(PgIndexStore*)>& fn) {
  PgStoreOptions options;
  options.dsn = absl::GetFlag(FLAGS_postgres);
  absl::StatusOr<std::unique_ptr<PgIndexStore>> store =
      PgIndexStore::Connect(options);
  if (!store.ok()) return store.status();
  absl::StatusOr<int> migrated = (*store)->Migrate();
  if (!migrated.ok()) return migrated.status();
  return fn(store->get());
}

// The flood-control flags into `options`; INVALID_ARGUMENT naming a bad one.
absl::Status RateLimitsFromFlags(IndexServiceOptions* options) {
  const struct {
    const char* flag;
    std::string value;
    RateLimitOptions* out;
  } limits[] = {
      {"peer_search_rate", absl::GetFlag(FLAGS_peer_search_rate),
       &options->peer_search_rate},
      {"supernode_search_rate", absl::GetFlag(FLAGS_supernode_search_rate),
       &options->supernode_search_rate},
      {"peer_locate_rate", absl::GetFlag(FLAGS_peer_locate_rate),
       &options->peer_locate_rate},
      {"supernode_locate_rate", absl::GetFlag(FLAGS_supernode_locate_rate),
       &options->supernode_locate_rate},
      {"publish_rate", absl::GetFlag(FLAGS_publish_rate), &options->publish_rate},
      {"join_rate", absl::GetFlag(FLAGS_join_rate), &options->join_rate},
      {"join_rate_per_address", absl::GetFlag(FLAGS_join_rate_per_address),
       &options->join_rate_per_address},
  };
  for (const auto& limit : limits) {
    absl::StatusOr<RateLimitOptions> parsed =
        ParseRateLimit(limit.value, limit.flag);
    if (!parsed.ok()) return parsed.status();
    parsed->cut_off_after = std::max(0, absl::GetFlag(FLAGS_cut_off_after));
    parsed->cut_off_for =
        absl::Seconds(std::max(1, absl::GetFlag(FLAGS_cut_off_seconds)));
    *limit.out = *parsed;
  }
  options->join_rate_per_address.cut_off_after = 0;
  return absl::OkStatus();
}

// The `postgres` setting of the config file at `path`; empty when the file
// is missing, unreadable or does not set it.
std::string PostgresFromCommunityConfig(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return "";
  absl::StatusOr<std::vector<ConfigSetting>> settings = ParseConfig(*text, path);
  if (!settings.ok()) return "";
  for (const ConfigSetting& setting : *settings) {
    if (setting.name == "postgres") return setting.value;
  }
  return "";
}

// Enrols the keys listed in the file at `path`.
absl::Status EnrolKeysFromFile(PgIndexStore* store, const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::vector<std::string>> keys = ParseSupernodeKeys(*text);
  if (!keys.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", keys.status().message()));
  }
  for (const std::string& key : *keys) {
    absl::StatusOr<std::string> id =
        store->EnrolSupernodeKey(key, "enrolled", true, "--enrol_supernode_keys");
    if (!id.ok()) return id.status();
    TROVE_LOG(INFO) << "supernode key " << id->substr(0, 12) << "... enrolled";
  }
  return absl::OkStatus();
}

// Stores the admin token whose hash `init` put into the config file,
// unless a token with that hash is stored already (revoked or not).
absl::Status StoreInitialAdminToken(PgIndexStore* store,
                                    const std::string& hash) {
  if (absl::Status s = ValidateHexId(hash, "the hash"); !s.ok()) {
    return absl::InvalidArgumentError(
        "must be 64 lowercase hex digits (the SHA-256 of an admin token)");
  }
  absl::StatusOr<AdminTokenRecord> known = store->FindAdminToken(hash);
  if (known.ok()) return absl::OkStatus();
  if (known.status().code() != absl::StatusCode::kNotFound) {
    return known.status();
  }
  absl::StatusOr<NewAdminToken> id = MakeAdminToken();  // for its random id
  if (!id.ok()) return id.status();
  absl::Status s = store->AddAdminToken(id->token_id, hash, "admin",
                                        "the first token, made by init",
                                        "index_server init");
  if (s.ok()) {
    TROVE_LOG(INFO) << "accepted the admin token made by init (id "
                    << id->token_id << ")";
  }
  return s;
}

// `index_server add-admin-token --postgres=DSN [--role=R] [--label=L]
// [--token_out=FILE]`.
int RunAddAdminToken() {
  if (absl::GetFlag(FLAGS_postgres).empty()) {
    std::cerr << "index_server add-admin-token: give --postgres=DSN (the "
                 "index's database)\n";
    return 2;
  }
  if (absl::Status s = ParseAdminRole(absl::GetFlag(FLAGS_role)).status();
      !s.ok()) {
    std::cerr << "index_server add-admin-token: --role: " << s.message()
              << "\n";
    return 2;
  }
  NewAdminToken made;
  absl::Status s = WithStore([&](PgIndexStore* store) -> absl::Status {
    absl::StatusOr<NewAdminToken> token =
        CreateAdminToken(store, absl::GetFlag(FLAGS_role),
                         absl::GetFlag(FLAGS_label),
                         "index_server add-admin-token");
    if (!token.ok()) return token.status();
    made = *std::move(token);
    return absl::OkStatus();
  });
  if (!s.ok()) {
    std::cerr << "index_server add-admin-token: " << s.message() << "\n";
    return absl::IsInvalidArgument(s) ? 2 : 1;
  }
  const std::string out = absl::GetFlag(FLAGS_token_out);
  if (!out.empty()) {
    if (absl::Status w = WriteFileAtomic(out, made.token + "\n", 0600);
        !w.ok()) {
      std::cerr << "index_server add-admin-token: the token (id "
                << made.token_id << ") is stored but could not be written: "
                << w.message() << "; revoke it with trove-admin token-revoke "
                << made.token_id << "\n";
      return 1;
    }
    std::cout << "Made admin token " << made.token_id << " (role "
              << absl::GetFlag(FLAGS_role) << ") in " << out << "\n";
    return 0;
  }
  std::cout << made.token << "\n";
  std::cerr << "admin token " << made.token_id << " (role "
            << absl::GetFlag(FLAGS_role)
            << "); it is shown only now: keep it secret\n";
  return 0;
}

// The index's TLS: its CA-issued certificate and key, and the community CA
// (to check supernodes' certificates), from --tls_*; plaintext only with
// --insecure.
absl::StatusOr<std::shared_ptr<const TlsContext>> IndexTls() {
  TlsFlags flags = GetTlsFlags();
  if (flags.insecure) return TlsContext::Insecure();
  if (flags.cert.empty() || flags.key.empty() || flags.ca.empty()) {
    return absl::InvalidArgumentError(
        "TLS is on: give --tls_cert, --tls_key and --tls_ca (`index_server "
        "init DIR` makes them and a config file naming them), or --insecure "
        "for plaintext in tests");
  }
  std::string pem[3];
  const std::pair<const char*, std::string*> files[] = {
      {"tls_cert", &flags.cert}, {"tls_key", &flags.key}, {"tls_ca", &flags.ca}};
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::string> data =
        ReadPemFlag(files[i].first, *files[i].second);
    if (!data.ok()) return data.status();
    pem[i] = std::move(*data);
  }
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
      TlsContext::Create(pem[1], pem[0], pem[2]);
  if (!tls.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert/--tls_key/--tls_ca: ", tls.status().message()));
  }
  if ((*tls)->own().role != CertRole::kIndex) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_cert is a ", CertRoleName((*tls)->own().role),
        " certificate, not the index's"));
  }
  if (absl::Status s = VerifyIssuedBy(pem[0], pem[2], absl::Now()); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert does not check against --tls_ca: ", s.message()));
  }
  return tls;
}

int Main() {
  SetLogTag("index_server");
  const std::string dsn = absl::GetFlag(FLAGS_postgres);
  if (dsn.empty()) {
    TROVE_LOG(ERROR) << "--postgres is required (a PostgreSQL connection "
                        "string); see --help";
    return 2;
  }
  // Checked before anything touches the database.
  if (absl::Status s = ValidateListenAddress(absl::GetFlag(FLAGS_listen)); !s.ok()) {
    TROVE_LOG(ERROR) << "--listen: " << s.message();
    return 2;
  }
  if (absl::Status s = CheckDsnSyntax(dsn); !s.ok()) {
    TROVE_LOG(ERROR) << s.message();
    return 2;
  }
  IndexServiceOptions options;
  if (absl::Status limits = RateLimitsFromFlags(&options); !limits.ok()) {
    TROVE_LOG(ERROR) << limits.message();
    return 2;
  }
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls = IndexTls();
  if (!tls.ok()) {
    TROVE_LOG(ERROR) << tls.status().message();
    return 2;
  }
  if ((*tls)->insecure()) {
    TROVE_LOG(WARNING) << "--insecure: plaintext, no certificates (for tests "
                          "only)";
  }
  SetDefaultTls(*tls);
  if (absl::Status s = metrics::StartMetricsFromFlags().status(); !s.ok()) {
    TROVE_LOG(ERROR) << s.message();
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  for (auto [name, value] :
       {std::pair<const char*, int>{"lease_seconds", absl::GetFlag(FLAGS_lease_seconds)},
        {"renew_every_seconds", absl::GetFlag(FLAGS_renew_every_seconds)},
        {"expire_interval_ms", absl::GetFlag(FLAGS_expire_interval_ms)},
        {"presence_grace_seconds", absl::GetFlag(FLAGS_presence_grace_seconds)},
        {"db_pool_size", absl::GetFlag(FLAGS_db_pool_size)},
        {"lease_db_pool_size", absl::GetFlag(FLAGS_lease_db_pool_size)},
        {"read_db_pool_size", absl::GetFlag(FLAGS_read_db_pool_size)},
        {"max_concurrent_searches", absl::GetFlag(FLAGS_max_concurrent_searches)},
        {"change_log_keep_seconds", absl::GetFlag(FLAGS_change_log_keep_seconds)},
        {"forget_peers_after_days", absl::GetFlag(FLAGS_forget_peers_after_days)},
        {"max_deltas_per_batch", absl::GetFlag(FLAGS_max_deltas_per_batch)},
        {"max_files_per_delta", absl::GetFlag(FLAGS_max_files_per_delta)},
        {"search_max_limit", absl::GetFlag(FLAGS_search_max_limit)},
        {"locate_max_limit", absl::GetFlag(FLAGS_locate_max_limit)},
        {"locate_many_max_cids", absl::GetFlag(FLAGS_locate_many_max_cids)}}) {
    if (value <= 0) {
      TROVE_LOG(ERROR) << "--" << name << " must be positive, got " << value;
      return 2;
    }
  }

  PgStoreOptions store_options;
  store_options.dsn = dsn;
  store_options.pool_size = absl::GetFlag(FLAGS_db_pool_size);
  store_options.lease_pool_size = absl::GetFlag(FLAGS_lease_db_pool_size);
  store_options.read_pool_size = absl::GetFlag(FLAGS_read_db_pool_size);
  store_options.presence_grace =
      absl::Seconds(absl::GetFlag(FLAGS_presence_grace_seconds));
  store_options.statement_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_db_statement_timeout_ms));
  absl::StatusOr<std::unique_ptr<PgIndexStore>> store = ConnectWithRetry(
      store_options, absl::Seconds(absl::GetFlag(FLAGS_db_connect_timeout_seconds)));
  if (!store.ok()) {
    TROVE_LOG(ERROR) << "cannot use PostgreSQL: " << store.status().message();
    return 1;
  }
  absl::StatusOr<int> migrated = (*store)->Migrate();
  if (!migrated.ok()) {
    TROVE_LOG(ERROR) << "schema migration failed: " << migrated.status();
    return 1;
  }
  TROVE_LOG(INFO) << "schema up to date (" << *migrated << " migrations applied now)";
  if (const std::string path = absl::GetFlag(FLAGS_enrol_supernode_keys);
      !path.empty()) {
    absl::Status s = EnrolKeysFromFile(store->get(), path);
    if (!s.ok()) {
      TROVE_LOG(ERROR) << "--enrol_supernode_keys: " << s.message();
      return 2;
    }
  }

  if (const std::string hash = absl::GetFlag(FLAGS_initial_admin_token_hash);
      !hash.empty()) {
    absl::Status s = StoreInitialAdminToken(store->get(), hash);
    if (!s.ok()) {
      TROVE_LOG(ERROR) << "--initial_admin_token_hash: " << s.message();
      return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
    }
  }

  options.lease = absl::Seconds(absl::GetFlag(FLAGS_lease_seconds));
  options.renew_every = absl::Seconds(absl::GetFlag(FLAGS_renew_every_seconds));
  options.max_deltas_per_batch = absl::GetFlag(FLAGS_max_deltas_per_batch);
  options.max_files_per_delta = absl::GetFlag(FLAGS_max_files_per_delta);
  options.max_signature_bytes = absl::GetFlag(FLAGS_max_signature_bytes);
  options.search_default_limit = absl::GetFlag(FLAGS_search_default_limit);
  options.search_max_limit = absl::GetFlag(FLAGS_search_max_limit);
  options.locate_default_limit = absl::GetFlag(FLAGS_locate_default_limit);
  options.locate_max_limit = absl::GetFlag(FLAGS_locate_max_limit);
  options.locate_many_max_cids = absl::GetFlag(FLAGS_locate_many_max_cids);
  options.bootstrap_limit = absl::GetFlag(FLAGS_bootstrap_limit);
  options.max_concurrent_searches = absl::GetFlag(FLAGS_max_concurrent_searches);
  IndexedStore::Options indexed_options;
  indexed_options.follower.catalog.establish_after = absl::Seconds(
      std::max(0, absl::GetFlag(FLAGS_established_after_seconds)));
  indexed_options.apply_wait =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_apply_wait_ms)));
  IndexedStore indexed(store->get(), indexed_options);
  indexed.Start();
  options.require_supernode_keys =
      !absl::GetFlag(FLAGS_testonly_unenrolled_supernodes);
  options.verify_leaf_changes = !absl::GetFlag(FLAGS_testonly_unverified_changes);
  options.report_every =
      absl::Seconds(std::max(1, absl::GetFlag(FLAGS_report_every_seconds)));
  options.reprobe_after =
      absl::Seconds(std::max(1, absl::GetFlag(FLAGS_reprobe_seconds)));
  options.drain = absl::Seconds(absl::GetFlag(FLAGS_election_drain_seconds));
  ElectionParams election;
  election.target_leaves_per_supernode =
      absl::GetFlag(FLAGS_target_leaves_per_supernode);
  election.min_supernodes = absl::GetFlag(FLAGS_min_supernodes);
  election.min_uptime =
      absl::Seconds(absl::GetFlag(FLAGS_election_min_uptime_seconds));
  election.bootstrap_min_uptime =
      absl::Seconds(absl::GetFlag(FLAGS_election_bootstrap_min_uptime_seconds));
  election.min_tenure =
      absl::Seconds(absl::GetFlag(FLAGS_election_min_tenure_seconds));
  election.drain = options.drain;
  election.max_promotions_per_round = absl::GetFlag(FLAGS_election_max_promotions);
  // A peer that missed three reports is gone.
  election.report_ttl = options.report_every * 3 + absl::Seconds(5);
  if (absl::Status s = ValidateElectionParams(election); !s.ok()) {
    TROVE_LOG(ERROR) << s.message();
    return 2;
  }
  std::unique_ptr<metrics::ScrapeHook> index_metrics = ExportIndexMetrics(&indexed);
  ModerationLists moderation(
      store->get(),
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_moderation_refresh_ms))));
  options.lease_extras = [&moderation](index::LeaseResponse* lease) {
    moderation.Fill(lease);
  };
  AdminCore::Options admin_options;
  admin_options.tls = !(*tls)->insecure();
  AdminCore admin_core(store->get(), store->get(), &moderation, admin_options);
  AdminServiceImpl admin_service(&admin_core);
  IndexServiceImpl service(&indexed, store->get(), options);
  std::unique_ptr<PeerDialer> dialer = NewGrpcPeerDialer(*tls);
  std::unique_ptr<ReachabilityProber> prober;
  std::unique_ptr<ElectionRunner> election_runner;
  if (absl::GetFlag(FLAGS_election)) {
    prober = std::make_unique<ReachabilityProber>(
        store->get(), dialer.get(), ReachabilityProber::Options());
    ReachabilityProber* p = prober.get();
    service.EnableElection(
        {store->get(), [p](const std::string& peer, const std::string& address) {
           p->Enqueue(peer, address);
         }});
    election_runner = std::make_unique<ElectionRunner>(
        store->get(), election,
        absl::Milliseconds(std::max(100, absl::GetFlag(FLAGS_election_interval_ms))));
  }
  absl::StatusOr<std::unique_ptr<WebPage>> web = StartWebPageFromFlags(
      &indexed, options.search_default_limit, options.search_max_limit,
      &admin_core);
  if (!web.ok()) {
    TROVE_LOG(ERROR) << web.status().message();
    return web.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }

  // NOT_SERVING on gRPC health until the catalog is in memory.
  ServerOptions server_options;
  server_options.serving = indexed.ready();
  absl::StatusOr<RunningServer> server =
      StartServer(absl::GetFlag(FLAGS_listen), {&service, &admin_service},
                  (*tls)->ServerCredentials(), server_options);
  if (!server.ok()) {
    TROVE_LOG(ERROR) << server.status().message();
    return 1;
  }
  TROVE_LOG(INFO) << "serving IndexService on " << server->address;
  if (!(*tls)->insecure()) {
    absl::StatusOr<std::string> fp = CertificateFingerprint((*tls)->ca_pem());
    TROVE_LOG(INFO) << "TLS on; peers join with trove://HOST:PORT?ca="
                    << (fp.ok() ? *fp : "?") << " (here: "
                    << "trove://" << server->address << "?ca="
                    << (fp.ok() ? *fp : "?") << ")";
  }

  absl::Notification stop;
  std::thread readiness(ReportReadiness, &indexed, &*server, &stop);
  std::thread housekeeping(
      Housekeeping, &indexed,
      absl::Milliseconds(absl::GetFlag(FLAGS_expire_interval_ms)),
      absl::Seconds(std::max(1, absl::GetFlag(FLAGS_gc_interval_seconds))),
      absl::Seconds(absl::GetFlag(FLAGS_change_log_keep_seconds)),
      absl::Hours(24) * absl::GetFlag(FLAGS_forget_peers_after_days), &stop);

  if (election_runner != nullptr) election_runner->Start();

  int sig = WaitForShutdownSignal();
  TROVE_LOG(INFO) << "signal " << sig << ": shutting down";
  server->server->Shutdown(
      absl::ToChronoTime(absl::Now() +
                         absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_grace_ms))));
  stop.Notify();
  if (election_runner != nullptr) election_runner->Stop();
  if (prober != nullptr) prober->Stop();
  readiness.join();
  housekeeping.join();
  web->reset();
  indexed.Stop();
  TROVE_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace
}  // namespace index_server
}  // namespace trove

int main(int argc, char** argv) {
  // Few malloc arenas: batches are decoded and applied by many threads, and
  // memory they free would otherwise stay with each thread's own arena.
  mallopt(M_ARENA_MAX, 2);
  trove::BlockShutdownSignals();
  // Abseil's deadlock detection (on in the system's build of Abseil) makes
  // every lock, and every mutex destroyed, visit one process-wide graph
  // under a global lock: the server's calls would queue on it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::FlagsUsageConfig usage_config;
  // --help lists this server's flags and the shared server flags (TLS).
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "index_server/") ||
           absl::StrContains(file, "common/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "The Trove index server: supernode directory and leases, and the "
      "catalog of files and their sources, stored in PostgreSQL and searched "
      "in memory.\n"
      "Usage:\n"
      "  index_server init DIR [--listen=HOST:PORT] [--advertise=HOST:PORT] "
      "[--postgres=DSN]\n"
      "      makes a community: its CA, the index's certificate, DIR/config, "
      "and prints the link peers join with\n"
      "  index_server enrol-supernode DIR (--out=STATE_DIR | "
      "--public_key=HEX | --key_file=PEM)\n"
      "      issues a supernode's certificate\n"
      "      (with --postgres=DSN also enrols its key in the index's "
      "database, so it may register)\n"
      "  index_server revoke-supernode ID --postgres=DSN\n"
      "      revokes a supernode's key: it cannot register or renew, and its "
      "sources leave the catalog at once\n"
      "  index_server add-admin-token --postgres=DSN [--role=admin|"
      "moderator|viewer] [--label=TEXT] [--token_out=FILE]\n"
      "      makes an admin token for the AdminService (trove-admin) and "
      "prints it once\n"
      "  index_server renew-index DIR [--cert_days=N]\n"
      "      a new certificate for the index's key (restart the index)\n"
      "  index_server --config=DIR/config\n"
      "  index_server --postgres=DSN [--listen=HOST:PORT] --tls_cert=FILE "
      "--tls_key=FILE --tls_ca=FILE [--ready_file=PATH] ...");
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  // The init and enrol-supernode flags stay out of config files.
  trove::FlagFilter config_flags = [](absl::string_view file) {
    return (absl::StrContains(file, "index_server/") ||
            absl::StrContains(file, "common/")) &&
           !trove::index_server::IsCommunityCommandFlag(file);
  };
  if (positional.size() >= 2) {
    const std::string command = positional[1];
    std::vector<std::string> args(positional.begin() + 2, positional.end());
    if (command == "init") {
      return trove::index_server::RunInit(args, absl::GetFlag(FLAGS_listen),
                                          absl::GetFlag(FLAGS_postgres),
                                          config_flags);
    }
    if (command == "enrol-supernode") {
      if (absl::GetFlag(FLAGS_postgres).empty() && args.size() == 1) {
        // The community's own config names the database the index uses.
        std::string dsn = trove::index_server::PostgresFromCommunityConfig(
            absl::StrCat(args[0], "/config"));
        if (!dsn.empty()) absl::SetFlag(&FLAGS_postgres, dsn);
      }
      if (absl::GetFlag(FLAGS_postgres).empty()) {
        std::cerr << "index_server enrol-supernode: no database known (give "
                     "--postgres=DSN or set postgres in the community's "
                     "config): the certificate is issued but the key is not "
                     "enrolled, so the index will refuse this supernode\n";
        return trove::index_server::RunEnrolSupernode(args);
      }
      return trove::index_server::RunEnrolSupernode(
          args, [](const std::string& key) {
            return trove::index_server::WithStore(
                [&](trove::index_server::PgIndexStore* store) -> absl::Status {
                  absl::StatusOr<std::string> id = store->EnrolSupernodeKey(
                      key, "enrolled", true, "index_server enrol-supernode");
                  if (!id.ok()) return id.status();
                  std::cout << "Enrolled key of supernode " << *id
                            << " in the index's database\n";
                  return absl::OkStatus();
                });
          });
    }
    if (command == "revoke-supernode") {
      if (args.size() != 1 || absl::GetFlag(FLAGS_postgres).empty()) {
        std::cerr << "index_server revoke-supernode: give the supernode's id "
                     "and --postgres=DSN\n";
        return 2;
      }
      absl::Status s = trove::index_server::WithStore(
          [&](trove::index_server::PgIndexStore* store) {
            return store->RevokeSupernodeKey(args[0],
                                             "index_server revoke-supernode");
          });
      if (!s.ok()) {
        std::cerr << "index_server revoke-supernode: " << s.message() << "\n";
        return s.code() == absl::StatusCode::kNotFound ? 2 : 1;
      }
      std::cout << "Revoked supernode " << args[0]
                << ": its lease and sources are gone\n";
      return 0;
    }
    if (command == "add-admin-token") {
      if (!args.empty()) {
        std::cerr << "index_server add-admin-token: takes no words, only "
                     "flags; see --help\n";
        return 2;
      }
      return trove::index_server::RunAddAdminToken();
    }
    if (command == "renew-index") {
      return trove::index_server::RunRenewIndex(args);
    }
    std::cerr << "index_server: unknown command '" << command
              << "' (init, enrol-supernode, revoke-supernode, add-admin-token, "
                 "renew-index, or none to serve); "
                 "see --help\n";
    return 2;
  }
  if (std::optional<int> exit = trove::Startup(
          argc, argv, {"index_server", config_flags, ""})) {
    return *exit;
  }
  return trove::index_server::Main();
}
