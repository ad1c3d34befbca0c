// Time, behind one interface, so that everything that waits, expires or
// measures rates can be tested without sleeping: Clock::Real() for
// production, FakeClock for unit tests.
#ifndef TROVE_COMMON_CLOCK_H_
#define TROVE_COMMON_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace trove {

// A source of the current time and a way to wait. Implementations are
// thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  virtual absl::Time Now() = 0;

  // Blocks the caller for `d` of this clock's time (returns at once for a
  // zero or negative `d`).
  virtual void SleepFor(absl::Duration d) = 0;

  // The process-wide real clock (absl::Now, absl::SleepFor); never deleted.
  static Clock* Real();
};

// A clock that moves only when told to, for tests: by Advance, or by
// SleepFor, which advances it instead of blocking. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000))
      : now_(start) {}

  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  void SleepFor(absl::Duration d) override {
    if (d > absl::ZeroDuration()) Advance(d);
  }

  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_COMMON_CLOCK_H_
