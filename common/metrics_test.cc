#include "common/metrics.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/ops_probe.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The value of the sample line starting with `series` in `text`, or -1.
double Sample(const std::string& text, const std::string& series) {
  size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

TEST(MetricsTest, SameNameAndLabelsGiveTheSameMetric) {
  prometheus::Counter& a = Counter("test_things_total", "Things", {{"kind", "x"}});
  prometheus::Counter& b = Counter("test_things_total", "Things", {{"kind", "x"}});
  prometheus::Counter& c = Counter("test_things_total", "Things", {{"kind", "y"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &c);
  a.Increment(2);
  b.Increment();
  Gauge("test_queue_length", "Queue").Set(7);
  Histogram("test_latency_seconds", "Latency", LatencyBuckets()).Observe(0.003);
  std::string text = Scrape();
  EXPECT_EQ(Sample(text, "test_things_total{kind=\"x\"}"), 3);
  EXPECT_EQ(Sample(text, "test_things_total{kind=\"y\"}"), 0);
  EXPECT_EQ(Sample(text, "test_queue_length"), 7);
  EXPECT_EQ(Sample(text, "test_latency_seconds_bucket{le=\"0.0025\"}"), 0);
  EXPECT_EQ(Sample(text, "test_latency_seconds_bucket{le=\"0.005\"}"), 1);
  EXPECT_GT(Sample(text, "process_start_time_seconds"), 1.7e9);
}

TEST(MetricsTest, MisuseIsLoggedNotThrownAndNotExported) {
  Counter("test_misused_total", "first a counter").Increment();
  prometheus::Gauge& g = Gauge("test_misused_total", "then a gauge");
  g.Set(5);  // usable, but not exported
  prometheus::Counter& bad = Counter("bad name!", "not a name");
  bad.Increment();
  std::string text = Scrape();
  EXPECT_EQ(Sample(text, "test_misused_total"), 1);
  EXPECT_THAT(text, Not(HasSubstr("bad name!")));
  EXPECT_THAT(text, Not(HasSubstr("misused_metric_")));
}

TEST(MetricsTest, GrpcCallsAreCountedByMethodAndCode) {
  peer::PeerService::Service unimplemented;
  absl::StatusOr<RunningServer> server = StartServer(
      "127.0.0.1:0", {&unimplemented}, grpc::InsecureServerCredentials());
  ASSERT_TRUE(server.ok()) << server.status();
  const std::string labels =
      "grpc_method=\"GetManifest\",grpc_service=\"trove.peer.PeerService\","
      "grpc_type=\"unary\"";
  auto stub = peer::PeerService::NewStub(MakeChannel(server->address));
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    peer::GetManifestRequest req;
    peer::Manifest resp;
    EXPECT_EQ(stub->GetManifest(&ctx, req, &resp).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  std::string text = Scrape();
  EXPECT_EQ(Sample(text, "grpc_server_started_total{" + labels + "}"), 3) << text;
  EXPECT_EQ(Sample(text, "grpc_server_handled_total{grpc_code=\"UNIMPLEMENTED\"," +
                             labels + "}"),
            3)
      << text;
  EXPECT_EQ(Sample(text, "grpc_server_handling_seconds_count{" + labels + "}"), 3)
      << text;
  server->server->Shutdown();
}

TEST(MetricsTest, ExposerServesTextThatPromtoolAccepts) {
  // A port someone else holds is refused with a clear message, and the
  // exposer can still be started afterwards.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const std::string used = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  absl::StatusOr<std::string> refused = StartExposer(used);
  ::close(fd);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr(used + " is already in use"));
  EXPECT_EQ(StartExposer("nonsense").status().code(),
            absl::StatusCode::kInvalidArgument);

  absl::StatusOr<std::string> bound = StartExposer("127.0.0.1:0");
  ASSERT_TRUE(bound.ok()) << bound.status();
  EXPECT_THAT(*bound, ::testing::MatchesRegex(R"(127\.0\.0\.1:[1-9][0-9]*)"));
  EXPECT_EQ(StartExposer("127.0.0.1:0").status().code(),
            absl::StatusCode::kFailedPrecondition);

  Counter("test_exposed_total", "Exposed", {{"name", "quote\" back\\slash"}})
      .Increment(4);
  // A gauge read from live state at each scrape.
  std::atomic<int> live{0};
  std::unique_ptr<ScrapeHook> hook =
      OnScrape([&] { Gauge("test_live_items", "Items now").Set(live.load()); });
  const int port = std::stoi(bound->substr(bound->rfind(':') + 1));
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Sample(res->body, "test_exposed_total{name=\"quote\\\" back\\\\slash\"}"),
            4)
      << res->body;
  EXPECT_EQ(testing::PromtoolProblems(res->body), "") << res->body;
  EXPECT_EQ(Sample(res->body, "test_live_items"), 0) << res->body;
  live = 7;
  httplib::Result again = client.Get("/metrics");
  ASSERT_TRUE(again);
  EXPECT_EQ(Sample(again->body, "test_live_items"), 7) << again->body;
  live = 9;
  EXPECT_EQ(Sample(Scrape(), "test_live_items"), 9);
  std::unique_ptr<ScrapeHook> other = OnScrape([] {});  // more than one
  live = 0;
  EXPECT_EQ(Sample(Scrape(), "test_live_items"), 0);
  // Once the hook is gone the gauge keeps its last value.
  hook.reset();
  live = 5;
  EXPECT_EQ(Sample(Scrape(), "test_live_items"), 0);
}

}  // namespace
}  // namespace metrics
}  // namespace trove
