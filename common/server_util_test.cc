#include "common/server_util.h"

#include <google/protobuf/descriptor.pb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "protos/peer.grpc.pb.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace trove {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::grpc::reflection::v1alpha::ServerReflection;
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kPeerService[] = "trove.peer.PeerService";

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// The health status the server reports for `service`, or the call's error.
std::string Health(const std::string& address, const std::string& service) {
  auto stub = Health::NewStub(MakeChannel(address));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::Status s = stub->Check(Context().get(), request, &response);
  if (!s.ok()) return absl::StrCat("error ", s.error_code());
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

// Sends one reflection request and returns the answer.
ServerReflectionResponse Reflect(const std::string& address,
                                 const ServerReflectionRequest& request) {
  auto stub = ServerReflection::NewStub(MakeChannel(address));
  auto ctx = Context();
  auto stream = stub->ServerReflectionInfo(ctx.get());
  ServerReflectionResponse response;
  EXPECT_TRUE(stream->Write(request));
  stream->WritesDone();
  EXPECT_TRUE(stream->Read(&response));
  EXPECT_TRUE(stream->Finish().ok());
  return response;
}

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
  EXPECT_EQ(Health(server_.address, ""), "SERVING");
  EXPECT_EQ(Health(server_.address, kPeerService), "SERVING");
  EXPECT_EQ(Health(server_.address, "no.such.Service"),
            absl::StrCat("error ", grpc::StatusCode::NOT_FOUND));

  SetServing(server_, false);
  EXPECT_EQ(Health(server_.address, ""), "NOT_SERVING");
  EXPECT_EQ(Health(server_.address, kPeerService), "NOT_SERVING");
  SetServing(server_, true);
  EXPECT_EQ(Health(server_.address, kPeerService), "SERVING");
}

TEST_F(ServerUtilTest, CanStartNotServing) {
  ServerOptions options;
  options.serving = false;
  Start(options);
  EXPECT_EQ(Health(server_.address, ""), "NOT_SERVING");
  EXPECT_EQ(Health(server_.address, kPeerService), "NOT_SERVING");
}

TEST_F(ServerUtilTest, ReflectionListsAndDescribesEveryService) {
  Start();
  ServerReflectionRequest list;
  list.set_list_services("*");
  ServerReflectionResponse listed = Reflect(server_.address, list);
  std::vector<std::string> names;
  for (const auto& s : listed.list_services_response().service()) {
    names.push_back(s.name());
  }
  EXPECT_THAT(names, Contains(kPeerService));
  EXPECT_THAT(names, Contains("grpc.health.v1.Health"));
  EXPECT_THAT(names, Contains("grpc.reflection.v1alpha.ServerReflection"));

  for (const std::string& symbol : {std::string("grpc.health.v1.Health"),
                                    std::string(kPeerService)}) {
    ServerReflectionRequest describe;
    describe.set_file_containing_symbol(symbol);
    ServerReflectionResponse described = Reflect(server_.address, describe);
    ASSERT_TRUE(described.has_file_descriptor_response())
        << symbol << ": " << described.error_response().error_message();
    bool found = false;
    for (const std::string& bytes :
         described.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      ASSERT_TRUE(file.ParseFromString(bytes));
      for (const auto& service : file.service()) {
        found = found || absl::StrCat(file.package(), ".", service.name()) == symbol;
      }
    }
    EXPECT_TRUE(found) << symbol;
  }
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
  EXPECT_EQ(Health(server_.address, ""), "SERVING");
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
