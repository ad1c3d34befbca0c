// Prometheus metrics for every role (prometheus-cpp).
//
// One registry per process. Code anywhere adds its own metrics by name:
//
//   metrics::Counter("trove_searches_total", "Searches answered").Increment();
//   metrics::Gauge("trove_leaves", "Leaves joined now").Set(n);
//   metrics::Counter("trove_bytes_total", "Bytes moved", {{"direction", "up"}})
//       .Increment(bytes);
//   metrics::Histogram("trove_publish_seconds", "Publish latency",
//                      metrics::LatencyBuckets()).Observe(seconds);
//
// Asking again with the same name and labels returns the same metric, so a
// caller may keep the reference (it lives as long as the process) or look it
// up each time. Every gRPC server started with StartServer (common/
// server_util.h) counts its calls through ServerMetricsInterceptorFactory():
//
//   grpc_server_started_total{grpc_type,grpc_service,grpc_method}
//   grpc_server_handled_total{grpc_type,grpc_service,grpc_method,grpc_code}
//   grpc_server_handling_seconds{grpc_type,grpc_service,grpc_method} (histogram)
//
// StartMetricsFromFlags() serves them all at http://--metrics_listen/metrics
// in Prometheus' text format. All functions are thread-safe.
#ifndef TROVE_COMMON_METRICS_H_
#define TROVE_COMMON_METRICS_H_

#include <grpcpp/support/server_interceptor.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"

namespace trove {
namespace metrics {

// The process's registry (made on first use; never destroyed).
prometheus::Registry& Registry();

// The metric `name` with `labels`, made on first use. `name` must be a valid
// Prometheus name ([a-zA-Z_:][a-zA-Z0-9_:]*, counters ending in _total) and
// always used with the same type; a misuse is logged and the metric returned
// is then not exported.
prometheus::Counter& Counter(const std::string& name, const std::string& help,
                             const prometheus::Labels& labels = {});
prometheus::Gauge& Gauge(const std::string& name, const std::string& help,
                         const prometheus::Labels& labels = {});
// `buckets`: upper bounds, increasing. The same name must always come with
// the same buckets.
prometheus::Histogram& Histogram(const std::string& name,
                                 const std::string& help,
                                 const std::vector<double>& buckets,
                                 const prometheus::Labels& labels = {});

// Seconds from 0.5 ms to 60 s, for call latencies.
const std::vector<double>& LatencyBuckets();

// Runs `refresh` before each scrape (of the exposer or Scrape()) for as
// long as the returned hook lives, so that gauges read from live state
// (catalog sizes, queue lengths) are current without a polling thread.
// `refresh` sets metrics through the functions above; it must be cheap.
// Destroying the hook waits for a refresh in progress, so `refresh` may
// use objects that outlive the hook.
class ScrapeHook {
 public:
  explicit ScrapeHook(int id) : id_(id) {}
  ~ScrapeHook();
  ScrapeHook(const ScrapeHook&) = delete;
  ScrapeHook& operator=(const ScrapeHook&) = delete;

 private:
  const int id_;
};
[[nodiscard]] std::unique_ptr<ScrapeHook> OnScrape(std::function<void()> refresh);

// The registry in Prometheus' text exposition format.
std::string Scrape();

// Serves Registry() at http://LISTEN/metrics (HOST:PORT; port 0 picks a free
// port). Returns the bound HOST:PORT. One exposer per process: a second
// call returns FAILED_PRECONDITION. INVALID_ARGUMENT for a malformed
// address; UNAVAILABLE when it cannot be bound ("... is already in use").
absl::StatusOr<std::string> StartExposer(const std::string& listen);

// StartExposer(--metrics_listen) and logs where it serves; "" (and nothing
// started) when the flag is empty.
absl::StatusOr<std::string> StartMetricsFromFlags();

// Counts the calls of a gRPC server as described at the top of this file.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetricsInterceptorFactory();

}  // namespace metrics
}  // namespace trove

#endif  // TROVE_COMMON_METRICS_H_
