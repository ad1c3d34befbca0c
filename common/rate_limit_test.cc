#include "common/rate_limit.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

using ::testing::HasSubstr;

RateLimitOptions Options(double rate, double burst, int cut_off_after = 0) {
  RateLimitOptions o;
  o.rate_per_second = rate;
  o.burst = burst;
  o.cut_off_after = cut_off_after;
  o.cut_off_for = absl::Seconds(30);
  return o;
}

TEST(RateLimiterTest, BurstThenRefusedWithRetryTimeThenRefilled) {
  FakeClock clock;
  CallRateLimiter limiter("searches", Options(10, 3), &clock);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Admit("id:a").ok()) << i;
  absl::Status refused = limiter.Admit("id:a");
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("too many searches from id:a"));
  EXPECT_THAT(refused.message(), HasSubstr("retry in 100 ms"));
  // Another key has its own bucket.
  EXPECT_TRUE(limiter.Admit("id:b").ok());
  clock.Advance(absl::Milliseconds(100));
  EXPECT_TRUE(limiter.Admit("id:a").ok());
  EXPECT_FALSE(limiter.Admit("id:a").ok());
  // A long quiet spell refills to the burst, not beyond.
  clock.Advance(absl::Hours(1));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(limiter.Admit("id:a").ok()) << i;
  EXPECT_FALSE(limiter.Admit("id:a").ok());
  EXPECT_EQ(limiter.refused(), 3);
}

TEST(RateLimiterTest, FlooderIsCutOffButOneThatWaitsIsOnlySlowed) {
  FakeClock clock;
  CallRateLimiter limiter("joins", Options(1, 1, /*cut_off_after=*/5), &clock);
  // The patient caller retries when told to: never cut off.
  for (int i = 0; i < 20; ++i) {
    absl::Status s = limiter.Admit("addr:patient");
    if (!s.ok()) {
      EXPECT_THAT(std::string(s.message()), ::testing::Not(HasSubstr("cut off")));
      clock.Advance(absl::Seconds(1));
      EXPECT_TRUE(limiter.Admit("addr:patient").ok());
    }
  }
  EXPECT_EQ(limiter.cut_offs(), 0);

  // The flooder keeps calling at once.
  ASSERT_TRUE(limiter.Admit("addr:flood").ok());
  absl::Status last;
  // The first refusal gives it a retry time; five calls before it follow.
  for (int i = 0; i < 6; ++i) last = limiter.Admit("addr:flood");
  EXPECT_THAT(last.message(), HasSubstr("cut off"));
  EXPECT_EQ(limiter.cut_offs(), 1);
  // Cut off even after its bucket refilled, until the period ends.
  clock.Advance(absl::Seconds(10));
  absl::Status during = limiter.Admit("addr:flood");
  EXPECT_EQ(during.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(during.message(), HasSubstr("refused for another 20 s"));
  clock.Advance(absl::Seconds(21));
  EXPECT_TRUE(limiter.Admit("addr:flood").ok());
  // Others were never affected.
  EXPECT_TRUE(limiter.Admit("addr:other").ok());
}

TEST(RateLimiterTest, FlooderIsCutOffEvenThoughSomeCallsGetThrough) {
  FakeClock clock;
  CallRateLimiter limiter("searches", Options(20, 1, /*cut_off_after=*/50), &clock);
  // 1000 calls a second: one in fifty is let through, the rest ignore the
  // retry time they were given.
  bool cut = false;
  int answered = 0;
  for (int i = 0; i < 1000 && !cut; ++i) {
    absl::Status s = limiter.Admit("id:flooder");
    answered += s.ok();
    cut = absl::StrContains(s.message(), "cut off");
    clock.Advance(absl::Milliseconds(1));
  }
  EXPECT_TRUE(cut);
  EXPECT_GE(answered, 1);
  EXPECT_EQ(limiter.cut_offs(), 1);
}

TEST(RateLimiterTest, TableStaysBoundedForgettingTheLeastRecentlySeen) {
  FakeClock clock;
  RateLimitOptions o = Options(1, 1);
  o.max_keys = 100;
  CallRateLimiter limiter("locates", o, &clock);
  ASSERT_TRUE(limiter.Admit("id:regular").ok());
  EXPECT_FALSE(limiter.Admit("id:regular").ok());
  for (int i = 0; i < 10000; ++i) {
    ASSERT_TRUE(limiter.Admit(absl::StrCat("id:made-up-", i)).ok());
    EXPECT_LE(limiter.size(), 100u);
    if (i % 50 == 0) {
      // Seen often, the regular key stays remembered: still refused.
      EXPECT_FALSE(limiter.Admit("id:regular").ok()) << i;
    }
  }
  EXPECT_EQ(limiter.size(), 100u);
}

TEST(RateLimiterTest, OffWhenRateIsZeroAndMessagesEscapeKeys) {
  FakeClock clock;
  CallRateLimiter off("searches", Options(0, 1), &clock);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(off.Admit("addr:x").ok());
  EXPECT_EQ(off.size(), 0u);
  CallRateLimiter on("searches", Options(1, 1), &clock);
  ASSERT_TRUE(on.Admit("addr:evil\nFORGED LINE").ok());
  absl::Status s = on.Admit("addr:evil\nFORGED LINE");
  EXPECT_EQ(std::string(s.message()).find('\n'), std::string::npos);
}

TEST(ParseRateLimitTest, RateBurstOffAndErrors) {
  absl::StatusOr<RateLimitOptions> o = ParseRateLimit("20:60", "search_rate");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->rate_per_second, 20);
  EXPECT_EQ(o->burst, 60);
  o = ParseRateLimit("0.5", "search_rate");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->burst, 1);
  o = ParseRateLimit("0", "search_rate");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->rate_per_second, 0);
  for (const char* bad : {"", "fast", "-1", "10:0", "10:x", "nan", "5:"}) {
    absl::StatusOr<RateLimitOptions> b = ParseRateLimit(bad, "search_rate");
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(b.status().message()), HasSubstr("--search_rate="));
  }
}

TEST(PeerAddressTest, StripsPortKeepsAddress) {
  EXPECT_EQ(PeerAddressWithoutPort("ipv4:127.0.0.1:45678"), "127.0.0.1");
  EXPECT_EQ(PeerAddressWithoutPort("ipv6:[::1]:443"), "::1");
  EXPECT_EQ(PeerAddressWithoutPort("unix:/run/trove.sock"), "unix:/run/trove.sock");
}

}  // namespace
}  // namespace trove
