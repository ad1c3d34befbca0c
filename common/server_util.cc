#include "common/server_util.h"

#include <signal.h>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"

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
    std::shared_ptr<grpc::ServerCredentials> credentials) {
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(listen, credentials, &port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  for (grpc::Service* s : services) builder.RegisterService(s);
  RunningServer out;
  out.server = builder.BuildAndStart();
  if (out.server == nullptr) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", listen));
  }
  if (absl::StartsWith(listen, "unix:")) {
    out.address = listen;
    return out;
  }
  if (port == 0) {
    return absl::UnavailableError(absl::StrCat("could not listen on ", listen));
  }
  size_t colon = listen.rfind(':');
  std::string host = listen.substr(0, colon);
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = "127.0.0.1";
  out.address = absl::StrCat(host, ":", port);
  return out;
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
