// The command line's verbs that talk to a running daemon over its Unix
// socket (STATE/daemon.sock). Each returns the process exit code (0
// success, 1 failure, 2 usage error, 130 interrupted) and writes results to
// `out`, progress, questions and errors to `err`. With --json every result
// and every error is JSON on `out` (errors also as text on `err`); the
// shapes are in json_format.h and peer_client/README.md.
//
// Downloads are named by a full cid, a trove: link, a number N (1-999: the
// N-th hit of the last search, saved in STATE/last_search.json), or a
// prefix of 4 or more hex digits of a cid that the last search or the
// daemon's downloads know, when only one does.
#ifndef TROVE_PEER_CLIENT_CLI_H_
#define TROVE_PEER_CLIENT_CLI_H_

#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/control.grpc.pb.h"

namespace trove {

struct CliOptions {
  // The daemon's state folder.
  std::string state_dir;
  // Machine-readable output.
  bool json = false;
  // Deadline of the calls that answer at once (not get / watch).
  absl::Duration timeout = absl::Seconds(30);
  // Whether `err` is a terminal (progress is redrawn in place) and whether
  // questions can be asked on stdin.
  bool tty = false;
  bool interactive = false;
  // Columns of the terminal; 0: asked of the terminal each time (80 when
  // it cannot say).
  int width = 0;
  // Without a terminal, a progress line at most this often.
  absl::Duration plain_progress_every = absl::Seconds(5);
};

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;

// A stub for the daemon of `state_dir`, and its channel. FAILED_PRECONDITION
// with a hint when no daemon runs there; UNAVAILABLE when it does not
// answer.
struct DaemonConnection {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<control::ControlService::Stub> stub;
};
absl::StatusOr<DaemonConnection> ConnectToDaemon(const std::string& state_dir);

// Reports a usage error (exit 2): "peer_client VERB: MESSAGE" and a hint on
// `err`, and with --json {"event":"error","code":"INVALID_ARGUMENT",
// "message","hint"} on `out`.
int UsageError(const CliOptions& options, const std::string& verb,
               const std::string& message, std::ostream& out,
               std::ostream& err);

// search WORDS...: numbered hits, saved in STATE/last_search.json for `get
// N`; with `links`, each hit as a trove: link. Shows page `page` (from 1)
// of query.limit hits, following the cursors of the pages before it.
int RunSearch(const CliOptions& options, const SearchQuery& query, bool links,
              int page, std::ostream& out, std::ostream& err);

struct GetArgs {
  // CID, link, number or prefix.
  std::string target;
  // Absolute folder, or empty for the daemon's download folder.
  std::string out_dir;
  // File name to use, or empty.
  std::string name;
  // Follow the download (get) or return once it is added (add,
  // --wait=false).
  bool wait = true;
  // Add it paused.
  bool paused = false;
};
// get / add.
int RunGet(const CliOptions& options, const GetArgs& args, std::ostream& out,
           std::ostream& err);

// list: every download.
int RunList(const CliOptions& options, std::ostream& out, std::ostream& err);
// watch [TARGET]: follows one download until it ends, or all of them until
// none is active.
int RunWatch(const CliOptions& options, const std::vector<std::string>& targets,
             std::ostream& out, std::ostream& err);
// pause / resume TARGET... (or every download with `all`).
int RunPause(const CliOptions& options, const std::vector<std::string>& targets,
             bool all, std::ostream& out, std::ostream& err);
int RunResume(const CliOptions& options,
              const std::vector<std::string>& targets, bool all,
              std::ostream& out, std::ostream& err);
// cancel TARGET...: asks (on `in`) before deleting verified data unless
// `yes`; without a terminal to ask on, refuses (exit 2) instead.
int RunCancel(const CliOptions& options,
              const std::vector<std::string>& targets, bool yes,
              std::istream& in, std::ostream& out, std::ostream& err);
int RunStatus(const CliOptions& options, std::ostream& out, std::ostream& err);
int RunRescan(const CliOptions& options, std::ostream& out, std::ostream& err);
// config: the daemon's effective settings.
int RunConfig(const CliOptions& options, std::ostream& out, std::ostream& err);
// limits: sets the limits given in `request` (none: only shows them).
int RunLimits(const CliOptions& options, const control::LimitsRequest& request,
              std::ostream& out, std::ostream& err);

// Ctrl-C, a closed terminal (SIGHUP) and SIGTERM: InstallInterruptThread
// blocks them and handles them on a thread of its own, before any other
// thread starts. While a handler is set (get, watch) it is called (the
// verb then detaches and says so); otherwise the process exits with 130.
void InstallInterruptThread();
void SetInterruptHandler(std::function<void()> handler);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_CLI_H_
