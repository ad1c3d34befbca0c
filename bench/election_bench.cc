// election_bench: the election measured over the real binaries, PostgreSQL
// and TLS: a crowd of peers given only the community link arrives, the
// index promotes as many supernodes as the target asks for; then most
// leaves go, and it demotes with hysteresis, without flapping.
//
//   bazel run -c opt //bench:election_bench -- [--peers=12] [--target=3]
//       [--remain=4]
//
// The index runs with short intervals so that a run takes about two
// minutes (rounds every second, reports every 2 s, promotion after 5 s of
// uptime, tenure 30 s, drain 5 s; printed). No standalone supernode: every
// supernode is an elected peer. It prints:
// - rise: time from the first peer started (and from the last one ready)
//   until the index had promoted, and until it saw serving, the wanted
//   max(ceil(peers / target), 2) supernodes; the rounds that took;
// - hold: promotions and demotions over 15 s more with the same peers
//   (none expected);
// - fall: leaves (peers not serving) stop until --remain peers are left;
//   the demotions, promotions and retirements over the following 60 s and
//   the supernodes serving at the end.
// Counts come from the index's own metrics (trove_index_election_*).
#include <cmath>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster.h"

ABSL_FLAG(int, peers, 12, "peers arriving");
ABSL_FLAG(int, target, 3, "--target_leaves_per_supernode");
ABSL_FLAG(int, remain, 4, "peers left after the fall");

namespace trove {
namespace {

using testutil::Cluster;
using testutil::PeerHandle;

std::string Scrape(const std::string& address) {
  const size_t colon = address.rfind(':');
  httplib::Client client(address.substr(0, colon),
                         std::stoi(address.substr(colon + 1)));
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Result res = client.Get("/metrics");
  if (!res || res->status != 200) return "";
  return res->body;
}

// The sample of `name` whose line contains `label` ("" : unlabelled), or -1.
double Metric(const std::string& text, const std::string& name,
              const std::string& label = "") {
  size_t pos = 0;
  const std::string start = "\n" + name + (label.empty() ? " " : "{");
  while ((pos = text.find(start, pos)) != std::string::npos) {
    const size_t end = text.find('\n', pos + 1);
    const std::string line = text.substr(pos + 1, end - pos - 1);
    pos = end;
    if (label.empty() || line.find(label) != std::string::npos) {
      return std::stod(line.substr(line.rfind(' ') + 1));
    }
  }
  return -1;
}

struct Election {
  double rounds = 0, promotions = 0, demotions = 0, retirements = 0;
  double serving = 0, wanted = 0, reporting = 0;
};

Election Read(const std::string& metrics) {
  const std::string t = Scrape(metrics);
  Election e;
  e.rounds = Metric(t, "trove_index_election_rounds_total");
  e.promotions = Metric(t, "trove_index_election_promotions_total");
  e.demotions = Metric(t, "trove_index_election_demotions_total");
  e.retirements = Metric(t, "trove_index_election_retirements_total");
  e.serving = Metric(t, "trove_index_election_supernodes", "state=\"serving\"");
  e.wanted = Metric(t, "trove_index_election_supernodes", "state=\"wanted\"");
  e.reporting = Metric(t, "trove_index_election_peers", "state=\"reporting\"");
  return e;
}

std::string Role(Cluster& cluster, const PeerHandle& peer) {
  testutil::CommandResult r =
      cluster.Cli(peer, {"status", "--json"}, absl::Seconds(20));
  nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_object() ? j.value("role", "") : "";
}

int Main() {
  const int n = absl::GetFlag(FLAGS_peers);
  const int target = absl::GetFlag(FLAGS_target);
  const int remain = absl::GetFlag(FLAGS_remain);
  if (n <= 0 || target <= 0 || remain < 0 || remain > n) {
    std::cerr << "election_bench: give positive --peers and --target, and "
                 "--remain between 0 and --peers\n";
    return 2;
  }
  const int wanted = std::max(2, (n + target - 1) / target);
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
  if (!c.ok()) {
    std::cerr << c.status() << "\n";
    return 1;
  }
  Cluster& cluster = **c;
  const std::vector<std::string> index_flags = {
      "--metrics_listen=127.0.0.1:0",
      absl::StrCat("--target_leaves_per_supernode=", target),
      "--min_supernodes=2",
      "--election_interval_ms=1000",
      "--report_every_seconds=2",
      "--election_bootstrap_min_uptime_seconds=1",
      "--election_min_uptime_seconds=5",
      "--election_min_tenure_seconds=30",
      "--election_drain_seconds=5",
      "--lease_seconds=10",
      "--renew_every_seconds=2"};
  if (absl::Status s = cluster.StartIndex(index_flags); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  std::smatch m;
  const std::string log = testutil::Slurp(cluster.index()->log_path());
  static const std::regex re(R"(metrics=(127\.0\.0\.1:[0-9]+))");
  if (!std::regex_search(log, m, re)) {
    std::cerr << "no metrics address in the index's log\n";
    return 1;
  }
  const std::string metrics = m[1].str();
  std::cout << "election_bench: " << n << " peers, target " << target
            << " leaves per supernode (wanted " << wanted
            << " supernodes), then " << remain << " peers; index flags:";
  for (const std::string& f : index_flags) std::cout << " " << f;
  std::cout << std::endl;

  // Rise.
  const Election before = Read(metrics);
  const absl::Time first = absl::Now();
  std::vector<PeerHandle*> peers;
  for (int i = 0; i < n; ++i) {
    absl::StatusOr<PeerHandle*> p = cluster.StartPeerWithLink(
        absl::StrCat("p", i),
        {"--max_backoff_ms=1000", "--first_publish_wait_ms=100"});
    if (!p.ok()) {
      std::cerr << p.status() << "\n";
      return 1;
    }
    peers.push_back(*p);
  }
  const absl::Time all_ready = absl::Now();
  absl::Time promoted_at = absl::InfiniteFuture(), serving_at = absl::InfiniteFuture();
  Election e;
  while (absl::Now() - first < absl::Seconds(180)) {
    e = Read(metrics);
    if (promoted_at == absl::InfiniteFuture() &&
        e.promotions - before.promotions >= wanted) {
      promoted_at = absl::Now();
    }
    if (e.serving >= wanted) {
      serving_at = absl::Now();
      break;
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  if (serving_at == absl::InfiniteFuture()) {
    std::cerr << "the index never had " << wanted << " supernodes serving ("
              << e.serving << ")\n";
    return 1;
  }
  const Election risen = e;
  const auto secs = [](absl::Duration d) { return absl::ToDoubleSeconds(d); };
  std::cout << absl::StrFormat(
      "rise: %d peers started in %.1f s; %d promotions by %.1f s after the "
      "first start (%.1f s after the last was ready), %.0f serving at %.1f s "
      "(%.1f s); %.0f rounds, %.0f promotions, %.0f demotions\n",
      n, secs(all_ready - first), wanted, secs(promoted_at - first),
      secs(promoted_at - all_ready), risen.serving, secs(serving_at - first),
      secs(serving_at - all_ready), risen.rounds - before.rounds,
      risen.promotions - before.promotions, risen.demotions - before.demotions);

  // Hold.
  absl::SleepFor(absl::Seconds(15));
  const Election held = Read(metrics);
  std::cout << absl::StrFormat(
      "hold: 15 s with the same %d peers: %.0f promotions, %.0f demotions, "
      "%.0f serving\n",
      n, held.promotions - risen.promotions, held.demotions - risen.demotions,
      held.serving);

  // Fall: leaves go (a supernode's own peer stays), down to --remain peers.
  int stopped = 0;
  for (PeerHandle* p : peers) {
    if (n - stopped <= remain) break;
    if (Role(cluster, *p) != "leaf") continue;
    p->process->Stop(absl::Seconds(10));
    ++stopped;
  }
  const absl::Time fall = absl::Now();
  Election fallen = held;
  absl::Time first_demotion = absl::InfiniteFuture();
  while (absl::Now() - fall < absl::Seconds(60)) {
    absl::SleepFor(absl::Milliseconds(500));
    fallen = Read(metrics);
    if (first_demotion == absl::InfiniteFuture() &&
        fallen.demotions > held.demotions) {
      first_demotion = absl::Now();
    }
  }
  std::cout << absl::StrFormat(
      "fall: %d leaves stopped, %d peers left (%.0f reporting); over 60 s: "
      "%.0f demotions (first %.1f s after the fall), %.0f retirements, %.0f "
      "promotions; %.0f serving, %.0f wanted at the end\n",
      stopped, n - stopped, fallen.reporting,
      fallen.demotions - held.demotions,
      first_demotion == absl::InfiniteFuture() ? -1.0
                                               : secs(first_demotion - fall),
      fallen.retirements - held.retirements,
      fallen.promotions - held.promotions, fallen.serving, fallen.wanted);
  std::cout << absl::StrFormat(
      "whole run: %.0f rounds, %.0f promotions, %.0f demotions\n",
      fallen.rounds - before.rounds, fallen.promotions - before.promotions,
      fallen.demotions - before.demotions);
  return 0;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "election_bench: time to elect the wanted supernodes as a crowd of "
      "peers arrives, and the demotions when most leave.\n"
      "  bazel run -c opt //bench:election_bench -- [--peers=12] [--target=3] "
      "[--remain=4]");
  absl::ParseCommandLine(argc, argv);
  return trove::Main();
}
