#include "peer_client/web_ui.h"

#include <sys/stat.h>

#include <httplib.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/merkle.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using nlohmann::json;

// A backend with one search hit and the downloads added through it.
class FakeBackend : public ControlBackend {
 public:
  control::StatusResponse Status() override {
    control::StatusResponse r;
    r.set_peer_id(std::string(64, 'e'));
    r.set_supernode("127.0.0.1:7401");
    r.add_shares("/music");
    r.set_shared_files(1);
    return r;
  }
  absl::StatusOr<control::ControlSearchResponse> Search(
      const SearchQuery& query) override {
    control::ControlSearchResponse r;
    SearchHit* h = r.add_hits();
    h->set_cid(HashBuffer("song").cid);
    h->set_name("<img src=x onerror=alert(1)>" + query.text() + ".mp3");
    h->set_size(4);
    h->set_source_count(2);
    return r;
  }
  control::RescanResponse Rescan() override { return {}; }
  absl::StatusOr<DownloadProgress> AddDownload(
      const DownloadRequest& request) override {
    absl::MutexLock lock(&mu_);
    added_.push_back(request);
    DownloadProgress p;
    p.cid = request.cid;
    p.name = request.expected_name;
    p.state = DownloadState::kDownloading;
    p.size = 4;
    return p;
  }
  absl::StatusOr<std::string> WatchDownload(
      const std::string&, const std::function<void(const DownloadProgress&)>&,
      const std::function<bool()>&) override {
    return absl::UnimplementedError("not here");
  }
  std::vector<DownloadProgress> ListDownloads() override {
    absl::MutexLock lock(&mu_);
    std::vector<DownloadProgress> out;
    for (const DownloadRequest& r : added_) {
      DownloadProgress p;
      p.cid = r.cid;
      p.name = r.expected_name;
      p.state = cancelled_.count(r.cid) ? DownloadState::kCancelled
                                        : DownloadState::kDownloading;
      p.done_bytes = 2;
      p.size = 4;
      out.push_back(p);
    }
    return out;
  }
  absl::StatusOr<DownloadProgress> PauseDownload(const std::string& cid) override {
    return absl::NotFoundError("no download of " + cid);
  }
  absl::StatusOr<DownloadProgress> ResumeDownload(const std::string& cid) override {
    return absl::NotFoundError("no download of " + cid);
  }
  absl::StatusOr<DownloadProgress> CancelDownload(const std::string& cid) override {
    absl::MutexLock lock(&mu_);
    cancelled_.insert(cid);
    DownloadProgress p;
    p.cid = cid;
    p.state = DownloadState::kCancelled;
    return p;
  }
  std::vector<SharedFileInfo> SharedFiles(size_t limit) override {
    return {{"/music/a.mp3", "a.mp3", HashBuffer("a").cid, 1}};
  }
  control::ConfigResponse Config() override { return {}; }
  absl::StatusOr<control::Limits> SetLimits(
      const control::LimitsRequest&) override {
    return control::Limits();
  }

  std::vector<DownloadRequest> added() {
    absl::MutexLock lock(&mu_);
    return added_;
  }

 private:
  absl::Mutex mu_;
  std::vector<DownloadRequest> added_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> cancelled_ ABSL_GUARDED_BY(mu_);
};

class WebUiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<WebUi>> ui =
        WebUi::Start(&backend_, WebUi::Options{"127.0.0.1:0", kToken});
    ASSERT_TRUE(ui.ok()) << ui.status();
    ui_ = std::move(*ui);
    client_ = std::make_unique<httplib::Client>("http://" + ui_->address());
  }

  httplib::Headers WithToken() { return {{"X-Trove-Token", kToken}}; }

  static constexpr char kToken[] = "0123456789abcdef0123456789abcdef";
  FakeBackend backend_;
  std::unique_ptr<WebUi> ui_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(WebUiTest, PageIsSelfContained) {
  httplib::Result r = client_->Get("/");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("<title>Trove</title>"), std::string::npos);
  // No external assets.
  EXPECT_EQ(r->body.find("src=\"http"), std::string::npos);
  EXPECT_EQ(r->body.find("href=\"http"), std::string::npos);
  EXPECT_NE(r->get_header_value("Content-Security-Policy").find("default-src 'none'"),
            std::string::npos);
}

TEST_F(WebUiTest, ApiNeedsTheToken) {
  httplib::Result r = client_->Get("/api/downloads");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = client_->Get("/api/downloads", {{"X-Trove-Token", "wrong"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  r = client_->Post("/api/downloads", R"({"cid":"x"})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
  EXPECT_TRUE(backend_.added().empty());
  r = client_->Get("/api/downloads", WithToken());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(WebUiTest, ForeignHostIsRefused) {
  // A page of another site resolving its name to 127.0.0.1 (DNS rebinding).
  httplib::Headers h = WithToken();
  h.emplace("Host", "evil.example:80");
  httplib::Result r = client_->Get("/api/status", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 403);
}

TEST_F(WebUiTest, SearchThenGetThenCancel) {
  httplib::Result r = client_->Get("/api/search?q=queen", WithToken());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json hits = json::parse(r->body)["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0]["number"], 1);
  EXPECT_EQ(hits[0]["name"], "<img src=x onerror=alert(1)>queen.mp3");
  const std::string cid = hits[0]["cid"];

  r = client_->Post("/api/downloads", WithToken(),
                    json({{"cid", cid}, {"name", hits[0]["name"]}, {"size", 4}}).dump(),
                    "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  ASSERT_EQ(backend_.added().size(), 1u);
  EXPECT_EQ(backend_.added()[0].cid, cid);
  EXPECT_EQ(backend_.added()[0].expected_size, 4);
  EXPECT_EQ(backend_.added()[0].expected_name, "<img src=x onerror=alert(1)>queen.mp3");

  r = client_->Get("/api/downloads", WithToken());
  ASSERT_TRUE(r);
  json list = json::parse(r->body)["downloads"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["state"], "downloading");

  r = client_->Post("/api/downloads/" + cid + "/cancel", WithToken(), "",
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body)["state"], "cancelled");
  // Errors keep their meaning.
  r = client_->Post("/api/downloads/" + cid + "/pause", WithToken(), "",
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(json::parse(r->body)["code"], "NOT_FOUND");
  r = client_->Post("/api/downloads", WithToken(), R"({"cid":"nope"})",
                    "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
}

TEST(WebUiStartTest, OnlyLoopbackAndAFreePort) {
  FakeBackend backend;
  EXPECT_EQ(WebUi::Start(&backend, {"0.0.0.0:0", "t"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WebUi::Start(&backend, {"notanaddress", "t"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<std::unique_ptr<WebUi>> first =
      WebUi::Start(&backend, {"127.0.0.1:0", "t"});
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<WebUi>> second =
      WebUi::Start(&backend, {(*first)->address(), "t"});
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find("already in use"), std::string::npos);
}

TEST(WebTokenTest, MadeOnceWithPrivateModeThenKept) {
  testing::TempDir dir;
  const std::string path = dir.Sub("web_token");
  absl::StatusOr<std::string> a = LoadOrCreateWebToken(path);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->size(), 32u);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  absl::StatusOr<std::string> b = LoadOrCreateWebToken(path);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*a, *b);
}

}  // namespace
}  // namespace trove
