// Real PostgreSQL for tests: a fresh, empty database per test.
//
//   std::unique_ptr<TestDatabase> db;
//   void SetUp() override {
//     absl::StatusOr<std::unique_ptr<TestDatabase>> made = TestDatabase::Create();
//     ASSERT_TRUE(made.ok()) << made.status();   // fails loudly, never skips
//     db = *std::move(made);
//   }
//   ... connect to db->dsn() ...
//
// Where the server comes from:
//   - TROVE_TEST_PG_DSN set (tools/test starts one shared server with
//     tools/pg and passes it with --test_env): a superuser DSN to database
//     `postgres` on that server. Each TestDatabase is a new database with a
//     random name there, dropped when the TestDatabase is destroyed.
//   - Otherwise the first TestDatabase starts a private cluster for the whole
//     test process (initdb in a mkdtemp directory under /tmp, run as the
//     `postgres` user when the process is root, a free 127.0.0.1 port,
//     fsync off). It is stopped and its directory removed at process exit,
//     and also when the process dies any other way: a small watchdog
//     process, in its own session, cleans up when the test process is gone.
#ifndef TROVE_TESTS_TESTING_POSTGRES_H_
#define TROVE_TESTS_TESTING_POSTGRES_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace trove {
namespace testutil {

// One PostgreSQL server: a private cluster this object started (and stops
// when destroyed), or an external one it only points at.
// Thread-compatible: create and destroy from one thread.
class PostgresServer {
 public:
  // The server of TROVE_TEST_PG_DSN when set, else StartPrivate().
  static absl::StatusOr<std::unique_ptr<PostgresServer>> FromEnvOrStart();

  // Starts a private cluster as described at the top of this file.
  // UNAVAILABLE (with initdb's or the server's log) when it cannot start;
  // NOT_FOUND when PostgreSQL is not installed.
  static absl::StatusOr<std::unique_ptr<PostgresServer>> StartPrivate();

  // An existing server; `admin_dsn` is a superuser DSN. Nothing is stopped
  // when destroyed.
  static std::unique_ptr<PostgresServer> External(std::string admin_dsn);

  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // Superuser DSN to database `postgres`, in keyword=value form.
  const std::string& admin_dsn() const { return admin_dsn_; }

  // The cluster's directory; empty for an external server.
  const std::string& directory() const { return dir_; }

  // Stops a private cluster now (immediate mode) and removes its directory.
  // Idempotent; a no-op for an external server.
  void Stop();

 private:
  PostgresServer() = default;

  std::string admin_dsn_;
  std::string dir_;           // mkdtemp result; empty when external
  std::string bin_dir_;       // PostgreSQL's bin directory
  pid_t watchdog_pid_ = -1;   // cleans up if this process dies
  int watchdog_fd_ = -1;      // write end of the watchdog's stdin pipe
};

// A fresh, empty database; dropped (WITH FORCE) when destroyed.
// Thread-compatible.
class TestDatabase {
 public:
  // On the process-wide shared server (FromEnvOrStart on first use).
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create();

  // On `server`, which must outlive the result.
  static absl::StatusOr<std::unique_ptr<TestDatabase>> CreateOn(
      PostgresServer* server);

  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  // DSN (keyword=value form) of the new database, as its owner (superuser).
  const std::string& dsn() const { return dsn_; }
  // The database's name ("trove_test_<random hex>").
  const std::string& name() const { return name_; }

 private:
  TestDatabase(PostgresServer* server, std::string name, std::string dsn)
      : server_(server), name_(std::move(name)), dsn_(std::move(dsn)) {}

  PostgresServer* server_;
  std::string name_;
  std::string dsn_;
};

// `dsn` with its dbname replaced by `dbname` (keyword=value or URI input;
// keyword=value output). INVALID_ARGUMENT when `dsn` does not parse.
absl::StatusOr<std::string> DsnWithDatabase(const std::string& dsn,
                                            const std::string& dbname);

}  // namespace testutil
}  // namespace trove

#endif  // TROVE_TESTS_TESTING_POSTGRES_H_
