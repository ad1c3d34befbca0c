#include "index_server/index_metrics.h"

#include <memory>

#include "common/metrics.h"
#include "index_server/indexed_store.h"

namespace trove {
namespace index_server {

std::unique_ptr<metrics::ScrapeHook> ExportIndexMetrics(IndexedStore* store) {
  return metrics::OnScrape([store] {
    const CatalogFollower* follower = store->follower();
    std::shared_ptr<const MemoryCatalog> catalog = follower->catalog();
    MemoryCatalog::Stats s;
    if (catalog != nullptr) s = catalog->stats();
    metrics::Gauge("trove_index_peers", "Peers with a source in the catalog")
        .Set(static_cast<double>(s.peers));
    metrics::Gauge("trove_index_supernodes",
                   "Supernodes holding sources in the catalog")
        .Set(static_cast<double>(s.supernodes));
    metrics::Gauge("trove_index_files", "Distinct files (cids) with a complete source")
        .Set(static_cast<double>(s.cids));
    metrics::Gauge("trove_index_sources", "Source rows in the catalog",
                   {{"state", "complete"}})
        .Set(static_cast<double>(s.sources));
    metrics::Gauge("trove_index_sources", "Source rows in the catalog",
                   {{"state", "partial"}})
        .Set(static_cast<double>(s.partial_sources));
    metrics::Gauge("trove_index_words", "Distinct words the search index holds")
        .Set(static_cast<double>(s.words));
    metrics::Gauge("trove_index_catalog_ready",
                   "1 once the catalog is loaded and caught up with the change log")
        .Set(follower->ready() ? 1 : 0);
    metrics::Gauge("trove_index_catalog_position",
                   "Position of the last change applied to the in-memory catalog")
        .Set(static_cast<double>(follower->applied()));
    // A gauge: the follower keeps the count, the scrape copies it.
    metrics::Gauge("trove_index_catalog_loads",
                   "Snapshots of the catalog loaded from PostgreSQL")
        .Set(static_cast<double>(follower->stats().loads));
  });
}

}  // namespace index_server
}  // namespace trove
