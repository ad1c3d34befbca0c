#include "common/signed_change.h"

#include "gtest/gtest.h"

namespace trove {
namespace {

LeafChange SampleChange() {
  LeafChange change;
  change.set_supernode_id(std::string(64, 'a'));
  change.set_seq(7);
  change.set_prev_seq(6);
  change.set_address("127.0.0.1:9000");
  FileEntry* e = change.add_added();
  e->set_cid(std::string(64, 'b'));
  e->set_size(10);
  e->set_name("song.mp3");
  return change;
}

TEST(SignedChangeTest, SignedChangeVerifies) {
  auto id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  auto signed_change = SignLeafChange(**id, SampleChange());
  ASSERT_TRUE(signed_change.ok()) << signed_change.status();
  auto change = VerifyLeafChange(signed_change->bytes, signed_change->signature);
  ASSERT_TRUE(change.ok()) << change.status();
  EXPECT_EQ(change->peer_id(), (*id)->peer_id());
  EXPECT_EQ(change->seq(), 7);
  EXPECT_EQ(change->added(0).name(), "song.mp3");
}

TEST(SignedChangeTest, AlteredBytesAreRefused) {
  auto id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  auto signed_change = SignLeafChange(**id, SampleChange());
  ASSERT_TRUE(signed_change.ok());
  LeafChange altered;
  ASSERT_TRUE(altered.ParseFromString(signed_change->bytes));
  altered.mutable_added(0)->set_name("trojan.exe");
  std::string bytes = altered.SerializeAsString();
  EXPECT_EQ(VerifyLeafChange(bytes, signed_change->signature).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(SignedChangeTest, AnotherKeysSignatureIsRefused) {
  auto victim = Identity::Generate();
  auto forger = Identity::Generate();
  ASSERT_TRUE(victim.ok() && forger.ok());
  // The forger claims the victim's key but signs with its own.
  LeafChange change = SampleChange();
  change.set_peer_id((*victim)->peer_id());
  change.set_public_key((*victim)->public_key());
  std::string bytes = change.SerializeAsString();
  auto signature = (*forger)->Sign("trove-change-v1" + bytes);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(VerifyLeafChange(bytes, *signature).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(SignedChangeTest, PeerIdMustBeTheKeysHash) {
  auto id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  LeafChange change = SampleChange();
  change.set_peer_id(std::string(64, 'c'));
  change.set_public_key((*id)->public_key());
  std::string bytes = change.SerializeAsString();
  auto signature = (*id)->Sign("trove-change-v1" + bytes);
  ASSERT_TRUE(signature.ok());
  EXPECT_EQ(VerifyLeafChange(bytes, *signature).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SignedChangeTest, GarbageIsRefused) {
  EXPECT_EQ(VerifyLeafChange("\xff\xff\xff", std::string(64, 'x'))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SignedChangeTest, PresenceIsNotAChange) {
  auto id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  Presence presence;
  presence.set_supernode_id(std::string(64, 'a'));
  presence.set_valid_until_ms(123);
  auto signed_presence = SignPresence(**id, presence);
  ASSERT_TRUE(signed_presence.ok());
  EXPECT_TRUE(
      VerifyPresence(signed_presence->bytes, signed_presence->signature).ok());
  // The same bytes and signature do not pass as a change (another context).
  EXPECT_FALSE(
      VerifyLeafChange(signed_presence->bytes, signed_presence->signature).ok());
}

TEST(SignedChangeTest, CapacityReportVerifiesAndCannotBeInflated) {
  auto id = Identity::Generate();
  ASSERT_TRUE(id.ok());
  CapacityReport report;
  report.set_address("127.0.0.1:9000");
  report.mutable_capacity()->set_upload_bytes_per_second(1000);
  report.set_issued_at_ms(5);
  auto signed_report = SignCapacityReport(**id, report);
  ASSERT_TRUE(signed_report.ok()) << signed_report.status();
  auto back = VerifyCapacityReport(signed_report->bytes,
                                   signed_report->signature);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->peer_id(), (*id)->peer_id());
  EXPECT_EQ(back->capacity().upload_bytes_per_second(), 1000);
  // A supernode (or anyone) raising the bandwidth breaks the signature.
  CapacityReport inflated = *back;
  inflated.mutable_capacity()->set_upload_bytes_per_second(1 << 30);
  EXPECT_EQ(VerifyCapacityReport(inflated.SerializeAsString(),
                                 signed_report->signature)
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  // Nor is a presence's signature good for a report.
  Presence presence;
  auto signed_presence = SignPresence(**id, presence);
  ASSERT_TRUE(signed_presence.ok());
  EXPECT_FALSE(VerifyCapacityReport(signed_presence->bytes,
                                    signed_presence->signature)
                   .ok());
}

TEST(SignedChangeTest, RegistrationPayloadSeparatesFields) {
  EXPECT_NE(RegistrationPayload("ab", "c", "d"),
            RegistrationPayload("a", "bc", "d"));
}

}  // namespace
}  // namespace trove
