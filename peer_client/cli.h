// The command line's verbs that talk to a running daemon over its Unix
// socket (STATE/daemon.sock): search, get, status, rescan. Each returns the
// process exit code (0 success, 1 failure) and writes results to `out`,
// progress and errors to `err`.
//
// --json output (documented in peer_client/README.md):
//   search: {"hits":[{"cid","name","size","source_count","link"}],
//            "partial":bool}
//   get:    one object per line: {"event":"progress",...} while running,
//           then {"event":"done",...,"path"} or {"event":"error","code",
//           "message"}
//   status: {"peer_id","supernode","listen_address","shares":[...],
//            "shared_files","shared_bytes","hashing","transfers":[...]}
#ifndef TROVE_PEER_CLIENT_CLI_H_
#define TROVE_PEER_CLIENT_CLI_H_

#include <memory>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/control.grpc.pb.h"

namespace trove {

struct CliOptions {
  // The daemon's state folder.
  std::string state_dir;
  // Machine-readable output.
  bool json = false;
  // Deadline of search, status and rescan calls.
  absl::Duration timeout = absl::Seconds(30);
  // Whether `err` is a terminal (get rewrites one progress line).
  bool tty = false;
};

// A stub for the daemon of `state_dir`. FAILED_PRECONDITION with a hint
// when no daemon runs there.
absl::StatusOr<std::unique_ptr<control::ControlService::Stub>> ConnectToDaemon(
    const std::string& state_dir);

int RunSearch(const CliOptions& options, const SearchQuery& query,
              std::ostream& out, std::ostream& err);
int RunGet(const CliOptions& options, const control::GetRequest& request,
           std::ostream& out, std::ostream& err);
int RunStatus(const CliOptions& options, std::ostream& out, std::ostream& err);
int RunRescan(const CliOptions& options, std::ostream& out, std::ostream& err);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_CLI_H_
