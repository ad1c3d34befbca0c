#include "index_server/web_page.h"

#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "httplib.h"

namespace trove {
namespace index_server {
namespace {

using json = nlohmann::json;
using Params = std::multimap<std::string, std::string>;

const std::string kCid(64, 'a');

// Sources with fixed answers that remember the last query searched.
class FakeSources {
 public:
  WebSources Get() {
    WebSources s;
    s.counts = [this] {
      absl::MutexLock lock(&mu_);
      return counts_;
    };
    s.search = [this](const search::ParsedQuery& q, const CallContext&)
        -> absl::StatusOr<search::SearchPage> {
      absl::MutexLock lock(&mu_);
      last_query_ = q;
      ++searches_;
      if (!search_error_.ok()) return search_error_;
      search::SearchPage page;
      SearchHit hit;
      hit.set_cid(kCid);
      hit.set_name("holiday film.mkv");
      hit.set_size(3 << 20);
      hit.set_source_count(2);
      page.hits.push_back(hit);
      search::HitKey key;
      key.name = "holiday film.mkv";
      key.cid = kCid;
      key.value = 2;
      page.next_cursor = search::EncodeCursor(key, q.sort, q.reverse);
      return page;
    };
    s.supernodes = [](int, const CallContext&)
        -> absl::StatusOr<std::vector<index::SupernodeInfo>> {
      index::SupernodeInfo sn;
      sn.set_supernode_id(std::string(64, 'b'));
      sn.set_address("127.0.0.1:7401");
      sn.set_leaf_count(12);
      return std::vector<index::SupernodeInfo>{sn};
    };
    s.supernode_map = [](int, int, const CallContext&)
        -> absl::StatusOr<SupernodeMapView> {
      SupernodeMapView v;
      SupernodeRole live;
      live.supernode_id = std::string(64, 'b');
      live.role = "promoted";
      live.since = absl::FromUnixSeconds(1700000000);
      SupernodeRole draining;
      draining.supernode_id = std::string(64, 'c');
      draining.role = "draining";
      draining.since = absl::FromUnixSeconds(1700000000);
      draining.draining_since = absl::FromUnixSeconds(1700000600);
      v.roles = {live, draining};
      ElectionEvent demoted;
      demoted.id = 2;
      demoted.at = absl::FromUnixSeconds(1700000600);
      demoted.event = "demoted";
      demoted.supernode_id = std::string(64, 'c');
      ElectionEvent promoted;
      promoted.id = 1;
      promoted.at = absl::FromUnixSeconds(1700000000);
      promoted.event = "promoted";
      promoted.supernode_id = std::string(64, 'b');
      v.events = {demoted, promoted};
      return v;
    };
    return s;
  }
  void SetCounts(CommunityCounts c) {
    absl::MutexLock lock(&mu_);
    counts_ = c;
  }
  void FailSearches(absl::Status s) {
    absl::MutexLock lock(&mu_);
    search_error_ = s;
  }
  int searches() {
    absl::MutexLock lock(&mu_);
    return searches_;
  }
  search::ParsedQuery last_query() {
    absl::MutexLock lock(&mu_);
    return last_query_;
  }

 private:
  absl::Mutex mu_;
  CommunityCounts counts_ ABSL_GUARDED_BY(mu_);
  absl::Status search_error_ ABSL_GUARDED_BY(mu_);
  int searches_ ABSL_GUARDED_BY(mu_) = 0;
  search::ParsedQuery last_query_ ABSL_GUARDED_BY(mu_);
};

class WebPageTest : public ::testing::Test {
 protected:
  WebPageTest() {
    WebPageOptions options;
    options.history_samples = 3;
    options.search_default_limit = 7;
    options.search_max_limit = 20;
    page_ = std::make_unique<WebPage>(fake_.Get(), options);
  }

  json Get(const std::string& path, const Params& params, int want_status) {
    WebResponse r = page_->Handle(path, params);
    EXPECT_EQ(r.status, want_status) << path << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/json");
    return json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  }

  FakeSources fake_;
  std::unique_ptr<WebPage> page_;
};

TEST_F(WebPageTest, ServesThePageWithItsOwnScriptAndNoExternalAssets) {
  WebResponse r = page_->Handle("/", {});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_TRUE(absl::StartsWith(r.body, "<!DOCTYPE html>"));
  EXPECT_TRUE(absl::StrContains(r.body, "/api/overview"));
  EXPECT_TRUE(absl::StrContains(r.body, "id=\"admin\" hidden"));
  // Nothing fetched from elsewhere: no scripts, styles, images or fonts by
  // address (the one http:// is the SVG namespace's name).
  for (const char* external : {"https://", "src=", "<link", "url(", "@import"}) {
    EXPECT_FALSE(absl::StrContains(r.body, external)) << external;
  }
}

TEST_F(WebPageTest, OverviewShowsTheCounts) {
  CommunityCounts c;
  c.ready = true;
  c.peers = 5;
  c.supernodes = 2;
  c.files = 40;
  c.sources = 61;
  fake_.SetCounts(c);
  json o = Get("/api/overview", {}, 200);
  EXPECT_EQ(o["peers"], 5);
  EXPECT_EQ(o["supernodes"], 2);
  EXPECT_EQ(o["files"], 40);
  EXPECT_EQ(o["sources"], 61);
  EXPECT_EQ(o["ready"], true);
  EXPECT_EQ(o["searches_per_second"], 0.0);
}

TEST_F(WebPageTest, HistoryKeepsTheLastSamplesWithSearchRates) {
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  CommunityCounts c;
  for (int i = 0; i < 5; ++i) {
    c.peers = i;
    c.searches_total = 10 * i * i;  // 0, 10, 40, 90, 160
    fake_.SetCounts(c);
    page_->Sample(t0 + absl::Seconds(5 * i));
  }
  json h = Get("/api/history", {}, 200);
  ASSERT_EQ(h["samples"].size(), 3u);  // history_samples
  EXPECT_EQ(h["samples"][0]["peers"], 2);
  EXPECT_EQ(h["samples"][2]["peers"], 4);
  EXPECT_DOUBLE_EQ(h["samples"][0]["time"].get<double>(), 1010);
  // (40 - 10) / 5 s, (90 - 40) / 5 s, (160 - 90) / 5 s
  EXPECT_DOUBLE_EQ(h["samples"][0]["searches_per_second"].get<double>(), 6);
  EXPECT_DOUBLE_EQ(h["samples"][1]["searches_per_second"].get<double>(), 10);
  EXPECT_DOUBLE_EQ(h["samples"][2]["searches_per_second"].get<double>(), 14);
}

TEST_F(WebPageTest, SearchAnswersHitsWithTroveLinks) {
  json r = Get("/api/search",
               {{"q", "holiday"}, {"kind", "video"}, {"sort", "size"},
                {"limit", "3"}, {"min_size", "10"}},
               200);
  ASSERT_EQ(r["hits"].size(), 1u);
  EXPECT_EQ(r["hits"][0]["name"], "holiday film.mkv");
  EXPECT_EQ(r["hits"][0]["size"], 3 << 20);
  EXPECT_EQ(r["hits"][0]["sources"], 2);
  EXPECT_EQ(r["hits"][0]["link"],
            absl::StrCat("trove:", kCid, "?name=holiday%20film.mkv&size=3145728"));
  const std::string cursor = r["next_cursor"];
  EXPECT_FALSE(cursor.empty());
  search::ParsedQuery q = fake_.last_query();
  EXPECT_EQ(q.limit, 3);
  EXPECT_EQ(q.kind, FILE_KIND_VIDEO);
  EXPECT_EQ(q.sort, SEARCH_SORT_SIZE);
  EXPECT_EQ(q.min_size, 10);

  // The next page starts after the last hit.
  Get("/api/search",
      {{"q", "holiday"}, {"kind", "video"}, {"sort", "size"}, {"cursor", cursor}},
      200);
  q = fake_.last_query();
  EXPECT_EQ(q.limit, 7);  // the default
  ASSERT_TRUE(q.after.has_value());
  EXPECT_EQ(q.after->cid, kCid);
}

TEST_F(WebPageTest, BadSearchesGet400WithTheReason) {
  struct Case {
    Params params;
    std::string says;
  } cases[] = {
      {{}, "q (the text to search for) is missing"},
      {{{"q", ""}}, "search query is empty"},
      {{{"q", "-- !!"}}, "no letter or digit"},
      {{{"q", std::string(300, 'x')}}, "the limit is"},
      {{{"q", "a"}, {"limit", "ten"}}, "limit must be a whole number"},
      {{{"q", "a"}, {"limit", "-1"}}, "limit must be 0"},
      {{{"q", "a"}, {"min_size", "9"}, {"max_size", "3"}}, "above max_size"},
      {{{"q", "a"}, {"kind", "movies"}}, "kind must be"},
      {{{"q", "a"}, {"sort", "best"}}, "sort must be"},
      {{{"q", "a"}, {"reverse", "yes"}}, "reverse must be 0 or 1"},
      {{{"q", "a"}, {"cursor", "!!"}}, "cursor is not"},
      {{{"q", "a"}, {"colour", "red"}}, "unknown parameter 'colour'"},
      {{{"q", "a"}, {"q", "b"}}, "more than once"},
      {{{"q", "a\x01"}}, "search query"},
  };
  for (const Case& c : cases) {
    json r = Get("/api/search", c.params, 400);
    ASSERT_TRUE(r.is_object());
    EXPECT_TRUE(absl::StrContains(r["error"].get<std::string>(), c.says))
        << r["error"] << " should say " << c.says;
  }
  EXPECT_EQ(fake_.searches(), 0) << "bad input never reaches the store";
}

TEST_F(WebPageTest, StoreFailuresKeepTheirMeaning) {
  fake_.FailSearches(absl::UnavailableError("the catalog is still loading"));
  json r = Get("/api/search", {{"q", "a"}}, 503);
  EXPECT_EQ(r["error"], "the catalog is still loading");
}

TEST_F(WebPageTest, SupernodesListAddressesAndLeaves) {
  json r = Get("/api/supernodes", {}, 200);
  ASSERT_EQ(r["supernodes"].size(), 1u);
  EXPECT_EQ(r["supernodes"][0]["address"], "127.0.0.1:7401");
  EXPECT_EQ(r["supernodes"][0]["leaves"], 12);
  EXPECT_EQ(r["leaves"], 12);
}

TEST_F(WebPageTest, SupernodeMapShowsRolesAndElectionEvents) {
  json r = Get("/api/supernodes", {}, 200);
  ASSERT_EQ(r["supernodes"].size(), 1u) << r.dump();
  EXPECT_EQ(r["supernodes"][0]["role"], "promoted");
  EXPECT_EQ(r["supernodes"][0]["since"], 1700000000.0);
  EXPECT_TRUE(r["supernodes"][0]["draining_since"].is_null());
  // The draining key no longer serves: listed apart, with since when.
  ASSERT_EQ(r["not_serving"].size(), 1u) << r.dump();
  EXPECT_EQ(r["not_serving"][0]["id"], std::string(64, 'c'));
  EXPECT_EQ(r["not_serving"][0]["role"], "draining");
  EXPECT_EQ(r["not_serving"][0]["draining_since"], 1700000600.0);
  ASSERT_EQ(r["events"].size(), 2u);
  EXPECT_EQ(r["events"][0]["event"], "demoted");
  EXPECT_EQ(r["events"][0]["id"], std::string(64, 'c'));
  EXPECT_EQ(r["events"][0]["at"], 1700000600.0);
  EXPECT_EQ(r["events"][1]["event"], "promoted");
}

TEST_F(WebPageTest, SupernodeMapFailureIsTheStoresStatus) {
  WebSources s = fake_.Get();
  s.supernode_map = [](int, int, const CallContext&)
      -> absl::StatusOr<SupernodeMapView> {
    return absl::UnavailableError("PostgreSQL is not reachable");
  };
  WebPage page(std::move(s), WebPageOptions());
  WebResponse r = page.Handle("/api/supernodes", {});
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("PostgreSQL is not reachable"), std::string::npos);
}

TEST_F(WebPageTest, AdminAndUnknownPathsAre404) {
  EXPECT_TRUE(absl::StrContains(
      Get("/api/admin/bans", {}, 404)["error"].get<std::string>(), "admin"));
  Get("/nothing", {}, 404);
}

TEST_F(WebPageTest, ServesOverHttpAndRefusesABusyPort) {
  absl::StatusOr<std::string> bound = page_->Serve("127.0.0.1:0");
  ASSERT_TRUE(bound.ok()) << bound.status();
  const int port = std::stoi(bound->substr(bound->rfind(':') + 1));
  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  httplib::Result res = client.Get("/api/search?q=holiday%20film");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "application/json");
  EXPECT_TRUE(absl::StrContains(res->get_header_value("Content-Security-Policy"),
                                "default-src 'none'"));
  ASSERT_EQ(fake_.last_query().terms.size(), 2u);
  EXPECT_EQ(fake_.last_query().terms[1].word, "film");
  res = client.Post("/api/search", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);

  WebPage other(fake_.Get(), WebPageOptions());
  absl::StatusOr<std::string> again = other.Serve(*bound);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(again.status().message(), "already in use"))
      << again.status();
  EXPECT_EQ(other.Serve("unix:/tmp/x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace index_server
}  // namespace trove
