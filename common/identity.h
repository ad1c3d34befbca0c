// A peer's identity: an Ed25519 key pair made on first start and kept in its
// state folder. Its peer id is the lowercase hex SHA-256 of the raw 32-byte
// public key. Identity is immutable after creation and thread-safe.
#ifndef TROVE_COMMON_IDENTITY_H_
#define TROVE_COMMON_IDENTITY_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace trove {

class Identity {
 public:
  // Makes a new random key pair.
  static absl::StatusOr<std::unique_ptr<Identity>> Generate();

  // Loads the PEM private key at `path`, or makes one and writes it there
  // (mode 0600, atomically) when the file does not exist. INTERNAL /
  // DATA_LOSS when the file exists but is not an Ed25519 key.
  static absl::StatusOr<std::unique_ptr<Identity>> LoadOrCreate(
      const std::string& path);

  // Loads an Ed25519 private key from PEM text. INVALID_ARGUMENT when it is
  // not one.
  static absl::StatusOr<std::unique_ptr<Identity>> FromPem(
      absl::string_view pem);

  ~Identity();
  Identity(const Identity&) = delete;
  Identity& operator=(const Identity&) = delete;

  // Raw 32-byte public key.
  const std::string& public_key() const { return public_key_; }
  // 64 lowercase hex digits.
  const std::string& peer_id() const { return peer_id_; }

  // Ed25519 signature (64 bytes) of `message`.
  absl::StatusOr<std::string> Sign(absl::string_view message) const;

  // The private key as PEM (PKCS#8), e.g. for TLS credentials.
  absl::StatusOr<std::string> PrivateKeyPem() const;

 private:
  explicit Identity(EVP_PKEY* key);

  EVP_PKEY* key_;
  std::string public_key_;
  std::string peer_id_;
};

// The peer id of a raw 32-byte Ed25519 public key.
std::string PeerIdFromPublicKey(absl::string_view public_key);

// OK when `signature` is a valid Ed25519 signature of `message` by
// `public_key` (raw 32 bytes); UNAUTHENTICATED otherwise, INVALID_ARGUMENT
// for a key or signature of the wrong length.
absl::Status VerifySignature(absl::string_view public_key,
                             absl::string_view message,
                             absl::string_view signature);

}  // namespace trove

#endif  // TROVE_COMMON_IDENTITY_H_
