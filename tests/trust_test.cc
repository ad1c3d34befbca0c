// Impersonation over a real community (index, enrolled supernode and peers
// as processes, TLS on): a hand-written hostile client tries to act as a
// supernode or as another leaf, and each attempt is refused with a clear
// status while the catalog (a dump of the sources table) stays as it was.
#include <grpcpp/grpcpp.h>

#include <pqxx/pqxx>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/identity.h"
#include "common/join_work.h"
#include "common/server_util.h"
#include "common/signed_change.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "protos/index.grpc.pb.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

class TrustTest : public testutil::ClusterTest {
 protected:
  void SetUp() override {
    testutil::ClusterTest::SetUp();
    ASSERT_TRUE(cluster_->StartIndex().ok());
    absl::Status s = cluster_->StartSupernode();
    ASSERT_TRUE(s.ok()) << s;
    auto peer = cluster_->StartPeer("alice");
    ASSERT_TRUE(peer.ok()) << peer.status();
    alice_ = *peer;
    ASSERT_TRUE(
        WriteRandomFile(alice_->share_dir + "/quiet meadow.ogg", 3000, 7).ok());
    ASSERT_TRUE(WaitUntil(
        [&] {
          return !cluster_->FindCid(*alice_, "meadow", "quiet meadow.ogg")
                      .empty();
        },
        absl::Seconds(30)))
        << "the shared file never showed in search";
    // The supernode answers from its own leaves at once; the index holds
    // the source once the supernode's batch landed.
    ASSERT_TRUE(WaitUntil([&] { return !Dump().empty(); }, absl::Seconds(30)));
    before_ = Dump();
  }

  // Every source row: the catalog as PostgreSQL holds it.
  std::string Dump() {
    pqxx::connection c(cluster_->dsn());
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

  std::string SupernodeId() {
    pqxx::connection c(cluster_->dsn());
    pqxx::nontransaction tx(c);
    pqxx::result r = tx.exec("SELECT supernode_id FROM supernodes");
    return r.empty() ? "" : r[0][0].as<std::string>();
  }

  // A stub to the index over TLS with `tls` as the client's certificate.
  std::unique_ptr<index::IndexService::Stub> IndexAs(const TlsContext& tls) {
    return index::IndexService::NewStub(
        tls.MakeChannel(cluster_->index_address(), Expected::Index()));
  }

  std::string AlicePeerId() {
    CommandResult r = cluster_->Cli(*alice_, {"status", "--json"});
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? "" : j.value("peer_id", "");
  }

  static std::chrono::system_clock::time_point Soon() {
    return absl::ToChronoTime(absl::Now() + absl::Seconds(10));
  }

  PeerHandle* alice_ = nullptr;
  std::string before_;
};

TEST_F(TrustTest, UnenrolledSupernodeCannotRegister) {
  auto key = *Identity::Generate();
  auto tls = *TlsContext::ForIdentity(*key, cluster_->ca_pem());
  auto stub = IndexAs(*tls);
  index::SupernodeChallengeResponse challenge;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    ASSERT_TRUE(stub->SupernodeChallenge(&ctx, {}, &challenge).ok());
  }
  index::RegisterSupernodeRequest reg;
  reg.set_supernode_id(key->peer_id());
  reg.set_address("127.0.0.1:1");
  reg.set_public_key(key->public_key());
  reg.set_nonce(challenge.nonce());
  reg.set_signature(*key->Sign(RegistrationPayload(
      reg.nonce(), reg.supernode_id(), reg.address())));
  index::LeaseResponse lease;
  grpc::ClientContext ctx;
  ctx.set_deadline(Soon());
  grpc::Status s = stub->RegisterSupernode(&ctx, reg, &lease);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("not enrolled"));
  EXPECT_EQ(Dump(), before_);
}

TEST_F(TrustTest, NobodyElseCanActAsTheLiveSupernode) {
  const std::string real = SupernodeId();
  ASSERT_EQ(real.size(), 64u);
  auto key = *Identity::Generate();
  auto tls = *TlsContext::ForIdentity(*key, cluster_->ca_pem());
  auto stub = IndexAs(*tls);
  // Re-registering under its id.
  index::RegisterSupernodeRequest reg;
  reg.set_supernode_id(real);
  reg.set_address("127.0.0.1:1");
  index::LeaseResponse lease;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = stub->RegisterSupernode(&ctx, reg, &lease);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  // Renewing its lease and misstating its load.
  index::RenewLeaseRequest renew;
  renew.set_supernode_id(real);
  renew.set_leaf_count(999);
  renew.set_session(std::string(32, 'x'));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = stub->RenewLease(&ctx, renew, &lease);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(s.error_message(), HasSubstr("not supernode"));
  }
  // Publishing an empty full list for alice through its id.
  index::PublishDeltasRequest publish;
  publish.set_supernode_id(real);
  index::PeerDelta* d = publish.add_deltas();
  d->set_peer_id(AlicePeerId());
  d->set_address("127.0.0.1:1");
  d->set_full(true);
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    index::PublishDeltasResponse response;
    grpc::Status s = stub->PublishDeltas(&ctx, publish, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(Dump(), before_);
  // Bootstrap still names only the real supernode, at its address.
  index::BootstrapResponse boot;
  grpc::ClientContext ctx;
  ctx.set_deadline(Soon());
  ASSERT_TRUE(stub->Bootstrap(&ctx, {}, &boot).ok());
  ASSERT_EQ(boot.supernodes_size(), 1);
  EXPECT_EQ(boot.supernodes(0).supernode_id(), real);
  EXPECT_EQ(boot.supernodes(0).address(), cluster_->supernode_address());
}

TEST_F(TrustTest, ALeafCannotUseAnotherLeafsSession) {
  // Mallory joins properly, then hands her session to Eve's connection.
  auto mallory = *Identity::Generate();
  auto eve = *Identity::Generate();
  auto mallory_tls = *TlsContext::ForIdentity(*mallory, cluster_->ca_pem());
  auto eve_tls = *TlsContext::ForIdentity(*eve, cluster_->ca_pem());
  auto as_mallory = supernode::SupernodeService::NewStub(
      mallory_tls->MakeChannel(cluster_->supernode_address(),
                               Expected::Supernode()));
  supernode::ChallengeResponse challenge;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    ASSERT_TRUE(as_mallory->Challenge(&ctx, {}, &challenge).ok());
  }
  supernode::JoinRequest join;
  join.set_public_key(mallory->public_key());
  join.set_nonce(challenge.nonce());
  join.set_listen_address("127.0.0.1:9");
  join.set_signature(
      *mallory->Sign("trove-join-v1" + challenge.nonce() + "127.0.0.1:9"));
  join.set_work(SolveJoinWork(challenge.nonce(), mallory->public_key(),
                              challenge.work_bits()));
  supernode::JoinResponse joined;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = as_mallory->Join(&ctx, join, &joined);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  auto as_eve = supernode::SupernodeService::NewStub(eve_tls->MakeChannel(
      cluster_->supernode_address(), Expected::Supernode()));
  supernode::PublishRequest publish;
  publish.set_session(joined.session());
  publish.set_full(true);
  FileEntry* e = publish.add_added();
  e->set_cid(std::string(64, 'a'));
  e->set_size(1);
  e->set_name("zz_trojan_setup.exe");
  supernode::PublishResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(Soon());
  grpc::Status s = as_eve->Publish(&ctx, publish, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("another peer"));
  absl::SleepFor(absl::Milliseconds(500));  // a batch would have gone by now
  EXPECT_EQ(Dump(), before_);
}

TEST_F(TrustTest, RevokedSupernodeLosesItsSourcesAndItsLease) {
  const std::string id = SupernodeId();
  CommandResult r = RunCommand(
      {RunfilePath("index_server/index_server"), "revoke-supernode", id,
       absl::StrCat("--postgres=", cluster_->dsn())},
      absl::Seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Dump(), "");
  {
    // The index no longer finds it (the supernode still answers from its
    // own leaves).
    auto stub = IndexAs(*cluster_->client_tls());
    index::SearchRequest search;
    search.mutable_query()->set_text("meadow");
    index::SearchResponse found;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    ASSERT_TRUE(stub->Search(&ctx, search, &found).ok());
    EXPECT_EQ(found.hits_size(), 0);
  }
  // It cannot come back: its renewals and registrations are refused.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return testutil::Slurp(cluster_->work_dir() + "/supernode.log")
                   .find("revoked") != std::string::npos;
      },
      absl::Seconds(30)));
  EXPECT_EQ(SupernodeId(), "");
  EXPECT_EQ(Dump(), "");
}

}  // namespace
}  // namespace trove
