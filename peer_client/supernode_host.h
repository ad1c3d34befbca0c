// A peer's part in the supernode election: every report interval it sends
// its capacity report, signed with its identity key, to the index
// (IndexService.ReportPeer) and acts on the answer:
//
// - promoted: runs the supernode library in-process on its own port
//   (listen address from Options, a free port by default), registered with
//   the index under the peer's own key, so its supernode id is its peer
//   id. The peer stays a peer: its session joins whichever supernode the
//   index offers, possibly this one.
// - draining (demoted): keeps serving while its leaves move, then stops
//   the supernode when the index's drain time is over.
// - leaf again (its promotion retired): stops the supernode.
// - `move`: the supernode this peer is joined to drains: the session moves.
//
// Thread-safe. One background thread.
#ifndef TROVE_PEER_CLIENT_SUPERNODE_HOST_H_
#define TROVE_PEER_CLIENT_SUPERNODE_HOST_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identity.h"
#include "common/tls_credentials.h"
#include "peer_client/supernode_session.h"
#include "protos/index.grpc.pb.h"
#include "supernode/supernode.h"

namespace trove {

class SupernodeHost {
 public:
  struct Options {
    // The index to report to. Required.
    std::string index_address;
    // The peer's PeerService address, reported (the index dials it back).
    std::string peer_address;
    // Where a promoted supernode listens: host:port (port 0: a free one).
    // Empty: the host of peer_address, a free port.
    std::string listen;
    // The address to announce for it instead of the bound one (empty: the
    // bound one).
    std::string advertise;
    // The peer's identity key file: the supernode signs with it.
    std::string key_file;
    // What the peer offers (reachable is the index's to decide).
    std::function<Capacity()> capacity;
    // TLS (the peer's own context: its key's self-signed certificate and
    // the community CA).
    std::shared_ptr<const TlsContext> tls;
    // Until the index says otherwise.
    absl::Duration report_every = absl::Seconds(15);
    absl::Duration rpc_timeout = absl::Seconds(10);
    // Timings and limits of a hosted supernode (index address, listen
    // address, key and TLS are filled in).
    supernode::SupernodeOptions supernode;
  };

  enum class Role { kLeaf, kSupernode, kDraining };

  // `identity` and `session` (may be null) must outlive the host.
  SupernodeHost(const Identity* identity, SupernodeSession* session,
                Options options);
  ~SupernodeHost();
  SupernodeHost(const SupernodeHost&) = delete;
  SupernodeHost& operator=(const SupernodeHost&) = delete;

  // Starts the reporting thread. Call once.
  void Start();
  // Stops reporting and any hosted supernode (which ends its lease).
  // Idempotent.
  void Stop(absl::Duration timeout);

  Role role() const;
  // "leaf", "supernode", "draining".
  static const char* RoleName(Role role);
  // The hosted supernode's address ("" when none) and its leaves now.
  std::string supernode_address() const;
  int supernode_leaves() const;
  // Whether the index last found this peer reachable.
  bool reachable() const;
  // Why the last report failed ("" when it went through).
  std::string report_error() const;

  // One report now and acting on its answer (what the thread does).
  absl::Status ReportOnce();

 private:
  void Run();
  absl::Status StartSupernode();
  void StopSupernode(const char* why);

  const Identity* const identity_;
  SupernodeSession* const session_;
  const Options options_;
  const absl::Time started_;
  std::unique_ptr<index::IndexService::Stub> index_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_thread_ ABSL_GUARDED_BY(mu_) = false;
  Role role_ ABSL_GUARDED_BY(mu_) = Role::kLeaf;
  bool reachable_ ABSL_GUARDED_BY(mu_) = false;
  std::string report_error_ ABSL_GUARDED_BY(mu_);
  absl::Duration report_every_ ABSL_GUARDED_BY(mu_);
  // When a draining supernode stops.
  absl::Time drain_until_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::shared_ptr<supernode::Supernode> supernode_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_SUPERNODE_HOST_H_
