// The systemd units and packaging/install, checked as an operator meets
// them: systemd accepts the units, they are hardened, install lays out a
// tree without overwriting settings, and the units' own command lines, run
// over that tree with the documented steps (docs/install.md), make a working
// community: index from `index_server init`'s config, an enrolled supernode
// from /etc/trove/supernode.conf, a peer daemon from its STATE/config.
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/community_link.h"
#include "common/tls.h"
#include "gtest/gtest.h"
#include "tests/harness/cluster.h"
#include "tests/harness/process.h"
#include "tests/testing/postgres.h"

namespace trove {
namespace testutil {
namespace {

const char* const kUnits[] = {"trove-index.service", "trove-supernode.service",
                              "trove-peer.service"};

std::string Source(const std::string& relative) {
  return RunfilePath(relative);
}

// The folder holding index_server/index_server, supernode/supernode and
// peer_client/peer_client in this test's runfiles.
std::string BinDir() {
  std::string p = RunfilePath("index_server/index_server");
  return p.substr(0, p.size() - std::string("/index_server/index_server").size());
}

void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// `key=` values of a unit file, in order.
std::vector<std::string> UnitValues(const std::string& unit_text,
                                    const std::string& key) {
  std::vector<std::string> values;
  for (absl::string_view line : absl::StrSplit(unit_text, '\n')) {
    if (absl::ConsumePrefix(&line, key + "=")) values.emplace_back(line);
  }
  return values;
}

// A unit's ExecStart over a tree installed under `root`: /usr/local/bin and
// /etc/trove there, ${STATE_DIRECTORY} the unit's StateDirectory there.
std::vector<std::string> CommandUnder(const std::string& unit_text,
                                      const std::string& root) {
  std::vector<std::string> exec = UnitValues(unit_text, "ExecStart");
  std::vector<std::string> state = UnitValues(unit_text, "StateDirectory");
  EXPECT_EQ(exec.size(), 1u);
  EXPECT_EQ(state.size(), 1u);
  if (exec.size() != 1 || state.size() != 1) return {};
  std::string line = absl::StrReplaceAll(
      exec[0], {{"${STATE_DIRECTORY}", absl::StrCat(root, "/var/lib/", state[0])},
                {"/usr/local/bin/", absl::StrCat(root, "/usr/local/bin/")},
                {"/etc/trove/", absl::StrCat(root, "/etc/trove/")}});
  return absl::StrSplit(line, ' ', absl::SkipEmpty());
}

class PackagingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = absl::StrCat(work_.path(), "/root");
    CommandResult r = RunCommand({Source("packaging/install"),
                                  absl::StrCat("--root=", root_),
                                  absl::StrCat("--bin_dir=", BinDir())});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    install_out_ = r.out;
  }

  std::string Unit(const std::string& name) {
    return Slurp(absl::StrCat(root_, "/etc/systemd/system/", name));
  }

  TempDir work_;
  std::string root_;
  std::string install_out_;
};

TEST_F(PackagingTest, InstallLaysOutTheTreeAndKeepsSettings) {
  for (const char* b : {"index_server", "supernode", "peer_client"}) {
    struct stat st;
    std::string path = absl::StrCat(root_, "/usr/local/bin/", b);
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
    EXPECT_TRUE(st.st_mode & S_IXUSR) << path;
  }
  for (const char* u : kUnits) EXPECT_FALSE(Unit(u).empty()) << u;
  EXPECT_FALSE(Slurp(absl::StrCat(root_, "/usr/lib/sysusers.d/trove.conf")).empty());
  EXPECT_FALSE(Slurp(absl::StrCat(root_, "/usr/local/share/doc/trove/install.md")).empty());
  const std::string conf = absl::StrCat(root_, "/etc/trove/supernode.conf");
  ASSERT_TRUE(absl::StrContains(Slurp(conf), "join = trove://"));

  // A second install keeps the operator's settings.
  WriteFile(conf, "listen = 127.0.0.1:7999\n");
  CommandResult again = RunCommand({Source("packaging/install"),
                                    absl::StrCat("--root=", root_),
                                    absl::StrCat("--bin_dir=", BinDir())});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Slurp(conf), "listen = 127.0.0.1:7999\n");

  // Another prefix is written into the units.
  const std::string other = absl::StrCat(work_.path(), "/other");
  CommandResult moved = RunCommand(
      {Source("packaging/install"), absl::StrCat("--root=", other),
       "--prefix=/opt/trove", absl::StrCat("--bin_dir=", BinDir())});
  ASSERT_EQ(moved.exit_code, 0) << moved.err;
  EXPECT_TRUE(absl::StrContains(
      Slurp(absl::StrCat(other, "/etc/systemd/system/trove-index.service")),
      "ExecStart=/opt/trove/bin/index_server "));

  CommandResult bad = RunCommand({Source("packaging/install"), "--root=relative"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(bad.err, "absolute")) << bad.err;
}

TEST_F(PackagingTest, SystemdAcceptsTheUnits) {
  for (const char* u : kUnits) {
    // verify checks that ExecStart's program exists: point it at the tree.
    std::string text = absl::StrReplaceAll(
        Unit(u), {{"/usr/local/bin/", absl::StrCat(root_, "/usr/local/bin/")}});
    std::string copy = absl::StrCat(work_.path(), "/", u);
    WriteFile(copy, text);
    CommandResult r = RunCommand({"/usr/bin/systemd-analyze", "verify", copy});
    EXPECT_EQ(r.exit_code, 0) << u << ": " << r.err;
    EXPECT_EQ(r.err, "") << u;
  }
}

TEST_F(PackagingTest, UnitsAreHardened) {
  for (const char* u : kUnits) {
    const std::string text = Unit(u);
    for (const char* setting :
         {"NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectSystem=strict",
          "CapabilityBoundingSet=\n", "User=trove", "UMask=0077"}) {
      EXPECT_TRUE(absl::StrContains(text, setting)) << u << " lacks " << setting;
    }
    ASSERT_EQ(UnitValues(text, "StateDirectory").size(), 1u) << u;
    // The only writable place is the state folder: nothing opens another.
    EXPECT_TRUE(UnitValues(text, "ReadWritePaths").empty()) << u;

    // systemd's own rating: at most 2.0 on its 0 (locked) to 10 scale.
    std::string copy = absl::StrCat(work_.path(), "/", u);
    WriteFile(copy, text);
    CommandResult r = RunCommand({"/usr/bin/systemd-analyze", "security", "--offline=true",
                                  "--threshold=20", "--no-pager", copy});
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m,
                                  std::regex("Overall exposure level for [^:]+: ([0-9.]+)")))
        << u << ": " << r.out << r.err;
    double level = 0;
    ASSERT_TRUE(absl::SimpleAtod(m[1].str(), &level));
    EXPECT_LE(level, 2.0) << u << ":\n" << r.out;
  }
}

TEST_F(PackagingTest, UnitsCommandLinesRunACommunity) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  const std::string bin = absl::StrCat(root_, "/usr/local/bin/");
  const std::string community = absl::StrCat(root_, "/etc/trove/community");

  // The index: `init` as docs/install.md says, then the unit's command.
  CommandResult init = RunCommand(
      {bin + "index_server", "init", community, "--listen=127.0.0.1:0",
       "--advertise=127.0.0.1:1", absl::StrCat("--postgres=", (*db)->dsn())});
  ASSERT_EQ(init.exit_code, 0) << init.out << init.err;
  std::vector<std::string> index_argv =
      CommandUnder(Unit("trove-index.service"), root_);
  ASSERT_FALSE(index_argv.empty());
  index_argv.push_back(absl::StrCat("--ready_file=", work_.path(), "/index.ready"));
  auto index = ChildProcess::Start(index_argv, absl::StrCat(work_.path(), "/index.log"));
  ASSERT_TRUE(index.ok()) << index.status();
  absl::StatusOr<std::string> index_address =
      WaitForReadyFile(absl::StrCat(work_.path(), "/index.ready"), absl::Seconds(60));
  ASSERT_TRUE(index_address.ok()) << Slurp((*index)->log_path());

  CommunityLink link;
  size_t colon = index_address->rfind(':');
  link.host = index_address->substr(0, colon);
  ASSERT_TRUE(absl::SimpleAtoi(index_address->substr(colon + 1), &link.port));
  absl::StatusOr<std::string> fp =
      CertificateFingerprint(Slurp(absl::StrCat(community, "/ca.pem")));
  ASSERT_TRUE(fp.ok()) << fp.status();
  link.ca_fingerprint = *fp;
  const std::string link_text = FormatCommunityLink(link);

  // The supernode: enrolled into its state folder, settings from the
  // installed example with the operator's three lines changed.
  const std::string sn_state = absl::StrCat(root_, "/var/lib/trove-supernode");
  CommandResult enrol = RunCommand({bin + "index_server", "enrol-supernode",
                                    community, absl::StrCat("--out=", sn_state)});
  ASSERT_EQ(enrol.exit_code, 0) << enrol.err;
  const std::string sn_conf = absl::StrCat(root_, "/etc/trove/supernode.conf");
  std::string conf = Slurp(sn_conf);
  conf = std::regex_replace(conf, std::regex("\njoin = [^\n]*"),
                            absl::StrCat("\njoin = ", link_text));
  conf = std::regex_replace(conf, std::regex("\nlisten = [^\n]*"),
                            "\nlisten = 127.0.0.1:0");
  conf = std::regex_replace(conf, std::regex("\nadvertise = [^\n]*"), "\n");
  conf = std::regex_replace(conf, std::regex("\nmetrics_listen = [^\n]*"),
                            "\nmetrics_listen = 127.0.0.1:0");
  WriteFile(sn_conf, conf);
  std::vector<std::string> sn_argv =
      CommandUnder(Unit("trove-supernode.service"), root_);
  ASSERT_FALSE(sn_argv.empty());
  sn_argv.push_back(absl::StrCat("--ready_file=", work_.path(), "/sn.ready"));
  auto supernode = ChildProcess::Start(sn_argv, absl::StrCat(work_.path(), "/sn.log"));
  ASSERT_TRUE(supernode.ok()) << supernode.status();
  absl::StatusOr<std::string> sn_address =
      WaitForReadyFile(absl::StrCat(work_.path(), "/sn.ready"), absl::Seconds(60));
  ASSERT_TRUE(sn_address.ok()) << Slurp((*supernode)->log_path())
                               << Slurp((*index)->log_path());

  // The peer: STATE/config from the installed example.
  const std::string peer_state = absl::StrCat(root_, "/var/lib/trove-peer");
  const std::string share = absl::StrCat(work_.path(), "/share");
  ASSERT_EQ(::mkdir(peer_state.c_str(), 0700), 0);
  ASSERT_EQ(::mkdir(share.c_str(), 0755), 0);
  ASSERT_TRUE(WriteRandomFile(absl::StrCat(share, "/packaged-aurora.bin"), 300000, 7).ok());
  std::string peer_conf =
      Slurp(absl::StrCat(root_, "/usr/local/share/doc/trove/examples/peer.conf"));
  ASSERT_FALSE(peer_conf.empty());
  peer_conf = std::regex_replace(peer_conf, std::regex("\njoin = [^\n]*"),
                                 absl::StrCat("\njoin = ", link_text));
  peer_conf = std::regex_replace(peer_conf, std::regex("\nshare = [^\n]*"),
                                 absl::StrCat("\nshare = ", share));
  peer_conf = std::regex_replace(peer_conf, std::regex("\nlisten = [^\n]*"),
                                 "\nlisten = 127.0.0.1:0");
  peer_conf = std::regex_replace(peer_conf, std::regex("\nadvertise = [^\n]*"), "\n");
  WriteFile(absl::StrCat(peer_state, "/config"), peer_conf);
  std::vector<std::string> peer_argv = CommandUnder(Unit("trove-peer.service"), root_);
  ASSERT_FALSE(peer_argv.empty());
  peer_argv.push_back(absl::StrCat("--ready_file=", work_.path(), "/peer.ready"));
  auto peer = ChildProcess::Start(peer_argv, absl::StrCat(work_.path(), "/peer.log"));
  ASSERT_TRUE(peer.ok()) << peer.status();
  ASSERT_TRUE(WaitForReadyFile(absl::StrCat(work_.path(), "/peer.ready"),
                               absl::Seconds(60)).ok())
      << Slurp((*peer)->log_path());

  // Its file is found through the community.
  std::string last;
  bool found = WaitUntil(
      [&] {
        CommandResult r = RunCommand({bin + "peer_client", "search", "aurora",
                                      absl::StrCat("--state=", peer_state)},
                                     absl::Seconds(30));
        last = r.out + r.err;
        return r.exit_code == 0 && absl::StrContains(r.out, "packaged-aurora.bin");
      },
      absl::Seconds(30));
  EXPECT_TRUE(found) << last << "\n" << Slurp((*peer)->log_path())
                     << Slurp((*supernode)->log_path());

  (*peer)->Stop();
  (*supernode)->Stop();
  (*index)->Stop();
}

}  // namespace
}  // namespace testutil
}  // namespace trove
