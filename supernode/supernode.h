// A whole supernode, ready to run: the leaf registry with its search index,
// the forwarder to the index, the SupernodeService and (optionally) a gRPC
// server for it. The standalone binary (main.cc) is a thin wrapper; a
// promoted peer runs the same class in-process.
//
//   SupernodeOptions options;
//   options.index_address = "index.example.org:7100";
//   options.listen_address = "0.0.0.0:0";
//   ASSIGN_OR_RETURN(std::unique_ptr<Supernode> sn, Supernode::Create(options));
//   RETURN_IF_ERROR(sn->Start());
//   ... sn->address() ...
//   sn->Stop(absl::Seconds(5));
//
// Thread-safe.
#ifndef TROVE_SUPERNODE_SUPERNODE_H_
#define TROVE_SUPERNODE_SUPERNODE_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/types.pb.h"
#include "common/clock.h"
#include "common/identity.h"
#include "common/rate_limit.h"
#include "common/tls_credentials.h"
#include "supernode/fan_out.h"
#include "supernode/index_client.h"
#include "supernode/index_forwarder.h"
#include "supernode/leaf_registry.h"
#include "supernode/moderation.h"
#include "supernode/service.h"

namespace trove {
namespace supernode {

// A leaf-facing limit of `rate` calls a second in bursts of `burst`, with
// the default cut-off (100 calls before the retry time within 10 s: refused
// for a minute).
inline RateLimitOptions LeafRate(double rate, double burst) {
  RateLimitOptions o;
  o.rate_per_second = rate;
  o.burst = burst;
  o.cut_off_after = 100;
  o.cut_off_for = absl::Minutes(1);
  return o;
}

// The proof of work asked of a join by default: about 50 ms of SHA-256 on
// one core of the machine bench/join_work_bench ran on (bench/RESULTS.md).
inline constexpr int kDefaultJoinWorkBits = 15;

struct SupernodeOptions {
  // host:port of the IndexService. Required unless Create() is given an
  // IndexClient.
  std::string index_address;
  // Where to serve SupernodeService ("0.0.0.0:0" picks a free port). Empty:
  // no server of its own; the caller registers service() on its server and
  // sets advertise_address.
  std::string listen_address = "127.0.0.1:0";
  // The address told to the index and leaves; empty: the bound address.
  std::string advertise_address;
  // Folder for the supernode's key (supernode_key.pem), which makes its id
  // stable across restarts. Empty: a fresh key each start.
  std::string state_dir;
  // The key file to use instead of state_dir's (a promoted peer uses its
  // own identity key, so its supernode id is its peer id).
  std::string key_file;
  // The supernode id to use instead of one derived from a key (a promoted
  // peer may use its own peer id). 64 lowercase hex digits.
  std::string supernode_id;
  // What the host offers, told to the index.
  Capacity capacity;
  // TLS: this supernode's certificate (issued by the community CA for its
  // key) and the CA, for serving leaves and reaching the index. Null: the
  // process's default (common/server_util DefaultTls()).
  std::shared_ptr<const TlsContext> tls;

  // Leaves and sessions.
  absl::Duration session_timeout = absl::Seconds(90);
  absl::Duration heartbeat_interval = absl::Seconds(30);
  absl::Duration challenge_ttl = absl::Seconds(60);
  size_t max_pending_challenges = 10000;
  size_t max_challenges_per_address = 16;
  // Leading zero bits of the proof of work each join must carry (0: none;
  // each bit doubles the cost; common/join_work.h).
  int join_work_bits = kDefaultJoinWorkBits;
  int max_leaves = 1000;
  int max_files_per_leaf = 200000;
  int max_files_per_publish = 50000;
  // Memory budgets (LeafRegistry::Options): bytes of names per leaf, and
  // files and bytes of names over all leaves.
  int64_t max_name_bytes_per_leaf = 16 << 20;
  int64_t max_files = 500000;
  int64_t max_name_bytes = 48 << 20;
  // Flood control at the leaf-facing service (SupernodeServiceImpl::Options):
  // searches, look-ups and publishes per leaf, Challenge and Join per
  // address. A rate of 0 turns a limit off.
  RateLimitOptions leaf_search_rate = LeafRate(20, 60);
  RateLimitOptions leaf_locate_rate = LeafRate(50, 150);
  RateLimitOptions leaf_publish_rate = LeafRate(20, 100);
  RateLimitOptions leaf_join_rate = LeafRate(10, 50);
  // The clock of those limits; null: the real clock.
  Clock* rate_clock = nullptr;
  // How often silent leaves are looked for; zero: a quarter of the session
  // timeout, at most a second.
  absl::Duration sweep_interval = absl::ZeroDuration();

  // Bad-source reports: limits, weights, and the scores at which a source
  // is ranked last in, or left out of, Locate answers for a cid
  // (source_reports.h).
  SourceReports::Options reports;

  // Search.
  int search_default_limit = 100;
  int search_max_limit = 1000;
  // A leaf's files vote on the names their cids show against newcomers'
  // once it has been joined here this long (0: at once).
  absl::Duration established_after = absl::Hours(1);
  absl::Duration index_search_timeout = absl::Milliseconds(1500);
  int locate_limit = 0;
  // Workers for searches and look-ups (which wait for the index or other
  // supernodes).
  int search_workers = 8;
  // While the index is unreachable: how many hops a search or look-up may
  // travel between supernodes (0: none, leaves only), and how many
  // supernodes one asks at once.
  int fan_out_hops = 2;
  int fan_out_max_targets = 8;

  // Forwarding to the index.
  int batch_max_entries = 1000;
  absl::Duration batch_max_delay = absl::Seconds(2);
  // A leaf's full list (it joined or moved here) waits at most this long.
  absl::Duration full_list_max_delay = absl::Milliseconds(200);
  size_t max_pending_entries = 2000000;
  // The index's limits on one PublishDeltas call.
  int max_deltas_per_batch = 1000;
  int max_files_per_delta = 100000;
  absl::Duration retry_initial = absl::Milliseconds(250);
  // Short enough that the index's return is noticed within seconds.
  absl::Duration retry_max = absl::Seconds(4);
  absl::Duration index_rpc_timeout = absl::Seconds(10);
  // Zero: as the index says.
  absl::Duration renew_interval = absl::ZeroDuration();
};

// The leaf-facing limits as flags give them: "RATE", "RATE:BURST" or "0"
// (empty: keep the default), and the cut-off.
struct LeafLimitFlags {
  std::string search;
  std::string locate;
  std::string publish;
  std::string join;
  int cut_off_after = 100;
  int cut_off_seconds = 60;
};

// Sets `options`'s leaf_*_rate from `flags`; INVALID_ARGUMENT naming the
// flag (`prefix` + "leaf_search_rate", ...) for a bad value.
absl::Status SetLeafLimits(const LeafLimitFlags& flags,
                           absl::string_view prefix,
                           SupernodeOptions* options);

// Checks the options' ranges (timeouts positive, limits at least 1, ...).
// INVALID_ARGUMENT naming the first bad one.
absl::Status ValidateSupernodeOptions(const SupernodeOptions& options);

class Supernode {
 public:
  // Builds a supernode. With `index` null, connects to
  // options.index_address (with options.tls, accepting only the community's
  // index). With `clock` null, uses the real clock. INVALID_ARGUMENT for
  // bad options, or when the TLS certificate is not for the supernode's
  // key; errors of loading or making the key in state_dir.
  static absl::StatusOr<std::unique_ptr<Supernode>> Create(
      SupernodeOptions options, std::unique_ptr<IndexClient> index = nullptr,
      Clock* clock = nullptr);

  ~Supernode();
  Supernode(const Supernode&) = delete;
  Supernode& operator=(const Supernode&) = delete;

  // Starts serving (when listen_address is set), registering with the index
  // and forwarding. UNAVAILABLE when the address cannot be bound;
  // FAILED_PRECONDITION when already started or when there is neither a
  // listen nor an advertise address.
  absl::Status Start();

  // Stops serving (in-flight calls get half of `timeout`), then sends what
  // is pending to the index within the rest. Idempotent. When service() is
  // registered on the caller's own server, shut that server down first.
  void Stop(absl::Duration timeout);

  // The address leaves should use (advertise_address, else the bound
  // address). Empty before Start().
  std::string address() const;
  // The address the server is bound to ("" without a server of its own).
  std::string bound_address() const;
  const std::string& supernode_id() const { return supernode_id_; }

  // The service, to register on a caller's own server when listen_address
  // is empty.
  SupernodeServiceImpl* service() { return service_.get(); }
  LeafRegistry* registry() { return registry_.get(); }
  IndexForwarder* forwarder() { return forwarder_.get(); }
  FanOutSearch* fan_out() { return fan_out_.get(); }

 private:
  Supernode(SupernodeOptions options, std::string supernode_id,
            std::unique_ptr<Identity> key, std::unique_ptr<IndexClient> index,
            Clock* clock);
  void SweepLoop();

  const SupernodeOptions options_;
  const std::string supernode_id_;
  // Signs its registrations with the index (null with options.supernode_id).
  const std::unique_ptr<Identity> key_;
  Clock* const clock_;
  std::unique_ptr<IndexClient> index_;
  std::unique_ptr<IndexForwarder> forwarder_;
  std::unique_ptr<LeafRegistry> registry_;
  // Bans and takedowns from the index's leases.
  const std::unique_ptr<Moderation> moderation_ = std::make_unique<Moderation>();
  std::unique_ptr<SupernodeLink> link_;
  std::unique_ptr<FanOutSearch> fan_out_;
  std::unique_ptr<SupernodeServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<std::thread> sweeper_;

  mutable absl::Mutex mu_;
  std::string address_ ABSL_GUARDED_BY(mu_);
  std::string bound_address_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_SUPERNODE_H_
