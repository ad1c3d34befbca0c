// Checking what a source says about a file before anything is fetched from
// it: the manifest must match the cid (size and chunk hashes against the
// Merkle root), carry a safe file name, a have-map of the right size, and
// prove that the sender holds the key of the peer id it was named by (an
// Ed25519 signature over a fresh nonce, common/manifest_auth.h).
//
// Pure functions; thread-safe.
#ifndef TROVE_PEER_CLIENT_TRANSFER_MANIFEST_CHECK_H_
#define TROVE_PEER_CLIENT_TRANSFER_MANIFEST_CHECK_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/merkle.h"
#include "protos/peer.pb.h"

namespace trove {

// A manifest that passed every check.
struct CheckedManifest {
  int64_t size = 0;
  std::string name;
  std::vector<Hash> hashes;
  // The sender's have-map (Manifest.have); empty when it holds every chunk.
  std::string have;
};

// Bytes of the nonce sent with each GetManifest.
inline constexpr int kManifestNonceBytes = 32;

// A fresh random nonce for a GetManifest. INTERNAL if the random generator
// fails.
absl::StatusOr<std::string> NewManifestNonce();

// Checks manifest `m` for `cid`. When `peer_id` is set, the manifest must
// answer as that peer and prove it holds its key over `nonce` (the one
// sent). DATA_LOSS (wrong cid, hashes that do not fit the cid),
// INVALID_ARGUMENT (chunk size, file size, unsafe name, have-map size) or
// UNAUTHENTICATED (another peer id, a missing or bad proof) name what was
// wrong.
absl::StatusOr<CheckedManifest> CheckManifest(
    const peer::Manifest& m, const std::string& cid,
    const std::optional<std::string>& peer_id, absl::string_view nonce = "");

// The manifest as saved for resuming: no source-specific fields (have-map,
// peer id, proof).
peer::Manifest ToSavedManifest(const CheckedManifest& m,
                               const std::string& cid);

// Whether bit `index` is set in a have-map (bit i of byte i/8, least
// significant first). An empty map holds everything; an index past a
// non-empty map's end is not held.
bool HaveMapHas(absl::string_view have, uint32_t index);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_MANIFEST_CHECK_H_
