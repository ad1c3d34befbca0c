// The standalone supernode: serves SupernodeService to leaves and forwards
// their catalog changes to the index. See supernode.h; run with --help for
// the flags.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/community_ca.h"
#include "common/community_files.h"
#include "common/community_link.h"
#include "common/file_util.h"
#include "common/identity.h"
#include "common/log.h"
#include "common/merkle.h"
#include "common/metrics.h"
#include "common/server_util.h"
#include "common/startup.h"
#include "common/tls.h"
#include "common/tls_credentials.h"
#include "common/tls_flags.h"
#include "supernode/supernode.h"
#include "supernode/supernode_metrics.h"

ABSL_FLAG(std::string, index, "",
          "host:port of the index server (required unless --join gives it)");
ABSL_FLAG(std::string, join, "",
          "the community's link, trove://HOST:PORT?ca=FINGERPRINT: the index's "
          "address and the CA to trust (learned from the index and kept in "
          "--state_dir)");
ABSL_FLAG(int, join_timeout_ms, 30000,
          "at start, how long to try the index to learn the community CA");
ABSL_FLAG(std::string, listen, "127.0.0.1:7300",
          "where to serve leaves; port 0 picks a free port");
ABSL_FLAG(std::string, advertise, "",
          "host:port announced to the index and leaves (default: the bound "
          "address; set it when listening on 0.0.0.0 or behind NAT)");
ABSL_FLAG(std::string, ready_file, "",
          "once serving, write the bound host:port to this file");
ABSL_FLAG(std::string, state_dir, "",
          "folder keeping the supernode's key, so its id survives restarts "
          "(default: a fresh id each start)");
ABSL_FLAG(int, session_timeout_ms, 90000,
          "a leaf silent this long is dropped and its files withdrawn");
ABSL_FLAG(int, heartbeat_interval_ms, 30000,
          "how often leaves are told to heartbeat");
ABSL_FLAG(int, challenge_ttl_ms, 60000, "how long a join nonce stays valid");
ABSL_FLAG(int, max_pending_challenges, 10000,
          "most unused join nonces kept; beyond it new challenges are refused "
          "until some expire (pending ones are never evicted)");
ABSL_FLAG(int, max_challenges_per_address, 16,
          "most unused join nonces kept per address (its own oldest go "
          "first)");
ABSL_FLAG(int, join_work_bits, trove::supernode::kDefaultJoinWorkBits,
          "proof of work a join must carry: leading zero bits of a SHA-256 "
          "(each bit doubles the cost; 0: none)");
ABSL_FLAG(std::string, leaf_search_rate, "20:60",
          "searches per leaf (its peer id once joined, else its address): "
          "RATE or RATE:BURST a second, 0 for no limit");
ABSL_FLAG(std::string, leaf_locate_rate, "50:150",
          "look-ups per leaf, as --leaf_search_rate");
ABSL_FLAG(std::string, leaf_publish_rate, "20:100",
          "publishes per leaf, as --leaf_search_rate");
ABSL_FLAG(std::string, leaf_join_rate, "10:50",
          "Challenge and Join calls per address, as --leaf_search_rate");
ABSL_FLAG(int, cut_off_after, 100,
          "a caller calling this many times before the retry time it was "
          "given (within 10 s) is cut off (0: never)");
ABSL_FLAG(int, cut_off_seconds, 60, "how long a cut-off caller is refused");
ABSL_FLAG(int, max_leaves, 1000, "most leaves at once");
ABSL_FLAG(int, max_files_per_leaf, 200000, "most files one leaf may share");
ABSL_FLAG(int64_t, max_name_bytes_per_leaf, 16 << 20,
          "memory budget: most bytes of file names one leaf may share "
          "(complete and partial files)");
ABSL_FLAG(int64_t, max_files, 500000,
          "memory budget: most files over all leaves (complete and partial); "
          "a publish beyond it is refused with RESOURCE_EXHAUSTED");
ABSL_FLAG(int64_t, max_name_bytes, 48 << 20,
          "memory budget: most bytes of file names over all leaves");
ABSL_FLAG(int, max_files_per_publish, 50000,
          "most entries (added + removed + partial) in one Publish");
ABSL_FLAG(int, sweep_interval_ms, 0,
          "how often to look for silent leaves (0: a quarter of "
          "--session_timeout_ms, at most 1s)");
ABSL_FLAG(int, search_default_limit, 100, "hits when a query asks for 0");
ABSL_FLAG(int, search_max_limit, 1000, "most hits per query");
ABSL_FLAG(int, established_after_seconds, 3600,
          "a leaf's files vote on the names their files show against "
          "newcomers' once it has been joined here this long (0: at once); "
          "the index's answer, which weighs every source by how long the "
          "index has known its peer, decides the name when it answers");
ABSL_FLAG(int, report_window_seconds, 600,
          "a bad-source report counts this long, then is forgotten");
ABSL_FLAG(int, max_reports_per_window, 20,
          "most (source, file) pairs one leaf may report as bad per "
          "--report_window_seconds");
ABSL_FLAG(int, report_full_weight_after_seconds, 3600,
          "a leaf known this long (here, or to the index) reports a bad "
          "source with weight 1; younger ones with their share of it "
          "(0: every report weighs 1)");
ABSL_FLAG(double, report_min_weight, 0.5,
          "bad-source reports weighing less than this are logged but add "
          "nothing to a source's score, so throw-away identities cannot add "
          "up to an established peer");
ABSL_FLAG(double, report_rank_last_score, 3.0,
          "a source whose weighted bad-source reports for a file reach this "
          "is offered last in this supernode's look-ups of that file");
ABSL_FLAG(double, report_leave_out_score, 6.0,
          "a source whose weighted bad-source reports for a file reach this "
          "is left out of this supernode's look-ups of that file while the "
          "reports count (at least --report_rank_last_score)");
ABSL_FLAG(int64_t, max_source_reports, 100000,
          "most bad-source reports remembered");
ABSL_FLAG(int, index_search_timeout_ms, 1500,
          "deadline of the index's part of a Search or Locate; past it, "
          "local results are returned (partial)");
ABSL_FLAG(int, locate_limit, 0,
          "sources asked of the index per Locate (0: the index's default)");
ABSL_FLAG(int, batch_max_entries, 1000,
          "send leaves' changes to the index once this many are pending");
ABSL_FLAG(int, batch_max_delay_ms, 2000,
          "... or once the oldest pending change is this old");
ABSL_FLAG(int64_t, max_pending_entries, 2000000,
          "beyond this many pending entries (index unreachable), pending "
          "changes are replaced by the leaves' full lists");
ABSL_FLAG(int, max_deltas_per_batch, 1000,
          "most peer deltas in one PublishDeltas (the index's limit)");
ABSL_FLAG(int, max_files_per_delta, 100000,
          "most files in one peer delta (the index's limit)");
ABSL_FLAG(int, retry_initial_ms, 250,
          "first wait before retrying a failed call to the index");
ABSL_FLAG(int, retry_max_ms, 4000,
          "longest wait between retries (short: the index's return after an "
          "outage is noticed within this long)");
ABSL_FLAG(int, full_list_max_delay_ms, 200,
          "a leaf's full list (it joined, or moved here from a supernode that "
          "died) is sent to the index within this long");
ABSL_FLAG(int, search_workers, 8,
          "threads answering searches and look-ups (which wait for the index "
          "or other supernodes)");
ABSL_FLAG(int, fan_out_hops, 2,
          "while the index is unreachable, how many hops a search or look-up "
          "may travel between supernodes (0: this supernode's leaves only)");
ABSL_FLAG(int, fan_out_max_targets, 8,
          "most supernodes one search asks at once while the index is "
          "unreachable");
ABSL_FLAG(int, index_timeout_ms, 10000,
          "deadline of register, renew and publish calls to the index");
ABSL_FLAG(int, renew_interval_ms, 0,
          "renew the lease this often (0: as the index says)");
ABSL_FLAG(int64_t, upload_bytes_per_second, 0,
          "upload bandwidth offered, told to the index (0: unknown)");
ABSL_FLAG(int, shutdown_timeout_ms, 5000,
          "on SIGTERM, time for in-flight calls and the final flush to the "
          "index");

namespace {

// The supernode's TLS: its key and CA-issued certificate (--tls_key and
// --tls_cert, by default supernode_key.pem and supernode_cert.pem in
// --state_dir) and the community CA (--tls_ca, or learned through --join,
// or kept in --state_dir). Plaintext only with --insecure.
absl::StatusOr<std::shared_ptr<const trove::TlsContext>> SupernodeTls(
    const trove::CommunityLink* link) {
  using trove::TlsContext;
  trove::TlsFlags flags = trove::GetTlsFlags();
  if (flags.insecure) return TlsContext::Insecure();
  const std::string state = absl::GetFlag(FLAGS_state_dir);
  if (state.empty() && (flags.key.empty() || flags.cert.empty())) {
    return absl::InvalidArgumentError(
        "TLS is on: give --state_dir (holding the supernode's key and the "
        "certificate `index_server enrol-supernode` issued for it) or "
        "--tls_key and --tls_cert; or --insecure for plaintext in tests");
  }
  const std::string key_path =
      !flags.key.empty() ? flags.key
                         : absl::StrCat(state, "/", trove::kSupernodeKeyFile);
  const std::string cert_path =
      !flags.cert.empty() ? flags.cert
                          : absl::StrCat(state, "/", trove::kSupernodeCertFile);
  if (!state.empty()) {
    if (absl::Status s = trove::MakeDirs(state, 0700); !s.ok()) return s;
  }
  // Made when missing, so that the operator can enrol it.
  absl::StatusOr<std::unique_ptr<trove::Identity>> key =
      flags.key.empty() ? trove::Identity::LoadOrCreate(key_path)
                        : trove::Identity::FromPem(
                              trove::ReadFile(key_path).value_or(""));
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read the supernode's key ", key_path, ": ",
        key.status().message()));
  }
  absl::StatusOr<std::string> cert = trove::ReadFile(cert_path);
  if (!cert.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "no certificate for this supernode at ", cert_path,
        ": the community's operator issues it with\n  index_server "
        "enrol-supernode COMMUNITY_DIR --public_key=",
        trove::HexEncode((*key)->public_key()),
        " > ", cert_path, "\n(or --out=STATE_DIR on the index's machine)"));
  }
  absl::StatusOr<std::string> key_pem = (*key)->PrivateKeyPem();
  if (!key_pem.ok()) return key_pem.status();
  // The CA is learned with a throw-away client certificate (the index
  // asks for one): this supernode's own is checked against the CA after.
  absl::StatusOr<std::shared_ptr<const TlsContext>> bare =
      TlsContext::Ephemeral("");
  if (!bare.ok()) return bare.status();
  absl::StatusOr<std::string> ca = trove::ResolveCommunityCa(
      flags.ca, link,
      state.empty() ? std::string() : absl::StrCat(state, "/", trove::kCommunityCaFile),
      **bare, absl::Milliseconds(absl::GetFlag(FLAGS_join_timeout_ms)));
  if (!ca.ok()) return ca.status();
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
      TlsContext::Create(*key_pem, *cert, *ca);
  if (!tls.ok()) return tls.status();
  if ((*tls)->own().role != trove::CertRole::kSupernode) {
    return absl::InvalidArgumentError(absl::StrCat(
        cert_path, " is a ", trove::CertRoleName((*tls)->own().role),
        " certificate, not a supernode's"));
  }
  if (absl::Status s = trove::VerifyIssuedBy(*cert, *ca, absl::Now()); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        cert_path, " does not check against the community CA: ", s.message(),
        " (enrolled in another community, or expired: enrol it again)"));
  }
  return tls;
}

int Run() {
  using trove::supernode::Supernode;
  using trove::supernode::SupernodeOptions;

  SupernodeOptions o;
  o.index_address = absl::GetFlag(FLAGS_index);
  std::optional<trove::CommunityLink> link;
  if (!absl::GetFlag(FLAGS_join).empty()) {
    absl::StatusOr<trove::CommunityLink> parsed =
        trove::ParseCommunityLink(absl::GetFlag(FLAGS_join));
    if (!parsed.ok()) {
      TROVE_LOG(ERROR) << "--join: " << parsed.status().message();
      return 2;
    }
    link = *parsed;
    if (o.index_address.empty()) o.index_address = link->address();
  }
  if (o.index_address.empty()) {
    TROVE_LOG(ERROR) << "give --join=LINK (the community's link) or --index=HOST:PORT";
    return 2;
  }
  absl::StatusOr<std::shared_ptr<const trove::TlsContext>> tls =
      SupernodeTls(link ? &*link : nullptr);
  if (!tls.ok()) {
    TROVE_LOG(ERROR) << "TLS: " << tls.status().message();
    return absl::IsUnavailable(tls.status()) ? 1 : 2;
  }
  if ((*tls)->insecure()) {
    TROVE_LOG(WARNING) << "--insecure: plaintext, no certificates (for tests "
                          "only)";
  }
  trove::SetDefaultTls(*tls);
  o.tls = *tls;
  o.listen_address = absl::GetFlag(FLAGS_listen);
  o.advertise_address = absl::GetFlag(FLAGS_advertise);
  o.state_dir = absl::GetFlag(FLAGS_state_dir);
  o.capacity.set_upload_bytes_per_second(
      absl::GetFlag(FLAGS_upload_bytes_per_second));
  o.capacity.set_reachable(true);
  o.session_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_session_timeout_ms));
  o.heartbeat_interval =
      absl::Milliseconds(absl::GetFlag(FLAGS_heartbeat_interval_ms));
  o.challenge_ttl = absl::Milliseconds(absl::GetFlag(FLAGS_challenge_ttl_ms));
  o.max_pending_challenges = static_cast<size_t>(
      std::max(0, absl::GetFlag(FLAGS_max_pending_challenges)));
  o.max_challenges_per_address = static_cast<size_t>(
      std::max(0, absl::GetFlag(FLAGS_max_challenges_per_address)));
  {
    trove::supernode::LeafLimitFlags limits;
    limits.search = absl::GetFlag(FLAGS_leaf_search_rate);
    limits.locate = absl::GetFlag(FLAGS_leaf_locate_rate);
    limits.publish = absl::GetFlag(FLAGS_leaf_publish_rate);
    limits.join = absl::GetFlag(FLAGS_leaf_join_rate);
    limits.cut_off_after = absl::GetFlag(FLAGS_cut_off_after);
    limits.cut_off_seconds = absl::GetFlag(FLAGS_cut_off_seconds);
    if (absl::Status s = trove::supernode::SetLeafLimits(limits, "", &o);
        !s.ok()) {
      TROVE_LOG(ERROR) << s.message();
      return 2;
    }
  }
  o.join_work_bits = absl::GetFlag(FLAGS_join_work_bits);
  o.max_leaves = absl::GetFlag(FLAGS_max_leaves);
  o.max_files_per_leaf = absl::GetFlag(FLAGS_max_files_per_leaf);
  o.max_files_per_publish = absl::GetFlag(FLAGS_max_files_per_publish);
  o.max_name_bytes_per_leaf = absl::GetFlag(FLAGS_max_name_bytes_per_leaf);
  o.max_files = absl::GetFlag(FLAGS_max_files);
  o.max_name_bytes = absl::GetFlag(FLAGS_max_name_bytes);
  o.sweep_interval = absl::Milliseconds(absl::GetFlag(FLAGS_sweep_interval_ms));
  o.search_default_limit = absl::GetFlag(FLAGS_search_default_limit);
  o.search_max_limit = absl::GetFlag(FLAGS_search_max_limit);
  o.established_after = absl::Seconds(
      std::max(0, absl::GetFlag(FLAGS_established_after_seconds)));
  o.reports.window = absl::Seconds(absl::GetFlag(FLAGS_report_window_seconds));
  o.reports.max_reports_per_window = absl::GetFlag(FLAGS_max_reports_per_window);
  o.reports.full_weight_after = absl::Seconds(
      std::max(0, absl::GetFlag(FLAGS_report_full_weight_after_seconds)));
  o.reports.min_weight = absl::GetFlag(FLAGS_report_min_weight);
  o.reports.demote_score = absl::GetFlag(FLAGS_report_rank_last_score);
  o.reports.exclude_score = absl::GetFlag(FLAGS_report_leave_out_score);
  o.reports.max_entries = static_cast<size_t>(
      std::max<int64_t>(0, absl::GetFlag(FLAGS_max_source_reports)));
  o.index_search_timeout =
      absl::Milliseconds(absl::GetFlag(FLAGS_index_search_timeout_ms));
  o.locate_limit = absl::GetFlag(FLAGS_locate_limit);
  o.batch_max_entries = absl::GetFlag(FLAGS_batch_max_entries);
  o.batch_max_delay = absl::Milliseconds(absl::GetFlag(FLAGS_batch_max_delay_ms));
  o.max_pending_entries = static_cast<size_t>(
      std::max<int64_t>(0, absl::GetFlag(FLAGS_max_pending_entries)));
  o.max_deltas_per_batch = absl::GetFlag(FLAGS_max_deltas_per_batch);
  o.max_files_per_delta = absl::GetFlag(FLAGS_max_files_per_delta);
  o.retry_initial = absl::Milliseconds(absl::GetFlag(FLAGS_retry_initial_ms));
  o.retry_max = absl::Milliseconds(absl::GetFlag(FLAGS_retry_max_ms));
  o.full_list_max_delay =
      absl::Milliseconds(absl::GetFlag(FLAGS_full_list_max_delay_ms));
  o.search_workers = absl::GetFlag(FLAGS_search_workers);
  o.fan_out_hops = absl::GetFlag(FLAGS_fan_out_hops);
  o.fan_out_max_targets = absl::GetFlag(FLAGS_fan_out_max_targets);
  o.index_rpc_timeout = absl::Milliseconds(absl::GetFlag(FLAGS_index_timeout_ms));
  o.renew_interval = absl::Milliseconds(absl::GetFlag(FLAGS_renew_interval_ms));

  if (o.listen_address.empty()) {
    TROVE_LOG(ERROR) << "--listen is required";
    return 2;
  }
  if (absl::Status s = trove::metrics::StartMetricsFromFlags().status(); !s.ok()) {
    TROVE_LOG(ERROR) << s.message();
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  absl::StatusOr<std::unique_ptr<Supernode>> supernode = Supernode::Create(o);
  if (!supernode.ok()) {
    TROVE_LOG(ERROR) << "cannot start: " << supernode.status();
    return 2;
  }
  absl::Status s = (*supernode)->Start();
  if (!s.ok()) {
    TROVE_LOG(ERROR) << "cannot start: " << s;
    return 1;
  }
  s = trove::WriteReadyFile(absl::GetFlag(FLAGS_ready_file),
                            (*supernode)->bound_address());
  if (!s.ok()) {
    TROVE_LOG(ERROR) << "cannot write the ready file: " << s;
    (*supernode)->Stop(absl::ZeroDuration());
    return 1;
  }
  std::unique_ptr<trove::metrics::ScrapeHook> supernode_metrics =
      trove::supernode::ExportSupernodeMetrics(supernode->get());
  trove::SetLogField("supernode", (*supernode)->supernode_id());
  TROVE_LOG(INFO) << "supernode " << (*supernode)->supernode_id()
                  << " listening on " << (*supernode)->bound_address()
                  << ", announced as " << (*supernode)->address()
                  << ", index " << o.index_address;
  int sig = trove::WaitForShutdownSignal();
  TROVE_LOG(INFO) << "signal " << sig << ": shutting down";
  (*supernode)->Stop(
      absl::Milliseconds(absl::GetFlag(FLAGS_shutdown_timeout_ms)));
  supernode_metrics.reset();
  TROVE_LOG(INFO) << "stopped";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  trove::BlockShutdownSignals();
  // Abseil's deadlock detection (on in the system's build of Abseil) makes
  // every lock, and every mutex destroyed, visit one process-wide graph
  // under a global lock: the server's calls would queue on it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::FlagsUsageConfig usage_config;
  // --help lists the supernode's flags and the shared server flags (TLS).
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, "supernode/") ||
           absl::StrContains(file, "common/");
  };
  usage_config.contains_helpshort_flags = usage_config.contains_help_flags;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(
      "Trove supernode: leaves join it, publish their file lists and search "
      "through it; it forwards their changes to the index in batches.\n"
      "Usage: supernode --state_dir=DIR --join=trove://HOST:PORT?ca=FP "
      "[--listen=HOST:PORT] [--advertise=HOST:PORT] [--ready_file=PATH] ...\n"
      "TLS is on: DIR holds the supernode's key and the certificate the "
      "community's operator issued for it (`index_server enrol-supernode "
      "COMMUNITY_DIR --out=DIR`, or --public_key=HEX, which the supernode "
      "prints when it has no certificate yet). --index and --tls_ca can stand "
      "in for --join; --insecure runs plaintext (tests only).");
  absl::ParseCommandLine(argc, argv);
  if (std::optional<int> exit = trove::Startup(
          argc, argv, {"supernode", usage_config.contains_help_flags, ""})) {
    return *exit;
  }
  return Run();
}
