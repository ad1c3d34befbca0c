// What a leaf signs to join a supernode (SupernodeService.Join), shared by
// the leaf that signs it and the supernode that checks it. Thread-safe.
#ifndef TROVE_COMMON_JOIN_AUTH_H_
#define TROVE_COMMON_JOIN_AUTH_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace trove {

// The domain-separation prefix of a join signature.
inline constexpr absl::string_view kJoinSignatureContext = "trove-join-v1";

// The bytes a leaf signs with its identity key to join:
// "trove-join-v1" || nonce || listen_address.
inline std::string JoinSignedMessage(absl::string_view nonce,
                                     absl::string_view listen_address) {
  return absl::StrCat(kJoinSignatureContext, nonce, listen_address);
}

}  // namespace trove

#endif  // TROVE_COMMON_JOIN_AUTH_H_
