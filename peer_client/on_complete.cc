#include "peer_client/on_complete.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/file_util.h"
#include "common/log.h"

extern char** environ;

namespace trove {

absl::StatusOr<std::vector<std::string>> SplitCommand(
    absl::string_view command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (char c : command) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
      continue;
    }
    if (c == '"' || c == '\'') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("unclosed ", std::string(1, quote), " in '", command, "'"));
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return absl::InvalidArgumentError("empty command");
  return words;
}

absl::StatusOr<std::unique_ptr<CompletionHook>> CompletionHook::Create(
    absl::string_view command) {
  absl::StatusOr<std::vector<std::string>> argv = SplitCommand(command);
  if (!argv.ok()) return argv.status();
  return std::unique_ptr<CompletionHook>(new CompletionHook(std::move(*argv)));
}

CompletionHook::CompletionHook(std::vector<std::string> argv)
    : argv_(std::move(argv)) {
  reaper_ = std::thread(&CompletionHook::Reap, this);
}

CompletionHook::~CompletionHook() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  reaper_.join();
}

int CompletionHook::running() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(children_.size());
}

absl::Status CompletionHook::Run(const std::string& path,
                                 const std::string& name,
                                 const std::string& cid, int64_t size) {
  std::vector<std::string> args = argv_;
  args.push_back(path);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "TROVE_", 6) != 0) env.emplace_back(*e);
  }
  const size_t slash = path.rfind('/');
  env.push_back("TROVE_PATH=" + path);
  env.push_back("TROVE_NAME=" + name);
  env.push_back("TROVE_CID=" + cid);
  env.push_back(absl::StrCat("TROVE_SIZE=", size));
  env.push_back("TROVE_DIR=" +
                (slash == std::string::npos ? std::string(".")
                                            : path.substr(0, slash)));
  std::vector<char*> argv_c;
  for (std::string& a : args) argv_c.push_back(a.data());
  argv_c.push_back(nullptr);
  std::vector<char*> env_c;
  for (std::string& e : env) env_c.push_back(e.data());
  env_c.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The daemon blocks SIGINT and SIGTERM in every thread; the program gets
  // the default mask and handlers, in its own process group.
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
  pid_t pid = 0;
  const int err = ::posix_spawnp(&pid, argv_c[0], &actions, &attr,
                                 argv_c.data(), env_c.data());
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    return ErrnoToStatus(err, absl::StrCat("cannot run --on_complete program ",
                                           argv_[0]));
  }
  TROVE_LOG(INFO) << "on_complete: started " << argv_[0] << " (pid " << pid
                  << ") for " << path;
  absl::MutexLock lock(&mu_);
  children_.insert(pid);
  return absl::OkStatus();
}

void CompletionHook::Reap() {
  while (true) {
    std::set<pid_t> children;
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), absl::Milliseconds(200));
      if (stopping_) return;
      children = children_;
    }
    for (pid_t pid : children) {
      int status = 0;
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == 0) continue;
      if (r == pid) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
          TROVE_LOG(INFO) << "on_complete: pid " << pid << " finished";
        } else if (WIFEXITED(status)) {
          TROVE_LOG(WARNING) << "on_complete: pid " << pid
                             << " exited with status " << WEXITSTATUS(status);
        } else if (WIFSIGNALED(status)) {
          TROVE_LOG(WARNING) << "on_complete: pid " << pid
                             << " was killed by signal " << WTERMSIG(status);
        }
      }
      absl::MutexLock lock(&mu_);
      children_.erase(pid);
    }
  }
}

}  // namespace trove
