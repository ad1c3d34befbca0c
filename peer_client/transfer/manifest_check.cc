#include "peer_client/transfer/manifest_check.h"

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "common/identity.h"
#include "common/manifest_auth.h"
#include "common/validation.h"

namespace trove {

using peer::Manifest;

absl::StatusOr<std::string> NewManifestNonce() {
  std::string nonce(kManifestNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()),
                 kManifestNonceBytes) != 1) {
    return absl::InternalError("RAND_bytes failed making a manifest nonce");
  }
  return nonce;
}

namespace {

// OK when the manifest proves its sender holds the key of `peer_id`: its
// public key hashes to `peer_id` and signs the proof over `nonce`, `cid` and
// `peer_id`. UNAUTHENTICATED (or INVALID_ARGUMENT for a key or signature of
// the wrong length) otherwise.
absl::Status CheckProof(const Manifest& m, const std::string& cid,
                        const std::string& peer_id, absl::string_view nonce) {
  if (m.public_key().empty() || m.proof().empty()) {
    return absl::UnauthenticatedError(
        "source sent no proof of its identity with the manifest");
  }
  if (PeerIdFromPublicKey(m.public_key()) != peer_id) {
    return absl::UnauthenticatedError(absl::StrCat(
        "source's public key is not that of peer ", peer_id));
  }
  absl::Status st = VerifySignature(
      m.public_key(), ManifestProofMessage(nonce, cid, peer_id), m.proof());
  if (!st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("source's identity proof does not verify: ",
                                     st.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CheckedManifest> CheckManifest(
    const Manifest& m, const std::string& cid,
    const std::optional<std::string>& peer_id, absl::string_view nonce) {
  if (m.cid() != cid) {
    return absl::DataLossError(
        absl::StrCat("manifest is for cid ", m.cid(), ", not ", cid));
  }
  if (peer_id.has_value()) {
    if (m.peer_id() != *peer_id) {
      return absl::UnauthenticatedError(absl::StrCat(
          "source answered as peer ", m.peer_id(), ", expected ", *peer_id));
    }
    absl::Status proof = CheckProof(m, cid, *peer_id, nonce);
    if (!proof.ok()) return proof;
  }
  if (m.chunk_size() != kChunkSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest chunk size ", m.chunk_size(), ", expected ", kChunkSize));
  }
  absl::Status st = ValidateFileSize(m.size());
  if (!st.ok()) return absl::InvalidArgumentError(st.message());
  CheckedManifest out;
  out.size = m.size();
  out.hashes.reserve(m.chunk_hashes_size());
  for (const std::string& b : m.chunk_hashes()) {
    absl::StatusOr<Hash> h = HashFromBytes(b);
    if (!h.ok()) return h.status();
    out.hashes.push_back(*h);
  }
  st = VerifyManifest(cid, m.size(), out.hashes);
  if (!st.ok()) return st;
  st = ValidateFileName(m.name());
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest has an unsafe file name: ", st.message()));
  }
  out.name = m.name();
  if (!m.have().empty() &&
      static_cast<int64_t>(m.have().size()) != (ChunkCount(m.size()) + 7) / 8) {
    return absl::InvalidArgumentError(
        "manifest 'have' bitmap has the wrong size");
  }
  out.have = m.have();
  return out;
}

Manifest ToSavedManifest(const CheckedManifest& m, const std::string& cid) {
  Manifest out;
  out.set_cid(cid);
  out.set_size(m.size);
  out.set_chunk_size(static_cast<int32_t>(kChunkSize));
  out.set_name(m.name);
  for (const Hash& h : m.hashes) out.add_chunk_hashes(HashToBytes(h));
  return out;
}

bool HaveMapHas(absl::string_view have, uint32_t index) {
  if (have.empty()) return true;
  const size_t byte = index / 8;
  if (byte >= have.size()) return false;
  return (static_cast<uint8_t>(have[byte]) >> (index % 8)) & 1;
}

}  // namespace trove
