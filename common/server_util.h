// What every Trove server binary does the same way: credentials from the
// process's TLS context, listen
// (port 0 picks a free port), report the bound address, and stop cleanly on
// SIGINT or SIGTERM. Every server started here also serves:
//   - gRPC health checking (grpc.health.v1.Health): SERVING once started,
//     for the whole server ("") and for each of its services by name;
//     SetServing() changes it (e.g. NOT_SERVING while loading);
//   - server reflection (grpc.reflection.v1alpha.ServerReflection), which
//     can also describe the health service;
// and refuses to share a port: a second server on a port in use fails to
// start ("127.0.0.1:7401 is already in use") instead of splitting the
// connections with the first (gRPC's SO_REUSEPORT is turned off).
#ifndef TROVE_COMMON_SERVER_UTIL_H_
#define TROVE_COMMON_SERVER_UTIL_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/tls_credentials.h"

namespace trove {

// The TLS context of this process: what DefaultServerCredentials and
// MakeChannel use. Plaintext (TlsContext::Insecure()) until a binary sets
// it at start. Thread-safe.
void SetDefaultTls(std::shared_ptr<const TlsContext> tls);
std::shared_ptr<const TlsContext> DefaultTls();

// DefaultTls()->ServerCredentials().
std::shared_ptr<grpc::ServerCredentials> DefaultServerCredentials();

// A channel to `address` with Trove's message size limits, accepting only
// `expected` at the other end, with `tls` (null: DefaultTls()). "unix:"
// addresses are plaintext. Channels to the same address made with
// different `connection` numbers never share a connection (e.g. to spread
// a bulk transfer's TLS work over more than one thread at each end).
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           const Expected& expected,
                                           const TlsContext* tls = nullptr,
                                           int connection = 0);

// MakeChannel(address, Expected::AnyServer()): for probes and tests, where
// who answers does not matter.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address);

struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  // host:port actually bound (the chosen port when the flag said 0).
  std::string address;
  // Full names of the services served ("trove.index.IndexService", and the
  // health and reflection services).
  std::vector<std::string> services;
};

struct ServerOptions {
  // Health status once started; false starts NOT_SERVING (until
  // SetServing(..., true)), e.g. for a server that still loads its data.
  bool serving = true;
};

// Registers `services` and listens on `listen` ("127.0.0.1:0" picks a free
// port; "unix:PATH" a Unix socket). UNAVAILABLE when the address cannot be
// bound: "HOST:PORT is already in use" when another socket holds it.
absl::StatusOr<RunningServer> StartServer(
    const std::string& listen, const std::vector<grpc::Service*>& services,
    std::shared_ptr<grpc::ServerCredentials> credentials,
    const ServerOptions& options = {});

// Sets the health status of `server` as a whole and of each of its
// services: SERVING when `serving`, else NOT_SERVING. Thread-safe.
void SetServing(const RunningServer& server, bool serving);

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
