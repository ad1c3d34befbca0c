#include "peer_client/supernode_session.h"

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "common/signed_change.h"
#include "gtest/gtest.h"
#include "protos/index.grpc.pb.h"

namespace trove {
namespace {

using supernode::SupernodeService;

constexpr absl::Duration kWait = absl::Seconds(20);

FileEntry Entry(const std::string& name) {
  FileEntry e;
  e.set_cid(HashBuffer(name).cid);
  e.set_size(static_cast<int64_t>(name.size()));
  e.set_name(name);
  return e;
}

// An in-memory supernode that checks join signatures and records what
// leaves publish.
class FakeSupernode final : public SupernodeService::Service {
 public:
  int heartbeat_interval_ms = 20;
  std::string backup_address;
  bool block_heartbeats = false;  // Heartbeats hang until cancelled.

  grpc::Status Challenge(grpc::ServerContext*,
                         const supernode::ChallengeRequest*,
                         supernode::ChallengeResponse* resp) override {
    absl::MutexLock lock(&mu);
    std::string nonce = absl::StrCat("nonce-", ++nonces_made);
    nonces.insert(nonce);
    resp->set_nonce(nonce);
    return grpc::Status::OK;
  }

  grpc::Status Join(grpc::ServerContext*, const supernode::JoinRequest* req,
                    supernode::JoinResponse* resp) override {
    absl::MutexLock lock(&mu);
    if (nonces.erase(req->nonce()) == 0) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad nonce");
    }
    absl::Status st = VerifySignature(
        req->public_key(), JoinSignedMessage(req->nonce(), req->listen_address()),
        req->signature());
    if (!st.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad signature");
    }
    peer_id = PeerIdFromPublicKey(req->public_key());
    listen_address = req->listen_address();
    session = absl::StrCat("session-", ++joins);
    files.clear();
    resp->set_peer_id(peer_id);
    resp->set_session(session);
    resp->set_heartbeat_interval_ms(heartbeat_interval_ms);
    resp->set_session_timeout_ms(heartbeat_interval_ms * 3);
    resp->set_backup_address(backup_address);
    return grpc::Status::OK;
  }

  grpc::Status Publish(grpc::ServerContext*,
                       const supernode::PublishRequest* signed_req,
                       supernode::PublishResponse* resp) override {
    absl::MutexLock lock(&mu);
    if (signed_req->session() != session || session.empty()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no session");
    }
    // Like a supernode: the change is what the leaf signed.
    absl::StatusOr<LeafChange> change = VerifyLeafChange(
        signed_req->signed_change(), signed_req->signature());
    if (!change.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          std::string(change.status().message()));
    }
    supernode::PublishRequest plain;
    plain.set_session(signed_req->session());
    plain.set_full(change->full());
    *plain.mutable_added() = change->added();
    *plain.mutable_removed() = change->removed();
    *plain.mutable_partial() = change->partial();
    const supernode::PublishRequest* req = &plain;
    publishes.push_back(*req);
    if (req->full()) files.clear();
    for (const std::string& cid : req->removed()) files.erase(cid);
    for (const FileEntry& e : req->added()) files[e.cid()] = e.name();
    resp->set_file_count(static_cast<int>(files.size()));
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext* ctx,
                         const supernode::HeartbeatRequest* req,
                         supernode::HeartbeatResponse*) override {
    absl::MutexLock lock(&mu);
    ++heartbeats;
    if (block_heartbeats) {
      mu.Unlock();
      while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
      mu.Lock();
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    if (req->session() != session || session.empty()) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "session expired");
    }
    return grpc::Status::OK;
  }

  grpc::Status Leave(grpc::ServerContext*, const supernode::LeaveRequest* req,
                     supernode::LeaveResponse*) override {
    absl::MutexLock lock(&mu);
    if (req->session() == session) left = true;
    return grpc::Status::OK;
  }

  grpc::Status Search(grpc::ServerContext*, const supernode::SearchRequest* req,
                      supernode::SearchResponse* resp) override {
    SearchHit* hit = resp->add_hits();
    hit->set_name(absl::StrCat("hit for ", req->query().text()));
    hit->set_source_count(3);
    resp->set_partial(true);
    return grpc::Status::OK;
  }

  grpc::Status Locate(grpc::ServerContext*, const supernode::LocateRequest* req,
                      supernode::LocateResponse* resp) override {
    if (req->cid() != HashBuffer("known").cid) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown cid");
    }
    resp->set_size(5);
    resp->set_name("known");
    Source* s = resp->add_sources();
    s->set_peer_id(std::string(64, 'a'));
    s->set_address("127.0.0.1:9");
    return grpc::Status::OK;
  }

  grpc::Status ReportBadSource(grpc::ServerContext*,
                               const supernode::ReportBadSourceRequest* req,
                               supernode::ReportBadSourceResponse*) override {
    absl::MutexLock lock(&mu);
    reports.push_back(req->peer_id());
    return grpc::Status::OK;
  }

  // Forgets the session, as a supernode does when a leaf times out.
  void ExpireSession() {
    absl::MutexLock lock(&mu);
    session.clear();
  }

  // Waits until `pred` holds (under the lock); false after kWait.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    absl::MutexLock lock(&mu);
    auto cond = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return pred(); };
    return mu.AwaitWithTimeout(absl::Condition(&cond), kWait);
  }

  std::map<std::string, std::string> Files() {
    absl::MutexLock lock(&mu);
    return files;
  }

  absl::Mutex mu;
  int nonces_made = 0;
  std::set<std::string> nonces;
  std::string peer_id, listen_address, session;
  int joins = 0;
  int heartbeats = 0;
  bool left = false;
  std::map<std::string, std::string> files;  // cid -> name
  std::vector<supernode::PublishRequest> publishes;
  std::vector<std::string> reports;
};

class FakeIndex final : public index::IndexService::Service {
 public:
  std::vector<std::string> addresses;
  grpc::Status Bootstrap(grpc::ServerContext*, const index::BootstrapRequest*,
                         index::BootstrapResponse* resp) override {
    for (const std::string& a : addresses) {
      resp->add_supernodes()->set_address(a);
    }
    return grpc::Status::OK;
  }
};

class SupernodeSessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
    ASSERT_TRUE(id.ok());
    identity_ = std::move(*id);
  }

  void TearDown() override {
    if (session_) session_->Stop();
    for (RunningServer& s : servers_) {
      if (s.server) s.server->Shutdown();
    }
  }

  std::string Serve(grpc::Service* service) {
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {service}, grpc::InsecureServerCredentials());
    EXPECT_TRUE(s.ok()) << s.status();
    std::string address = s->address;
    servers_.push_back(std::move(*s));
    return address;
  }

  SupernodeSession::Options Opts(std::vector<std::string> supernodes) {
    SupernodeSession::Options o;
    o.supernodes = std::move(supernodes);
    o.listen_address = "127.0.0.1:4242";
    o.rpc_timeout = absl::Seconds(5);
    o.min_backoff = absl::Milliseconds(10);
    o.max_backoff = absl::Milliseconds(100);
    return o;
  }

  void StartSession(SupernodeSession::Options o) {
    session_ = std::make_unique<SupernodeSession>(identity_.get(), o);
    session_->Start();
  }

  // Services outlive the servers and the session (torn down first).
  FakeSupernode& NewSupernode() {
    fakes_.push_back(std::make_unique<FakeSupernode>());
    return *fakes_.back();
  }

  std::unique_ptr<Identity> identity_;
  std::vector<std::unique_ptr<FakeSupernode>> fakes_;
  FakeIndex index_;
  std::vector<RunningServer> servers_;
  std::unique_ptr<SupernodeSession> session_;
};

TEST_F(SupernodeSessionTest, JoinsWithASignatureAndPublishesInFull) {
  FakeSupernode& sn = NewSupernode();
  std::string address = Serve(&sn);
  StartSession(Opts({address}));
  session_->SetFiles({Entry("a.mp3"), Entry("b.mp3")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  EXPECT_EQ(sn.Files().size(), 2u);
  absl::MutexLock lock(&sn.mu);
  EXPECT_EQ(sn.peer_id, identity_->peer_id());
  EXPECT_EQ(sn.listen_address, "127.0.0.1:4242");
  ASSERT_FALSE(sn.publishes.empty());
  EXPECT_TRUE(sn.publishes[0].full());
  EXPECT_EQ(session_->supernode(), address);
}

TEST_F(SupernodeSessionTest, ChangesArePublishedAsDeltas) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetFiles({Entry("a"), Entry("b")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  session_->SetFiles({Entry("a"), Entry("c")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  std::map<std::string, std::string> files = sn.Files();
  EXPECT_EQ(files.size(), 2u);
  EXPECT_EQ(files.count(Entry("c").cid()), 1u);
  absl::MutexLock lock(&sn.mu);
  const supernode::PublishRequest& last = sn.publishes.back();
  EXPECT_FALSE(last.full());
  ASSERT_EQ(last.added_size(), 1);
  EXPECT_EQ(last.added(0).name(), "c");
  ASSERT_EQ(last.removed_size(), 1);
  EXPECT_EQ(last.removed(0), Entry("b").cid());
}

TEST_F(SupernodeSessionTest, PartialDownloadsAreAnnouncedThenWithdrawn) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetPartials({Entry("p")});  // Waits for the first file list.
  session_->SetFiles({Entry("a")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  {
    absl::MutexLock lock(&sn.mu);
    ASSERT_FALSE(sn.publishes.empty());
    EXPECT_TRUE(sn.publishes[0].full());
    const supernode::PublishRequest& last = sn.publishes.back();
    ASSERT_EQ(last.partial_size(), 1);
    EXPECT_EQ(last.partial(0).cid(), Entry("p").cid());
    EXPECT_EQ(last.partial(0).name(), "p");
  }
  session_->SetPartials({Entry("p")});  // No change: nothing sent.
  session_->SetPartials({Entry("p"), Entry("q")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  {
    absl::MutexLock lock(&sn.mu);
    const supernode::PublishRequest& last = sn.publishes.back();
    EXPECT_FALSE(last.full());
    ASSERT_EQ(last.partial_size(), 1);
    EXPECT_EQ(last.partial(0).name(), "q");
  }
  // p completes into a shared file; q is abandoned. The two changes may go
  // in one publish or two, depending on when the session thread wakes.
  size_t mark;
  {
    absl::MutexLock lock(&sn.mu);
    mark = sn.publishes.size();
  }
  session_->SetFiles({Entry("a"), Entry("p")});
  session_->SetPartials({});
  bool p_added = false, q_removed = false, partial_sent = false;
  bool full_sent = false;
  EXPECT_TRUE(sn.WaitFor([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sn.mu) {
    p_added = q_removed = partial_sent = full_sent = false;
    for (size_t i = mark; i < sn.publishes.size(); ++i) {
      const supernode::PublishRequest& r = sn.publishes[i];
      full_sent |= r.full();
      for (const auto& f : r.added()) p_added |= f.name() == "p";
      for (const auto& c : r.removed()) q_removed |= c == Entry("q").cid();
      partial_sent |= r.partial_size() > 0;
    }
    return p_added && q_removed;
  }));
  EXPECT_TRUE(p_added);
  EXPECT_TRUE(q_removed);
  EXPECT_FALSE(partial_sent);
  EXPECT_FALSE(full_sent);
}

TEST_F(SupernodeSessionTest, PartialDownloadsAreAnnouncedAgainAfterARejoin) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetFiles({Entry("a")});
  session_->SetPartials({Entry("p")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  sn.ExpireSession();
  ASSERT_TRUE(sn.WaitFor([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sn.mu) {
    if (sn.joins < 2) return false;
    bool full_seen = false;
    for (const supernode::PublishRequest& r : sn.publishes) {
      if (r.session() != sn.session) continue;
      full_seen |= r.full();
      if (full_seen && r.partial_size() == 1) return true;
    }
    return false;
  }));
}

TEST_F(SupernodeSessionTest, BigListsGoInBatches) {
  FakeSupernode& sn = NewSupernode();
  SupernodeSession::Options o = Opts({Serve(&sn)});
  o.publish_batch = 2;
  StartSession(o);
  session_->SetFiles(
      {Entry("1"), Entry("2"), Entry("3"), Entry("4"), Entry("5")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  EXPECT_EQ(sn.Files().size(), 5u);
  absl::MutexLock lock(&sn.mu);
  ASSERT_EQ(sn.publishes.size(), 3u);
  EXPECT_TRUE(sn.publishes[0].full());
  EXPECT_FALSE(sn.publishes[1].full());
  EXPECT_FALSE(sn.publishes[2].full());
}

TEST_F(SupernodeSessionTest, RejoinsAndRepublishesWhenTheSessionIsLost) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetFiles({Entry("a"), Entry("b")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  sn.ExpireSession();
  ASSERT_TRUE(sn.WaitFor([&] { return sn.joins >= 2 && sn.files.size() == 2; }));
  absl::MutexLock lock(&sn.mu);
  EXPECT_TRUE(sn.publishes.back().full());
}

TEST_F(SupernodeSessionTest, MovesToTheBackupWhenTheSupernodeDies) {
  FakeSupernode& primary = NewSupernode();
  FakeSupernode& backup = NewSupernode();
  std::string backup_address = Serve(&backup);
  primary.backup_address = backup_address;
  std::string primary_address = Serve(&primary);
  StartSession(Opts({primary_address}));
  session_->SetFiles({Entry("a")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  EXPECT_EQ(session_->backup(), backup_address);
  servers_[1].server->Shutdown();  // The primary dies.
  ASSERT_TRUE(backup.WaitFor([&] { return backup.files.size() == 1; }));
  EXPECT_EQ(session_->supernode(), backup_address);
}

TEST_F(SupernodeSessionTest, AsksTheIndexForSupernodes) {
  FakeSupernode& first = NewSupernode();
  FakeSupernode& second = NewSupernode();
  FakeIndex& index = index_;
  index.addresses = {Serve(&first), Serve(&second)};
  SupernodeSession::Options o = Opts({});
  o.index_address = Serve(&index);
  StartSession(o);
  session_->SetFiles({Entry("a")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  EXPECT_EQ(session_->supernode(), index.addresses[0]);
  EXPECT_EQ(session_->backup(), index.addresses[1]);
  EXPECT_EQ(first.Files().size(), 1u);
}

TEST_F(SupernodeSessionTest, UnreachableSupernodeMeansUnavailable) {
  // Nobody listens there; the session backs off and retries meanwhile.
  StartSession(Opts({"127.0.0.1:1"}));
  session_->SetFiles({Entry("a")});
  EXPECT_FALSE(session_->WaitPublished(absl::Milliseconds(50)));
  EXPECT_EQ(session_->supernode(), "");
  EXPECT_EQ(session_->Search(SearchQuery()).status().code(),
            absl::StatusCode::kUnavailable);
  EXPECT_EQ(session_->Locate(HashBuffer("known").cid).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(SupernodeSessionTest, ForwardsSearchLocateAndReports) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetFiles({});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  SearchQuery q;
  q.set_text("bunny");
  absl::StatusOr<supernode::SearchResponse> r = session_->Search(q);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->hits_size(), 1);
  EXPECT_EQ(r->hits(0).name(), "hit for bunny");
  EXPECT_TRUE(r->partial());

  absl::StatusOr<LocatedSources> located =
      session_->Locate(HashBuffer("known").cid);
  ASSERT_TRUE(located.ok()) << located.status();
  EXPECT_EQ(located->name, "known");
  ASSERT_EQ(located->sources.size(), 1u);
  EXPECT_EQ(session_->Locate(HashBuffer("unknown").cid).status().code(),
            absl::StatusCode::kNotFound);

  session_->ReportBadSource(HashBuffer("known").cid, std::string(64, 'b'),
                            "bad chunk");
  absl::MutexLock lock(&sn.mu);
  EXPECT_EQ(sn.reports, std::vector<std::string>{std::string(64, 'b')});
}

TEST_F(SupernodeSessionTest, StopLeaves) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetFiles({Entry("a")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  session_->Stop();
  absl::MutexLock lock(&sn.mu);
  EXPECT_TRUE(sn.left);
}

TEST_F(SupernodeSessionTest, AbandonStopsWithoutLeaving) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetFiles({Entry("a")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  session_->Abandon();
  session_->Stop();  // Still does not leave.
  absl::MutexLock lock(&sn.mu);
  EXPECT_FALSE(sn.left);
}

TEST_F(SupernodeSessionTest, StopCancelsAHangingCallAndStillLeaves) {
  FakeSupernode& sn = NewSupernode();
  SupernodeSession::Options o = Opts({Serve(&sn)});
  o.rpc_timeout = absl::Hours(1);
  StartSession(o);
  session_->SetFiles({});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  {
    absl::MutexLock lock(&sn.mu);
    sn.block_heartbeats = true;
  }
  int seen;
  {
    absl::MutexLock lock(&sn.mu);
    seen = sn.heartbeats;
  }
  ASSERT_TRUE(sn.WaitFor([&] { return sn.heartbeats > seen; }));
  session_->Stop();  // Would wait an hour without cancellation.
  absl::MutexLock lock(&sn.mu);
  EXPECT_TRUE(sn.left);
}

TEST_F(SupernodeSessionTest, NothingIsPublishedBeforeTheFirstList) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  ASSERT_TRUE(sn.WaitFor([&] { return sn.heartbeats >= 2; }));
  {
    absl::MutexLock lock(&sn.mu);
    EXPECT_TRUE(sn.publishes.empty());
  }
  session_->SetFiles({Entry("a")});
  ASSERT_TRUE(session_->WaitPublished(kWait));
  absl::MutexLock lock(&sn.mu);
  ASSERT_EQ(sn.publishes.size(), 1u);
  EXPECT_TRUE(sn.publishes[0].full());
}

TEST_F(SupernodeSessionTest, HeartbeatsKeepGoing) {
  FakeSupernode& sn = NewSupernode();
  StartSession(Opts({Serve(&sn)}));
  session_->SetFiles({});
  ASSERT_TRUE(sn.WaitFor([&] { return sn.heartbeats >= 3; }));
  absl::MutexLock lock(&sn.mu);
  EXPECT_EQ(sn.joins, 1);
}

}  // namespace
}  // namespace trove
