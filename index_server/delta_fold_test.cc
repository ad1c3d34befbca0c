#include "index_server/delta_fold.h"

#include <deque>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Scenario builder: short cids and peer ids keep the tests readable (the
// fold does not validate).
class Batch {
 public:
  Batch& Add(const std::string& peer, std::vector<std::string> cids,
             bool full = false) {
    index::PeerDelta* d = deltas_.Add();
    d->set_peer_id(peer);
    d->set_address(peer + ":1");
    d->set_full(full);
    for (const std::string& cid : cids) {
      FileEntry* e = d->add_added();
      e->set_cid(cid);
      e->set_name(cid + ".txt");
      e->set_size(cid.size());
    }
    return *this;
  }
  Batch& Remove(const std::string& peer, std::vector<std::string> cids) {
    index::PeerDelta* d = deltas_.Add();
    d->set_peer_id(peer);
    d->set_address(peer + ":2");
    for (const std::string& cid : cids) d->add_removed(cid);
    return *this;
  }
  Batch& Partial(const std::string& peer, std::vector<std::string> cids,
                 bool full = false) {
    index::PeerDelta* d = deltas_.Add();
    d->set_peer_id(peer);
    d->set_address(peer + ":3");
    d->set_full(full);
    for (const std::string& cid : cids) {
      FileEntry* e = d->add_partial();
      e->set_cid(cid);
      e->set_name(cid + ".part");
      e->set_size(cid.size());
    }
    return *this;
  }
  Batch& Gone(const std::string& peer) {
    index::PeerDelta* d = deltas_.Add();
    d->set_peer_id(peer);
    d->set_gone(true);
    d->set_address("ignored:1");
    d->add_removed("ignored");
    return *this;
  }
  // The changes point into the folded deltas: a copy of them stays for the
  // test binary's life, so that a temporary Batch can be folded.
  std::vector<PeerChange> Fold() const {
    static auto* folded =
        new std::deque<google::protobuf::RepeatedPtrField<index::PeerDelta>>;
    return FoldDeltas(folded->emplace_back(deltas_));
  }

 private:
  google::protobuf::RepeatedPtrField<index::PeerDelta> deltas_;
};

std::vector<std::string> Cids(const PeerChange& c) {
  std::vector<std::string> out;
  for (const FileEntry* e : c.upserts) out.push_back(e->cid());
  return out;
}

std::vector<std::string> PartialCids(const PeerChange& c) {
  std::vector<std::string> out;
  for (const FileEntry* e : c.partials) out.push_back(e->cid());
  return out;
}

TEST(FoldDeltasTest, OnePeerPerChangeInFirstSeenOrder) {
  std::vector<PeerChange> out =
      Batch().Add("p2", {"a"}).Add("p1", {"b"}).Add("p2", {"c"}).Fold();
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].peer_id, "p2");
  EXPECT_THAT(Cids(out[0]), ElementsAre("a", "c"));
  EXPECT_FALSE(out[0].replace);
  EXPECT_EQ(out[1].peer_id, "p1");
  EXPECT_THAT(Cids(out[1]), ElementsAre("b"));
}

TEST(FoldDeltasTest, AddThenRemoveCancels) {
  std::vector<PeerChange> out =
      Batch().Add("p", {"a", "b"}).Remove("p", {"a", "z"}).Fold();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(Cids(out[0]), ElementsAre("b"));
  EXPECT_THAT(out[0].removals, ElementsAre("a", "z"));
  EXPECT_EQ(out[0].address, "p:2");
}

TEST(FoldDeltasTest, RemoveThenAddKeeps) {
  std::vector<PeerChange> out =
      Batch().Remove("p", {"a"}).Add("p", {"a"}).Fold();
  EXPECT_THAT(Cids(out[0]), ElementsAre("a"));
  EXPECT_THAT(out[0].removals, IsEmpty());
}

TEST(FoldDeltasTest, FullReplacesEarlierChanges) {
  std::vector<PeerChange> out = Batch()
                                    .Add("p", {"a"})
                                    .Remove("p", {"x"})
                                    .Add("p", {"b", "c"}, /*full=*/true)
                                    .Remove("p", {"c"})
                                    .Fold();
  EXPECT_TRUE(out[0].replace);
  EXPECT_FALSE(out[0].gone);
  EXPECT_THAT(Cids(out[0]), ElementsAre("b"));
  EXPECT_THAT(out[0].removals, IsEmpty());
}

TEST(FoldDeltasTest, GoneWithdrawsEverything) {
  std::vector<PeerChange> out = Batch().Add("p", {"a"}).Gone("p").Fold();
  EXPECT_TRUE(out[0].gone);
  EXPECT_THAT(out[0].upserts, IsEmpty());
  EXPECT_THAT(out[0].removals, IsEmpty());
  EXPECT_EQ(out[0].address, "");
}

TEST(FoldDeltasTest, ChangesAfterGoneReplace) {
  std::vector<PeerChange> out =
      Batch().Gone("p").Add("p", {"a"}).Remove("p", {"b"}).Fold();
  EXPECT_FALSE(out[0].gone);
  EXPECT_TRUE(out[0].replace);
  EXPECT_THAT(Cids(out[0]), ElementsAre("a"));
  EXPECT_THAT(out[0].removals, IsEmpty());
}

TEST(FoldDeltasTest, DuplicateCidLastWins) {
  index::PeerDelta d;
  d.set_peer_id("p");
  FileEntry* e1 = d.add_added();
  e1->set_cid("a");
  e1->set_name("old.txt");
  FileEntry* e2 = d.add_added();
  e2->set_cid("a");
  e2->set_name("new.txt");
  google::protobuf::RepeatedPtrField<index::PeerDelta> deltas;
  *deltas.Add() = d;
  std::vector<PeerChange> out = FoldDeltas(deltas);
  ASSERT_EQ(out[0].upserts.size(), 1u);
  EXPECT_EQ(out[0].upserts[0]->name(), "new.txt");
}

TEST(FoldDeltasTest, PartialsAreKeptApartFromCompleteFiles) {
  std::vector<PeerChange> out =
      Batch().Partial("p", {"b", "a"}).Add("p", {"c"}).Fold();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_THAT(PartialCids(out[0]), ElementsAre("a", "b"));
  EXPECT_THAT(Cids(out[0]), ElementsAre("c"));
  EXPECT_EQ(out[0].partials[0]->name(), "a.part");
  EXPECT_FALSE(out[0].replace);
}

TEST(FoldDeltasTest, CompletedDownloadMovesFromPartialToAdded) {
  std::vector<PeerChange> out =
      Batch().Partial("p", {"a", "b"}).Add("p", {"a"}).Fold();
  EXPECT_THAT(PartialCids(out[0]), ElementsAre("b"));
  EXPECT_THAT(Cids(out[0]), ElementsAre("a"));
}

TEST(FoldDeltasTest, AddedWinsOverPartialInOneDelta) {
  google::protobuf::RepeatedPtrField<index::PeerDelta> deltas;
  index::PeerDelta* d = deltas.Add();
  d->set_peer_id("p");
  d->add_added()->set_cid("a");
  d->add_partial()->set_cid("a");
  d->add_partial()->set_cid("b");
  std::vector<PeerChange> out = FoldDeltas(deltas);
  EXPECT_THAT(Cids(out[0]), ElementsAre("a"));
  EXPECT_THAT(PartialCids(out[0]), ElementsAre("b"));
}

TEST(FoldDeltasTest, RemovalWithdrawsAPartial) {
  std::vector<PeerChange> out =
      Batch().Partial("p", {"a"}).Remove("p", {"a"}).Fold();
  EXPECT_THAT(out[0].partials, IsEmpty());
  EXPECT_THAT(out[0].removals, ElementsAre("a"));
  // Removed, then partial again (a re-download): partial, not removed.
  out = Batch().Add("p", {"a"}).Remove("p", {"a"}).Partial("p", {"a"}).Fold();
  EXPECT_THAT(out[0].upserts, IsEmpty());
  EXPECT_THAT(PartialCids(out[0]), ElementsAre("a"));
  EXPECT_THAT(out[0].removals, IsEmpty());
}

TEST(FoldDeltasTest, FullListReplacesEarlierPartials) {
  std::vector<PeerChange> out = Batch()
                                    .Partial("p", {"a", "b"})
                                    .Partial("p", {"c"}, /*full=*/true)
                                    .Fold();
  EXPECT_TRUE(out[0].replace);
  EXPECT_THAT(PartialCids(out[0]), ElementsAre("c"));
  EXPECT_THAT(out[0].upserts, IsEmpty());
  out = Batch().Partial("p", {"a"}).Gone("p").Fold();
  EXPECT_TRUE(out[0].gone);
  EXPECT_THAT(out[0].partials, IsEmpty());
}

}  // namespace
}  // namespace index_server
}  // namespace trove
