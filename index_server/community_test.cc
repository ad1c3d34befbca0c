#include "index_server/community.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/community_files.h"
#include "common/community_link.h"
#include "common/file_util.h"
#include "common/identity.h"
#include "common/tls.h"
#include "index_server/admin_token.h"
#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

class CommunityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/trove_community_test_XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
  }
  void TearDown() override {
    if (absl::StartsWith(root_, "/tmp/trove_community_test_")) {
      std::system(absl::StrCat("rm -rf '", root_, "'").c_str());
    }
  }
  InitOptions Options() {
    InitOptions o;
    o.dir = root_ + "/community";
    o.listen = "0.0.0.0:7400";
    o.advertise = "index.example.org:7400";
    o.postgres = "host=db dbname=trove";
    o.owns_flag = [](absl::string_view) { return false; };
    return o;
  }
  std::string File(const char* name) {
    return absl::StrCat(root_, "/community/", name);
  }
  int Mode(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? (st.st_mode & 0777) : -1;
  }

  std::string root_;
};

TEST_F(CommunityTest, InitMakesCaIndexCertificateConfigAndLink) {
  absl::StatusOr<InitResult> r = InitCommunity(Options());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Mode(root_ + "/community"), 0700);
  EXPECT_EQ(Mode(File(kCaKeyFile)), 0600);
  EXPECT_EQ(Mode(File(kIndexKeyFile)), 0600);
  EXPECT_EQ(Mode(File(kIndexConfigFile)), 0600);

  // The link names the advertised address and the CA's fingerprint.
  absl::StatusOr<CommunityLink> link = ParseCommunityLink(r->link);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->address(), "index.example.org:7400");
  std::string ca = *ReadFile(File(kCaCertFile));
  EXPECT_EQ(link->ca_fingerprint, *CertificateFingerprint(ca));
  EXPECT_EQ(*ReadFile(File(kLinkFile)), r->link + "\n");

  // index.pem: the index's certificate, issued by the CA, then the CA.
  absl::StatusOr<std::vector<std::string>> chain =
      SplitPemCertificates(*ReadFile(File(kIndexCertFile)));
  ASSERT_TRUE(chain.ok() && chain->size() == 2);
  EXPECT_EQ(InspectCertificate((*chain)[0])->role, CertRole::kIndex);
  EXPECT_EQ(InspectCertificate((*chain)[0])->id, r->index_id);
  EXPECT_TRUE(VerifyIssuedBy((*chain)[0], ca, absl::Now()).ok());
  EXPECT_EQ((*chain)[1], ca);
  // ... for the key in index.key.
  EXPECT_EQ((*Identity::FromPem(*ReadFile(File(kIndexKeyFile))))->peer_id(),
            r->index_id);

  // The config names the files and the settings given.
  std::string config = *ReadFile(r->config_path);
  EXPECT_NE(config.find("listen = 0.0.0.0:7400\n"), std::string::npos);
  absl::StatusOr<std::vector<ConfigSetting>> settings = ParseConfig(config, "c");
  ASSERT_TRUE(settings.ok()) << settings.status();
  std::map<std::string, std::string> values;
  for (const ConfigSetting& c : *settings) values[c.name] = c.value;
  EXPECT_EQ(values["postgres"], "host=db dbname=trove");
  EXPECT_EQ(values["tls_key"], File(kIndexKeyFile));
  EXPECT_EQ(values.size(), 6u);
  // The first admin token: only for the operator (0600); the config names
  // its hash, never the token.
  absl::StatusOr<std::string> token = ReadFile(r->admin_token_path);
  ASSERT_TRUE(token.ok()) << token.status();
  const std::string bare(absl::StripTrailingAsciiWhitespace(*token));
  EXPECT_TRUE(CheckAdminTokenForm(bare).ok()) << bare;
  EXPECT_EQ(values["initial_admin_token_hash"], AdminTokenHash(bare));
  EXPECT_EQ(config.find(bare), std::string::npos);
  struct stat st;
  ASSERT_EQ(stat(r->admin_token_path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_NE(config.find(absl::StrCat("tls_cert = ", File(kIndexCertFile))),
            std::string::npos);
  EXPECT_NE(config.find(absl::StrCat("tls_ca = ", File(kCaCertFile))),
            std::string::npos);
  EXPECT_NE(config.find(r->link), std::string::npos);
}

TEST_F(CommunityTest, InitNeverOverwrites) {
  absl::StatusOr<InitResult> first = InitCommunity(Options());
  ASSERT_TRUE(first.ok());
  std::string ca = *ReadFile(File(kCaKeyFile));
  absl::StatusOr<InitResult> again = InitCommunity(Options());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(*ReadFile(File(kCaKeyFile)), ca);
}

TEST_F(CommunityTest, InitNeedsAReachableAddress) {
  InitOptions o = Options();
  o.advertise = "";
  absl::StatusOr<InitResult> r = InitCommunity(o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StrContains(r.status().message(), "--advertise")) << r.status();
  o.listen = "127.0.0.1:0";
  EXPECT_EQ(InitCommunity(o).status().code(), absl::StatusCode::kInvalidArgument);
  o.listen = "127.0.0.1:7400";
  absl::StatusOr<InitResult> ok = InitCommunity(o);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_TRUE(absl::StartsWith(ok->link, "trove://127.0.0.1:7400?ca="));
}

TEST_F(CommunityTest, EnrolMakesKeyAndCertificateInTheStateFolder) {
  ASSERT_TRUE(InitCommunity(Options()).ok());
  EnrolOptions e;
  e.community_dir = root_ + "/community";
  e.out_dir = root_ + "/sn";
  absl::StatusOr<EnrolResult> r = EnrolSupernode(e);
  ASSERT_TRUE(r.ok()) << r.status();
  std::string key = *ReadFile(root_ + "/sn/" + kSupernodeKeyFile);
  EXPECT_EQ((*Identity::FromPem(key))->peer_id(), r->supernode_id);
  std::string cert = *ReadFile(root_ + "/sn/" + kSupernodeCertFile);
  EXPECT_EQ(cert, r->cert_pem);
  absl::StatusOr<CertInfo> info = InspectCertificate(cert);
  EXPECT_EQ(info->role, CertRole::kSupernode);
  EXPECT_EQ(info->id, r->supernode_id);
  std::string ca = *ReadFile(File(kCaCertFile));
  EXPECT_TRUE(VerifyIssuedBy(cert, ca, absl::Now()).ok());
  EXPECT_EQ(*ReadFile(root_ + "/sn/" + kCommunityCaFile), ca);

  // Again: the same key, a new certificate (renewal).
  absl::StatusOr<EnrolResult> again = EnrolSupernode(e);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->supernode_id, r->supernode_id);
}

TEST_F(CommunityTest, RenewIndexKeepsTheKeyAndExtendsTheCertificate) {
  InitOptions o = Options();
  o.cert_validity = absl::Hours(24 * 10);
  absl::StatusOr<InitResult> init = InitCommunity(o);
  ASSERT_TRUE(init.ok()) << init.status();
  const std::string before = *ReadFile(File(kIndexCertFile));
  const std::string key = *ReadFile(File(kIndexKeyFile));
  const std::string link = *ReadFile(File(kLinkFile));

  absl::StatusOr<RenewResult> r =
      RenewIndexCertificate(root_ + "/community", absl::Hours(24 * 400));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->index_id, init->index_id);
  EXPECT_LT(r->old_not_after, absl::Now() + absl::Hours(24 * 11));
  EXPECT_GT(r->new_not_after, absl::Now() + absl::Hours(24 * 399));
  const std::string after = *ReadFile(File(kIndexCertFile));
  EXPECT_NE(after, before);
  // The same key, role and CA; the chain still ends with the CA; the key
  // and the link are untouched.
  absl::StatusOr<CertInfo> info = InspectCertificate(after);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->role, CertRole::kIndex);
  EXPECT_EQ(info->id, init->index_id);
  EXPECT_EQ(info->not_after, r->new_not_after);
  const std::string ca = *ReadFile(File(kCaCertFile));
  EXPECT_TRUE(VerifyIssuedBy(after, ca, absl::Now()).ok());
  absl::StatusOr<std::vector<std::string>> chain = SplitPemCertificates(after);
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ(*CertificateFingerprint((*chain)[1]), init->ca_fingerprint);
  EXPECT_EQ(*ReadFile(File(kIndexKeyFile)), key);
  EXPECT_EQ(*ReadFile(File(kLinkFile)), link);
}

TEST_F(CommunityTest, RenewIndexRefusesWhatIsNotACommunity) {
  absl::StatusOr<RenewResult> r =
      RenewIndexCertificate(root_ + "/nothing", absl::Hours(24));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "not a community folder"))
      << r.status();
  ASSERT_TRUE(InitCommunity(Options()).ok());
  // An index.pem of another key is not replaced.
  ASSERT_TRUE(WriteFileAtomic(File(kIndexKeyFile),
                              *(*Identity::Generate())->PrivateKeyPem(), 0600)
                  .ok());
  const std::string before = *ReadFile(File(kIndexCertFile));
  r = RenewIndexCertificate(root_ + "/community", absl::Hours(24));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_EQ(*ReadFile(File(kIndexCertFile)), before);
}

TEST_F(CommunityTest, EnrolByPublicKeyAndRefusals) {
  ASSERT_TRUE(InitCommunity(Options()).ok());
  std::unique_ptr<Identity> key = *Identity::Generate();
  EnrolOptions e;
  e.community_dir = root_ + "/community";
  e.public_key = key->public_key();
  absl::StatusOr<EnrolResult> r = EnrolSupernode(e);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->supernode_id, key->peer_id());
  EXPECT_TRUE(r->cert_path.empty());

  // A state folder holding another key.
  e.out_dir = root_ + "/sn";
  e.public_key = "";
  ASSERT_TRUE(EnrolSupernode(e).ok());
  e.public_key = key->public_key();
  EXPECT_EQ(EnrolSupernode(e).status().code(), absl::StatusCode::kInvalidArgument);

  EnrolOptions none;
  none.community_dir = root_ + "/community";
  EXPECT_EQ(EnrolSupernode(none).status().code(),
            absl::StatusCode::kInvalidArgument);
  none.community_dir = root_ + "/nowhere";
  none.public_key = key->public_key();
  EXPECT_EQ(EnrolSupernode(none).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace index_server
}  // namespace trove
