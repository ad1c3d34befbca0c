#include "common/signed_change.h"

#include "absl/strings/str_cat.h"

namespace trove {
namespace {

constexpr absl::string_view kChangeContext = "trove-change-v1";
constexpr absl::string_view kPresenceContext = "trove-presence-v1";
constexpr absl::string_view kRegisterContext = "trove-register-v1";
constexpr absl::string_view kCapacityContext = "trove-capacity-v1";

template <typename Message>
absl::StatusOr<Signed> SignMessage(const Identity& identity,
                                   absl::string_view context,
                                   const Message& message) {
  Signed out;
  if (!message.SerializeToString(&out.bytes)) {
    return absl::InternalError("could not serialise the signed message");
  }
  absl::StatusOr<std::string> signature =
      identity.Sign(absl::StrCat(context, out.bytes));
  if (!signature.ok()) return signature.status();
  out.signature = *std::move(signature);
  return out;
}

template <typename Message>
absl::StatusOr<Message> VerifyMessage(absl::string_view context,
                                      absl::string_view what,
                                      absl::string_view bytes,
                                      absl::string_view signature) {
  Message message;
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("the signed ", what, " does not parse"));
  }
  if (message.public_key().size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the signed ", what, "'s public key must be 32 bytes, got ",
        message.public_key().size()));
  }
  if (message.peer_id() != PeerIdFromPublicKey(message.public_key())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the signed ", what, "'s peer id is not the hash of its key"));
  }
  absl::Status s = VerifySignature(message.public_key(),
                                   absl::StrCat(context, bytes), signature);
  if (!s.ok()) {
    return absl::Status(s.code(), absl::StrCat("the signature of the ", what,
                                               " is wrong: ", s.message()));
  }
  return message;
}

}  // namespace

absl::StatusOr<Signed> SignLeafChange(const Identity& identity,
                                      LeafChange change) {
  change.set_peer_id(identity.peer_id());
  change.set_public_key(identity.public_key());
  return SignMessage(identity, kChangeContext, change);
}

absl::StatusOr<LeafChange> VerifyLeafChange(absl::string_view bytes,
                                            absl::string_view signature) {
  return VerifyMessage<LeafChange>(kChangeContext, "change", bytes, signature);
}

absl::StatusOr<Signed> SignPresence(const Identity& identity,
                                    Presence presence) {
  presence.set_peer_id(identity.peer_id());
  presence.set_public_key(identity.public_key());
  return SignMessage(identity, kPresenceContext, presence);
}

absl::StatusOr<Presence> VerifyPresence(absl::string_view bytes,
                                        absl::string_view signature) {
  return VerifyMessage<Presence>(kPresenceContext, "presence", bytes,
                                 signature);
}

absl::StatusOr<Signed> SignCapacityReport(const Identity& identity,
                                          CapacityReport report) {
  report.set_peer_id(identity.peer_id());
  report.set_public_key(identity.public_key());
  return SignMessage(identity, kCapacityContext, report);
}

absl::StatusOr<CapacityReport> VerifyCapacityReport(
    absl::string_view bytes, absl::string_view signature) {
  return VerifyMessage<CapacityReport>(kCapacityContext, "capacity report",
                                       bytes, signature);
}

std::string RegistrationPayload(absl::string_view nonce,
                                absl::string_view supernode_id,
                                absl::string_view address) {
  // Lengths first, so that no two (nonce, id, address) give the same bytes.
  return absl::StrCat(kRegisterContext, nonce.size(), ":", nonce,
                      supernode_id.size(), ":", supernode_id, address.size(),
                      ":", address);
}

}  // namespace trove
