#include "common/metrics.h"

#include <atomic>
#include <exception>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/log.h"
#include "common/net_util.h"
#include "common/validation.h"
#include "prometheus/collectable.h"
#include "prometheus/exposer.h"
#include "prometheus/text_serializer.h"

ABSL_FLAG(std::string, metrics_listen, "",
          "serve Prometheus metrics at http://HOST:PORT/metrics (port 0 "
          "picks a free port, logged at start); empty: off");

namespace trove {
namespace metrics {
namespace {

// prometheus-cpp reports a misuse (bad name, a name reused with another
// type) by throwing; this file is the edge where that is caught. A misused
// metric still works but lives in this registry, which nothing exports.
prometheus::Registry& Unexported() {
  static prometheus::Registry* r = new prometheus::Registry();
  return *r;
}

std::atomic<int> misused_serial{0};

template <typename Builder, typename... Args>
auto& GetOrAdd(Builder builder, const std::string& name, const std::string& help,
               const prometheus::Labels& labels, Args&&... args) {
  try {
    return builder.Name(name).Help(help).Register(Registry()).Add(
        labels, std::forward<Args>(args)...);
  } catch (const std::exception& e) {
    TROVE_LOG(ERROR) << "metric " << name << " is misused (" << e.what()
                     << "); it will not be exported";
    // A fresh name each time, so this registration cannot clash.
    return builder.Name(absl::StrCat("misused_metric_", misused_serial++))
        .Help(help)
        .Register(Unexported())
        .Add({}, std::forward<Args>(args)...);
  }
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return "OK";
    case grpc::StatusCode::CANCELLED: return "CANCELLED";
    case grpc::StatusCode::UNKNOWN: return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED: return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL: return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS: return "DATA_LOSS";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

const char* TypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY: return "unary";
    case Type::CLIENT_STREAMING: return "client_stream";
    case Type::SERVER_STREAMING: return "server_stream";
    case Type::BIDI_STREAMING: return "bidi_stream";
  }
  return "unary";
}

// Status codes grpc_server_handled_total counts apart (OK..UNAUTHENTICATED).
constexpr int kStatusCodes = 17;

// The metrics of one method, looked up once per method and kept.
struct MethodMetrics {
  prometheus::Labels labels;
  prometheus::Counter* started;
  prometheus::Histogram* seconds;
  // grpc_server_handled_total by status code, looked up at the first call
  // that ends with it (a look-up in the registry costs more than the call).
  mutable std::atomic<prometheus::Counter*> handled[kStatusCodes] = {};

  prometheus::Counter& Handled(grpc::StatusCode code) const {
    const int c = static_cast<int>(code);
    const int i = c >= 0 && c < kStatusCodes ? c : grpc::StatusCode::UNKNOWN;
    prometheus::Counter* counter = handled[i].load(std::memory_order_acquire);
    if (counter == nullptr) {
      prometheus::Labels with_code = labels;
      with_code["grpc_code"] = CodeName(static_cast<grpc::StatusCode>(i));
      // The registry returns the same counter to racing callers.
      counter = &Counter("grpc_server_handled_total",
                         "RPCs completed on the server, by status code",
                         with_code);
      handled[i].store(counter, std::memory_order_release);
    }
    return *counter;
  }
};

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(const MethodMetrics* m)
      : m_(m), start_(absl::Now()) {
    m_->started->Increment();
  }
  ~MetricsInterceptor() override {
    // A call that ends without sending a status (e.g. the client went away).
    if (!recorded_) Record(grpc::StatusCode::CANCELLED);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (!recorded_ &&
        methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_STATUS)) {
      Record(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Record(grpc::StatusCode code) {
    recorded_ = true;
    m_->seconds->Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    m_->Handled(code).Increment();
  }

  const MethodMetrics* m_;
  absl::Time start_;
  bool recorded_ = false;
};

class MetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(ForMethod(info->method(), info->type()));
  }

 private:
  const MethodMetrics* ForMethod(absl::string_view full,
                                 grpc::experimental::ServerRpcInfo::Type type) {
    std::string key = absl::StrCat(full, " ", static_cast<int>(type));
    {
      absl::ReaderMutexLock lock(&mu_);
      auto it = methods_.find(key);
      if (it != methods_.end()) return it->second.get();
    }
    absl::MutexLock lock(&mu_);
    auto it = methods_.find(key);
    if (it != methods_.end()) return it->second.get();
    // "/trove.index.IndexService/Search" -> service, method
    absl::string_view path = full;
    if (!path.empty() && path[0] == '/') path.remove_prefix(1);
    size_t slash = path.find('/');
    auto m = std::make_unique<MethodMetrics>();
    m->labels = {
        {"grpc_type", TypeName(type)},
        {"grpc_service", std::string(path.substr(0, slash))},
        {"grpc_method", slash == absl::string_view::npos
                            ? std::string()
                            : std::string(path.substr(slash + 1))}};
    m->started = &Counter("grpc_server_started_total",
                          "RPCs started on the server", m->labels);
    m->seconds = &Histogram("grpc_server_handling_seconds",
                            "Time from an RPC's start to its status, seconds",
                            LatencyBuckets(), m->labels);
    const MethodMetrics* out = m.get();
    methods_.emplace(std::move(key), std::move(m));
    return out;
  }

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods_
      ABSL_GUARDED_BY(mu_);
};

// Held while refreshers run, so that a hook's destructor waits for them.
absl::Mutex refresh_mu;
std::map<int, std::function<void()>>* refreshers ABSL_GUARDED_BY(refresh_mu) =
    nullptr;
int next_refresher ABSL_GUARDED_BY(refresh_mu) = 0;

void RunRefreshers() {
  absl::MutexLock lock(&refresh_mu);
  if (refreshers == nullptr) return;
  for (const auto& [id, f] : *refreshers) f();
}

// What the exposer serves: the registry, refreshed first.
class RefreshedRegistry : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    RunRefreshers();
    return Registry().Collect();
  }
};

absl::Mutex exposer_mu;
prometheus::Exposer* exposer ABSL_GUARDED_BY(exposer_mu) = nullptr;

}  // namespace

prometheus::Registry& Registry() {
  static prometheus::Registry* r = [] {
    auto* registry = new prometheus::Registry();
    prometheus::BuildGauge()
        .Name("process_start_time_seconds")
        .Help("Start time of the process since the Unix epoch, seconds")
        .Register(*registry)
        .Add({})
        .Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
    return registry;
  }();
  return *r;
}

prometheus::Counter& Counter(const std::string& name, const std::string& help,
                             const prometheus::Labels& labels) {
  return GetOrAdd(prometheus::BuildCounter(), name, help, labels);
}

prometheus::Gauge& Gauge(const std::string& name, const std::string& help,
                         const prometheus::Labels& labels) {
  return GetOrAdd(prometheus::BuildGauge(), name, help, labels);
}

prometheus::Histogram& Histogram(const std::string& name,
                                 const std::string& help,
                                 const std::vector<double>& buckets,
                                 const prometheus::Labels& labels) {
  return GetOrAdd(prometheus::BuildHistogram(), name, help, labels,
                  prometheus::Histogram::BucketBoundaries(buckets));
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double>* b = new std::vector<double>{
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
      0.25,   0.5,   1,      2.5,   5,    10,   30,    60};
  return *b;
}

std::unique_ptr<ScrapeHook> OnScrape(std::function<void()> refresh) {
  absl::MutexLock lock(&refresh_mu);
  if (refreshers == nullptr) refreshers = new std::map<int, std::function<void()>>();
  const int id = next_refresher++;
  refreshers->emplace(id, std::move(refresh));
  return std::make_unique<ScrapeHook>(id);
}

ScrapeHook::~ScrapeHook() {
  absl::MutexLock lock(&refresh_mu);
  refreshers->erase(id_);
}

std::string Scrape() {
  RunRefreshers();
  return prometheus::TextSerializer().Serialize(Registry().Collect());
}

absl::StatusOr<std::string> StartExposer(const std::string& listen) {
  absl::Status valid = ValidateListenAddress(listen);
  if (!valid.ok() || listen.rfind("unix:", 0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics address must be HOST:PORT: ",
        valid.ok() ? "a unix: socket cannot serve HTTP" : valid.message()));
  }
  absl::MutexLock lock(&exposer_mu);
  if (exposer != nullptr) {
    return absl::FailedPreconditionError("metrics are already being served");
  }
  std::unique_ptr<prometheus::Exposer> e;
  // civetweb, under prometheus-cpp, reports a failure to listen by throwing.
  try {
    e = std::make_unique<prometheus::Exposer>(listen, 2);
  } catch (const std::exception& ex) {
    if (AddressInUse(listen)) {
      return absl::UnavailableError(absl::StrCat(listen, " is already in use"));
    }
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ", listen, ": ", ex.what()));
  }
  std::vector<int> ports = e->GetListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat("cannot serve metrics on ", listen));
  }
  // Lives for the whole process; the exposer only keeps a weak_ptr to it.
  static std::shared_ptr<prometheus::Collectable>* shared =
      new std::shared_ptr<prometheus::Collectable>(
          std::make_shared<RefreshedRegistry>());
  e->RegisterCollectable(*shared);
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host == "0.0.0.0" || host == "[::]" || host.empty()) host = "127.0.0.1";
  exposer = e.release();  // serves until the process exits
  return absl::StrCat(host, ":", ports[0]);
}

absl::StatusOr<std::string> StartMetricsFromFlags() {
  const std::string listen = absl::GetFlag(FLAGS_metrics_listen);
  if (listen.empty()) return std::string();
  absl::StatusOr<std::string> bound = StartExposer(listen);
  if (!bound.ok()) {
    return absl::Status(bound.status().code(),
                        absl::StrCat("--metrics_listen: ", bound.status().message()));
  }
  TROVE_LOG(INFO).With("metrics", *bound)
      << "serving metrics at http://" << *bound << "/metrics";
  return bound;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
ServerMetricsInterceptorFactory() {
  return std::make_unique<MetricsInterceptorFactory>();
}

}  // namespace metrics
}  // namespace trove
