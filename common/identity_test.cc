#include "common/identity.h"

#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace {

TEST(IdentityTest, SignAndVerify) {
  absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ((*id)->public_key().size(), 32u);
  EXPECT_EQ((*id)->peer_id(), PeerIdFromPublicKey((*id)->public_key()));
  EXPECT_EQ((*id)->peer_id().size(), 64u);
  absl::StatusOr<std::string> sig = (*id)->Sign("hello");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(VerifySignature((*id)->public_key(), "hello", *sig).ok());
  EXPECT_EQ(VerifySignature((*id)->public_key(), "hellO", *sig).code(),
            absl::StatusCode::kUnauthenticated);
  std::string bad = *sig;
  bad[3] ^= 1;
  EXPECT_EQ(VerifySignature((*id)->public_key(), "hello", bad).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifySignature("short", "hello", *sig).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifySignature((*id)->public_key(), "hello", "short").code(),
            absl::StatusCode::kInvalidArgument);
  // Another key's signature does not pass for this key.
  absl::StatusOr<std::unique_ptr<Identity>> other = Identity::Generate();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(VerifySignature((*other)->public_key(), "hello", *sig).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(IdentityTest, LoadOrCreatePersists) {
  char dir[] = "/tmp/trove_identity_XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/identity.pem";
  absl::StatusOr<std::unique_ptr<Identity>> first = Identity::LoadOrCreate(path);
  ASSERT_TRUE(first.ok()) << first.status();
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  absl::StatusOr<std::unique_ptr<Identity>> second =
      Identity::LoadOrCreate(path);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ((*first)->peer_id(), (*second)->peer_id());

  std::string junk = std::string(dir) + "/junk.pem";
  FILE* f = fopen(junk.c_str(), "w");
  fputs("not a key", f);
  fclose(f);
  EXPECT_EQ(Identity::LoadOrCreate(junk).status().code(),
            absl::StatusCode::kDataLoss);
  unlink(path.c_str());
  unlink(junk.c_str());
  rmdir(dir);
}

TEST(IdentityTest, PemRoundTrip) {
  absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  absl::StatusOr<std::string> pem = (*id)->PrivateKeyPem();
  ASSERT_TRUE(pem.ok()) << pem.status();
  absl::StatusOr<std::unique_ptr<Identity>> back = Identity::FromPem(*pem);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->peer_id(), (*id)->peer_id());
  EXPECT_EQ(Identity::FromPem("not a key").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trove
