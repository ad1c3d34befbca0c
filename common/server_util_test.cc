#include "common/server_util.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/ops_probe.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::trove::testing::HealthStatus;
using ::trove::testing::ReflectedServices;

constexpr char kPeerService[] = "trove.peer.PeerService";

class ServerUtilTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {&service_}, grpc::InsecureServerCredentials(), options);
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }
  void TearDown() override {
    if (server_.server) server_.server->Shutdown();
  }
  peer::PeerService::Service service_;  // every method UNIMPLEMENTED
  RunningServer server_;
};

TEST_F(ServerUtilTest, HealthIsServingOnceStartedAndCanBeTurnedOff) {
  Start();
  EXPECT_THAT(server_.services, Contains(kPeerService));
  EXPECT_EQ(HealthStatus(server_.address, ""), "SERVING");
  EXPECT_EQ(HealthStatus(server_.address, kPeerService), "SERVING");
  EXPECT_THAT(HealthStatus(server_.address, "no.such.Service"),
              ::testing::StartsWith(absl::StrCat("error ", grpc::StatusCode::NOT_FOUND)));

  SetServing(server_, false);
  EXPECT_EQ(HealthStatus(server_.address, ""), "NOT_SERVING");
  EXPECT_EQ(HealthStatus(server_.address, kPeerService), "NOT_SERVING");
  SetServing(server_, true);
  EXPECT_EQ(HealthStatus(server_.address, kPeerService), "SERVING");
}

TEST_F(ServerUtilTest, CanStartNotServing) {
  ServerOptions options;
  options.serving = false;
  Start(options);
  EXPECT_EQ(HealthStatus(server_.address, ""), "NOT_SERVING");
  EXPECT_EQ(HealthStatus(server_.address, kPeerService), "NOT_SERVING");
}

TEST_F(ServerUtilTest, ReflectionListsAndDescribesEveryService) {
  Start();
  std::vector<std::string> undescribed;
  std::vector<std::string> names = ReflectedServices(server_.address, &undescribed);
  EXPECT_THAT(names, Contains(kPeerService));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(names, Contains("grpc.reflection.v1alpha.ServerReflection"));
  EXPECT_THAT(undescribed, IsEmpty());
}

TEST_F(ServerUtilTest, SecondServerOnAUsedPortFailsClearly) {
  Start();
  peer::PeerService::Service other;
  absl::StatusOr<RunningServer> second = StartServer(
      server_.address, {&other}, grpc::InsecureServerCredentials());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(second.status().message(),
            absl::StrCat(server_.address, " is already in use"));
  // The first server still answers.
  EXPECT_EQ(HealthStatus(server_.address, ""), "SERVING");
}

TEST(StartServerTest, PortHeldByAnotherProgramIsInUse) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string listen = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  peer::PeerService::Service service;
  absl::StatusOr<RunningServer> s =
      StartServer(listen, {&service}, grpc::InsecureServerCredentials());
  ::close(fd);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(), listen + " is already in use");
}

TEST(StartServerTest, UnusableAddressIsNotCalledInUse) {
  peer::PeerService::Service service;
  absl::StatusOr<RunningServer> s = StartServer(
      "unix:/nonexistent-trove-dir/x.sock", {&service}, grpc::InsecureServerCredentials());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr("could not listen on unix:/nonexistent-trove-dir/x.sock"));
}

}  // namespace
}  // namespace trove
