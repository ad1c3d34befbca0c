#include "peer_client/transfer/manifest_check.h"

#include <memory>
#include <string>

#include "common/identity.h"
#include "common/manifest_auth.h"
#include "common/merkle.h"
#include "gtest/gtest.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

class ManifestCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
    ASSERT_TRUE(id.ok()) << id.status();
    identity_ = std::move(*id);
    data_ = testing::RandomBytes(2 * kChunkSize + 100, 5);  // 3 chunks.
    hashes_ = HashBuffer(data_);
    absl::StatusOr<std::string> nonce = NewManifestNonce();
    ASSERT_TRUE(nonce.ok());
    nonce_ = *nonce;
  }

  // A manifest as an honest peer sends it, signed over nonce_.
  peer::Manifest Honest() {
    peer::Manifest m;
    m.set_cid(hashes_.cid);
    m.set_size(hashes_.size);
    m.set_chunk_size(kChunkSize);
    m.set_name("file.bin");
    m.set_peer_id(identity_->peer_id());
    for (const Hash& h : hashes_.chunk_hashes) m.add_chunk_hashes(HashToBytes(h));
    m.set_public_key(identity_->public_key());
    absl::StatusOr<std::string> proof = identity_->Sign(
        ManifestProofMessage(nonce_, hashes_.cid, identity_->peer_id()));
    EXPECT_TRUE(proof.ok());
    m.set_proof(*proof);
    return m;
  }

  absl::StatusOr<CheckedManifest> Check(const peer::Manifest& m) {
    return CheckManifest(m, hashes_.cid, identity_->peer_id(), nonce_);
  }

  std::unique_ptr<Identity> identity_;
  std::string data_;
  FileHashes hashes_;
  std::string nonce_;
};

TEST_F(ManifestCheckTest, HonestManifestPasses) {
  absl::StatusOr<CheckedManifest> m = Check(Honest());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size, hashes_.size);
  EXPECT_EQ(m->name, "file.bin");
  EXPECT_EQ(m->hashes, hashes_.chunk_hashes);
  EXPECT_TRUE(m->have.empty());
}

TEST_F(ManifestCheckTest, WrongCidIsDataLoss) {
  peer::Manifest m = Honest();
  (*m.mutable_chunk_hashes(1))[0] ^= 1;
  EXPECT_EQ(Check(m).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(CheckManifest(Honest(), std::string(64, 'a'), std::nullopt)
                .status()
                .code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(ManifestCheckTest, AnotherPeersAnswerOrProofIsUnauthenticated) {
  peer::Manifest m = Honest();
  m.set_peer_id(std::string(64, 'b'));
  EXPECT_EQ(Check(m).status().code(), absl::StatusCode::kUnauthenticated);
  // A proof over another nonce (a replayed answer).
  absl::StatusOr<CheckedManifest> replayed = CheckManifest(
      Honest(), hashes_.cid, identity_->peer_id(), std::string(32, 'x'));
  EXPECT_EQ(replayed.status().code(), absl::StatusCode::kUnauthenticated);
  m = Honest();
  m.clear_proof();
  EXPECT_EQ(Check(m).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(ManifestCheckTest, UnsafeNameAndBadHaveMapAreInvalidArgument) {
  peer::Manifest m = Honest();
  m.set_name("../../etc/passwd");
  absl::StatusOr<CheckedManifest> r = Check(m);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("unsafe file name"), std::string::npos);
  m = Honest();
  m.set_have(std::string(2, '\x01'));  // 3 chunks need 1 byte.
  EXPECT_EQ(Check(m).status().code(), absl::StatusCode::kInvalidArgument);
  m = Honest();
  m.set_have(std::string(1, '\x05'));
  r = Check(m);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->have, std::string(1, '\x05'));
}

TEST_F(ManifestCheckTest, SavedManifestKeepsOnlyTheFile) {
  absl::StatusOr<CheckedManifest> m = Check(Honest());
  ASSERT_TRUE(m.ok());
  m->have = "\x01";
  peer::Manifest saved = ToSavedManifest(*m, hashes_.cid);
  EXPECT_TRUE(saved.have().empty());
  EXPECT_TRUE(saved.proof().empty());
  EXPECT_TRUE(saved.peer_id().empty());
  absl::StatusOr<CheckedManifest> again =
      CheckManifest(saved, hashes_.cid, std::nullopt);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->hashes, m->hashes);
}

TEST(HaveMapTest, BitsLeastSignificantFirst) {
  EXPECT_TRUE(HaveMapHas("", 12345));  // Empty: holds everything.
  const std::string have("\x05\x80", 2);
  EXPECT_TRUE(HaveMapHas(have, 0));
  EXPECT_FALSE(HaveMapHas(have, 1));
  EXPECT_TRUE(HaveMapHas(have, 2));
  EXPECT_TRUE(HaveMapHas(have, 15));
  EXPECT_FALSE(HaveMapHas(have, 16));  // Past the end.
}

}  // namespace
}  // namespace trove
