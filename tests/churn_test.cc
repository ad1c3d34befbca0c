// Churn over the real binaries, PostgreSQL and TLS: two standalone
// supernodes, six `peer_client daemon`s given only the community link (the
// election, with a target of two leaves per supernode, promotes some of
// them: their in-process supernodes take leaves too) and 200 leaves in a
// churn_leaves process (each its own identity, certificate, connections
// and port, running the peer's own session code). For a bounded time the
// leaves join, leave cleanly, die (connections dropped, no Leave) and
// change their lists at random, and the test kills, stops, restarts and
// edits the daemons. Afterwards, once the dead ones' presences and leases
// ran out: the catalog in PostgreSQL is exactly the union of what the live
// peers share, as (peer id, cid, name), and every live peer is joined to a
// live supernode.
//
// The random choices come from one seed, printed; TROVE_CHURN_SEED=N
// repeats a run's choices (timing still differs).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/community_files.h"
#include "common/merkle.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster_fixture.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

using testutil::ChildProcess;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::Slurp;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

using Row = std::tuple<std::string, std::string, std::string>;  // peer, cid, name

constexpr int kDaemons = 6;
constexpr int kLeaves = 200;
constexpr int kChurnSeconds = 35;

uint64_t Seed() {
  const char* env = std::getenv("TROVE_CHURN_SEED");
  uint64_t seed = 0;
  if (env != nullptr && absl::SimpleAtoi(env, &seed) && seed != 0) return seed;
  return static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())) | 1;
}

// The cid of a file under 1 MiB (one chunk).
std::string SmallFileCid(const std::string& path) {
  const std::string data = Slurp(path);
  return ComputeCid({Sha256(data)}, static_cast<int64_t>(data.size()));
}

// (cid, name) of every visible file directly in `dir`.
std::vector<std::pair<std::string, std::string>> SharedFiles(
    const std::string& dir) {
  std::vector<std::pair<std::string, std::string>> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name[0] == '.') continue;
    out.emplace_back(SmallFileCid(dir + "/" + name), name);
  }
  ::closedir(d);
  return out;
}

std::string Describe(const std::set<Row>& rows, size_t limit = 15) {
  std::string out;
  size_t n = 0;
  for (const auto& [peer, cid, name] : rows) {
    if (n++ == limit) {
      absl::StrAppend(&out, "  ... ", rows.size() - limit, " more\n");
      break;
    }
    absl::StrAppend(&out, "  ", peer.substr(0, 12), " ", cid.substr(0, 12),
                    " ", name, "\n");
  }
  return out;
}

class ChurnTest : public testutil::ClusterTest {
 protected:
  nlohmann::json Status(const PeerHandle& peer) {
    CommandResult r =
        cluster_->Cli(peer, {"status", "--json"}, absl::Seconds(20));
    if (r.exit_code != 0) return nlohmann::json();
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json() : j;
  }

  // Asks churn_leaves for its state (SIGUSR1) and reads it.
  nlohmann::json LeafState() {
    ::unlink(state_path_.c_str());
    driver_->Signal(SIGUSR1);
    nlohmann::json state;
    WaitUntil(
        [&] {
          std::string text = Slurp(state_path_);
          if (text.empty()) return false;
          state = nlohmann::json::parse(text, nullptr, false);
          return !state.is_discarded();
        },
        absl::Seconds(20));
    return state;
  }

  std::set<Row> Catalog() {
    std::set<Row> rows;
    pqxx::connection c(cluster_->dsn());
    pqxx::nontransaction tx(c);
    for (const pqxx::row& row :
         tx.exec("SELECT peer_id, cid, name, partial FROM sources")) {
      rows.emplace(row[0].as<std::string>(), row[1].as<std::string>(),
                   row[2].as<std::string>() +
                       (row[3].as<bool>() ? " (partial)" : ""));
    }
    return rows;
  }

  int PromotedKeys() {
    pqxx::connection c(cluster_->dsn());
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT count(*) FROM supernode_keys WHERE kind = "
                   "'promoted'")[0][0]
        .as<int>();
  }

  absl::Status StartDaemon(const std::string& name) {
    return cluster_
        ->StartPeerWithLink(name,
                            {"--max_backoff_ms=1000",
                             "--first_publish_wait_ms=100",
                             "--supernode_heartbeat_interval_ms=1000",
                             "--supernode_session_timeout_ms=4000",
                             // Every leaf of the test shares one address.
                             "--supernode_leaf_join_rate=0"})
        .status();
  }

  std::string state_path_;
  std::unique_ptr<ChildProcess> driver_;
};

TEST_F(ChurnTest, CatalogEqualsWhatLivePeersShareAfterChurn) {
  const uint64_t seed = Seed();
  std::cout << "churn seed " << seed << " (TROVE_CHURN_SEED=" << seed
            << " repeats the random choices)" << std::endl;
  std::mt19937_64 rng(seed);

  ASSERT_TRUE(cluster_
                  ->StartIndex({"--lease_seconds=5", "--renew_every_seconds=1",
                                "--expire_interval_ms=500",
                                // A leaf dying before its first presence
                                // reaches the index goes after this.
                                "--presence_grace_seconds=8",
                                "--target_leaves_per_supernode=2",
                                "--min_supernodes=2",
                                "--election_interval_ms=500",
                                "--report_every_seconds=1",
                                "--election_bootstrap_min_uptime_seconds=1",
                                "--election_min_uptime_seconds=2"})
                  .ok());
  // Two permanent supernodes, heartbeats every second (the harness's 300 ms
  // is too busy for 200 leaves on a small machine).
  // Every leaf of the test joins from one address: no per-address limit.
  const std::vector<std::string> sn_flags = {"--heartbeat_interval_ms=1000",
                                             "--session_timeout_ms=4000",
                                             "--max_leaves=1000",
                                             "--leaf_join_rate=0"};
  ASSERT_TRUE(cluster_->StartSupernode(sn_flags).ok());
  absl::StatusOr<std::string> sn2 =
      cluster_->StartOtherSupernode("sn2", sn_flags);
  ASSERT_TRUE(sn2.ok()) << sn2.status();
  const std::set<std::string> permanent = {cluster_->supernode_address(), *sn2};

  // The daemons, each sharing two small files.
  std::vector<std::string> daemons;
  std::map<std::string, bool> running;
  std::map<std::string, int> next_file;
  for (int i = 0; i < kDaemons; ++i) {
    const std::string name = absl::StrCat("d", i);
    ASSERT_TRUE(StartDaemon(name).ok());
    daemons.push_back(name);
    running[name] = true;
    for (int f = 0; f < 2; ++f) {
      ASSERT_TRUE(WriteRandomFile(absl::StrCat(cluster_->peer(name)->share_dir,
                                               "/", name, " own", next_file[name]++,
                                               ".dat"),
                                  1000 + rng() % 5000, rng())
                      .ok());
    }
  }
  std::map<std::string, std::string> peer_ids;  // daemon name -> peer id
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const std::string& d : daemons) {
          if (peer_ids.count(d)) continue;
          nlohmann::json s = Status(*cluster_->peer(d));
          if (!s.is_object() || s.value("peer_id", "").empty()) return false;
          peer_ids[d] = s.value("peer_id", "");
        }
        return true;
      },
      absl::Seconds(60)));

  // The leaves.
  state_path_ = cluster_->work_dir() + "/churn_state.json";
  const std::string ready = cluster_->work_dir() + "/churn.ready";
  auto driver = ChildProcess::Start(
      {testutil::RunfilePath("tests/churn_leaves"),
       absl::StrCat("--index=", cluster_->index_address()),
       absl::StrCat("--tls_ca=", cluster_->community_dir(), "/", kCaCertFile),
       absl::StrCat("--leaves=", kLeaves), absl::StrCat("--seed=", seed),
       absl::StrCat("--churn_seconds=", kChurnSeconds),
       "--events_per_second=8", absl::StrCat("--state_out=", state_path_),
       absl::StrCat("--ready_file=", ready)},
      cluster_->work_dir() + "/churn_leaves.log");
  ASSERT_TRUE(driver.ok()) << driver.status();
  driver_ = std::move(*driver);
  absl::StatusOr<std::string> joined =
      testutil::WaitForReadyFile(ready, absl::Seconds(180));
  ASSERT_TRUE(joined.ok()) << joined.status() << "\n"
                           << Slurp(cluster_->work_dir() + "/churn_leaves.log");
  const absl::Time churn_end = absl::Now() + absl::Seconds(kChurnSeconds);

  // Meanwhile the daemons churn too: one event every ~3 s.
  int kills = 0, stops = 0, restarts = 0, edits = 0;
  while (absl::Now() + absl::Seconds(3) < churn_end) {
    absl::SleepFor(absl::Seconds(3));
    std::vector<std::string> up, down;
    for (const std::string& d : daemons) (running[d] ? up : down).push_back(d);
    const int r = static_cast<int>(rng() % 100);
    if (!down.empty() && (r < 35 || up.size() < 4)) {
      const std::string d = down[rng() % down.size()];
      ASSERT_TRUE(StartDaemon(d).ok()) << d;
      running[d] = true;
      ++restarts;
    } else if (r < 50) {
      const std::string d = up[rng() % up.size()];
      cluster_->peer(d)->process->Signal(SIGKILL);
      cluster_->peer(d)->process->Wait(absl::Seconds(10)).IgnoreError();
      running[d] = false;
      ++kills;
    } else if (r < 65) {
      const std::string d = up[rng() % up.size()];
      cluster_->peer(d)->process->Stop(absl::Seconds(10));
      running[d] = false;
      ++stops;
    } else {
      const std::string d = up[rng() % up.size()];
      const std::string dir = cluster_->peer(d)->share_dir;
      std::vector<std::pair<std::string, std::string>> files = SharedFiles(dir);
      if (!files.empty() && rng() % 2 == 0) {
        ::unlink((dir + "/" + files[rng() % files.size()].second).c_str());
      } else {
        ASSERT_TRUE(WriteRandomFile(absl::StrCat(dir, "/", d, " own",
                                                 next_file[d]++, ".dat"),
                                    1000 + rng() % 5000, rng())
                        .ok());
      }
      ++edits;
    }
  }
  std::cout << "daemons: " << kills << " killed, " << stops << " stopped, "
            << restarts << " restarted, " << edits << " list edits"
            << std::endl;
  ASSERT_TRUE(WaitUntil([&] { return LeafState().value("churn_done", false); },
                        absl::Seconds(60)));

  // Settle: the dead leaves' presences (7 s) and dead supernodes' leases
  // (5 s) run out, moved leaves republish. Poll until the catalog is the
  // truth, for at most a bounded time.
  std::set<Row> truth, catalog;
  std::vector<std::string> unattached;
  int live_leaves = 0, promoted_serving = 0;
  const bool settled = WaitUntil(
      [&] {
        truth.clear();
        unattached.clear();
        promoted_serving = 0;
        std::set<std::string> live_supernodes = permanent;
        std::map<std::string, std::string> daemon_supernode;
        for (const std::string& d : daemons) {
          if (!running[d]) continue;
          nlohmann::json s = Status(*cluster_->peer(d));
          if (!s.is_object()) {
            unattached.push_back(d + " (no status)");
            continue;
          }
          if (s.value("role", "") == "supernode" &&
              !s.value("hosted_supernode", "").empty()) {
            live_supernodes.insert(s.value("hosted_supernode", ""));
            ++promoted_serving;
          }
          daemon_supernode[d] = s.value("supernode", "");
          for (const auto& [cid, name] :
               SharedFiles(cluster_->peer(d)->share_dir)) {
            truth.emplace(peer_ids[d], cid, name);
          }
        }
        for (const auto& [d, sn] : daemon_supernode) {
          if (!live_supernodes.count(sn)) unattached.push_back(d + " on '" + sn + "'");
        }
        nlohmann::json state = LeafState();
        if (!state.is_object()) {
          unattached.push_back("churn_leaves (no state)");
          return false;
        }
        live_leaves = 0;
        for (const auto& leaf : state["leaves"]) {
          ++live_leaves;
          const std::string peer = leaf.value("peer_id", "");
          const std::string sn = leaf.value("supernode", "");
          if (!live_supernodes.count(sn) || !leaf.value("published", false)) {
            unattached.push_back(absl::StrCat("leaf ", leaf.value("slot", -1),
                                              " on '", sn, "'"));
          }
          for (const auto& f : leaf["files"]) {
            truth.emplace(peer, f.value("cid", ""), f.value("name", ""));
          }
        }
        catalog = Catalog();
        return catalog == truth && unattached.empty();
      },
      absl::Seconds(90));

  std::set<Row> missing, extra;
  std::set_difference(truth.begin(), truth.end(), catalog.begin(),
                      catalog.end(), std::inserter(missing, missing.end()));
  std::set_difference(catalog.begin(), catalog.end(), truth.begin(),
                      truth.end(), std::inserter(extra, extra.end()));
  std::cout << live_leaves << " live leaves, " << truth.size()
            << " files shared by live peers, " << catalog.size()
            << " source rows; " << PromotedKeys() << " promotions, "
            << promoted_serving << " promoted supernodes serving" << std::endl;
  EXPECT_TRUE(settled) << "seed " << seed << "\nin the catalog, not shared ("
                       << extra.size() << "):\n"
                       << Describe(extra) << "shared, not in the catalog ("
                       << missing.size() << "):\n"
                       << Describe(missing) << "not attached ("
                       << unattached.size() << "): "
                       << (unattached.empty() ? "" : unattached[0]) << " ...";
  EXPECT_TRUE(catalog == truth);
  EXPECT_TRUE(unattached.empty());
  if (!extra.empty()) {
    // What the index knows of the peers it should have withdrawn.
    std::set<std::string> peers;
    for (const auto& row : extra) peers.insert(std::get<0>(row));
    pqxx::connection c(cluster_->dsn());
    pqxx::nontransaction tx(c);
    for (const std::string& peer : peers) {
      for (const pqxx::row& row : tx.exec_params(
               "SELECT supernode_id, last_seq, withdrawn,"
               " extract(epoch FROM presence_until - now())::text,"
               " extract(epoch FROM now() - updated_at)::text"
               " FROM peer_chains WHERE peer_id = $1",
               peer)) {
        std::cerr << "chain of " << peer.substr(0, 12) << ": supernode "
                  << row[0].c_str() << " seq " << row[1].c_str()
                  << " withdrawn " << row[2].c_str() << " presence for "
                  << row[3].c_str() << " s, updated " << row[4].c_str()
                  << " s ago\n";
      }
    }
  }
  // The run had something to check.
  EXPECT_GE(live_leaves, kLeaves * 6 / 10);
  EXPECT_GE(PromotedKeys(), 1);
  const std::string log = Slurp(cluster_->work_dir() + "/churn_leaves.log");
  EXPECT_NE(log.find("churn over: "), std::string::npos);
  if (HasFailure()) {
    std::cerr << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  }
  driver_->Stop(absl::Seconds(30));
}

}  // namespace
}  // namespace trove
