#include "index_server/election_runner.h"

#include "absl/strings/str_join.h"
#include "common/log.h"
#include "common/metrics.h"

namespace trove {
namespace index_server {
namespace {

std::string Short(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (const std::string& id : ids) out.push_back(id.substr(0, 12) + "...");
  return absl::StrJoin(out, ", ");
}

constexpr char kRoundsHelp[] = "Election rounds this replica ran";
constexpr char kPromotionsHelp[] = "Peers promoted to supernode";
constexpr char kDemotionsHelp[] = "Promoted supernodes demoted for low load";
constexpr char kRetirementsHelp[] =
    "Promoted keys revoked: drained, or never came up";

}  // namespace

ElectionRunner::ElectionRunner(ElectionStore* store, ElectionParams params,
                               absl::Duration interval)
    : store_(store), params_(params), interval_(interval) {
  // Every series exists from the start, at zero.
  metrics::Counter("trove_index_election_rounds_total", kRoundsHelp);
  metrics::Counter("trove_index_election_promotions_total", kPromotionsHelp);
  metrics::Counter("trove_index_election_demotions_total", kDemotionsHelp);
  metrics::Counter("trove_index_election_retirements_total",
                   kRetirementsHelp);
}

ElectionRunner::~ElectionRunner() { Stop(); }

absl::StatusOr<ElectionRound> ElectionRunner::RunOnce() {
  const ElectionParams params = params_;
  absl::StatusOr<ElectionRound> round = store_->RunElectionRound(
      [&params](const ElectionInput& in) { return Elect(in, params); },
      params.report_ttl * 10);
  if (!round.ok() || !round->ran) return round;
  const ElectionDecision& d = round->decision;
  metrics::Counter("trove_index_election_rounds_total", kRoundsHelp).Increment();
  metrics::Counter("trove_index_election_promotions_total", kPromotionsHelp)
      .Increment(d.promote.size());
  metrics::Counter("trove_index_election_demotions_total", kDemotionsHelp)
      .Increment(d.demote.size());
  metrics::Counter("trove_index_election_retirements_total", kRetirementsHelp)
      .Increment(d.retire.size());
  const char* peers_help = "Peers in the last election round";
  metrics::Gauge("trove_index_election_peers", peers_help,
                 {{"state", "reporting"}})
      .Set(d.live_peers);
  metrics::Gauge("trove_index_election_peers", peers_help,
                 {{"state", "eligible"}})
      .Set(d.eligible_peers);
  const char* sn_help = "Supernodes in the last election round";
  metrics::Gauge("trove_index_election_supernodes", sn_help,
                 {{"state", "serving"}})
      .Set(d.serving);
  metrics::Gauge("trove_index_election_supernodes", sn_help,
                 {{"state", "wanted"}})
      .Set(d.wanted);
  if (!d.promote.empty() || !d.demote.empty() || !d.retire.empty()) {
    TROVE_LOG(INFO) << "election: " << d.live_peers << " peers ("
                    << d.eligible_peers << " eligible), " << d.serving
                    << " supernodes serving, " << d.wanted << " wanted"
                    << (d.promote.empty() ? "" : "; promoted ")
                    << Short(d.promote)
                    << (d.demote.empty() ? "" : "; demoted ")
                    << Short(d.demote)
                    << (d.retire.empty() ? "" : "; retired ")
                    << Short(d.retire);
  }
  return round;
}

void ElectionRunner::Start() {
  thread_ = std::thread([this] {
    while (!stop_.WaitForNotificationWithTimeout(interval_)) {
      absl::StatusOr<ElectionRound> round = RunOnce();
      if (!round.ok()) {
        TROVE_LOG(WARNING) << "election round failed: " << round.status();
      }
    }
  });
}

void ElectionRunner::Stop() {
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

}  // namespace index_server
}  // namespace trove
