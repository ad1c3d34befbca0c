// watch_load: what 1,000 leaves, each holding its Watch stream, cost a
// supernode: its memory, threads and CPU with no leaves and with --leaves,
// side by side, in one run.
//
//   bazel run -c opt //bench:watch_load -- [--leaves=1000] [--seconds=20]
//
// Starts an index (fresh PostgreSQL) and a standalone supernode with
// default flags (plaintext: the load generator's leaves are real Ed25519
// identities, each signing its own Challenge/Join, but share a few TLS-less
// connections), reads the supernode's /proc figures idle, then joins the
// leaves (each publishes a small list and opens SupernodeService.Watch),
// heartbeats them at the supernode's interval, and reads the figures again
// over --seconds.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/proc_figures.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "peer_client/supernode_watch.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/cluster.h"

ABSL_FLAG(int, leaves, 1000, "leaves to attach, each with its Watch stream");
ABSL_FLAG(int, leaves_per_connection, 25, "leaves sharing one connection");
ABSL_FLAG(int, seconds, 20, "measuring window, idle and loaded");

namespace trove {
namespace {

struct Leaf {
  std::unique_ptr<Identity> identity;
  supernode::SupernodeService::Stub* stub = nullptr;
  std::string session;
  std::unique_ptr<WatchStream> watch;
};

absl::Status Attach(Leaf& leaf, int n) {
  grpc::ClientContext c1;
  c1.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  supernode::ChallengeResponse challenge;
  grpc::Status s = leaf.stub->Challenge(&c1, {}, &challenge);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  supernode::JoinRequest join;
  join.set_public_key(leaf.identity->public_key());
  join.set_nonce(challenge.nonce());
  join.set_listen_address(absl::StrCat("127.0.0.1:", 20000 + n));
  absl::StatusOr<std::string> sig = leaf.identity->Sign(
      JoinSignedMessage(challenge.nonce(), join.listen_address()));
  if (!sig.ok()) return sig.status();
  join.set_signature(*sig);
  join.set_work(SolveJoinWork(challenge.nonce(), join.public_key(),
                              challenge.work_bits()));
  grpc::ClientContext c2;
  c2.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  supernode::JoinResponse joined;
  s = leaf.stub->Join(&c2, join, &joined);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  leaf.session = joined.session();
  leaf.watch = WatchStream::Open(
      leaf.stub, leaf.session, [](const supernode::SupernodeEvent&) {},
      [](const absl::Status&) {});
  return absl::OkStatus();
}

int Main() {
  const int n = absl::GetFlag(FLAGS_leaves);
  const int per_conn = std::max(1, absl::GetFlag(FLAGS_leaves_per_connection));
  const absl::Duration window = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  testutil::ClusterOptions co;
  co.tls = false;
  absl::StatusOr<std::unique_ptr<testutil::Cluster>> c =
      testutil::Cluster::Create(co);
  if (!c.ok()) {
    std::cerr << c.status() << "\n";
    return 1;
  }
  testutil::Cluster& cluster = **c;
  if (absl::Status s = cluster.StartIndex(); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  if (absl::Status s = cluster.StartSupernode(
          {"--batch_max_delay_ms=2000", "--session_timeout_ms=90000",
           "--heartbeat_interval_ms=30000", "--renew_interval_ms=0",
           // The leaves all come from one address.
           "--leaf_join_rate=0",
           absl::StrCat("--max_leaves=", n + 10)});
      !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  const pid_t pid = cluster.supernode()->pid();
  absl::SleepFor(absl::Seconds(2));
  const ProcFigures idle0 = ReadProcFigures(pid);
  absl::SleepFor(window);
  const ProcFigures idle1 = ReadProcFigures(pid);

  std::vector<std::unique_ptr<supernode::SupernodeService::Stub>> stubs;
  std::vector<Leaf> leaves(n);
  const absl::Time join_start = absl::Now();
  for (int i = 0; i < n; ++i) {
    if (i % per_conn == 0) {
      grpc::ChannelArguments args;
      args.SetInt("trove.bench.connection", i / per_conn);  // own connection
      stubs.push_back(supernode::SupernodeService::NewStub(
          grpc::CreateCustomChannel(cluster.supernode_address(),
                                    grpc::InsecureChannelCredentials(), args)));
    }
    absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
    if (!id.ok()) return 1;
    leaves[i].identity = std::move(*id);
    leaves[i].stub = stubs.back().get();
    if (absl::Status s = Attach(leaves[i], i); !s.ok()) {
      std::cerr << "leaf " << i << ": " << s << "\n";
      return 1;
    }
    if ((i + 1) % 200 == 0) std::cerr << (i + 1) << " leaves attached\n";
  }
  const absl::Duration join_time = absl::Now() - join_start;
  absl::SleepFor(absl::Seconds(2));
  const ProcFigures loaded0 = ReadProcFigures(pid);
  absl::SleepFor(window);
  const ProcFigures loaded1 = ReadProcFigures(pid);
  int open = 0;
  for (const Leaf& l : leaves) open += l.watch && !l.watch->ended();

  const double secs = absl::ToDoubleSeconds(window);
  std::cout << "supernode with 0 leaves: RSS " << idle1.rss_kib << " KiB, "
            << idle1.threads << " threads, CPU "
            << (idle1.cpu_seconds - idle0.cpu_seconds) / secs * 100 << "%\n"
            << "supernode with " << n << " leaves (" << open
            << " Watch streams open): RSS " << loaded1.rss_kib << " KiB, "
            << loaded1.threads << " threads, CPU "
            << (loaded1.cpu_seconds - loaded0.cpu_seconds) / secs * 100
            << "%\n"
            << "per 1,000 leaves: +"
            << (loaded1.rss_kib - idle1.rss_kib) * 1000 / std::max(n, 1)
            << " KiB, +"
            << (loaded1.threads - idle1.threads) * 1000.0 / std::max(n, 1)
            << " threads; attaching took " << absl::FormatDuration(join_time)
            << "\n";
  for (Leaf& l : leaves) l.watch.reset();
  return open == n ? 0 : 1;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "watch_load: a supernode's memory, threads and CPU idle and with "
      "--leaves leaves each holding its Watch stream.\n"
      "  bazel run -c opt //bench:watch_load -- [--leaves=1000] [--seconds=20]");
  absl::ParseCommandLine(argc, argv);
  return trove::Main();
}
