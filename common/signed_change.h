// The signed forms a leaf and a supernode use to prove who they are to the
// index through a party it does not trust (see docs/decisions.md):
//
// - LeafChange: a leaf's list change, serialised once by the leaf and
//   signed as "trove-change-v1" || bytes; the supernode forwards the same
//   bytes, so nothing is ever re-serialised before it is verified.
// - Presence: a leaf's "still joined to this supernode until T", signed as
//   "trove-presence-v1" || bytes.
// - CapacityReport: a peer's capacity for the election, signed as
//   "trove-capacity-v1" || bytes and sent to the index directly.
// - A supernode's registration: "trove-register-v1" || nonce ||
//   supernode_id || address, signed with its enrolled key.
//
// Pure functions; thread-safe.
#ifndef TROVE_COMMON_SIGNED_CHANGE_H_
#define TROVE_COMMON_SIGNED_CHANGE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/identity.h"
#include "protos/types.pb.h"

namespace trove {

// Bytes and the signature over them.
struct Signed {
  std::string bytes;
  std::string signature;
};

// Serialises `change` and signs it. Fills in peer_id and public_key from
// `identity`.
absl::StatusOr<Signed> SignLeafChange(const Identity& identity,
                                      LeafChange change);

// Parses `bytes` as a LeafChange and checks that `signature` is the
// signature of its public_key over them and that peer_id is that key's id.
// INVALID_ARGUMENT for bytes that do not parse, a key or signature of the
// wrong length, or a peer id that is not the key's; UNAUTHENTICATED for a
// signature that does not verify.
absl::StatusOr<LeafChange> VerifyLeafChange(absl::string_view bytes,
                                            absl::string_view signature);

// As above, for a Presence.
absl::StatusOr<Signed> SignPresence(const Identity& identity,
                                    Presence presence);
absl::StatusOr<Presence> VerifyPresence(absl::string_view bytes,
                                        absl::string_view signature);

// As above, for a peer's CapacityReport ("trove-capacity-v1").
absl::StatusOr<Signed> SignCapacityReport(const Identity& identity,
                                          CapacityReport report);
absl::StatusOr<CapacityReport> VerifyCapacityReport(
    absl::string_view bytes, absl::string_view signature);

// What a supernode signs to register.
std::string RegistrationPayload(absl::string_view nonce,
                                absl::string_view supernode_id,
                                absl::string_view address);

}  // namespace trove

#endif  // TROVE_COMMON_SIGNED_CHANGE_H_
