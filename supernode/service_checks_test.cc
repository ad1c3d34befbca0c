// The supernode's request checks (service.h) and the join proof
// (leaf_registry.h) on their own.
#include <memory>
#include <string>

#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/signed_change.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "supernode/leaf_registry.h"
#include "supernode/service.h"
#include "tests/testing/ids.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::HasSubstr;

using testutil::Id;

using testutil::NewIdentity;

JoinRequest SignedJoin(const Identity& id, int bits) {
  JoinRequest r;
  r.set_public_key(id.public_key());
  r.set_nonce("0123456789abcdef");
  r.set_listen_address("127.0.0.1:7100");
  r.set_work(SolveJoinWork(r.nonce(), r.public_key(), bits));
  r.set_signature(*id.Sign(JoinSignedMessage(r.nonce(), r.listen_address())));
  return r;
}

TEST(ServiceChecksTest, JoinShape) {
  std::unique_ptr<Identity> id = NewIdentity();
  JoinRequest r = SignedJoin(*id, 0);
  EXPECT_TRUE(ValidateJoinRequest(r).ok());
  JoinRequest bad = r;
  bad.set_listen_address("unix:/x\nforged");
  EXPECT_THAT(ValidateJoinRequest(bad).message(), HasSubstr("listen_address"));
  bad = r;
  bad.set_public_key("short");
  EXPECT_THAT(ValidateJoinRequest(bad).message(), HasSubstr("public_key"));
  bad = r;
  bad.clear_nonce();
  EXPECT_THAT(ValidateJoinRequest(bad).message(), HasSubstr("nonce"));
  bad = r;
  bad.set_work(std::string(65, 'w'));
  EXPECT_THAT(ValidateJoinRequest(bad).message(), HasSubstr("work"));
  bad = r;
  bad.mutable_capacity()->set_free_memory_bytes(-1);
  EXPECT_THAT(ValidateJoinRequest(bad).message(), HasSubstr("capacity"));
}

TEST(ServiceChecksTest, JoinProofNeedsTheWorkAndTheSignature) {
  std::unique_ptr<Identity> id = NewIdentity();
  JoinRequest r = SignedJoin(*id, 8);
  EXPECT_TRUE(CheckJoinProof(r, 8).ok());
  // Work for 8 bits rarely meets 20.
  if (!JoinWorkMeets(r.nonce(), r.public_key(), r.work(), 20)) {
    EXPECT_EQ(CheckJoinProof(r, 20).code(), absl::StatusCode::kPermissionDenied);
  }
  JoinRequest moved = r;
  moved.set_listen_address("127.0.0.1:7101");
  EXPECT_EQ(CheckJoinProof(moved, 0).code(),
            absl::StatusCode::kUnauthenticated);
  JoinRequest other = SignedJoin(*NewIdentity(), 0);
  other.set_signature(r.signature());
  EXPECT_THAT(CheckJoinProof(other, 0).message(), HasSubstr("join refused"));
}

TEST(ServiceChecksTest, PublishTakesTheSignedChangeOverThePlainFields) {
  std::unique_ptr<Identity> leaf = NewIdentity();
  LeafChange change;
  change.set_supernode_id(Id('a', 1));
  change.set_seq(4);
  change.set_full(true);
  change.set_address("127.0.0.1:7102");
  FileEntry* e = change.add_added();
  e->set_cid(Id('c', 1));
  e->set_name("a.txt");
  e->set_size(3);
  absl::StatusOr<Signed> s = SignLeafChange(*leaf, change);
  ASSERT_TRUE(s.ok());
  PublishRequest r;
  r.set_session("s");
  r.set_signed_change(s->bytes);
  r.set_signature(s->signature);
  r.add_removed(Id('c', 2));  // plain: ignored
  absl::StatusOr<CheckedPublish> p = CheckPublish(r, 10);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(p->change.has_value());
  EXPECT_EQ(p->change->peer_id(), leaf->peer_id());
  EXPECT_EQ(p->change->seq(), 4);
  EXPECT_TRUE(p->request().full());
  EXPECT_EQ(p->request().added_size(), 1);
  EXPECT_EQ(p->request().removed_size(), 0);
  EXPECT_EQ(p->request().session(), "s");

  r.set_signature(std::string(64, 'x'));
  EXPECT_EQ(CheckPublish(r, 10).status().code(),
            absl::StatusCode::kUnauthenticated);
  r.clear_session();
  EXPECT_THAT(CheckPublish(r, 10).status().message(), HasSubstr("session"));

  change.set_address("unix:/x\x1b[2J");
  s = SignLeafChange(*leaf, change);
  r.set_session("s");
  r.set_signed_change(s->bytes);
  r.set_signature(s->signature);
  EXPECT_THAT(CheckPublish(r, 10).status().message(),
              HasSubstr("the change's address"));

  PublishRequest plain;
  plain.set_session("s");
  plain.add_removed(Id('c', 2));
  p = CheckPublish(plain, 10);
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->change.has_value());
  EXPECT_EQ(p->request().removed_size(), 1);
  plain.add_removed("not a cid");
  EXPECT_THAT(CheckPublish(plain, 10).status().message(),
              HasSubstr("removed[1]"));
}

TEST(ServiceChecksTest, HeartbeatPresenceIsBoundToTheSupernode) {
  std::unique_ptr<Identity> leaf = NewIdentity();
  HeartbeatRequest r;
  r.set_session("s");
  absl::StatusOr<std::optional<Presence>> p = CheckHeartbeatPresence(r, "x");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->has_value());
  Presence presence;
  presence.set_supernode_id(Id('a', 1));
  absl::StatusOr<Signed> s = SignPresence(*leaf, presence);
  ASSERT_TRUE(s.ok());
  r.set_presence(s->bytes);
  r.set_presence_signature(s->signature);
  p = CheckHeartbeatPresence(r, Id('a', 1));
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->peer_id(), leaf->peer_id());
  EXPECT_EQ(CheckHeartbeatPresence(r, Id('a', 2)).status().code(),
            absl::StatusCode::kPermissionDenied);
  r.set_presence_signature(std::string(64, 'x'));
  EXPECT_EQ(CheckHeartbeatPresence(r, "").status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST(ServiceChecksTest, LocatesFanOutsAndReports) {
  LocateRequest locate;
  locate.set_cid(Id('c', 1));
  EXPECT_TRUE(ValidateLocate(locate).ok());
  locate.set_cid("C");
  EXPECT_THAT(ValidateLocate(locate).message(), HasSubstr("cid"));

  PeerLocateRequest peer_locate;
  peer_locate.set_cid(Id('c', 1));
  peer_locate.mutable_fan_out()->set_query_id("0123456789abcdef");
  peer_locate.mutable_fan_out()->set_hops_left(2);
  EXPECT_TRUE(ValidatePeerLocate(peer_locate, 2).ok());
  EXPECT_THAT(ValidatePeerLocate(peer_locate, 1).message(),
              HasSubstr("hops_left"));

  PeerSearchRequest peer_search;
  peer_search.mutable_fan_out()->set_query_id("short");
  EXPECT_THAT(ValidatePeerSearch(peer_search, 2).message(),
              HasSubstr("query_id"));

  ReportBadSourceRequest report;
  report.set_session("s");
  report.set_cid(Id('c', 1));
  report.set_peer_id(Id('e', 1));
  EXPECT_TRUE(ValidateReportBadSource(report).ok());
  report.set_peer_id("E");
  EXPECT_THAT(ValidateReportBadSource(report).message(), HasSubstr("peer_id"));
  report.clear_session();
  EXPECT_EQ(ValidateReportBadSource(report).code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace supernode
}  // namespace trove
