#include "tests/testing/postgres.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <glob.h>
#include <netinet/in.h>
#include <postgresql/libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <vector>

#include "absl/memory/memory.h"
#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace trove {
namespace testutil {
namespace {

constexpr char kDirPrefix[] = "/tmp/trove-pg.";
constexpr char kSuperuser[] = "trove";
constexpr int kStartAttempts = 5;
constexpr absl::Duration kReadyTimeout = absl::Seconds(60);

bool IsExecutable(const std::string& path) {
  return access(path.c_str(), X_OK) == 0;
}

// PostgreSQL's bin directory: $PG_BIN, version 15, else the highest version
// installed.
absl::StatusOr<std::string> FindPostgresBin() {
  const char* env = getenv("PG_BIN");
  if (env != nullptr && *env != '\0') {
    if (!IsExecutable(absl::StrCat(env, "/pg_ctl"))) {
      return absl::NotFoundError(absl::StrCat("PG_BIN=", env, " has no pg_ctl"));
    }
    return std::string(env);
  }
  if (IsExecutable("/usr/lib/postgresql/15/bin/pg_ctl")) {
    return std::string("/usr/lib/postgresql/15/bin");
  }
  glob_t g;
  std::vector<std::pair<int, std::string>> found;
  if (glob("/usr/lib/postgresql/*/bin", 0, nullptr, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) {
      std::string dir = g.gl_pathv[i];
      if (!IsExecutable(dir + "/pg_ctl")) continue;
      int version = atoi(dir.c_str() + strlen("/usr/lib/postgresql/"));
      found.emplace_back(version, dir);
    }
  }
  globfree(&g);
  if (found.empty()) {
    return absl::NotFoundError(
        "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl); "
        "apt-get install postgresql");
  }
  std::sort(found.begin(), found.end());
  return found.back().second;
}

// runuser's path, for running PostgreSQL's tools as `postgres` when root.
std::string FindRunuser() {
  for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"}) {
    if (IsExecutable(p)) return p;
  }
  return "";
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs `argv` in `cwd` with stdout and stderr to `log_path`; returns its
// exit status (-1 when it could not be started or died of a signal).
int RunProcess(const std::vector<std::string>& argv, const std::string& cwd,
               const std::string& log_path) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    std::ofstream(log_path, std::ios::app)
        << "could not run " << argv[0] << ": " << strerror(rc) << "\n";
    return -1;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A port that was free a moment ago on 127.0.0.1 (0 on failure).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Quotes a value for a keyword=value connection string.
std::string QuoteConnValue(const std::string& value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += "'";
  return out;
}

// Runs one statement on `dsn` (libpq, no transaction).
absl::Status ExecOn(const std::string& dsn, const std::string& sql) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string error = PQerrorMessage(conn);
    PQfinish(conn);
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL (", dsn, "): ", error));
  }
  PGresult* res = PQexec(conn, sql.c_str());
  absl::Status status;
  if (PQresultStatus(res) != PGRES_COMMAND_OK &&
      PQresultStatus(res) != PGRES_TUPLES_OK) {
    status = absl::InternalError(
        absl::StrCat(sql, ": ", PQresultErrorMessage(res)));
  }
  PQclear(res);
  PQfinish(conn);
  return status;
}

}  // namespace

absl::StatusOr<std::string> DsnWithDatabase(const std::string& dsn,
                                            const std::string& dbname) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "out of memory";
    if (error != nullptr) PQfreemem(error);
    return absl::InvalidArgumentError(
        absl::StrCat("cannot parse PostgreSQL DSN: ", message));
  }
  std::vector<std::string> parts;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || strcmp(o->keyword, "dbname") == 0) continue;
    parts.push_back(absl::StrCat(o->keyword, "=", QuoteConnValue(o->val)));
  }
  PQconninfoFree(options);
  parts.push_back(absl::StrCat("dbname=", QuoteConnValue(dbname)));
  return absl::StrJoin(parts, " ");
}

// ---------------------------------------------------------------------------
// PostgresServer

absl::StatusOr<std::unique_ptr<PostgresServer>>
PostgresServer::FromEnvOrStart() {
  const char* env = getenv("TROVE_TEST_PG_DSN");
  if (env != nullptr && *env != '\0') return External(env);
  return StartPrivate();
}

std::unique_ptr<PostgresServer> PostgresServer::External(std::string admin_dsn) {
  auto server = absl::WrapUnique(new PostgresServer());
  server->admin_dsn_ = std::move(admin_dsn);
  return server;
}

absl::StatusOr<std::unique_ptr<PostgresServer>> PostgresServer::StartPrivate() {
  absl::StatusOr<std::string> bin = FindPostgresBin();
  if (!bin.ok()) return bin.status();
  const bool root = geteuid() == 0;
  std::string runuser;
  if (root) {
    runuser = FindRunuser();
    if (runuser.empty()) {
      return absl::NotFoundError(
          "running as root, and runuser (util-linux) is not installed");
    }
  }

  auto server = absl::WrapUnique(new PostgresServer());
  server->bin_dir_ = *bin;
  std::string templ = absl::StrCat(kDirPrefix, "XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("mkdtemp ", templ, ": ", strerror(errno)));
  }
  server->dir_ = templ;
  const std::string& dir = server->dir_;
  if (root) {
    struct passwd* pw = getpwnam("postgres");
    if (pw == nullptr) {
      return absl::NotFoundError("running as root, and there is no postgres user");
    }
    if (chown(dir.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      return absl::UnavailableError(
          absl::StrCat("chown postgres ", dir, ": ", strerror(errno)));
    }
  }

  // The watchdog: in its own session (so a process-group kill of the test
  // does not reach it), it waits for EOF on its stdin, which happens when
  // this process closes the pipe or dies, then stops the cluster and
  // removes the directory.
  {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      return absl::UnavailableError(absl::StrCat("pipe: ", strerror(errno)));
    }
    const std::string pg_ctl = server->bin_dir_ + "/pg_ctl";
    const char* script =
        "trap '' HUP INT TERM PIPE\n"
        "read -r _ignored\n"
        "cd /\n"
        "if [ -n \"$2\" ]; then\n"
        "  \"$2\" -u postgres -- \"$0\" stop -D \"$1/data\" -m immediate -w\n"
        "else\n"
        "  \"$0\" stop -D \"$1/data\" -m immediate -w\n"
        "fi\n"
        "rm -rf -- \"$1\"\n";
    std::vector<std::string> argv = {"/bin/sh", "-c", script, pg_ctl, dir,
                                     runuser};
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &actions, &attr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(fds[0]);
    if (rc != 0) {
      close(fds[1]);
      return absl::UnavailableError(
          absl::StrCat("cannot start the cleanup watchdog: ", strerror(rc)));
    }
    server->watchdog_pid_ = pid;
    server->watchdog_fd_ = fds[1];
  }

  std::vector<std::string> as_owner;
  if (root) as_owner = {runuser, "-u", "postgres", "--"};
  auto command = [&](std::vector<std::string> args) {
    std::vector<std::string> full = as_owner;
    full.insert(full.end(), args.begin(), args.end());
    return full;
  };

  const std::string initdb_log = dir + "/initdb.log";
  if (RunProcess(command({server->bin_dir_ + "/initdb", "-D", dir + "/data",
                          "-A", "trust", "-U", kSuperuser, "-E", "UTF8",
                          "--locale=C.UTF-8", "--no-sync"}),
                 dir, initdb_log) != 0) {
    return absl::UnavailableError(absl::StrCat(
        "initdb failed in ", dir, ":\n", ReadWholeFile(initdb_log)));
  }

  const std::string server_log = dir + "/postgres.log";
  const std::string pg_ctl_log = dir + "/pg_ctl.log";
  int port = 0;
  for (int attempt = 1;; ++attempt) {
    port = FreePort();
    if (port == 0) return absl::UnavailableError("no free TCP port on 127.0.0.1");
    std::string options = absl::StrCat(
        "-k ", dir, " -c listen_addresses=127.0.0.1 -p ", port,
        " -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
    int rc = RunProcess(
        command({server->bin_dir_ + "/pg_ctl", "-D", dir + "/data", "-l",
                 server_log, "-w", "-t", "60", "-o", options, "start"}),
        dir, pg_ctl_log);
    if (rc == 0) break;
    std::string log = ReadWholeFile(server_log);
    bool clash = absl::StrContains(log, "could not bind") ||
                 absl::StrContains(log, "already in use");
    if (!clash || attempt >= kStartAttempts) {
      return absl::UnavailableError(absl::StrCat(
          "PostgreSQL did not start in ", dir, ":\n", ReadWholeFile(pg_ctl_log),
          log));
    }
  }

  server->admin_dsn_ = absl::StrCat("host=127.0.0.1 port=", port, " user=",
                                    kSuperuser, " dbname=postgres");
  absl::Time deadline = absl::Now() + kReadyTimeout;
  while (PQping(server->admin_dsn_.c_str()) != PQPING_OK) {
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat(
          "PostgreSQL in ", dir, " does not accept connections:\n",
          ReadWholeFile(server_log)));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return server;
}

PostgresServer::~PostgresServer() { Stop(); }

void PostgresServer::Stop() {
  if (watchdog_fd_ >= 0) {
    // EOF on its stdin: the watchdog stops the cluster and removes the
    // directory; wait for it so that this returns with everything gone.
    close(watchdog_fd_);
    watchdog_fd_ = -1;
    int status;
    while (waitpid(watchdog_pid_, &status, 0) < 0 && errno == EINTR) {
    }
    watchdog_pid_ = -1;
  }
  // Only the directory this object made with mkdtemp, if anything is left.
  if (dir_.empty() || !absl::StartsWith(dir_, kDirPrefix)) return;
  std::error_code ec;
  if (std::filesystem::exists(dir_ + "/data/postmaster.pid", ec)) {
    std::vector<std::string> argv;
    if (geteuid() == 0) argv = {FindRunuser(), "-u", "postgres", "--"};
    argv.insert(argv.end(), {bin_dir_ + "/pg_ctl", "stop", "-D", dir_ + "/data",
                             "-m", "immediate", "-w"});
    RunProcess(argv, "/", "/dev/null");
  }
  std::filesystem::remove_all(dir_, ec);
  dir_.clear();
}

// ---------------------------------------------------------------------------
// TestDatabase

namespace {

absl::Mutex shared_mutex(absl::kConstInit);
PostgresServer* shared_server ABSL_GUARDED_BY(shared_mutex) = nullptr;
absl::Status* shared_error ABSL_GUARDED_BY(shared_mutex) = nullptr;

void StopSharedServer() {
  absl::MutexLock lock(&shared_mutex);
  if (shared_server != nullptr) shared_server->Stop();
}

absl::StatusOr<PostgresServer*> SharedServer() {
  absl::MutexLock lock(&shared_mutex);
  if (shared_server != nullptr) return shared_server;
  if (shared_error != nullptr) return *shared_error;
  absl::StatusOr<std::unique_ptr<PostgresServer>> server =
      PostgresServer::FromEnvOrStart();
  if (!server.ok()) {
    shared_error = new absl::Status(server.status());
    return *shared_error;
  }
  shared_server = server->release();
  std::atexit(StopSharedServer);
  return shared_server;
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create() {
  absl::StatusOr<PostgresServer*> server = SharedServer();
  if (!server.ok()) return server.status();
  return CreateOn(*server);
}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::CreateOn(
    PostgresServer* server) {
  absl::BitGen gen;
  std::string name = absl::StrCat(
      "trove_test_", absl::Hex(absl::Uniform<uint64_t>(gen), absl::kZeroPad16));
  absl::Status created =
      ExecOn(server->admin_dsn(), absl::StrCat("CREATE DATABASE ", name));
  if (!created.ok()) return created;
  absl::StatusOr<std::string> dsn = DsnWithDatabase(server->admin_dsn(), name);
  if (!dsn.ok()) return dsn.status();
  return absl::WrapUnique(new TestDatabase(server, name, *dsn));
}

TestDatabase::~TestDatabase() {
  absl::Status dropped =
      ExecOn(server_->admin_dsn(),
             absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
  if (!dropped.ok()) {
    std::cerr << "could not drop test database " << name_ << ": " << dropped
              << "\n";
  }
}

}  // namespace testutil
}  // namespace trove
