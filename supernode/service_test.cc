#include "supernode/service.h"

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "supernode/fake_index.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

std::string Cid(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'c') + hex;
}

std::string Peer(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'e') + hex;
}

FileEntry File(int cid, const std::string& name, int64_t size = 100) {
  FileEntry e;
  e.set_cid(Cid(cid));
  e.set_name(name);
  e.set_size(size);
  return e;
}

SearchHit Hit(int cid, const std::string& name, int sources) {
  SearchHit h;
  h.set_cid(Cid(cid));
  h.set_name(name);
  h.set_size(100);
  h.set_source_count(sources);
  return h;
}

Source Src(const std::string& peer, const std::string& address,
           bool partial = false) {
  Source s;
  s.set_peer_id(peer);
  s.set_address(address);
  s.set_partial(partial);
  return s;
}

// A SupernodeServiceImpl on a port-0 server, over a registry and a fake
// index, with a stub to call it.
class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartService(); }

  // (Re)starts the service; `adjust` may change its options.
  void StartService(
      const std::function<void(SupernodeServiceImpl::Options*)>& adjust = {},
      LeafRegistry::Options ro = TestRegistryOptions()) {
    if (server_ != nullptr) server_->Shutdown();
    stub_.reset();
    server_.reset();
    service_.reset();
    registry_ = std::make_unique<LeafRegistry>(ro, &clock_, nullptr);
    SupernodeServiceImpl::Options so;
    so.max_files_per_publish = 10;
    so.heartbeat_interval = absl::Seconds(7);
    so.session_timeout = absl::Seconds(21);
    so.clock = &clock_;
    if (adjust) adjust(&so);
    service_ = std::make_unique<SupernodeServiceImpl>(
        so, registry_.get(), index_client_, [] { return "10.9.9.9:6000"; });
    absl::StatusOr<RunningServer> running =
        StartServer("127.0.0.1:0", {service_.get()},
                    grpc::InsecureServerCredentials());
    ASSERT_TRUE(running.ok()) << running.status();
    server_ = std::move(running->server);
    stub_ = SupernodeService::NewStub(grpc::CreateChannel(
        running->address, grpc::InsecureChannelCredentials()));
  }

  static LeafRegistry::Options TestRegistryOptions() {
    LeafRegistry::Options ro;
    ro.max_files_per_leaf = 100;
    return ro;
  }

  void TearDown() override { server_->Shutdown(); }

  // Joins a new identity over gRPC; returns the response.
  JoinResponse JoinNew(const std::string& address,
                       std::unique_ptr<Identity>* out = nullptr) {
    std::unique_ptr<Identity> identity = Identity::Generate().value();
    JoinRequest req = SignedJoin(*identity, address);
    JoinResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->Join(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (out != nullptr) *out = std::move(identity);
    return resp;
  }

  JoinRequest SignedJoin(const Identity& identity,
                         const std::string& address) {
    ChallengeResponse challenge;
    {
      grpc::ClientContext ctx;
      EXPECT_TRUE(
          stub_->Challenge(&ctx, ChallengeRequest(), &challenge).ok());
    }
    JoinRequest req;
    req.set_public_key(identity.public_key());
    req.set_nonce(challenge.nonce());
    req.set_listen_address(address);
    req.set_signature(
        identity.Sign(JoinSignedMessage(challenge.nonce(), address)).value());
    return req;
  }

  grpc::Status Join(const JoinRequest& req) {
    JoinResponse resp;
    grpc::ClientContext ctx;
    return stub_->Join(&ctx, req, &resp);
  }

  grpc::Status Publish(const PublishRequest& req,
                       PublishResponse* resp = nullptr) {
    PublishResponse ignored;
    grpc::ClientContext ctx;
    return stub_->Publish(&ctx, req, resp != nullptr ? resp : &ignored);
  }

  PublishRequest FullList(const std::string& session,
                          std::vector<FileEntry> files) {
    PublishRequest req;
    req.set_session(session);
    req.set_full(true);
    for (FileEntry& f : files) *req.add_added() = f;
    return req;
  }

  grpc::Status Search(const SearchQuery& query, SearchResponse* resp) {
    SearchRequest req;
    *req.mutable_query() = query;
    grpc::ClientContext ctx;
    return stub_->Search(&ctx, req, resp);
  }

  SearchQuery Query(const std::string& text) {
    SearchQuery q;
    q.set_text(text);
    return q;
  }

  grpc::Status Locate(const std::string& cid, LocateResponse* resp) {
    LocateRequest req;
    req.set_cid(cid);
    grpc::ClientContext ctx;
    return stub_->Locate(&ctx, req, resp);
  }

  FakeClock clock_;
  FakeIndexClient index_;
  // What the service asks as its index: index_ itself unless a test says.
  IndexClient* index_client_ = &index_;
  std::unique_ptr<LeafRegistry> registry_;
  std::unique_ptr<SupernodeServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<SupernodeService::Stub> stub_;
};

TEST_F(ServiceTest, JoinGivesSessionAndTimings) {
  std::unique_ptr<Identity> identity;
  JoinResponse resp = JoinNew("127.0.0.1:7001", &identity);
  EXPECT_EQ(resp.peer_id(), identity->peer_id());
  EXPECT_EQ(resp.session().size(), 32u);
  EXPECT_EQ(resp.heartbeat_interval_ms(), 7000);
  EXPECT_EQ(resp.session_timeout_ms(), 21000);
  EXPECT_EQ(resp.backup_address(), "10.9.9.9:6000");
}

TEST_F(ServiceTest, JoinRefusals) {
  std::unique_ptr<Identity> identity = Identity::Generate().value();

  JoinRequest bad_sig = SignedJoin(*identity, "127.0.0.1:7001");
  bad_sig.set_listen_address("127.0.0.1:7002");
  EXPECT_EQ(Join(bad_sig).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  JoinRequest reused = SignedJoin(*identity, "127.0.0.1:7001");
  EXPECT_TRUE(Join(reused).ok());
  EXPECT_EQ(Join(reused).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  JoinRequest short_key = SignedJoin(*identity, "127.0.0.1:7001");
  short_key.set_public_key("abc");
  grpc::Status s = Join(short_key);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("public_key"));

  JoinRequest short_sig = SignedJoin(*identity, "127.0.0.1:7001");
  short_sig.set_signature("xyz");
  EXPECT_EQ(Join(short_sig).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  JoinRequest bad_address = SignedJoin(*identity, "no port here");
  s = Join(bad_address);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("listen_address"));

  JoinRequest bad_capacity = SignedJoin(*identity, "127.0.0.1:7001");
  bad_capacity.mutable_capacity()->set_uptime_seconds(-1);
  EXPECT_EQ(Join(bad_capacity).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, PublishAndSearchLocally) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  PublishResponse resp;
  ASSERT_TRUE(Publish(FullList(leaf.session(),
                               {File(1, "Bohemian Rhapsody.mp3"),
                                File(2, "Other.txt")}),
                      &resp)
                  .ok());
  EXPECT_EQ(resp.file_count(), 2);
  SearchResponse found;
  ASSERT_TRUE(Search(Query("rhapsody"), &found).ok());
  ASSERT_THAT(found.hits(), SizeIs(1));
  EXPECT_EQ(found.hits(0).cid(), Cid(1));
  EXPECT_FALSE(found.partial());
}

struct BadPublishCase {
  std::string label;
  std::function<void(PublishRequest*)> spoil;
  std::string message;
};

TEST_F(ServiceTest, BadPublishIsRefusedWholeAndStoresNothing) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  std::vector<BadPublishCase> cases = {
      {"path in name",
       [](PublishRequest* r) { r->mutable_added(1)->set_name("dir/x.mp3"); },
       "added[1]"},
      {"dot dot",
       [](PublishRequest* r) { r->mutable_added(1)->set_name(".."); },
       "added[1]"},
      {"empty name",
       [](PublishRequest* r) { r->mutable_added(0)->set_name(""); },
       "added[0]"},
      {"short cid",
       [](PublishRequest* r) { r->mutable_added(1)->set_cid("abc"); },
       "cid"},
      {"uppercase cid",
       [](PublishRequest* r) {
         r->mutable_added(1)->set_cid(std::string(64, 'A'));
       },
       "added[1]"},
      {"negative size",
       [](PublishRequest* r) { r->mutable_added(1)->set_size(-5); },
       "negative"},
      {"bad removed cid",
       [](PublishRequest* r) { r->add_removed("zz"); }, "removed[0]"},
      {"bad partial",
       [](PublishRequest* r) {
         FileEntry* p = r->add_partial();
         *p = File(9, "ok.bin");
         p->set_name("a\\b");
       },
       "partial[0]"},
      {"too many",
       [](PublishRequest* r) {
         for (int i = 0; i < 9; ++i) *r->add_added() = File(20 + i, "x.bin");
       },
       "limit"},
  };
  for (const BadPublishCase& c : cases) {
    SCOPED_TRACE(c.label);
    PublishRequest req = FullList(
        leaf.session(), {File(1, "good one.mp3"), File(2, "good two.mp3")});
    c.spoil(&req);
    grpc::Status s = Publish(req);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr(c.message));
    EXPECT_EQ(registry_->file_count(), 0u);
    SearchResponse found;
    ASSERT_TRUE(Search(Query("good"), &found).ok());
    EXPECT_THAT(found.hits(), IsEmpty());
  }
}

TEST_F(ServiceTest, BadUtf8IsRefused) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  PublishRequest req = FullList(
      leaf.session(), {File(1, "good one.mp3"), File(2, "bad \xff.mp3")});
  // Over gRPC (names are bytes on the wire) the service's check answers.
  grpc::Status wire = Publish(req);
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(wire.error_message(), HasSubstr("UTF-8"));
  // In process, the service's own check names the entry.
  PublishResponse resp;
  absl::Status s = service_->DoPublish(req, &resp);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("added[1]"));
  EXPECT_THAT(s.message(), HasSubstr("UTF-8"));
  EXPECT_EQ(registry_->file_count(), 0u);
}

TEST_F(ServiceTest, PublishNeedsASession) {
  grpc::Status s = Publish(FullList("0123", {File(1, "a.mp3")}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  s = Publish(FullList("", {File(1, "a.mp3")}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(registry_->file_count(), 0u);
}

TEST_F(ServiceTest, HeartbeatAndLeave) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  ASSERT_TRUE(Publish(FullList(leaf.session(), {File(1, "song.mp3")})).ok());
  HeartbeatRequest hb;
  hb.set_session(leaf.session());
  HeartbeatResponse hb_resp;
  {
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Heartbeat(&ctx, hb, &hb_resp).ok());
  }
  {
    HeartbeatRequest unknown;
    unknown.set_session("feedfeed");
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Heartbeat(&ctx, unknown, &hb_resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  LeaveRequest leave;
  leave.set_session(leaf.session());
  LeaveResponse leave_resp;
  {
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Leave(&ctx, leave, &leave_resp).ok());
  }
  EXPECT_EQ(registry_->file_count(), 0u);
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->Heartbeat(&ctx, hb, &hb_resp).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
}

TEST_F(ServiceTest, BadQueryIsInvalid) {
  SearchResponse resp;
  EXPECT_EQ(Search(Query(""), &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Search(Query("--- !!"), &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  SearchQuery q = Query("song");
  q.set_min_size(10);
  q.set_max_size(5);
  EXPECT_EQ(Search(q, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  SearchQuery ext = Query("song");
  ext.add_extensions("m.p3");
  EXPECT_EQ(Search(ext, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(index_.calls("Search"), 0);
}

TEST_F(ServiceTest, SearchMergesLocalAndIndexByCid) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  ASSERT_TRUE(Publish(FullList(leaf.session(), {File(1, "song one.mp3"),
                                                File(3, "song three.mp3")}))
                  .ok());
  // The index knows cid 1 with 3 sources (maybe counting our leaf) and
  // cid 2 from elsewhere.
  index_.SetSearchHits({Hit(1, "song one.mp3", 3), Hit(2, "song two.mp3", 2)});
  SearchQuery q = Query("song");
  q.set_limit(10);
  SearchResponse resp;
  ASSERT_TRUE(Search(q, &resp).ok());
  EXPECT_FALSE(resp.partial());
  ASSERT_THAT(resp.hits(), SizeIs(3));
  EXPECT_EQ(resp.hits(0).cid(), Cid(1));
  EXPECT_EQ(resp.hits(0).source_count(), 3);  // the larger, not the sum
  EXPECT_EQ(resp.hits(1).cid(), Cid(2));
  EXPECT_EQ(resp.hits(2).cid(), Cid(3));
  EXPECT_EQ(resp.hits(2).source_count(), 1);
  EXPECT_EQ(index_.last_search().query().text(), "song");
}

TEST_F(ServiceTest, SearchLimitAppliesAfterMerge) {
  index_.SetSearchHits({Hit(1, "a song.mp3", 5), Hit(2, "b song.mp3", 4),
                        Hit(3, "c song.mp3", 3)});
  SearchQuery q = Query("song");
  q.set_limit(2);
  SearchResponse resp;
  ASSERT_TRUE(Search(q, &resp).ok());
  EXPECT_THAT(resp.hits(), SizeIs(2));
  EXPECT_EQ(index_.last_search().query().limit(), 2);
}

TEST_F(ServiceTest, MergedHitsKeepTheSharedOrder) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  ASSERT_TRUE(Publish(FullList(leaf.session(), {File(1, "song.mp3")})).ok());
  // The index's hit matched only in part but has more sources: a whole
  // word still comes first, as it would at the index.
  SearchHit partial = Hit(2, "songs of love.mp3", 5);
  partial.set_match(SEARCH_MATCH_PARTIAL);
  index_.SetSearchHits({partial});
  index_.SetSearchCursor("more");
  SearchResponse resp;
  ASSERT_TRUE(Search(Query("song"), &resp).ok());
  ASSERT_THAT(resp.hits(), SizeIs(2));
  EXPECT_EQ(resp.hits(0).cid(), Cid(1));
  EXPECT_EQ(resp.hits(0).match(), SEARCH_MATCH_EXACT);
  EXPECT_EQ(resp.hits(1).cid(), Cid(2));
  // The index has more: the page says where to go on.
  EXPECT_FALSE(resp.next_cursor().empty());
}

TEST_F(ServiceTest, TheCallersDeadlineBoundsTheIndexPart) {
  index_.SetSearchHits({Hit(1, "song.mp3", 1)});
  SearchRequest req;
  *req.mutable_query() = Query("song");
  SearchResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::milliseconds(400));
  ASSERT_TRUE(stub_->Search(&ctx, req, &resp).ok());
  EXPECT_LE(index_.last_search_timeout(), absl::Milliseconds(400));
  EXPECT_GT(index_.last_search_timeout(), absl::ZeroDuration());
}

TEST_F(ServiceTest, SearchIsPartialWhenIndexIsDown) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  ASSERT_TRUE(Publish(FullList(leaf.session(), {File(1, "song.mp3")})).ok());
  index_.SetUnavailable(true);
  SearchResponse resp;
  ASSERT_TRUE(Search(Query("song"), &resp).ok());
  EXPECT_TRUE(resp.partial());
  ASSERT_THAT(resp.hits(), SizeIs(1));
  EXPECT_EQ(resp.hits(0).cid(), Cid(1));
}

TEST_F(ServiceTest, LocateUnionsLeavesAndIndex) {
  std::unique_ptr<Identity> a;
  JoinResponse leaf = JoinNew("127.0.0.1:7001", &a);
  ASSERT_TRUE(Publish(FullList(leaf.session(), {File(1, "song.mp3", 777)})).ok());
  index::LocateResponse remote;
  remote.set_size(777);
  remote.set_name("song.mp3");
  *remote.add_sources() = Src(a->peer_id(), "127.0.0.1:7001");  // same leaf
  *remote.add_sources() = Src(Peer(5), "10.0.0.5:7000", /*partial=*/true);
  *remote.add_sources() = Src(Peer(6), "10.0.0.6:7000");
  index_.SetLocate(Cid(1), remote);
  LocateResponse resp;
  ASSERT_TRUE(Locate(Cid(1), &resp).ok());
  EXPECT_EQ(resp.size(), 777);
  EXPECT_EQ(resp.name(), "song.mp3");
  ASSERT_THAT(resp.sources(), SizeIs(3));
  EXPECT_EQ(resp.sources(0).peer_id(), a->peer_id());
  EXPECT_EQ(resp.sources(1).peer_id(), Peer(6));
  EXPECT_EQ(resp.sources(2).peer_id(), Peer(5));  // partial ones last
  EXPECT_TRUE(resp.sources(2).partial());
}

TEST_F(ServiceTest, LocateFromIndexOnly) {
  index::LocateResponse remote;
  remote.set_size(5);
  remote.set_name("far.bin");
  *remote.add_sources() = Src(Peer(6), "10.0.0.6:7000");
  index_.SetLocate(Cid(2), remote);
  LocateResponse resp;
  ASSERT_TRUE(Locate(Cid(2), &resp).ok());
  EXPECT_EQ(resp.name(), "far.bin");
  ASSERT_THAT(resp.sources(), SizeIs(1));
}

TEST_F(ServiceTest, LocateNotFoundAndMalformed) {
  LocateResponse resp;
  EXPECT_EQ(Locate(Cid(42), &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Locate("not-a-cid", &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  index_.SetUnavailable(true);
  EXPECT_EQ(Locate(Cid(42), &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, LocateFromLeavesWhenIndexIsDown) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  ASSERT_TRUE(Publish(FullList(leaf.session(), {File(1, "song.mp3")})).ok());
  index_.SetUnavailable(true);
  LocateResponse resp;
  ASSERT_TRUE(Locate(Cid(1), &resp).ok());
  EXPECT_THAT(resp.sources(), SizeIs(1));
}

// The service over the gRPC IndexClient, which answers Search and Locate
// from the index's reply without holding a thread while it waits; the
// index is index_ served as IndexService.
class ServiceOverGrpcIndexTest : public ServiceTest {
 protected:
  void SetUp() override {
    absl::StatusOr<RunningServer> running =
        StartServer("127.0.0.1:0", {&index_service_},
                    grpc::InsecureServerCredentials());
    ASSERT_TRUE(running.ok()) << running.status();
    index_server_ = std::move(running->server);
    grpc_index_ = NewGrpcIndexClient(grpc::CreateChannel(
        running->address, grpc::InsecureChannelCredentials()));
    index_client_ = grpc_index_.get();
    StartService();
  }
  void TearDown() override {
    ServiceTest::TearDown();
    index_server_->Shutdown();
  }

  FakeIndexService index_service_{&index_};
  std::unique_ptr<grpc::Server> index_server_;
  std::unique_ptr<IndexClient> grpc_index_;
};

TEST_F(ServiceOverGrpcIndexTest, SearchAndLocateMergeTheIndexsAnswer) {
  std::unique_ptr<Identity> a;
  JoinResponse leaf = JoinNew("127.0.0.1:7001", &a);
  ASSERT_TRUE(
      Publish(FullList(leaf.session(), {File(1, "song.mp3", 777)})).ok());
  index_.SetSearchHits({Hit(1, "song.mp3", 4), Hit(2, "song two.mp3", 2)});
  index::LocateResponse remote;
  remote.set_size(777);
  remote.set_name("song.mp3");
  *remote.add_sources() = Src(a->peer_id(), "127.0.0.1:7001");  // same leaf
  *remote.add_sources() = Src(Peer(5), "10.0.0.5:7000", /*partial=*/true);
  *remote.add_sources() = Src(Peer(6), "10.0.0.6:7000");
  index_.SetLocate(Cid(1), remote);

  SearchResponse found;
  ASSERT_TRUE(Search(Query("song"), &found).ok());
  EXPECT_FALSE(found.partial());
  ASSERT_THAT(found.hits(), SizeIs(2));
  EXPECT_EQ(found.hits(0).cid(), Cid(1));
  EXPECT_EQ(found.hits(0).source_count(), 4);  // the index's count, not 1
  EXPECT_EQ(found.hits(1).cid(), Cid(2));
  EXPECT_EQ(index_.calls("Search"), 1);

  LocateResponse located;
  ASSERT_TRUE(Locate(Cid(1), &located).ok());
  EXPECT_EQ(located.name(), "song.mp3");
  ASSERT_THAT(located.sources(), SizeIs(3));
  EXPECT_EQ(located.sources(0).peer_id(), a->peer_id());
  EXPECT_EQ(located.sources(1).peer_id(), Peer(6));
  EXPECT_EQ(located.sources(2).peer_id(), Peer(5));  // partial ones last
  EXPECT_EQ(index_.calls("Locate"), 1);

  LocateResponse missing;
  EXPECT_EQ(Locate(Cid(42), &missing).error_code(),
            grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Locate("not-a-cid", &missing).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(index_.calls("Locate"), 2);  // the malformed cid never left
}

TEST_F(ServiceOverGrpcIndexTest, ASlowIndexLeavesThePartialAnswerInTime) {
  StartService([](SupernodeServiceImpl::Options* o) {
    o->index_search_timeout = absl::Milliseconds(200);
    o->index_locate_timeout = absl::Milliseconds(200);
  });
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  ASSERT_TRUE(Publish(FullList(leaf.session(), {File(1, "song.mp3")})).ok());
  index_.SetSearchHits({Hit(2, "song two.mp3", 2)});
  index_.SetAnswerDelay(absl::Seconds(3));

  // The caller allows 2 s: the index's 200 ms pass first, and the answer
  // holds the leaves' part alone.
  SearchRequest req;
  *req.mutable_query() = Query("song");
  SearchResponse found;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  grpc::Status s = stub_->Search(&ctx, req, &found);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(found.partial());
  ASSERT_THAT(found.hits(), SizeIs(1));
  EXPECT_EQ(found.hits(0).cid(), Cid(1));

  LocateRequest lreq;
  lreq.set_cid(Cid(1));
  LocateResponse located;
  grpc::ClientContext lctx;
  lctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  s = stub_->Locate(&lctx, lreq, &located);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(located.sources(), SizeIs(1));
}

TEST_F(ServiceOverGrpcIndexTest, CallsWaitingForTheIndexAreBounded) {
  // One worker and a queue of one: at most two calls wait for the index;
  // a third is refused at once rather than queued.
  StartService([](SupernodeServiceImpl::Options* o) {
    o->search_workers = 1;
    o->max_queued_searches = 1;
  });
  index::LocateResponse remote;
  remote.set_size(5);
  remote.set_name("far.bin");
  *remote.add_sources() = Src(Peer(6), "10.0.0.6:7000");
  index_.SetLocate(Cid(2), remote);
  index_.SetAnswerDelay(absl::Seconds(1));

  constexpr int kCalls = 3;
  grpc::CompletionQueue cq;
  struct Call {
    grpc::ClientContext context;
    LocateResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<LocateResponse>> reader;
  };
  std::vector<Call> calls(kCalls);
  LocateRequest req;
  req.set_cid(Cid(2));
  for (int i = 0; i < kCalls; ++i) {
    calls[i].context.set_deadline(std::chrono::system_clock::now() +
                                  std::chrono::seconds(10));
    calls[i].reader = stub_->AsyncLocate(&calls[i].context, req, &cq);
    calls[i].reader->Finish(&calls[i].response, &calls[i].status, &calls[i]);
  }
  for (int i = 0; i < kCalls; ++i) {
    void* tag = nullptr;
    bool ok = false;
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_TRUE(ok);
  }
  int answered = 0;
  int refused = 0;
  for (const Call& c : calls) {
    if (c.status.ok()) {
      ++answered;
      ASSERT_THAT(c.response.sources(), SizeIs(1));
      EXPECT_EQ(c.response.sources(0).peer_id(), Peer(6));
    } else {
      EXPECT_EQ(c.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      EXPECT_THAT(c.status.error_message(), HasSubstr("too many look-ups"));
      ++refused;
    }
  }
  EXPECT_EQ(answered, 2);
  EXPECT_EQ(refused, 1);
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ServiceTest, ReportBadSourceCounts) {
  JoinResponse leaf = JoinNew("127.0.0.1:7001");
  ReportBadSourceRequest req;
  req.set_session(leaf.session());
  req.set_cid(Cid(1));
  req.set_peer_id(Peer(9));
  req.set_reason("chunk 3 hash mismatch\n");
  ReportBadSourceResponse resp;
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->ReportBadSource(&ctx, req, &resp).ok());
  }
  // One reporter counts once per source per window.
  EXPECT_EQ(service_->bad_source_reports(Peer(9)), 1);

  ReportBadSourceRequest bad = req;
  bad.set_peer_id("x");
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->ReportBadSource(&ctx, bad, &resp).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  ReportBadSourceRequest stranger = req;
  stranger.set_session("abcdef");
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->ReportBadSource(&ctx, stranger, &resp).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(service_->bad_source_reports(Peer(9)), 1);
}

TEST_F(ServiceTest, BadSourceReportsAreLimitedPerReporterAndWeighedByAge) {
  LeafRegistry::Options ro = TestRegistryOptions();
  ro.session_timeout = absl::Hours(10);
  StartService(
      [](SupernodeServiceImpl::Options* so) {
        so->reports.window = absl::Minutes(10);
        so->reports.max_reports_per_window = 3;
        so->reports.full_weight_after = absl::Hours(1);
      },
      ro);
  auto report = [&](const std::string& session, int source) {
    ReportBadSourceRequest req;
    req.set_session(session);
    req.set_cid(Cid(1));
    req.set_peer_id(Peer(source));
    ReportBadSourceResponse resp;
    grpc::ClientContext ctx;
    return stub_->ReportBadSource(&ctx, req, &resp);
  };
  const std::string old_hand = JoinNew("127.0.0.1:7001").session();
  clock_.Advance(absl::Hours(2));
  const std::string newcomer = JoinNew("127.0.0.1:7002").session();
  // The long-standing leaf's report weighs 1; the newcomer's, joined just
  // now, nothing; each counts once however often it is sent.
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(report(old_hand, 9).ok());
    ASSERT_TRUE(report(newcomer, 9).ok());
  }
  EXPECT_EQ(service_->bad_source_reports(Peer(9)), 2);
  EXPECT_DOUBLE_EQ(service_->bad_source_weight(Peer(9)), 1.0);
  // Half an hour on, the old reports have aged out of the window; the
  // newcomer's report counts again, at half weight.
  clock_.Advance(absl::Minutes(30));
  EXPECT_EQ(service_->bad_source_reports(Peer(9)), 0);
  ASSERT_TRUE(report(newcomer, 9).ok());
  EXPECT_EQ(service_->bad_source_reports(Peer(9)), 1);
  EXPECT_DOUBLE_EQ(service_->bad_source_weight(Peer(9)), 0.5);
  // At most three sources per reporter per window.
  EXPECT_TRUE(report(old_hand, 10).ok());
  EXPECT_TRUE(report(old_hand, 11).ok());
  EXPECT_TRUE(report(old_hand, 12).ok());
  grpc::Status s = report(old_hand, 13);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("at most 3 sources per 10m"));
  EXPECT_EQ(service_->bad_source_reports(Peer(13)), 0);
  clock_.Advance(absl::Minutes(10));
  EXPECT_TRUE(report(old_hand, 13).ok());
  EXPECT_EQ(service_->bad_source_reports(Peer(13)), 1);
}

// Established leaves' reports rank a source last, then leave it out of
// Locate answers for that cid while they count; a crowd of fresh leaves'
// reports moves nothing.
TEST_F(ServiceTest, WeightedReportsRankLastThenLeaveOutOfLocate) {
  LeafRegistry::Options ro = TestRegistryOptions();
  ro.session_timeout = absl::Hours(10);
  StartService(
      [](SupernodeServiceImpl::Options* so) {
        so->reports.window = absl::Minutes(10);
        so->reports.full_weight_after = absl::Hours(1);
        so->reports.demote_score = 2;
        so->reports.exclude_score = 3;
      },
      ro);
  std::vector<std::string> old_hands;
  for (int i = 0; i < 3; ++i) {
    old_hands.push_back(JoinNew(absl::StrCat("127.0.0.1:71", i)).session());
  }
  clock_.Advance(absl::Hours(2));
  std::vector<std::string> fresh;
  for (int i = 0; i < 20; ++i) {
    fresh.push_back(JoinNew(absl::StrCat("127.0.0.1:72", i)).session());
  }
  index::LocateResponse remote;
  remote.set_size(100);
  remote.set_name("song.mp3");
  *remote.add_sources() = Src(Peer(5), "10.0.0.5:7000");
  *remote.add_sources() = Src(Peer(6), "10.0.0.6:7000");
  *remote.add_sources() = Src(Peer(7), "10.0.0.7:7000", /*partial=*/true);
  index_.SetLocate(Cid(1), remote);
  index_.SetLocate(Cid(2), remote);
  auto report = [&](const std::string& session, int source, int cid) {
    ReportBadSourceRequest req;
    req.set_session(session);
    req.set_cid(Cid(cid));
    req.set_peer_id(Peer(source));
    ReportBadSourceResponse resp;
    grpc::ClientContext ctx;
    return stub_->ReportBadSource(&ctx, req, &resp);
  };
  auto peers_of = [&](int cid) {
    LocateResponse resp;
    EXPECT_TRUE(Locate(Cid(cid), &resp).ok());
    std::vector<std::string> out;
    for (const Source& s : resp.sources()) out.push_back(s.peer_id());
    return out;
  };
  using ::testing::ElementsAre;
  // Twenty fresh leaves report Peer(5): nothing moves.
  for (const std::string& f : fresh) ASSERT_TRUE(report(f, 5, 1).ok());
  EXPECT_THAT(peers_of(1), ElementsAre(Peer(5), Peer(6), Peer(7)));
  // Two established ones: ranked last, after the partial source too.
  ASSERT_TRUE(report(old_hands[0], 5, 1).ok());
  ASSERT_TRUE(report(old_hands[1], 5, 1).ok());
  EXPECT_THAT(peers_of(1), ElementsAre(Peer(6), Peer(7), Peer(5)));
  // A third: left out, for that cid only.
  ASSERT_TRUE(report(old_hands[2], 5, 1).ok());
  EXPECT_THAT(peers_of(1), ElementsAre(Peer(6), Peer(7)));
  EXPECT_THAT(peers_of(2), ElementsAre(Peer(5), Peer(6), Peer(7)));
  SourceReports::Totals t = service_->source_report_totals();
  EXPECT_EQ(t.left_out, 1);
  EXPECT_EQ(t.reports, 23);
  // Once the reports age out, it is back.
  clock_.Advance(absl::Minutes(10));
  EXPECT_THAT(peers_of(1), ElementsAre(Peer(5), Peer(6), Peer(7)));
}

TEST_F(ServiceTest, LocateSaysWhenEverySourceWasReported) {
  LeafRegistry::Options ro = TestRegistryOptions();
  ro.session_timeout = absl::Hours(10);
  StartService(
      [](SupernodeServiceImpl::Options* so) {
        so->reports.full_weight_after = absl::ZeroDuration();
        so->reports.demote_score = 1;
        so->reports.exclude_score = 1;
      },
      ro);
  const std::string reporter = JoinNew("127.0.0.1:7001").session();
  index::LocateResponse remote;
  remote.set_size(100);
  *remote.add_sources() = Src(Peer(5), "10.0.0.5:7000");
  index_.SetLocate(Cid(1), remote);
  ReportBadSourceRequest req;
  req.set_session(reporter);
  req.set_cid(Cid(1));
  req.set_peer_id(Peer(5));
  ReportBadSourceResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ReportBadSource(&ctx, req, &resp).ok());
  LocateResponse located;
  grpc::Status s = Locate(Cid(1), &located);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("reported for sending bad data"));
}

// A leaf that the index has known for long reports with full weight as
// soon as the index says so, though it joined here just now.
TEST_F(ServiceTest, ReportsWeighTheAgeTheIndexKnows) {
  LeafRegistry::Options ro = TestRegistryOptions();
  ro.session_timeout = absl::Hours(10);
  StartService(
      [](SupernodeServiceImpl::Options* so) {
        so->reports.full_weight_after = absl::Hours(1);
      },
      ro);
  std::unique_ptr<Identity> mover;
  const std::string session = JoinNew("127.0.0.1:7001", &mover).session();
  EXPECT_TRUE(registry_->LearnKnownSince(mover->peer_id(),
                                         clock_.Now() - absl::Hours(30)));
  ReportBadSourceRequest req;
  req.set_session(session);
  req.set_cid(Cid(1));
  req.set_peer_id(Peer(5));
  ReportBadSourceResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->ReportBadSource(&ctx, req, &resp).ok());
  EXPECT_DOUBLE_EQ(service_->bad_source_weight(Peer(5)), 1.0);
}

}  // namespace
}  // namespace supernode
}  // namespace trove

namespace trove {
namespace supernode {
namespace {

RateLimitOptions Limit(double rate, double burst, int cut_off_after = 0) {
  RateLimitOptions o;
  o.rate_per_second = rate;
  o.burst = burst;
  o.cut_off_after = cut_off_after;
  o.cut_off_for = absl::Seconds(30);
  return o;
}

TEST_F(ServiceTest, SearchFloodIsSlowedThenCutOff) {
  StartService([](SupernodeServiceImpl::Options* so) {
    so->search_rate = Limit(2, 3, /*cut_off_after=*/5);
  });
  SearchResponse resp;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(Search(Query("anything"), &resp).ok()) << i;
  }
  grpc::Status slowed = Search(Query("anything"), &resp);
  EXPECT_EQ(slowed.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(slowed.error_message(),
              HasSubstr("too many searches from addr:127.0.0.1"));
  EXPECT_THAT(slowed.error_message(), HasSubstr("retry in 500 ms"));
  // Waiting as told is enough.
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_TRUE(Search(Query("anything"), &resp).ok());
  // Ignoring the retry time again and again cuts the caller off, even once
  // its bucket has refilled.
  grpc::Status last;
  for (int i = 0; i < 6; ++i) last = Search(Query("anything"), &resp);
  EXPECT_THAT(last.error_message(), HasSubstr("cut off"));
  clock_.Advance(absl::Seconds(5));
  last = Search(Query("anything"), &resp);
  EXPECT_EQ(last.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(last.error_message(), HasSubstr("cut off"));
  clock_.Advance(absl::Seconds(30));
  EXPECT_TRUE(Search(Query("anything"), &resp).ok());
  EXPECT_GE(service_->search_limiter().cut_offs(), 1);
}

TEST_F(ServiceTest, LocateAndPublishAreLimitedPerLeafOnceJoined) {
  StartService([](SupernodeServiceImpl::Options* so) {
    so->locate_rate = Limit(1, 2);
    so->publish_rate = Limit(1, 2);
  });
  LocateResponse located;
  EXPECT_NE(Locate(Cid(1), &located).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(Locate(Cid(1), &located).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  grpc::Status s = Locate(Cid(1), &located);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("too many look-ups from addr:"));

  // Publishes are counted per joined peer: two leaves from one address
  // each have their own bucket.
  std::unique_ptr<Identity> a_id, b_id;
  const std::string a = JoinNew("127.0.0.1:7001", &a_id).session();
  const std::string b = JoinNew("127.0.0.1:7002", &b_id).session();
  EXPECT_TRUE(Publish(FullList(a, {File(1, "one.txt")})).ok());
  EXPECT_TRUE(Publish(FullList(a, {File(2, "two.txt")})).ok());
  s = Publish(FullList(a, {File(3, "three.txt")}));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(),
              HasSubstr(absl::StrCat("too many publishes from peer:",
                                     a_id->peer_id())));
  EXPECT_TRUE(Publish(FullList(b, {File(4, "four.txt")})).ok());
  // What a's refused publish would have replaced is still there.
  EXPECT_EQ(registry_->GetLeaf(a_id->peer_id())->file_count, 1u);
  EXPECT_TRUE(registry_->Locate(Cid(2)).has_value());
  EXPECT_FALSE(registry_->Locate(Cid(3)).has_value());
}

TEST_F(ServiceTest, ChallengeAndJoinAreLimitedPerAddress) {
  StartService([](SupernodeServiceImpl::Options* so) {
    so->join_rate = Limit(1, 4);
  });
  std::unique_ptr<Identity> identity = Identity::Generate().value();
  // Two joins (a Challenge and a Join each) fit the burst of four.
  EXPECT_TRUE(Join(SignedJoin(*identity, "127.0.0.1:7001")).ok());
  EXPECT_TRUE(Join(SignedJoin(*identity, "127.0.0.1:7001")).ok());
  ChallengeResponse challenge;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->Challenge(&ctx, ChallengeRequest(), &challenge);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(),
              HasSubstr("too many join requests from addr:127.0.0.1"));
  EXPECT_EQ(registry_->pending_challenges(), 0u);
  clock_.Advance(absl::Seconds(2));
  EXPECT_TRUE(Join(SignedJoin(*identity, "127.0.0.1:7001")).ok());
}

TEST_F(ServiceTest, TheChallengeSaysTheProofOfWorkAskedFor) {
  LeafRegistry::Options ro = TestRegistryOptions();
  ro.join_work_bits = 6;
  StartService({}, ro);
  ChallengeResponse challenge;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Challenge(&ctx, ChallengeRequest(), &challenge).ok());
  EXPECT_EQ(challenge.work_bits(), 6);
  std::unique_ptr<Identity> identity = Identity::Generate().value();
  JoinRequest req = SignedJoin(*identity, "127.0.0.1:7001");
  grpc::Status s = Join(req);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(s.error_message(), HasSubstr("6 leading zero bits"));
  req = SignedJoin(*identity, "127.0.0.1:7001");
  req.set_work(SolveJoinWork(req.nonce(), req.public_key(), 6));
  EXPECT_TRUE(Join(req).ok());
  req = SignedJoin(*identity, "127.0.0.1:7001");
  req.set_work(std::string(100, 'w'));
  EXPECT_EQ(Join(req).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, ChallengeNoncesAreKeptPerAddress) {
  LeafRegistry::Options ro = TestRegistryOptions();
  ro.max_challenges_per_asker = 3;
  StartService({}, ro);
  std::unique_ptr<Identity> identity = Identity::Generate().value();
  JoinRequest first = SignedJoin(*identity, "127.0.0.1:7001");
  for (int i = 0; i < 20; ++i) {
    ChallengeResponse challenge;
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->Challenge(&ctx, ChallengeRequest(), &challenge).ok());
  }
  // This address holds three; the flood replaced only its own.
  EXPECT_EQ(registry_->pending_challenges(), 3u);
  EXPECT_EQ(Join(first).error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

}  // namespace
}  // namespace supernode
}  // namespace trove
