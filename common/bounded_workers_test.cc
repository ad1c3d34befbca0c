#include "common/bounded_workers.h"

#include <memory>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

TEST(BoundedWorkersTest, RunsWhatItTakesAndRefusesBeyondItsQueue) {
  absl::Mutex mu;
  int started = 0;
  bool release = false;
  int done = 0;
  auto blocked = [&] {
    absl::MutexLock lock(&mu);
    ++started;
    mu.Await(absl::Condition(&release));
    ++done;
  };
  auto workers = std::make_unique<BoundedWorkers>(/*threads=*/1,
                                                  /*max_queued=*/2);
  ASSERT_TRUE(workers->Submit(blocked));
  {
    // The one thread holds the first; two more may wait, not a third.
    absl::MutexLock lock(&mu);
    auto one_started = [&] { return started == 1; };
    mu.Await(absl::Condition(&one_started));
  }
  EXPECT_TRUE(workers->Submit(blocked));
  EXPECT_TRUE(workers->Submit(blocked));
  EXPECT_FALSE(workers->Submit(blocked));
  {
    absl::MutexLock lock(&mu);
    release = true;
  }
  workers.reset();  // runs what it took, then stops
  absl::MutexLock lock(&mu);
  EXPECT_EQ(done, 3);
}

}  // namespace
}  // namespace trove
