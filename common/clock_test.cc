#include "common/clock.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(100));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100));
  clock.Advance(absl::Seconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(105));
}

TEST(FakeClockTest, SleepAdvancesInsteadOfBlocking) {
  FakeClock clock(absl::FromUnixSeconds(100));
  clock.SleepFor(absl::Hours(1));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100) + absl::Hours(1));
  clock.SleepFor(-absl::Seconds(3));  // Negative: nothing.
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(100) + absl::Hours(1));
}

TEST(RealClockTest, FollowsTheSystemClockAndSleeps) {
  Clock* real = Clock::Real();
  EXPECT_EQ(real, Clock::Real());
  const absl::Time before = absl::Now();
  real->SleepFor(absl::Milliseconds(20));
  const absl::Time after = real->Now();
  EXPECT_GE(after - before, absl::Milliseconds(20));
}

}  // namespace
}  // namespace trove
