#include "common/identity.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/merkle.h"

namespace trove {

Identity::Identity(EVP_PKEY* key) : key_(key) {
  size_t len = 32;
  public_key_.resize(32);
  EVP_PKEY_get_raw_public_key(
      key_, reinterpret_cast<unsigned char*>(public_key_.data()), &len);
  public_key_.resize(len);
  peer_id_ = PeerIdFromPublicKey(public_key_);
}

Identity::~Identity() { EVP_PKEY_free(key_); }

absl::StatusOr<std::unique_ptr<Identity>> Identity::Generate() {
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  if (ctx == nullptr || EVP_PKEY_keygen_init(ctx) <= 0 ||
      EVP_PKEY_keygen(ctx, &key) <= 0) {
    EVP_PKEY_CTX_free(ctx);
    return absl::InternalError("could not make an Ed25519 key");
  }
  EVP_PKEY_CTX_free(ctx);
  return std::unique_ptr<Identity>(new Identity(key));
}

absl::StatusOr<std::unique_ptr<Identity>> Identity::FromPem(
    absl::string_view pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    return absl::InvalidArgumentError("not an Ed25519 private key in PEM");
  }
  return std::unique_ptr<Identity>(new Identity(key));
}

absl::StatusOr<std::unique_ptr<Identity>> Identity::LoadOrCreate(
    const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFile(path);
  if (pem.ok()) {
    absl::StatusOr<std::unique_ptr<Identity>> loaded = FromPem(*pem);
    if (!loaded.ok()) {
      return absl::DataLossError(
          absl::StrCat(path, " does not hold an Ed25519 private key"));
    }
    return loaded;
  }
  if (!absl::IsNotFound(pem.status())) return pem.status();
  absl::StatusOr<std::unique_ptr<Identity>> made = Generate();
  if (!made.ok()) return made.status();
  absl::StatusOr<std::string> out = (*made)->PrivateKeyPem();
  if (!out.ok()) return out.status();
  absl::Status written = WriteFileAtomic(path, *out, 0600);
  if (!written.ok()) return written;
  return made;
}

absl::StatusOr<std::string> Identity::PrivateKeyPem() const {
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr || PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0,
                                                 nullptr, nullptr) != 1) {
    BIO_free(bio);
    return absl::InternalError("could not encode the identity key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string out(data, len);
  BIO_free(bio);
  return out;
}

absl::StatusOr<std::string> Identity::Sign(absl::string_view message) const {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::string sig(64, '\0');
  size_t len = sig.size();
  bool ok = ctx != nullptr &&
            EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
            EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()),
                           &len,
                           reinterpret_cast<const unsigned char*>(message.data()),
                           message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) return absl::InternalError("Ed25519 signing failed");
  sig.resize(len);
  return sig;
}

std::string PeerIdFromPublicKey(absl::string_view public_key) {
  return HexEncode(Sha256(public_key));
}

absl::Status VerifySignature(absl::string_view public_key,
                             absl::string_view message,
                             absl::string_view signature) {
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "public key must be 32 bytes, got ", public_key.size()));
  }
  if (signature.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature must be 64 bytes, got ", signature.size()));
  }
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size());
  if (key == nullptr) return absl::InvalidArgumentError("bad public key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr &&
            EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key) == 1 &&
            EVP_DigestVerify(
                ctx, reinterpret_cast<const unsigned char*>(signature.data()),
                signature.size(),
                reinterpret_cast<const unsigned char*>(message.data()),
                message.size()) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  if (!ok) return absl::UnauthenticatedError("signature does not verify");
  return absl::OkStatus();
}

}  // namespace trove
