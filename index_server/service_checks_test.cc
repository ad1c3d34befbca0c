// The IndexService's request checks (service.h) on their own: what each
// accepts and refuses before the service touches its store.
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "common/identity.h"
#include "common/search/query.h"
#include "common/signed_change.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/service.h"
#include "tests/testing/ids.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::HasSubstr;

using testutil::Id;

using testutil::NewIdentity;

index::RegisterSupernodeRequest SignedRegistration(const Identity& id) {
  index::RegisterSupernodeRequest r;
  r.set_supernode_id(id.peer_id());
  r.set_address("127.0.0.1:7000");
  r.set_public_key(id.public_key());
  r.set_nonce("nonce");
  r.set_signature(
      *id.Sign(RegistrationPayload(r.nonce(), r.supernode_id(), r.address())));
  return r;
}

TEST(ServiceChecksTest, RegistrationFields) {
  index::RegisterSupernodeRequest r;
  r.set_supernode_id(Id('a', 1));
  r.set_address("127.0.0.1:7000");
  EXPECT_TRUE(ValidateRegisterSupernode(r).ok());
  r.set_address("unix:/x\nforged line");
  EXPECT_THAT(ValidateRegisterSupernode(r).message(), HasSubstr("address"));
  r.set_address("127.0.0.1:7000");
  r.mutable_capacity()->set_uptime_seconds(-1);
  EXPECT_THAT(ValidateRegisterSupernode(r).message(), HasSubstr("capacity"));
  r.set_supernode_id("A");
  EXPECT_THAT(ValidateRegisterSupernode(r).message(),
              HasSubstr("supernode_id"));
}

TEST(ServiceChecksTest, RegistrationProofBindsKeyNonceAndAddress) {
  std::unique_ptr<Identity> id = NewIdentity();
  index::RegisterSupernodeRequest r = SignedRegistration(*id);
  EXPECT_TRUE(CheckRegistrationProof(r).ok());
  index::RegisterSupernodeRequest other = r;
  other.set_address("127.0.0.1:7001");
  EXPECT_EQ(CheckRegistrationProof(other).code(),
            absl::StatusCode::kUnauthenticated);
  other = r;
  other.set_nonce("another");
  EXPECT_EQ(CheckRegistrationProof(other).code(),
            absl::StatusCode::kUnauthenticated);
  other = r;
  other.set_supernode_id(Id('a', 1));
  EXPECT_THAT(CheckRegistrationProof(other).message(),
              HasSubstr("supernode_id is not the SHA-256 of public_key"));
  other = r;
  other.set_public_key("short");
  EXPECT_THAT(CheckRegistrationProof(other).message(), HasSubstr("public_key"));
}

TEST(ServiceChecksTest, RenewEndLeaseAndLocate) {
  index::RenewLeaseRequest renew;
  renew.set_supernode_id(Id('a', 1));
  EXPECT_TRUE(ValidateRenewLease(renew).ok());
  renew.set_leaf_count(-1);
  EXPECT_THAT(ValidateRenewLease(renew).message(), HasSubstr("leaf_count"));

  index::EndLeaseRequest end;
  end.set_supernode_id(Id('a', 1));
  EXPECT_TRUE(ValidateEndLease(end).ok());
  end.set_generation(-2);
  EXPECT_THAT(ValidateEndLease(end).message(), HasSubstr("generation"));

  index::LocateRequest locate;
  locate.set_cid(Id('c', 1));
  EXPECT_TRUE(ValidateLocate(locate).ok());
  locate.set_limit(-1);
  EXPECT_THAT(ValidateLocate(locate).message(), HasSubstr("limit"));
  locate.set_cid("C");
  EXPECT_THAT(ValidateLocate(locate).message(), HasSubstr("cid"));
}

TEST(ServiceChecksTest, PresencesKeepOnlyThoseSignedForTheSupernode) {
  std::unique_ptr<Identity> leaf = NewIdentity();
  const std::string node = Id('a', 1);
  Presence p;
  p.set_supernode_id(node);
  p.set_valid_until_ms(absl::ToUnixMillis(absl::FromUnixSeconds(5000)));
  absl::StatusOr<Signed> good = SignPresence(*leaf, p);
  ASSERT_TRUE(good.ok());
  p.set_supernode_id(Id('a', 2));
  absl::StatusOr<Signed> elsewhere = SignPresence(*leaf, p);
  ASSERT_TRUE(elsewhere.ok());

  index::RenewLeaseRequest r;
  r.set_supernode_id(node);
  for (const Signed* s : {&*good, &*elsewhere}) {
    index::SignedPresence* sp = r.add_presences();
    sp->set_presence(s->bytes);
    sp->set_signature(s->signature);
  }
  index::SignedPresence* forged = r.add_presences();
  forged->set_presence(good->bytes);
  forged->set_signature(std::string(64, 'x'));

  int refused = 0;
  const absl::Time latest = absl::FromUnixSeconds(1000);
  auto kept = VerifiedPresences(r, latest, &refused);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].first, leaf->peer_id());
  EXPECT_EQ(kept[0].second, latest);  // capped
  EXPECT_EQ(refused, 2);
}

TEST(ServiceChecksTest, SearchRequestsAreValidatedAndParsed) {
  IndexServiceOptions options;
  options.search_default_limit = 7;
  options.search_max_limit = 9;
  index::SearchRequest r;
  r.mutable_query()->set_text("\"dark side\" moon -live");
  absl::StatusOr<search::ParsedQuery> parsed = ParseSearchRequest(r, options);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->limit, 7);
  EXPECT_EQ(parsed->excluded_words.size(), 1u);
  r.mutable_query()->set_limit(100);
  EXPECT_EQ(ParseSearchRequest(r, options)->limit, 9);
  r.mutable_query()->set_text("bad\xe2\x80\xae");
  EXPECT_FALSE(ParseSearchRequest(r, options).ok());
  r.mutable_query()->set_text("moon");
  r.mutable_query()->set_cursor("not a cursor");
  EXPECT_THAT(ParseSearchRequest(r, options).status().message(),
              HasSubstr("cursor"));
}

TEST(ServiceChecksTest, PeerReportsVerifyAndCheckTheirFields) {
  std::unique_ptr<Identity> peer = NewIdentity();
  CapacityReport report;
  report.set_address("127.0.0.1:7005");
  report.set_supernode_id(Id('a', 1));
  absl::StatusOr<Signed> s = SignCapacityReport(*peer, report);
  ASSERT_TRUE(s.ok());
  index::ReportPeerRequest r;
  r.set_report(s->bytes);
  r.set_signature(s->signature);
  absl::StatusOr<CapacityReport> checked = CheckPeerReport(r);
  ASSERT_TRUE(checked.ok()) << checked.status();
  EXPECT_EQ(checked->peer_id(), peer->peer_id());

  report.set_supernode_address("unix:/a\x1b[31m");
  s = SignCapacityReport(*peer, report);
  r.set_report(s->bytes);
  r.set_signature(s->signature);
  EXPECT_THAT(CheckPeerReport(r).status().message(),
              HasSubstr("supernode_address"));
  r.set_signature("short");
  EXPECT_THAT(CheckPeerReport(r).status().message(), HasSubstr("signature"));
}

TEST(ServiceChecksTest, PublishDeltasVerifiesSignedChangesIntoTheBatch) {
  std::unique_ptr<Identity> leaf = NewIdentity();
  IndexServiceOptions options;
  options.verify_threads = 1;
  LeafChange change;
  change.set_supernode_id(Id('a', 1));
  change.set_seq(3);
  change.set_prev_seq(2);
  change.set_address("127.0.0.1:7002");
  FileEntry* e = change.add_added();
  e->set_cid(Id('c', 1));
  e->set_name("song.mp3");
  e->set_size(10);
  absl::StatusOr<Signed> s = SignLeafChange(*leaf, change);
  ASSERT_TRUE(s.ok());
  index::PublishDeltasRequest r;
  r.set_supernode_id(Id('a', 1));
  index::PeerDelta* d = r.add_deltas();
  d->set_signed_change(s->bytes);
  d->set_signature(s->signature);
  d->set_address("10.0.0.1:1");  // not signed: replaced

  index::PublishDeltasRequest verified;
  absl::StatusOr<const index::PublishDeltasRequest*> batch =
      CheckPublishDeltas(r, options, &verified);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(*batch, &verified);
  EXPECT_EQ((*batch)->deltas(0).peer_id(), leaf->peer_id());
  EXPECT_EQ((*batch)->deltas(0).address(), "127.0.0.1:7002");
  EXPECT_EQ((*batch)->deltas(0).seq(), 3);
  EXPECT_EQ((*batch)->deltas(0).prev_seq(), 2);

  r.set_supernode_id(Id('a', 2));
  EXPECT_EQ(CheckPublishDeltas(r, options, &verified).status().code(),
            absl::StatusCode::kPermissionDenied);
  r.set_supernode_id(Id('a', 1));
  r.mutable_deltas(0)->set_signature(std::string(64, 'x'));
  EXPECT_EQ(CheckPublishDeltas(r, options, &verified).status().code(),
            absl::StatusCode::kUnauthenticated);

  // Unsigned deltas pass only when verification is off.
  index::PublishDeltasRequest plain;
  plain.set_supernode_id(Id('a', 1));
  index::PeerDelta* p = plain.add_deltas();
  p->set_peer_id(Id('e', 1));
  p->set_address("127.0.0.1:7003");
  EXPECT_THAT(CheckPublishDeltas(plain, options, &verified).status().message(),
              HasSubstr("deltas[0]: the change is not signed"));
  options.verify_leaf_changes = false;
  batch = CheckPublishDeltas(plain, options, &verified);
  ASSERT_TRUE(batch.ok()) << batch.status();
  EXPECT_EQ(*batch, &plain);
}

}  // namespace
}  // namespace index_server
}  // namespace trove
