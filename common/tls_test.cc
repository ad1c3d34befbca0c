#include "common/tls.h"

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

constexpr absl::Duration kYear = absl::Hours(24 * 365);

TEST(TlsTest, CommunityCaIsSelfSignedCa) {
  absl::StatusOr<KeyAndCert> ca = MakeCommunityCa("Test CA", 10 * kYear);
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<CertInfo> info = InspectCertificate(ca->cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role, CertRole::kCa);
  EXPECT_TRUE(info->self_signed);
  EXPECT_EQ(info->public_key.size(), 32u);
  EXPECT_EQ(info->id, PeerIdFromPublicKey(info->public_key));
  EXPECT_EQ(info->fingerprint.size(), 64u);
  EXPECT_EQ(*CertificateFingerprint(ca->cert_pem), info->fingerprint);
  EXPECT_LT(info->not_before, absl::Now());
  EXPECT_GT(info->not_after, absl::Now() + 9 * kYear);
  EXPECT_TRUE(VerifySelfSigned(ca->cert_pem).ok());
  // A CA vouches for itself.
  EXPECT_TRUE(VerifyIssuedBy(ca->cert_pem, ca->cert_pem, absl::Now()).ok());
}

TEST(TlsTest, TwoCasHaveDifferentFingerprints) {
  absl::StatusOr<KeyAndCert> a = MakeCommunityCa("A", kYear);
  absl::StatusOr<KeyAndCert> b = MakeCommunityCa("A", kYear);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*CertificateFingerprint(a->cert_pem),
            *CertificateFingerprint(b->cert_pem));
}

TEST(TlsTest, IssuedCertificateBindsKeyRoleAndCa) {
  absl::StatusOr<KeyAndCert> ca = MakeCommunityCa("Test CA", kYear);
  ASSERT_TRUE(ca.ok());
  absl::StatusOr<std::unique_ptr<Identity>> sn = Identity::Generate();
  ASSERT_TRUE(sn.ok());
  absl::StatusOr<std::string> cert =
      IssueCertificate(*ca, (*sn)->public_key(), CertRole::kSupernode, kYear,
                       {"127.0.0.1", "sn.example.org"});
  ASSERT_TRUE(cert.ok()) << cert.status();
  absl::StatusOr<CertInfo> info = InspectCertificate(*cert);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role, CertRole::kSupernode);
  EXPECT_EQ(info->id, (*sn)->peer_id());
  EXPECT_FALSE(info->self_signed);
  EXPECT_TRUE(VerifyIssuedBy(*cert, ca->cert_pem, absl::Now()).ok());
  // Not self-signed: its own key did not sign it.
  EXPECT_EQ(VerifySelfSigned(*cert).code(), absl::StatusCode::kUnauthenticated);
  // Expired a year and a day from now.
  EXPECT_EQ(VerifyIssuedBy(*cert, ca->cert_pem, absl::Now() + kYear +
                                                    absl::Hours(24))
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(TlsTest, AnotherCaDoesNotVerify) {
  absl::StatusOr<KeyAndCert> ca = MakeCommunityCa("Test CA", kYear);
  absl::StatusOr<KeyAndCert> other = MakeCommunityCa("Test CA", kYear);
  ASSERT_TRUE(ca.ok() && other.ok());
  absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  absl::StatusOr<std::string> cert = IssueCertificate(
      *other, (*id)->public_key(), CertRole::kIndex, kYear);
  ASSERT_TRUE(cert.ok());
  // Same subject name as the real CA, different key: refused.
  absl::Status s = VerifyIssuedBy(*cert, ca->cert_pem, absl::Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
}

TEST(TlsTest, IssueRefusesBadInput) {
  absl::StatusOr<KeyAndCert> ca = MakeCommunityCa("Test CA", kYear);
  ASSERT_TRUE(ca.ok());
  std::string key(32, 'k');
  EXPECT_EQ(IssueCertificate(*ca, "short", CertRole::kIndex, kYear).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IssueCertificate(*ca, key, CertRole::kPeer, kYear).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IssueCertificate(*ca, key, CertRole::kIndex, kYear, {"bad,host"})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  KeyAndCert mismatched = *ca;
  mismatched.key_pem = MakeCommunityCa("Other", kYear)->key_pem;
  EXPECT_EQ(IssueCertificate(mismatched, key, CertRole::kIndex, kYear)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TlsTest, SelfSignedPeerCertificate) {
  absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  absl::StatusOr<std::string> cert = SelfSignedCertificate(**id, kYear);
  ASSERT_TRUE(cert.ok()) << cert.status();
  absl::StatusOr<CertInfo> info = InspectCertificate(*cert);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role, CertRole::kPeer);
  EXPECT_EQ(info->id, (*id)->peer_id());
  EXPECT_EQ(info->public_key, (*id)->public_key());
  EXPECT_TRUE(info->self_signed);
  EXPECT_TRUE(VerifySelfSigned(*cert).ok());
}

TEST(TlsTest, SplitChain) {
  absl::StatusOr<KeyAndCert> ca = MakeCommunityCa("Test CA", kYear);
  absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
  ASSERT_TRUE(ca.ok() && id.ok());
  std::string leaf =
      *IssueCertificate(*ca, (*id)->public_key(), CertRole::kIndex, kYear);
  absl::StatusOr<std::vector<std::string>> parts =
      SplitPemCertificates(leaf + ca->cert_pem);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ(InspectCertificate((*parts)[0])->role, CertRole::kIndex);
  EXPECT_EQ(InspectCertificate((*parts)[1])->role, CertRole::kCa);
  EXPECT_EQ(SplitPemCertificates("nothing here").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitPemCertificates(leaf.substr(0, leaf.size() / 2)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TlsTest, InspectRefusesForeignCertificates) {
  EXPECT_EQ(InspectCertificate("garbage").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TlsTest, PublicKeyFromPem) {
  absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  absl::StatusOr<std::string> raw =
      Ed25519PublicKeyFromPem(*(*id)->PrivateKeyPem());
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(*raw, (*id)->public_key());
  EXPECT_EQ(Ed25519PublicKeyFromPem("no key").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trove
