// The index server's web page (--web_listen) over the real binaries: its
// JSON endpoints show what peers share, find a shared file with a link that
// peer_client downloads, and refuse bad input with 400 and a reason; the
// page itself, in headless Chromium, shows the counts, searches and lists
// the supernode (a screenshot goes to the test's outputs); a used port is
// a clear start error.

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "nlohmann/json.hpp"
#include "common/file_util.h"
#include "index_server/admin_token.h"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using json = nlohmann::json;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;
using testutil::SameFile;
using testutil::Slurp;
using testutil::WaitUntil;
using testutil::WriteRandomFile;
using ::testing::HasSubstr;

// The web address the index logged at start ("web=HOST:PORT").
std::string WebAddress(const std::string& log_path) {
  std::smatch m;
  std::string log = Slurp(log_path);
  static const std::regex re(R"(web=(127\.0\.0\.1:[0-9]+))");
  return std::regex_search(log, m, re) ? m[1].str() : "";
}

struct HttpAnswer {
  int status = 0;
  json body;
};

HttpAnswer GetJson(const std::string& address, const std::string& path) {
  size_t colon = address.rfind(':');
  httplib::Client client(address.substr(0, colon),
                         std::stoi(address.substr(colon + 1)));
  client.set_connection_timeout(5);
  client.set_read_timeout(15);
  httplib::Result res = client.Get(path.c_str());
  HttpAnswer a;
  if (!res) return a;
  a.status = res->status;
  a.body = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
  return a;
}

const json* HitNamed(const json& answer, const std::string& name) {
  if (!answer.contains("hits")) return nullptr;
  for (const json& hit : answer["hits"]) {
    if (hit["name"] == name) return &hit;
  }
  return nullptr;
}

class IndexWebTest : public testutil::ClusterTest {
 protected:
  // An index with its web page (sampling every second, supernodes renewing
  // every second so that leaves show soon), a supernode, and peers a and b
  // sharing three files in all. Sets web_.
  void StartCommunity() {
    // The admin token `init` made, accepted as its config file says.
    absl::StatusOr<std::string> token =
        ReadFile(cluster_->community_dir() + "/admin_token");
    ASSERT_TRUE(token.ok()) << token.status();
    admin_token_ = std::string(absl::StripTrailingAsciiWhitespace(*token));
    ASSERT_TRUE(cluster_
                    ->StartIndex({"--web_listen=127.0.0.1:0",
                                  "--web_sample_seconds=1",
                                  "--renew_every_seconds=1",
                                  absl::StrCat("--initial_admin_token_hash=",
                                               index_server::AdminTokenHash(
                                                   admin_token_))})
                    .ok());
    web_ = WebAddress(cluster_->index()->log_path());
    ASSERT_FALSE(web_.empty()) << Slurp(cluster_->index()->log_path());
    ASSERT_TRUE(cluster_->StartSupernode().ok());
    absl::StatusOr<PeerHandle*> a = cluster_->StartPeer("a");
    ASSERT_TRUE(a.ok()) << a.status();
    absl::StatusOr<PeerHandle*> b = cluster_->StartPeer("b");
    ASSERT_TRUE(b.ok()) << b.status();
    a_ = *a;
    b_ = *b;
    ASSERT_TRUE(WriteRandomFile(a_->share_dir + "/holiday film.mkv", 300000, 1).ok());
    ASSERT_TRUE(WriteRandomFile(a_->share_dir + "/notes.txt", 1234, 2).ok());
    ASSERT_TRUE(WriteRandomFile(b_->share_dir + "/holiday song.ogg", 5000, 3).ok());
    // Both peers' files are in the index's catalog.
    ASSERT_TRUE(WaitUntil(
        [&] {
          HttpAnswer o = GetJson(web_, "/api/overview");
          return o.status == 200 && o.body["files"] == 3 && o.body["peers"] == 2;
        },
        absl::Seconds(60)))
        << GetJson(web_, "/api/overview").body.dump();
  }

  std::string web_;
  std::string admin_token_;
  PeerHandle* a_ = nullptr;
  PeerHandle* b_ = nullptr;
};

TEST_F(IndexWebTest, JsonEndpointsShowTheCommunityAndSearchIt) {
  StartCommunity();
  if (HasFatalFailure()) return;

  HttpAnswer o = GetJson(web_, "/api/overview");
  ASSERT_EQ(o.status, 200);
  EXPECT_EQ(o.body["ready"], true);
  EXPECT_EQ(o.body["peers"], 2);
  EXPECT_EQ(o.body["supernodes"], 1);
  EXPECT_EQ(o.body["files"], 3);
  EXPECT_EQ(o.body["sources"], 3);

  // A search finds a's film, with the link peer_client takes.
  HttpAnswer s = GetJson(web_, "/api/search?q=holiday");
  ASSERT_EQ(s.status, 200) << s.body.dump();
  EXPECT_EQ(s.body["hits"].size(), 2u) << s.body.dump();
  const json* film = HitNamed(s.body, "holiday film.mkv");
  ASSERT_NE(film, nullptr) << s.body.dump();
  EXPECT_EQ((*film)["size"], 300000);
  EXPECT_EQ((*film)["sources"], 1);
  const std::string cid = (*film)["cid"];
  EXPECT_EQ(cid, cluster_->FindCid(*b_, "holiday", "holiday film.mkv"));
  const std::string link = (*film)["link"];
  EXPECT_EQ(link, absl::StrCat("trove:", cid,
                               "?name=holiday%20film.mkv&size=300000"));
  const std::string out = cluster_->work_dir() + "/dl";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  CommandResult got = cluster_->Cli(*b_, {"get", link, "-o", out});
  ASSERT_EQ(got.exit_code, 0) << got.out << got.err;
  EXPECT_TRUE(SameFile(a_->share_dir + "/holiday film.mkv",
                       out + "/holiday film.mkv"));
  // Filters go through as IndexService.Search takes them.
  s = GetJson(web_, "/api/search?q=holiday&kind=audio");
  ASSERT_EQ(s.status, 200);
  ASSERT_EQ(s.body["hits"].size(), 1u) << s.body.dump();
  EXPECT_EQ(s.body["hits"][0]["name"], "holiday song.ogg");

  // Bad input: 400 and what was wrong.
  struct Bad {
    std::string path;
    std::string says;
  } bad[] = {
      {"/api/search", "q (the text to search for) is missing"},
      {"/api/search?q=", "search query is empty"},
      {"/api/search?q=%2B%2B", "no letter or digit"},
      {"/api/search?q=a&limit=many", "limit must be a whole number"},
      {"/api/search?q=a&min_size=10&max_size=5", "min_size 10 is above max_size 5"},
      {"/api/search?q=a&kind=movies", "kind must be"},
      {"/api/search?q=a%01b", "search query"},
      {"/api/search?q=" + std::string(300, 'x'), "the limit is 256"},
  };
  for (const Bad& b : bad) {
    HttpAnswer r = GetJson(web_, b.path);
    EXPECT_EQ(r.status, 400) << b.path << ": " << r.body.dump();
    ASSERT_TRUE(r.body.is_object()) << b.path;
    EXPECT_THAT(r.body["error"].get<std::string>(), HasSubstr(b.says)) << b.path;
  }
  // The admin calls need a token, checked as the AdminService checks it.
  HttpAnswer no_token = GetJson(web_, "/api/admin/audit");
  EXPECT_EQ(no_token.status, 401) << no_token.body.dump();
  EXPECT_THAT(no_token.body["error"].get<std::string>(),
              HasSubstr("no admin token"));

  // The supernode map: the supernode with its two leaves.
  json map;
  EXPECT_TRUE(WaitUntil([&] {
    HttpAnswer m = GetJson(web_, "/api/supernodes");
    map = m.body;
    return m.status == 200 && m.body["supernodes"].size() == 1 &&
           m.body["supernodes"][0]["leaves"] == 2;
  }))
      << map.dump();
  EXPECT_EQ(map["supernodes"][0]["address"], cluster_->supernode_address());

  // Over time: samples every second, and the searches above show as a rate.
  json history;
  EXPECT_TRUE(WaitUntil([&] {
    HttpAnswer h = GetJson(web_, "/api/history");
    history = h.body;
    if (h.status != 200 || h.body["samples"].empty()) return false;
    bool searched = false;
    for (const json& sample : h.body["samples"]) {
      searched = searched || sample["searches_per_second"].get<double>() > 0;
    }
    return searched && h.body["samples"].back()["files"] == 3;
  }))
      << history.dump();
  EXPECT_EQ(history["interval_seconds"], 1.0);
}

TEST_F(IndexWebTest, PageInChromiumShowsCountsSearchesAndSupernodes) {
  StartCommunity();
  if (HasFatalFailure()) return;
  ASSERT_TRUE(WaitUntil([&] {
    HttpAnswer m = GetJson(web_, "/api/supernodes");
    return m.status == 200 && m.body["supernodes"].size() == 1 &&
           m.body["supernodes"][0]["leaves"] == 2;
  }));
  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string screenshot =
      absl::StrCat(outputs != nullptr ? outputs : cluster_->work_dir(),
                   "/index_web_page.png");
  // Before the page bans a, whose file it is.
  const std::string film_cid = cluster_->FindCid(*b_, "holiday", "holiday film.mkv");
  ASSERT_FALSE(film_cid.empty());
  CommandResult status = cluster_->Cli(*a_, {"status", "--json"});
  json a_status = json::parse(status.out, nullptr, false);
  ASSERT_TRUE(a_status.is_object()) << status.out;
  const std::string a_id = a_status.value("peer_id", "");
  CommandResult r = RunCommand(
      {"/usr/bin/python3", RunfilePath("tests/index_web_check.py"),
       "http://" + web_ + "/", "holiday", screenshot, admin_token_, a_id},
      absl::Seconds(180));
  ASSERT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
  // The script's last line.
  std::string last(absl::StripTrailingAsciiWhitespace(r.out));
  last = last.substr(last.rfind('\n') + 1);
  json seen = json::parse(last, nullptr, false);
  ASSERT_TRUE(seen.is_object()) << r.out;
  EXPECT_EQ(seen["counts"]["peers"], "2") << seen.dump();
  EXPECT_EQ(seen["counts"]["supernodes"], "1");
  EXPECT_EQ(seen["counts"]["files"], "3");
  EXPECT_EQ(seen["counts"]["sources"], "3");
  EXPECT_THAT(seen["hits"], ::testing::UnorderedElementsAre(
                                "holiday film.mkv", "holiday song.ogg"));
  EXPECT_EQ(seen["search_note"], "2 files");
  EXPECT_EQ(seen["links"]["holiday film.mkv"],
            absl::StrCat("trove:", film_cid, "?name=holiday%20film.mkv&size=300000"));
  ASSERT_EQ(seen["supernodes"].size(), 1u) << seen.dump();
  EXPECT_EQ(seen["supernodes"][0]["address"], cluster_->supernode_address());
  EXPECT_EQ(seen["supernodes"][0]["leaves"], "2");
  EXPECT_EQ(seen["bad_search_note"], "search query has no letter or digit to search for");
  EXPECT_EQ(seen["plots_drawn"], 4);
  // Admin: hidden at first, shown once a token is entered.
  EXPECT_FALSE(seen["admin_shown_before_token"].get<bool>());
  EXPECT_TRUE(seen["admin_shown_after_token"].get<bool>());
  EXPECT_FALSE(seen["token_left_in_page"].get<bool>());
  // An admin action done on the page shows in the audit log on the page,
  // and took effect: a's two files left the catalog.
  ASSERT_TRUE(seen["audit"].is_array()) << seen.dump();
  ASSERT_FALSE(seen["audit"].empty()) << seen.dump();
  EXPECT_EQ(seen["audit"][0]["action"], "ban") << seen.dump();
  EXPECT_EQ(seen["audit"][0]["target"], a_id);
  EXPECT_EQ(seen["audit"][0]["role"], "admin");
  EXPECT_EQ(seen["audit"][0]["reason"], "spam from the page");
  EXPECT_EQ(seen["audit"][0]["result"], "ok");
  EXPECT_THAT(seen["bans"], ::testing::ElementsAre(a_id));
  EXPECT_THAT(seen["admin_note"].get<std::string>(),
              HasSubstr("2 sources left the catalog"));
  HttpAnswer after = GetJson(web_, "/api/overview");
  EXPECT_EQ(after.body["sources"], 1) << after.body.dump();
  EXPECT_TRUE(seen["console_errors"].empty()) << seen["console_errors"].dump();
  EXPECT_GT(Slurp(screenshot).size(), 10000u);
}

// The supernode map shows the election at work: an index with the
// election on and two peers given only the link promotes both (at least
// two supernodes are kept); the JSON endpoint and the page in Chromium
// show them as promoted supernodes with their "promoted" events.
TEST_F(IndexWebTest, PageShowsPromotionsOnTheSupernodeMap) {
  ASSERT_TRUE(cluster_
                  ->StartIndex({"--web_listen=127.0.0.1:0",
                                "--web_sample_seconds=1",
                                "--renew_every_seconds=1",
                                "--min_supernodes=2",
                                "--election_interval_ms=500",
                                "--report_every_seconds=1",
                                "--election_bootstrap_min_uptime_seconds=1",
                                "--election_min_uptime_seconds=2"})
                  .ok());
  web_ = WebAddress(cluster_->index()->log_path());
  ASSERT_FALSE(web_.empty());
  for (const char* name : {"e1", "e2"}) {
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeerWithLink(
        name, {"--max_backoff_ms=1000", "--first_publish_wait_ms=100",
               "--supernode_heartbeat_interval_ms=1000",
               "--supernode_session_timeout_ms=6000"});
    ASSERT_TRUE(p.ok()) << p.status();
  }
  json map;
  ASSERT_TRUE(WaitUntil(
      [&] {
        HttpAnswer m = GetJson(web_, "/api/supernodes");
        map = m.body;
        if (m.status != 200 || !m.body.contains("events")) return false;
        int live_promoted = 0;
        for (const json& sn : m.body["supernodes"]) {
          if (sn["role"] == "promoted") ++live_promoted;
        }
        return live_promoted == 2 && m.body["events"].size() == 2;
      },
      absl::Seconds(90)))
      << map.dump() << cluster_->LogTails();
  std::set<std::string> promoted_ids;
  for (const json& e : map["events"]) {
    EXPECT_EQ(e["event"], "promoted") << map.dump();
    EXPECT_GT(e["at"].get<double>(), 1.7e9);
    promoted_ids.insert(e["id"].get<std::string>());
  }
  for (const json& sn : map["supernodes"]) {
    EXPECT_EQ(sn["role"], "promoted") << map.dump();
    EXPECT_TRUE(promoted_ids.count(sn["id"].get<std::string>())) << map.dump();
    EXPECT_FALSE(sn["since"].is_null());
  }

  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string screenshot =
      absl::StrCat(outputs != nullptr ? outputs : cluster_->work_dir(),
                   "/index_web_map.png");
  CommandResult r = RunCommand(
      {"/usr/bin/python3", RunfilePath("tests/index_web_check.py"), "--map",
       "http://" + web_ + "/", screenshot},
      absl::Seconds(180));
  ASSERT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
  std::string last(absl::StripTrailingAsciiWhitespace(r.out));
  last = last.substr(last.rfind('\n') + 1);
  json seen = json::parse(last, nullptr, false);
  ASSERT_TRUE(seen.is_object()) << r.out;
  ASSERT_FALSE(seen["supernodes"].empty()) << seen.dump();
  bool promoted_row = false;
  for (const json& sn : seen["supernodes"]) {
    if (sn["role"] == "promoted" && promoted_ids.count(sn["id"].get<std::string>())) {
      promoted_row = true;
      EXPECT_NE(sn["since"], "–") << seen.dump();
    }
  }
  EXPECT_TRUE(promoted_row) << seen.dump();
  ASSERT_EQ(seen["events"].size(), 2u) << seen.dump();
  for (const json& e : seen["events"]) {
    EXPECT_EQ(e["event"], "promoted");
    EXPECT_TRUE(promoted_ids.count(e["id"].get<std::string>())) << seen.dump();
    // Shown as a date of this century, not seconds read as milliseconds.
    EXPECT_THAT(e["at"].get<std::string>(), HasSubstr("20")) << seen.dump();
    EXPECT_THAT(e["at"].get<std::string>(), ::testing::Not(HasSubstr("1970")));
  }
  EXPECT_THAT(seen["map_note"].get<std::string>(), HasSubstr("promoted)"));
  EXPECT_THAT(seen["elections_note"].get<std::string>(), HasSubstr("newest first"));
  EXPECT_TRUE(seen["console_errors"].empty()) << seen["console_errors"].dump();
  EXPECT_GT(Slurp(screenshot).size(), 10000u);
}

TEST(IndexWebStartTest, UsedWebPortIsAClearStartError) {
  absl::StatusOr<std::unique_ptr<testutil::TestDatabase>> db =
      testutil::TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  // Hold a port.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string used = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  CommandResult r = RunCommand(
      {RunfilePath("index_server/index_server"), "--postgres=" + (*db)->dsn(),
       "--listen=127.0.0.1:0", "--insecure", "--web_listen=" + used},
      absl::Seconds(60));
  ::close(fd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("--web_listen: " + used + " is already in use"));

  r = RunCommand({RunfilePath("index_server/index_server"),
                  "--postgres=" + (*db)->dsn(), "--listen=127.0.0.1:0",
                  "--insecure", "--web_listen=unix:/tmp/web.sock"},
                 absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--web_listen: the web page's address must be HOST:PORT"));
}

}  // namespace
}  // namespace trove
