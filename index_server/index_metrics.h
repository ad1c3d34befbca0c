// The index server's own metrics (beside the per-rpc counts every gRPC
// server exports, see common/metrics.h):
//
//   trove_index_peers, trove_index_supernodes       in the catalog now
//   trove_index_files                               distinct cids with a source
//   trove_index_sources{state="complete|partial"}   source rows
//   trove_index_words                               distinct words searched
//   trove_index_catalog_ready                       1 once loaded and caught up
//   trove_index_catalog_position                    last change applied
//   trove_index_catalog_loads                       snapshots loaded
// and, counted where they happen (indexed_store.cc):
//   trove_index_ingested_sources_total{change="added|removed"}
//                                                   rows PublishDeltas changed
//   trove_index_lease_expiries_total                supernodes whose lease ended
// and by the election (election_runner.h):
//   trove_index_election_{rounds,promotions,demotions,retirements}_total
//   trove_index_election_peers{state}, trove_index_election_supernodes{state}
//
// Searches and locates per second, their latency and errors by code are
// grpc_server_handled_total / grpc_server_handling_seconds for
// trove.index.IndexService/Search and /Locate.
#ifndef TROVE_INDEX_SERVER_INDEX_METRICS_H_
#define TROVE_INDEX_SERVER_INDEX_METRICS_H_

#include <memory>

#include "common/metrics.h"

namespace trove {
namespace index_server {

class IndexedStore;

// Reads the catalog gauges from `store` at each scrape while the returned
// hook lives (destroy it before `store`). The counters are
// counted where the events happen (IndexedStore, the housekeeping thread).
[[nodiscard]] std::unique_ptr<metrics::ScrapeHook> ExportIndexMetrics(
    IndexedStore* store);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_INDEX_METRICS_H_
