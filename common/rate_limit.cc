#include "common/rate_limit.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include <grpcpp/server_context.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/text.h"
#include "common/tls_credentials.h"

namespace trove {

namespace {

// Refusals a caller ignores count towards its cut-off within this window.
constexpr absl::Duration kCutOffWindow = absl::Seconds(10);

}  // namespace

CallRateLimiter::CallRateLimiter(std::string what, RateLimitOptions options,
                         Clock* clock)
    : what_(std::move(what)),
      options_([&] {
        options.burst = std::max(1.0, options.burst);
        options.max_keys = std::max<size_t>(1, options.max_keys);
        return options;
      }()),
      clock_(clock != nullptr ? clock : Clock::Real()) {}

absl::Status CallRateLimiter::Admit(absl::string_view key, double cost) {
  if (!enabled()) return absl::OkStatus();
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = buckets_.find(key);
  if (it == buckets_.end()) {
    while (buckets_.size() >= options_.max_keys && !lru_.empty()) {
      buckets_.erase(lru_.back());
      lru_.pop_back();
    }
    lru_.emplace_front(key);
    Bucket fresh;
    fresh.tokens = options_.burst;
    fresh.refilled = now;
    fresh.lru = lru_.begin();
    it = buckets_.emplace(std::string(key), fresh).first;
  } else {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  }
  Bucket& b = it->second;
  if (now < b.cut_off_until) {
    ++refused_;
    return CutOffError(key, b.cut_off_until - now);
  }
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - b.refilled));
  b.tokens = std::min(options_.burst,
                      b.tokens + elapsed * options_.rate_per_second);
  b.refilled = now;
  if (b.tokens >= cost) {
    b.tokens -= cost;
    return absl::OkStatus();
  }
  ++refused_;
  // A caller that waited for its retry time is slowed, not punished; one
  // that calls again before it counts against it, within a window, however
  // many of its calls the bucket lets through in between.
  if (now < b.retry_at) {
    if (now - b.window_start > kCutOffWindow) {
      b.window_start = now;
      b.ignored_retries = 0;
    }
    ++b.ignored_retries;
  }
  const double wait_s = (cost - b.tokens) / options_.rate_per_second;
  b.retry_at = now + absl::Seconds(wait_s);
  if (options_.cut_off_after > 0 && b.ignored_retries >= options_.cut_off_after) {
    b.cut_off_until = now + options_.cut_off_for;
    b.ignored_retries = 0;
    ++cut_offs_;
    return CutOffError(key, options_.cut_off_for);
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "too many %s from %s: at most %g a second (bursts of %g); retry in %d ms",
      what_, EscapeText(key), options_.rate_per_second, options_.burst,
      static_cast<int64_t>(std::ceil(wait_s * 1000))));
}

absl::Status CallRateLimiter::CutOffError(absl::string_view key,
                                      absl::Duration left) const {
  return absl::ResourceExhaustedError(absl::StrFormat(
      "cut off: too many %s from %s (more than %g a second, called %d "
      "times before the retry time it was given); refused for another %d s",
      what_, EscapeText(key), options_.rate_per_second, options_.cut_off_after,
      static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(left)))));
}

size_t CallRateLimiter::size() const {
  absl::MutexLock lock(&mu_);
  return buckets_.size();
}

int64_t CallRateLimiter::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

int64_t CallRateLimiter::cut_offs() const {
  absl::MutexLock lock(&mu_);
  return cut_offs_;
}

absl::StatusOr<RateLimitOptions> ParseRateLimit(absl::string_view text,
                                                absl::string_view flag) {
  RateLimitOptions out;
  absl::string_view rate_text = text;
  absl::string_view burst_text;
  const size_t colon = text.find(':');
  const bool has_burst = colon != absl::string_view::npos;
  if (has_burst) {
    rate_text = text.substr(0, colon);
    burst_text = text.substr(colon + 1);
  }
  double rate = 0;
  double burst = 0;
  if (!absl::SimpleAtod(rate_text, &rate) || !std::isfinite(rate) || rate < 0 ||
      (has_burst &&
       (!absl::SimpleAtod(burst_text, &burst) || !std::isfinite(burst) ||
        burst < 1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, "=", EscapeText(text),
        ": give calls a second and optionally a burst, as RATE or "
        "RATE:BURST (e.g. 20:60), or 0 for no limit"));
  }
  out.rate_per_second = rate;
  out.burst = !has_burst ? std::max(1.0, 2 * rate) : burst;
  return out;
}

std::string PeerAddressWithoutPort(absl::string_view peer) {
  absl::string_view rest = peer;
  if (absl::ConsumePrefix(&rest, "ipv4:")) {
    size_t colon = rest.rfind(':');
    return std::string(colon == absl::string_view::npos ? rest : rest.substr(0, colon));
  }
  if (absl::ConsumePrefix(&rest, "ipv6:")) {
    if (absl::ConsumePrefix(&rest, "[")) {
      size_t close = rest.find(']');
      if (close != absl::string_view::npos) return std::string(rest.substr(0, close));
    }
    return std::string(rest);
  }
  return std::string(peer);
}

std::string RateKey(const grpc::ServerContextBase* context) {
  absl::StatusOr<std::string> id = CallerId(context);
  if (id.ok() && !id->empty()) return absl::StrCat("id:", *id);
  return absl::StrCat("addr:", PeerAddressWithoutPort(context->peer()));
}

}  // namespace trove
