// Config files with the real binaries: --config, STATE/config for the peer
// daemon, the command line winning, --dump_config, and clear errors.

#include <sys/stat.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using testutil::Cluster;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;
using testutil::Slurp;
using testutil::WaitUntil;

class ConfigFileTest : public testutil::ClusterTest {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = absl::StrCat(cluster_->work_dir(), "/", name);
    std::ofstream(path) << text;
    return path;
  }
};

TEST_F(ConfigFileTest, DumpShowsFileValuesUnderTheCommandLine) {
  const std::string conf = Write("index.conf",
                                 "# the community's index\n"
                                 "postgres = \"host=db.example user=trove\"\n"
                                 "lease_seconds = 90\n"
                                 "search_max_limit = 100  # smaller pages\n");
  CommandResult r = RunCommand({RunfilePath("index_server/index_server"),
                                "--config=" + conf, "--search_max_limit=7",
                                "--dump_config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\npostgres = host=db.example user=trove\n"));
  EXPECT_THAT(r.out, HasSubstr("\nlease_seconds = 90\n"));
  EXPECT_THAT(r.out, HasSubstr("\nsearch_max_limit = 7\n"));
  EXPECT_THAT(r.out, HasSubstr("\nlog_format = text\n"));

  // The dump is itself a config file the binary accepts, with the same
  // result.
  const std::string again = Write("again.conf", r.out);
  CommandResult r2 = RunCommand({RunfilePath("index_server/index_server"),
                                 "--config=" + again, "--dump_config"});
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_EQ(r2.out, r.out);
}

TEST_F(ConfigFileTest, BadFilesAreUsageErrorsWithFileAndLine) {
  const std::string unknown =
      Write("unknown.conf", "listen = 127.0.0.1:0\n\nmax_leafs = 10\n");
  CommandResult r = RunCommand({RunfilePath("supernode/supernode"),
                                "--index=127.0.0.1:1", "--config=" + unknown});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(unknown + ":3: unknown setting \"max_leafs\""));

  const std::string bad = Write("bad.conf", "max_leaves = lots\n");
  r = RunCommand({RunfilePath("supernode/supernode"), "--index=127.0.0.1:1",
                  "--config=" + bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(bad + ":1: bad value for max_leaves"));

  r = RunCommand({RunfilePath("index_server/index_server"),
                  "--config=" + cluster_->work_dir() + "/missing.conf"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read config file"));
}

TEST_F(ConfigFileTest, ServersRunFromConfigFiles) {
  const std::string index_log = cluster_->work_dir() + "/index.jsonl";
  const std::string index_conf = Write(
      "index.conf", absl::StrCat("log_format = json\nlog_file = ", index_log,
                                 "\nlease_seconds = 45\n"));
  ASSERT_TRUE(cluster_->StartIndex({"--config=" + index_conf}).ok());
  const std::string sn_log = cluster_->work_dir() + "/sn.jsonl";
  const std::string sn_conf = Write(
      "sn.conf", absl::StrCat("log_format = json\nlog_file = \"", sn_log,
                              "\"\nmax_leaves = 5\n"));
  absl::Status s = cluster_->StartSupernode({"--config=" + sn_conf});
  ASSERT_TRUE(s.ok()) << s;

  // The peer daemon reads STATE/config by itself.
  const std::string state = cluster_->work_dir() + "/a-state";
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  const std::string peer_log = cluster_->work_dir() + "/peer.jsonl";
  Write("a-state/config",
        absl::StrCat("# peer settings\nlog_format = json\nlog_file = ",
                     peer_log, "\nmax_uploads = 3\n"));
  absl::StatusOr<PeerHandle*> a = cluster_->StartPeer("a");
  ASSERT_TRUE(a.ok()) << a.status();

  for (const std::string& path : {index_log, sn_log, peer_log}) {
    ASSERT_TRUE(WaitUntil([&] { return !Slurp(path).empty(); })) << path;
    std::string first = Slurp(path).substr(0, Slurp(path).find('\n'));
    EXPECT_FALSE(nlohmann::json::parse(first, nullptr, false).is_discarded())
        << path << ": " << first;
  }
  // The same settings as the daemon sees them, with the command line
  // winning over STATE/config.
  CommandResult r = RunCommand({RunfilePath("peer_client/peer_client"), "daemon",
                                "--state=" + state, "--max_uploads=4",
                                "--dump_config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nmax_uploads = 4\n"));
  EXPECT_THAT(r.out, HasSubstr("\nlog_format = json\n"));
  r = RunCommand({RunfilePath("peer_client/peer_client"), "daemon",
                  "--state=" + state, "--dump_config"});
  EXPECT_THAT(r.out, HasSubstr("\nmax_uploads = 3\n"));
}

}  // namespace
}  // namespace trove
