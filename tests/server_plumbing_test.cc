// What every server role does the same way, checked on the real binaries:
// gRPC health and reflection, refusing a port that is already in use, and
// start-up checks that fail fast (a bad --listen before any migration, a
// malformed PostgreSQL connection string without retrying).

#include <libpq-fe.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/ops_probe.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster_fixture.h"
#include "tests/testing/postgres.h"

namespace trove {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::trove::testing::HealthStatus;
using ::trove::testing::ReflectedServices;
using testutil::Cluster;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;

class ServerPlumbingTest : public testutil::ClusterTest {};

TEST_F(ServerPlumbingTest, EveryRoleServesHealthAndReflection) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  absl::StatusOr<PeerHandle*> peer = cluster_->StartPeer("a");
  ASSERT_TRUE(peer.ok()) << peer.status();

  struct Role {
    std::string address, service;
  };
  for (const Role& r : {Role{cluster_->index_address(), "trove.index.IndexService"},
                        Role{cluster_->supernode_address(),
                             "trove.supernode.SupernodeService"},
                        Role{(*peer)->address, "trove.peer.PeerService"}}) {
    EXPECT_EQ(HealthStatus(r.address, ""), "SERVING") << r.address;
    EXPECT_EQ(HealthStatus(r.address, r.service), "SERVING") << r.address;
    std::vector<std::string> undescribed;
    std::vector<std::string> services = ReflectedServices(r.address, &undescribed);
    EXPECT_THAT(undescribed, IsEmpty()) << r.address;
    EXPECT_THAT(services, Contains(r.service));
    EXPECT_THAT(services, Contains("grpc.health.v1.Health"));
    EXPECT_THAT(services, Contains("grpc.reflection.v1alpha.ServerReflection"));
  }
}

TEST_F(ServerPlumbingTest, SecondServerOnAUsedPortExitsWithAClearMessage) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  absl::StatusOr<PeerHandle*> peer = cluster_->StartPeer("a");
  ASSERT_TRUE(peer.ok()) << peer.status();
  const std::string work = cluster_->work_dir();

  std::vector<std::pair<std::string, std::vector<std::string>>> seconds = {
      {cluster_->supernode_address(),
       {RunfilePath("supernode/supernode"), "--index=" + cluster_->index_address(),
        "--listen=" + cluster_->supernode_address(),
        "--state_dir=" + work + "/sn2-state", "--insecure"}},
      {(*peer)->address,
       {RunfilePath("peer_client/peer_client"), "daemon",
        "--supernode=" + cluster_->supernode_address(),
        "--share=" + (*peer)->share_dir, "--state=" + work + "/b-state",
        "--listen=" + (*peer)->address, "--insecure"}},
  };
  for (const auto& [address, argv] : seconds) {
    CommandResult r = RunCommand(argv, absl::Seconds(60));
    EXPECT_NE(r.exit_code, 0) << argv[0] << " started on a used port";
    EXPECT_THAT(r.err, HasSubstr(address + " is already in use")) << argv[0];
  }
  // The first servers are untouched.
  EXPECT_EQ(HealthStatus(cluster_->supernode_address(), ""), "SERVING");
  EXPECT_EQ(HealthStatus((*peer)->address, ""), "SERVING");
}

TEST(IndexStartupTest, UsedPortAndBadListenFailBeforeMigrations) {
  absl::StatusOr<std::unique_ptr<testutil::TestDatabase>> db =
      testutil::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  const std::string index = RunfilePath("index_server/index_server");

  CommandResult r = RunCommand(
      {index, "--postgres=" + (*db)->dsn(), "--listen=notanaddress"},
      absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--listen: address must be host:port"));

  // Nothing was written to the database.
  PGconn* conn = PQconnectdb((*db)->dsn().c_str());
  ASSERT_EQ(PQstatus(conn), CONNECTION_OK) << PQerrorMessage(conn);
  PGresult* res = PQexec(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'");
  ASSERT_EQ(PQresultStatus(res), PGRES_TUPLES_OK) << PQerrorMessage(conn);
  EXPECT_STREQ(PQgetvalue(res, 0, 0), "0");
  PQclear(res);
  PQfinish(conn);

  // A second index on the port of a running one fails with a clear message.
  const std::string ready = absl::StrCat("/tmp/trove-plumbing-", getpid(), ".ready");
  absl::StatusOr<std::unique_ptr<testutil::ChildProcess>> first =
      testutil::ChildProcess::Start(
          {index, "--postgres=" + (*db)->dsn(), "--listen=127.0.0.1:0",
           "--ready_file=" + ready, "--insecure"},
          "/dev/null");
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::string> address =
      testutil::WaitForReadyFile(ready, absl::Seconds(60));
  ::unlink(ready.c_str());
  ASSERT_TRUE(address.ok()) << address.status();
  r = RunCommand({index, "--postgres=" + (*db)->dsn(), "--listen=" + *address,
                  "--insecure"},
                 absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(*address + " is already in use"));
  EXPECT_EQ(HealthStatus(*address, ""), "SERVING");
  (*first)->Stop();
}

TEST(IndexStartupTest, MalformedDsnFailsAtOnce) {
  const absl::Time start = absl::Now();
  CommandResult r = RunCommand(
      {RunfilePath("index_server/index_server"),
       "--postgres=host=127.0.0.1 port=1 this is not a dsn", "--listen=127.0.0.1:0",
       "--db_connect_timeout_seconds=60"},
      absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--postgres is not a valid connection string"));
  // Well under the 60 s a connection error would be retried for.
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));

  r = RunCommand({RunfilePath("index_server/index_server"),
                  "--postgres=postgresql://[::1", "--listen=127.0.0.1:0"},
                 absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--postgres is not a valid connection string"));
}

}  // namespace
}  // namespace trove
