// Certificates of a Trove community (OpenSSL only, no gRPC):
//
// - The community CA: an Ed25519 key and a self-signed CA certificate,
//   made by `index_server init`. Its fingerprint (hex SHA-256 of the
//   certificate's DER) is what a community link pins.
// - Certificates the CA issues for an Ed25519 identity key: the index's and
//   each supernode's. The holder's id is the hex SHA-256 of the raw key
//   (as a peer id, see identity.h).
// - A peer's self-signed certificate, made in-process from its identity.
//
// Every certificate names its role in the subject (O=Trove, OU=ROLE,
// CN=ID) so that a supernode's certificate cannot pass for the index's.
// Certificates of servers also carry the DNS name kTlsServerName, the
// name clients send (SNI) whatever address they dial: who is at the other
// end is decided by key and role, not by names.
// All functions are thread-safe.
#ifndef TROVE_COMMON_TLS_H_
#define TROVE_COMMON_TLS_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/identity.h"

namespace trove {

// The server name in every Trove server certificate and in every client's
// handshake.
inline constexpr char kTlsServerName[] = "trove";

// What a certificate says its holder is.
enum class CertRole { kCa, kIndex, kSupernode, kPeer };

// "community-ca", "index", "supernode", "peer" (the subject's OU).
absl::string_view CertRoleName(CertRole role);

// A private key and its certificate, both PEM.
struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
};

// What a certificate holds, as far as Trove cares.
struct CertInfo {
  CertRole role = CertRole::kPeer;
  // Raw 32-byte Ed25519 public key.
  std::string public_key;
  // Hex SHA-256 of public_key.
  std::string id;
  // Hex SHA-256 of the certificate's DER.
  std::string fingerprint;
  // Issuer and subject are the same name.
  bool self_signed = false;
  absl::Time not_before;
  absl::Time not_after;
};

// Makes a community CA: a fresh Ed25519 key and a self-signed CA
// certificate (CN = `name`) valid for `validity` from an hour ago.
absl::StatusOr<KeyAndCert> MakeCommunityCa(absl::string_view name,
                                           absl::Duration validity);

// Issues a certificate for the raw 32-byte Ed25519 `public_key`, signed by
// `ca` (as made by MakeCommunityCa), for `role` (kIndex or kSupernode),
// valid for `validity` from an hour ago. `hosts` (DNS names or IP
// addresses) go into subjectAltName. INVALID_ARGUMENT for a bad key, role
// or CA.
absl::StatusOr<std::string> IssueCertificate(
    const KeyAndCert& ca, absl::string_view public_key, CertRole role,
    absl::Duration validity, const std::vector<std::string>& hosts = {});

// A peer's self-signed certificate for `identity`, valid for `validity`
// from an hour ago.
absl::StatusOr<std::string> SelfSignedCertificate(const Identity& identity,
                                                  absl::Duration validity);

// The certificates in PEM text, in order, each as its own PEM block.
// INVALID_ARGUMENT when there is none or one does not parse.
absl::StatusOr<std::vector<std::string>> SplitPemCertificates(
    absl::string_view pem);

// Reads the first certificate of `pem`. INVALID_ARGUMENT when it does not
// parse, its key is not Ed25519, or its subject names no Trove role.
absl::StatusOr<CertInfo> InspectCertificate(absl::string_view pem);

// The hex SHA-256 of the DER of the first certificate in `pem`.
absl::StatusOr<std::string> CertificateFingerprint(absl::string_view pem);

// OK when `cert_pem` (its first certificate) was signed by the CA
// certificate `ca_pem` and both are valid at `now`; UNAUTHENTICATED with
// the reason otherwise (INVALID_ARGUMENT when either does not parse).
absl::Status VerifyIssuedBy(absl::string_view cert_pem,
                            absl::string_view ca_pem, absl::Time now);

// OK when `cert_pem` is self-signed (its signature verifies with its own
// key); UNAUTHENTICATED otherwise. Dates are not checked: a peer's
// certificate stands for its key, and TLS proves the key.
absl::Status VerifySelfSigned(absl::string_view cert_pem);

// The raw 32-byte Ed25519 public key of a PEM public or private key (what
// `index_server enrol-supernode --key_file` reads). INVALID_ARGUMENT when
// it holds neither.
absl::StatusOr<std::string> Ed25519PublicKeyFromPem(absl::string_view pem);

}  // namespace trove

#endif  // TROVE_COMMON_TLS_H_
