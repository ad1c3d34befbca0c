#include "common/community_ca.h"

#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace {

constexpr absl::Duration kYear = absl::Hours(24 * 365);

class CommunityCaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = *MakeCommunityCa("Test CA", kYear);
    client_ = *TlsContext::Ephemeral("");
    char dir[] = "/tmp/trove_community_ca_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
  }
  void TearDown() override {
    ::unlink((dir_ + "/ca.pem").c_str());
    ::rmdir(dir_.c_str());
  }

  // Serves with a certificate for `role` issued by `ca`, sending
  // `chain_with_ca` ? leaf + CA : leaf.
  void Serve(CertRole role, const KeyAndCert& ca, bool chain_with_ca = true) {
    std::unique_ptr<Identity> key = *Identity::Generate();
    std::string leaf = *IssueCertificate(ca, key->public_key(), role, kYear);
    auto ctx = *TlsContext::Create(*key->PrivateKeyPem(),
                                   chain_with_ca ? leaf + ca.cert_pem : leaf,
                                   ca.cert_pem);
    absl::StatusOr<RunningServer> s =
        StartServer("127.0.0.1:0", {&service_}, ctx->ServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }

  CommunityLink Link(const std::string& fingerprint) {
    CommunityLink link;
    size_t colon = server_.address.rfind(':');
    link.host = server_.address.substr(0, colon);
    EXPECT_TRUE(absl::SimpleAtoi(server_.address.substr(colon + 1), &link.port));
    link.ca_fingerprint = fingerprint;
    return link;
  }

  KeyAndCert ca_;
  std::shared_ptr<const TlsContext> client_;
  std::string dir_;
  peer::PeerService::Service service_;
  RunningServer server_;
};

TEST_F(CommunityCaTest, LearnsTheCaFromTheIndex) {
  Serve(CertRole::kIndex, ca_);
  absl::StatusOr<std::string> ca = FetchCommunityCa(
      Link(*CertificateFingerprint(ca_.cert_pem)), *client_, absl::Seconds(10));
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(*CertificateFingerprint(*ca), *CertificateFingerprint(ca_.cert_pem));
}

TEST_F(CommunityCaTest, RefusesAnotherFingerprint) {
  Serve(CertRole::kIndex, ca_);
  KeyAndCert other = *MakeCommunityCa("Test CA", kYear);
  absl::StatusOr<std::string> ca = FetchCommunityCa(
      Link(*CertificateFingerprint(other.cert_pem)), *client_, absl::Seconds(5));
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kUnauthenticated) << ca.status();
  EXPECT_NE(ca.status().message().find("fingerprint"), absl::string_view::npos);
}

TEST_F(CommunityCaTest, RefusesAChainWithoutTheCa) {
  Serve(CertRole::kIndex, ca_, /*chain_with_ca=*/false);
  absl::StatusOr<std::string> ca = FetchCommunityCa(
      Link(*CertificateFingerprint(ca_.cert_pem)), *client_, absl::Seconds(5));
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kUnauthenticated) << ca.status();
}

TEST_F(CommunityCaTest, RefusesASupernodeAtTheIndexAddress) {
  Serve(CertRole::kSupernode, ca_);
  absl::StatusOr<std::string> ca = FetchCommunityCa(
      Link(*CertificateFingerprint(ca_.cert_pem)), *client_, absl::Seconds(5));
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kUnauthenticated) << ca.status();
  EXPECT_NE(ca.status().message().find("not the community's index"),
            absl::string_view::npos)
      << ca.status();
}

TEST_F(CommunityCaTest, UnreachableIndex) {
  Serve(CertRole::kIndex, ca_);
  CommunityLink link = Link(*CertificateFingerprint(ca_.cert_pem));
  server_.server->Shutdown();
  server_.server.reset();
  absl::StatusOr<std::string> ca =
      FetchCommunityCa(link, *client_, absl::Milliseconds(500));
  EXPECT_EQ(ca.status().code(), absl::StatusCode::kUnavailable) << ca.status();
}

TEST_F(CommunityCaTest, KeepsTheCaAndUsesItNextTime) {
  Serve(CertRole::kIndex, ca_);
  CommunityLink link = Link(*CertificateFingerprint(ca_.cert_pem));
  const std::string cache = dir_ + "/ca.pem";
  // A stale CA of another community in the cache is replaced.
  ASSERT_TRUE(WriteFileAtomic(cache, MakeCommunityCa("Old", kYear)->cert_pem).ok());
  absl::StatusOr<std::string> ca =
      LoadOrFetchCommunityCa(link, cache, *client_, absl::Seconds(10));
  ASSERT_TRUE(ca.ok()) << ca.status();
  EXPECT_EQ(*ReadFile(cache), *ca);
  server_.server->Shutdown();
  server_.server.reset();
  // The index is gone; the kept CA still serves.
  absl::StatusOr<std::string> again =
      LoadOrFetchCommunityCa(link, cache, *client_, absl::Milliseconds(200));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, *ca);
}

}  // namespace
}  // namespace trove
