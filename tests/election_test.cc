// The supernode election over a real community (PostgreSQL, the index and
// six peer daemons, TLS on): peers given only the community link are
// placed by the index, which promotes some of them; each promoted daemon
// serves as a supernode in-process, every peer gets attached, and every
// peer finds every other's file.
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster_fixture.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

constexpr int kPeers = 6;

class ElectionTest : public testutil::ClusterTest {
 protected:
  nlohmann::json Status(const PeerHandle& peer) {
    CommandResult r = cluster_->Cli(peer, {"status", "--json"},
                                    absl::Seconds(20));
    if (r.exit_code != 0) return nlohmann::json();
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json() : j;
  }

  // Promoted keys in the index's database.
  int PromotedKeys() {
    pqxx::connection c(cluster_->dsn());
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT count(*) FROM supernode_keys WHERE kind ="
                   " 'promoted' AND revoked_at IS NULL")[0][0]
        .as<int>();
  }
};

TEST_F(ElectionTest, SixPeersWithOnlyTheLinkElectSupernodesAndFindEachOther) {
  // A target of 2 leaves per supernode: six peers want three supernodes.
  ASSERT_TRUE(cluster_
                  ->StartIndex({"--target_leaves_per_supernode=2",
                                "--min_supernodes=2",
                                "--election_interval_ms=500",
                                "--report_every_seconds=1",
                                "--election_bootstrap_min_uptime_seconds=1",
                                "--election_min_uptime_seconds=2"})
                  .ok());
  std::vector<PeerHandle*> peers;
  for (int i = 0; i < kPeers; ++i) {
    const std::string name = absl::StrCat("p", i);
    auto peer = cluster_->StartPeerWithLink(
        name, {"--max_backoff_ms=1000", "--first_publish_wait_ms=100",
               "--supernode_heartbeat_interval_ms=1000",
               "--supernode_session_timeout_ms=6000"});
    ASSERT_TRUE(peer.ok()) << peer.status();
    peers.push_back(*peer);
    ASSERT_TRUE(WriteRandomFile(absl::StrCat((*peer)->share_dir,
                                             "/ballot", i, " song.ogg"),
                                2000 + i, i)
                    .ok());
  }

  // At least two peers serve as supernodes and every peer is attached.
  int supernodes = 0;
  bool attached = WaitUntil(
      [&] {
        supernodes = 0;
        for (PeerHandle* p : peers) {
          nlohmann::json s = Status(*p);
          if (!s.is_object()) return false;
          if (s.value("supernode", "").empty()) return false;
          if (s.value("role", "") == "supernode") {
            if (s.value("hosted_supernode", "").empty()) return false;
            ++supernodes;
          }
        }
        return supernodes >= 2;
      },
      absl::Seconds(90));
  ASSERT_TRUE(attached) << supernodes << " supernodes";
  EXPECT_GE(PromotedKeys(), 2);
  EXPECT_LE(PromotedKeys(), kPeers);

  // The role shows in the plain status too.
  int shown = 0;
  for (PeerHandle* p : peers) {
    CommandResult r = cluster_->Cli(*p, {"status"}, absl::Seconds(20));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("role        "), std::string::npos) << r.out;
    if (r.out.find("role        supernode on ") != std::string::npos) ++shown;
  }
  EXPECT_GE(shown, 2);

  // Each finds the others' files, through whichever supernode it is on.
  for (int i = 0; i < kPeers; ++i) {
    for (int j = 0; j < kPeers; ++j) {
      if (i == j) continue;
      const std::string name = absl::StrCat("ballot", j, " song.ogg");
      EXPECT_TRUE(WaitUntil(
          [&] {
            return !cluster_->FindCid(*peers[i], absl::StrCat("ballot", j),
                                      name)
                        .empty();
          },
          absl::Seconds(60)))
          << "p" << i << " never found " << name;
    }
  }
}

}  // namespace
}  // namespace trove
