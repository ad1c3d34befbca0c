#include "index_server/memory_catalog.h"

#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/search/query.h"
#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

std::string Id(char kind, int n) {
  std::string id(32, kind);
  id[31] = static_cast<char>(n);
  return id;
}

void Store(AppliedBatch* b, int peer, int cid, const std::string& name,
           int64_t size, bool partial = false,
           absl::Time known_since = absl::UnixEpoch()) {
  PeerFiles* pf = b->add_stored();
  pf->set_peer_id(Id('p', peer));
  pf->set_known_since_ms(absl::ToUnixMillis(known_since));
  pf->set_cids(Id('c', cid));
  pf->add_names(name);
  pf->add_sizes(size);
  pf->add_partial(partial);
}

CatalogChange Batch(int sn) {
  CatalogChange c;
  c.mutable_batch()->set_supernode_id(Id('s', sn));
  return c;
}

std::vector<SearchHit> Find(const MemoryCatalog& m, const std::string& text) {
  SearchQuery q;
  q.set_text(text);
  absl::StatusOr<search::SearchPage> page =
      m.Search(*search::ParseQuery(q, 50, 50), absl::InfiniteFuture());
  EXPECT_TRUE(page.ok());
  return page.ok() ? page->hits : std::vector<SearchHit>();
}

TEST(MemoryCatalogTest, AppliesStoredSourcesAndRemovals) {
  MemoryCatalog m;
  CatalogChange c = Batch(1);
  Store(c.mutable_batch(), 1, 1, "Song One.mp3", 100);
  Store(c.mutable_batch(), 2, 1, "song one.mp3", 100);
  Store(c.mutable_batch(), 2, 2, "Other.mp3", 7);
  m.Apply(c);
  std::vector<SearchHit> hits = Find(m, "song");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source_count(), 2);
  EXPECT_EQ(m.stats().sources, 3u);

  CatalogChange r = Batch(1);
  PeerFiles* removed = r.mutable_batch()->add_removed();
  removed->set_peer_id(Id('p', 2));
  removed->set_cids(Id('c', 1) + Id('c', 2));
  m.Apply(r);
  hits = Find(m, "song");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source_count(), 1);
  EXPECT_TRUE(Find(m, "other").empty());
  // cid 2 went with its last source.
  EXPECT_EQ(m.stats().other_files, 0u);
  EXPECT_EQ(m.stats().cids, 1u);
}

TEST(MemoryCatalogTest, GoneOnlyDropsWhatThatSupernodeHolds) {
  MemoryCatalog m;
  CatalogChange a = Batch(1);
  Store(a.mutable_batch(), 1, 1, "first.txt", 1);
  m.Apply(a);
  // The peer moves to supernode 2 with a new file: all its sources move.
  CatalogChange b = Batch(2);
  b.mutable_batch()->add_moved_peers(Id('p', 1));
  Store(b.mutable_batch(), 1, 2, "second.txt", 1);
  m.Apply(b);
  // Supernode 1 says it left: it holds nothing of the peer any more.
  CatalogChange gone = Batch(1);
  gone.mutable_batch()->add_gone_peers(Id('p', 1));
  m.Apply(gone);
  EXPECT_EQ(Find(m, "first").size(), 1u);
  EXPECT_EQ(Find(m, "second").size(), 1u);
  CatalogChange dropped;
  dropped.mutable_dropped_supernodes()->add_supernode_ids(Id('s', 2));
  m.Apply(dropped);
  EXPECT_TRUE(Find(m, "first").empty());
  EXPECT_EQ(m.stats().sources, 0u);
  EXPECT_EQ(m.stats().peers, 0u);
}

TEST(MemoryCatalogTest, FullListKeepsOnlyWhatItNames) {
  MemoryCatalog m;
  CatalogChange a = Batch(1);
  Store(a.mutable_batch(), 1, 1, "keep.txt", 1);
  Store(a.mutable_batch(), 1, 2, "drop.txt", 1);
  m.Apply(a);
  CatalogChange full = Batch(1);
  full.mutable_batch()->add_replace_peers(Id('p', 1));
  Store(full.mutable_batch(), 1, 1, "keep.txt", 1);
  Store(full.mutable_batch(), 1, 3, "new.txt", 1, /*partial=*/true);
  m.Apply(full);
  EXPECT_EQ(Find(m, "keep").size(), 1u);
  EXPECT_TRUE(Find(m, "drop").empty());
  EXPECT_TRUE(Find(m, "new").empty());  // partial sources are not searched
  EXPECT_EQ(m.stats().other_files, 1u);  // cid 3 (partial); cid 2 went
  EXPECT_EQ(m.stats().partial_sources, 1u);
}

TEST(MemoryCatalogTest, LocateLeavesOutOnlyTheSourcesOfEndedLeases) {
  MemoryCatalog m;
  CatalogChange a = Batch(1);
  Store(a.mutable_batch(), 1, 1, "movie.mkv", 500);
  Store(a.mutable_batch(), 3, 1, "movie.mkv", 500, /*partial=*/true);
  m.Apply(a);
  CatalogChange b = Batch(2);
  Store(b.mutable_batch(), 2, 1, "movie.mkv", 500);
  Store(b.mutable_batch(), 4, 1, "movie.mkv", 500, /*partial=*/true);
  m.Apply(b);
  const std::string cid = search::RawToHex(Id('c', 1));
  ASSERT_EQ(m.Locate(cid, 10, {})->sources_size(), 4);
  // Supernode 2's lease ended: peers 2 and 4 came through it.
  absl::StatusOr<index::LocateResponse> r = m.Locate(cid, 10, {Id('s', 2)});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->sources_size(), 2);
  EXPECT_EQ(r->sources(0).peer_id(), search::RawToHex(Id('p', 1)));
  EXPECT_FALSE(r->sources(0).partial());
  EXPECT_EQ(r->sources(1).peer_id(), search::RawToHex(Id('p', 3)));
  EXPECT_TRUE(r->sources(1).partial());
  // A lease that ended elsewhere changes nothing here.
  EXPECT_EQ(m.Locate(cid, 10, {Id('s', 9)})->sources_size(), 4);
}

TEST(MemoryCatalogTest, LocateListsCompleteThenPartialSources) {
  MemoryCatalog m;
  CatalogChange a = Batch(1);
  a.mutable_batch()->add_moved_peers(Id('p', 1));
  a.mutable_batch()->add_moved_addresses("10.0.0.1:7000");
  a.mutable_batch()->add_moved_peers(Id('p', 2));
  a.mutable_batch()->add_moved_addresses("10.0.0.2:7000");
  Store(a.mutable_batch(), 2, 1, "movie.mkv", 500, /*partial=*/true);
  Store(a.mutable_batch(), 1, 1, "movie.mkv", 500);
  m.Apply(a);
  const std::string cid = search::RawToHex(Id('c', 1));
  absl::StatusOr<index::LocateResponse> r = m.Locate(cid, 10, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 500);
  EXPECT_EQ(r->name(), "movie.mkv");
  ASSERT_EQ(r->sources_size(), 2);
  EXPECT_EQ(r->sources(0).peer_id(), search::RawToHex(Id('p', 1)));
  EXPECT_EQ(r->sources(0).address(), "10.0.0.1:7000");
  EXPECT_FALSE(r->sources(0).partial());
  EXPECT_TRUE(r->sources(1).partial());
  EXPECT_EQ(m.Locate(cid, 1, {})->sources_size(), 1);
  // A supernode whose lease ended: its sources are left out.
  absl::flat_hash_set<std::string> dead = {Id('s', 1)};
  EXPECT_EQ(m.Locate(cid, 10, dead).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(m.Locate(search::RawToHex(Id('c', 9)), 10, {}).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(MemoryCatalogTest, SizeIsTheFirstAnnouncedUntilTheRowIsCollected) {
  MemoryCatalog m;
  CatalogChange a = Batch(1);
  Store(a.mutable_batch(), 1, 1, "x.bin", 10, /*partial=*/true);
  Store(a.mutable_batch(), 2, 1, "x.bin", 99);
  m.Apply(a);
  ASSERT_EQ(Find(m, "x").size(), 1u);
  EXPECT_EQ(Find(m, "x")[0].size(), 10);
  CatalogChange gone = Batch(1);
  gone.mutable_batch()->add_gone_peers(Id('p', 1));
  gone.mutable_batch()->add_gone_peers(Id('p', 2));
  m.Apply(gone);
  CatalogChange collected;
  collected.mutable_dropped_files()->set_cids(Id('c', 1));
  m.Apply(collected);
  CatalogChange again = Batch(1);
  Store(again.mutable_batch(), 3, 1, "x.bin", 99);
  m.Apply(again);
  EXPECT_EQ(Find(m, "x")[0].size(), 99);
}

TEST(MemoryCatalogTest, LoadedEqualsReplayed) {
  MemoryCatalog replayed;
  CatalogChange a = Batch(1);
  for (int i = 0; i < 50; ++i) {
    Store(a.mutable_batch(), i % 7, i, absl::StrCat("file ", i % 9, ".txt"), i);
  }
  replayed.Apply(a);
  MemoryCatalog loaded;
  loaded.BeginLoad();
  for (int i = 0; i < 50; ++i) {
    loaded.LoadSource(Id('c', i), Id('p', i % 7), Id('s', 1),
                      absl::StrCat("file ", i % 9, ".txt"), i, "", false,
                      absl::UnixEpoch());
  }
  loaded.EndLoad();
  EXPECT_EQ(replayed.Digest(), loaded.Digest());
  MemoryCatalog other;
  other.LoadSource(Id('c', 1), Id('p', 1), Id('s', 1), "file 1.txt", 1, "",
                   false, absl::UnixEpoch());
  EXPECT_NE(replayed.Digest(), other.Digest());
}

TEST(MemoryCatalogTest, KnownSinceIsPartOfWhatIsHeld) {
  MemoryCatalog a, b;
  const absl::Time t = absl::FromUnixSeconds(1700000000);
  a.LoadSource(Id('c', 1), Id('p', 1), Id('s', 1), "f.txt", 1, "", false, t);
  b.LoadSource(Id('c', 1), Id('p', 1), Id('s', 1), "f.txt", 1, "", false,
               t + absl::Milliseconds(1));
  EXPECT_NE(a.Digest(), b.Digest());
  MemoryCatalog c;
  CatalogChange batch = Batch(1);
  Store(batch.mutable_batch(), 1, 1, "f.txt", 1, false, t);
  c.Apply(batch);
  EXPECT_EQ(a.Digest(), c.Digest());
}

// Sources of `names` (by peer) for cid 1; each peer known since the time
// given.
CatalogChange Announce(
    const std::vector<std::tuple<int, std::string, absl::Time>>& sources) {
  CatalogChange c = Batch(1);
  for (const auto& [peer, name, since] : sources) {
    Store(c.mutable_batch(), peer, 1, name, 700, false, since);
  }
  return c;
}

std::string ShownName(const MemoryCatalog& m, const std::string& text) {
  std::vector<SearchHit> hits = Find(m, text);
  if (hits.size() != 1) return absl::StrCat(hits.size(), " hits");
  return hits[0].name();
}

// Peers established after an hour by `clock`.
MemoryCatalog::Options AgeingOptions(FakeClock* clock) {
  MemoryCatalog::Options options;
  options.establish_after = absl::Hours(1);
  options.clock = clock;
  return options;
}

TEST(MemoryCatalogTest, NewcomersCannotRenameAnEstablishedSourcesFile) {
  FakeClock clock;
  MemoryCatalog m(AgeingOptions(&clock));
  const absl::Time now = clock.Now();
  m.Apply(Announce({{1, "moonlight.iso", now - absl::Hours(30)},
                    {2, "zz_trojan_setup_moonlight.exe", now},
                    {3, "zz_trojan_setup_moonlight.exe", now},
                    {4, "zz_trojan_setup_moonlight.exe", now}}));
  EXPECT_EQ(ShownName(m, "moonlight"), "moonlight.iso");
  // The other name still finds the file, which shows its established name.
  EXPECT_EQ(ShownName(m, "trojan"), "moonlight.iso");
  EXPECT_EQ(Find(m, "trojan")[0].source_count(), 4);
  EXPECT_EQ(m.Locate(search::RawToHex(Id('c', 1)), 10, {})->name(),
            "moonlight.iso");
  EXPECT_EQ(m.stats().newcomers, 3u);
}

TEST(MemoryCatalogTest, VotesCountAsPeersComeOfAge) {
  FakeClock clock;
  MemoryCatalog m(AgeingOptions(&clock));
  const absl::Time now = clock.Now();
  m.Apply(Announce({{1, "moonlight.iso", now - absl::Minutes(50)},
                    {2, "zz_trojan_setup_moonlight.exe", now},
                    {3, "zz_trojan_setup_moonlight.exe", now}}));
  // Only newcomers: the most common name shows, nothing is hidden.
  EXPECT_EQ(ShownName(m, "moonlight"), "zz_trojan_setup_moonlight.exe");
  // Peer 1 comes of age; the next search counts its vote.
  clock.Advance(absl::Minutes(10));
  EXPECT_EQ(ShownName(m, "moonlight"), "moonlight.iso");
  EXPECT_EQ(m.stats().newcomers, 2u);
  // A peer that leaves and comes back keeps its age (it comes back with
  // the same known-since time).
  CatalogChange gone = Batch(1);
  gone.mutable_batch()->add_gone_peers(Id('p', 1));
  m.Apply(gone);
  EXPECT_EQ(ShownName(m, "moonlight"), "zz_trojan_setup_moonlight.exe");
  m.Apply(Announce({{1, "moonlight.iso", now - absl::Minutes(50)}}));
  EXPECT_EQ(ShownName(m, "moonlight"), "moonlight.iso");
  // An hour after they came, the other two count as much and outvote it:
  // the weight of age is capped.
  clock.Advance(absl::Minutes(50));
  EXPECT_EQ(ShownName(m, "moonlight"), "zz_trojan_setup_moonlight.exe");
  EXPECT_EQ(m.stats().newcomers, 0u);
}

// However a change is cut into slices and batches, the catalog ends up
// holding the same and finds every new file in every order.
TEST(MemoryCatalogTest, SlicesAndBatchesHoldTheSame) {
  CatalogChange c = Batch(1);
  for (int i = 0; i < 120; ++i) {
    Store(c.mutable_batch(), i % 11, i, absl::StrCat("tune ", i, ".mp3"),
          1000 + i);
  }
  MemoryCatalog whole;
  whole.Apply(c);
  for (const auto& [slice, slices] :
       std::vector<std::pair<int, int>>{{1, 1}, {1, 7}, {5, 1000}, {7, 2}}) {
    MemoryCatalog::Options options;
    options.apply_slice = slice;
    options.batch_slices = slices;
    MemoryCatalog m(options);
    m.Apply(c);
    EXPECT_EQ(m.Digest(), whole.Digest()) << slice << " " << slices;
    for (SearchSort sort : {SEARCH_SORT_RELEVANCE, SEARCH_SORT_SOURCES,
                            SEARCH_SORT_SIZE, SEARCH_SORT_NAME}) {
      SearchQuery q;
      q.set_text("tune");
      q.set_sort(sort);
      q.set_limit(200);
      absl::StatusOr<search::SearchPage> page =
          m.Search(*search::ParseQuery(q, 200, 200), absl::InfiniteFuture());
      ASSERT_TRUE(page.ok());
      EXPECT_EQ(page->hits.size(), 120u)
          << slice << " " << slices << " " << sort;
    }
  }
}

}  // namespace
}  // namespace index_server
}  // namespace trove
