// peer_client: the Trove peer. `peer_client daemon` shares folders and
// serves them; `search`, `get`, `status` and `rescan` talk to the daemon
// through its Unix socket in the state folder.
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "common/community_ca.h"
#include "common/community_files.h"
#include "common/community_link.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/server_util.h"
#include "common/startup.h"
#include "common/tls_credentials.h"
#include "common/tls_flags.h"
#include "common/validation.h"
#include "peer_client/cli.h"
#include "peer_client/cli_format.h"
#include "peer_client/daemon.h"

// Shared by every verb.
ABSL_FLAG(std::string, state, "",
          "state folder of the daemon (identity, hash cache, control socket); "
          "default $HOME/.trove");
ABSL_FLAG(bool, json, false, "machine-readable JSON output");

// daemon
ABSL_FLAG(std::string, supernode, "",
          "supernode(s) to join, host:port[,host:port...] (first is primary)");
ABSL_FLAG(std::string, index, "",
          "index server host:port to ask for a supernode (instead of "
          "--supernode, or as a fallback)");
ABSL_FLAG(std::string, join, "",
          "daemon: the community's link, trove://HOST:PORT?ca=FINGERPRINT: the "
          "index to ask for a supernode and the CA to trust (learned from the "
          "index once and kept in STATE/community_ca.pem)");
ABSL_FLAG(int, join_timeout_ms, 30000,
          "daemon: at the first start with --join, how long to try the index "
          "to learn the community CA");
ABSL_FLAG(std::vector<std::string>, share, {},
          "folders to share, comma-separated (recursively)");
ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port for serving files to other peers (port 0: a free port)");
ABSL_FLAG(std::string, advertise, "",
          "host:port to announce to the network instead of the bound address");
ABSL_FLAG(std::string, ready_file, "",
          "write the serving address here once the daemon is ready");
ABSL_FLAG(int, rescan_interval_ms, 5000, "how often shared folders are rescanned");
ABSL_FLAG(std::string, download_dir, "",
          "daemon: where downloads are saved (default STATE/downloads)");
ABSL_FLAG(bool, share_downloads, true,
          "daemon: share the download folder (--noshare_downloads: do not)");
ABSL_FLAG(int, extent_chunks, 4,
          "daemon: chunks per extent of the random chunk order among equally "
          "rare chunks");
ABSL_FLAG(bool, initial_seeding, true,
          "daemon: while a crowd downloads a file held in full, send each "
          "chunk to one downloader until every chunk went out once");
ABSL_FLAG(int, max_uploads, 32,
          "peers served at once (upload slots); more wait in a queue");
ABSL_FLAG(int, slot_idle_ms, 2000,
          "free an upload slot after this long without a request from its peer");
ABSL_FLAG(int, slot_retry_after_ms, 1000,
          "how soon a queued peer is told to ask again");
ABSL_FLAG(int, queue_stale_ms, 3000,
          "drop a queued peer that has not asked again for this long");
ABSL_FLAG(int, max_upload_queue, 1000, "most peers waiting for an upload slot");
ABSL_FLAG(int, slot_turn_ms, 5000,
          "while others wait, a peer keeps an upload slot this long at most, "
          "then queues again (0: no limit)");
ABSL_FLAG(int, max_streams_per_peer, 16,
          "chunk streams served to one peer at once");
ABSL_FLAG(int, upload_stall_ms, 60000,
          "a chunk stream whose peer takes no data for this long is cancelled "
          "and the peer loses its upload slot for as long (0: never)");
ABSL_FLAG(std::string, max_upload_rate, "0",
          "upload limit, bytes/s over all peers (10M, 512k...; 0: unlimited)");
ABSL_FLAG(std::string, max_upload_rate_per_peer, "0",
          "upload limit per peer, bytes/s (0: unlimited)");
ABSL_FLAG(std::string, max_download_rate, "0",
          "download limit, bytes/s over all sources (0: unlimited)");
ABSL_FLAG(std::string, max_download_rate_per_peer, "0",
          "download limit per source, bytes/s (0: unlimited)");
ABSL_FLAG(bool, testonly_corrupt_chunks, false,
          "FOR TESTS ONLY: flip a byte in every chunk served (a hostile source)");
ABSL_FLAG(int, max_indexes_per_request, 4096,
          "most chunks another peer may ask for in one request");
ABSL_FLAG(int, chunks_per_request, 8, "most chunks asked of a source per request");
ABSL_FLAG(int, streams_per_source, 4,
          "requests in flight per source (most chunks in flight at one source: "
          "chunks_per_request * streams_per_source)");
ABSL_FLAG(int, max_sources, 16, "most sources used at once per download");
ABSL_FLAG(int, max_requests_per_download, 8,
          "most requests in flight per download, over all its sources");
ABSL_FLAG(int, relocate_interval_ms, 5000,
          "how often a running download asks for new sources");
ABSL_FLAG(int, source_retry_ms, 30000,
          "try a source that failed again after this long (if still listed)");
ABSL_FLAG(int, stuck_timeout_ms, 30000,
          "fail a download when no source holds what it needs for this long");
ABSL_FLAG(int, journal_batch_chunks, 16,
          "resume journal: a record (after a data sync) every N chunks...");
ABSL_FLAG(int, journal_max_delay_ms, 500, "... or after this delay");
ABSL_FLAG(int, stall_timeout_ms, 30000,
          "drop a source that sends nothing for this long");
ABSL_FLAG(int, manifest_timeout_ms, 10000, "time allowed for a manifest");
ABSL_FLAG(int, progress_interval_ms, 250, "how often download progress is sent");
ABSL_FLAG(int, rpc_timeout_ms, 10000, "deadline of calls to the supernode/index");
ABSL_FLAG(int, min_backoff_ms, 500, "first retry delay after a failure");
ABSL_FLAG(int, max_backoff_ms, 30000, "longest retry delay after failures");
ABSL_FLAG(int, publish_batch, 5000, "most files per publish message");
ABSL_FLAG(int, first_publish_wait_ms, 10000,
          "how long start-up waits for the first publish before being ready");
ABSL_FLAG(int64_t, hash_progress_bytes, int64_t{256} << 20,
          "log hashing progress for files at least this big");
ABSL_FLAG(int64_t, upload_bytes_per_second, 0,
          "upload bandwidth offered, reported for supernode election (0: unknown)");
ABSL_FLAG(bool, reachable, false,
          "report that other peers can connect to this one (for election)");
ABSL_FLAG(int, shutdown_timeout_ms, 5000, "grace period for calls at shutdown");
ABSL_FLAG(bool, keep_partial, false,
          "keep .NAME.trove-part files of failed downloads");

// search
ABSL_FLAG(std::string, min_size, "", "search: smallest size (e.g. 10M)");
ABSL_FLAG(std::string, max_size, "", "search: largest size (e.g. 2G)");
ABSL_FLAG(std::vector<std::string>, ext, {},
          "search: only these extensions, e.g. mp3,flac");
ABSL_FLAG(int, limit, 0, "search: most results (0: the supernode's default)");

// get
ABSL_FLAG(std::string, o, "",
          "get: folder to save into (default: the daemon's download folder)");
ABSL_FLAG(std::string, name, "", "get: file name to save as");

ABSL_FLAG(int, timeout_ms, 30000, "search/status/rescan: deadline");

namespace {

constexpr char kUsage[] =
    R"HELP(peer_client: share folders and fetch files on a Trove network.

Usage:
  peer_client daemon --join=trove://HOST:PORT?ca=FP --share=DIR[,DIR...] [flags]
  peer_client search WORDS... [--min_size=SIZE] [--max_size=SIZE]
                     [--ext=mp3,flac] [--limit=N] [--json]
  peer_client get CID|trove:LINK [-o DIR] [--name=NAME] [--json]
  peer_client status [--json]
  peer_client rescan [--json]

Every verb takes --state=DIR (default $HOME/.trove): the daemon keeps its
identity and hash cache there, and the other verbs reach it through
DIR/daemon.sock.

Run 'peer_client VERB --help' for a verb's flags, --helpfull for all flags.
)HELP";

constexpr char kDaemonHelp[] =
    R"HELP(peer_client daemon: share folders, serve them to other peers, and run
downloads for the other verbs. Runs until SIGINT/SIGTERM.

  --join=LINK                  the community's link, trove://HOST:PORT?ca=FP
                               (index_server init prints it): the index to
                               ask for a supernode, and the CA to trust
  --supernode=HOST:PORT[,...]  supernode to join (first is the primary)
  --index=HOST:PORT            or: ask this index server for a supernode
  --share=DIR[,DIR...]         folders to share, recursively (hidden files,
                               temp files and symlinks are skipped)
  --download_dir=DIR           where `get` saves by default (default
                               STATE/downloads); shared, and each completed
                               download announced at once, unless
                               --noshare_downloads
  --state=DIR                  state folder (default $HOME/.trove)
  --listen=HOST:PORT           where to serve files (default 127.0.0.1:0)
  --advertise=HOST:PORT        address to announce instead of the bound one
  --ready_file=PATH            write the serving address there when ready
  --rescan_interval_ms=N       rescan shares every N ms (default 5000)
  --max_uploads=N              peers served at once (default 32); others
                               wait in a queue and are told their place
  --slot_idle_ms=N, --slot_retry_after_ms=N, --queue_stale_ms=N,
  --max_upload_queue=N         upload slot and queue tuning
  --slot_turn_ms=N             while others wait, a peer keeps a slot this
                               long at most (default 5000), then queues
  --max_streams_per_peer=N     chunk streams served to one peer at once
                               (default 16)
  --upload_stall_ms=N          a peer that takes no data for N ms (default
                               60000) loses its streams and upload slot
  --noinitial_seeding          serve any chunk to anyone even while a crowd
                               downloads a file this peer holds in full
  --max_upload_rate=RATE, --max_upload_rate_per_peer=RATE,
  --max_download_rate=RATE, --max_download_rate_per_peer=RATE
                               bandwidth limits in bytes/s (10M, 512k;
                               default 0: unlimited)
  --chunks_per_request=N, --streams_per_source=N, --stall_timeout_ms=N,
  --manifest_timeout_ms=N, --max_sources=N, --max_requests_per_download=N,
  --relocate_interval_ms=N, --extent_chunks=N,
  --source_retry_ms=N, --stuck_timeout_ms=N, --keep_partial
                               download tuning
  --journal_batch_chunks=N, --journal_max_delay_ms=N
                               resume journal batching (STATE/transfers)
  --rpc_timeout_ms=N, --min_backoff_ms=N, --max_backoff_ms=N,
  --publish_batch=N, --first_publish_wait_ms=N
                               supernode session tuning
  --upload_bytes_per_second=N, --reachable
                               capacity reported for supernode election
  --tls_ca=FILE                the community CA (instead of learning it
                               through --join)
  --insecure                   plaintext, no certificates (tests only). TLS
                               is on without it: this peer serves with a
                               certificate made from its identity key and
                               accepts another peer only with the key of the
                               id the supernode named
  --join_timeout_ms=N          first start: how long to try the index for
                               the CA (default 30000)
  --config=FILE                read settings from FILE (`name = value` lines;
                               default STATE/config when it exists); a flag
                               on the command line wins
  --dump_config                print the effective settings as a config file
  --log_format=text|json, --log_level=debug|info|warning|error,
  --log_file=PATH              how, what and where to log (default: text,
                               info, stderr)
  --metrics_listen=HOST:PORT   serve Prometheus metrics at /metrics (off
                               when empty; port 0 picks a free port)
)HELP";

constexpr char kSearchHelp[] =
    R"HELP(peer_client search WORDS...: search the network through the daemon.

  --min_size=SIZE, --max_size=SIZE   size bounds (1234, 10k, 700M, 1.5G)
  --ext=mp3,flac                     only these extensions
  --limit=N                          most results
  --json                             {"hits":[{"cid","name","size",
                                     "source_count","link"}],"partial":bool}
  --state=DIR                        the daemon's state folder
)HELP";

constexpr char kGetHelp[] =
    R"HELP(peer_client get CID|trove:CID?name=..&size=.. : download a file through
the daemon, verifying every chunk. Shows progress; prints the saved path.
An existing file is never overwritten ("NAME (1)" is used instead).

  -o DIR         folder to save into (default: the daemon's download
                 folder, see `status`)
  --name=NAME    file name to use (default: the link's or the source's)
  --json         one JSON object per line: {"event":"progress",...,
                 "received":[{"peer_id","address","bytes","partial"}]},
                 then {"event":"done",...,"path"} or
                 {"event":"error","code","message"}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kStatusHelp[] =
    R"HELP(peer_client status: what the daemon is doing.

  --json         {"peer_id","supernode","listen_address","shares":[...],
                  "shared_files","shared_bytes","hashing","uploads_active",
                  "uploads_queued","uploads":[{"peer_id","cid",
                  "bytes_sent"}],"download_dir","downloads_shared",
                  "transfers":[{...,"received":[...]}]}
  --state=DIR    the daemon's state folder
)HELP";

constexpr char kRescanHelp[] =
    R"HELP(peer_client rescan: rescan the shared folders now and publish changes.

  --json         {"added":N,"removed":N}
  --state=DIR    the daemon's state folder
)HELP";

constexpr int kUsageError = 2;

std::string StateDir() {
  std::string state = absl::GetFlag(FLAGS_state);
  if (state.empty()) {
    const char* home = std::getenv("HOME");
    state = absl::StrCat(home != nullptr ? home : ".", "/.trove");
  }
  if (state[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) != nullptr) state = absl::StrCat(cwd, "/", state);
  }
  return state;
}

int UsageError(const std::string& verb, const std::string& message) {
  std::cerr << "peer_client " << verb << ": " << message << "\n"
            << "Run 'peer_client " << verb << " --help' for help.\n";
  return kUsageError;
}

int RunDaemon() {
  trove::SetLogTag("peer");
  // Keep freed memory instead of unmapping it: chunks arrive in large
  // receive buffers, and with glibc's defaults many of them are fresh
  // mappings that cost a page fault and zeroing per page (measured: about
  // 15% of a download's CPU on loopback).
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  std::vector<std::string> supernodes;
  for (absl::string_view s :
       absl::StrSplit(absl::GetFlag(FLAGS_supernode), ',', absl::SkipEmpty())) {
    supernodes.emplace_back(s);
  }
  std::string index = absl::GetFlag(FLAGS_index);
  std::optional<trove::CommunityLink> link;
  if (!absl::GetFlag(FLAGS_join).empty()) {
    absl::StatusOr<trove::CommunityLink> parsed =
        trove::ParseCommunityLink(absl::GetFlag(FLAGS_join));
    if (!parsed.ok()) {
      return UsageError("daemon", absl::StrCat("--join: ", parsed.status().message()));
    }
    link = *parsed;
    if (index.empty()) index = link->address();
  }
  if (supernodes.empty() && index.empty()) {
    return UsageError("daemon",
                      "give --join=LINK (the community's link), "
                      "--supernode=HOST:PORT or --index=HOST:PORT");
  }
  for (const std::string& a : supernodes) {
    if (!trove::ValidateAddress(a).ok()) {
      return UsageError("daemon", absl::StrCat("bad --supernode address '", a, "'"));
    }
  }
  if (!index.empty() && !trove::ValidateAddress(index).ok()) {
    return UsageError("daemon", absl::StrCat("bad --index address '", index, "'"));
  }

  if (absl::Status s = trove::metrics::StartMetricsFromFlags().status(); !s.ok()) {
    std::cerr << "peer_client daemon: " << s.message() << "\n";
    return s.code() == absl::StatusCode::kInvalidArgument ? kUsageError : 1;
  }

  trove::DaemonOptions o;
  o.state_dir = StateDir();
  const trove::TlsFlags tls = trove::GetTlsFlags();
  if (!tls.cert.empty() || !tls.key.empty()) {
    return UsageError("daemon",
                      "--tls_cert and --tls_key are for servers with a "
                      "CA-issued certificate; a peer's certificate is made "
                      "from its identity key (give --join or --tls_ca only)");
  }
  o.use_tls = !tls.insecure;
  if (tls.insecure) {
    TROVE_LOG(WARNING) << "--insecure: plaintext, no certificates (for tests "
                          "only)";
  } else {
    // The CA is learned with a throw-away client certificate: the index
    // asks for one, and the identity is the daemon's to load (under its
    // lock).
    absl::StatusOr<std::shared_ptr<const trove::TlsContext>> client =
        trove::TlsContext::Ephemeral("");
    absl::Status made = trove::MakeDirs(o.state_dir, 0700);
    if (!client.ok() || !made.ok()) {
      std::cerr << "peer_client daemon: "
                << (made.ok() ? client.status() : made).message() << "\n";
      return 1;
    }
    absl::StatusOr<std::string> ca = trove::ResolveCommunityCa(
        tls.ca, link ? &*link : nullptr,
        absl::StrCat(o.state_dir, "/", trove::kCommunityCaFile), **client,
        absl::Milliseconds(absl::GetFlag(FLAGS_join_timeout_ms)));
    if (!ca.ok()) {
      std::cerr << "peer_client daemon: " << ca.status().message() << "\n";
      return absl::IsInvalidArgument(ca.status()) ? kUsageError : 1;
    }
    o.tls_ca_pem = *ca;
  }
  o.shares = absl::GetFlag(FLAGS_share);
  o.download_dir = absl::GetFlag(FLAGS_download_dir);
  o.share_downloads = absl::GetFlag(FLAGS_share_downloads);
  o.peer.initial_seeding = absl::GetFlag(FLAGS_initial_seeding);
  o.download.extent_chunks = std::max(1, absl::GetFlag(FLAGS_extent_chunks));
  o.listen = absl::GetFlag(FLAGS_listen);
  o.advertise = absl::GetFlag(FLAGS_advertise);
  o.rescan_interval = absl::Milliseconds(absl::GetFlag(FLAGS_rescan_interval_ms));
  o.first_publish_wait =
      absl::Milliseconds(absl::GetFlag(FLAGS_first_publish_wait_ms));
  o.hash_progress_bytes = absl::GetFlag(FLAGS_hash_progress_bytes);
  o.peer.max_uploads = std::max(0, absl::GetFlag(FLAGS_max_uploads));
  o.peer.slot_idle = absl::Milliseconds(absl::GetFlag(FLAGS_slot_idle_ms));
  o.peer.retry_after =
      absl::Milliseconds(absl::GetFlag(FLAGS_slot_retry_after_ms));
  o.peer.queue_stale = absl::Milliseconds(absl::GetFlag(FLAGS_queue_stale_ms));
  o.peer.max_queue = std::max(0, absl::GetFlag(FLAGS_max_upload_queue));
  o.peer.slot_turn =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_slot_turn_ms)));
  o.peer.max_streams_per_peer =
      std::max(1, absl::GetFlag(FLAGS_max_streams_per_peer));
  o.peer.upload_stall =
      absl::Milliseconds(std::max(0, absl::GetFlag(FLAGS_upload_stall_ms)));
  o.peer.testonly_corrupt_chunks = absl::GetFlag(FLAGS_testonly_corrupt_chunks);
  for (auto [name, flag, field] : {
           std::make_tuple("max_upload_rate", &FLAGS_max_upload_rate,
                           &o.rates.max_upload_rate),
           std::make_tuple("max_upload_rate_per_peer",
                           &FLAGS_max_upload_rate_per_peer,
                           &o.rates.max_upload_rate_per_peer),
           std::make_tuple("max_download_rate", &FLAGS_max_download_rate,
                           &o.rates.max_download_rate),
           std::make_tuple("max_download_rate_per_peer",
                           &FLAGS_max_download_rate_per_peer,
                           &o.rates.max_download_rate_per_peer)}) {
    absl::StatusOr<int64_t> rate = trove::ParseSize(absl::GetFlag(*flag));
    if (!rate.ok()) {
      return UsageError("daemon", absl::StrCat("bad --", name, ": ",
                                               rate.status().message()));
    }
    *field = *rate;
  }
  o.peer.max_indexes_per_request = absl::GetFlag(FLAGS_max_indexes_per_request);
  o.download.chunks_per_request =
      std::max(1, absl::GetFlag(FLAGS_chunks_per_request));
  o.download.streams_per_source =
      std::max(1, absl::GetFlag(FLAGS_streams_per_source));
  o.download.max_sources = std::max(1, absl::GetFlag(FLAGS_max_sources));
  o.download.max_requests =
      std::max(1, absl::GetFlag(FLAGS_max_requests_per_download));
  o.download.relocate_interval =
      absl::Milliseconds(std::max(10, absl::GetFlag(FLAGS_relocate_interval_ms)));
  o.download.source_retry = absl::Milliseconds(absl::GetFlag(FLAGS_source_retry_ms));
  o.download.stuck_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_stuck_timeout_ms));
  o.download.journal_batch_chunks =
      std::max(1, absl::GetFlag(FLAGS_journal_batch_chunks));
  o.download.journal_max_delay =
      absl::Milliseconds(std::max(1, absl::GetFlag(FLAGS_journal_max_delay_ms)));
  o.download.stall_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_stall_timeout_ms));
  o.download.manifest_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_manifest_timeout_ms));
  o.download.progress_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_progress_interval_ms));
  o.download.keep_partial_on_failure = absl::GetFlag(FLAGS_keep_partial);
  o.session.supernodes = supernodes;
  o.session.index_address = index;
  o.session.rpc_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_rpc_timeout_ms));
  o.session.min_backoff = absl::Milliseconds(absl::GetFlag(FLAGS_min_backoff_ms));
  o.session.max_backoff = absl::Milliseconds(absl::GetFlag(FLAGS_max_backoff_ms));
  o.session.publish_batch = std::max(1, absl::GetFlag(FLAGS_publish_batch));
  o.session.capacity.set_upload_bytes_per_second(
      absl::GetFlag(FLAGS_upload_bytes_per_second));
  o.session.capacity.set_reachable(absl::GetFlag(FLAGS_reachable));

  absl::StatusOr<std::unique_ptr<trove::PeerDaemon>> daemon =
      trove::PeerDaemon::Start(o);
  if (!daemon.ok()) {
    std::cerr << "peer_client daemon: " << daemon.status().message() << "\n";
    return 1;
  }
  absl::Status ready =
      trove::WriteReadyFile(absl::GetFlag(FLAGS_ready_file),
                            (*daemon)->listen_address());
  if (!ready.ok()) {
    std::cerr << "peer_client daemon: cannot write --ready_file: "
              << ready.message() << "\n";
    (*daemon)->Shutdown(absl::Seconds(1));
    return 1;
  }
  trove::SetLogField("peer", (*daemon)->peer_id());
  TROVE_LOG(INFO) << "ready: serving on " << (*daemon)->listen_address()
                  << ", control at " << (*daemon)->control_address();
  int sig = trove::WaitForShutdownSignal();
  TROVE_LOG(INFO) << "signal " << sig << ": shutting down";
  (*daemon)->Shutdown(absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_timeout_ms)));
  TROVE_LOG(INFO) << "stopped";
  return 0;
}

trove::CliOptions CliOpts() {
  trove::CliOptions o;
  o.state_dir = StateDir();
  o.json = absl::GetFlag(FLAGS_json);
  o.timeout = absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms));
  o.tty = ::isatty(STDERR_FILENO) == 1;
  return o;
}

int RunSearchVerb(const std::vector<std::string>& args) {
  if (args.empty()) return UsageError("search", "give the words to search for");
  trove::SearchQuery q;
  q.set_text(absl::StrJoin(args, " "));
  for (auto [flag, setter] :
       {std::make_pair(absl::GetFlag(FLAGS_min_size), &trove::SearchQuery::set_min_size),
        std::make_pair(absl::GetFlag(FLAGS_max_size), &trove::SearchQuery::set_max_size)}) {
    if (flag.empty()) continue;
    absl::StatusOr<int64_t> v = trove::ParseSize(flag);
    if (!v.ok()) return UsageError("search", std::string(v.status().message()));
    (q.*setter)(*v);
  }
  for (const std::string& e : absl::GetFlag(FLAGS_ext)) {
    std::string ext = e;
    if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
    if (!ext.empty()) q.add_extensions(ext);
  }
  q.set_limit(absl::GetFlag(FLAGS_limit));
  absl::Status valid = trove::ValidateSearchQuery(q);
  if (!valid.ok()) return UsageError("search", std::string(valid.message()));
  return trove::RunSearch(CliOpts(), q, std::cout, std::cerr);
}

int RunGetVerb(const std::vector<std::string>& args) {
  if (args.size() != 1) {
    return UsageError("get", "give exactly one CID or trove: link");
  }
  absl::StatusOr<trove::TroveLink> link = trove::ParseTroveLink(args[0]);
  if (!link.ok()) return UsageError("get", std::string(link.status().message()));
  trove::control::GetRequest req;
  req.set_cid(link->cid);
  std::string name = absl::GetFlag(FLAGS_name);
  if (name.empty()) name = link->name;
  if (!name.empty()) {
    absl::Status valid = trove::ValidateFileName(name);
    if (!valid.ok()) return UsageError("get", std::string(valid.message()));
  }
  req.set_name(name);
  // Empty: the daemon's download folder.
  std::string out = absl::GetFlag(FLAGS_o);
  char real[PATH_MAX];
  if (out.empty()) {
  } else if (::realpath(out.c_str(), real) != nullptr) {
    out = real;
  } else if (out[0] != '/') {
    char cwd[PATH_MAX];
    if (::getcwd(cwd, sizeof(cwd)) != nullptr) out = absl::StrCat(cwd, "/", out);
  }
  req.set_out_dir(out);
  return trove::RunGet(CliOpts(), req, std::cout, std::cerr);
}

const char* VerbHelp(const std::string& verb) {
  if (verb == "daemon") return kDaemonHelp;
  if (verb == "search") return kSearchHelp;
  if (verb == "get") return kGetHelp;
  if (verb == "status") return kStatusHelp;
  if (verb == "rescan") return kRescanHelp;
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(kUsage);
  // For --help: the verb is the first argument that is not a flag.
  std::string verb;
  for (int i = 1; i < argc; ++i) {
    if (argv[i][0] != '-') {
      verb = argv[i];
      break;
    }
  }
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-help" || a == "-h" || a == "--helpshort") {
      const char* help = VerbHelp(verb);
      std::cout << (help != nullptr ? help : kUsage);
      return 0;
    }
  }
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  // The daemon also reads STATE/config when it exists (--config wins).
  const bool daemon = positional.size() >= 2 && std::string(positional[1]) == "daemon";
  if (std::optional<int> exit = trove::Startup(
          argc, argv,
          {"peer",
           [](absl::string_view file) {
             return absl::StrContains(file, "peer_client/") ||
                    absl::StrContains(file, "common/");
           },
           daemon ? StateDir() + "/config" : ""})) {
    return *exit;
  }
  if (positional.size() < 2) {
    std::cerr << kUsage;
    return kUsageError;
  }
  std::vector<std::string> args(positional.begin() + 2, positional.end());
  verb = positional[1];
  if (verb == "help") {
    const char* help = args.empty() ? nullptr : VerbHelp(args[0]);
    std::cout << (help != nullptr ? help : kUsage);
    return 0;
  }
  if (verb == "daemon") {
    if (!args.empty()) return UsageError(verb, "unexpected argument " + args[0]);
    // Before any thread starts (flag parsing starts none), so that every
    // thread inherits the mask and SIGINT/SIGTERM reach WaitForShutdownSignal.
    trove::BlockShutdownSignals();
    return RunDaemon();
  }
  if (verb == "search") return RunSearchVerb(args);
  if (verb == "get") return RunGetVerb(args);
  if (verb == "status" || verb == "rescan") {
    if (!args.empty()) return UsageError(verb, "unexpected argument " + args[0]);
    return verb == "status" ? trove::RunStatus(CliOpts(), std::cout, std::cerr)
                            : trove::RunRescan(CliOpts(), std::cout, std::cerr);
  }
  std::cerr << "peer_client: unknown verb '" << verb << "'\n\n" << kUsage;
  return kUsageError;
}
