// The daemon's --on_complete=COMMAND: a program run when a download
// completes, like transmission's script-torrent-done. The command is split
// into words (spaces separate them; "double" or 'single' quotes keep
// spaces; no other shell syntax), the completed file's path is appended as
// the last argument, and the program is started directly (posix_spawn, no
// shell: a file name is never interpreted). Its environment adds
// TROVE_PATH, TROVE_NAME, TROVE_CID, TROVE_SIZE and TROVE_DIR. Its stdin
// is /dev/null; its output goes where the daemon's does. The daemon does
// not wait for it: a reaper thread logs how it ended.
//
// Thread-safe.
#ifndef TROVE_PEER_CLIENT_ON_COMPLETE_H_
#define TROVE_PEER_CLIENT_ON_COMPLETE_H_

#include <sys/types.h>

#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace trove {

// Splits a command into words (see above). INVALID_ARGUMENT for an
// unclosed quote or no word at all.
absl::StatusOr<std::vector<std::string>> SplitCommand(absl::string_view command);

class CompletionHook {
 public:
  // INVALID_ARGUMENT for a command that does not split (see SplitCommand).
  static absl::StatusOr<std::unique_ptr<CompletionHook>> Create(
      absl::string_view command);
  // Stops the reaper; programs still running are left to finish.
  ~CompletionHook();
  CompletionHook(const CompletionHook&) = delete;
  CompletionHook& operator=(const CompletionHook&) = delete;

  // Starts the command for the file at `path` (named `name`, content id
  // `cid`, `size` bytes) and returns without waiting. The error of
  // posix_spawn when it cannot start.
  absl::Status Run(const std::string& path, const std::string& name,
                   const std::string& cid, int64_t size);

  // Programs started and not yet ended.
  int running() const;

 private:
  explicit CompletionHook(std::vector<std::string> argv);
  void Reap();

  const std::vector<std::string> argv_;
  mutable absl::Mutex mu_;
  std::set<pid_t> children_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reaper_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_ON_COMPLETE_H_
