// What a person sees, over the real binaries: `get`'s progress line in an
// 80-column terminal (tmux, read back with capture-pane), and the daemon's
// web page driven in headless Chromium (search, one-click get, progress,
// cancel).

#include <sys/stat.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;
using testutil::SameFile;
using testutil::Slurp;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

constexpr int64_t kMiB = 1 << 20;

// Columns taken by `line` (UTF-8: one per character).
size_t Columns(const std::string& line) {
  size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

json LastJson(const std::string& out) {
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  if (lines.empty()) return json();
  return json::parse(lines.back(), nullptr, /*allow_exceptions=*/false);
}

class ProgressAndWebTest : public testutil::ClusterTest {
 protected:
  // Writes `size` random bytes (from `seed`) elsewhere and moves them to
  // `path` in one step, so that a daemon scanning that folder never sees
  // the file half written (and never announces a cid of half of it).
  absl::Status ShareFile(const std::string& path, int64_t size, int seed) {
    const std::string staged = cluster_->work_dir() + "/staged.tmp";
    absl::Status s = WriteRandomFile(staged, size, seed);
    if (!s.ok()) return s;
    if (::rename(staged.c_str(), path.c_str()) != 0) {
      return absl::InternalError("cannot move " + staged + " to " + path);
    }
    return absl::OkStatus();
  }

  PeerHandle* StartPeer(const std::string& name,
                        const std::vector<std::string>& flags = {}) {
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeer(name, flags);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : nullptr;
  }
  std::string WaitForCid(const PeerHandle& peer, const std::string& query,
                         const std::string& name) {
    std::string cid;
    WaitUntil([&] {
      cid = cluster_->FindCid(peer, query, name);
      return !cid.empty();
    });
    return cid;
  }
};

// A tmux server of the test's own, on a socket in the work folder.
class Tmux {
 public:
  explicit Tmux(std::string socket) : socket_(std::move(socket)) {}
  ~Tmux() { Run({"kill-server"}); }

  CommandResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"/usr/bin/env", "TERM=xterm-256color",
                               "/usr/bin/tmux", "-S", socket_});
    return RunCommand(args, absl::Seconds(20));
  }
  // The pane's text, wrapped lines joined (-J), trailing spaces kept out.
  std::vector<std::string> Capture() {
    CommandResult r = Run({"capture-pane", "-p", "-J", "-t", "trove"});
    std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
    for (std::string& l : lines) {
      absl::string_view v = absl::StripTrailingAsciiWhitespace(l);
      l = std::string(v);
    }
    while (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
  }

 private:
  const std::string socket_;
};

// Lines of `pane` that show a download's progress ("NAME  1.0 MiB / 5.0
// MiB  20%  ...").
std::vector<std::string> ProgressLines(const std::vector<std::string>& pane) {
  std::vector<std::string> out;
  for (const std::string& l : pane) {
    if (absl::StrContains(l, " / ") && absl::StrContains(l, "%")) {
      out.push_back(l);
    }
  }
  return out;
}

TEST_F(ProgressAndWebTest, ProgressLineIsRedrawnInPlaceAt80ColumnsAndEndsAt100) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  PeerHandle* a = StartPeer("a");
  // A few seconds of progress at 1 MiB/s.
  PeerHandle* b = StartPeer("b", {"--max_download_rate=1M"});
  ASSERT_TRUE(a && b);
  // A long name, so that an unfitted line would need more than 80 columns.
  const std::string name =
      "a rather long file name that alone takes up most of a line.bin";
  ASSERT_TRUE(ShareFile(a->share_dir + "/" + name, 5 * kMiB, 31).ok());
  const std::string cid = WaitForCid(*b, "rather long", name);
  ASSERT_FALSE(cid.empty());

  Tmux tmux(cluster_->work_dir() + "/tmux.sock");
  const std::string command = absl::StrCat(
      "'", RunfilePath("peer_client/peer_client"), "' get ", cid, " '--state=",
      b->state_dir, "'; echo EXIT=$?; sleep 600");
  CommandResult r = tmux.Run({"new-session", "-d", "-s", "trove", "-x", "80",
                              "-y", "24", command});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Rather than the window's size, what the pane was made with.
  r = tmux.Run({"display-message", "-p", "-t", "trove", "#{pane_width}"});
  ASSERT_EQ(absl::StripAsciiWhitespace(r.out), "80");

  // While it runs: one progress line, however often it is redrawn.
  std::vector<std::string> percents;
  int captures_while_running = 0;
  std::vector<std::string> pane;
  ASSERT_TRUE(WaitUntil(
      [&] {
        pane = tmux.Capture();
        for (const std::string& l : pane) {
          if (absl::StartsWith(l, "EXIT=")) return true;
        }
        std::vector<std::string> lines = ProgressLines(pane);
        if (!lines.empty()) {
          ++captures_while_running;
          EXPECT_EQ(lines.size(), 1u) << absl::StrJoin(pane, "\n");
          if (percents.empty() || percents.back() != lines.back()) {
            percents.push_back(lines.back());
          }
        }
        for (const std::string& l : lines) {
          EXPECT_LT(Columns(l), 80u) << "wider than the terminal: " << l;
        }
        return false;
      },
      absl::Seconds(90)));
  EXPECT_GE(captures_while_running, 2);
  EXPECT_GE(percents.size(), 2u) << "the line was not redrawn";

  // At the end: exit 0, still one progress line, at 100%, and the file.
  EXPECT_THAT(absl::StrJoin(pane, "\n"), HasSubstr("EXIT=0"));
  std::vector<std::string> last = ProgressLines(pane);
  ASSERT_EQ(last.size(), 1u) << absl::StrJoin(pane, "\n");
  EXPECT_THAT(last[0], HasSubstr("100%"));
  EXPECT_THAT(last[0], HasSubstr("a rath"));
  EXPECT_LT(Columns(last[0]), 80u) << last[0];
  EXPECT_TRUE(SameFile(a->share_dir + "/" + name,
                       b->state_dir + "/downloads/" + name));
}

TEST_F(ProgressAndWebTest, WebPageSearchesGetsShowsProgressAndCancels) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  // The source sends slowly, so that the second file can be cancelled
  // while it runs.
  PeerHandle* a = StartPeer("a", {"--max_upload_rate=1M"});
  PeerHandle* b = StartPeer("b", {"--web=127.0.0.1:0"});
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ShareFile(a->share_dir + "/holiday film.mkv", 3 * kMiB, 32).ok());
  ASSERT_TRUE(ShareFile(a->share_dir + "/holiday huge.iso", 64 * kMiB, 33).ok());
  ASSERT_FALSE(WaitForCid(*b, "holiday", "holiday film.mkv").empty());
  const std::string huge = WaitForCid(*b, "holiday", "holiday huge.iso");
  ASSERT_FALSE(huge.empty());

  json st = LastJson(cluster_->Cli(*b, {"status", "--json"}).out);
  const std::string web = st["web"];
  ASSERT_TRUE(absl::StartsWith(web, "http://127.0.0.1:")) << st.dump();
  const std::string token(
      absl::StripAsciiWhitespace(Slurp(b->state_dir + "/web_token")));
  ASSERT_GE(token.size(), 16u);

  CommandResult r = RunCommand(
      {"/usr/bin/python3", RunfilePath("tests/web_page_check.py"),
       web + "#token=" + token, "holiday", "holiday film.mkv",
       "holiday huge.iso"},
      absl::Seconds(300));
  ASSERT_EQ(r.exit_code, 0) << r.out << "\n" << r.err;
  json seen = LastJson(r.out);
  ASSERT_TRUE(seen.is_object()) << r.out;
  EXPECT_FALSE(seen["token_left_in_address"].get<bool>());
  EXPECT_THAT(seen["hits"], ::testing::UnorderedElementsAre(
                                "holiday film.mkv", "holiday huge.iso"));
  EXPECT_EQ(seen["search_note"], "2 files");
  // The bar went up to 100%, never down.
  const std::vector<int> progress = seen["progress"];
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), 100);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  EXPECT_EQ(seen["done_percent"], 100);
  EXPECT_EQ(seen["done_detail"], b->state_dir + "/downloads/holiday film.mkv");
  EXPECT_TRUE(SameFile(a->share_dir + "/holiday film.mkv",
                       b->state_dir + "/downloads/holiday film.mkv"));
  // The cancel asked first, and then the download and its data went.
  EXPECT_GT(seen["cancel_percent_before"].get<int>(), 0);
  EXPECT_THAT(seen["confirm_text"].get<std::string>(),
              HasSubstr("Cancel holiday huge.iso and delete"));
  EXPECT_EQ(seen["error_line"], "");
  EXPECT_TRUE(seen["console_errors"].empty()) << seen["console_errors"].dump();
  json list = LastJson(cluster_->Cli(*b, {"list", "--json"}).out);
  for (const json& d : list["downloads"]) EXPECT_NE(d["cid"], huge);
  EXPECT_FALSE(Exists(b->state_dir + "/downloads/.holiday huge.iso.trove-part"));
  EXPECT_FALSE(Exists(b->state_dir + "/downloads/holiday huge.iso"));

  // Without the token, the API refuses.
  r = RunCommand({"/usr/bin/python3", "-c",
                  "import sys, urllib.request, urllib.error\n"
                  "try:\n"
                  "  urllib.request.urlopen(sys.argv[1] + 'api/downloads')\n"
                  "except urllib.error.HTTPError as e:\n"
                  "  print(e.code)\n",
                  web});
  EXPECT_EQ(absl::StripAsciiWhitespace(r.out), "403");
}

}  // namespace
}  // namespace trove
