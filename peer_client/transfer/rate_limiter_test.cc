#include "peer_client/transfer/rate_limiter.h"

#include <atomic>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

// A fake clock that records the sleeps (which advance it).
class FakeTime : public FakeClock {
 public:
  Clock* clock() { return this; }
  void SleepFor(absl::Duration d) override {
    FakeClock::SleepFor(d);
    absl::MutexLock lock(&mu_);
    slept_ += d;
    ++sleeps_;
  }
  absl::Duration slept() {
    absl::MutexLock lock(&mu_);
    return slept_;
  }
  int sleeps() {
    absl::MutexLock lock(&mu_);
    return sleeps_;
  }

 private:
  absl::Mutex mu_;
  absl::Duration slept_ ABSL_GUARDED_BY(mu_);
  int sleeps_ ABSL_GUARDED_BY(mu_) = 0;
};

constexpr int64_t kMB = 1000000;

// Within a microsecond: the arithmetic is in doubles.
void ExpectNear(absl::Duration got, absl::Duration want) {
  EXPECT_LE(absl::AbsDuration(got - want), absl::Microseconds(1))
      << "got " << got << ", want " << want;
}

TEST(RateLimiterTest, ZeroIsUnlimited) {
  FakeTime t;
  RateLimiter limiter({0, 0}, nullptr, t.clock());
  EXPECT_TRUE(limiter.unlimited());
  for (int i = 0; i < 1000; ++i) limiter.Acquire(100 * kMB);
  EXPECT_TRUE(limiter.Acquire(100 * kMB, t.Now(), nullptr).ok());
  EXPECT_EQ(t.sleeps(), 0);
}

TEST(RateLimiterTest, BurstPassesThenRateIsHonoured) {
  FakeTime t;
  // 1 MB/s, 2 MB burst.
  RateLimiter limiter({kMB, 2 * kMB}, nullptr, t.clock());
  EXPECT_EQ(limiter.Reserve(2 * kMB), absl::ZeroDuration());
  // The bucket is empty: each further MB costs a second.
  ExpectNear(limiter.Reserve(kMB), absl::Seconds(1));
  ExpectNear(limiter.Reserve(kMB), absl::Seconds(2));
}

TEST(RateLimiterTest, AcquireSleepsForTheAverageRate) {
  FakeTime t;
  RateLimiter limiter({kMB, kMB}, nullptr, t.clock());
  // 10 MB at 1 MB/s with 1 MB of burst: 9 seconds of sleep in all.
  for (int i = 0; i < 100; ++i) limiter.Acquire(kMB / 10);
  ExpectNear(t.slept(), absl::Seconds(9));
}

TEST(RateLimiterTest, TakeBiggerThanBurstGoesIntoDebt) {
  FakeTime t;
  RateLimiter limiter({100000, 100000}, nullptr, t.clock());
  // 1 MB at 100 kB/s: the burst pays 100 kB, the rest waits 9 s.
  ExpectNear(limiter.Reserve(kMB), absl::Seconds(9));
}

TEST(RateLimiterTest, RefillsWhileIdleUpToTheBurst) {
  FakeTime t;
  RateLimiter limiter({kMB, kMB}, nullptr, t.clock());
  limiter.Acquire(kMB);
  EXPECT_FALSE(limiter.idle());
  t.Advance(absl::Seconds(100));  // Refills only up to the burst.
  EXPECT_TRUE(limiter.idle());
  EXPECT_EQ(limiter.Reserve(kMB), absl::ZeroDuration());
  ExpectNear(limiter.Reserve(kMB), absl::Seconds(1));
}

TEST(RateLimiterTest, DefaultBurstIsOneSecond) {
  FakeTime t;
  RateLimiter limiter({3 * kMB, 0}, nullptr, t.clock());
  EXPECT_EQ(limiter.Reserve(3 * kMB), absl::ZeroDuration());
  ExpectNear(limiter.Reserve(3 * kMB), absl::Seconds(1));
}

TEST(RateLimiterTest, ChildWaitsForTheSlowerOfItselfAndItsParent) {
  FakeTime t;
  RateLimiter total({2 * kMB, 2 * kMB}, nullptr, t.clock());
  RateLimiter a({kMB, kMB}, &total, t.clock());
  RateLimiter b({kMB, kMB}, &total, t.clock());
  EXPECT_EQ(a.Reserve(kMB), absl::ZeroDuration());
  EXPECT_EQ(b.Reserve(kMB), absl::ZeroDuration());
  // Both per-peer buckets and the total are empty now. The child's own
  // debt is 1 s; the total's is 0.5 s for 1 MB at 2 MB/s.
  ExpectNear(a.Reserve(kMB), absl::Seconds(1));
  // b's own debt is 1 s, the total's has grown to 1 s.
  ExpectNear(b.Reserve(kMB), absl::Seconds(1));
  // The total now owes 2 MB at 2 MB/s: as slow as the child.
  ExpectNear(b.Reserve(0), absl::Seconds(1));
  ExpectNear(total.Reserve(2 * kMB), absl::Seconds(2));
}

TEST(RateLimiterTest, UnlimitedChildStillTakesFromItsParent) {
  FakeTime t;
  RateLimiter total({kMB, kMB}, nullptr, t.clock());
  RateLimiter child({0, 0}, &total, t.clock());
  EXPECT_FALSE(child.unlimited());
  EXPECT_EQ(child.Reserve(kMB), absl::ZeroDuration());
  ExpectNear(child.Reserve(kMB), absl::Seconds(1));
}

TEST(RateLimiterTest, DeadlineTooCloseTakesNothing) {
  FakeTime t;
  RateLimiter limiter({kMB, kMB}, nullptr, t.clock());
  limiter.Acquire(kMB);
  absl::Status st = limiter.Acquire(kMB, t.Now() + absl::Milliseconds(500),
                                    nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(t.sleeps(), 0);
  // Nothing was taken: one MB still costs one second.
  EXPECT_TRUE(limiter.Acquire(kMB, t.Now() + absl::Seconds(1), nullptr).ok());
  ExpectNear(t.slept(), absl::Seconds(1));
}

TEST(RateLimiterTest, CancelledWhileWaitingGivesTheBytesBack) {
  FakeTime t;
  RateLimiter::Options options{kMB, kMB, absl::Milliseconds(100)};
  RateLimiter limiter(options, nullptr, t.clock());
  limiter.Acquire(kMB);
  int polls = 0;
  absl::Status st = limiter.Acquire(10 * kMB, absl::InfiniteFuture(),
                                    [&] { return ++polls > 3; });
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  // Slept in poll_interval slices until cancelled.
  ExpectNear(t.slept(), absl::Milliseconds(300));
  // The 10 MB were given back: 0.3 s refilled 0.3 MB.
  ExpectNear(limiter.Reserve(kMB), absl::Milliseconds(700));
}

TEST(PeerRateLimiterTest, PerPeerAndTotalLimits) {
  FakeTime t;
  PeerRateLimiter limits({/*total=*/3 * kMB, /*per_peer=*/kMB}, t.clock());
  EXPECT_FALSE(limits.unlimited());
  std::shared_ptr<RateLimiter> a = limits.ForPeer("a");
  EXPECT_EQ(limits.ForPeer("a"), a);
  std::shared_ptr<RateLimiter> b = limits.ForPeer("b");
  EXPECT_NE(a, b);
  // Each peer gets its own 1 MB burst; the total (3 MB) holds both.
  EXPECT_EQ(a->Reserve(kMB), absl::ZeroDuration());
  EXPECT_EQ(b->Reserve(kMB), absl::ZeroDuration());
  ExpectNear(a->Reserve(kMB), absl::Seconds(1));  // Per-peer limit.
  // Total: 3 MB taken of 3; another 3 MB at 3 MB/s is 1 s of total debt,
  // but peer c's own 1 MB/s makes it wait 2 s.
  ExpectNear(limits.ForPeer("c")->Reserve(3 * kMB), absl::Seconds(2));
}

TEST(PeerRateLimiterTest, AcquireSleepsUnderBothLimits) {
  FakeTime t;
  PeerRateLimiter limits({/*total=*/0, /*per_peer=*/kMB}, t.clock());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(limits.Acquire("a", kMB).ok());
  }
  ExpectNear(t.slept(), absl::Seconds(4));
}

TEST(PeerRateLimiterTest, OnlyTotalSharesOneBucket) {
  FakeTime t;
  PeerRateLimiter limits({/*total=*/kMB, /*per_peer=*/0}, t.clock());
  EXPECT_EQ(limits.ForPeer("a").get(), limits.total());
  EXPECT_EQ(limits.ForPeer("a")->Reserve(kMB), absl::ZeroDuration());
  ExpectNear(limits.ForPeer("b")->Reserve(kMB), absl::Seconds(1));
}

TEST(PeerRateLimiterTest, ZeroIsUnlimited) {
  FakeTime t;
  PeerRateLimiter limits({0, 0}, t.clock());
  EXPECT_TRUE(limits.unlimited());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(limits.Acquire("a", kMB).ok());
  EXPECT_EQ(t.sleeps(), 0);
}

TEST(PeerRateLimiterTest, IdlePeersAreDropped) {
  FakeTime t;
  PeerRateLimiter::Options options{0, kMB};
  options.max_idle_peers = 2;
  PeerRateLimiter limits(options, t.clock());
  std::shared_ptr<RateLimiter> a = limits.ForPeer("a");
  a->Reserve(kMB);
  limits.ForPeer("b")->Reserve(kMB);
  t.Advance(absl::Seconds(10));
  // Over the limit: "b" (idle, unheld) is dropped, "a" is held and kept.
  limits.ForPeer("c");
  EXPECT_EQ(limits.ForPeer("a"), a);
  // A fresh "b" has a full bucket.
  EXPECT_EQ(limits.ForPeer("b")->Reserve(kMB), absl::ZeroDuration());
}

TEST(PeerRateLimiterTest, ConcurrentTakersShareTheRate) {
  FakeTime t;
  PeerRateLimiter limits({/*total=*/kMB, /*per_peer=*/0}, t.clock());
  std::atomic<int64_t> reserved_wait_us{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int j = 0; j < 10; ++j) {
        absl::Duration w = limits.ForPeer(std::to_string(i))->Reserve(kMB / 10);
        reserved_wait_us.fetch_add(absl::ToInt64Microseconds(w));
      }
    });
  }
  for (std::thread& th : threads) th.join();
  // 4 MB through a 1 MB bucket: the last taker waits 3 s. The sum of waits
  // depends on the order, but the bucket's debt does not.
  ExpectNear(limits.total()->Reserve(0), absl::Seconds(3));
}

TEST(RateLimitersTest, UploadAndDownloadAreSeparate) {
  FakeTime t;
  RateLimiters::Options options;
  options.max_upload_rate = kMB;
  options.max_download_rate_per_peer = 2 * kMB;
  RateLimiters limiters(options, t.clock());
  EXPECT_FALSE(limiters.upload.unlimited());
  EXPECT_FALSE(limiters.download.unlimited());
  EXPECT_EQ(limiters.upload.options().total_bytes_per_second, kMB);
  EXPECT_EQ(limiters.upload.options().per_peer_bytes_per_second, 0);
  EXPECT_EQ(limiters.download.options().total_bytes_per_second, 0);
  EXPECT_EQ(limiters.download.options().per_peer_bytes_per_second, 2 * kMB);
}

TEST(RateLimiterTest, RateChangesWhileInUse) {
  FakeTime t;
  RateLimiter limiter({kMB, 0}, nullptr, t.clock());  // 1 MB/s, 1 MB burst.
  EXPECT_EQ(limiter.Reserve(kMB), absl::ZeroDuration());
  ExpectNear(limiter.Reserve(kMB), absl::Seconds(1));
  // Raised: the debt is paid four times faster.
  limiter.SetRate(4 * kMB);
  EXPECT_EQ(limiter.rate(), 4 * kMB);
  ExpectNear(limiter.Reserve(kMB), absl::Milliseconds(500));
  // Lifted: nothing waits.
  limiter.SetRate(0);
  EXPECT_TRUE(limiter.unlimited());
  EXPECT_EQ(limiter.Reserve(100 * kMB), absl::ZeroDuration());
  // Set again from unlimited: starts with a full bucket of the new burst.
  limiter.SetRate(2 * kMB);
  EXPECT_FALSE(limiter.unlimited());
  EXPECT_EQ(limiter.Reserve(2 * kMB), absl::ZeroDuration());
  ExpectNear(limiter.Reserve(2 * kMB), absl::Seconds(1));
}

TEST(PeerRateLimiterTest, SetLimitsReachesThePeersAlreadyLimited) {
  FakeTime t;
  PeerRateLimiter::Options o;
  o.per_peer_bytes_per_second = kMB;
  PeerRateLimiter limiter(o, t.clock());
  std::shared_ptr<RateLimiter> a = limiter.ForPeer("a");
  EXPECT_EQ(a->rate(), kMB);
  limiter.SetLimits(3 * kMB, 2 * kMB);
  EXPECT_EQ(a->rate(), 2 * kMB);  // The limiter a transfer holds follows.
  EXPECT_EQ(limiter.total_rate(), 3 * kMB);
  EXPECT_EQ(limiter.per_peer_rate(), 2 * kMB);
  EXPECT_FALSE(limiter.unlimited());
  limiter.SetLimits(0, 0);
  EXPECT_TRUE(limiter.unlimited());
  EXPECT_TRUE(a->unlimited());
}

}  // namespace
}  // namespace trove
