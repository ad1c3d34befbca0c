#include "index_server/challenge.h"

#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstring>

#include "absl/base/internal/endian.h"

namespace trove {
namespace index_server {
namespace {

constexpr size_t kRandomBytes = 16;
constexpr size_t kMacBytes = 32;
constexpr size_t kHeadBytes = 8 + kRandomBytes;

int64_t WindowOf(absl::Time now, absl::Duration window) {
  return absl::ToUnixNanos(now) / absl::ToInt64Nanoseconds(window);
}

}  // namespace

ChallengeIssuer::ChallengeIssuer(absl::Duration window)
    : window_(window), secret_(32, '\0') {
  RAND_bytes(reinterpret_cast<unsigned char*>(&secret_[0]), secret_.size());
}

std::string ChallengeIssuer::Mac(absl::string_view head) const {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int out_len = 0;
  HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
       reinterpret_cast<const unsigned char*>(head.data()), head.size(), out,
       &out_len);
  return std::string(reinterpret_cast<const char*>(out), kMacBytes);
}

std::string ChallengeIssuer::Issue(absl::Time now) const {
  unsigned char head[kHeadBytes];
  absl::big_endian::Store64(head,
                            static_cast<uint64_t>(WindowOf(now, window_)));
  RAND_bytes(head + 8, kRandomBytes);
  std::string nonce(reinterpret_cast<const char*>(head), sizeof head);
  return nonce + Mac(nonce);
}

absl::Status ChallengeIssuer::Redeem(const std::string& nonce, absl::Time now) {
  if (nonce.size() != kHeadBytes + kMacBytes) {
    return absl::UnauthenticatedError(
        "the nonce is not one this index issued; ask SupernodeChallenge");
  }
  const int64_t window = static_cast<int64_t>(absl::big_endian::Load64(
      reinterpret_cast<const unsigned char*>(nonce.data())));
  const int64_t current = WindowOf(now, window_);
  if (window != current && window != current - 1) {
    return absl::UnauthenticatedError(
        "the nonce expired; ask SupernodeChallenge for a new one");
  }
  const std::string expected =
      Mac(absl::string_view(nonce).substr(0, kHeadBytes));
  if (CRYPTO_memcmp(expected.data(), nonce.data() + kHeadBytes,
                    expected.size()) != 0) {
    return absl::UnauthenticatedError(
        "the nonce is not one this index issued; ask SupernodeChallenge");
  }
  absl::MutexLock lock(&mu_);
  for (auto it = used_.begin(); it != used_.end();) {
    it = it->second < current - 1 ? used_.erase(it) : std::next(it);
  }
  if (!used_.emplace(nonce, window).second) {
    return absl::UnauthenticatedError(
        "the nonce was used already; ask SupernodeChallenge for a new one");
  }
  return absl::OkStatus();
}

}  // namespace index_server
}  // namespace trove
