// Bandwidth limits: token buckets in bytes per second, chained so that one
// transfer is held to both a total and a per-peer limit.
//
// A RateLimiter lets a burst through at once and then `bytes_per_second` on
// average. Taking more than the bucket holds is allowed and puts it in debt:
// the caller waits until the debt is paid, so a 1 MiB chunk at 100 KB/s waits
// about ten seconds whatever the burst. A limiter with a parent takes from
// both and waits for the slower. A rate of 0 means unlimited.
//
// PeerRateLimiter is a total limiter plus one child per peer, made on first
// use and dropped when idle. RateLimiters is the set the daemon owns: one
// PeerRateLimiter for uploads (PeerService) and one for downloads
// (Downloader).
//
// Rates can be changed while transfers run (SetRate, SetLimits): a waiting
// take is not shortened, the next ones follow the new rate.
//
// Thread-safe. Time comes from an injected Clock (its SleepFor waits), so
// tests run without sleeping.
#ifndef TROVE_PEER_CLIENT_TRANSFER_RATE_LIMITER_H_
#define TROVE_PEER_CLIENT_TRANSFER_RATE_LIMITER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace trove {

class RateLimiter {
 public:
  struct Options {
    // Average rate; 0: unlimited.
    int64_t bytes_per_second = 0;
    // Bytes let through at once after an idle time; 0: one second's worth
    // (bytes_per_second).
    int64_t burst_bytes = 0;
    // Longest single sleep while waiting, so cancellation is noticed.
    absl::Duration poll_interval = absl::Milliseconds(50);
  };

  // `parent` (may be null) must outlive this limiter; every take is also
  // taken from it. `clock` (null: Clock::Real()) must outlive it too. The
  // bucket starts full.
  RateLimiter(Options options, RateLimiter* parent = nullptr,
              Clock* clock = nullptr);

  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Takes `bytes` (here and in the parents) and returns how long the caller
  // must wait before using them: zero while the buckets hold enough.
  // REQUIRES: bytes >= 0.
  absl::Duration Reserve(int64_t bytes);

  // Gives back bytes taken by Reserve and not used (here and in the parents).
  void Refund(int64_t bytes);

  // Reserve, then sleeps the wait.
  void Acquire(int64_t bytes);

  // Like Acquire, but gives up: DEADLINE_EXCEEDED (taking nothing) when the
  // wait would end after `deadline`; CANCELLED (giving the bytes back) when
  // `cancelled` (may be empty; polled every poll_interval) returns true while
  // waiting.
  absl::Status Acquire(int64_t bytes, absl::Time deadline,
                       const std::function<bool()>& cancelled);

  // Changes the rate (0: unlimited); the burst follows it unless it was
  // set explicitly. The bucket keeps what it holds (at most the new burst).
  void SetRate(int64_t bytes_per_second);
  int64_t rate() const { return rate_.load(); }

  // Whether this limiter (not counting parents) limits anything.
  bool limited() const { return rate_.load() > 0; }
  // Whether this limiter and its parents are all unlimited.
  bool unlimited() const;

  // True when the bucket is full: nothing taken recently, so dropping and
  // re-making this limiter would change nothing.
  bool idle() const;

  absl::Time Now() const;

 private:
  // Takes `bytes`; returns the wait it causes here (not in parents).
  absl::Duration TakeLocked(int64_t bytes, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RefillLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  std::atomic<int64_t> rate_;
  RateLimiter* const parent_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  int64_t burst_ ABSL_GUARDED_BY(mu_);
  // May be negative (debt).
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::Time last_ ABSL_GUARDED_BY(mu_);
};

// A total limit and a limit per peer (keyed by peer id), chained.
// Thread-safe.
class PeerRateLimiter {
 public:
  struct Options {
    // All peers together; 0: unlimited.
    int64_t total_bytes_per_second = 0;
    // Each peer; 0: unlimited.
    int64_t per_peer_bytes_per_second = 0;
    absl::Duration poll_interval = absl::Milliseconds(50);
    // Bytes let through at once after an idle time, for each limiter; 0:
    // one second's worth of its rate.
    int64_t burst_bytes = 0;
    // Idle per-peer limiters are dropped when there are more than this.
    int max_idle_peers = 64;
  };

  // `clock`: null for Clock::Real(); must outlive the limiter.
  explicit PeerRateLimiter(Options options, Clock* clock = nullptr);

  // The limiter for one peer; it takes from the total too. Keep it for the
  // length of a transfer.
  std::shared_ptr<RateLimiter> ForPeer(const std::string& peer_id);

  // Waits until `bytes` may be moved to or from `peer_id` under both limits.
  // Errors as RateLimiter::Acquire with a deadline.
  absl::Status Acquire(const std::string& peer_id, int64_t bytes,
                       absl::Time deadline = absl::InfiniteFuture(),
                       const std::function<bool()>& cancelled = nullptr);

  // True when neither limit is set now.
  bool unlimited() const {
    return total_.rate() <= 0 && per_peer_.load() <= 0;
  }

  // Changes both limits (0: unlimited), for the transfers running too.
  void SetLimits(int64_t total_bytes_per_second,
                 int64_t per_peer_bytes_per_second);
  int64_t total_rate() const { return total_.rate(); }
  int64_t per_peer_rate() const { return per_peer_.load(); }

  RateLimiter* total() { return &total_; }
  const Options& options() const { return options_; }

 private:
  const Options options_;
  std::atomic<int64_t> per_peer_;
  Clock* const clock_;
  RateLimiter total_;
  absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<RateLimiter>> peers_
      ABSL_GUARDED_BY(mu_);
};

// The daemon's limits, owned by it and shared by the PeerService (upload)
// and the Downloader (download).
struct RateLimiters {
  struct Options {
    int64_t max_upload_rate = 0;
    int64_t max_upload_rate_per_peer = 0;
    int64_t max_download_rate = 0;
    int64_t max_download_rate_per_peer = 0;
  };
  explicit RateLimiters(const Options& options, Clock* clock = nullptr);

  PeerRateLimiter upload;
  PeerRateLimiter download;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_RATE_LIMITER_H_
