#include "peer_client/control_service.h"

#include <string>
#include <vector>

#include "common/grpc_status.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

// A backend that records calls and answers from fixed values.
class FakeBackend : public ControlBackend {
 public:
  control::StatusResponse Status() override {
    control::StatusResponse r;
    r.set_peer_id("me");
    return r;
  }
  absl::StatusOr<control::ControlSearchResponse> Search(
      const SearchQuery& query) override {
    ++searches;
    control::ControlSearchResponse r;
    r.add_hits()->set_name(query.text());
    return r;
  }
  absl::StatusOr<std::string> Get(
      const DownloadRequest& request,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled) override {
    ++gets;
    if (!get_status.ok()) return get_status;
    DownloadProgress p;
    p.name = "f";
    p.size = 10;
    p.done_bytes = 5;
    progress(p);
    p.done_bytes = 10;
    p.done = true;
    p.path = request.out_dir + "/f";
    progress(p);
    return p.path;
  }
  control::RescanResponse Rescan() override {
    control::RescanResponse r;
    r.set_added(2);
    return r;
  }

  int searches = 0;
  int gets = 0;
  absl::Status get_status;
};

class ControlServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {&service_}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    stub_ = control::ControlService::NewStub(MakeChannel(server_.address));
  }
  void TearDown() override { server_.server->Shutdown(); }

  absl::Status Get(const control::GetRequest& req,
                   std::vector<control::GetProgress>* out) {
    grpc::ClientContext ctx;
    auto reader = stub_->Get(&ctx, req);
    control::GetProgress p;
    while (reader->Read(&p)) out->push_back(p);
    return FromGrpcStatus(reader->Finish());
  }

  FakeBackend backend_;
  ControlServiceImpl service_{&backend_};
  RunningServer server_;
  std::unique_ptr<control::ControlService::Stub> stub_;
};

TEST_F(ControlServiceTest, GetStreamsProgressUntilDone) {
  control::GetRequest req;
  req.set_cid(HashBuffer("x").cid);
  req.set_out_dir("/tmp/out");
  std::vector<control::GetProgress> got;
  ASSERT_TRUE(Get(req, &got).ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_FALSE(got[0].done());
  EXPECT_EQ(got[0].done_bytes(), 5);
  EXPECT_TRUE(got[1].done());
  EXPECT_EQ(got[1].path(), "/tmp/out/f");
}

TEST_F(ControlServiceTest, GetValidatesItsRequest) {
  std::vector<control::GetProgress> got;
  control::GetRequest req;
  req.set_cid("nope");
  req.set_out_dir("/tmp");
  EXPECT_EQ(Get(req, &got).code(), absl::StatusCode::kInvalidArgument);
  req.set_cid(HashBuffer("x").cid);
  req.set_out_dir("relative");
  EXPECT_EQ(Get(req, &got).code(), absl::StatusCode::kInvalidArgument);
  req.set_out_dir("/tmp");
  req.set_name("a/b");
  EXPECT_EQ(Get(req, &got).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(backend_.gets, 0);
}

TEST_F(ControlServiceTest, GetFailurePassesTheCodeOn) {
  backend_.get_status = absl::NotFoundError("no peer shares it");
  control::GetRequest req;
  req.set_cid(HashBuffer("x").cid);
  req.set_out_dir("/tmp");
  std::vector<control::GetProgress> got;
  absl::Status st = Get(req, &got);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(st.message(), "no peer shares it");
}

TEST_F(ControlServiceTest, SearchValidatesTheQuery) {
  grpc::ClientContext ctx;
  SearchQuery q;  // No text.
  control::ControlSearchResponse r;
  EXPECT_EQ(stub_->Search(&ctx, q, &r).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(backend_.searches, 0);
  grpc::ClientContext ctx2;
  q.set_text("queen");
  ASSERT_TRUE(stub_->Search(&ctx2, q, &r).ok());
  ASSERT_EQ(r.hits_size(), 1);
  EXPECT_EQ(r.hits(0).name(), "queen");
}

TEST_F(ControlServiceTest, StatusAndRescanComeFromTheBackend) {
  grpc::ClientContext ctx;
  control::StatusResponse s;
  ASSERT_TRUE(stub_->Status(&ctx, control::StatusRequest(), &s).ok());
  EXPECT_EQ(s.peer_id(), "me");
  grpc::ClientContext ctx2;
  control::RescanResponse r;
  ASSERT_TRUE(stub_->Rescan(&ctx2, control::RescanRequest(), &r).ok());
  EXPECT_EQ(r.added(), 2);
}

}  // namespace
}  // namespace trove
