// Child processes for integration tests: start a real binary with its
// output going to a log file, signal it, wait for it, and run a command to
// completion capturing its output. Not thread-safe; one owner per object.
#ifndef TROVE_TESTS_HARNESS_PROCESS_H_
#define TROVE_TESTS_HARNESS_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace trove {
namespace testutil {

class ChildProcess {
 public:
  // Starts `argv` (argv[0] is a path) with stdout and stderr appended to
  // `log_path`. INTERNAL when fork/exec fails.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path);

  // Kills the process (SIGKILL) if it is still running and reaps it.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // Sends `signal`. No-op once the process has been reaped.
  void Signal(int signal);

  // Waits up to `timeout` for the process to end; returns its exit status
  // (as from waitpid) or DEADLINE_EXCEEDED.
  absl::StatusOr<int> Wait(absl::Duration timeout);

  // SIGTERM, then SIGKILL after `grace`; returns the wait status.
  int Stop(absl::Duration grace = absl::Seconds(10));

  // True while the process has not ended.
  bool Running();

 private:
  ChildProcess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}

  pid_t pid_;
  bool reaped_ = false;
  int status_ = 0;
  std::string log_path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal or timed out
  std::string out;     // stdout
  std::string err;     // stderr
};

// Runs `argv` to completion (killed after `timeout`) and captures its output.
CommandResult RunCommand(const std::vector<std::string>& argv,
                         absl::Duration timeout = absl::Seconds(120));

// Waits until `path` exists and holds a full line; returns that line without
// the newline. DEADLINE_EXCEEDED after `timeout`.
absl::StatusOr<std::string> WaitForReadyFile(const std::string& path,
                                             absl::Duration timeout);

// A fresh folder under /tmp, removed with its contents by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Writes `size` bytes of deterministic pseudo-random content (from `seed`)
// to `path`: first under a hidden name in the same folder, then renamed into
// place, so a scanning daemon never sees the file half written.
absl::Status WriteRandomFile(const std::string& path, int64_t size,
                             uint64_t seed);

// Reads a whole file; empty on failure.
std::string Slurp(const std::string& path);

// The path of a binary built into this test's runfiles, e.g.
// "index_server/index_server".
std::string RunfilePath(const std::string& relative);

}  // namespace testutil
}  // namespace trove

#endif  // TROVE_TESTS_HARNESS_PROCESS_H_
