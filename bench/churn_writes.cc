// churn_writes: what leaves' churn costs the index's database, side by side
// with the same leaves sitting still, in one run.
//
//   bazel run -c opt //bench:churn_writes -- [--leaves=1000] [--seconds=60]
//       [--events_per_second=5] [--seed=1]
//
// Starts an index (fresh PostgreSQL) and two standalone supernodes with
// their default intervals (heartbeat 30 s, batches within 2 s, renewal at
// the index's pace), then tests/churn_leaves with --leaves leaves (the
// peer's own session code; plaintext, so that TLS handshakes do not crowd
// the two cores: the leaves still sign every change and presence, and the
// index verifies them; the index's join limits are off, since every leaf
// comes from one address without a proven id). Once all joined, it reads PostgreSQL's
// pg_stat_database for the index's database over two windows of --seconds:
// the leaves still (heartbeats, presences, renewals), then churning
// (--events_per_second leaf events: joins, clean leaves, deaths, list
// changes). It prints commits and rows written per second in each, and the
// churn's extra per leaf event.
#include <signal.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/harness/cluster.h"
#include "tests/harness/process.h"

ABSL_FLAG(int, leaves, 1000, "leaves attached over the two supernodes");
ABSL_FLAG(int, seconds, 60, "length of each window, still and churning");
ABSL_FLAG(double, events_per_second, 5, "leaf events per second while churning");
ABSL_FLAG(uint64_t, seed, 1, "seed of the churn's choices");

namespace trove {
namespace {

using testutil::ChildProcess;
using testutil::Cluster;

const std::vector<std::string> kDefaultSupernodeFlags = {
    "--batch_max_delay_ms=2000", "--session_timeout_ms=90000",
    "--heartbeat_interval_ms=30000", "--renew_interval_ms=0",
    "--max_leaves=2000",
    // Every simulated leaf joins from one address.
    "--leaf_join_rate=0"};

struct DbStats {
  int64_t commits = 0;
  int64_t inserted = 0;
  int64_t updated = 0;
  int64_t deleted = 0;
  int64_t sources = 0;
};

absl::StatusOr<DbStats> Read(const std::string& dsn) {
  try {
    pqxx::connection c(dsn);
    pqxx::nontransaction tx(c);
    pqxx::row r = tx.exec1(
        "SELECT xact_commit, tup_inserted, tup_updated, tup_deleted,"
        " (SELECT count(*) FROM sources)"
        " FROM pg_stat_database WHERE datname = current_database()");
    return DbStats{r[0].as<int64_t>(), r[1].as<int64_t>(), r[2].as<int64_t>(),
                   r[3].as<int64_t>(), r[4].as<int64_t>()};
  } catch (const std::exception& e) {
    return absl::UnavailableError(e.what());
  }
}

// The counts of churn_leaves' last "churn over:" line, e.g. "68 joins (36
// as new peers), 77 deaths, 65 clean leaves, 70 list changes; 126 live".
int64_t EventsIn(const std::string& log) {
  const size_t at = log.rfind("churn over: ");
  if (at == std::string::npos) return -1;
  const std::string line = log.substr(at, log.find('\n', at) - at);
  int64_t total = 0;
  for (const char* what : {" joins", " deaths", " clean leaves", " list changes"}) {
    const size_t end = line.find(what);
    if (end == std::string::npos) return -1;
    size_t start = line.rfind(' ', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    if (line[start] == '(') ++start;
    int64_t n = 0;
    if (!absl::SimpleAtoi(line.substr(start, end - start), &n)) return -1;
    total += n;
  }
  return total;
}

void Print(const char* label, const DbStats& a, const DbStats& b,
           double seconds) {
  const int64_t rows =
      (b.inserted - a.inserted) + (b.updated - a.updated) + (b.deleted - a.deleted);
  std::cout << absl::StrFormat(
      "%-9s %8.1f commits/s %9.1f rows/s (inserted %d, updated %d, deleted "
      "%d); sources %d -> %d\n",
      label, (b.commits - a.commits) / seconds, rows / seconds,
      b.inserted - a.inserted, b.updated - a.updated, b.deleted - a.deleted,
      a.sources, b.sources);
}

int Main() {
  const int leaves = absl::GetFlag(FLAGS_leaves);
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const double rate = absl::GetFlag(FLAGS_events_per_second);
  if (leaves <= 0 || seconds <= 0 || rate <= 0) {
    std::cerr << "churn_writes: --leaves, --seconds and --events_per_second "
                 "must be positive\n";
    return 2;
  }
  testutil::ClusterOptions co;
  co.tls = false;
  absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create(co);
  if (!c.ok()) {
    std::cerr << c.status() << "\n";
    return 1;
  }
  Cluster& cluster = **c;
  // Every leaf comes from this one address, and plaintext gives them no
  // proven id: the per-address join limits would stand for a thousand
  // peers behind one NAT.
  if (absl::Status s = cluster.StartIndex(
          {"--join_rate=0", "--join_rate_per_address=0"});
      !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  if (absl::Status s = cluster.StartSupernode(kDefaultSupernodeFlags); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  absl::StatusOr<std::string> sn2 =
      cluster.StartOtherSupernode("sn2", kDefaultSupernodeFlags);
  if (!sn2.ok()) {
    std::cerr << sn2.status() << "\n";
    return 1;
  }
  const std::string ready = cluster.work_dir() + "/churn.ready";
  const std::string log = cluster.work_dir() + "/churn_leaves.log";
  // Joining takes a while; the still window starts once all are in.
  const int delay = 5 + seconds;
  auto driver = ChildProcess::Start(
      {testutil::RunfilePath("tests/churn_leaves"), "--insecure",
       absl::StrCat("--index=", cluster.index_address()),
       absl::StrCat("--leaves=", leaves), "--files_per_leaf=20",
       absl::StrCat("--seed=", absl::GetFlag(FLAGS_seed)),
       absl::StrCat("--churn_delay_seconds=", delay),
       absl::StrCat("--churn_seconds=", seconds),
       absl::StrCat("--events_per_second=", rate),
       absl::StrCat("--ready_file=", ready)},
      log);
  if (!driver.ok()) {
    std::cerr << driver.status() << "\n";
    return 1;
  }
  std::cerr << "churn_writes: " << leaves << " leaves joining...\n";
  absl::StatusOr<std::string> joined =
      testutil::WaitForReadyFile(ready, absl::Seconds(900));
  if (!joined.ok()) {
    std::cerr << joined.status() << "\n" << testutil::Slurp(log);
    return 1;
  }
  const absl::Time t0 = absl::Now() + absl::Seconds(5);
  absl::SleepFor(t0 - absl::Now());  // Let the last lists reach the index.
  absl::StatusOr<DbStats> still0 = Read(cluster.dsn());
  std::cerr << "churn_writes: still window (" << seconds << " s)\n";
  absl::SleepFor(t0 + absl::Seconds(seconds) - absl::Now());
  absl::StatusOr<DbStats> still1 = Read(cluster.dsn());
  std::cerr << "churn_writes: churn window (" << seconds << " s)\n";
  absl::SleepFor(t0 + absl::Seconds(2 * seconds) - absl::Now());
  absl::StatusOr<DbStats> churn1 = Read(cluster.dsn());
  testutil::WaitUntil(
      [&] {
        return testutil::Slurp(log).find("churn over: ") != std::string::npos;
      },
      absl::Seconds(60));
  if (!still0.ok() || !still1.ok() || !churn1.ok()) {
    std::cerr << "cannot read pg_stat_database\n";
    return 1;
  }
  const int64_t events = EventsIn(testutil::Slurp(log));
  std::cout << "churn_writes: " << leaves << " leaves, 20 files each, over 2 "
            << "supernodes (default intervals); " << seconds
            << " s windows; churn at " << rate << " events/s, seed "
            << absl::GetFlag(FLAGS_seed) << "\n";
  Print("still", *still0, *still1, seconds);
  Print("churning", *still1, *churn1, seconds);
  const auto rows = [](const DbStats& a, const DbStats& b) {
    return (b.inserted - a.inserted) + (b.updated - a.updated) +
           (b.deleted - a.deleted);
  };
  if (events > 0) {
    const double extra_commits = static_cast<double>(
        (churn1->commits - still1->commits) - (still1->commits - still0->commits));
    const double extra_rows = static_cast<double>(
        rows(*still1, *churn1) - rows(*still0, *still1));
    std::cout << absl::StrFormat(
        "per leaf event (%d events): +%.2f commits, +%.1f rows over the "
        "still window; churning/still commits %.2fx, rows %.2fx\n",
        events, extra_commits / events, extra_rows / events,
        static_cast<double>(churn1->commits - still1->commits) /
            std::max<int64_t>(1, still1->commits - still0->commits),
        static_cast<double>(rows(*still1, *churn1)) /
            std::max<int64_t>(1, rows(*still0, *still1)));
  } else {
    std::cout << "churn_leaves did not report its events\n";
  }
  (*driver)->Stop(absl::Seconds(60));
  return events > 0 ? 0 : 1;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "churn_writes: the index database's commits and rows written per "
      "second with --leaves leaves still, then churning.\n"
      "  bazel run -c opt //bench:churn_writes -- [--leaves=1000] "
      "[--seconds=60] [--events_per_second=5] [--seed=1]");
  absl::ParseCommandLine(argc, argv);
  return trove::Main();
}
