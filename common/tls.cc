#include "common/tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/merkle.h"
#include "common/status_macros.h"

namespace trove {
namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

constexpr char kOrganization[] = "Trove";
constexpr char kPemBegin[] = "-----BEGIN CERTIFICATE-----";
constexpr char kPemEnd[] = "-----END CERTIFICATE-----";

X509Ptr ParseCert(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

absl::StatusOr<X509Ptr> ParseCertOrError(absl::string_view pem,
                                         absl::string_view what) {
  X509Ptr cert = ParseCert(pem);
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not a PEM certificate"));
  }
  return cert;
}

PkeyPtr ParsePrivateKey(absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return nullptr;
  return PkeyPtr(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
}

absl::StatusOr<std::string> ToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return absl::InternalError("could not encode a certificate");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

absl::StatusOr<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PrivateKey(bio.get(), key, nullptr,
                                                 nullptr, 0, nullptr,
                                                 nullptr) != 1) {
    return absl::InternalError("could not encode a private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, len);
}

std::string RawPublicKey(EVP_PKEY* key) {
  std::string out(32, '\0');
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(
          key, reinterpret_cast<unsigned char*>(out.data()), &len) != 1) {
    return "";
  }
  out.resize(len);
  return out;
}

absl::Status AddNameEntry(X509_NAME* name, const char* field,
                          absl::string_view value) {
  if (X509_NAME_add_entry_by_txt(
          name, field, MBSTRING_UTF8,
          reinterpret_cast<const unsigned char*>(value.data()),
          static_cast<int>(value.size()), -1, 0) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot put ", field, "=", value, " in a certificate"));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid,
                          const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad certificate extension ", OBJ_nid2sn(nid), " = ",
                     value));
  }
  int ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  if (ok != 1) return absl::InternalError("cannot add a certificate extension");
  return absl::OkStatus();
}

// A new certificate for `key` (public part) with the subject
// O=Trove, OU=role, CN=common_name, a random serial and the validity.
absl::StatusOr<X509Ptr> NewCert(EVP_PKEY* key, CertRole role,
                                absl::string_view common_name,
                                absl::Duration validity) {
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), 2) != 1) {
    return absl::InternalError("X509_new failed");
  }
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) {
    return absl::InternalError("no random bytes for a serial number");
  }
  serial[0] &= 0x7f;  // Positive.
  serial[0] |= 0x01;  // Never zero, never shortened.
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  ASN1_INTEGER* sn = bn != nullptr ? BN_to_ASN1_INTEGER(bn, nullptr) : nullptr;
  BN_free(bn);
  if (sn == nullptr || X509_set_serialNumber(cert.get(), sn) != 1) {
    ASN1_INTEGER_free(sn);
    return absl::InternalError("cannot set a serial number");
  }
  ASN1_INTEGER_free(sn);
  const time_t now = absl::ToTimeT(absl::Now());
  // An hour back, so that a clock a little behind still accepts it.
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()), now - 3600) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                    now + absl::ToInt64Seconds(validity)) == nullptr) {
    return absl::InternalError("cannot set the validity");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) {
    return absl::InternalError("cannot set the public key");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  RETURN_IF_ERROR(AddNameEntry(subject, "O", kOrganization));
  RETURN_IF_ERROR(AddNameEntry(subject, "OU", CertRoleName(role)));
  RETURN_IF_ERROR(AddNameEntry(subject, "CN", common_name));
  return cert;
}

absl::Status Sign(X509* cert, EVP_PKEY* key) {
  // Ed25519 signs the whole message: no digest.
  if (X509_sign(cert, key, nullptr) <= 0) {
    return absl::InternalError("signing the certificate failed");
  }
  return absl::OkStatus();
}

absl::StatusOr<PkeyPtr> NewEd25519Key() {
  EVP_PKEY* key = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr);
  bool ok = ctx != nullptr && EVP_PKEY_keygen_init(ctx) > 0 &&
            EVP_PKEY_keygen(ctx, &key) > 0;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return absl::InternalError("could not make an Ed25519 key");
  return PkeyPtr(key);
}

absl::StatusOr<CertRole> RoleFromName(absl::string_view name) {
  for (CertRole r : {CertRole::kCa, CertRole::kIndex, CertRole::kSupernode,
                     CertRole::kPeer}) {
    if (CertRoleName(r) == name) return r;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("the certificate names no Trove role (OU is '", name, "')"));
}

std::string NameField(X509_NAME* name, int nid) {
  int i = X509_NAME_get_index_by_NID(name, nid, -1);
  if (i < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), len);
  OPENSSL_free(utf8);
  return out;
}

absl::Time FromAsn1(const ASN1_TIME* t) {
  struct tm tm = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

absl::Status CheckDates(X509* cert, absl::Time now, absl::string_view what) {
  absl::Time from = FromAsn1(X509_get0_notBefore(cert));
  absl::Time until = FromAsn1(X509_get0_notAfter(cert));
  if (now < from) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, " is not valid yet (from ", absl::FormatTime(from), ")"));
  }
  if (now > until) {
    return absl::UnauthenticatedError(absl::StrCat(
        what, " expired on ", absl::FormatTime(until)));
  }
  return absl::OkStatus();
}

absl::StatusOr<CertInfo> Inspect(X509* cert) {
  CertInfo info;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (key == nullptr || EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError("the certificate's key is not Ed25519");
  }
  info.public_key = RawPublicKey(key);
  if (info.public_key.size() != 32) {
    return absl::InvalidArgumentError("the certificate's key is unreadable");
  }
  info.id = PeerIdFromPublicKey(info.public_key);
  X509_NAME* subject = X509_get_subject_name(cert);
  if (NameField(subject, NID_organizationName) != kOrganization) {
    return absl::InvalidArgumentError("not a Trove certificate (O is not Trove)");
  }
  ASSIGN_OR_RETURN(info.role,
                   RoleFromName(NameField(subject, NID_organizationalUnitName)));
  unsigned char* der = nullptr;
  int len = i2d_X509(cert, &der);
  if (len <= 0) return absl::InternalError("cannot encode the certificate");
  info.fingerprint = HexEncode(
      Sha256(absl::string_view(reinterpret_cast<char*>(der), len)));
  OPENSSL_free(der);
  info.self_signed =
      X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(cert)) == 0;
  info.not_before = FromAsn1(X509_get0_notBefore(cert));
  info.not_after = FromAsn1(X509_get0_notAfter(cert));
  return info;
}

}  // namespace

absl::string_view CertRoleName(CertRole role) {
  switch (role) {
    case CertRole::kCa:
      return "community-ca";
    case CertRole::kIndex:
      return "index";
    case CertRole::kSupernode:
      return "supernode";
    case CertRole::kPeer:
      return "peer";
  }
  return "";
}

absl::StatusOr<KeyAndCert> MakeCommunityCa(absl::string_view name,
                                           absl::Duration validity) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("a CA name must be 1 to 64 bytes");
  }
  ASSIGN_OR_RETURN(PkeyPtr key, NewEd25519Key());
  ASSIGN_OR_RETURN(X509Ptr cert, NewCert(key.get(), CertRole::kCa, name, validity));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints,
                               "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_key_usage,
                               "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(),
                               NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(Sign(cert.get(), key.get()));
  KeyAndCert out;
  ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  ASSIGN_OR_RETURN(out.cert_pem, ToPem(cert.get()));
  return out;
}

absl::StatusOr<std::string> IssueCertificate(
    const KeyAndCert& ca, absl::string_view public_key, CertRole role,
    absl::Duration validity, const std::vector<std::string>& hosts) {
  if (role != CertRole::kIndex && role != CertRole::kSupernode) {
    return absl::InvalidArgumentError(
        "the CA issues certificates for the index and supernodes only");
  }
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an Ed25519 public key is 32 bytes, got ", public_key.size()));
  }
  PkeyPtr ca_key = ParsePrivateKey(ca.key_pem);
  if (ca_key == nullptr) {
    return absl::InvalidArgumentError("the CA key is not a PEM private key");
  }
  ASSIGN_OR_RETURN(X509Ptr ca_cert, ParseCertOrError(ca.cert_pem, "the CA certificate"));
  ASSIGN_OR_RETURN(CertInfo ca_info, Inspect(ca_cert.get()));
  if (ca_info.role != CertRole::kCa ||
      RawPublicKey(ca_key.get()) != ca_info.public_key) {
    return absl::InvalidArgumentError(
        "the CA key and certificate do not belong together");
  }
  PkeyPtr subject_key(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(public_key.data()),
      public_key.size()));
  if (subject_key == nullptr) {
    return absl::InvalidArgumentError("not a valid Ed25519 public key");
  }
  ASSIGN_OR_RETURN(X509Ptr cert,
                   NewCert(subject_key.get(), role,
                           PeerIdFromPublicKey(public_key), validity));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert.get()));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_basic_constraints,
                               "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_key_usage,
                               "critical,digitalSignature"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(), NID_ext_key_usage,
                               "serverAuth,clientAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(),
                               NID_authority_key_identifier, "keyid:always"));
  std::vector<std::string> names = {absl::StrCat("DNS:", kTlsServerName)};
  for (const std::string& host : hosts) {
    if (host.empty()) continue;
    unsigned char buf[16];
    bool ip = inet_pton(AF_INET, host.c_str(), buf) == 1 ||
              inet_pton(AF_INET6, host.c_str(), buf) == 1;
    if (!ip && (absl::StrContains(host, ",") || absl::StrContains(host, ":"))) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", host, "' is neither a host name nor an IP address"));
    }
    names.push_back(absl::StrCat(ip ? "IP:" : "DNS:", host));
  }
  RETURN_IF_ERROR(AddExtension(cert.get(), ca_cert.get(),
                               NID_subject_alt_name, absl::StrJoin(names, ",")));
  RETURN_IF_ERROR(Sign(cert.get(), ca_key.get()));
  return ToPem(cert.get());
}

absl::StatusOr<std::string> SelfSignedCertificate(const Identity& identity,
                                                  absl::Duration validity) {
  ASSIGN_OR_RETURN(std::string key_pem, identity.PrivateKeyPem());
  PkeyPtr key = ParsePrivateKey(key_pem);
  if (key == nullptr) return absl::InternalError("cannot read the identity key");
  ASSIGN_OR_RETURN(X509Ptr cert, NewCert(key.get(), CertRole::kPeer,
                                         identity.peer_id(), validity));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_basic_constraints,
                               "critical,CA:FALSE"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_ext_key_usage,
                               "serverAuth,clientAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_alt_name,
                               absl::StrCat("DNS:", kTlsServerName)));
  RETURN_IF_ERROR(Sign(cert.get(), key.get()));
  return ToPem(cert.get());
}

absl::StatusOr<std::vector<std::string>> SplitPemCertificates(
    absl::string_view pem) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t begin = pem.find(kPemBegin, pos);
    if (begin == absl::string_view::npos) break;
    size_t end = pem.find(kPemEnd, begin);
    if (end == absl::string_view::npos) {
      return absl::InvalidArgumentError("a PEM certificate is cut short");
    }
    end += sizeof(kPemEnd) - 1;
    std::string block = absl::StrCat(pem.substr(begin, end - begin), "\n");
    if (ParseCert(block) == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate ", out.size() + 1, " of the chain does not parse"));
    }
    out.push_back(std::move(block));
    pos = end;
  }
  if (out.empty()) return absl::InvalidArgumentError("no PEM certificate");
  return out;
}

absl::StatusOr<CertInfo> InspectCertificate(absl::string_view pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertOrError(pem, "the certificate"));
  return Inspect(cert.get());
}

absl::StatusOr<std::string> CertificateFingerprint(absl::string_view pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertOrError(pem, "the certificate"));
  unsigned char* der = nullptr;
  int len = i2d_X509(cert.get(), &der);
  if (len <= 0) return absl::InternalError("cannot encode the certificate");
  std::string fp =
      HexEncode(Sha256(absl::string_view(reinterpret_cast<char*>(der), len)));
  OPENSSL_free(der);
  return fp;
}

absl::Status VerifyIssuedBy(absl::string_view cert_pem,
                            absl::string_view ca_pem, absl::Time now) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertOrError(cert_pem, "the certificate"));
  ASSIGN_OR_RETURN(X509Ptr ca, ParseCertOrError(ca_pem, "the CA certificate"));
  if (X509_check_ca(ca.get()) < 1) {
    return absl::UnauthenticatedError("the trusted certificate is not a CA");
  }
  if (X509_check_issued(ca.get(), cert.get()) != X509_V_OK) {
    return absl::UnauthenticatedError(
        "the certificate was not issued by the community CA");
  }
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  if (ca_key == nullptr || X509_verify(cert.get(), ca_key) != 1) {
    return absl::UnauthenticatedError(
        "the certificate's signature does not verify with the community CA");
  }
  RETURN_IF_ERROR(CheckDates(ca.get(), now, "the community CA"));
  return CheckDates(cert.get(), now, "the certificate");
}

absl::Status VerifySelfSigned(absl::string_view cert_pem) {
  ASSIGN_OR_RETURN(X509Ptr cert, ParseCertOrError(cert_pem, "the certificate"));
  EVP_PKEY* key = X509_get0_pubkey(cert.get());
  if (key == nullptr || X509_verify(cert.get(), key) != 1) {
    return absl::UnauthenticatedError(
        "the certificate is not signed by its own key");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Ed25519PublicKeyFromPem(absl::string_view pem) {
  PkeyPtr key = ParsePrivateKey(pem);
  if (key == nullptr) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    key.reset(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  }
  if (key == nullptr || EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(
        "not an Ed25519 public or private key in PEM");
  }
  std::string raw = RawPublicKey(key.get());
  if (raw.size() != 32) return absl::InvalidArgumentError("unreadable key");
  return raw;
}

}  // namespace trove
