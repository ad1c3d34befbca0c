// Supernode failure and index outage over the real binaries, PostgreSQL
// and TLS: leaves of a supernode killed with SIGKILL move to their backup
// and stay findable and downloadable; a peer that died with it leaves the
// search once the dead supernode's lease ends. With the index killed,
// searches and downloads across supernodes go on, and once it is back the
// catalog equals what the live peers share.
#include <signal.h>
#include <sys/stat.h>

#include <set>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster.h"

namespace trove {
namespace {

using testutil::Cluster;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::SameFile;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

class FailoverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    // A short lease, so that the test sees the dead supernode's rows go.
    ASSERT_TRUE(cluster_
                    ->StartIndex({"--lease_seconds=3", "--renew_every_seconds=1",
                                  "--expire_interval_ms=500"})
                    .ok())
        << cluster_->LogTails();
    ASSERT_TRUE(cluster_->StartSupernode().ok()) << cluster_->LogTails();
    absl::StatusOr<std::string> sn2 = cluster_->StartOtherSupernode("sn2");
    ASSERT_TRUE(sn2.ok()) << sn2.status();
    sn2_ = *sn2;
  }

  void TearDown() override {
    if (HasFailure() && cluster_) std::cerr << cluster_->LogTails();
  }

  PeerHandle* StartPeer(const std::string& name,
                        std::vector<std::string> flags = {}) {
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeer(name, flags);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : nullptr;
  }

  // A field of `status --json` from `peer` ("" if none).
  std::string StatusField(const PeerHandle& peer, const std::string& field) {
    CommandResult r = cluster_->Cli(peer, {"status", "--json"});
    if (r.exit_code != 0) return "";
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains(field)) return "";
    return j[field].get<std::string>();
  }

  // The supernode `peer` is joined to ("" if none).
  std::string SupernodeOf(const PeerHandle& peer) {
    return StatusField(peer, "supernode");
  }

  // Waits until `peer` knows `backup` as its backup supernode.
  bool WaitForBackup(const PeerHandle& peer, const std::string& backup) {
    return WaitUntil(
        [&] { return StatusField(peer, "backup") == backup; },
        absl::Seconds(20));
  }

  // The cids of every hit of `query` seen from `peer`.
  std::set<std::string> Cids(const PeerHandle& peer, const std::string& query) {
    std::set<std::string> out;
    absl::StatusOr<nlohmann::json> j = cluster_->Search(peer, query);
    if (!j.ok() || !j->contains("hits")) return out;
    for (const auto& hit : (*j)["hits"]) out.insert(hit.value("cid", ""));
    return out;
  }

  std::string WaitForCid(const PeerHandle& peer, const std::string& query,
                         const std::string& name) {
    std::string cid;
    WaitUntil(
        [&] {
          cid = cluster_->FindCid(peer, query, name);
          return !cid.empty();
        },
        absl::Seconds(30));
    return cid;
  }

  std::unique_ptr<Cluster> cluster_;
  std::string sn2_;
};

TEST_F(FailoverTest, LeavesOfAKilledSupernodeMoveToTheirBackup) {
  // a, b and c join the first supernode; d joins the second.
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  PeerHandle* c = StartPeer("c");
  PeerHandle* d = StartPeer("d", {absl::StrCat("--supernode=", sn2_)});
  ASSERT_TRUE(a && b && c && d);
  ASSERT_TRUE(WriteRandomFile(a->share_dir + "/alpha_failover.bin", 300000, 1).ok());
  ASSERT_TRUE(WriteRandomFile(b->share_dir + "/bravo_failover.bin", 200000, 2).ok());
  ASSERT_TRUE(WriteRandomFile(c->share_dir + "/charlie_failover.bin", 100000, 3).ok());
  const std::string alpha = WaitForCid(*d, "alpha_failover", "alpha_failover.bin");
  const std::string charlie =
      WaitForCid(*d, "charlie_failover", "charlie_failover.bin");
  ASSERT_FALSE(alpha.empty());
  ASSERT_FALSE(charlie.empty());
  ASSERT_FALSE(WaitForCid(*d, "bravo_failover", "bravo_failover.bin").empty());
  const std::string sn1 = cluster_->supernode_address();
  ASSERT_EQ(SupernodeOf(*a), sn1);
  // The first supernode learns of the second at a renewal (every second
  // here) and passes it to its leaves on their Watch streams: their backup.
  for (PeerHandle* p : {a, b}) {
    ASSERT_TRUE(WaitForBackup(*p, sn2_))
        << p->name << "'s backup is '" << StatusField(*p, "backup") << "'";
  }

  // The first supernode dies, and c with it.
  cluster_->supernode()->Signal(SIGKILL);
  c->process->Signal(SIGKILL);

  // a and b move to the second supernode without waiting for a heartbeat.
  for (PeerHandle* p : {a, b}) {
    EXPECT_TRUE(WaitUntil([&] { return SupernodeOf(*p) == sn2_; },
                          absl::Seconds(20)))
        << p->name << " is joined to '" << SupernodeOf(*p) << "'";
  }
  // Their files are found through it, and download.
  EXPECT_EQ(WaitForCid(*b, "alpha_failover", "alpha_failover.bin"), alpha);
  const std::string out = cluster_->work_dir() + "/dl";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  CommandResult got = cluster_->Cli(*d, {"get", alpha, "-o", out});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_TRUE(SameFile(a->share_dir + "/alpha_failover.bin",
                       out + "/alpha_failover.bin"));

  // Once the dead supernode's lease ended, no search points at c, which
  // died with it; a's file is still there (it belongs to sn2 now).
  EXPECT_TRUE(WaitUntil(
      [&] { return Cids(*d, "charlie_failover").count(charlie) == 0; },
      absl::Seconds(20)));
  EXPECT_EQ(Cids(*d, "alpha_failover").count(alpha), 1u);
}

// The names every source row in the catalog carries, or an error text.
std::multiset<std::string> CatalogNames(const std::string& dsn) {
  std::multiset<std::string> out;
  try {
    pqxx::connection c(dsn);
    pqxx::work tx(c);
    for (const pqxx::row& row :
         tx.exec("SELECT name FROM sources WHERE NOT partial")) {
      out.insert(row[0].as<std::string>());
    }
  } catch (const std::exception& e) {
    out.insert(absl::StrCat("error: ", e.what()));
  }
  return out;
}

TEST_F(FailoverTest, IndexOutageLosesNothing) {
  PeerHandle* a = StartPeer("a");
  PeerHandle* d = StartPeer("d", {absl::StrCat("--supernode=", sn2_)});
  ASSERT_TRUE(a && d);
  ASSERT_TRUE(WriteRandomFile(a->share_dir + "/before_outage.bin", 250000, 7).ok());
  ASSERT_TRUE(WriteRandomFile(d->share_dir + "/delta_own.bin", 1000, 8).ok());
  const std::string before = WaitForCid(*d, "before_outage", "before_outage.bin");
  ASSERT_FALSE(before.empty());
  ASSERT_FALSE(WaitForCid(*a, "delta_own", "delta_own.bin").empty());
  // Both supernodes learned of each other from the index (renewals every
  // second) before it goes: each passed the other to its leaf as backup.
  ASSERT_TRUE(WaitForBackup(*a, sn2_)) << StatusField(*a, "backup");
  ASSERT_TRUE(WaitForBackup(*d, cluster_->supernode_address()))
      << StatusField(*d, "backup");

  const std::string index_address = cluster_->index_address();
  cluster_->index()->Signal(SIGKILL);
  ASSERT_TRUE(cluster_->index()->Wait(absl::Seconds(10)).ok());

  // A file added during the outage; found from the other supernode's leaf
  // through the supernodes alone, as is the older one.
  ASSERT_TRUE(WriteRandomFile(a->share_dir + "/during_outage.bin", 150000, 9).ok());
  const std::string during = WaitForCid(*d, "during_outage", "during_outage.bin");
  EXPECT_FALSE(during.empty());
  EXPECT_EQ(cluster_->FindCid(*d, "before_outage", "before_outage.bin"), before);
  // And downloads (into d's shared folder), its sources located through
  // the supernodes.
  CommandResult got = cluster_->Cli(*d, {"get", during, "-o", d->share_dir});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_TRUE(SameFile(a->share_dir + "/during_outage.bin",
                       d->share_dir + "/during_outage.bin"));
  // d shares what it downloaded; a removes its older file meanwhile.
  ASSERT_EQ(::unlink((a->share_dir + "/before_outage.bin").c_str()), 0);
  absl::SleepFor(absl::Seconds(2));

  // The index returns on the same address; the catalog converges to what
  // the live peers share.
  ASSERT_TRUE(cluster_
                  ->StartIndex({"--lease_seconds=3", "--renew_every_seconds=1",
                                "--expire_interval_ms=500"},
                               index_address)
                  .ok())
      << cluster_->LogTails();
  const std::multiset<std::string> truth = {
      "delta_own.bin", "during_outage.bin", "during_outage.bin"};
  std::multiset<std::string> catalog;
  EXPECT_TRUE(WaitUntil(
      [&] {
        catalog = CatalogNames(cluster_->dsn());
        return catalog == truth;
      },
      absl::Seconds(30)))
      << "catalog: " << ::testing::PrintToString(catalog);
}

}  // namespace
}  // namespace trove
