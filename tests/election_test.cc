// The supernode election over a real community (PostgreSQL, the index and
// six peer daemons, TLS on): peers given only the community link are
// placed by the index, which promotes some of them; each promoted daemon
// serves as a supernode in-process, every peer gets attached, and every
// peer finds every other's file. And a promoted supernode whose load fell
// is demoted: its leaf moves to another supernode while it still serves,
// and the leaf's file never leaves the index's search.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/server_util.h"
#include "common/tls_credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "protos/index.grpc.pb.h"
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

// Watches, in a thread of its own, whether the index still has `name`:
// every round asks the index's Search and reads the sources table, and
// counts the rounds where either lacks it.
class FindabilityWatch {
 public:
  FindabilityWatch(const std::string& index_address, const std::string& dsn,
                   const std::string& query, const std::string& name)
      : stub_(index::IndexService::NewStub(
            MakeChannel(index_address, Expected::Index()))),
        dsn_(dsn),
        query_(query),
        name_(name),
        thread_([this] { Run(); }) {}
  ~FindabilityWatch() { Stop(); }

  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int rounds() const { return rounds_; }
  int searches_missing() const { return searches_missing_; }
  int rows_missing() const { return rows_missing_; }
  // Whether the last round found the file, both ways.
  bool last_round_found() const { return last_found_; }
  std::string last_error() {
    absl::MutexLock lock(&mu_);
    return last_error_;
  }

 private:
  void Run() {
    pqxx::connection c(dsn_);
    while (!stop_) {
      index::SearchRequest req;
      req.mutable_query()->set_text(query_);
      index::SearchResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
      grpc::Status st = stub_->Search(&ctx, req, &resp);
      bool found = false;
      for (const SearchHit& hit : resp.hits()) {
        found |= hit.name() == name_ && hit.source_count() > 0;
      }
      bool both = st.ok() && found;
      if (!st.ok() || !found) {
        ++searches_missing_;
        absl::MutexLock lock(&mu_);
        last_error_ = st.ok() ? "no hit" : st.error_message();
      }
      pqxx::nontransaction tx(c);
      if (tx.exec_params("SELECT 1 FROM sources WHERE name = $1 AND NOT partial",
                         name_)
              .empty()) {
        ++rows_missing_;
        both = false;
      }
      last_found_ = both;
      ++rounds_;
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  std::unique_ptr<index::IndexService::Stub> stub_;
  const std::string dsn_, query_, name_;
  std::atomic<bool> stop_{false};
  std::atomic<int> rounds_{0}, searches_missing_{0}, rows_missing_{0};
  std::atomic<bool> last_found_{false};
  absl::Mutex mu_;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

TEST_F(ElectionTest, ADemotedSupernodeHandsItsLeafOverWhileStillServing) {
  // One permanent supernode; a target of 4 leaves per supernode, so five
  // reporting peers want two supernodes and two peers want one. A short
  // tenure and drain keep the test brief.
  ASSERT_TRUE(cluster_
                  ->StartIndex({"--target_leaves_per_supernode=4",
                                "--min_supernodes=1",
                                "--election_interval_ms=500",
                                "--report_every_seconds=1",
                                "--election_bootstrap_min_uptime_seconds=1",
                                "--election_min_uptime_seconds=2",
                                "--election_min_tenure_seconds=5",
                                "--election_drain_seconds=8",
                                "--lease_seconds=5", "--renew_every_seconds=1",
                                "--expire_interval_ms=500"})
                  .ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  const std::string permanent = cluster_->supernode_address();
  const std::vector<std::string> flags = {
      "--max_backoff_ms=1000", "--first_publish_wait_ms=100",
      "--supernode_heartbeat_interval_ms=1000",
      "--supernode_session_timeout_ms=6000"};
  // p offers the most bandwidth: the election picks it.
  std::vector<std::string> p_flags = flags;
  p_flags.push_back("--upload_bytes_per_second=100000000");
  auto p = cluster_->StartPeerWithLink("p", p_flags);
  ASSERT_TRUE(p.ok()) << p.status();
  std::vector<PeerHandle*> load;
  for (int i = 0; i < 4; ++i) {
    std::vector<std::string> f = flags;
    f.push_back("--upload_bytes_per_second=1000");
    auto peer = cluster_->StartPeerWithLink(absl::StrCat("load", i), f);
    ASSERT_TRUE(peer.ok()) << peer.status();
    load.push_back(*peer);
  }
  std::string promoted;
  ASSERT_TRUE(WaitUntil(
      [&] {
        nlohmann::json s = Status(**p);
        if (!s.is_object() || s.value("role", "") != "supernode") return false;
        promoted = s.value("hosted_supernode", "");
        return !promoted.empty();
      },
      absl::Seconds(60)))
      << Status(**p).dump();

  // A leaf joining now goes to the supernode with the fewest leaves: p's.
  std::vector<std::string> a_flags = flags;
  a_flags.push_back("--upload_bytes_per_second=1000");
  auto a = cluster_->StartPeerWithLink("a", a_flags);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(
      WriteRandomFile((*a)->share_dir + "/handoff keeper.ogg", 4000, 11).ok());
  ASSERT_TRUE(WaitUntil(
      [&] { return Status(**a).value("supernode", "") == promoted; },
      absl::Seconds(30)))
      << "a joined " << Status(**a).value("supernode", "") << ", not "
      << promoted;
  // Once the index itself has a's file (p forwards it within its batch
  // delay), it must always find it.
  {
    FindabilityWatch first(cluster_->index_address(), cluster_->dsn(),
                           "handoff keeper", "handoff keeper.ogg");
    ASSERT_TRUE(WaitUntil([&] { return first.last_round_found(); },
                          absl::Seconds(30)));
  }
  FindabilityWatch watch(cluster_->index_address(), cluster_->dsn(),
                         "handoff keeper", "handoff keeper.ogg");
  // The load goes: two reporting peers (p and a) want one supernode.
  for (PeerHandle* peer : load) peer->process->Stop(absl::Seconds(10));

  // p is demoted and drains; a moves to the permanent supernode while p
  // still serves.
  bool moved_while_serving = false;
  std::string p_role, p_hosted;
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::string on = Status(**a).value("supernode", "");
        nlohmann::json ps = Status(**p);
        p_role = ps.value("role", "");
        p_hosted = ps.value("hosted_supernode", "");
        if (on == permanent) {
          // p may not have heard of its demotion yet (the leaf and p each
          // learn it from their own next report), but it must still serve.
          moved_while_serving =
              (p_role == "draining" || p_role == "supernode") &&
              p_hosted == promoted;
          return true;
        }
        return false;
      },
      absl::Seconds(60)))
      << "p is " << p_role << " on '" << p_hosted << "'";
  EXPECT_TRUE(moved_while_serving) << "p was " << p_role << " on '" << p_hosted
                                   << "' when a had moved";
  // Then p stops serving; it stays a peer.
  ASSERT_TRUE(WaitUntil(
      [&] {
        nlohmann::json ps = Status(**p);
        return ps.value("role", "") == "leaf" &&
               ps.value("hosted_supernode", "").empty();
      },
      absl::Seconds(60)))
      << Status(**p).dump();
  // Past the end of p's lease, a's file is still there.
  absl::SleepFor(absl::Seconds(6));
  watch.Stop();
  EXPECT_GT(watch.rounds(), 10);
  EXPECT_EQ(watch.searches_missing(), 0) << watch.last_error();
  EXPECT_EQ(watch.rows_missing(), 0);
  EXPECT_EQ(Status(**a).value("supernode", ""), permanent);
  pqxx::connection c(cluster_->dsn());
  pqxx::nontransaction tx(c);
  EXPECT_EQ(tx.exec("SELECT count(*) FROM supernode_keys WHERE kind ="
                    " 'promoted' AND revoked_at IS NOT NULL")[0][0]
                .as<int>(),
            1);
}

}  // namespace
}  // namespace trove
