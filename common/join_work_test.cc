#include "common/join_work.h"

#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace {

const std::string kNonce(32, 'n');
const std::string kKey(32, 'k');

TEST(JoinWorkTest, SolvedWorkMeetsItsBitsAndNoOther) {
  for (int bits : {1, 4, 8, 12}) {
    const std::string work = SolveJoinWork(kNonce, kKey, bits);
    ASSERT_EQ(work.size(), 8u);
    EXPECT_TRUE(JoinWorkMeets(kNonce, kKey, work, bits)) << bits;
  }
  // Bound to the nonce and the key.
  const std::string work = SolveJoinWork(kNonce, kKey, 12);
  EXPECT_FALSE(JoinWorkMeets(std::string(32, 'm'), kKey, work, 12));
  EXPECT_FALSE(JoinWorkMeets(kNonce, std::string(32, 'j'), work, 12));
}

TEST(JoinWorkTest, WorkForFewBitsRarelyMeetsMany) {
  // Of 64 solutions for 1 bit, about 1 in 2^12 meets 12 bits: almost none.
  int also = 0;
  for (int i = 0; i < 64; ++i) {
    const std::string nonce = std::string(31, 'n') + static_cast<char>(i);
    also += JoinWorkMeets(nonce, kKey, SolveJoinWork(nonce, kKey, 1), 12);
  }
  EXPECT_LE(also, 2);
}

TEST(JoinWorkTest, NoBitsNoWork) {
  EXPECT_EQ(SolveJoinWork(kNonce, kKey, 0), "");
  EXPECT_TRUE(JoinWorkMeets(kNonce, kKey, "", 0));
}

TEST(JoinWorkTest, MalformedWorkIsRefused) {
  EXPECT_FALSE(JoinWorkMeets(kNonce, kKey, "", 8));
  EXPECT_FALSE(JoinWorkMeets(kNonce, kKey, std::string(9, '\0'), 1));
  EXPECT_FALSE(JoinWorkMeets(kNonce, kKey, std::string(7, '\0'), 1));
  EXPECT_FALSE(JoinWorkMeets(kNonce, kKey, std::string(8, '\0'), 33));
}

}  // namespace
}  // namespace trove
