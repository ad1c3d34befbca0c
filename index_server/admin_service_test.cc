// The AdminService's checks and actions (AdminCore) over a real
// PostgreSQL: tokens and roles, the audit log, bans and takedowns in the
// catalog (PostgreSQL and the followed memory agree afterwards), and the
// lists supernodes get with their leases; and the gRPC service reading the
// token from the call's metadata.
#include "index_server/admin_service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/search/query.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/indexed_store.h"
#include "index_server/memory_catalog.h"
#include "index_server/pg_store.h"
#include "tests/testing/postgres.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::HasSubstr;
using testutil::TestDatabase;

const std::string kSn(64, 'e');
std::string Peer(int n) { return absl::StrCat(std::string(60, 'a'), 1000 + n); }
std::string Cid(int n) { return absl::StrCat(std::string(60, 'c'), 1000 + n); }

class AdminServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    PgStoreOptions options;
    options.dsn = db_->dsn();
    auto pg = PgIndexStore::Connect(options);
    ASSERT_TRUE(pg.ok()) << pg.status();
    pg_ = *std::move(pg);
    ASSERT_TRUE(pg_->Migrate().ok());
    store_ = std::make_unique<IndexedStore>(pg_.get(), IndexedStore::Options());
    store_->Start();
    ASSERT_TRUE(store_->follower()->WaitReady(absl::Now() + absl::Seconds(60)));
    lists_ = std::make_unique<ModerationLists>(pg_.get(), absl::Hours(1));
    core_ = std::make_unique<AdminCore>(pg_.get(), pg_.get(), lists_.get(),
                                        AdminCore::Options());
    for (const char* role : {"admin", "moderator", "viewer"}) {
      absl::StatusOr<NewAdminToken> t =
          CreateAdminToken(pg_.get(), role, absl::StrCat("the ", role), "test");
      ASSERT_TRUE(t.ok()) << t.status();
      bearer_[role] = absl::StrCat("Bearer ", t->token);
      ids_[role] = t->token_id;
    }
    SupernodeRegistration reg;
    reg.supernode_id = kSn;
    reg.address = "127.0.0.1:9";
    ASSERT_TRUE(store_->RegisterSupernode(reg, absl::Minutes(5), {}).ok());
  }

  void TearDown() override {
    if (store_ != nullptr) store_->Stop();
  }

  // Publishes (unsigned: the store alone, as with verification off) the
  // files `cids` for peer `peer`, as a full list.
  index::PublishDeltasResponse Publish(int peer, std::vector<int> cids) {
    index::PublishDeltasRequest req;
    req.set_supernode_id(kSn);
    index::PeerDelta* d = req.add_deltas();
    d->set_peer_id(Peer(peer));
    d->set_address(absl::StrCat("127.0.0.1:", 2000 + peer));
    d->set_full(true);
    for (int c : cids) {
      FileEntry* e = d->add_added();
      e->set_cid(Cid(c));
      e->set_name(absl::StrCat("song number ", c, ".ogg"));
      e->set_size(1000 + c);
    }
    absl::StatusOr<index::PublishDeltasResponse> r =
        store_->ApplyDeltas(req, {});
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : index::PublishDeltasResponse();
  }

  // Cids the index's search finds for "song".
  std::vector<std::string> Found() {
    SearchQuery q;
    q.set_text("song");
    q.set_limit(100);
    auto parsed = search::ParseQuery(q, 50, 500);
    EXPECT_TRUE(parsed.ok());
    auto page = store_->Search(*parsed, {});
    EXPECT_TRUE(page.ok()) << page.status();
    std::vector<std::string> out;
    if (page.ok()) {
      for (const SearchHit& h : page->hits) out.push_back(h.cid());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // The memory the index follows equals what PostgreSQL holds.
  void ExpectMemoryMatchesDatabase() {
    MemoryCatalog fresh;
    ASSERT_TRUE(pg_->LoadCatalog(&fresh, nullptr).ok());
    EXPECT_EQ(store_->follower()->catalog()->Digest(), fresh.Digest());
  }

  std::vector<admin::AuditEntry> Audit() {
    auto r = core_->ReadAudit(bearer_["viewer"], admin::ReadAuditRequest());
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::vector<admin::AuditEntry>(r->entries().begin(),
                                                   r->entries().end())
                  : std::vector<admin::AuditEntry>();
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgIndexStore> pg_;
  std::unique_ptr<IndexedStore> store_;
  std::unique_ptr<ModerationLists> lists_;
  std::unique_ptr<AdminCore> core_;
  std::map<std::string, std::string> bearer_;
  std::map<std::string, std::string> ids_;
};

TEST_F(AdminServiceTest, MissingWrongAndRevokedTokensAreRefusedAndAudited) {
  auto none = core_->Stats("", admin::StatsRequest());
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("no admin token"));

  const std::string made_up =
      "Bearer trove-admin-" + std::string(64, '7');
  admin::BanPeerRequest ban;
  ban.set_peer_id(Peer(1));
  ban.set_reason("spam");
  auto wrong = core_->BanPeer(made_up, ban);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("unknown admin token"));

  admin::RevokeTokenRequest revoke;
  revoke.set_token_id(ids_["viewer"]);
  ASSERT_TRUE(core_->RevokeToken(bearer_["admin"], revoke).ok());
  auto revoked = core_->Stats(bearer_["viewer"], admin::StatsRequest());
  EXPECT_EQ(revoked.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(revoked.status().message()), HasSubstr("revoked"));

  auto log = core_->ReadAudit(bearer_["admin"], admin::ReadAuditRequest());
  ASSERT_TRUE(log.ok()) << log.status();
  // Newest first: the revoked viewer, the revocation, the made-up token,
  // the missing one.
  ASSERT_GE(log->entries_size(), 4);
  EXPECT_EQ(log->entries(0).token_id(), ids_["viewer"]);
  EXPECT_THAT(log->entries(0).result(), HasSubstr("UNAUTHENTICATED"));
  EXPECT_EQ(log->entries(1).action(), "token-revoke");
  EXPECT_EQ(log->entries(1).target(), ids_["viewer"]);
  EXPECT_EQ(log->entries(1).result(), "ok");
  EXPECT_EQ(log->entries(2).action(), "ban");
  EXPECT_EQ(log->entries(2).token_id(), "");
  EXPECT_THAT(log->entries(2).result(), HasSubstr("unknown admin token"));
  EXPECT_EQ(log->entries(3).action(), "stats");
  // The token itself is never written.
  for (const admin::AuditEntry& e : log->entries()) {
    for (const auto& [role, b] : bearer_) {
      EXPECT_EQ(e.DebugString().find(b.substr(7)), std::string::npos);
    }
  }
}

TEST_F(AdminServiceTest, RolesDecideWhatACallerMayDo) {
  Publish(1, {1});
  admin::BanPeerRequest ban;
  ban.set_peer_id(Peer(1));
  ban.set_reason("spam");
  auto viewer = core_->BanPeer(bearer_["viewer"], ban);
  EXPECT_EQ(viewer.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(viewer.status().message()),
              HasSubstr("needs role moderator"));
  EXPECT_EQ(Found().size(), 1u);  // nothing happened

  admin::EnrolSupernodeRequest enrol;
  enrol.set_public_key(std::string(64, '1'));
  auto moderator = core_->EnrolSupernode(bearer_["moderator"], enrol);
  EXPECT_EQ(moderator.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(moderator.status().message()),
              HasSubstr("needs role admin"));
  admin::CreateTokenRequest create;
  create.set_role("admin");
  EXPECT_EQ(core_->CreateToken(bearer_["moderator"], create).status().code(),
            absl::StatusCode::kPermissionDenied);

  EXPECT_TRUE(core_->BanPeer(bearer_["moderator"], ban).ok());
  EXPECT_TRUE(core_->EnrolSupernode(bearer_["admin"], enrol).ok());
  EXPECT_TRUE(core_->ListBans(bearer_["viewer"], {}).ok());
  EXPECT_TRUE(core_->Stats(bearer_["viewer"], {}).ok());

  std::vector<admin::AuditEntry> log = Audit();
  ASSERT_GE(log.size(), 5u);
  EXPECT_EQ(log[0].action(), "enrol");
  EXPECT_EQ(log[0].role(), "admin");
  EXPECT_EQ(log[1].action(), "ban");
  EXPECT_EQ(log[1].role(), "moderator");
  EXPECT_EQ(log[1].reason(), "spam");
  EXPECT_EQ(log[1].result(), "ok");
  EXPECT_EQ(log[2].action(), "token-create");
  EXPECT_THAT(log[2].result(), HasSubstr("PERMISSION_DENIED"));
  EXPECT_EQ(log[4].action(), "ban");
  EXPECT_EQ(log[4].role(), "viewer");
  EXPECT_THAT(log[4].result(), HasSubstr("PERMISSION_DENIED"));
}

TEST_F(AdminServiceTest, BadInputIsRefusedByNameAndAudited) {
  admin::BanPeerRequest ban;
  ban.set_peer_id("not-an-id");
  ban.set_reason("spam");
  auto bad = core_->BanPeer(bearer_["admin"], ban);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("peer_id"));
  ban.set_peer_id(Peer(1));
  ban.set_reason("");
  EXPECT_THAT(std::string(core_->BanPeer(bearer_["admin"], ban).status().message()),
              HasSubstr("reason is required"));
  ban.set_reason("line\nforged");
  EXPECT_EQ(core_->BanPeer(bearer_["admin"], ban).status().code(),
            absl::StatusCode::kInvalidArgument);
  ban.set_reason(std::string(501, 'x'));
  EXPECT_THAT(std::string(core_->BanPeer(bearer_["admin"], ban).status().message()),
              HasSubstr("limit is 500"));
  std::vector<admin::AuditEntry> log = Audit();
  ASSERT_GE(log.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_THAT(log[i].result(), HasSubstr("INVALID_ARGUMENT"));
    EXPECT_EQ(log[i].reason().find('\n'), std::string::npos);
  }
  EXPECT_TRUE(core_->ListBans(bearer_["admin"], {})->bans().empty());
}

TEST_F(AdminServiceTest, BanRemovesSourcesAtOnceAndRefusesThePeersChanges) {
  Publish(1, {1, 2});
  Publish(2, {2, 3});
  ASSERT_EQ(Found(), (std::vector<std::string>{Cid(1), Cid(2), Cid(3)}));
  admin::BanPeerRequest ban;
  ban.set_peer_id(Peer(1));
  ban.set_reason("fakes");
  auto banned = core_->BanPeer(bearer_["moderator"], ban);
  ASSERT_TRUE(banned.ok()) << banned.status();
  EXPECT_EQ(banned->sources_removed(), 2);
  EXPECT_EQ(Found(), (std::vector<std::string>{Cid(2), Cid(3)}));
  ExpectMemoryMatchesDatabase();

  // Its changes are refused, by name; another peer's in the same batch
  // still apply.
  index::PublishDeltasRequest req;
  req.set_supernode_id(kSn);
  for (int p : {1, 3}) {
    index::PeerDelta* d = req.add_deltas();
    d->set_peer_id(Peer(p));
    d->set_address("127.0.0.1:3000");
    d->set_full(true);
    FileEntry* e = d->add_added();
    e->set_cid(Cid(10 + p));
    e->set_name("song again.ogg");
    e->set_size(5);
  }
  auto r = store_->ApplyDeltas(req, {});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->refused_size(), 1);
  EXPECT_EQ(r->refused(0).peer_id(), Peer(1));
  EXPECT_EQ(r->refused(0).code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_EQ(r->refused(0).message(), "peer banned: fakes");
  EXPECT_EQ(Found(), (std::vector<std::string>{Cid(2), Cid(3), Cid(13)}));

  index::LeaseResponse lease;
  lists_->Fill(&lease);
  ASSERT_EQ(lease.banned_peers_size(), 1);
  EXPECT_EQ(lease.banned_peers(0), Peer(1));

  // Unbanned, its next full list is stored again.
  admin::UnbanPeerRequest unban;
  unban.set_peer_id(Peer(1));
  ASSERT_TRUE(core_->UnbanPeer(bearer_["moderator"], unban).ok());
  EXPECT_EQ(core_->UnbanPeer(bearer_["moderator"], unban).status().code(),
            absl::StatusCode::kNotFound);
  Publish(1, {1});
  EXPECT_EQ(Found(),
            (std::vector<std::string>{Cid(1), Cid(2), Cid(3), Cid(13)}));
  index::LeaseResponse after;
  lists_->Fill(&after);
  EXPECT_EQ(after.banned_peers_size(), 0);
  ExpectMemoryMatchesDatabase();
}

TEST_F(AdminServiceTest, TakedownRemovesTheCidAndKeepsItOut) {
  Publish(1, {1, 2});
  Publish(2, {1});
  admin::TakeDownRequest down;
  down.set_cid(Cid(1));
  down.set_reason("copyright notice 17");
  auto taken = core_->TakeDown(bearer_["moderator"], down);
  ASSERT_TRUE(taken.ok()) << taken.status();
  EXPECT_EQ(taken->sources_removed(), 2);
  EXPECT_EQ(Found(), (std::vector<std::string>{Cid(2)}));
  EXPECT_EQ(store_->Locate(Cid(1), 10, {}).status().code(),
            absl::StatusCode::kNotFound);
  ExpectMemoryMatchesDatabase();

  // Published again: not stored; the rest of the list is.
  Publish(3, {1, 3});
  EXPECT_EQ(Found(), (std::vector<std::string>{Cid(2), Cid(3)}));
  EXPECT_EQ(store_->Locate(Cid(1), 10, {}).status().code(),
            absl::StatusCode::kNotFound);

  index::LeaseResponse lease;
  lists_->Fill(&lease);
  ASSERT_EQ(lease.taken_down_size(), 1);
  EXPECT_EQ(lease.taken_down(0), Cid(1));
  auto listed = core_->ListTakedowns(bearer_["viewer"], {});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->takedowns_size(), 1);
  EXPECT_EQ(listed->takedowns(0).reason(), "copyright notice 17");
  EXPECT_EQ(listed->takedowns(0).created_by(), ids_["moderator"]);

  admin::RestoreRequest restore;
  restore.set_cid(Cid(1));
  ASSERT_TRUE(core_->Restore(bearer_["moderator"], restore).ok());
  Publish(3, {1, 3});
  EXPECT_EQ(Found(), (std::vector<std::string>{Cid(1), Cid(2), Cid(3)}));
  ExpectMemoryMatchesDatabase();
}

TEST_F(AdminServiceTest, ViewsListSupernodesPeersAndStats) {
  Publish(1, {1, 2});
  auto sns = core_->ListSupernodes(bearer_["viewer"], {});
  ASSERT_TRUE(sns.ok()) << sns.status();
  ASSERT_EQ(sns->supernodes_size(), 1);
  EXPECT_EQ(sns->supernodes(0).supernode_id(), kSn);
  EXPECT_EQ(sns->supernodes(0).peers(), 1);
  EXPECT_GT(sns->supernodes(0).lease_expires_ms(), absl::ToUnixMillis(absl::Now()));
  admin::ListPeersRequest peers;
  peers.set_id_prefix(Peer(1).substr(0, 10));
  auto listed = core_->ListPeers(bearer_["viewer"], peers);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->peers_size(), 1);
  EXPECT_EQ(listed->peers(0).files(), 2);
  EXPECT_EQ(listed->peers(0).supernode_id(), kSn);
  peers.set_id_prefix("b");
  EXPECT_EQ(core_->ListPeers(bearer_["viewer"], peers)->peers_size(), 0);
  peers.set_id_prefix("XYZ");
  EXPECT_EQ(core_->ListPeers(bearer_["viewer"], peers).status().code(),
            absl::StatusCode::kInvalidArgument);
  auto stats = core_->Stats(bearer_["viewer"], {});
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->supernodes(), 1);
  EXPECT_EQ(stats->peers(), 1);
  EXPECT_EQ(stats->files(), 2);
  EXPECT_EQ(stats->sources(), 2);
}

TEST_F(AdminServiceTest, GrpcReadsTheBearerTokenAndRefusesWithoutTls) {
  AdminServiceImpl service(core_.get());
  auto server = StartServer("127.0.0.1:0", {&service},
                            grpc::InsecureServerCredentials());
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = admin::AdminService::NewStub(grpc::CreateChannel(
      server->address, grpc::InsecureChannelCredentials()));
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", bearer_["viewer"]);
    admin::StatsResponse r;
    EXPECT_TRUE(stub->Stats(&ctx, {}, &r).ok());
  }
  {
    grpc::ClientContext ctx;
    admin::StatsResponse r;
    grpc::Status s = stub->Stats(&ctx, {}, &r);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  AdminCore::Options plaintext;
  plaintext.tls = false;
  AdminCore insecure(pg_.get(), pg_.get(), nullptr, plaintext);
  auto refused = insecure.Stats(bearer_["admin"], {});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("TLS"));
  server->server->Shutdown();
}

}  // namespace
}  // namespace index_server
}  // namespace trove
