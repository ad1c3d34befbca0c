// The whole supernode over real gRPC, against a fake IndexService server.
#include "supernode/supernode.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/supernode.grpc.pb.h"
#include "supernode/fake_index.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::SizeIs;

std::string Cid(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'c') + hex;
}

FileEntry File(int cid, const std::string& name) {
  FileEntry e;
  e.set_cid(Cid(cid));
  e.set_name(name);
  e.set_size(cid * 10);
  return e;
}

// Polls `done` until it holds or a generous deadline passes (the deadline
// only stops a broken test from hanging; nothing is timed).
bool Eventually(const std::function<bool()>& done) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return done();
}

class SupernodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RunningServer> running = StartServer(
        "127.0.0.1:0", {&index_service_}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(running.ok()) << running.status();
    index_server_ = std::move(running->server);
    index_address_ = running->address;
  }

  void TearDown() override {
    if (supernode_ != nullptr) supernode_->Stop(absl::Seconds(1));
    index_server_->Shutdown();
  }

  SupernodeOptions Options() {
    SupernodeOptions o;
    o.index_address = index_address_;
    o.listen_address = "127.0.0.1:0";
    o.session_timeout = absl::Milliseconds(400);
    o.heartbeat_interval = absl::Milliseconds(100);
    o.sweep_interval = absl::Milliseconds(10);
    o.batch_max_delay = absl::Milliseconds(10);
    o.retry_initial = absl::Milliseconds(10);
    o.retry_max = absl::Milliseconds(50);
    o.index_rpc_timeout = absl::Seconds(5);
    return o;
  }

  void StartSupernode(SupernodeOptions o) {
    absl::StatusOr<std::unique_ptr<Supernode>> sn = Supernode::Create(o);
    ASSERT_TRUE(sn.ok()) << sn.status();
    supernode_ = std::move(sn).value();
    ASSERT_TRUE(supernode_->Start().ok());
    stub_ = SupernodeService::NewStub(grpc::CreateChannel(
        supernode_->address(), grpc::InsecureChannelCredentials()));
  }

  // Joins a fresh identity; returns the session.
  std::string JoinLeaf(std::unique_ptr<Identity>* out = nullptr) {
    std::unique_ptr<Identity> identity = Identity::Generate().value();
    ChallengeResponse challenge;
    {
      grpc::ClientContext ctx;
      EXPECT_TRUE(stub_->Challenge(&ctx, ChallengeRequest(), &challenge).ok());
    }
    JoinRequest req;
    req.set_public_key(identity->public_key());
    req.set_nonce(challenge.nonce());
    req.set_listen_address("127.0.0.1:7777");
    req.set_work(SolveJoinWork(req.nonce(), req.public_key(),
                               challenge.work_bits()));
    req.set_signature(
        identity->Sign(JoinSignedMessage(req.nonce(), req.listen_address()))
            .value());
    JoinResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Join(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (out != nullptr) *out = std::move(identity);
    return resp.session();
  }

  grpc::Status PublishFull(const std::string& session,
                           std::vector<FileEntry> files) {
    PublishRequest req;
    req.set_session(session);
    req.set_full(true);
    for (FileEntry& f : files) *req.add_added() = f;
    PublishResponse resp;
    grpc::ClientContext ctx;
    return stub_->Publish(&ctx, req, &resp);
  }

  bool IndexHasPeer(const std::string& peer_id, size_t files) {
    auto catalog = index_.catalog();
    auto it = catalog.find(peer_id);
    return it != catalog.end() && it->second.size() == files;
  }

  FakeIndexClient index_;
  FakeIndexService index_service_{&index_};
  std::unique_ptr<grpc::Server> index_server_;
  std::string index_address_;
  std::unique_ptr<Supernode> supernode_;
  std::unique_ptr<SupernodeService::Stub> stub_;
};

TEST_F(SupernodeTest, RegistersAndForwardsLeafFiles) {
  StartSupernode(Options());
  ASSERT_TRUE(Eventually([&] {
    return index_.registered().count(supernode_->supernode_id()) > 0;
  }));
  EXPECT_EQ(index_.last_register().address(), supernode_->address());
  std::unique_ptr<Identity> leaf;
  std::string session = JoinLeaf(&leaf);
  ASSERT_TRUE(PublishFull(session, {File(1, "alpha.mp3"), File(2, "beta.mp3")})
                  .ok());
  EXPECT_TRUE(Eventually([&] { return IndexHasPeer(leaf->peer_id(), 2); }));

  // Search goes to both the leaves and the index.
  index_.SetSearchHits({});
  SearchRequest sreq;
  sreq.mutable_query()->set_text("alpha");
  SearchResponse sresp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Search(&ctx, sreq, &sresp).ok());
  ASSERT_THAT(sresp.hits(), SizeIs(1));
  EXPECT_FALSE(sresp.partial());
  EXPECT_EQ(index_.calls("Search"), 1);
}

TEST_F(SupernodeTest, SilentLeafIsWithdrawnFromTheIndex) {
  StartSupernode(Options());
  std::unique_ptr<Identity> leaf;
  std::string session = JoinLeaf(&leaf);
  ASSERT_TRUE(PublishFull(session, {File(1, "alpha.mp3")}).ok());
  ASSERT_TRUE(Eventually([&] { return IndexHasPeer(leaf->peer_id(), 1); }));
  // No heartbeats: after the session timeout the leaf is dropped.
  EXPECT_TRUE(Eventually([&] { return index_.catalog().empty(); }));
  EXPECT_EQ(supernode_->registry()->leaf_count(), 0);
  HeartbeatRequest hb;
  hb.set_session(session);
  HeartbeatResponse hb_resp;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Heartbeat(&ctx, hb, &hb_resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(SupernodeTest, StopFlushesThePendingBatch) {
  SupernodeOptions o = Options();
  o.batch_max_delay = absl::Seconds(600);
  o.session_timeout = absl::Seconds(60);
  o.heartbeat_interval = absl::Seconds(20);
  StartSupernode(o);
  ASSERT_TRUE(Eventually([&] { return supernode_->forwarder()->registered(); }));
  std::unique_ptr<Identity> leaf;
  std::string session = JoinLeaf(&leaf);
  ASSERT_TRUE(PublishFull(session, {File(1, "alpha.mp3")}).ok());
  EXPECT_EQ(index_.calls("PublishDeltas"), 0);
  supernode_->Stop(absl::Seconds(5));
  EXPECT_TRUE(IndexHasPeer(leaf->peer_id(), 1));
}

TEST_F(SupernodeTest, ReRegistersAndResendsAfterIndexForgets) {
  SupernodeOptions o = Options();
  o.session_timeout = absl::Seconds(60);
  o.heartbeat_interval = absl::Seconds(20);
  o.renew_interval = absl::Milliseconds(20);
  StartSupernode(o);
  std::unique_ptr<Identity> leaf;
  std::string session = JoinLeaf(&leaf);
  ASSERT_TRUE(PublishFull(session, {File(1, "alpha.mp3"), File(2, "b.mp3")})
                  .ok());
  ASSERT_TRUE(Eventually([&] { return IndexHasPeer(leaf->peer_id(), 2); }));
  index_.ForgetEverything();
  EXPECT_TRUE(Eventually([&] { return IndexHasPeer(leaf->peer_id(), 2); }));
  EXPECT_GE(index_.calls("RegisterSupernode"), 2);
}

TEST_F(SupernodeTest, SearchStillAnswersWhenIndexIsDown) {
  StartSupernode(Options());
  std::string session = JoinLeaf();
  ASSERT_TRUE(PublishFull(session, {File(1, "alpha.mp3")}).ok());
  index_.SetUnavailable(true);
  SearchRequest sreq;
  sreq.mutable_query()->set_text("alpha");
  SearchResponse sresp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Search(&ctx, sreq, &sresp).ok());
  EXPECT_TRUE(sresp.partial());
  EXPECT_THAT(sresp.hits(), SizeIs(1));
}

TEST_F(SupernodeTest, StateDirKeepsTheId) {
  std::string dir = absl::StrCat(::testing::TempDir(), "/sn_state");
  SupernodeOptions o = Options();
  o.state_dir = dir;
  absl::StatusOr<std::unique_ptr<Supernode>> a = Supernode::Create(o);
  absl::StatusOr<std::unique_ptr<Supernode>> b = Supernode::Create(o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ((*a)->supernode_id(), (*b)->supernode_id());
  EXPECT_EQ((*a)->supernode_id().size(), 64u);
  o.state_dir = "";
  absl::StatusOr<std::unique_ptr<Supernode>> c = Supernode::Create(o);
  ASSERT_TRUE(c.ok());
  EXPECT_NE((*c)->supernode_id(), (*a)->supernode_id());
}

TEST_F(SupernodeTest, AdvertisedAddressGoesToTheIndex) {
  SupernodeOptions o = Options();
  o.advertise_address = "sn.example.org:7300";
  StartSupernode(o);
  ASSERT_TRUE(Eventually([&] { return supernode_->forwarder()->registered(); }));
  EXPECT_EQ(index_.last_register().address(), "sn.example.org:7300");
  EXPECT_EQ(supernode_->address(), "sn.example.org:7300");
  EXPECT_NE(supernode_->bound_address(), supernode_->address());
}

TEST_F(SupernodeTest, InProcessWithoutOwnServer) {
  SupernodeOptions o = Options();
  o.listen_address = "";
  {
    absl::StatusOr<std::unique_ptr<Supernode>> sn = Supernode::Create(o);
    ASSERT_TRUE(sn.ok());
    EXPECT_EQ((*sn)->Start().code(), absl::StatusCode::kFailedPrecondition);
  }
  o.advertise_address = "127.0.0.1:7301";
  absl::StatusOr<std::unique_ptr<Supernode>> sn = Supernode::Create(o);
  ASSERT_TRUE(sn.ok());
  ASSERT_TRUE((*sn)->Start().ok());
  EXPECT_EQ((*sn)->address(), "127.0.0.1:7301");
  EXPECT_EQ((*sn)->bound_address(), "");
  EXPECT_NE((*sn)->service(), nullptr);
  (*sn)->Stop(absl::Seconds(1));
}

TEST_F(SupernodeTest, BadOptionsAreInvalid) {
  SupernodeOptions o = Options();
  o.index_address = "";
  EXPECT_EQ(Supernode::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.session_timeout = absl::ZeroDuration();
  EXPECT_EQ(Supernode::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.heartbeat_interval = absl::Seconds(10);
  EXPECT_EQ(Supernode::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.batch_max_entries = 0;
  EXPECT_EQ(Supernode::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.supernode_id = "xyz";
  EXPECT_EQ(Supernode::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  // Bad-source scores: leaving out below ranking last makes no sense.
  o = Options();
  o.reports.demote_score = 4;
  o.reports.exclude_score = 2;
  absl::Status scores = Supernode::Create(o).status();
  EXPECT_EQ(scores.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(scores.message()),
              ::testing::HasSubstr("report_leave_out_score"));
  o = Options();
  o.reports.min_weight = 2;
  EXPECT_EQ(Supernode::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = Options();
  o.reports.window = absl::ZeroDuration();
  EXPECT_EQ(Supernode::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace supernode
}  // namespace trove
