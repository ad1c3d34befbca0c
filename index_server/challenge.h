// Nonces for SupernodeChallenge, kept without per-caller state: a nonce is
// its time window's number, random bytes, and a MAC of the index's secret
// over both, so a
// flood of challenges costs the index nothing and cannot crowd out an
// honest supernode's nonce. A nonce is good in its window and the next
// (so for one to two windows) and, to stop a captured registration from
// being replayed, only once: used nonces are remembered until they expire
// (their number is bounded by the registrations enrolled keys make).
//
// Thread-safe.
#ifndef TROVE_INDEX_SERVER_CHALLENGE_H_
#define TROVE_INDEX_SERVER_CHALLENGE_H_

#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace trove {
namespace index_server {

class ChallengeIssuer {
 public:
  // A fresh random secret; nonces are valid for `window` to 2 * `window`.
  explicit ChallengeIssuer(absl::Duration window = absl::Seconds(30));

  // A nonce valid from `now`.
  std::string Issue(absl::Time now) const;

  // OK and marks `nonce` used when it was issued by this issuer, has not
  // expired and was not used before; UNAUTHENTICATED otherwise.
  absl::Status Redeem(const std::string& nonce, absl::Time now);

 private:
  std::string Mac(absl::string_view head) const;

  const absl::Duration window_;
  std::string secret_;
  absl::Mutex mu_;
  // Used nonces and the window they belong to.
  std::map<std::string, int64_t> used_ ABSL_GUARDED_BY(mu_);
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_CHALLENGE_H_
