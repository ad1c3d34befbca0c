#include "index_server/pg_store.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "common/search/query.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/indexed_store.h"
#include "index_server/memory_catalog.h"
#include "index_server/migrations.h"
#include "tests/testing/postgres.h"
#include "tests/testing/ids.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using testutil::TestDatabase;

using testutil::Id;
std::string Cid(int n) { return Id('c', n); }
std::string Peer(int n) { return Id('e', n); }
std::string Node(int n) { return Id('a', n); }

FileEntry File(int cid, const std::string& name, int64_t size = 1000) {
  FileEntry e;
  e.set_cid(Cid(cid));
  e.set_name(name);
  e.set_size(size);
  return e;
}

index::PeerDelta Delta(int peer, std::vector<FileEntry> added,
                       std::vector<int> removed = {}, bool full = false) {
  index::PeerDelta d;
  d.set_peer_id(Peer(peer));
  d.set_address(absl::StrCat("10.0.0.", peer, ":7000"));
  d.set_full(full);
  for (FileEntry& e : added) *d.add_added() = e;
  for (int cid : removed) d.add_removed(Cid(cid));
  return d;
}

// A delta announcing `partial` files (downloads in progress) of `peer`.
index::PeerDelta PartialDelta(int peer, std::vector<FileEntry> partial,
                              bool full = false) {
  index::PeerDelta d = Delta(peer, {}, {}, full);
  for (FileEntry& e : partial) *d.add_partial() = e;
  return d;
}

index::PeerDelta Gone(int peer) {
  index::PeerDelta d;
  d.set_peer_id(Peer(peer));
  d.set_gone(true);
  return d;
}

class PgStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    pg_ = Open();
    ASSERT_NE(pg_, nullptr);
    absl::StatusOr<int> applied = pg_->Migrate();
    ASSERT_TRUE(applied.ok()) << applied.status();
    ASSERT_GE(*applied, 1);
    store_ = std::make_unique<IndexedStore>(pg_.get(), IndexedStore::Options());
    store_->Start();
    ASSERT_TRUE(store_->follower()->WaitReady(absl::Now() + absl::Seconds(60)));
    ASSERT_TRUE(Register(1).ok());
  }

  void TearDown() override {
    if (store_ != nullptr) store_->Stop();
  }

  std::unique_ptr<PgIndexStore> Open() {
    PgStoreOptions options;
    options.dsn = db_->dsn();
    options.pool_size = 4;
    absl::StatusOr<std::unique_ptr<PgIndexStore>> store =
        PgIndexStore::Connect(options);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  absl::Status Register(int node, absl::Duration lease = absl::Seconds(60)) {
    SupernodeRegistration reg;
    reg.supernode_id = Node(node);
    reg.address = absl::StrCat("10.1.0.", node, ":7100");
    reg.capacity.set_reachable(true);
    return store_->RegisterSupernode(reg, lease, {}).status();
  }

  // Ends the supernode's lease now.
  void EndLease(int node) {
    ASSERT_TRUE(store_->RenewLease(Node(node), "", 0, absl::ZeroDuration(), {}).ok());
  }

  absl::StatusOr<index::PublishDeltasResponse> Publish(
      int node, std::vector<index::PeerDelta> deltas) {
    index::PublishDeltasRequest request;
    request.set_supernode_id(Node(node));
    for (index::PeerDelta& d : deltas) *request.add_deltas() = d;
    return store_->ApplyDeltas(request, {});
  }

  void MustPublish(int node, std::vector<index::PeerDelta> deltas) {
    absl::StatusOr<index::PublishDeltasResponse> r =
        Publish(node, std::move(deltas));
    ASSERT_TRUE(r.ok()) << r.status();
  }

  std::vector<SearchHit> Search(const std::string& text, int limit = 50) {
    SearchQuery q;
    q.set_text(text);
    return SearchWith(q, limit);
  }

  std::vector<SearchHit> SearchWith(SearchQuery q, int limit = 50) {
    if (q.limit() == 0) q.set_limit(limit);
    absl::StatusOr<search::ParsedQuery> parsed = search::ParseQuery(q, 50, 500);
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    if (!parsed.ok()) return {};
    absl::StatusOr<search::SearchPage> page = store_->Search(*parsed, {});
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->hits : std::vector<SearchHit>();
  }

  // Names of the hits of `text`, in order.
  std::vector<std::string> Names(const std::string& text) {
    std::vector<std::string> out;
    for (const SearchHit& h : Search(text)) out.push_back(h.name());
    return out;
  }

  std::vector<std::string> NamesWith(const SearchQuery& q) {
    std::vector<std::string> out;
    for (const SearchHit& h : SearchWith(q)) out.push_back(h.name());
    return out;
  }

  absl::StatusCode LocateCode(int cid) {
    return store_->Locate(Cid(cid), 10, {}).status().code();
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgIndexStore> pg_;
  std::unique_ptr<IndexedStore> store_;
};

TEST_F(PgStoreTest, MigrationsAreIdempotent) {
  absl::StatusOr<int> again = pg_->Migrate();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, 0);
  // Two replicas starting together: the advisory lock serializes them.
  std::unique_ptr<PgIndexStore> a = Open();
  std::unique_ptr<PgIndexStore> b = Open();
  absl::StatusOr<int> ra, rb;
  std::thread ta([&] { ra = a->Migrate(); });
  std::thread tb([&] { rb = b->Migrate(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(*ra + *rb, 0);
}

TEST_F(PgStoreTest, ConcurrentMigrationsOnFreshDatabaseApplyOnce) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> fresh = TestDatabase::Create();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  PgStoreOptions options;
  options.dsn = (*fresh)->dsn();
  std::vector<std::unique_ptr<PgIndexStore>> stores;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::unique_ptr<PgIndexStore>> s = PgIndexStore::Connect(options);
    ASSERT_TRUE(s.ok()) << s.status();
    stores.push_back(*std::move(s));
  }
  std::vector<absl::StatusOr<int>> results(3, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&, i] { results[i] = stores[i]->Migrate(); });
  }
  for (std::thread& t : threads) t.join();
  int total = 0;
  for (const absl::StatusOr<int>& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    total += *r;
  }
  // Each migration file applied exactly once.
  EXPECT_EQ(total, static_cast<int>(EmbeddedMigrationFiles().size()));
}

TEST_F(PgStoreTest, ConnectToClosedPortIsUnavailable) {
  PgStoreOptions options;
  options.dsn = "host=127.0.0.1 port=1 user=trove dbname=postgres connect_timeout=5";
  EXPECT_EQ(PgIndexStore::Connect(options).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(PgStoreTest, LeasesRegisterRenewAndEnd) {
  EXPECT_EQ(store_->RenewLease(Node(9), "", 1, absl::Seconds(60), {}).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(store_->RenewLease(Node(1), "", 5, absl::Seconds(60), {}).ok());
  absl::StatusOr<std::vector<index::SupernodeInfo>> live =
      store_->LiveSupernodes(10, {});
  ASSERT_TRUE(live.ok()) << live.status();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].supernode_id(), Node(1));
  EXPECT_EQ((*live)[0].leaf_count(), 5);
  EXPECT_EQ((*live)[0].address(), "10.1.0.1:7100");

  EndLease(1);
  EXPECT_EQ(store_->RenewLease(Node(1), "", 5, absl::Seconds(60), {}).code(),
            absl::StatusCode::kNotFound);
  live = store_->LiveSupernodes(10, {});
  ASSERT_TRUE(live.ok());
  EXPECT_THAT(*live, IsEmpty());
}

TEST_F(PgStoreTest, BootstrapListsLeastLoadedFirst) {
  ASSERT_TRUE(Register(2).ok());
  ASSERT_TRUE(Register(3).ok());
  ASSERT_TRUE(store_->RenewLease(Node(1), "", 30, absl::Seconds(60), {}).ok());
  ASSERT_TRUE(store_->RenewLease(Node(2), "", 10, absl::Seconds(60), {}).ok());
  ASSERT_TRUE(store_->RenewLease(Node(3), "", 20, absl::Seconds(60), {}).ok());
  absl::StatusOr<std::vector<index::SupernodeInfo>> live =
      store_->LiveSupernodes(2, {});
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 2u);
  EXPECT_EQ((*live)[0].supernode_id(), Node(2));
  EXPECT_EQ((*live)[1].supernode_id(), Node(3));
}

TEST_F(PgStoreTest, PublishNeedsLiveLease) {
  EXPECT_EQ(Publish(9, {Delta(1, {File(1, "a.txt")})}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EndLease(1);
  EXPECT_EQ(Publish(1, {Delta(1, {File(1, "a.txt")})}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, PublishThenLocate) {
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {File(1, "Bohemian_Rhapsody.mp3", 5000)}),
                  Delta(2, {File(1, "Bohemian_Rhapsody.mp3", 5000)}),
                  Delta(3, {File(1, "queen.mp3", 5000)})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_added(), 3);
  EXPECT_EQ(r->sources_removed(), 0);

  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(1), 10, {});
  ASSERT_TRUE(loc.ok()) << loc.status();
  EXPECT_EQ(loc->size(), 5000);
  EXPECT_EQ(loc->name(), "Bohemian_Rhapsody.mp3");
  ASSERT_EQ(loc->sources_size(), 3);
  std::vector<std::string> peers;
  for (const Source& s : loc->sources()) {
    peers.push_back(s.peer_id());
    EXPECT_FALSE(s.partial());
    EXPECT_EQ(s.address(),
              absl::StrCat("10.0.0.", s.peer_id() == Peer(1)   ? 1
                                      : s.peer_id() == Peer(2) ? 2
                                                               : 3,
                           ":7000"));
  }
  EXPECT_THAT(peers, ::testing::UnorderedElementsAre(Peer(1), Peer(2), Peer(3)));

  absl::StatusOr<index::LocateResponse> one = store_->Locate(Cid(1), 1, {});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->sources_size(), 1);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, RepublishingTheSameFileChangesNothing) {
  MustPublish(1, {Delta(1, {File(1, "a.txt")})});
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {File(1, "a.txt")}, {}, /*full=*/true)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_added(), 0);
  EXPECT_EQ(r->sources_removed(), 0);
  r = Publish(1, {Delta(1, {File(1, "b.txt")})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sources_added(), 1);  // renamed
  EXPECT_THAT(Names("b"), ElementsAre("b.txt"));
}

TEST_F(PgStoreTest, BatchWithBadRowStoresNothing) {
  // The second delta carries a value the store itself refuses (a negative
  // size); the first delta must not be stored either.
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {File(1, "good.txt")}),
                  Delta(2, {File(2, "also_good.txt"), File(3, "bad.txt", -5)})});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  EXPECT_THAT(Search("good"), IsEmpty());

  // A malformed cid is refused the same way.
  index::PeerDelta bad_cid = Delta(1, {File(1, "good.txt")});
  bad_cid.mutable_added(0)->set_cid("not-a-cid");
  EXPECT_EQ(Publish(1, {Delta(2, {File(2, "x.txt")}), bad_cid}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);

  // Values the service would refuse never get stored even if they reach
  // the store: invalid UTF-8, a NUL byte.
  for (const std::string& name :
       {std::string("bad\xff.txt"), std::string("nul\0byte.txt", 12)}) {
    EXPECT_EQ(Publish(1, {Delta(2, {File(2, "x.txt"), File(3, name)})})
                  .status()
                  .code(),
              absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  }

  // The store still works.
  MustPublish(1, {Delta(1, {File(1, "good.txt")})});
  EXPECT_THAT(Names("good"), ElementsAre("good.txt"));
}

TEST_F(PgStoreTest, FullListReplaces) {
  MustPublish(1, {Delta(1, {File(1, "one.txt"), File(2, "two.txt")})});
  absl::StatusOr<index::PublishDeltasResponse> r = Publish(
      1, {Delta(1, {File(2, "two.txt"), File(3, "three.txt")}, {}, true)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_added(), 1);
  EXPECT_EQ(r->sources_removed(), 1);
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kOk);
  EXPECT_EQ(LocateCode(3), absl::StatusCode::kOk);

  // An empty full list withdraws everything.
  MustPublish(1, {Delta(1, {}, {}, true)});
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(3), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, RemovalsWithdrawOnlyThatPeersSource) {
  MustPublish(1, {Delta(1, {File(1, "song.mp3"), File(2, "other.mp3")}),
                  Delta(2, {File(1, "song.mp3")})});
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {}, {1, 99})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 1);
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(1), 10, {});
  ASSERT_TRUE(loc.ok());
  ASSERT_EQ(loc->sources_size(), 1);
  EXPECT_EQ(loc->sources(0).peer_id(), Peer(2));
  MustPublish(1, {Delta(2, {}, {1})});
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kOk);
}

TEST_F(PgStoreTest, GonePeerLosesAllSources) {
  MustPublish(1, {Delta(1, {File(1, "a.txt"), File(2, "b.txt")}),
                  Delta(2, {File(2, "b.txt")})});
  absl::StatusOr<index::PublishDeltasResponse> r = Publish(1, {Gone(1)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 2);
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(2), 10, {});
  ASSERT_TRUE(loc.ok());
  ASSERT_EQ(loc->sources_size(), 1);
  EXPECT_EQ(loc->sources(0).peer_id(), Peer(2));
}

TEST_F(PgStoreTest, DeltasApplyInOrderWithinABatch) {
  MustPublish(1, {Delta(1, {File(1, "a.txt")}), Gone(1),
                  Delta(1, {File(2, "b.txt")}), Delta(2, {File(3, "c.txt")}),
                  Delta(2, {}, {3})});
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kOk);
  EXPECT_EQ(LocateCode(3), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, NamesSurviveQuotingAndUnicode) {
  const std::string tricky = "a \"b\" \\c, {d} 'e' NULL.txt";
  const std::string bjork = "Bj\xc3\xb6rk - J\xc3\xb3ga.ogg";
  MustPublish(1, {Delta(1, {File(1, tricky), File(2, bjork)})});
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(1), 10, {});
  ASSERT_TRUE(loc.ok());
  EXPECT_EQ(loc->name(), tricky);
  EXPECT_THAT(Names("NULL"), ElementsAre(tricky));
  EXPECT_THAT(Names("bj\xc3\xb6rk"), ElementsAre(bjork));
  EXPECT_THAT(Names("BJ\xc3\x96RK"), ElementsAre(bjork));
  // Accents are not folded: "joga" is one edit from "jóga".
  std::vector<SearchHit> hits = Search("joga");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].match(), SEARCH_MATCH_MISSPELLED);
}

class PgSearchTest : public PgStoreTest {
 protected:
  void SetUp() override {
    PgStoreTest::SetUp();
    if (HasFatalFailure()) return;
    MustPublish(1, {Delta(1, {File(1, "Bohemian_Rhapsody.mp3", 6'000'000),
                              File(2, "Queen - Bicycle Race.flac", 30'000'000),
                              File(3, "rhapsody_in_blue.ogg", 9'000'000),
                              File(4, "holiday_photos.zip", 500'000'000),
                              File(5, "backup.mp4", 1'000)})});
  }
};

TEST_F(PgSearchTest, FindsWholeWords) {
  EXPECT_THAT(Names("bohemian"), ElementsAre("Bohemian_Rhapsody.mp3"));
  EXPECT_THAT(Names("BICYCLE"), ElementsAre("Queen - Bicycle Race.flac"));
  EXPECT_THAT(Names("rhapsody"),
              ::testing::UnorderedElementsAre("Bohemian_Rhapsody.mp3",
                                              "rhapsody_in_blue.ogg"));
  EXPECT_THAT(Names("nothing like this"), IsEmpty());
}

TEST_F(PgSearchTest, FindsPartsOfWords) {
  EXPECT_THAT(Names("rhaps"),
              ::testing::UnorderedElementsAre("Bohemian_Rhapsody.mp3",
                                              "rhapsody_in_blue.ogg"));
  EXPECT_THAT(Names("hemia"), ElementsAre("Bohemian_Rhapsody.mp3"));
  EXPECT_THAT(Names("phot"), ElementsAre("holiday_photos.zip"));
}

TEST_F(PgSearchTest, FindsMisspellings) {
  EXPECT_THAT(Names("bohemain"), ElementsAre("Bohemian_Rhapsody.mp3"));
  EXPECT_THAT(Names("rapsody"),
              ::testing::UnorderedElementsAre("Bohemian_Rhapsody.mp3",
                                              "rhapsody_in_blue.ogg"));
  EXPECT_THAT(Names("bohemain rapsody"), ElementsAre("Bohemian_Rhapsody.mp3"));
  EXPECT_THAT(Names("bicycel"), ElementsAre("Queen - Bicycle Race.flac"));
}

TEST_F(PgSearchTest, ShortWordsMustMatchExactly) {
  EXPECT_THAT(Names("mp3"), ElementsAre("Bohemian_Rhapsody.mp3"));
  EXPECT_THAT(Names("mp4"), ElementsAre("backup.mp4"));
}

TEST_F(PgSearchTest, AllWordsMustMatch) {
  EXPECT_THAT(Names("rhapsody blue"), ElementsAre("rhapsody_in_blue.ogg"));
  EXPECT_THAT(Names("queen rhapsody"), IsEmpty());
  EXPECT_THAT(Names("bohemian - rhapsody!!"), ElementsAre("Bohemian_Rhapsody.mp3"));
}

TEST_F(PgSearchTest, FiltersBySizeAndExtension) {
  SearchQuery q;
  q.set_text("rhapsody");
  q.set_min_size(7'000'000);
  EXPECT_THAT(NamesWith(q), ElementsAre("rhapsody_in_blue.ogg"));
  q.set_min_size(0);
  q.set_max_size(7'000'000);
  EXPECT_THAT(NamesWith(q), ElementsAre("Bohemian_Rhapsody.mp3"));
  q.set_max_size(0);
  q.add_extensions("MP3");
  EXPECT_THAT(NamesWith(q), ElementsAre("Bohemian_Rhapsody.mp3"));
  q.add_extensions("ogg");
  EXPECT_THAT(NamesWith(q), ::testing::UnorderedElementsAre(
                                "Bohemian_Rhapsody.mp3", "rhapsody_in_blue.ogg"));
  q.clear_extensions();
  q.add_extensions("flac");
  EXPECT_THAT(NamesWith(q), IsEmpty());
  q.set_min_size(1);
  q.set_max_size(1);
  q.clear_extensions();
  EXPECT_THAT(NamesWith(q), IsEmpty());
}

TEST_F(PgSearchTest, RespectsLimit) {
  EXPECT_EQ(Search("rhapsody", 1).size(), 1u);
}

TEST_F(PgSearchTest, OneRowPerCidRankedBySources) {
  // cid 3 gains three more sources, one under another name: it now ranks
  // first, once, with the most common name and all four sources counted.
  MustPublish(1, {Delta(2, {File(3, "rhapsody_in_blue.ogg", 9'000'000)}),
                  Delta(3, {File(3, "rhapsody_in_blue.ogg", 9'000'000)}),
                  Delta(4, {File(3, "Gershwin - Rhapsody in Blue.ogg", 9'000'000)})});
  std::vector<SearchHit> hits = Search("rhapsody");
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0].cid(), Cid(3));
  EXPECT_EQ(hits[0].name(), "rhapsody_in_blue.ogg");
  EXPECT_EQ(hits[0].source_count(), 4);
  EXPECT_EQ(hits[0].size(), 9'000'000);
  EXPECT_EQ(hits[1].cid(), Cid(1));
  EXPECT_EQ(hits[1].source_count(), 1);

  // A name only some sources use still finds the file; the hit shows the
  // name most sources use and counts all of them.
  hits = Search("gershwin");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].name(), "rhapsody_in_blue.ogg");
  EXPECT_EQ(hits[0].source_count(), 4);
}

TEST_F(PgSearchTest, ExactMatchesRankBeforePartsAndMisspellings) {
  // "bicycle" as a whole word (1 source) beats a longer word beginning with
  // it (2 sources), which beats a popular near-miss (3 sources).
  MustPublish(1, {Delta(2, {File(6, "bicycles.txt")}),
                  Delta(3, {File(6, "bicycles.txt")}),
                  Delta(4, {File(7, "bicyclo.txt")}),
                  Delta(5, {File(7, "bicyclo.txt")}),
                  Delta(6, {File(7, "bicyclo.txt")})});
  std::vector<SearchHit> hits = Search("bicycle");
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].name(), "Queen - Bicycle Race.flac");
  EXPECT_EQ(hits[0].match(), SEARCH_MATCH_EXACT);
  EXPECT_EQ(hits[1].name(), "bicycles.txt");
  EXPECT_EQ(hits[1].match(), SEARCH_MATCH_PARTIAL);
  EXPECT_EQ(hits[2].name(), "bicyclo.txt");
  EXPECT_EQ(hits[2].match(), SEARCH_MATCH_MISSPELLED);
}

TEST_F(PgStoreTest, ExpiredLeaseHidesSourcesAndExpiryDeletesThem) {
  ASSERT_TRUE(Register(2).ok());
  MustPublish(1, {Delta(1, {File(1, "shared.txt"), File(2, "only_one.txt")})});
  MustPublish(2, {Delta(2, {File(1, "shared.txt")})});
  ASSERT_EQ(Search("shared").size(), 1u);
  EXPECT_EQ(Search("shared")[0].source_count(), 2);

  // Locate hides them as soon as the lease ends; search once the expiry
  // pass (every few seconds) has dropped them.
  EndLease(1);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(1), 10, {});
  ASSERT_TRUE(loc.ok());
  ASSERT_EQ(loc->sources_size(), 1);
  EXPECT_EQ(loc->sources(0).peer_id(), Peer(2));

  absl::StatusOr<ExpiryStats> stats = store_->ExpireDeadSupernodes();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_TRUE(stats->ran);
  EXPECT_EQ(stats->supernodes, 1);
  EXPECT_EQ(stats->sources, 2);
  EXPECT_EQ(stats->peers, 1);
  std::vector<SearchHit> hits = Search("shared");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source_count(), 1);
  EXPECT_THAT(Search("only"), IsEmpty());
  stats = store_->ExpireDeadSupernodes();  // idempotent
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->supernodes, 0);
  EXPECT_EQ(stats->sources, 0);

  // Registering again starts from nothing.
  ASSERT_TRUE(Register(1).ok());
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  EXPECT_EQ(Search("shared")[0].source_count(), 1);
}

TEST_F(PgStoreTest, ReRegisteringAfterLeaseEndedDropsOldSources) {
  MustPublish(1, {Delta(1, {File(1, "a.txt")})});
  EndLease(1);
  ASSERT_TRUE(Register(1).ok());  // before any expiry pass
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, ReRegisteringWithinTheLeaseDropsOldSources) {
  // A supernode that restarts (same id) while its lease still runs: what its
  // earlier leaves published goes at once; it re-sends its current leaves'
  // lists after registering.
  ASSERT_TRUE(Register(2).ok());
  MustPublish(1, {Delta(1, {File(1, "alpha.txt")}),
                  PartialDelta(2, {File(2, "beta.txt")})});
  MustPublish(2, {Delta(3, {File(1, "alpha.txt")})});
  ASSERT_TRUE(Register(1).ok());
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(1), 10, {});
  ASSERT_TRUE(loc.ok()) << loc.status();
  ASSERT_EQ(loc->sources_size(), 1);
  EXPECT_EQ(loc->sources(0).peer_id(), Peer(3));  // other supernode's leaf
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  EXPECT_EQ(Search("alpha")[0].source_count(), 1);
  // Its lease is live: it publishes again at once, and the peer is its own.
  MustPublish(1, {Delta(1, {File(1, "alpha.txt")}, {}, /*full=*/true)});
  EXPECT_EQ(Search("alpha")[0].source_count(), 2);
  absl::StatusOr<index::PublishDeltasResponse> r = Publish(1, {Gone(1)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 1);
}

TEST_F(PgStoreTest, PeerMovingToAnotherSupernodeTakesItsSources) {
  ASSERT_TRUE(Register(2).ok());
  MustPublish(1, {Delta(1, {File(1, "a.txt"), File(2, "b.txt")})});
  // A peer that moved sends its full list through its new supernode.
  index::PeerDelta moved =
      Delta(1, {File(1, "a.txt"), File(2, "b.txt"), File(3, "c.txt")}, {},
            /*full=*/true);
  moved.set_address("10.9.9.9:7000");
  MustPublish(2, {moved});
  EndLease(1);
  ASSERT_TRUE(store_->ExpireDeadSupernodes().ok());
  for (int cid : {1, 2, 3}) {
    absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(cid), 10, {});
    ASSERT_TRUE(loc.ok()) << cid << ": " << loc.status();
    EXPECT_EQ(loc->sources(0).address(), "10.9.9.9:7000");
  }
}

TEST_F(PgStoreTest, GoneFromTheOldSupernodeSparesAMovedPeer) {
  // P published via S1, then (failover) its full list via S2; S1's session
  // for P then times out and S1 sends `gone`.
  ASSERT_TRUE(Register(2).ok());
  MustPublish(1, {Delta(1, {File(1, "a.txt"), File(2, "b.txt")}),
                  Delta(2, {File(1, "a.txt")})});
  index::PeerDelta moved =
      Delta(1, {File(1, "a.txt"), File(3, "c.txt")}, {}, /*full=*/true);
  moved.set_address("10.9.9.9:7000");
  absl::StatusOr<index::PublishDeltasResponse> r = Publish(2, {moved});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 1);  // b.txt, not in the new full list
  r = Publish(1, {Gone(1)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 0);
  for (int cid : {1, 3}) {
    absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(cid), 10, {});
    ASSERT_TRUE(loc.ok()) << cid << ": " << loc.status();
    bool found = false;
    for (const Source& src : loc->sources()) {
      if (src.peer_id() != Peer(1)) continue;
      found = true;
      EXPECT_EQ(src.address(), "10.9.9.9:7000");
    }
    EXPECT_TRUE(found) << cid;
  }
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  // The sources are S2's now: S1's lease ending does not touch them...
  EndLease(1);
  ASSERT_TRUE(store_->ExpireDeadSupernodes().ok());
  EXPECT_EQ(LocateCode(3), absl::StatusCode::kOk);
  // ...and S2's own `gone` withdraws them.
  r = Publish(2, {Gone(1)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 2);
  EXPECT_EQ(LocateCode(3), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, StaleDeltaFromTheOldSupernodeIsSkipped) {
  ASSERT_TRUE(Register(2).ok());
  MustPublish(1, {Delta(1, {File(1, "a.txt")})});
  MustPublish(2, {Delta(1, {File(1, "a.txt")}, {}, /*full=*/true)});
  // S1 sends, late, a change P made before it moved: S2 holds P now.
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {File(2, "b.txt")}, {1}),
                  Delta(2, {File(3, "c.txt")})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_added(), 1);  // only peer 2's
  EXPECT_EQ(r->sources_removed(), 0);
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kOk);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(3), absl::StatusCode::kOk);
  // S1's later gone does not reach P under S2 either.
  MustPublish(1, {Gone(1)});
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kOk);
  // Once S2's lease ends, a plain delta from S1 takes P back.
  EndLease(2);
  MustPublish(1, {Delta(1, {File(2, "b.txt")})});
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kOk);
}

TEST_F(PgStoreTest, PartialSourcesAreLocatedAfterCompleteOnes) {
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {PartialDelta(1, {File(1, "movie.mkv", 5000)}),
                  Delta(2, {File(1, "movie.mkv", 5000)}),
                  PartialDelta(3, {File(1, "film.mkv", 5000)})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_added(), 3);
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(1), 10, {});
  ASSERT_TRUE(loc.ok()) << loc.status();
  EXPECT_EQ(loc->size(), 5000);
  EXPECT_EQ(loc->name(), "movie.mkv");  // complete sources' name first
  ASSERT_EQ(loc->sources_size(), 3);
  EXPECT_EQ(loc->sources(0).peer_id(), Peer(2));
  EXPECT_FALSE(loc->sources(0).partial());
  EXPECT_TRUE(loc->sources(1).partial());
  EXPECT_TRUE(loc->sources(2).partial());
  EXPECT_EQ(loc->sources(1).address().substr(0, 7), "10.0.0.");
  // Search counts complete sources only, and shows a complete one's name.
  std::vector<SearchHit> hits = Search("mkv");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source_count(), 1);
  EXPECT_EQ(hits[0].name(), "movie.mkv");
  EXPECT_THAT(Search("film"), IsEmpty());  // only a partial source's name
}

TEST_F(PgStoreTest, PartialOnlyCidIsLocatedButNotSearched) {
  MustPublish(1, {PartialDelta(1, {File(7, "half.iso", 9)})});
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(7), 10, {});
  ASSERT_TRUE(loc.ok()) << loc.status();
  EXPECT_EQ(loc->name(), "half.iso");
  EXPECT_EQ(loc->size(), 9);
  ASSERT_EQ(loc->sources_size(), 1);
  EXPECT_TRUE(loc->sources(0).partial());
  EXPECT_THAT(Search("half"), IsEmpty());
  // Cancelling the download withdraws it.
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {}, {7})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 1);
  EXPECT_EQ(LocateCode(7), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, CompletedDownloadBecomesACompleteSource) {
  MustPublish(1, {PartialDelta(1, {File(1, "song.ogg")})});
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {File(1, "song.ogg")})});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_added(), 1);  // the row changed from partial
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(1), 10, {});
  ASSERT_TRUE(loc.ok());
  ASSERT_EQ(loc->sources_size(), 1);
  EXPECT_FALSE(loc->sources(0).partial());
  ASSERT_EQ(Search("song").size(), 1u);
  EXPECT_EQ(Search("song")[0].source_count(), 1);
  // Announced again in the same state: nothing changes.
  r = Publish(1, {Delta(1, {File(1, "song.ogg")})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->sources_added(), 0);
}

TEST_F(PgStoreTest, FullListReplacesPartials) {
  MustPublish(1, {PartialDelta(1, {File(1, "a.bin"), File(2, "b.bin")}),
                  Delta(1, {File(3, "c.bin")})});
  index::PeerDelta full = PartialDelta(1, {File(2, "b.bin")}, /*full=*/true);
  *full.add_added() = File(4, "d.bin");
  absl::StatusOr<index::PublishDeltasResponse> r = Publish(1, {full});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_removed(), 2);  // a.bin (partial), c.bin
  EXPECT_EQ(r->sources_added(), 1);    // d.bin; b.bin is unchanged
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(3), absl::StatusCode::kNotFound);
  absl::StatusOr<index::LocateResponse> loc = store_->Locate(Cid(2), 10, {});
  ASSERT_TRUE(loc.ok());
  EXPECT_TRUE(loc->sources(0).partial());
  loc = store_->Locate(Cid(4), 10, {});
  ASSERT_TRUE(loc.ok());
  EXPECT_FALSE(loc->sources(0).partial());
  // `gone` withdraws partial sources too.
  MustPublish(1, {Gone(1)});
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, BatchWithBadPartialStoresNothing) {
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, {File(1, "good.txt")}),
                  PartialDelta(2, {File(2, "ok.txt"),
                                   File(3, "bad.txt", -5)})});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument)
      << r.status();
  for (int cid : {1, 2, 3}) {
    EXPECT_EQ(LocateCode(cid), absl::StatusCode::kNotFound) << cid;
  }
  index::PeerDelta bad_cid = PartialDelta(1, {File(1, "x.txt")});
  bad_cid.mutable_partial(0)->set_cid("not-a-cid");
  EXPECT_EQ(Publish(1, {Delta(2, {File(2, "y.txt")}), bad_cid}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kNotFound);
}

TEST_F(PgStoreTest, AFileGoesWithItsLastSource) {
  MustPublish(1, {Delta(1, {File(1, "a.txt"), File(2, "b.txt")})});
  MustPublish(1, {Delta(1, {}, {1})});
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_EQ(LocateCode(2), absl::StatusCode::kOk);
  pqxx::connection c(db_->dsn());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec_params1("SELECT count(*) FROM files WHERE cid = $1",
                            Cid(1))[0]
                .as<int>(),
            0);
  EXPECT_EQ(tx.exec_params1("SELECT size FROM files WHERE cid = $1", Cid(2))[0]
                .as<int64_t>(),
            File(2, "b.txt").size());
}

// Migration 0009: a page of a hundred entries is one heap tuple (nothing
// in the TOAST table), its names compressed with lz4 where the server has
// it, and it reads back whole.
TEST_F(PgStoreTest, AHundredEntryPageStaysInItsRow) {
  std::vector<FileEntry> files;
  for (int i = 0; i < 100; ++i) {
    files.push_back(File(i, absl::StrCat("Some Artist - Some Album - ", i,
                                         " - A Rather Long Track Title.flac")));
  }
  MustPublish(1, {Delta(1, files)});
  pqxx::connection c(db_->dsn());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec1("SELECT array_to_string(reloptions, ',') FROM pg_class"
                     " WHERE relname = 'peer_pages'")[0]
                .as<std::string>(),
            "toast_tuple_target=8160");
  const std::string toast =
      tx.exec1(
            "SELECT reltoastrelid::regclass::text FROM pg_class"
            " WHERE relname = 'peer_pages'")[0]
          .as<std::string>();
  EXPECT_EQ(tx.exec1(absl::StrCat("SELECT count(*) FROM ", toast))[0].as<int>(),
            0);
  const bool lz4 =
      tx.exec1(
            "SELECT current_setting('server_version_num')::int >= 140000"
            " AND EXISTS (SELECT 1 FROM pg_settings WHERE name ="
            " 'default_toast_compression' AND 'lz4' = ANY(enumvals))")[0]
          .as<bool>();
  if (lz4) {
    EXPECT_EQ(tx.exec1("SELECT attcompression FROM pg_attribute WHERE"
                       " attrelid = 'peer_pages'::regclass AND attname ="
                       " 'names'")[0]
                  .as<std::string>(),
              "l");
  }
  EXPECT_EQ(tx.exec1("SELECT count(*) FROM sources")[0].as<int>(), 100);
  EXPECT_EQ(
      tx.exec_params1("SELECT name FROM sources WHERE cid = $1", Cid(42))[0]
          .as<std::string>(),
      files[42].name());
  EXPECT_EQ(LocateCode(99), absl::StatusCode::kOk);
}

// peer_standing keeps a peer's age across its absences, but not forever:
// rows of peers with no source, not seen for long, go.
TEST_F(PgStoreTest, LongGonePeersStandingIsTrimmed) {
  for (int p = 1; p <= 4; ++p) {
    MustPublish(1, {Delta(p, {File(p, absl::StrCat("f", p, ".txt"))})});
  }
  MustPublish(1, {Gone(1), Gone(3), Gone(4)});
  pqxx::connection c(db_->dsn());
  {
    pqxx::work tx(c);
    // Peers 1 to 3 became known 40 days ago; peer 3 signed a change just
    // now (through another supernode, say).
    tx.exec("UPDATE peer_standing SET known_since = now() - interval '40 days'"
            " WHERE peer_id IN ('" + Peer(1) + "', '" + Peer(2) + "', '" +
            Peer(3) + "')");
    tx.exec("INSERT INTO peer_chains (peer_id, supernode_id, last_seq,"
            " full_floor) VALUES ('" + Peer(3) + "', '" + Node(1) +
            "', 1, 1)");
    tx.commit();
  }
  absl::StatusOr<int64_t> n = pg_->TrimPeerStanding(absl::Hours(24 * 30));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1);
  std::vector<std::string> kept;
  {
    pqxx::work tx(c);
    for (const pqxx::row& row :
         tx.exec("SELECT peer_id FROM peer_standing ORDER BY peer_id")) {
      kept.push_back(row[0].as<std::string>());
    }
  }
  // Peer 2 still shares, peer 3 was seen, peer 4 is young.
  EXPECT_THAT(kept, ElementsAre(Peer(2), Peer(3), Peer(4)));
  n = pg_->TrimPeerStanding(absl::Hours(24 * 30));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0);
}

TEST_F(PgStoreTest, ConcurrentBatchesFromManyThreads) {
  ASSERT_TRUE(Register(2).ok());
  const CatalogFollower::Stats before = store_->follower()->stats();
  constexpr int kThreads = 8;
  constexpr int kBatches = 5;
  std::vector<std::thread> threads;
  std::vector<absl::Status> errors(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        // Every thread also touches the shared cid 0.
        std::vector<FileEntry> files = {File(0, "common.bin")};
        for (int f = 0; f < 10; ++f) {
          files.push_back(File(1 + 1000 * t + 100 * b + f, "file.bin"));
        }
        absl::StatusOr<index::PublishDeltasResponse> r =
            Publish(1 + t % 2, {Delta(t, files)});
        if (!r.ok()) {
          errors[t] = r.status();
          return;
        }
        SearchQuery q;
        q.set_text("common");
        if (SearchWith(q, 10).empty()) errors[t] = absl::InternalError("search");
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : errors) EXPECT_TRUE(s.ok()) << s;
  std::vector<SearchHit> hits = Search("common");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source_count(), kThreads);
  EXPECT_EQ(Search("file", 500).size(), 1u * kThreads * kBatches * 10);
  // Every batch was applied as its committer offered it; none was read
  // back from the log (each commit's NOTIFY wakes the follower while
  // earlier batches are still being applied).
  const CatalogFollower::Stats after = store_->follower()->stats();
  EXPECT_EQ(after.applied_offered - before.applied_offered,
            kThreads * kBatches);
  EXPECT_EQ(after.applied_read, before.applied_read);
}

TEST_F(PgStoreTest, LargeBatchInOneTransaction) {
  std::vector<FileEntry> files;
  for (int i = 0; i < 5000; ++i) {
    files.push_back(File(i, absl::StrCat("track ", i, ".mp3"), i));
  }
  absl::StatusOr<index::PublishDeltasResponse> r =
      Publish(1, {Delta(1, files, {}, true)});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->sources_added(), 5000);
  std::vector<SearchHit> hits = Search("track 4999");
  ASSERT_GE(hits.size(), 1u);
  EXPECT_EQ(hits[0].name(), "track 4999.mp3");
}

// A replica's memory after replaying the log equals a fresh load of what
// PostgreSQL holds, through every kind of change.
TEST_F(PgStoreTest, ReplayedMemoryEqualsAFreshLoad) {
  ASSERT_TRUE(Register(2).ok());
  MustPublish(1, {Delta(1, {File(1, "a one.txt"), File(2, "b two.txt")}),
                  Delta(2, {File(1, "A One (copy).txt"), File(3, "c.txt")}),
                  PartialDelta(3, {File(4, "partial only.mkv")})});
  MustPublish(2, {Delta(4, {File(1, "a one.txt")}),
                  Delta(1, {File(5, "moved here.txt")}, {2})});  // stale
  MustPublish(1, {Delta(2, {File(6, "six.txt")}, {}, /*full=*/true),
                  Gone(3),
                  Delta(5, {File(2, "b two.txt", 999)})});  // size kept 1000
  MustPublish(1, {PartialDelta(1, {File(1, "a one.txt")})});  // complete -> partial
  MustPublish(2, {Delta(1, {File(7, "seven.txt")}, {}, /*full=*/true)});  // moves
  ASSERT_TRUE(Register(1).ok());  // drops what remains under node 1
  EndLease(2);
  ASSERT_TRUE(store_->ExpireDeadSupernodes().ok());
  ASSERT_TRUE(Register(2).ok());
  MustPublish(2, {Delta(8, {File(2, "b again.txt", 5), File(9, "nine.txt")})});

  std::shared_ptr<const MemoryCatalog> followed = store_->follower()->catalog();
  MemoryCatalog fresh;
  absl::StatusOr<int64_t> seq = pg_->LoadCatalog(&fresh, nullptr);
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, store_->follower()->applied());
  EXPECT_EQ(followed->Digest(), fresh.Digest());
  EXPECT_EQ(followed->stats().sources, 2u);
  // The size of cid 2 is what its files row says.
  std::vector<SearchHit> hits = Search("again");
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].size(), 5);
}

// Two replicas over one database: what one writes, the other shows.
TEST_F(PgStoreTest, ReplicasConvergeAfterABurst) {
  std::unique_ptr<PgIndexStore> pg_b = Open();
  ASSERT_NE(pg_b, nullptr);
  IndexedStore b(pg_b.get(), IndexedStore::Options());
  b.Start();
  ASSERT_TRUE(b.follower()->WaitReady(absl::Now() + absl::Seconds(60)));
  ASSERT_TRUE(Register(2).ok());
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        index::PublishDeltasRequest request;
        request.set_supernode_id(Node(1 + t % 2));
        *request.add_deltas() = Delta(10 * t + i % 3,
                                      {File(100 * t + i, absl::StrCat("burst ", t, " ", i, ".bin"))},
                                      {100 * t + i - 2});
        // Half through replica b.
        IndexStore* via = t < 2 ? static_cast<IndexStore*>(store_.get()) : &b;
        EXPECT_TRUE(via->ApplyDeltas(request, {}).ok());
      }
    });
  }
  for (std::thread& w : writers) w.join();
  absl::StatusOr<int64_t> last = pg_->LastChange();
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(store_->follower()->WaitApplied(*last, absl::Now() + absl::Seconds(30)));
  ASSERT_TRUE(b.follower()->WaitApplied(*last, absl::Now() + absl::Seconds(30)));
  EXPECT_EQ(store_->follower()->catalog()->Digest(), b.follower()->catalog()->Digest());
  EXPECT_EQ(store_->follower()->catalog()->stats().sources, 4u * 20);
  b.Stop();
}

// A replica that fell behind past what the log keeps loads the catalog
// again and ends up equal.
TEST_F(PgStoreTest, ReplicaBehindTheTrimmedLogReloads) {
  std::unique_ptr<PgIndexStore> pg_b = Open();
  IndexedStore b(pg_b.get(), IndexedStore::Options());
  b.Start();
  ASSERT_TRUE(b.follower()->WaitReady(absl::Now() + absl::Seconds(60)));
  b.Stop();  // b misses what follows
  for (int i = 0; i < 5; ++i) MustPublish(1, {Delta(1, {File(i, absl::StrCat("f", i))})});
  absl::SleepFor(absl::Milliseconds(20));
  absl::StatusOr<int64_t> trimmed = pg_->TrimChangeLog(absl::ZeroDuration());
  ASSERT_TRUE(trimmed.ok()) << trimmed.status();
  EXPECT_GE(*trimmed, 5);
  IndexedStore c(pg_b.get(), IndexedStore::Options());
  c.Start();
  ASSERT_TRUE(c.follower()->WaitReady(absl::Now() + absl::Seconds(60)));
  EXPECT_EQ(c.follower()->catalog()->Digest(),
            store_->follower()->catalog()->Digest());
  c.Stop();
}

// A batch whose sender gave up on it never lands after the batch that
// followed it, nor after a new registration.
TEST_F(PgStoreTest, StaleBatchesAreRefused) {
  SupernodeRegistration reg;
  reg.supernode_id = Node(3);
  reg.address = "10.1.0.3:7100";
  absl::StatusOr<int64_t> gen = store_->RegisterSupernode(reg, absl::Seconds(60), {});
  ASSERT_TRUE(gen.ok()) << gen.status();
  auto batch = [&](int64_t generation, int64_t number, index::PeerDelta d) {
    index::PublishDeltasRequest r;
    r.set_supernode_id(Node(3));
    r.set_generation(generation);
    r.set_batch(number);
    *r.add_deltas() = std::move(d);
    return store_->ApplyDeltas(r, {});
  };
  ASSERT_TRUE(batch(*gen, 5, Gone(1)).ok());
  // The slow earlier attempt that would re-add what the peer withdrew.
  EXPECT_EQ(batch(*gen, 4, Delta(1, {File(1, "ghost.txt")})).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(batch(*gen, 5, Delta(1, {File(1, "ghost.txt")})).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_THAT(Search("ghost"), IsEmpty());
  absl::StatusOr<int64_t> next = store_->RegisterSupernode(reg, absl::Seconds(60), {});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, *gen + 1);
  EXPECT_EQ(batch(*gen, 9, Delta(1, {File(1, "ghost.txt")})).status().code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(batch(*next, 1, Delta(1, {File(1, "real.txt")})).ok());
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kOk);
}

// Nothing is committed for a caller that gave up.
TEST_F(PgStoreTest, NothingIsStoredForACallerThatGaveUp) {
  index::PublishDeltasRequest r;
  r.set_supernode_id(Node(1));
  *r.add_deltas() = Delta(1, {File(1, "late.txt")});
  CallContext late;
  late.deadline = absl::Now() - absl::Seconds(1);
  EXPECT_EQ(store_->ApplyDeltas(r, late).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  CallContext gone;
  gone.cancelled = [] { return true; };
  EXPECT_EQ(store_->ApplyDeltas(r, gone).status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  EXPECT_THAT(Search("late"), IsEmpty());
}

// The caller's deadline reaches the database: a statement stuck waiting is
// cancelled when the caller's time is up, and lease renewals never wait
// behind catalog writes.
TEST_F(PgStoreTest, DeadlineCancelsAStuckStatementAndRenewalsGoAhead) {
  // Another session holds the writers' turn, as a long batch would.
  pqxx::connection blocker(db_->dsn());
  pqxx::work hold(blocker);
  hold.exec("SELECT pg_advisory_xact_lock(6085048600822284291)");  // the writers' turn
  index::PublishDeltasRequest r;
  r.set_supernode_id(Node(1));
  *r.add_deltas() = Delta(1, {File(1, "waits.txt")});
  CallContext call;
  call.deadline = absl::Now() + absl::Milliseconds(300);
  const absl::Time start = absl::Now();
  absl::StatusOr<index::PublishDeltasResponse> result = store_->ApplyDeltas(r, call);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDeadlineExceeded)
      << result.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  // Renewals have connections of their own and no turn to wait for.
  CallContext quick;
  quick.deadline = absl::Now() + absl::Seconds(2);
  EXPECT_TRUE(store_->RenewLease(Node(1), "", 3, absl::Seconds(60), quick).ok());
  hold.abort();
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kNotFound);
  MustPublish(1, {Delta(1, {File(1, "now.txt")})});
  EXPECT_EQ(LocateCode(1), absl::StatusCode::kOk);
}

}  // namespace
}  // namespace index_server
}  // namespace trove
