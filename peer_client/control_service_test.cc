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
  absl::StatusOr<DownloadProgress> AddDownload(
      const DownloadRequest& request) override {
    ++gets;
    last_request = request;
    if (!get_status.ok()) return get_status;
    DownloadProgress p;
    p.cid = request.cid;
    p.name = "f";
    p.size = 10;
    p.out_dir = request.out_dir;
    if (already_there) {
      p.state = DownloadState::kDone;
      p.done = true;
      p.already_there = true;
      p.path = request.out_dir + "/f";
    }
    return p;
  }
  absl::StatusOr<std::string> WatchDownload(
      const std::string& cid,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled) override {
    DownloadProgress p;
    p.cid = cid;
    p.name = "f";
    p.size = 10;
    p.done_bytes = 5;
    p.state = DownloadState::kDownloading;
    progress(p);
    p.done_bytes = 10;
    p.done = true;
    p.state = DownloadState::kDone;
    p.path = last_request.out_dir + "/f";
    progress(p);
    return p.path;
  }
  std::vector<DownloadProgress> ListDownloads() override { return {}; }
  absl::StatusOr<DownloadProgress> PauseDownload(const std::string& cid) override {
    paused = cid;
    DownloadProgress p;
    p.cid = cid;
    p.state = DownloadState::kPaused;
    return p;
  }
  absl::StatusOr<DownloadProgress> ResumeDownload(const std::string& cid) override {
    return absl::NotFoundError("no download of " + cid);
  }
  absl::StatusOr<DownloadProgress> CancelDownload(const std::string& cid) override {
    return absl::NotFoundError("no download of " + cid);
  }
  std::vector<SharedFileInfo> SharedFiles(size_t limit) override { return {}; }
  control::ConfigResponse Config() override {
    control::ConfigResponse r;
    r.set_text("max_uploads = 32\n");
    return r;
  }
  absl::StatusOr<control::Limits> SetLimits(
      const control::LimitsRequest& request) override {
    ++limit_changes;
    control::Limits l;
    l.set_max_upload_rate(request.max_upload_rate());
    return l;
  }
  control::RescanResponse Rescan() override {
    control::RescanResponse r;
    r.set_added(2);
    return r;
  }

  int searches = 0;
  int gets = 0;
  int limit_changes = 0;
  bool already_there = false;
  std::string paused;
  DownloadRequest last_request;
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
  EXPECT_EQ(got[0].state(), "downloading");
  EXPECT_EQ(got[0].cid(), req.cid());
  EXPECT_TRUE(got[1].done());
  EXPECT_EQ(got[1].state(), "done");
  EXPECT_EQ(got[1].path(), "/tmp/out/f");
}

TEST_F(ControlServiceTest, GetOfAFileAlreadyThereAnswersAtOnce) {
  backend_.already_there = true;
  control::GetRequest req;
  req.set_cid(HashBuffer("x").cid);
  req.set_out_dir("/tmp/out");
  std::vector<control::GetProgress> got;
  ASSERT_TRUE(Get(req, &got).ok());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0].done());
  EXPECT_TRUE(got[0].already_there());
  EXPECT_EQ(got[0].path(), "/tmp/out/f");
}

TEST_F(ControlServiceTest, LinkFieldsReachTheBackendAndAreChecked) {
  control::GetRequest req;
  req.set_cid(HashBuffer("x").cid);
  req.set_expected_size(1234);
  req.set_expected_name("song.mp3");
  grpc::ClientContext ctx;
  control::GetProgress p;
  ASSERT_TRUE(stub_->Add(&ctx, req, &p).ok());
  EXPECT_EQ(backend_.last_request.expected_size, 1234);
  EXPECT_EQ(backend_.last_request.expected_name, "song.mp3");
  req.clear_expected_size();
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->Add(&ctx2, req, &p).ok());
  EXPECT_EQ(backend_.last_request.expected_size, -1);
  req.set_expected_name("../x");
  grpc::ClientContext ctx3;
  EXPECT_EQ(stub_->Add(&ctx3, req, &p).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  req.set_expected_name("");
  req.set_expected_size(-5);
  grpc::ClientContext ctx4;
  EXPECT_EQ(stub_->Add(&ctx4, req, &p).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ControlServiceTest, PauseNeedsAWellFormedCid) {
  control::DownloadRef ref;
  ref.set_cid("abc");
  control::GetProgress p;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->Pause(&ctx, ref, &p).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(backend_.paused, "");
  ref.set_cid(HashBuffer("x").cid);
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->Pause(&ctx2, ref, &p).ok());
  EXPECT_EQ(p.state(), "paused");
  grpc::ClientContext ctx3;
  EXPECT_EQ(stub_->Resume(&ctx3, ref, &p).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ControlServiceTest, NegativeLimitsAreRefused) {
  control::LimitsRequest req;
  req.set_max_download_rate(-1);
  control::Limits l;
  grpc::ClientContext ctx;
  EXPECT_EQ(stub_->SetLimits(&ctx, req, &l).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(backend_.limit_changes, 0);
  req.clear_max_download_rate();
  req.set_max_upload_rate(2 << 20);
  grpc::ClientContext ctx2;
  ASSERT_TRUE(stub_->SetLimits(&ctx2, req, &l).ok());
  EXPECT_EQ(l.max_upload_rate(), 2 << 20);
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
