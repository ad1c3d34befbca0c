// What every Trove server binary does the same way: pick credentials, listen
// (port 0 picks a free port), report the bound address, and stop cleanly on
// SIGINT or SIGTERM.
#ifndef TROVE_COMMON_SERVER_UTIL_H_
#define TROVE_COMMON_SERVER_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace trove {

// Server credentials: TLS when --tls_cert and --tls_key are set (with client
// certificates checked against --tls_ca when set), plaintext otherwise.
std::shared_ptr<grpc::ServerCredentials> ServerCredentialsFromFlags();

// Channel credentials to match: TLS trusting --tls_ca when --tls_ca is set,
// plaintext otherwise.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsFromFlags();

// A channel to `address` with the flags' credentials and Trove's message
// size limits.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  // host:port actually bound (the chosen port when the flag said 0).
  std::string address;
};

// Registers `services` and listens on `listen` ("127.0.0.1:0" picks a free
// port; "unix:PATH" a Unix socket). UNAVAILABLE when the address cannot be
// bound.
absl::StatusOr<RunningServer> StartServer(
    const std::string& listen, const std::vector<grpc::Service*>& services,
    std::shared_ptr<grpc::ServerCredentials> credentials);

// Writes `address` and a newline to `path` atomically (no-op for an empty
// path), so that scripts and tests can find a server that picked its port.
absl::Status WriteReadyFile(const std::string& path, const std::string& address);

// Blocks SIGINT and SIGTERM in the calling thread (call first thing in main,
// before any thread starts, so all threads inherit the mask).
void BlockShutdownSignals();

// Waits until SIGINT or SIGTERM arrives; returns the signal number.
// REQUIRES: BlockShutdownSignals() was called.
int WaitForShutdownSignal();

}  // namespace trove

#endif  // TROVE_COMMON_SERVER_UTIL_H_
