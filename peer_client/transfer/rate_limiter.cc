#include "peer_client/transfer/rate_limiter.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace trove {
namespace {

int64_t BurstFor(const RateLimiter::Options& o, int64_t rate) {
  return o.burst_bytes > 0 ? o.burst_bytes : std::max<int64_t>(rate, 1);
}

}  // namespace

RateLimiter::RateLimiter(Options options, RateLimiter* parent,
                         Clock* clock)
    : options_(options),
      rate_(options.bytes_per_second),
      parent_(parent),
      clock_(clock != nullptr ? clock : Clock::Real()) {
  absl::MutexLock lock(&mu_);
  burst_ = BurstFor(options_, options_.bytes_per_second);
  tokens_ = static_cast<double>(burst_);
  last_ = clock_->Now();
}

void RateLimiter::SetRate(int64_t bytes_per_second) {
  bytes_per_second = std::max<int64_t>(0, bytes_per_second);
  absl::MutexLock lock(&mu_);
  RefillLocked(clock_->Now());
  const bool was_unlimited = rate_.load() <= 0;
  rate_.store(bytes_per_second);
  burst_ = BurstFor(options_, bytes_per_second);
  // From unlimited, start with a full bucket; otherwise keep what it holds.
  tokens_ = was_unlimited ? static_cast<double>(burst_)
                          : std::min(tokens_, static_cast<double>(burst_));
}

absl::Time RateLimiter::Now() const { return clock_->Now(); }

bool RateLimiter::unlimited() const {
  return !limited() && (parent_ == nullptr || parent_->unlimited());
}

void RateLimiter::RefillLocked(absl::Time now) {
  if (now <= last_) return;
  tokens_ = std::min(static_cast<double>(burst_),
                     tokens_ + absl::ToDoubleSeconds(now - last_) *
                                   static_cast<double>(rate_.load()));
  last_ = now;
}

absl::Duration RateLimiter::TakeLocked(int64_t bytes, absl::Time now) {
  RefillLocked(now);
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ >= 0) return absl::ZeroDuration();
  const int64_t rate = rate_.load();
  if (rate <= 0) return absl::ZeroDuration();
  return absl::Seconds(-tokens_ / static_cast<double>(rate));
}

absl::Duration RateLimiter::Reserve(int64_t bytes) {
  absl::Duration wait = absl::ZeroDuration();
  if (limited()) {
    absl::MutexLock lock(&mu_);
    wait = TakeLocked(bytes, clock_->Now());
  }
  if (parent_ != nullptr) wait = std::max(wait, parent_->Reserve(bytes));
  return wait;
}

void RateLimiter::Refund(int64_t bytes) {
  if (limited()) {
    absl::MutexLock lock(&mu_);
    RefillLocked(clock_->Now());
    tokens_ = std::min(static_cast<double>(burst_),
                       tokens_ + static_cast<double>(bytes));
  }
  if (parent_ != nullptr) parent_->Refund(bytes);
}

void RateLimiter::Acquire(int64_t bytes) {
  absl::Duration wait = Reserve(bytes);
  if (wait > absl::ZeroDuration()) clock_->SleepFor(wait);
}

absl::Status RateLimiter::Acquire(int64_t bytes, absl::Time deadline,
                                  const std::function<bool()>& cancelled) {
  if (unlimited()) return absl::OkStatus();
  absl::Time now = clock_->Now();
  absl::Duration wait = Reserve(bytes);
  const absl::Time until = now + wait;
  if (until > deadline) {
    Refund(bytes);
    return absl::DeadlineExceededError(absl::StrCat(
        "bandwidth limit: ", bytes, " bytes would wait ",
        absl::FormatDuration(wait), ", past the deadline"));
  }
  while (true) {
    if (cancelled && cancelled()) {
      Refund(bytes);
      return absl::CancelledError("cancelled while waiting for bandwidth");
    }
    now = clock_->Now();
    if (now >= until) return absl::OkStatus();
    clock_->SleepFor(std::min(until - now, options_.poll_interval));
  }
}

bool RateLimiter::idle() const {
  if (!limited()) return true;
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  double tokens = tokens_;
  if (now > last_) {
    tokens += absl::ToDoubleSeconds(now - last_) *
              static_cast<double>(rate_.load());
  }
  return tokens >= static_cast<double>(burst_);
}

PeerRateLimiter::PeerRateLimiter(Options options, Clock* clock)
    : options_(options),
      per_peer_(options.per_peer_bytes_per_second),
      clock_(clock != nullptr ? clock : Clock::Real()),
      total_(RateLimiter::Options{options.total_bytes_per_second,
                                  options.burst_bytes, options.poll_interval},
             nullptr, clock_) {}

std::shared_ptr<RateLimiter> PeerRateLimiter::ForPeer(
    const std::string& peer_id) {
  const int64_t per_peer = per_peer_.load();
  if (per_peer <= 0) {
    // Only the total limits: no per-peer state (aliasing, not owning).
    return std::shared_ptr<RateLimiter>(std::shared_ptr<RateLimiter>(),
                                        &total_);
  }
  absl::MutexLock lock(&mu_);
  auto it = peers_.find(peer_id);
  if (it != peers_.end()) return it->second;
  if (static_cast<int>(peers_.size()) >= options_.max_idle_peers) {
    // Drop limiters nobody holds and whose bucket has refilled.
    for (auto i = peers_.begin(); i != peers_.end();) {
      if (i->second.use_count() == 1 && i->second->idle()) {
        i = peers_.erase(i);
      } else {
        ++i;
      }
    }
  }
  auto limiter = std::make_shared<RateLimiter>(
      RateLimiter::Options{per_peer, options_.burst_bytes,
                           options_.poll_interval},
      &total_, clock_);
  peers_.emplace(peer_id, limiter);
  return limiter;
}

void PeerRateLimiter::SetLimits(int64_t total_bytes_per_second,
                                int64_t per_peer_bytes_per_second) {
  total_.SetRate(total_bytes_per_second);
  absl::MutexLock lock(&mu_);
  per_peer_.store(std::max<int64_t>(0, per_peer_bytes_per_second));
  for (auto& [peer, limiter] : peers_) limiter->SetRate(per_peer_.load());
}

absl::Status PeerRateLimiter::Acquire(const std::string& peer_id,
                                      int64_t bytes, absl::Time deadline,
                                      const std::function<bool()>& cancelled) {
  if (unlimited()) return absl::OkStatus();
  return ForPeer(peer_id)->Acquire(bytes, deadline, cancelled);
}

RateLimiters::RateLimiters(const Options& options, Clock* clock)
    : upload(PeerRateLimiter::Options{options.max_upload_rate,
                                      options.max_upload_rate_per_peer},
             clock),
      download(PeerRateLimiter::Options{options.max_download_rate,
                                        options.max_download_rate_per_peer},
               clock) {}

}  // namespace trove
