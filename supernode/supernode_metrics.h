// A supernode's own metrics (beside the per-rpc counts every gRPC server
// exports, see common/metrics.h; searches per second and their latency are
// grpc_server_handled_total / grpc_server_handling_seconds for
// trove.supernode.SupernodeService/Search):
//
//   trove_supernode_leaves                     leaves joined now
//   trove_supernode_files                      entries their lists hold
//   trove_supernode_index_registered           1 while it holds a lease
//   trove_supernode_pending_entries            changes queued for the index
//   trove_supernode_pending_peers              leaves with queued changes
//   trove_supernode_batches_sent_total         PublishDeltas batches the index took
//   trove_supernode_deltas_sent_total          leaf changes in them
//   trove_supernode_publish_failures_total     batches that failed (retried)
//   trove_supernode_deltas_rejected_total      changes the index refused
//   trove_supernode_registrations_total        registrations with the index
//   trove_supernode_resyncs_total              full resends after the index lost it
#ifndef TROVE_SUPERNODE_SUPERNODE_METRICS_H_
#define TROVE_SUPERNODE_SUPERNODE_METRICS_H_

#include <memory>

#include "common/metrics.h"
#include "supernode/supernode.h"

namespace trove {
namespace supernode {

// Reads the metrics above from `supernode` at each scrape while the
// returned hook lives (destroy it before `supernode`).
[[nodiscard]] std::unique_ptr<metrics::ScrapeHook> ExportSupernodeMetrics(
    Supernode* supernode);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_SUPERNODE_METRICS_H_
