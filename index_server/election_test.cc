#include "index_server/election.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::ElementsAre;

std::string Id(int n) { return absl::StrFormat("%064x", n); }

// A world of peers and supernodes the test changes as time passes on a
// fake clock; each round feeds the decision back as the index would.
class ElectionTest : public ::testing::Test {
 protected:
  ElectionTest() {
    params_.target_leaves_per_supernode = 10;
    params_.min_supernodes = 2;
    params_.min_uptime = absl::Minutes(5);
    params_.min_tenure = absl::Minutes(10);
    params_.report_ttl = absl::Seconds(90);
    params_.registration_grace = absl::Seconds(60);
    params_.drain = absl::Seconds(30);
    params_.max_promotions_per_round = 4;
  }

  PeerReport& AddPeer(int n, int64_t bandwidth = 1 << 20,
                      absl::Duration uptime = absl::Hours(1),
                      bool reachable = true) {
    PeerReport p;
    p.peer_id = Id(n);
    p.upload_bytes_per_second = bandwidth;
    p.uptime = uptime;
    p.reachable = reachable;
    p.reported_at = clock_.Now();
    peers_.push_back(p);
    return peers_.back();
  }

  void AddPeers(int from, int count) {
    for (int i = 0; i < count; ++i) AddPeer(from + i);
  }

  void RemovePeers(int count) {
    // Never the supernodes' own peers, like leaves leaving.
    for (int i = 0; i < count && !peers_.empty(); ++i) {
      auto it = std::find_if(peers_.rbegin(), peers_.rend(),
                             [this](const PeerReport& p) {
                               return !IsSupernode(p.peer_id);
                             });
      if (it == peers_.rend()) return;
      peers_.erase(std::next(it).base());
    }
  }

  bool IsSupernode(const std::string& id) const {
    return std::any_of(supernodes_.begin(), supernodes_.end(),
                       [&](const SupernodeRecord& s) {
                         return s.supernode_id == id;
                       });
  }

  ElectionInput Input() {
    ElectionInput in;
    in.now = clock_.Now();
    // Fresh reports: every peer still there reports at every round.
    for (PeerReport& p : peers_) {
      p.uptime += in.now - p.reported_at;
      p.reported_at = in.now;
    }
    in.peers = peers_;
    // Leaves spread evenly over the serving supernodes.
    int serving = 0;
    for (const SupernodeRecord& s : supernodes_) serving += s.live && !s.draining();
    for (SupernodeRecord& s : supernodes_) {
      s.leaf_count = serving > 0 && s.live && !s.draining()
                         ? static_cast<int>(peers_.size()) / serving
                         : 0;
    }
    in.supernodes = supernodes_;
    return in;
  }

  // One round, applied: promoted peers come up at once (live), demoted
  // ones drain, retired ones go.
  ElectionDecision Round() {
    ElectionDecision d = Elect(Input(), params_);
    for (const std::string& id : d.promote) {
      SupernodeRecord s;
      s.supernode_id = id;
      s.live = true;
      s.since = clock_.Now();
      supernodes_.push_back(s);
    }
    for (const std::string& id : d.demote) {
      for (SupernodeRecord& s : supernodes_) {
        if (s.supernode_id == id) s.draining_since = clock_.Now();
      }
    }
    for (const std::string& id : d.retire) {
      supernodes_.erase(
          std::remove_if(supernodes_.begin(), supernodes_.end(),
                         [&](const SupernodeRecord& s) {
                           return s.supernode_id == id;
                         }),
          supernodes_.end());
    }
    return d;
  }

  int Serving() const {
    int n = 0;
    for (const SupernodeRecord& s : supernodes_) n += !s.draining();
    return n;
  }

  // Rounds every 10 s for `d`; returns every decision that changed roles.
  int RoleChangesOver(absl::Duration d) {
    int changes = 0;
    for (absl::Duration t; t < d; t += absl::Seconds(10)) {
      clock_.Advance(absl::Seconds(10));
      ElectionDecision dec = Round();
      changes += dec.promote.size() + dec.demote.size();
    }
    return changes;
  }

  FakeClock clock_;
  ElectionParams params_;
  std::vector<PeerReport> peers_;
  std::vector<SupernodeRecord> supernodes_;
};

TEST_F(ElectionTest, DefaultsAreValidAndInKaZaAsRange) {
  ElectionParams defaults;
  EXPECT_TRUE(ValidateElectionParams(defaults).ok());
  EXPECT_GE(defaults.target_leaves_per_supernode, 60);
  EXPECT_LE(defaults.target_leaves_per_supernode, 150);
  EXPECT_EQ(defaults.min_supernodes, 2);
}

TEST_F(ElectionTest, BadParamsAreRefusedByName) {
  ElectionParams p;
  p.target_leaves_per_supernode = 0;
  absl::Status s = ValidateElectionParams(p);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("target_leaves_per_supernode"), std::string::npos);
  p = ElectionParams();
  p.demote_load_fraction = 1.0;
  EXPECT_EQ(ValidateElectionParams(p).code(),
            absl::StatusCode::kInvalidArgument);
  p = ElectionParams();
  p.report_ttl = absl::ZeroDuration();
  EXPECT_EQ(ValidateElectionParams(p).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ElectionTest, NoPeersNoPromotion) {
  ElectionDecision d = Round();
  EXPECT_TRUE(d.promote.empty());
  EXPECT_EQ(d.wanted, 2);
  EXPECT_EQ(d.live_peers, 0);
}

TEST_F(ElectionTest, FirstPeersGiveTheMinimum) {
  AddPeers(1, 3);
  ElectionDecision d = Round();
  EXPECT_EQ(d.promote.size(), 2u);
  EXPECT_EQ(Serving(), 2);
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(Round().promote.empty()) << "two serve three peers";
}

TEST_F(ElectionTest, OneEligiblePeerIsPromotedAloneWhenTheMinimumCannotBeMet) {
  AddPeer(1);
  AddPeer(2, 1 << 20, absl::Hours(1), /*reachable=*/false);
  ElectionDecision d = Round();
  EXPECT_THAT(d.promote, ElementsAre(Id(1)));
  EXPECT_EQ(d.eligible_peers, 1);
}

TEST_F(ElectionTest, PromotesAtTheRightMomentsAsPeersArrive) {
  // Target 10: up to 20 peers two supernodes, 21 asks for a third, 31 a
  // fourth.
  AddPeers(1, 20);
  Round();
  EXPECT_EQ(Serving(), 2);
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(Round().promote.empty());
  AddPeers(100, 1);  // 21
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Round().promote.size(), 1u);
  EXPECT_EQ(Serving(), 3);
  AddPeers(200, 9);  // 30
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(Round().promote.empty());
  AddPeers(300, 1);  // 31
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Round().promote.size(), 1u);
  EXPECT_EQ(Serving(), 4);
}

TEST_F(ElectionTest, ACrowdIsPlacedOverRoundsOfBoundedPromotions) {
  AddPeers(1, 100);  // wants 10
  ElectionDecision d = Round();
  EXPECT_EQ(d.wanted, 10);
  EXPECT_EQ(d.promote.size(), 4u);
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Round().promote.size(), 4u);
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Round().promote.size(), 2u);
  EXPECT_EQ(Serving(), 10);
}

TEST_F(ElectionTest, PromotesTheBestPeerFirst) {
  AddPeer(1, 1 << 20, absl::Hours(1));
  AddPeer(2, 8 << 20, absl::Minutes(30));  // Most bandwidth.
  AddPeer(3, 1 << 20, absl::Hours(9));     // Longest uptime at 1 MiB/s.
  AddPeer(4, 0, absl::Hours(99));          // Bandwidth unknown.
  ElectionDecision d = Round();
  EXPECT_THAT(d.promote, ElementsAre(Id(2), Id(3)));
}

TEST_F(ElectionTest, SmallBandwidthDifferencesDoNotOutweighUptime) {
  PeerReport a, b;
  a.peer_id = Id(1);
  a.upload_bytes_per_second = 2000000;
  a.uptime = absl::Minutes(10);
  b.peer_id = Id(2);
  b.upload_bytes_per_second = 1100000;  // Same power of two.
  b.uptime = absl::Hours(10);
  a.reported_at = b.reported_at = clock_.Now();
  EXPECT_TRUE(BetterCandidate(b, a, clock_.Now()));
  EXPECT_FALSE(BetterCandidate(a, b, clock_.Now()));
}

TEST_F(ElectionTest, NeverPromotesFirewalledOrShortLivedPeers) {
  SupernodeRecord standalone;
  standalone.supernode_id = Id(900);
  standalone.permanent = true;
  standalone.live = true;
  supernodes_.push_back(standalone);
  AddPeer(1, 100 << 20, absl::Hours(5), /*reachable=*/false);
  AddPeer(2, 100 << 20, absl::Minutes(1));  // Too young.
  PeerReport& low_mem = AddPeer(3, 100 << 20, absl::Hours(5));
  low_mem.free_memory_bytes = 1 << 20;
  PeerReport& banned = AddPeer(4, 100 << 20, absl::Hours(5));
  banned.banned = true;
  // Many leaves ask for supernodes, but none of these may serve.
  for (int i = 0; i < 3; ++i) {
    ElectionDecision d = Round();
    EXPECT_TRUE(d.promote.empty()) << "round " << i;
    EXPECT_EQ(d.eligible_peers, 0);
    clock_.Advance(absl::Seconds(30));
  }
  // The young peer becomes eligible once it has run long enough; the
  // firewalled one never does.
  clock_.Advance(absl::Minutes(5));
  ElectionDecision d = Round();
  EXPECT_THAT(d.promote, ElementsAre(Id(2)));
}

TEST_F(ElectionTest, WithNoSupernodeAtAllTheFirstNeedOnlyABriefUptime) {
  AddPeer(1, 1 << 20, absl::Seconds(3));
  AddPeer(2, 1 << 20, absl::Seconds(2), /*reachable=*/false);
  EXPECT_TRUE(Round().promote.empty()) << "3 s is too brief even now";
  clock_.Advance(absl::Seconds(10));
  ElectionDecision d = Round();
  EXPECT_THAT(d.promote, ElementsAre(Id(1))) << "never the firewalled one";
  // With one serving, the second needs the full uptime.
  AddPeer(3, 1 << 20, absl::Seconds(30));
  clock_.Advance(absl::Seconds(10));
  EXPECT_TRUE(Round().promote.empty());
}

TEST_F(ElectionTest, AStaleReportCountsNeitherAsPeerNorCandidate) {
  PeerReport& p = AddPeer(1);
  p.reported_at = clock_.Now() - absl::Minutes(5);
  ElectionInput in;
  in.now = clock_.Now();
  in.peers = peers_;
  ElectionDecision d = Elect(in, params_);
  EXPECT_EQ(d.live_peers, 0);
  EXPECT_TRUE(d.promote.empty());
}

TEST_F(ElectionTest, RemovingLoadDemotesWithHysteresis) {
  AddPeers(1, 60);  // 6 supernodes
  for (int i = 0; i < 3; ++i) {
    Round();
    clock_.Advance(absl::Seconds(10));
  }
  ASSERT_EQ(Serving(), 6);
  // Load falls to 4 supernodes' worth: still above half the target for 5,
  // so nobody is demoted.
  RemovePeers(20);  // 40 peers
  EXPECT_EQ(RoleChangesOver(absl::Minutes(20)), 0);
  EXPECT_EQ(Serving(), 6);
  // 25 peers: 5 supernodes would serve them at half the target: one goes.
  RemovePeers(15);
  clock_.Advance(absl::Seconds(10));
  ElectionDecision d = Round();
  ASSERT_EQ(d.demote.size(), 1u);
  EXPECT_EQ(Serving(), 5);
  // One demotion per round at most, and never below the minimum.
  RemovePeers(25);
  RoleChangesOver(absl::Minutes(10));
  EXPECT_EQ(Serving(), 2);
}

TEST_F(ElectionTest, RolesDoNotFlapAroundTheTarget) {
  AddPeers(1, 20);
  Round();
  clock_.Advance(absl::Minutes(30));
  // Load oscillating around 2 supernodes' worth.
  int changes = 0;
  for (int i = 0; i < 40; ++i) {
    if (i % 2 == 0) {
      AddPeers(1000 + i, 2);  // 22: promotes once
    } else {
      RemovePeers(2);  // back to 20
    }
    clock_.Advance(absl::Minutes(1));
    ElectionDecision d = Round();
    changes += d.promote.size() + d.demote.size();
  }
  EXPECT_EQ(changes, 1) << "one promotion, then no demotion at 20 peers";
  EXPECT_EQ(Serving(), 3);
}

TEST_F(ElectionTest, AYoungSupernodeIsNotDemoted) {
  AddPeers(1, 30);
  Round();
  clock_.Advance(absl::Seconds(10));
  RemovePeers(28);
  // Within the tenure: no demotion whatever the load.
  EXPECT_EQ(RoleChangesOver(params_.min_tenure - absl::Seconds(20)), 0);
  EXPECT_EQ(RoleChangesOver(absl::Minutes(1)), 1);
}

TEST_F(ElectionTest, DemotesTheIdlestPromotedSupernodeNeverAPermanentOne) {
  SupernodeRecord permanent;
  permanent.supernode_id = Id(900);
  permanent.permanent = true;
  permanent.live = true;
  permanent.leaf_count = 0;
  permanent.since = clock_.Now() - absl::Hours(100);
  SupernodeRecord busy;
  busy.supernode_id = Id(901);
  busy.live = true;
  busy.leaf_count = 3;
  busy.since = clock_.Now() - absl::Hours(1);
  SupernodeRecord idle = busy;
  idle.supernode_id = Id(902);
  idle.leaf_count = 1;
  ElectionInput in;
  in.now = clock_.Now();
  in.supernodes = {permanent, busy, idle};
  AddPeers(1, 4);
  in.peers = peers_;
  ElectionDecision d = Elect(in, params_);
  EXPECT_THAT(d.demote, ElementsAre(Id(902)));
  // Only the permanent one and one promoted: the minimum holds.
  in.supernodes = {permanent, idle};
  EXPECT_TRUE(Elect(in, params_).demote.empty());
}

TEST_F(ElectionTest, PermanentSupernodesCountTowardsTheMinimum) {
  for (int i = 0; i < 2; ++i) {
    SupernodeRecord s;
    s.supernode_id = Id(900 + i);
    s.permanent = true;
    s.live = true;
    s.since = clock_.Now();
    supernodes_.push_back(s);
  }
  AddPeers(1, 15);
  EXPECT_TRUE(Round().promote.empty());
  // A dead permanent one does not count.
  supernodes_[0].live = false;
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(Round().promote.size(), 1u);
}

TEST_F(ElectionTest, APromotionThatNeverComesUpIsRetiredAndReplaced) {
  AddPeers(1, 3);
  ElectionDecision first = Round();
  ASSERT_EQ(first.promote.size(), 2u);
  // The first never registers.
  for (SupernodeRecord& s : supernodes_) {
    if (s.supernode_id == first.promote[0]) s.live = false;
  }
  clock_.Advance(absl::Seconds(30));
  EXPECT_TRUE(Round().retire.empty()) << "still within the grace period";
  clock_.Advance(params_.registration_grace);
  ElectionDecision d = Round();
  EXPECT_THAT(d.retire, ElementsAre(first.promote[0]));
  // The retired peer is a candidate again; the best one is chosen.
  ASSERT_EQ(d.promote.size(), 1u);
  EXPECT_EQ(Serving(), 2);
}

TEST_F(ElectionTest, ADemotedSupernodeDrainsThenRetires) {
  SupernodeRecord s;
  s.supernode_id = Id(5);
  s.since = clock_.Now() - absl::Hours(1);
  s.live = true;
  s.draining_since = clock_.Now();
  ElectionInput in;
  in.now = clock_.Now() + params_.drain - absl::Seconds(1);
  in.supernodes = {s};
  ElectionDecision d = Elect(in, params_);
  EXPECT_TRUE(d.retire.empty());
  EXPECT_EQ(d.serving, 0) << "a draining supernode takes no new leaves";
  in.now = clock_.Now() + params_.drain;
  EXPECT_THAT(Elect(in, params_).retire, ElementsAre(Id(5)));
}

TEST_F(ElectionTest, SameRowsInAnyOrderGiveTheSameDecision) {
  std::mt19937 rng(7);
  for (int i = 0; i < 40; ++i) {
    // Many exact ties: ids decide.
    AddPeer(i, int64_t{1} << (20 + i % 3), absl::Hours(1 + i % 4));
  }
  SupernodeRecord a;
  a.supernode_id = Id(500);
  a.live = true;
  a.since = clock_.Now() - absl::Hours(2);
  SupernodeRecord b = a;
  b.supernode_id = Id(501);
  b.live = false;
  b.since = clock_.Now() - absl::Hours(1);
  ElectionInput in;
  in.now = clock_.Now();
  in.peers = peers_;
  in.supernodes = {a, b};
  const ElectionDecision want = Elect(in, params_);
  ASSERT_FALSE(want.promote.empty());
  for (int trial = 0; trial < 20; ++trial) {
    ElectionInput shuffled = in;
    std::shuffle(shuffled.peers.begin(), shuffled.peers.end(), rng);
    std::shuffle(shuffled.supernodes.begin(), shuffled.supernodes.end(), rng);
    const ElectionDecision got = Elect(shuffled, params_);
    EXPECT_EQ(got.promote, want.promote);
    EXPECT_EQ(got.demote, want.demote);
    EXPECT_EQ(got.retire, want.retire);
    EXPECT_EQ(got.wanted, want.wanted);
  }
  // The best are peers 11, 23 and 35 (4 MiB/s, 4 hours): the smaller id
  // first.
  ASSERT_GE(want.promote.size(), 2u);
  EXPECT_EQ(want.promote[0], Id(11));
  EXPECT_EQ(want.promote[1], Id(23));
}

}  // namespace
}  // namespace index_server
}  // namespace trove
