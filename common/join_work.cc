#include "common/join_work.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace trove {
namespace {

constexpr absl::string_view kJoinWorkContext = "trove-join-work-v1";
constexpr size_t kWorkBytes = 8;

// Whether `digest` begins with `bits` zero bits.
bool LeadingZeros(const unsigned char* digest, int bits) {
  int i = 0;
  for (; bits >= 8; bits -= 8, ++i) {
    if (digest[i] != 0) return false;
  }
  return bits == 0 || (digest[i] >> (8 - bits)) == 0;
}

}  // namespace

bool JoinWorkMeets(absl::string_view nonce, absl::string_view public_key,
                   absl::string_view work, int bits) {
  if (bits <= 0) return true;
  if (bits > kMaxJoinWorkBits || work.size() != kWorkBytes) return false;
  const std::string input =
      absl::StrCat(kJoinWorkContext, nonce, public_key, work);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         digest);
  return LeadingZeros(digest, bits);
}

std::string SolveJoinWork(absl::string_view nonce,
                          absl::string_view public_key, int bits) {
  if (bits <= 0) return "";
  bits = std::min(bits, kMaxJoinWorkBits);
  std::string input = absl::StrCat(kJoinWorkContext, nonce, public_key,
                                   std::string(kWorkBytes, '\0'));
  unsigned char* work =
      reinterpret_cast<unsigned char*>(input.data()) + input.size() - kWorkBytes;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  for (uint64_t counter = 0;; ++counter) {
    for (size_t i = 0; i < kWorkBytes; ++i) {
      work[i] = static_cast<unsigned char>(counter >> (8 * i));
    }
    SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
           digest);
    if (LeadingZeros(digest, bits)) {
      return input.substr(input.size() - kWorkBytes);
    }
  }
}

}  // namespace trove
