// The index's trust checks over a real PostgreSQL: only enrolled supernodes
// register, their calls need the session, and leaves' changes apply only
// as the leaves signed them, in their order. Each refusal leaves the
// catalog as it was (a dump of the sources table before and after).
#include <grpcpp/grpcpp.h>

#include <memory>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/identity.h"
#include "common/server_util.h"
#include "common/signed_change.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/indexed_store.h"
#include "index_server/pg_store.h"
#include "index_server/service.h"
#include "protos/index.grpc.pb.h"
#include "tests/testing/postgres.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::HasSubstr;
using testutil::TestDatabase;

std::string Cid(int n) { return absl::StrCat(std::string(60, 'c'), 1000 + n); }

FileEntry File(int n, const std::string& name) {
  FileEntry e;
  e.set_cid(Cid(n));
  e.set_name(name);
  e.set_size(100 + n);
  return e;
}

// A supernode as the index sees it: its key, and the session it holds.
struct Node {
  std::unique_ptr<Identity> key;
  std::string session;
  int64_t generation = 0;
  int64_t batch = 0;
  const std::string& id() const { return key->peer_id(); }
};

// A leaf: its key and the last seq it signed.
struct Leaf {
  std::unique_ptr<Identity> key;
  int64_t seq = 1000;
  const std::string& id() const { return key->peer_id(); }
};

class TrustServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    PgStoreOptions store_options;
    store_options.dsn = db_->dsn();
    store_options.presence_grace = presence_grace_;
    auto store = PgIndexStore::Connect(store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    pg_ = *std::move(store);
    ASSERT_TRUE(pg_->Migrate().ok());
    store_ = std::make_unique<IndexedStore>(pg_.get(), IndexedStore::Options());
    store_->Start();
    ASSERT_TRUE(store_->follower()->WaitReady(absl::Now() + absl::Seconds(60)));
    IndexServiceOptions options;
    service_ = std::make_unique<IndexServiceImpl>(store_.get(), pg_.get(),
                                                  options);
    auto server = StartServer("127.0.0.1:0", {service_.get()},
                              grpc::InsecureServerCredentials());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server->server);
    stub_ = index::IndexService::NewStub(grpc::CreateChannel(
        server->address, grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    if (store_ != nullptr) store_->Stop();
  }

  Node NewNode(bool enrol = true) {
    Node node;
    node.key = *Identity::Generate();
    if (enrol) {
      auto id = pg_->EnrolSupernodeKey(node.key->public_key(), "enrolled",
                                       true, "test");
      EXPECT_TRUE(id.ok()) << id.status();
      EXPECT_EQ(*id, node.id());
    }
    return node;
  }

  Leaf NewLeaf() {
    Leaf leaf;
    leaf.key = *Identity::Generate();
    return leaf;
  }

  // Registers `node` signing with `signer` (its own key by default).
  grpc::Status Register(Node* node, const Identity* signer = nullptr) {
    index::SupernodeChallengeResponse challenge;
    {
      grpc::ClientContext ctx;
      grpc::Status s = stub_->SupernodeChallenge(
          &ctx, index::SupernodeChallengeRequest(), &challenge);
      if (!s.ok()) return s;
    }
    index::RegisterSupernodeRequest reg;
    reg.set_supernode_id(node->id());
    reg.set_address("127.0.0.1:7100");
    reg.set_public_key(node->key->public_key());
    reg.set_nonce(challenge.nonce());
    if (signer == nullptr) signer = node->key.get();
    reg.set_signature(*signer->Sign(RegistrationPayload(
        challenge.nonce(), reg.supernode_id(), reg.address())));
    index::LeaseResponse lease;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->RegisterSupernode(&ctx, reg, &lease);
    if (s.ok()) {
      node->session = lease.session();
      node->generation = lease.generation();
      node->batch = 0;
    }
    return s;
  }

  // A delta carrying the leaf's signed change, bound to `node`.
  index::PeerDelta Change(Leaf* leaf, const Node& node, bool full,
                          std::vector<FileEntry> added,
                          std::vector<std::string> removed = {},
                          bool gone = false) {
    LeafChange change;
    change.set_supernode_id(node.id());
    change.set_prev_seq(leaf->seq);
    change.set_seq(++leaf->seq);
    change.set_full(full);
    change.set_gone(gone);
    change.set_address("127.0.0.1:9000");
    for (FileEntry& e : added) *change.add_added() = e;
    for (std::string& cid : removed) change.add_removed(cid);
    Signed s = *SignLeafChange(*leaf->key, change);
    index::PeerDelta d;
    d.set_signed_change(s.bytes);
    d.set_signature(s.signature);
    return d;
  }

  grpc::Status Publish(Node* node, std::vector<index::PeerDelta> deltas,
                       index::PublishDeltasResponse* response = nullptr) {
    index::PublishDeltasRequest request;
    request.set_supernode_id(node->id());
    request.set_session(node->session);
    request.set_generation(node->generation);
    request.set_batch(++node->batch);
    for (index::PeerDelta& d : deltas) *request.add_deltas() = d;
    index::PublishDeltasResponse ignored;
    grpc::ClientContext ctx;
    return stub_->PublishDeltas(&ctx, request,
                                response != nullptr ? response : &ignored);
  }

  grpc::Status Renew(const Node& node, const std::string& session) {
    index::RenewLeaseRequest request;
    request.set_supernode_id(node.id());
    request.set_session(session);
    index::LeaseResponse lease;
    grpc::ClientContext ctx;
    return stub_->RenewLease(&ctx, request, &lease);
  }

  // Every source row, in order: the catalog as PostgreSQL holds it.
  std::string Dump() {
    pqxx::connection c(db_->dsn());
    pqxx::nontransaction tx(c);
    std::string out;
    for (const pqxx::row& row :
         tx.exec("SELECT cid, peer_id, supernode_id, address, name, partial"
                 " FROM sources ORDER BY cid, peer_id")) {
      for (const pqxx::field& f : row) absl::StrAppend(&out, f.c_str(), "|");
      out += "\n";
    }
    return out;
  }

  int Sources(const std::string& cid) {
    index::LocateRequest request;
    request.set_cid(cid);
    index::LocateResponse response;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Locate(&ctx, request, &response);
    return s.ok() ? response.sources_size() : 0;
  }

  absl::Duration presence_grace_ = absl::Seconds(120);
  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgIndexStore> pg_;
  std::unique_ptr<IndexedStore> store_;
  std::unique_ptr<IndexServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<index::IndexService::Stub> stub_;
};

TEST_F(TrustServiceTest, EnrolledSupernodePublishesSignedChanges) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  EXPECT_EQ(node.session.size(), 32u);
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  ASSERT_TRUE(Publish(&node, {Change(&leaf, node, false, {File(2, "b.mp3")},
                                     {Cid(1)})})
                  .ok());
  EXPECT_EQ(Sources(Cid(1)), 0);
  EXPECT_EQ(Sources(Cid(2)), 1);
  EXPECT_TRUE(Renew(node, node.session).ok());
}

TEST_F(TrustServiceTest, UnenrolledSupernodeCannotRegister) {
  Node stranger = NewNode(/*enrol=*/false);
  grpc::Status s = Register(&stranger);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("not enrolled"));
}

TEST_F(TrustServiceTest, ReRegisteringUnderALiveSupernodesIdNeedsItsKey) {
  Node real = NewNode();
  ASSERT_TRUE(Register(&real).ok());
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&real, {Change(&leaf, real, true, {File(1, "a.mp3")})}).ok());
  const std::string before = Dump();
  auto attacker = *Identity::Generate();
  Node impostor;
  impostor.key = *Identity::Generate();
  // The impostor claims the real id and key but signs with its own key.
  Node claimed;
  claimed.key = std::move(real.key);
  grpc::Status s = Register(&claimed, attacker.get());
  real.key = std::move(claimed.key);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("signature"));
  EXPECT_EQ(Dump(), before);
  EXPECT_EQ(Sources(Cid(1)), 1);
  EXPECT_TRUE(Renew(real, real.session).ok());
}

TEST_F(TrustServiceTest, CallsWithoutTheSessionAreRefused) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  const std::string before = Dump();
  EXPECT_EQ(Renew(node, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Renew(node, std::string(32, 'x')).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  Node thief;
  thief.key = std::move(node.key);
  thief.session = std::string(32, 'x');
  thief.generation = node.generation;
  grpc::Status s =
      Publish(&thief, {Change(&leaf, thief, true, {File(2, "b.mp3")})});
  node.key = std::move(thief.key);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("session"));
  EXPECT_EQ(Dump(), before);
}

TEST_F(TrustServiceTest, RevokedSupernodeLosesItsSourcesAndCannotRenew) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  ASSERT_EQ(Sources(Cid(1)), 1);
  ASSERT_TRUE(pg_->RevokeSupernodeKey(node.id(), "test").ok());
  EXPECT_EQ(Dump(), "");
  grpc::Status renew = Renew(node, node.session);
  EXPECT_EQ(renew.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(renew.error_message(), HasSubstr("revoked"));
  EXPECT_EQ(Register(&node).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Publish(&node, {Change(&leaf, node, true, {File(2, "b.mp3")})})
                .error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Dump(), "");
}

TEST_F(TrustServiceTest, SupernodeCannotPublishForAPeerThatNeverJoinedIt) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf victim = NewLeaf();
  Leaf honest = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&honest, node, true, {File(1, "a.mp3")})}).ok());
  const std::string before = Dump();
  // Unsigned: claimed in the plain fields only.
  index::PeerDelta unsigned_delta;
  unsigned_delta.set_peer_id(victim.id());
  unsigned_delta.set_address("127.0.0.1:6666");
  unsigned_delta.set_full(true);
  *unsigned_delta.add_added() = File(2, "trojan.exe");
  grpc::Status s = Publish(&node, {unsigned_delta});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("not signed"));
  // Signed by the supernode's own key under the victim's id and key.
  LeafChange forged;
  forged.set_peer_id(victim.id());
  forged.set_public_key(victim.key->public_key());
  forged.set_supernode_id(node.id());
  forged.set_seq(1 << 30);
  forged.set_full(true);
  forged.set_address("127.0.0.1:6666");
  *forged.add_added() = File(2, "trojan.exe");
  index::PeerDelta d;
  d.set_signed_change(forged.SerializeAsString());
  d.set_signature(*node.key->Sign("trove-change-v1" + d.signed_change()));
  s = Publish(&node, {d});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Dump(), before);
}

TEST_F(TrustServiceTest, AlteredChangeIsRefused) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  const std::string before = Dump();
  index::PeerDelta d = Change(&leaf, node, false, {File(2, "b.mp3")});
  LeafChange change;
  ASSERT_TRUE(change.ParseFromString(d.signed_change()));
  change.mutable_added(0)->set_name("zz_trojan_setup.exe");
  change.set_address("127.0.0.1:6666");
  d.set_signed_change(change.SerializeAsString());
  grpc::Status s = Publish(&node, {d});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Dump(), before);
}

TEST_F(TrustServiceTest, ReplayedAndReorderedChangesAreRefused) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  index::PeerDelta full = Change(&leaf, node, true, {File(1, "a.mp3")});
  index::PeerDelta add2 = Change(&leaf, node, false, {File(2, "b.mp3")});
  index::PeerDelta rm1 = Change(&leaf, node, false, {}, {Cid(1)});
  index::PeerDelta add3 = Change(&leaf, node, false, {File(3, "c.mp3")});
  ASSERT_TRUE(Publish(&node, {full, add2, rm1}).ok());
  const std::string before = Dump();
  EXPECT_EQ(Sources(Cid(1)), 0);

  // Replaying the full list (which would bring cid 1 back) is refused.
  index::PublishDeltasResponse response;
  ASSERT_TRUE(Publish(&node, {full}, &response).ok());
  ASSERT_EQ(response.refused_size(), 1);
  EXPECT_EQ(response.refused(0).code(),
            static_cast<int>(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(response.refused(0).peer_id(), leaf.id());
  // Replaying a delta is refused.
  response.Clear();
  ASSERT_TRUE(Publish(&node, {add2}, &response).ok());
  ASSERT_EQ(response.refused_size(), 1);
  EXPECT_EQ(Dump(), before);

  // Reordering: the next two changes sent in the wrong order. The later one
  // is refused as out of order (FAILED_PRECONDITION: the leaf resends its
  // full list); the earlier one then applies alone.
  index::PeerDelta add4 = Change(&leaf, node, false, {File(4, "d.mp3")});
  response.Clear();
  ASSERT_TRUE(Publish(&node, {add4}, &response).ok());
  ASSERT_EQ(response.refused_size(), 1);
  EXPECT_EQ(response.refused(0).code(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(response.refused(0).message(), HasSubstr("full list"));
  EXPECT_EQ(Dump(), before);
  ASSERT_TRUE(Publish(&node, {add3}).ok());
  EXPECT_EQ(Sources(Cid(3)), 1);
  EXPECT_EQ(Sources(Cid(4)), 0);
}

TEST_F(TrustServiceTest, OnlyTheLeafCanWithdrawItsFiles) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  const std::string before = Dump();
  // An unsigned gone, and an unsigned empty full list.
  index::PeerDelta gone;
  gone.set_peer_id(leaf.id());
  gone.set_gone(true);
  EXPECT_EQ(Publish(&node, {gone}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  index::PeerDelta empty;
  empty.set_peer_id(leaf.id());
  empty.set_address("127.0.0.1:9000");
  empty.set_full(true);
  EXPECT_EQ(Publish(&node, {empty}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Dump(), before);
  // The leaf's own signed gone withdraws them.
  ASSERT_TRUE(Publish(&node, {Change(&leaf, node, false, {}, {}, true)}).ok());
  EXPECT_EQ(Dump(), "");
}

// A leaf that dies right after its full list, before any presence of it
// reaches the index, is withdrawn once the presence grace passes, though
// its supernode's lease goes on.
class ShortPresenceGraceTest : public TrustServiceTest {
 protected:
  ShortPresenceGraceTest() { presence_grace_ = absl::Seconds(2); }
};

TEST_F(ShortPresenceGraceTest, AListNoPresenceVouchesForIsWithdrawn) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  ASSERT_TRUE(pg_->ExpireDeadSupernodes().ok());
  EXPECT_NE(Dump(), "");  // Within the grace.
  absl::SleepFor(absl::Milliseconds(2500));
  ASSERT_TRUE(Renew(node, node.session).ok());  // The supernode lives on.
  ASSERT_TRUE(pg_->ExpireDeadSupernodes().ok());
  EXPECT_EQ(Dump(), "");
}

// A leaf that died and comes back as the same peer before its last
// presence ran out: its new full list keeps its sources for the grace
// again, so they are there when its new session's first presence arrives.
TEST_F(ShortPresenceGraceTest, AComebackListGetsTheGraceAgain) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  absl::SleepFor(absl::Milliseconds(1500));
  const absl::Time again = absl::Now();
  ASSERT_TRUE(
      Publish(&node, {Change(&leaf, node, true, {File(1, "a.mp3")})}).ok());
  // Past the first list's grace, within the second's.
  absl::SleepFor(absl::Milliseconds(1000));
  ASSERT_TRUE(Renew(node, node.session).ok());
  ASSERT_TRUE(pg_->ExpireDeadSupernodes().ok());
  if (absl::Now() - again < absl::Seconds(2)) {
    EXPECT_EQ(Sources(Cid(1)), 1);
    EXPECT_NE(Dump(), "");
  }
  // And once that one passed too, with no presence, it goes.
  absl::SleepFor(again + absl::Milliseconds(2500) - absl::Now());
  ASSERT_TRUE(Renew(node, node.session).ok());
  ASSERT_TRUE(pg_->ExpireDeadSupernodes().ok());
  EXPECT_EQ(Dump(), "");
}

TEST_F(TrustServiceTest, FullListCannotTakeOverAPeerAnotherSupernodeHolds) {
  Node home = NewNode();
  Node other = NewNode();
  ASSERT_TRUE(Register(&home).ok());
  ASSERT_TRUE(Register(&other).ok());
  Leaf leaf = NewLeaf();
  index::PeerDelta full = Change(&leaf, home, true, {File(1, "a.mp3")});
  ASSERT_TRUE(Publish(&home, {full}).ok());
  const std::string before = Dump();
  // The same signed full list forwarded by another supernode: bound to home.
  grpc::Status s = Publish(&other, {full});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("another supernode"));
  EXPECT_EQ(Dump(), before);
  // An older full list the leaf once signed for `other` is not newer.
  Leaf older;
  older.key = std::move(leaf.key);
  older.seq = 10;  // below what home applied
  index::PeerDelta stale = Change(&older, other, true, {});
  leaf.key = std::move(older.key);
  index::PublishDeltasResponse response;
  ASSERT_TRUE(Publish(&other, {stale}, &response).ok());
  ASSERT_EQ(response.refused_size(), 1);
  EXPECT_EQ(Dump(), before);
  // A newer full list through the new supernode moves the peer.
  ASSERT_TRUE(
      Publish(&other, {Change(&leaf, other, true, {File(2, "b.mp3")})}).ok());
  EXPECT_EQ(Sources(Cid(1)), 0);
  EXPECT_EQ(Sources(Cid(2)), 1);
}

TEST_F(TrustServiceTest, ReRegistrationLetsTheLastFullListBackButNothingOlder) {
  Node node = NewNode();
  ASSERT_TRUE(Register(&node).ok());
  Leaf leaf = NewLeaf();
  index::PeerDelta old_full = Change(&leaf, node, true, {File(1, "old.mp3")});
  index::PeerDelta full = Change(&leaf, node, true, {File(2, "new.mp3")});
  index::PeerDelta add = Change(&leaf, node, false, {File(3, "more.mp3")});
  ASSERT_TRUE(Publish(&node, {old_full, full, add}).ok());
  ASSERT_TRUE(Register(&node).ok());  // a restart: its sources go
  EXPECT_EQ(Dump(), "");
  index::PublishDeltasResponse response;
  ASSERT_TRUE(Publish(&node, {old_full}, &response).ok());
  EXPECT_EQ(response.refused_size(), 1);
  EXPECT_EQ(Dump(), "");
  response.Clear();
  ASSERT_TRUE(Publish(&node, {full, add}, &response).ok());
  EXPECT_EQ(response.refused_size(), 0);
  EXPECT_EQ(Sources(Cid(1)), 0);
  EXPECT_EQ(Sources(Cid(2)), 1);
  EXPECT_EQ(Sources(Cid(3)), 1);
}

TEST_F(TrustServiceTest, ExpiredOrReusedNonceIsRefused) {
  Node node = NewNode();
  index::SupernodeChallengeResponse challenge;
  grpc::ClientContext c1;
  ASSERT_TRUE(stub_->SupernodeChallenge(&c1, {}, &challenge).ok());
  index::RegisterSupernodeRequest reg;
  reg.set_supernode_id(node.id());
  reg.set_address("127.0.0.1:7100");
  reg.set_public_key(node.key->public_key());
  reg.set_nonce(challenge.nonce());
  reg.set_signature(*node.key->Sign(
      RegistrationPayload(reg.nonce(), reg.supernode_id(), reg.address())));
  index::LeaseResponse lease;
  grpc::ClientContext c2;
  ASSERT_TRUE(stub_->RegisterSupernode(&c2, reg, &lease).ok());
  grpc::ClientContext c3;
  grpc::Status replay = stub_->RegisterSupernode(&c3, reg, &lease);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(replay.error_message(), HasSubstr("used already"));
}

}  // namespace
}  // namespace index_server
}  // namespace trove
