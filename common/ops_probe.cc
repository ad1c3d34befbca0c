#include "common/ops_probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <google/protobuf/descriptor.pb.h>

#include <chrono>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/server_util.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace trove {
namespace testing {
namespace {

using ::grpc::reflection::v1alpha::ServerReflection;
using ::grpc::reflection::v1alpha::ServerReflectionRequest;
using ::grpc::reflection::v1alpha::ServerReflectionResponse;

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
}

// One request on a fresh reflection stream; an empty response on failure.
ServerReflectionResponse Reflect(const std::string& address,
                                 const ServerReflectionRequest& request) {
  auto stub = ServerReflection::NewStub(MakeChannel(address));
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = stub->ServerReflectionInfo(&ctx);
  ServerReflectionResponse response;
  if (!stream->Write(request) || !stream->WritesDone() ||
      !stream->Read(&response)) {
    response.Clear();
  }
  stream->Finish();
  return response;
}

std::string Promtool() {
  for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "promtool";
}

}  // namespace

std::string HealthStatus(const std::string& address, const std::string& service) {
  using ::grpc::health::v1::HealthCheckResponse;
  auto stub = grpc::health::v1::Health::NewStub(MakeChannel(address));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  grpc::Status s = stub->Check(&ctx, request, &response);
  if (!s.ok()) return absl::StrCat("error ", s.error_code(), ": ", s.error_message());
  return HealthCheckResponse::ServingStatus_Name(response.status());
}

std::vector<std::string> ReflectedServices(const std::string& address,
                                           std::vector<std::string>* undescribed) {
  ServerReflectionRequest list;
  list.set_list_services("*");
  const ServerReflectionResponse listed = Reflect(address, list);
  std::vector<std::string> names;
  for (const auto& s : listed.list_services_response().service()) {
    names.push_back(s.name());
    ServerReflectionRequest describe;
    describe.set_file_containing_symbol(s.name());
    const ServerReflectionResponse described = Reflect(address, describe);
    bool found = false;
    for (const std::string& bytes :
         described.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto file;
      if (!file.ParseFromString(bytes)) continue;
      for (const auto& service : file.service()) {
        found = found || absl::StrCat(file.package(), ".", service.name()) == s.name();
      }
    }
    if (!found && undescribed != nullptr) undescribed->push_back(s.name());
  }
  return names;
}

std::string PromtoolProblems(const std::string& text) {
  char path[] = "/tmp/trove-promtool-input.XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return "cannot make a temporary file";
  ::close(fd);
  std::ofstream(path) << text;
  const std::string cmd =
      absl::StrCat(Promtool(), " check metrics < ", path, " 2>&1");
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while (p != nullptr && (n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = p != nullptr ? ::pclose(p) : -1;
  ::unlink(path);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  return absl::StrCat("promtool exit status ", status, ": ", out);
}

}  // namespace testing
}  // namespace trove
