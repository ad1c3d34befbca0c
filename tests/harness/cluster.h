// A small Trove community for integration tests: a fresh PostgreSQL
// database, the real index_server, supernode and peer_client binaries on
// loopback with ports they pick themselves, each with its own log file.
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

class Cluster {
 public:
  // Makes the work folder and a fresh database. Fails the test on error.
  static absl::StatusOr<std::unique_ptr<Cluster>> Create();
  ~Cluster();

  const std::string& work_dir() const { return work_.path(); }
  const std::string& index_address() const { return index_address_; }
  const std::string& supernode_address() const { return supernode_address_; }

  // Starts index_server on `listen` (default: a free port) with extra flags.
  absl::Status StartIndex(const std::vector<std::string>& extra_flags = {},
                          const std::string& listen = "127.0.0.1:0");
  ChildProcess* index() { return index_.get(); }

  // Starts a supernode joined to the index.
  absl::Status StartSupernode(const std::vector<std::string>& extra_flags = {});
  ChildProcess* supernode() { return supernode_.get(); }

  // Starts a peer daemon named `name` sharing <work>/<name>-share (made when
  // missing) with state in <work>/<name>-state. `binary` overrides the
  // peer_client path (for test-only variants).
  absl::StatusOr<PeerHandle*> StartPeer(
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
  Cluster() = default;
  absl::StatusOr<std::string> StartServer(const std::string& name,
                                          std::vector<std::string> argv,
                                          std::unique_ptr<ChildProcess>* out);

  TempDir work_;
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<ChildProcess> index_;
  std::unique_ptr<ChildProcess> supernode_;
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
