#include "supernode/index_forwarder.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "supernode/fake_index.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

const char kSupernodeId[] =
    "5555555555555555555555555555555555555555555555555555555555555555";

std::string Cid(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'c') + hex;
}

std::string Peer(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'e') + hex;
}

FileEntry File(int cid) {
  FileEntry e;
  e.set_cid(Cid(cid));
  e.set_name(absl::StrCat("file", cid, ".bin"));
  e.set_size(cid);
  return e;
}

index::PeerDelta Delta(int peer, std::vector<int> added,
                       std::vector<int> removed = {}) {
  index::PeerDelta d;
  d.set_peer_id(Peer(peer));
  d.set_address(absl::StrCat("10.0.0.", peer, ":7000"));
  for (int c : added) *d.add_added() = File(c);
  for (int c : removed) d.add_removed(Cid(c));
  return d;
}

index::PeerDelta Full(int peer, std::vector<int> files) {
  index::PeerDelta d = Delta(peer, files);
  d.set_full(true);
  return d;
}

// A delta announcing `partial` files held in part (and `added` whole).
index::PeerDelta WithPartial(int peer, std::vector<int> added,
                             std::vector<int> partial, bool full = false) {
  index::PeerDelta d = Delta(peer, added);
  d.set_full(full);
  for (int c : partial) *d.add_partial() = File(c);
  return d;
}

index::PeerDelta Gone(int peer) {
  index::PeerDelta d;
  d.set_peer_id(Peer(peer));
  d.set_gone(true);
  return d;
}

std::vector<std::string> Cids(
    const google::protobuf::RepeatedPtrField<FileEntry>& files) {
  std::vector<std::string> out;
  for (const FileEntry& f : files) out.push_back(f.cid());
  return out;
}

class IndexForwarderTest : public ::testing::Test {
 protected:
  IndexForwarderTest() {
    IndexForwarder::Options options;
    options.supernode_id = kSupernodeId;
    options.address = "127.0.0.1:6000";
    options.batch_max_entries = 3;
    options.batch_max_delay = absl::Seconds(5);
    options.retry_initial = absl::Seconds(1);
    options.retry_max = absl::Seconds(8);
    Make(options);
  }

  void Make(IndexForwarder::Options options) {
    forwarder_ = std::make_unique<IndexForwarder>(options, &index_, &clock_);
    forwarder_->SetHooks(
        {[this] { return static_cast<int>(leaves_.size()); },
         [this] {
           ++resends_;
           for (const auto& [peer, files] : leaves_) {
             forwarder_->OnPeerDelta(Full(peer, files));
           }
         }});
  }

  // Registers (the first RunOnce does it).
  void Register() {
    forwarder_->RunOnce();
    ASSERT_TRUE(forwarder_->registered());
  }

  FakeClock clock_;
  FakeIndexClient index_;
  std::unique_ptr<IndexForwarder> forwarder_;
  // What the "registry" would resend: peer -> files.
  std::map<int, std::vector<int>> leaves_;
  int resends_ = 0;
};

TEST_F(IndexForwarderTest, RegistersAtStart) {
  forwarder_->RunOnce();
  EXPECT_TRUE(forwarder_->registered());
  EXPECT_EQ(index_.last_register().supernode_id(), kSupernodeId);
  EXPECT_EQ(index_.last_register().address(), "127.0.0.1:6000");
  EXPECT_EQ(resends_, 0);
}

TEST_F(IndexForwarderTest, FlushesWhenBatchIsFull) {
  Register();
  forwarder_->OnPeerDelta(Delta(1, {1, 2}));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("PublishDeltas"), 0);
  EXPECT_EQ(forwarder_->pending_entries(), 2u);
  forwarder_->OnPeerDelta(Delta(2, {3}));
  EXPECT_EQ(forwarder_->RunOnce(), absl::Seconds(10));  // next: renewal
  ASSERT_THAT(index_.published(), SizeIs(1));
  EXPECT_EQ(index_.published()[0].supernode_id(), kSupernodeId);
  EXPECT_THAT(index_.published()[0].deltas(), SizeIs(2));
  EXPECT_EQ(forwarder_->pending_entries(), 0u);
  EXPECT_THAT(index_.catalog(), SizeIs(2));
}

TEST_F(IndexForwarderTest, FlushesWhenOldestChangeIsOldEnough) {
  Register();
  forwarder_->OnPeerDelta(Delta(1, {1}));
  EXPECT_EQ(forwarder_->RunOnce(), absl::Seconds(5));
  clock_.Advance(absl::Seconds(3));
  forwarder_->OnPeerDelta(Delta(2, {2}));
  EXPECT_EQ(forwarder_->RunOnce(), absl::Seconds(2));
  EXPECT_EQ(index_.calls("PublishDeltas"), 0);
  clock_.Advance(absl::Seconds(2));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.published(), SizeIs(1));
  EXPECT_THAT(index_.published()[0].deltas(), SizeIs(2));
}

TEST_F(IndexForwarderTest, BigBacklogGoesInSeveralBatches) {
  Register();
  for (int p = 1; p <= 5; ++p) forwarder_->OnPeerDelta(Delta(p, {p}));
  forwarder_->RunOnce();
  forwarder_->RunOnce();
  // 3 then 2 (the rest is as old as the first, so it goes at once).
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.published(), SizeIs(2));
  EXPECT_THAT(index_.published()[0].deltas(), SizeIs(3));
  EXPECT_THAT(index_.published()[1].deltas(), SizeIs(2));
  EXPECT_THAT(index_.catalog(), SizeIs(5));
}

TEST_F(IndexForwarderTest, DeltasOfOnePeerCoalesce) {
  Register();
  forwarder_->OnPeerDelta(Delta(1, {1, 2}));
  forwarder_->OnPeerDelta(Delta(1, {}, {1}));
  forwarder_->OnPeerDelta(Delta(1, {1}, {2}));
  EXPECT_EQ(forwarder_->pending_peers(), 1u);
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.published(), SizeIs(1));
  ASSERT_THAT(index_.published()[0].deltas(), SizeIs(1));
  const index::PeerDelta d = index_.published()[0].deltas(0);
  EXPECT_FALSE(d.full());
  EXPECT_THAT(Cids(d.added()), ElementsAre(Cid(1)));
  EXPECT_THAT(d.removed(), ElementsAre(Cid(2)));
}

TEST_F(IndexForwarderTest, FullListReplacesPendingChanges) {
  Register();
  forwarder_->OnPeerDelta(Delta(1, {1}, {7}));
  forwarder_->OnPeerDelta(Full(1, {2}));
  forwarder_->OnPeerDelta(Delta(1, {3}, {2}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.published(), SizeIs(1));
  const index::PeerDelta d = index_.published()[0].deltas(0);
  EXPECT_TRUE(d.full());
  EXPECT_THAT(Cids(d.added()), ElementsAre(Cid(3)));
  EXPECT_THAT(d.removed(), IsEmpty());
}

TEST_F(IndexForwarderTest, GoneReplacesEverything) {
  Register();
  forwarder_->OnPeerDelta(Full(1, {1, 2}));
  forwarder_->OnPeerDelta(Gone(1));
  EXPECT_EQ(forwarder_->pending_entries(), 1u);
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  const index::PeerDelta d = index_.published()[0].deltas(0);
  EXPECT_TRUE(d.gone());
  EXPECT_THAT(d.added(), IsEmpty());
}

TEST_F(IndexForwarderTest, ChangesAfterGoneBecomeTheFullList) {
  Register();
  forwarder_->OnPeerDelta(Gone(1));
  forwarder_->OnPeerDelta(Delta(1, {4}, {5}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  const index::PeerDelta d = index_.published()[0].deltas(0);
  EXPECT_TRUE(d.full());
  EXPECT_FALSE(d.gone());
  EXPECT_THAT(Cids(d.added()), ElementsAre(Cid(4)));
}

TEST_F(IndexForwarderTest, PartialFilesAreForwarded) {
  Register();
  forwarder_->OnPeerDelta(WithPartial(1, {1}, {2, 3}));
  EXPECT_EQ(forwarder_->pending_entries(), 3u);
  forwarder_->RunOnce();  // 3 entries: a full batch
  ASSERT_THAT(index_.published(), SizeIs(1));
  const index::PeerDelta d = index_.published()[0].deltas(0);
  EXPECT_THAT(Cids(d.added()), ElementsAre(Cid(1)));
  EXPECT_THAT(Cids(d.partial()), ElementsAre(Cid(2), Cid(3)));
  EXPECT_THAT(index_.catalog(), ElementsAre(Pair(Peer(1), SizeIs(1))));
  EXPECT_THAT(index_.partials(), ElementsAre(Pair(Peer(1), SizeIs(2))));
}

TEST_F(IndexForwarderTest, CompletedDownloadMovesFromPartialToAdded) {
  Register();
  forwarder_->OnPeerDelta(WithPartial(1, {}, {1, 2}));
  forwarder_->OnPeerDelta(Delta(1, {1}));  // download of 1 finished
  forwarder_->OnPeerDelta(Delta(1, {}, {2}));  // download of 2 cancelled
  EXPECT_EQ(forwarder_->pending_peers(), 1u);
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.published(), SizeIs(1));
  const index::PeerDelta d = index_.published()[0].deltas(0);
  EXPECT_THAT(Cids(d.added()), ElementsAre(Cid(1)));
  EXPECT_THAT(d.partial(), IsEmpty());
  EXPECT_THAT(d.removed(), ElementsAre(Cid(2)));
  EXPECT_THAT(index_.partials(), IsEmpty());
  EXPECT_THAT(index_.catalog(), ElementsAre(Pair(Peer(1), SizeIs(1))));

  // Already sent: completing it later moves it too.
  forwarder_->OnPeerDelta(WithPartial(1, {}, {3}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  EXPECT_THAT(index_.partials(), ElementsAre(Pair(Peer(1), SizeIs(1))));
  forwarder_->OnPeerDelta(Delta(1, {3}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  EXPECT_THAT(index_.partials(), IsEmpty());
  EXPECT_THAT(index_.catalog(), ElementsAre(Pair(Peer(1), SizeIs(2))));
}

TEST_F(IndexForwarderTest, FullListReplacesPendingPartials) {
  Register();
  forwarder_->OnPeerDelta(WithPartial(1, {}, {1, 2}));
  forwarder_->OnPeerDelta(WithPartial(1, {3}, {4}, /*full=*/true));
  forwarder_->OnPeerDelta(WithPartial(1, {}, {5}, /*full=*/false));
  forwarder_->OnPeerDelta(Delta(1, {}, {4}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.published(), SizeIs(1));
  ASSERT_THAT(index_.published()[0].deltas(), SizeIs(1));
  const index::PeerDelta d = index_.published()[0].deltas(0);
  EXPECT_TRUE(d.full());
  EXPECT_THAT(Cids(d.added()), ElementsAre(Cid(3)));
  EXPECT_THAT(Cids(d.partial()), ElementsAre(Cid(5)));
  EXPECT_THAT(d.removed(), IsEmpty());
  // Gone drops pending partials too; changes after it become the full list.
  forwarder_->OnPeerDelta(Gone(1));
  forwarder_->OnPeerDelta(WithPartial(1, {}, {6}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  const index::PeerDelta d2 = index_.published().back().deltas(0);
  EXPECT_TRUE(d2.full());
  EXPECT_THAT(d2.added(), IsEmpty());
  EXPECT_THAT(Cids(d2.partial()), ElementsAre(Cid(6)));
  EXPECT_THAT(index_.partials(),
              ElementsAre(Pair(Peer(1), ElementsAre(Pair(Cid(6), _)))));
  EXPECT_THAT(index_.catalog(), IsEmpty());
}

TEST_F(IndexForwarderTest, PartialFilesCountTowardsSplitting) {
  IndexForwarder::Options options;
  options.supernode_id = kSupernodeId;
  options.address = "127.0.0.1:6000";
  options.batch_max_entries = 100;
  options.max_files_per_delta = 2;
  Make(options);
  Register();
  forwarder_->OnPeerDelta(WithPartial(1, {1}, {2, 3}, /*full=*/true));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.published(), SizeIs(1));
  const index::PublishDeltasRequest sent = index_.published()[0];
  ASSERT_THAT(sent.deltas(), SizeIs(2));
  EXPECT_TRUE(sent.deltas(0).full());
  EXPECT_THAT(Cids(sent.deltas(0).added()), ElementsAre(Cid(1)));
  EXPECT_THAT(Cids(sent.deltas(0).partial()), ElementsAre(Cid(2)));
  EXPECT_FALSE(sent.deltas(1).full());
  EXPECT_THAT(Cids(sent.deltas(1).partial()), ElementsAre(Cid(3)));
  EXPECT_THAT(index_.partials(), ElementsAre(Pair(Peer(1), SizeIs(2))));
}

TEST_F(IndexForwarderTest, RestartWithinTheLeaseStartsAfresh) {
  // The first process publishes peer 1, then dies without a word.
  Register();
  forwarder_->OnPeerDelta(Full(1, {1}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.catalog(), SizeIs(1));
  // The same supernode (same id) starts again while its lease still runs:
  // registering drops what it published; its leaves publish again.
  IndexForwarder::Options options;
  options.supernode_id = kSupernodeId;
  options.address = "127.0.0.1:6000";
  options.batch_max_delay = absl::Seconds(5);
  Make(options);
  forwarder_->OnPeerDelta(Full(2, {2}));  // a leaf joined before registering
  Register();
  EXPECT_EQ(resends_, 0);  // first registration: everything is pending
  EXPECT_THAT(index_.catalog(), IsEmpty());
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  EXPECT_THAT(index_.catalog(), ElementsAre(Pair(Peer(2), SizeIs(1))));
}

TEST_F(IndexForwarderTest, RenewsOnTheIndexInterval) {
  Register();
  leaves_[1] = {1};
  clock_.Advance(absl::Seconds(9));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("RenewLease"), 0);
  clock_.Advance(absl::Seconds(1));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("RenewLease"), 1);
  EXPECT_EQ(index_.calls("RegisterSupernode"), 1);
}

TEST_F(IndexForwarderTest, ReRegistersAndResendsAfterLeaseLost) {
  Register();
  leaves_[1] = {1, 2};
  leaves_[2] = {3};
  forwarder_->OnPeerDelta(Full(1, {1, 2}));
  forwarder_->OnPeerDelta(Full(2, {3}));
  forwarder_->RunOnce();
  ASSERT_THAT(index_.catalog(), SizeIs(2));

  index_.ForgetEverything();  // the index restarted after an outage
  clock_.Advance(absl::Seconds(10));
  forwarder_->RunOnce();  // renewal: NOT_FOUND
  EXPECT_FALSE(forwarder_->registered());
  forwarder_->RunOnce();  // registers again and resends
  EXPECT_TRUE(forwarder_->registered());
  EXPECT_EQ(index_.calls("RegisterSupernode"), 2);
  EXPECT_EQ(resends_, 1);
  forwarder_->RunOnce();
  EXPECT_THAT(index_.catalog(),
              UnorderedElementsAre(Pair(Peer(1), SizeIs(2)),
                                   Pair(Peer(2), SizeIs(1))));
  EXPECT_EQ(forwarder_->stats().resyncs, 1);
}

TEST_F(IndexForwarderTest, PublishWithoutLeaseReRegisters) {
  Register();
  leaves_[1] = {1};
  index_.ForgetEverything();
  forwarder_->OnPeerDelta(Delta(1, {1}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();  // FAILED_PRECONDITION
  EXPECT_FALSE(forwarder_->registered());
  EXPECT_EQ(forwarder_->pending_entries(), 1u);
  forwarder_->RunOnce();  // registers, resends, publishes
  forwarder_->RunOnce();
  EXPECT_EQ(resends_, 1);
  EXPECT_THAT(index_.catalog(), ElementsAre(Pair(Peer(1), SizeIs(1))));
}

TEST_F(IndexForwarderTest, KeepsChangesAndRetriesWhileIndexIsDown) {
  Register();
  index_.SetUnavailable(true);
  forwarder_->OnPeerDelta(Full(1, {1, 2}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("PublishDeltas"), 1);
  EXPECT_EQ(forwarder_->pending_entries(), 2u);
  // More changes fold into the failed batch.
  forwarder_->OnPeerDelta(Delta(1, {3}, {1}));
  forwarder_->OnPeerDelta(Delta(2, {4}));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("PublishDeltas"), 1);  // backing off for 1s
  clock_.Advance(absl::Seconds(1));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("PublishDeltas"), 2);
  clock_.Advance(absl::Seconds(1));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("PublishDeltas"), 2);  // now 2s
  clock_.Advance(absl::Seconds(1));
  index_.SetUnavailable(false);
  forwarder_->RunOnce();
  forwarder_->RunOnce();
  EXPECT_EQ(forwarder_->pending_entries(), 0u);
  std::map<std::string, std::map<std::string, FileEntry>> catalog =
      index_.catalog();
  ASSERT_THAT(catalog, SizeIs(2));
  EXPECT_THAT(catalog[Peer(1)],
              ElementsAre(Pair(Cid(2), ::testing::_), Pair(Cid(3), ::testing::_)));
  EXPECT_THAT(catalog[Peer(2)], ElementsAre(Pair(Cid(4), ::testing::_)));
  EXPECT_EQ(resends_, 0);  // the lease held: nothing to resend
}

TEST_F(IndexForwarderTest, EveryAttemptCarriesTheGenerationAndANewNumber) {
  Register();
  forwarder_->OnPeerDelta(Full(1, {1, 2, 3}));
  forwarder_->RunOnce();  // attempt 1
  index_.SetUnavailable(true);
  forwarder_->OnPeerDelta(Full(2, {4, 5, 6}));
  forwarder_->RunOnce();  // attempt 2 fails
  index_.SetUnavailable(false);
  clock_.Advance(absl::Seconds(1));
  forwarder_->RunOnce();  // attempt 3: the retry
  std::vector<index::PublishDeltasRequest> sent = index_.published();
  ASSERT_THAT(sent, SizeIs(2));
  EXPECT_EQ(sent[0].generation(), 1);
  EXPECT_EQ(sent[0].batch(), 1);
  EXPECT_EQ(sent[1].generation(), 1);
  EXPECT_EQ(sent[1].batch(), 3);
  // A new registration: a new generation.
  index_.ForgetEverything();
  forwarder_->OnPeerDelta(Full(3, {7, 8, 9}));
  forwarder_->RunOnce();  // refused for want of a lease
  forwarder_->RunOnce();  // registers again, sends
  forwarder_->RunOnce();
  sent = index_.published();
  ASSERT_GE(sent.size(), 3u);
  EXPECT_EQ(sent.back().generation(), 2);
  EXPECT_GT(sent.back().batch(), 3);
}

TEST_F(IndexForwarderTest, RegistrationRetriesWithBackoff) {
  index_.SetUnavailable(true);
  forwarder_->OnPeerDelta(Delta(1, {1}));
  EXPECT_EQ(forwarder_->RunOnce(), absl::Seconds(1));
  EXPECT_FALSE(forwarder_->registered());
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(forwarder_->RunOnce(), absl::Seconds(2));
  EXPECT_EQ(index_.calls("RegisterSupernode"), 2);
  EXPECT_EQ(index_.calls("PublishDeltas"), 0);
  index_.SetUnavailable(false);
  clock_.Advance(absl::Seconds(2));
  forwarder_->RunOnce();
  EXPECT_TRUE(forwarder_->registered());
  EXPECT_EQ(resends_, 0);  // first registration: pending changes suffice
  EXPECT_THAT(index_.catalog(), IsEmpty());  // 3s old; the delay is 5s
  clock_.Advance(absl::Seconds(2));
  forwarder_->RunOnce();
  EXPECT_THAT(index_.catalog(), SizeIs(1));
}

TEST_F(IndexForwarderTest, RenewalFailureKeepsLeaseAndRetries) {
  Register();
  index_.SetUnavailable(true);
  clock_.Advance(absl::Seconds(10));
  forwarder_->RunOnce();
  EXPECT_TRUE(forwarder_->registered());
  index_.SetUnavailable(false);
  clock_.Advance(absl::Seconds(1));
  forwarder_->RunOnce();
  EXPECT_EQ(index_.calls("RenewLease"), 2);
  EXPECT_EQ(index_.calls("RegisterSupernode"), 1);
}

TEST_F(IndexForwarderTest, RefusedDeltaIsDroppedAndOthersGo) {
  Register();
  index::PeerDelta bad = Delta(1, {1});
  bad.set_peer_id("not-a-peer");
  forwarder_->OnPeerDelta(bad);
  forwarder_->OnPeerDelta(Delta(2, {2}));
  forwarder_->OnPeerDelta(Delta(3, {3}));
  forwarder_->RunOnce();
  EXPECT_EQ(forwarder_->pending_entries(), 0u);
  EXPECT_THAT(index_.catalog(), SizeIs(2));
  EXPECT_EQ(forwarder_->stats().deltas_rejected, 1);
}

TEST_F(IndexForwarderTest, PassesOnHowLongTheIndexKnewAPeer) {
  std::map<std::string, absl::Time> learned;
  IndexForwarder::Options options;
  options.supernode_id = kSupernodeId;
  options.address = "127.0.0.1:6000";
  forwarder_ = std::make_unique<IndexForwarder>(options, &index_, &clock_);
  IndexForwarder::Hooks hooks;
  hooks.leaf_count = [] { return 2; };
  hooks.resend_all = [] {};
  hooks.known_since = [&](const std::string& peer, absl::Time since) {
    learned[peer] = since;
  };
  forwarder_->SetHooks(hooks);
  Register();
  const absl::Time long_ago = absl::FromUnixSeconds(1600000000);
  index_.SetKnownSince(Peer(1), long_ago);
  index_.SetKnownSince(Peer(2), long_ago);
  // Only a full list is answered with the peer's standing.
  forwarder_->OnPeerDelta(Full(1, {1}));
  forwarder_->OnPeerDelta(Delta(2, {2}));
  clock_.Advance(absl::Seconds(10));
  forwarder_->RunOnce();
  ASSERT_EQ(forwarder_->pending_entries(), 0u);
  EXPECT_THAT(learned, ElementsAre(Pair(Peer(1), long_ago)));
}

TEST_F(IndexForwarderTest, TooMuchPendingIsReplacedByFullLists) {
  IndexForwarder::Options options;
  options.supernode_id = kSupernodeId;
  options.address = "127.0.0.1:6000";
  options.batch_max_entries = 1000;
  options.max_pending_entries = 10;
  Make(options);
  Register();
  index_.SetUnavailable(true);
  leaves_[1] = {100};
  for (int i = 0; i < 12; ++i) forwarder_->OnPeerDelta(Delta(1, {i}, {i + 50}));
  EXPECT_GT(forwarder_->pending_entries(), 10u);
  forwarder_->RunOnce();
  EXPECT_EQ(resends_, 1);
  EXPECT_EQ(forwarder_->pending_entries(), 1u);
  index_.SetUnavailable(false);
  clock_.Advance(absl::Seconds(30));
  forwarder_->RunOnce();
  EXPECT_THAT(index_.catalog(),
              ElementsAre(Pair(Peer(1), ElementsAre(Pair(Cid(100), ::testing::_)))));
}

TEST_F(IndexForwarderTest, LongListsAreSplitIntoDeltasOfOneCall) {
  IndexForwarder::Options options;
  options.supernode_id = kSupernodeId;
  options.address = "127.0.0.1:6000";
  options.batch_max_entries = 100;
  options.max_files_per_delta = 2;
  options.max_deltas_per_batch = 4;
  Make(options);
  Register();
  forwarder_->OnPeerDelta(Full(1, {1, 2, 3, 4, 5}));
  forwarder_->OnPeerDelta(Delta(2, {6}, {7, 8, 9}));
  clock_.Advance(absl::Seconds(5));
  forwarder_->RunOnce();
  forwarder_->RunOnce();
  std::vector<index::PublishDeltasRequest> sent = index_.published();
  ASSERT_THAT(sent, SizeIs(2));  // 3 deltas for peer 1, 2 for peer 2
  ASSERT_THAT(sent[0].deltas(), SizeIs(3));
  EXPECT_TRUE(sent[0].deltas(0).full());
  EXPECT_THAT(Cids(sent[0].deltas(0).added()), ElementsAre(Cid(1), Cid(2)));
  EXPECT_FALSE(sent[0].deltas(1).full());
  EXPECT_THAT(Cids(sent[0].deltas(1).added()), ElementsAre(Cid(3), Cid(4)));
  EXPECT_THAT(Cids(sent[0].deltas(2).added()), ElementsAre(Cid(5)));
  ASSERT_THAT(sent[1].deltas(), SizeIs(2));
  EXPECT_THAT(sent[1].deltas(0).removed(), ElementsAre(Cid(7), Cid(8)));
  EXPECT_THAT(sent[1].deltas(1).removed(), ElementsAre(Cid(9)));
  EXPECT_THAT(Cids(sent[1].deltas(1).added()), ElementsAre(Cid(6)));
  EXPECT_THAT(index_.catalog(), UnorderedElementsAre(Pair(Peer(1), SizeIs(5)),
                                                     Pair(Peer(2), SizeIs(1))));
}

TEST_F(IndexForwarderTest, StopFlushesPending) {
  Register();
  forwarder_->OnPeerDelta(Delta(1, {1}));
  forwarder_->Stop(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(forwarder_->pending_entries(), 0u);
  EXPECT_THAT(index_.catalog(), SizeIs(1));
}

TEST_F(IndexForwarderTest, StopEndsTheLeaseAfterTheFlush) {
  Register();
  forwarder_->OnPeerDelta(Delta(1, {1}));
  forwarder_->Stop(absl::Now() + absl::Seconds(5));
  EXPECT_THAT(index_.catalog(), SizeIs(1));
  EXPECT_EQ(index_.calls("EndLease"), 1);
  // The index no longer knows it: a renewal would be refused.
  index::RenewLeaseRequest renew;
  renew.set_supernode_id(kSupernodeId);
  EXPECT_TRUE(absl::IsNotFound(
      index_.RenewLease(renew, absl::Seconds(1)).status()));
}

TEST_F(IndexForwarderTest, StopGivesUpAtTheDeadline) {
  Register();
  index_.SetUnavailable(true);
  forwarder_->OnPeerDelta(Delta(1, {1}));
  forwarder_->Stop(absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(forwarder_->pending_entries(), 1u);
}

TEST_F(IndexForwarderTest, KnowsOtherSupernodes) {
  index::SupernodeInfo self, other;
  self.set_supernode_id(kSupernodeId);
  self.set_address("127.0.0.1:6000");
  other.set_supernode_id(std::string(64, '7'));
  other.set_address("127.0.0.1:6001");
  index_.SetSupernodes({self, other});
  Register();
  std::vector<index::SupernodeInfo> others = forwarder_->other_supernodes();
  ASSERT_THAT(others, SizeIs(1));
  EXPECT_EQ(others[0].address(), "127.0.0.1:6001");
}

TEST_F(IndexForwarderTest, BackgroundThreadPublishes) {
  // With the real clock and a short delay.
  IndexForwarder::Options options;
  options.supernode_id = kSupernodeId;
  options.address = "127.0.0.1:6000";
  options.batch_max_entries = 1000;
  options.batch_max_delay = absl::Milliseconds(20);
  forwarder_ = std::make_unique<IndexForwarder>(options, &index_,
                                                Clock::Real());
  forwarder_->Start();
  forwarder_->OnPeerDelta(Delta(1, {1}));
  for (int i = 0; i < 500 && index_.catalog().empty(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(index_.catalog(), SizeIs(1));
  forwarder_->Stop(absl::Now() + absl::Seconds(1));
}

}  // namespace
}  // namespace supernode
}  // namespace trove
