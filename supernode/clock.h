// The supernode's view of time, behind an interface so that session expiry,
// batching and lease renewal can be tested without sleeping.
#ifndef TROVE_SUPERNODE_CLOCK_H_
#define TROVE_SUPERNODE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace trove {
namespace supernode {

// A source of the current time. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;

  // The process-wide real clock; never deleted.
  static Clock* Real();
};

// A clock that only moves when told to, for tests. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000))
      : now_(start) {}

  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

inline Clock* Clock::Real() {
  class RealClock : public Clock {
   public:
    absl::Time Now() override { return absl::Now(); }
  };
  static Clock* const clock = new RealClock();
  return clock;
}

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_CLOCK_H_
