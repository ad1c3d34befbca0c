// Structured logs of the real binaries: --log_format=json|text,
// --log_file, roles and ids on each line, and hostile names escaped.

#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using testutil::Cluster;
using testutil::PeerHandle;
using testutil::Slurp;
using testutil::WaitUntil;

// A file name that, printed raw, would start a forged log line and hide
// its own extension behind a right-to-left override.
const char kHostileName[] =
    "x\n2030-01-01T00:00:00.000Z E peer main.cc:1] forged\x1b[2J\xe2\x80\xae"
    "3pm.exe";

std::vector<std::string> Lines(const std::string& path) {
  return absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty());
}

class LoggingTest : public testutil::ClusterTest {
 protected:
  std::string Path(const std::string& name) {
    return absl::StrCat(cluster_->work_dir(), "/", name);
  }
};

TEST_F(LoggingTest, JsonLinesFromEveryRoleWithTheirIds) {
  const std::string index_log = Path("index.jsonl");
  const std::string sn_log = Path("supernode.jsonl");
  const std::string peer_log = Path("peer.jsonl");
  ASSERT_TRUE(cluster_->StartIndex({"--log_format=json",
                                    "--log_file=" + index_log})
                  .ok());
  absl::Status s = cluster_->StartSupernode(
      {"--log_format=json", "--log_file=" + sn_log, "--log_level=debug"});
  ASSERT_TRUE(s.ok()) << s;
  ::mkdir(Path("a-share").c_str(), 0755);
  std::ofstream(Path("a-share/") + "Plain Song.mp3") << "some music";
  std::ofstream(Path("a-share/") + kHostileName) << "bait";
  absl::StatusOr<PeerHandle*> a = cluster_->StartPeer(
      "a", {"--log_format=json", "--log_file=" + peer_log});
  ASSERT_TRUE(a.ok()) << a.status();
  // The scan's warning comes before the ready file; the peer's id joins its
  // lines with "ready", just after it.
  ASSERT_TRUE(WaitUntil([&] {
    const std::string text = Slurp(peer_log);
    return absl::StrContains(text, "not sharing") &&
           absl::StrContains(text, "ready: serving");
  }));
  ASSERT_TRUE(WaitUntil([&] { return Lines(index_log).size() >= 2; }));

  struct Role {
    std::string path, role, id_field;
  };
  for (const Role& r : {Role{index_log, "index_server", ""},
                        Role{sn_log, "supernode", "supernode"},
                        Role{peer_log, "peer", "peer"}}) {
    std::vector<std::string> lines = Lines(r.path);
    ASSERT_FALSE(lines.empty()) << r.path;
    bool saw_id = false;
    for (const std::string& line : lines) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      ASSERT_FALSE(j.is_discarded()) << r.path << ": not JSON: " << line;
      EXPECT_EQ(j.value("role", ""), r.role) << line;
      EXPECT_TRUE(j.contains("time") && j.contains("level") &&
                  j.contains("msg") && j.contains("src"))
          << line;
      if (!r.id_field.empty() && j.contains(r.id_field)) {
        EXPECT_EQ(j[r.id_field].get<std::string>().size(), 64u) << line;
        saw_id = true;
      }
    }
    if (!r.id_field.empty()) {
      EXPECT_TRUE(saw_id) << r.path << " has no line with " << r.id_field;
    }
  }

  // The hostile name is one line whose message decodes to the exact name.
  int hostile_lines = 0;
  for (const std::string& line : Lines(peer_log)) {
    if (!absl::StrContains(line, "forged")) continue;
    ++hostile_lines;
    nlohmann::json j = nlohmann::json::parse(line);
    EXPECT_EQ(j["level"], "warning");
    EXPECT_TRUE(absl::StrContains(j["msg"].get<std::string>(), kHostileName))
        << line;
    EXPECT_EQ(line.find("\xe2\x80\xae"), std::string::npos) << "raw bidi";
    EXPECT_EQ(line.find('\x1b'), std::string::npos) << "raw escape";
  }
  EXPECT_EQ(hostile_lines, 1);
}

TEST_F(LoggingTest, TextLinesCannotBeForged) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  const std::string peer_log = Path("peer.log.txt");
  ::mkdir(Path("b-share").c_str(), 0755);
  std::ofstream(Path("b-share/") + kHostileName) << "bait";
  absl::StatusOr<PeerHandle*> b =
      cluster_->StartPeer("b", {"--log_file=" + peer_log, "--log_level=info"});
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(WaitUntil([&] {
    return absl::StrContains(Slurp(peer_log), "not sharing");
  }));
  const std::regex line_start(
      R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [DIWE] peer [^ ]+:\d+\] )");
  int hostile_lines = 0;
  for (const std::string& line : Lines(peer_log)) {
    EXPECT_TRUE(std::regex_search(line, line_start)) << line;
    EXPECT_FALSE(absl::StartsWith(line, "2030-01-01")) << "forged: " << line;
    if (absl::StrContains(line, "forged")) {
      ++hostile_lines;
      EXPECT_TRUE(absl::StrContains(
          line, "x\\n2030-01-01T00:00:00.000Z E peer main.cc:1] "
                "forged\\x1b[2J\\u202e3pm.exe"))
          << line;
    }
  }
  EXPECT_EQ(hostile_lines, 1);
}

TEST_F(LoggingTest, BadLoggingFlagsAreUsageErrors) {
  testutil::CommandResult r = testutil::RunCommand(
      {testutil::RunfilePath("supernode/supernode"), "--index=127.0.0.1:1",
       "--log_format=xml"},
      absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "--log_format must be text or json"))
      << r.err;
  r = testutil::RunCommand({testutil::RunfilePath("index_server/index_server"),
                            "--postgres=host=127.0.0.1", "--log_level=loud"},
                           absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "--log_level")) << r.err;
}

}  // namespace
}  // namespace trove
