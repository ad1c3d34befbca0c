#include "supernode/supernode_metrics.h"

#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"

namespace trove {
namespace supernode {
namespace {

// A counter that follows a count kept elsewhere (it only grows).
class FollowedCounter {
 public:
  FollowedCounter(const std::string& name, const std::string& help)
      : counter_(metrics::Counter(name, help)) {}
  void Follow(int64_t now) {
    absl::MutexLock lock(&mu_);
    if (now > last_) counter_.Increment(static_cast<double>(now - last_));
    last_ = now;
  }

 private:
  prometheus::Counter& counter_;
  absl::Mutex mu_;
  int64_t last_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

std::unique_ptr<metrics::ScrapeHook> ExportSupernodeMetrics(Supernode* supernode) {
  struct Counters {
    FollowedCounter batches{"trove_supernode_batches_sent_total",
                            "PublishDeltas batches the index accepted"};
    FollowedCounter deltas{"trove_supernode_deltas_sent_total",
                           "Leaf changes sent to the index"};
    FollowedCounter failures{"trove_supernode_publish_failures_total",
                             "Batches that failed and will be retried"};
    FollowedCounter rejected{"trove_supernode_deltas_rejected_total",
                             "Leaf changes the index refused"};
    FollowedCounter registrations{"trove_supernode_registrations_total",
                                  "Registrations with the index"};
    FollowedCounter resyncs{"trove_supernode_resyncs_total",
                            "Full resends after the index lost this supernode"};
  };
  auto counters = std::make_shared<Counters>();
  return metrics::OnScrape([supernode, counters] {
    LeafRegistry* registry = supernode->registry();
    IndexForwarder* forwarder = supernode->forwarder();
    metrics::Gauge("trove_supernode_leaves", "Leaves joined now")
        .Set(registry->leaf_count());
    metrics::Gauge("trove_supernode_files", "Entries the leaves' lists hold")
        .Set(static_cast<double>(registry->file_count()));
    metrics::Gauge("trove_supernode_index_registered",
                   "1 while this supernode holds a lease at the index")
        .Set(forwarder->registered() ? 1 : 0);
    metrics::Gauge("trove_supernode_pending_entries",
                   "Changes queued for the index")
        .Set(static_cast<double>(forwarder->pending_entries()));
    metrics::Gauge("trove_supernode_pending_peers", "Leaves with queued changes")
        .Set(static_cast<double>(forwarder->pending_peers()));
    const SourceReports::Totals reports =
        supernode->service()->source_report_totals();
    metrics::Gauge("trove_supernode_bad_source_reports",
                   "Bad-source reports from leaves that count now")
        .Set(static_cast<double>(reports.reports));
    metrics::Gauge("trove_supernode_reported_sources",
                   "(source, file) pairs whose weighted bad-source reports "
                   "rank them last in, or leave them out of, look-ups",
                   {{"standing", "last"}})
        .Set(static_cast<double>(reports.ranked_last));
    metrics::Gauge("trove_supernode_reported_sources",
                   "(source, file) pairs whose weighted bad-source reports "
                   "rank them last in, or leave them out of, look-ups",
                   {{"standing", "left_out"}})
        .Set(static_cast<double>(reports.left_out));
    IndexForwarder::Stats s = forwarder->stats();
    counters->batches.Follow(s.batches_sent);
    counters->deltas.Follow(s.deltas_sent);
    counters->failures.Follow(s.publish_failures);
    counters->rejected.Follow(s.deltas_rejected);
    counters->registrations.Follow(s.registrations);
    counters->resyncs.Follow(s.resyncs);
  });
}

}  // namespace supernode
}  // namespace trove
