#include "common/server_util.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <netdb.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "grpc/health/v1/health.pb.h"

ABSL_FLAG(std::string, tls_cert, "",
          "PEM certificate chain of this server; with --tls_key turns on TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificates to trust for the other side; with it, "
          "outgoing connections use TLS");

namespace trove {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;

std::string ReadOrEmpty(const std::string& path) {
  if (path.empty()) return "";
  absl::StatusOr<std::string> data = ReadFile(path);
  return data.ok() ? *data : "";
}

// Collects the names of the services a server serves, once it is built
// (ServerInitializer is how builder plugins such as reflection see them).
class ServiceListPlugin : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceListPlugin(std::vector<std::string>* out) : out_(out) {}
  std::string name() override { return "trove_service_list"; }
  void InitServer(grpc::ServerInitializer*) override {}
  void Finish(grpc::ServerInitializer* si) override {
    *out_ = *si->GetServiceList();
  }
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::vector<std::string>* out_;
};

class ServiceListOption : public grpc::ServerBuilderOption {
 public:
  explicit ServiceListOption(std::vector<std::string>* out) : out_(out) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(
      std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ServiceListPlugin>(out_));
  }

 private:
  std::vector<std::string>* out_;
};

// True when `listen` (host:port, port not 0) cannot be bound because another
// socket holds it. Asked after gRPC failed to listen, to say why.
bool AddressInUse(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return false;
  std::string host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (port.empty() || port == "0") return false;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints,
                    &found) != 0) {
    return false;
  }
  bool in_use = false;
  for (addrinfo* a = found; a != nullptr && !in_use; a = a->ai_next) {
    int fd = ::socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRINUSE) {
      in_use = true;
    }
    ::close(fd);
  }
  ::freeaddrinfo(found);
  return in_use;
}

}  // namespace

std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFromFlags() {
  std::string cert = absl::GetFlag(FLAGS_tls_cert);
  std::string key = absl::GetFlag(FLAGS_tls_key);
  if (cert.empty() || key.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({ReadOrEmpty(key), ReadOrEmpty(cert)});
  options.pem_root_certs = ReadOrEmpty(absl::GetFlag(FLAGS_tls_ca));
  return grpc::SslServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFromFlags() {
  std::string ca = absl::GetFlag(FLAGS_tls_ca);
  if (ca.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadOrEmpty(ca);
  options.pem_cert_chain = ReadOrEmpty(absl::GetFlag(FLAGS_tls_cert));
  options.pem_private_key = ReadOrEmpty(absl::GetFlag(FLAGS_tls_key));
  return grpc::SslCredentials(options);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  std::shared_ptr<grpc::ChannelCredentials> creds =
      absl::StartsWith(address, "unix:") ? grpc::InsecureChannelCredentials()
                                         : ChannelCredentialsFromFlags();
  return grpc::CreateCustomChannel(address, creds, args);
}

absl::StatusOr<RunningServer> StartServer(
    const std::string& listen, const std::vector<grpc::Service*>& services,
    std::shared_ptr<grpc::ServerCredentials> credentials,
    const ServerOptions& options) {
  // Both take effect for builders made after the call.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // Reflection describes what the protobuf pool holds: link and load the
  // health service's descriptors so that it can describe that service too.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();

  RunningServer out;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.SetOption(std::make_unique<ServiceListOption>(&out.services));
  for (grpc::Service* s : services) builder.RegisterService(s);
  out.server = builder.BuildAndStart();
  if (out.server == nullptr || (port == 0 && !absl::StartsWith(listen, "unix:"))) {
    if (out.server != nullptr) out.server->Shutdown();
    if (AddressInUse(listen)) {
      return absl::UnavailableError(absl::StrCat(listen, " is already in use"));
    }
    return absl::UnavailableError(absl::StrCat("could not listen on ", listen));
  }
  SetServing(out, options.serving);
  if (absl::StartsWith(listen, "unix:")) {
    out.address = listen;
    return out;
  }
  size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = "127.0.0.1";
  out.address = absl::StrCat(host, ":", port);
  return out;
}

void SetServing(const RunningServer& server, bool serving) {
  grpc::HealthCheckServiceInterface* health =
      server.server->GetHealthCheckService();
  if (health == nullptr) return;
  for (const std::string& name : server.services) {
    health->SetServingStatus(name, serving);
  }
  health->SetServingStatus(serving);
}

absl::Status WriteReadyFile(const std::string& path,
                            const std::string& address) {
  if (path.empty()) return absl::OkStatus();
  return WriteFileAtomic(path, absl::StrCat(address, "\n"));
}

void BlockShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int WaitForShutdownSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  return sig;
}

}  // namespace trove
