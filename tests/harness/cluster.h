// A small Trove community for integration tests: a fresh PostgreSQL
// database, the real index_server, supernode and peer_client binaries on
// loopback with ports they pick themselves, each with its own log file.
//
// TLS is on, as in real use: Create() makes a community with the real
// `index_server init` in the work folder, the supernode gets a certificate
// from `index_server enrol-supernode`, peers trust the community CA
// (--tls_ca, or the link with StartPeerWithLink). ClusterOptions::tls =
// false runs everything with --insecure instead.
//
// Not thread-safe: one test thread drives it.
#ifndef TROVE_TESTS_HARNESS_CLUSTER_H_
#define TROVE_TESTS_HARNESS_CLUSTER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/tls_credentials.h"
#include "nlohmann/json.hpp"
#include "tests/harness/process.h"
#include "tests/testing/postgres.h"

namespace trove {
namespace testutil {

// A running peer daemon.
struct PeerHandle {
  std::string name;
  std::string state_dir;
  std::string share_dir;
  std::string address;  // its PeerService
  std::unique_ptr<ChildProcess> process;
};

struct ClusterOptions {
  // TLS on every link (false: every process gets --insecure).
  bool tls = true;
};

class Cluster {
 public:
  // Makes the work folder, a fresh database and (with TLS) the community.
  static absl::StatusOr<std::unique_ptr<Cluster>> Create(
      const ClusterOptions& options = {});
  ~Cluster();

  const std::string& work_dir() const { return work_.path(); }
  const std::string& index_address() const { return index_address_; }
  const std::string& supernode_address() const { return supernode_address_; }
  bool tls() const { return options_.tls; }
  // The cluster's PostgreSQL connection string.
  const std::string& dsn() const { return db_->dsn(); }
  // The community folder made by `index_server init` ("" without TLS).
  const std::string& community_dir() const { return community_dir_; }
  // The community CA certificate (PEM; "" without TLS).
  const std::string& ca_pem() const { return ca_pem_; }
  // The community link with the index's address, once the index runs.
  std::string link() const;
  // A TLS context for the test's own gRPC clients: a throw-away key with
  // a self-signed certificate, trusting the community CA (insecure
  // without TLS). Tests install it with SetDefaultTls for MakeChannel.
  std::shared_ptr<const TlsContext> client_tls() const { return client_tls_; }

  // Starts index_server on `listen` (default: a free port) with extra flags.
  absl::Status StartIndex(const std::vector<std::string>& extra_flags = {},
                          const std::string& listen = "127.0.0.1:0");
  ChildProcess* index() { return index_.get(); }

  // Starts a supernode joined to the index.
  absl::Status StartSupernode(const std::vector<std::string>& extra_flags = {});
  ChildProcess* supernode() { return supernode_.get(); }

  // Starts one more supernode named `name` (its own key, enrolled like the
  // first, state in <work>/<name>-state, log <name>.log) with the same
  // flags as StartSupernode plus `extra_flags`; returns its address.
  absl::StatusOr<std::string> StartOtherSupernode(
      const std::string& name, const std::vector<std::string>& extra_flags = {});
  ChildProcess* other_supernode(const std::string& name) {
    return other_supernodes_[name].get();
  }

  // Starts a peer daemon named `name` sharing <work>/<name>-share (made when
  // missing) with state in <work>/<name>-state. `binary` overrides the
  // peer_client path (for test-only variants).
  absl::StatusOr<PeerHandle*> StartPeer(
      const std::string& name, const std::vector<std::string>& extra_flags = {});
  // Like StartPeer, but the peer is given only the community link
  // (--join=LINK): it learns the CA from the index and asks it for a
  // supernode. REQUIRES: TLS.
  absl::StatusOr<PeerHandle*> StartPeerWithLink(
      const std::string& name, const std::vector<std::string>& extra_flags = {});
  PeerHandle* peer(const std::string& name) { return peers_[name].get(); }

  // Runs `peer_client ARGS... --state=<peer's state>` and returns its output.
  CommandResult Cli(const PeerHandle& peer, std::vector<std::string> args,
                    absl::Duration timeout = absl::Seconds(120));

  // `search QUERY --json` from `peer`: the parsed object, or an error with
  // the command's stderr.
  absl::StatusOr<nlohmann::json> Search(const PeerHandle& peer,
                                        const std::string& query);

  // The cid of the first hit of `query` whose name is `name`, or "" when
  // there is none.
  std::string FindCid(const PeerHandle& peer, const std::string& query,
                      const std::string& name);

  // Dumps the tails of every log, for a failing test's output.
  std::string LogTails() const;

 private:
  explicit Cluster(const ClusterOptions& options) : options_(options) {}
  absl::Status MakeCommunity();
  absl::StatusOr<PeerHandle*> StartPeerWith(const std::string& name,
                                           std::vector<std::string> join_flags,
                                           const std::vector<std::string>& extra_flags);
  absl::StatusOr<std::string> StartSupernodeProcess(
      const std::string& name, const std::vector<std::string>& extra_flags,
      std::unique_ptr<ChildProcess>* out);
  absl::StatusOr<std::string> StartServer(const std::string& name,
                                          std::vector<std::string> argv,
                                          std::unique_ptr<ChildProcess>* out);

  const ClusterOptions options_;
  TempDir work_;
  std::string community_dir_;
  std::string ca_pem_;
  std::shared_ptr<const TlsContext> client_tls_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<ChildProcess> index_;
  std::unique_ptr<ChildProcess> supernode_;
  std::map<std::string, std::unique_ptr<ChildProcess>> other_supernodes_;
  std::map<std::string, std::unique_ptr<PeerHandle>> peers_;
  std::string index_address_;
  std::string supernode_address_;
  int starts_ = 0;
};

// Calls `condition` every 100 ms until it is true or `timeout` passes;
// returns whether it became true.
bool WaitUntil(const std::function<bool()>& condition,
               absl::Duration timeout = absl::Seconds(30));

// True when the two files have identical contents.
bool SameFile(const std::string& a, const std::string& b);

}  // namespace testutil
}  // namespace trove

#endif  // TROVE_TESTS_HARNESS_CLUSTER_H_
