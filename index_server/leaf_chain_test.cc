#include "index_server/leaf_chain.h"

#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

ChainLink Full(int64_t seq) { return {seq, 0, true, false}; }
ChainLink Delta(int64_t seq, int64_t prev) { return {seq, prev, false, false}; }
ChainLink Gone(int64_t seq) { return {seq, 0, false, true}; }

TEST(LeafChainTest, FullThenDeltasInOrder) {
  ASSERT_TRUE(CheckLink(nullptr, Full(10)).ok());
  ChainState s = Advance(nullptr, Full(10));
  ASSERT_TRUE(CheckLink(&s, Delta(11, 10)).ok());
  s = Advance(&s, Delta(11, 10));
  EXPECT_TRUE(CheckLink(&s, Delta(15, 11)).ok());
}

TEST(LeafChainTest, DeltaWithoutFullIsRefused) {
  EXPECT_EQ(CheckLink(nullptr, Delta(11, 10)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LeafChainTest, GapIsRefused) {
  ChainState s = Advance(nullptr, Full(10));
  EXPECT_EQ(CheckLink(&s, Delta(12, 11)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(LeafChainTest, ReplayIsRefused) {
  ChainState s = Advance(nullptr, Full(10));
  s = Advance(&s, Delta(11, 10));
  EXPECT_EQ(CheckLink(&s, Delta(11, 10)).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CheckLink(&s, Full(10)).code(), absl::StatusCode::kAlreadyExists);
}

TEST(LeafChainTest, ReorderedDeltasAreRefused) {
  ChainState s = Advance(nullptr, Full(10));
  // 12 (after 11) arrives before 11.
  EXPECT_EQ(CheckLink(&s, Delta(12, 11)).code(),
            absl::StatusCode::kFailedPrecondition);
  s = Advance(&s, Delta(11, 10));
  s = Advance(&s, Delta(12, 11));
  // 11 arriving late is a replay.
  EXPECT_EQ(CheckLink(&s, Delta(11, 10)).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST(LeafChainTest, NewerFullAlwaysApplies) {
  ChainState s = Advance(nullptr, Full(10));
  s = Advance(&s, Delta(11, 10));
  EXPECT_TRUE(CheckLink(&s, Full(20)).ok());
}

TEST(LeafChainTest, WithdrawnPeerTakesItsLastFullAgainButNothingOlder) {
  ChainState s = Advance(nullptr, Full(5));
  s = Advance(&s, Full(10));
  s = Advance(&s, Delta(11, 10));
  s.withdrawn = true;  // the supernode re-registered
  EXPECT_EQ(CheckLink(&s, Delta(12, 11)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(CheckLink(&s, Full(5)).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(CheckLink(&s, Full(10)).ok());
  s = Advance(&s, Full(10));
  EXPECT_FALSE(s.withdrawn);
  // The chain continues from the replayed full list: the deltas after it
  // replay in order, and only in order.
  EXPECT_EQ(CheckLink(&s, Delta(12, 11)).code(),
            absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(CheckLink(&s, Delta(11, 10)).ok());
}

TEST(LeafChainTest, GoneCannotBeUndoneByAReplayedFull) {
  ChainState s = Advance(nullptr, Full(10));
  ASSERT_TRUE(CheckLink(&s, Gone(11)).ok());
  s = Advance(&s, Gone(11));
  EXPECT_EQ(CheckLink(&s, Full(10)).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(CheckLink(&s, Delta(12, 11)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(CheckLink(&s, Full(12)).ok());
}

}  // namespace
}  // namespace index_server
}  // namespace trove
