#include "common/server_util.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <signal.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/file_util.h"
#include "common/metrics.h"
#include "common/net_util.h"
#include "grpc/health/v1/health.pb.h"

namespace trove {
namespace {

constexpr int kMaxMessageBytes = 64 << 20;

absl::Mutex default_tls_mu(absl::kConstInit);
std::shared_ptr<const TlsContext>* default_tls
    ABSL_GUARDED_BY(default_tls_mu) = nullptr;

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

}  // namespace

void SetDefaultTls(std::shared_ptr<const TlsContext> tls) {
  absl::MutexLock lock(&default_tls_mu);
  if (default_tls == nullptr) {
    default_tls = new std::shared_ptr<const TlsContext>();
  }
  *default_tls = std::move(tls);
}

std::shared_ptr<const TlsContext> DefaultTls() {
  absl::MutexLock lock(&default_tls_mu);
  if (default_tls == nullptr || *default_tls == nullptr) {
    return TlsContext::Insecure();
  }
  return *default_tls;
}

std::shared_ptr<grpc::ServerCredentials> DefaultServerCredentials() {
  return DefaultTls()->ServerCredentials();
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const Expected& expected,
                                           const TlsContext* tls,
                                           int connection) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Channels whose arguments differ never share a subchannel (connection).
  if (connection != 0) args.SetInt("trove.connection", connection);
  if (tls != nullptr) return tls->MakeChannel(address, expected, args);
  return DefaultTls()->MakeChannel(address, expected, args);
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address) {
  return MakeChannel(address, Expected::AnyServer());
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
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(metrics::ServerMetricsInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
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
