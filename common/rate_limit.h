// Flood control: token buckets per caller, in a table of bounded size.
//
// Each key (a proven peer or supernode id, or an address for callers not
// yet proven; see RateKey) has a bucket of `burst` tokens refilled at
// `rate_per_second`. A call takes one token (or `cost`); with the bucket
// empty it is refused with RESOURCE_EXHAUSTED saying when to retry (the
// flooding caller is slowed). A key that calls again before the retry time
// it was given, `cut_off_after` times within 10 seconds, is cut off: every
// call from it is refused for `cut_off_for`, whatever its bucket holds.
//
// The table holds at most `max_keys` keys; the one seen least recently is
// forgotten first, so memory stays bounded whatever number of keys a flood
// makes up.
//
// Thread-safe.
#ifndef TROVE_COMMON_RATE_LIMIT_H_
#define TROVE_COMMON_RATE_LIMIT_H_

#include <cstddef>
#include <list>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace grpc {
class ServerContextBase;
}  // namespace grpc

namespace trove {

struct RateLimitOptions {
  // Tokens added per second; 0 or less turns the limit off.
  double rate_per_second = 0;
  // Bucket size: calls allowed at once after a quiet spell (at least 1).
  double burst = 1;
  // Calls before the given retry time (within 10 s) after which a key is
  // cut off; 0: never.
  int cut_off_after = 0;
  absl::Duration cut_off_for = absl::Minutes(1);
  // Keys remembered at most.
  size_t max_keys = 65536;
};

class CallRateLimiter {
 public:
  // `what` names the calls limited, plural ("searches"), for messages.
  // `clock` (not owned) must outlive the limiter; nullptr is the real clock.
  CallRateLimiter(std::string what, RateLimitOptions options,
              Clock* clock = nullptr);

  CallRateLimiter(const CallRateLimiter&) = delete;
  CallRateLimiter& operator=(const CallRateLimiter&) = delete;

  // OK when `key` may make a call costing `cost` tokens now (and takes
  // them); RESOURCE_EXHAUSTED otherwise, with a message naming the limit,
  // the key and when to retry, or that the key is cut off and until when.
  absl::Status Admit(absl::string_view key, double cost = 1);

  // Keys currently remembered.
  size_t size() const;
  // Calls refused so far (slowed or cut off), and cut-offs made.
  int64_t refused() const;
  int64_t cut_offs() const;

  bool enabled() const { return options_.rate_per_second > 0; }

 private:
  struct Bucket {
    double tokens = 0;
    absl::Time refilled;
    // Calls made before retry_at since window_start.
    int ignored_retries = 0;
    absl::Time window_start = absl::InfinitePast();
    absl::Time retry_at = absl::InfinitePast();
    absl::Time cut_off_until = absl::InfinitePast();
    std::list<std::string>::iterator lru;
  };

  // RESOURCE_EXHAUSTED for a cut-off `key`, refused for `left` more.
  absl::Status CutOffError(absl::string_view key, absl::Duration left) const;

  const std::string what_;
  const RateLimitOptions options_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Bucket> buckets_ ABSL_GUARDED_BY(mu_);
  // Keys, most recently seen first.
  std::list<std::string> lru_ ABSL_GUARDED_BY(mu_);
  int64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t cut_offs_ ABSL_GUARDED_BY(mu_) = 0;
};

// A limit as written in a flag: "RATE" or "RATE:BURST" (calls a second, and
// calls at once; BURST defaults to twice RATE, at least 1), or "0" for no
// limit. INVALID_ARGUMENT naming `flag` for anything else.
absl::StatusOr<RateLimitOptions> ParseRateLimit(absl::string_view text,
                                                absl::string_view flag);

// The key a server limits a caller by: "id:" and the caller's proven id
// when its TLS certificate proves one, else "addr:" and its IP address
// (without the port, so that new connections do not make new keys).
std::string RateKey(const grpc::ServerContextBase* context);

// The IP address in a gRPC peer string ("ipv4:1.2.3.4:5", "ipv6:[::1]:5",
// "unix:/path"): "1.2.3.4", "::1", or the whole string when it has no port.
std::string PeerAddressWithoutPort(absl::string_view peer);

}  // namespace trove

#endif  // TROVE_COMMON_RATE_LIMIT_H_
