// What a serving peer signs in a manifest (PeerService.GetManifest) to prove
// it holds the identity key of the peer id the supernode named, shared by the
// peer that signs it and the downloader that checks it. Thread-safe.
#ifndef TROVE_COMMON_MANIFEST_AUTH_H_
#define TROVE_COMMON_MANIFEST_AUTH_H_

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace trove {

// The domain-separation prefix of a manifest proof.
inline constexpr absl::string_view kManifestProofContext = "trove-manifest-v1";

// Bounds on the downloader's nonce, in bytes.
inline constexpr size_t kMinManifestNonce = 16;
inline constexpr size_t kMaxManifestNonce = 64;

// The bytes a serving peer signs with its identity key in Manifest.proof:
// "trove-manifest-v1" || nonce || cid || peer_id. The nonce has a checked
// length and cid and peer_id a fixed one (64 hex digits), so the
// concatenation is unambiguous.
inline std::string ManifestProofMessage(absl::string_view nonce,
                                        absl::string_view cid,
                                        absl::string_view peer_id) {
  return absl::StrCat(kManifestProofContext, nonce, cid, peer_id);
}

}  // namespace trove

#endif  // TROVE_COMMON_MANIFEST_AUTH_H_
