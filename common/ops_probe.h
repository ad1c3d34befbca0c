// For tests: look at a running server from outside, as operators' tools
// do: a gRPC health check, server reflection, and promtool's check of a
// metrics page. Thread-compatible; each call opens its own channel.
#ifndef TROVE_COMMON_OPS_PROBE_H_
#define TROVE_COMMON_OPS_PROBE_H_

#include <string>
#include <vector>

namespace trove {
namespace testing {

// The health status `address` reports for `service` ("" for the whole
// server): "SERVING", "NOT_SERVING"..., or "error CODE: MESSAGE".
std::string HealthStatus(const std::string& address, const std::string& service);

// The services server reflection lists at `address`. Each is also asked
// for its file descriptor; those whose descriptor does not come back or does
// not declare the service are put in `*undescribed` when it is not null.
std::vector<std::string> ReflectedServices(
    const std::string& address, std::vector<std::string>* undescribed = nullptr);

// Runs `promtool check metrics` on `text`: "" when it passes, else its exit
// status and complaint. tools/deps installs promtool.
std::string PromtoolProblems(const std::string& text);

}  // namespace testing
}  // namespace trove

#endif  // TROVE_COMMON_OPS_PROBE_H_
