// catalog_apply_bench: the in-memory part of ingest alone, without gRPC or
// PostgreSQL: a MemoryCatalog loaded with a generated catalog applies the
// change-log entries that publishing new leaves' full lists writes (what
// an index replica does after each commit), in batches like
// bench/search_bench's ingest. Prints files/s by wall time and by the
// process's CPU time over all its threads (which leaves out the time the
// machine gave other processes; nothing but the applying runs meanwhile).
//
//   bazel run -c opt //bench:catalog_apply_bench -- --files=1000000 \
//       --ingest_files=1000000
#include <time.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/catalog_gen.h"
#include "common/search/text.h"
#include "index_server/catalog_change.pb.h"
#include "index_server/memory_catalog.h"

ABSL_FLAG(int64_t, files, 1000000, "files in the catalog loaded first");
ABSL_FLAG(int64_t, peers, 100000, "peers sharing them");
ABSL_FLAG(int64_t, sources, 2500000, "about this many sources");
ABSL_FLAG(int64_t, ingest_files, 1000000, "files applied afterwards");
ABSL_FLAG(int64_t, ingest_leaves, 10000, "new leaves holding them");
ABSL_FLAG(int, ingest_supernodes, 8, "supernodes forwarding those leaves");
ABSL_FLAG(int, batch_files, 25000, "most files per change-log entry");
ABSL_FLAG(uint64_t, seed, 1, "seed");
ABSL_FLAG(int, apply_slice, 2000,
          "source changes between two chances for searches to run "
          "(MemoryCatalog::Options::apply_slice)");

namespace trove {
namespace bench {
namespace {

double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

std::string Raw(const std::string& hex) {
  std::string raw;
  search::HexToRaw(hex, &raw);
  return raw;
}

int Main() {
  CatalogOptions co;
  co.files = absl::GetFlag(FLAGS_files);
  co.peers = absl::GetFlag(FLAGS_peers);
  co.sources = absl::GetFlag(FLAGS_sources);
  co.seed = absl::GetFlag(FLAGS_seed);
  CatalogGenerator gen(co);
  Catalog c = gen.Generate();
  Catalog fresh = gen.GenerateNewLeaves(absl::GetFlag(FLAGS_ingest_files),
                                        absl::GetFlag(FLAGS_ingest_leaves),
                                        absl::GetFlag(FLAGS_ingest_supernodes));
  index_server::MemoryCatalog::Options mo;
  mo.apply_slice = absl::GetFlag(FLAGS_apply_slice);
  index_server::MemoryCatalog m(mo);
  m.BeginLoad();
  for (const GenSource& s : c.sources) {
    const GenFile& f = c.files[s.file];
    const GenPeer& p = c.peers[s.peer];
    m.LoadSource(Raw(f.cid), Raw(p.id), Raw(c.supernodes[p.supernode]), s.name,
                 f.size, p.address, false, absl::UnixEpoch());
  }
  m.EndLoad();
  std::printf("loaded %zu sources of %zu files\n", m.stats().sources,
              m.stats().cids);

  // Each supernode's leaves as full lists, in entries of up to
  // --batch_files files, as PgIndexStore::ApplyDeltas logs them.
  std::vector<std::vector<uint32_t>> files_of(fresh.peers.size());
  for (const GenSource& s : fresh.sources) files_of[s.peer].push_back(s.file);
  std::vector<index_server::CatalogChange> changes;
  const int max_files = absl::GetFlag(FLAGS_batch_files);
  for (int sn = 0; sn < static_cast<int>(fresh.supernodes.size()); ++sn) {
    index_server::AppliedBatch* b = nullptr;
    int in_batch = 0;
    for (size_t p = 0; p < fresh.peers.size(); ++p) {
      if (fresh.peers[p].supernode != sn) continue;
      if (b == nullptr ||
          in_batch + files_of[p].size() > static_cast<size_t>(max_files)) {
        changes.emplace_back();
        b = changes.back().mutable_batch();
        b->set_supernode_id(Raw(fresh.supernodes[sn]));
        in_batch = 0;
      }
      const std::string peer = Raw(fresh.peers[p].id);
      b->add_replace_peers(peer);
      b->add_moved_peers(peer);
      b->add_moved_addresses(fresh.peers[p].address);
      index_server::PeerFiles* pf = b->add_stored();
      pf->set_peer_id(peer);
      pf->set_known_since_ms(absl::ToUnixMillis(absl::Now()));
      for (uint32_t f : files_of[p]) {
        pf->mutable_cids()->append(Raw(fresh.files[f].cid));
        pf->add_names(fresh.files[f].name);
        pf->add_sizes(fresh.files[f].size);
        pf->add_partial(false);
      }
      in_batch += static_cast<int>(files_of[p].size());
    }
  }
  const absl::Time t = absl::Now();
  const double cpu0 = ProcessCpuSeconds();
  for (size_t i = 0; i < changes.size(); ++i) {
    m.Apply(changes[i]);
    if ((i + 1) % 10 == 0) {
      std::fprintf(stderr, "applied %zu of %zu entries\n", i + 1,
                   changes.size());
    }
  }
  const double wall = absl::ToDoubleSeconds(absl::Now() - t);
  const double cpu = ProcessCpuSeconds() - cpu0;
  const double n = static_cast<double>(fresh.sources.size());
  std::printf(
      "applied %zu entries, %.0f files: %.2f s wall, %.2f s CPU; %.0f files/s "
      "by wall time, %.0f files/s by CPU time; catalog now %zu files\n",
      changes.size(), n, wall, cpu, n / wall, n / cpu, m.stats().cids);
  return m.stats().cids >= c.files.size() ? 0 : 1;
}

}  // namespace
}  // namespace bench
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The in-memory part of ingest alone: a MemoryCatalog loaded with a "
      "generated catalog applies the change-log entries of new leaves' full "
      "lists; files/s by wall and by CPU time.");
  absl::ParseCommandLine(argc, argv);
  return trove::bench::Main();
}
