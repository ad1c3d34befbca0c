// flood_bench: a well-behaved client's search latency at the index while
// other clients flood it with searches, with the index's flood control at
// its defaults and with it turned off, over the real binary, PostgreSQL and
// TLS.
//
//   bazel run -c opt //bench:flood_bench -- [--flooders=4] [--seconds=10]
//
// For each setting: a fresh index with a catalog of --files files shared by
// one peer; the well-behaved client searches every 50 ms, first alone
// ("idle"), then while --flooders clients (each its own identity) search as
// fast as they can ("flood"). Printed: the client's median and p99 in
// each phase and their ratio, and what the flooders got (answered, slowed,
// cut off).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/server_util.h"
#include "common/tls_credentials.h"
#include "protos/index.grpc.pb.h"
#include "tests/harness/cluster.h"

ABSL_FLAG(int, flooders, 4, "clients flooding the index with searches");
ABSL_FLAG(int, seconds, 10, "length of each phase, seconds");
ABSL_FLAG(int, files, 200, "files in the catalog");

namespace trove {
namespace {

using testutil::Cluster;
using testutil::PeerHandle;

struct Latencies {
  std::vector<double> ms;
  int failed = 0;
  double Quantile(double q) const {
    if (ms.empty()) return 0;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
  }
};

struct FloodCounts {
  std::atomic<int64_t> answered{0}, slowed{0}, cut_off{0}, other{0};
};

std::unique_ptr<index::IndexService::Stub> Client(
    const Cluster& cluster, std::vector<std::shared_ptr<const TlsContext>>* keep) {
  absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
      TlsContext::Ephemeral(cluster.ca_pem());
  if (!tls.ok()) return nullptr;
  keep->push_back(*tls);
  return index::IndexService::NewStub(
      MakeChannel(cluster.index_address(), Expected::Index(), tls->get()));
}

grpc::Status Search(index::IndexService::Stub* stub, const std::string& text) {
  index::SearchRequest request;
  request.mutable_query()->set_text(text);
  index::SearchResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub->Search(&ctx, request, &response);
}

// The well-behaved client: one search every 50 ms for `length`.
Latencies Measure(index::IndexService::Stub* stub, absl::Duration length) {
  Latencies out;
  const absl::Time end = absl::Now() + length;
  for (int i = 0; absl::Now() < end && i < 100000; ++i) {
    const absl::Time t = absl::Now();
    grpc::Status s = Search(stub, i % 2 == 0 ? "flood bench" : "file");
    if (s.ok()) {
      out.ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t));
    } else {
      ++out.failed;
    }
    absl::SleepFor(absl::Milliseconds(50) - (absl::Now() - t));
  }
  return out;
}

absl::Status RunSetting(const std::string& label,
                        const std::vector<std::string>& index_flags) {
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
  if (!c.ok()) return c.status();
  Cluster& cluster = **c;
  if (absl::Status s = cluster.StartIndex(index_flags); !s.ok()) return s;
  if (absl::Status s = cluster.StartSupernode(); !s.ok()) return s;
  absl::StatusOr<PeerHandle*> peer = cluster.StartPeer("sharer");
  if (!peer.ok()) return peer.status();
  const int files = absl::GetFlag(FLAGS_files);
  for (int i = 0; i < files; ++i) {
    absl::Status s = testutil::WriteRandomFile(
        absl::StrCat((*peer)->share_dir, "/flood_bench_file_", i, ".bin"), 1024, i);
    if (!s.ok()) return s;
  }
  std::vector<std::shared_ptr<const TlsContext>> keep;
  auto client = Client(cluster, &keep);
  if (client == nullptr) return absl::InternalError("no client certificate");
  // Wait until the catalog holds the files.
  for (int i = 0; i < 600; ++i) {
    index::SearchRequest request;
    request.mutable_query()->set_text("flood_bench_file");
    request.mutable_query()->set_limit(500);
    index::SearchResponse response;
    grpc::ClientContext ctx;
    if (client->Search(&ctx, request, &response).ok() &&
        response.hits_size() >= files) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  const absl::Duration length = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  Latencies idle = Measure(client.get(), length);

  FloodCounts counts;
  std::atomic<bool> stop{false};
  std::vector<std::thread> flooders;
  for (int f = 0; f < absl::GetFlag(FLAGS_flooders); ++f) {
    auto stub = Client(cluster, &keep);
    if (stub == nullptr) return absl::InternalError("no flooder certificate");
    flooders.emplace_back([stub = std::move(stub), &counts, &stop] {
      for (int64_t i = 0; !stop.load() && i < 100000000; ++i) {
        grpc::Status s = Search(stub.get(), "file");
        if (s.ok()) {
          ++counts.answered;
        } else if (absl::StrContains(s.error_message(), "cut off")) {
          ++counts.cut_off;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++counts.slowed;
        } else {
          ++counts.other;
        }
      }
    });
  }
  absl::SleepFor(absl::Seconds(1));  // the flood under way
  Latencies flood = Measure(client.get(), length);
  stop = true;
  for (std::thread& t : flooders) t.join();

  std::printf(
      "%-22s idle: p50 %.2f ms p99 %.2f ms (%zu searches, %d failed) | "
      "flood: p50 %.2f ms p99 %.2f ms (%zu searches, %d failed) | "
      "p99 flood/idle %.2fx | flooders: %lld answered, %lld slowed, %lld "
      "cut off, %lld other errors\n",
      label.c_str(), idle.Quantile(0.5), idle.Quantile(0.99), idle.ms.size(),
      idle.failed, flood.Quantile(0.5), flood.Quantile(0.99), flood.ms.size(),
      flood.failed,
      idle.Quantile(0.99) > 0 ? flood.Quantile(0.99) / idle.Quantile(0.99) : 0,
      static_cast<long long>(counts.answered.load()),
      static_cast<long long>(counts.slowed.load()),
      static_cast<long long>(counts.cut_off.load()),
      static_cast<long long>(counts.other.load()));
  std::fflush(stdout);
  return absl::OkStatus();
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "A well-behaved client's search latency at the index during a search "
      "flood, with flood control at its defaults and turned off.\n"
      "  bazel run -c opt //bench:flood_bench -- [--flooders=4] [--seconds=10]");
  absl::ParseCommandLine(argc, argv);
  std::printf("flood_bench: %d flooders, %d s phases, %d files\n",
              absl::GetFlag(FLAGS_flooders), absl::GetFlag(FLAGS_seconds),
              absl::GetFlag(FLAGS_files));
  for (const auto& [label, flags] :
       std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"flood control on", {}},
           {"flood control off",
            {"--peer_search_rate=0", "--cut_off_after=0"}}}) {
    absl::Status s = trove::RunSetting(label, flags);
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s\n", label.c_str(), std::string(s.message()).c_str());
      return 1;
    }
  }
  return 0;
}
