// failover_bench: how long failover and the index's catch-up take, over the
// real binaries, PostgreSQL and TLS, with the supernodes' and the index's
// default flags.
//
//   bazel run -c opt //bench:failover_bench -- [--runs=5]
//
// Failover: a leaf sharing files on supernode 1, supernode 2 beside it;
// SIGKILL of supernode 1; the time until PostgreSQL holds the leaf's files
// through supernode 2 (the leaf noticed, joined its backup, re-published,
// and supernode 2 forwarded the full list).
// Catch-up: SIGKILL of the index; a file added at the leaf during the
// outage; the index restarted on the same address; the time from its
// return (ready) until the new file is in the catalog.
// Each run starts a fresh community; the medians are printed at the end.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/harness/cluster.h"

ABSL_FLAG(int, runs, 5, "runs of each measurement");
ABSL_FLAG(int, files, 50, "files the leaf shares");

namespace trove {
namespace {

using testutil::Cluster;
using testutil::PeerHandle;
using testutil::WriteRandomFile;

// Supernodes with their default intervals (the harness starts them with
// short ones for tests).
const std::vector<std::string> kDefaultSupernodeFlags = {
    "--batch_max_delay_ms=2000", "--session_timeout_ms=90000",
    "--heartbeat_interval_ms=30000", "--renew_interval_ms=0"};

int64_t Count(const std::string& dsn, const std::string& sql,
              const std::string& param) {
  try {
    pqxx::connection c(dsn);
    pqxx::work tx(c);
    return tx.exec_params1(sql, param)[0].as<int64_t>();
  } catch (const std::exception& e) {
    return -1;
  }
}

// Polls `sql` every 10 ms until it counts more than zero, up to `limit`.
// Returns the time taken from `start`, or -1 s.
absl::Duration WaitForRows(const std::string& dsn, const std::string& sql,
                           const std::string& param, absl::Time start,
                           absl::Duration limit) {
  while (absl::Now() - start < limit) {
    if (Count(dsn, sql, param) > 0) return absl::Now() - start;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return absl::Seconds(-1);
}

absl::StatusOr<std::unique_ptr<Cluster>> Community(std::string* sn2) {
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
  if (!c.ok()) return c.status();
  if (absl::Status s = (*c)->StartIndex(); !s.ok()) return s;
  if (absl::Status s = (*c)->StartSupernode(kDefaultSupernodeFlags); !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> other =
      (*c)->StartOtherSupernode("sn2", kDefaultSupernodeFlags);
  if (!other.ok()) return other.status();
  *sn2 = *other;
  return c;
}

absl::StatusOr<PeerHandle*> SharingLeaf(Cluster& c, int files) {
  absl::StatusOr<PeerHandle*> leaf = c.StartPeer("leaf");
  if (!leaf.ok()) return leaf.status();
  for (int i = 0; i < files; ++i) {
    absl::Status s = WriteRandomFile(
        absl::StrCat((*leaf)->share_dir, "/bench_file_", i, ".bin"), 4096, i);
    if (!s.ok()) return s;
  }
  return leaf;
}

absl::StatusOr<absl::Duration> FailoverOnce(int files) {
  std::string sn2;
  absl::StatusOr<std::unique_ptr<Cluster>> c = Community(&sn2);
  if (!c.ok()) return c.status();
  Cluster& cluster = **c;
  absl::StatusOr<PeerHandle*> leaf = SharingLeaf(cluster, files);
  if (!leaf.ok()) return leaf.status();
  const std::string dsn = cluster.dsn();
  const std::string all_files =
      "SELECT CASE WHEN count(*) >= " + std::to_string(files) +
      " THEN 1 ELSE 0 END FROM sources s JOIN supernodes n"
      " ON n.supernode_id = s.supernode_id WHERE n.address = $1";
  // Published through supernode 1, and supernode 1 knows supernode 2 (a
  // renewal after supernode 2 registered: the leaf has a backup).
  if (WaitForRows(dsn, all_files, cluster.supernode_address(), absl::Now(),
                  absl::Seconds(60)) < absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the leaf's files never reached the index");
  }
  absl::SleepFor(absl::Seconds(25));  // one renewal (20 s) after both registered
  const absl::Time start = absl::Now();
  cluster.supernode()->Signal(SIGKILL);
  absl::Duration took =
      WaitForRows(dsn, all_files, sn2, start, absl::Seconds(120));
  if (took < absl::ZeroDuration()) {
    return absl::DeadlineExceededError(
        absl::StrCat("no failover within 120 s\n", cluster.LogTails()));
  }
  return took;
}

absl::StatusOr<absl::Duration> CatchUpOnce(int files) {
  std::string sn2;
  absl::StatusOr<std::unique_ptr<Cluster>> c = Community(&sn2);
  if (!c.ok()) return c.status();
  Cluster& cluster = **c;
  absl::StatusOr<PeerHandle*> leaf = SharingLeaf(cluster, files);
  if (!leaf.ok()) return leaf.status();
  const std::string dsn = cluster.dsn();
  const std::string named = "SELECT count(*) FROM sources WHERE name = $1";
  if (WaitForRows(dsn, named, "bench_file_0.bin", absl::Now(),
                  absl::Seconds(60)) < absl::ZeroDuration()) {
    return absl::DeadlineExceededError("the leaf's files never reached the index");
  }
  const std::string address = cluster.index_address();
  cluster.index()->Signal(SIGKILL);
  cluster.index()->Wait(absl::Seconds(10)).IgnoreError();
  absl::SleepFor(absl::Seconds(2));
  if (absl::Status s = WriteRandomFile(
          absl::StrCat((*leaf)->share_dir, "/during_outage.bin"), 4096, 999);
      !s.ok()) {
    return s;
  }
  absl::SleepFor(absl::Seconds(8));  // rescanned, published to the supernode
  if (absl::Status s = cluster.StartIndex({}, address); !s.ok()) return s;
  const absl::Time back = absl::Now();
  absl::Duration took =
      WaitForRows(dsn, named, "during_outage.bin", back, absl::Seconds(120));
  if (took < absl::ZeroDuration()) {
    return absl::DeadlineExceededError(
        absl::StrCat("no catch-up within 120 s\n", cluster.LogTails()));
  }
  return took;
}

std::string Median(std::vector<absl::Duration> v) {
  if (v.empty()) return "n/a";
  std::sort(v.begin(), v.end());
  return absl::FormatDuration(v[v.size() / 2]);
}

int Main(int runs, int files) {
  std::vector<absl::Duration> failover, catch_up;
  for (int i = 0; i < runs; ++i) {
    absl::StatusOr<absl::Duration> f = FailoverOnce(files);
    if (!f.ok()) {
      std::cerr << "failover run " << i + 1 << ": " << f.status() << "\n";
      return 1;
    }
    failover.push_back(*f);
    std::cout << "failover run " << i + 1 << ": " << absl::FormatDuration(*f)
              << std::endl;
  }
  for (int i = 0; i < runs; ++i) {
    absl::StatusOr<absl::Duration> u = CatchUpOnce(files);
    if (!u.ok()) {
      std::cerr << "catch-up run " << i + 1 << ": " << u.status() << "\n";
      return 1;
    }
    catch_up.push_back(*u);
    std::cout << "catch-up run " << i + 1 << ": " << absl::FormatDuration(*u)
              << std::endl;
  }
  std::cout << "failover (SIGKILL of the supernode -> " << files
            << " files held through the backup), median of " << runs << ": "
            << Median(failover) << "\n"
            << "index outage catch-up (index ready -> file added during the "
               "outage in the catalog), median of "
            << runs << ": " << Median(catch_up) << std::endl;
  return 0;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "failover_bench: SIGKILL of a supernode to the leaf's files held "
      "through its backup, and index outage catch-up, medians over --runs.\n"
      "  bazel run -c opt //bench:failover_bench -- [--runs=5] [--files=50]");
  absl::ParseCommandLine(argc, argv);
  return trove::Main(absl::GetFlag(FLAGS_runs), absl::GetFlag(FLAGS_files));
}
