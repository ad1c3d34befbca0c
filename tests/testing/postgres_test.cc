#include "tests/testing/postgres.h"

#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace testutil {
namespace {

// Runs `sql` on `dsn`; returns the first column of the first row, or
// "ERROR: ..." when it fails.
std::string Query(const std::string& dsn, const std::string& sql) {
  PGconn* conn = PQconnectdb(dsn.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string error = std::string("ERROR: ") + PQerrorMessage(conn);
    PQfinish(conn);
    return error;
  }
  PGresult* res = PQexec(conn, sql.c_str());
  std::string out;
  if (PQresultStatus(res) == PGRES_TUPLES_OK) {
    out = PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "";
  } else if (PQresultStatus(res) == PGRES_COMMAND_OK) {
    out = "OK";
  } else {
    out = std::string("ERROR: ") + PQresultErrorMessage(res);
  }
  PQclear(res);
  PQfinish(conn);
  return out;
}

TEST(TestDatabaseTest, GivesFreshIsolatedDatabases) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> a = TestDatabase::Create();
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<std::unique_ptr<TestDatabase>> b = TestDatabase::Create();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_NE((*a)->name(), (*b)->name());
  EXPECT_EQ(Query((*a)->dsn(), "SELECT current_database()"), (*a)->name());
  EXPECT_EQ(Query((*a)->dsn(), "CREATE TABLE t (x int)"), "OK");
  EXPECT_EQ(Query((*a)->dsn(), "SELECT count(*) FROM t"), "0");
  EXPECT_NE(Query((*b)->dsn(), "SELECT count(*) FROM t").find("ERROR"),
            std::string::npos);
  EXPECT_EQ(Query((*a)->dsn(), "CREATE EXTENSION pg_trgm"), "OK");
}

TEST(TestDatabaseTest, DropsDatabaseWhenDestroyed) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  std::string name = (*db)->name();
  // Keep a connection open: the drop must still succeed.
  PGconn* held = PQconnectdb((*db)->dsn().c_str());
  ASSERT_EQ(PQstatus(held), CONNECTION_OK) << PQerrorMessage(held);
  absl::StatusOr<std::string> admin = DsnWithDatabase((*db)->dsn(), "postgres");
  ASSERT_TRUE(admin.ok()) << admin.status();
  db->reset();
  PQfinish(held);
  EXPECT_EQ(Query(*admin, "SELECT count(*) FROM pg_database WHERE datname = '" +
                              name + "'"),
            "0");
}

TEST(PostgresServerTest, PrivateClusterStartsAndCleansUp) {
  absl::StatusOr<std::unique_ptr<PostgresServer>> server =
      PostgresServer::StartPrivate();
  ASSERT_TRUE(server.ok()) << server.status();
  std::string dir = (*server)->directory();
  ASSERT_FALSE(dir.empty());
  EXPECT_EQ(access(dir.c_str(), F_OK), 0);
  EXPECT_EQ(Query((*server)->admin_dsn(), "SELECT 1"), "1");
  std::string dsn = (*server)->admin_dsn();
  (*server)->Stop();
  EXPECT_NE(access(dir.c_str(), F_OK), 0) << dir << " still exists";
  EXPECT_NE(PQping(dsn.c_str()), PQPING_OK);
  (*server)->Stop();  // idempotent
}

TEST(DsnWithDatabaseTest, ReplacesDatabase) {
  absl::StatusOr<std::string> kv =
      DsnWithDatabase("host=127.0.0.1 port=5432 user=trove dbname=postgres", "x");
  ASSERT_TRUE(kv.ok()) << kv.status();
  EXPECT_NE(kv->find("dbname='x'"), std::string::npos) << *kv;
  EXPECT_EQ(kv->find("postgres"), std::string::npos) << *kv;
  EXPECT_NE(kv->find("port='5432'"), std::string::npos) << *kv;

  absl::StatusOr<std::string> uri =
      DsnWithDatabase("postgresql://trove@127.0.0.1:5433/postgres", "y");
  ASSERT_TRUE(uri.ok()) << uri.status();
  EXPECT_NE(uri->find("dbname='y'"), std::string::npos) << *uri;
  EXPECT_NE(uri->find("port='5433'"), std::string::npos) << *uri;

  EXPECT_EQ(DsnWithDatabase("host='unterminated", "z").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace testutil
}  // namespace trove
