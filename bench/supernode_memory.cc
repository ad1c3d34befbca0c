// supernode_memory: a supernode's resident memory empty and filled to its
// memory budgets (--max_files, --max_name_bytes; defaults unless given),
// side by side, in one run.
//
//   bazel run -c opt //bench:supernode_memory -- [--files_per_leaf=50000]
//       [--leaves=12] [--min_name_bytes=0]
//       [--supernode_flags=--max_files=N,...]
//
// Starts an index (fresh PostgreSQL) and a standalone supernode with its
// default flags (plaintext; the leaves are real Ed25519 identities, each
// signing its own Challenge/Join), reads the supernode's VmRSS and VmHWM
// from /proc, then joins --leaves leaves one by one, each publishing a full
// list of --files_per_leaf generated files (bench/catalog_gen names), until
// the supernode refuses one with RESOURCE_EXHAUSTED (its budget is spent),
// waits for the changes to reach the index, and reads the figures again.
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
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/catalog_gen.h"
#include "bench/proc_figures.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/cluster.h"

ABSL_FLAG(int, leaves, 12,
          "leaves to join at most (the budget normally stops them first)");
ABSL_FLAG(int, files_per_leaf, 50000, "files in each leaf's full list");
ABSL_FLAG(int, min_name_bytes, 0,
          "lengthen each generated name with vocabulary words to at least "
          "this many bytes (long names fill --max_name_bytes first)");
ABSL_FLAG(std::string, supernode_flags, "",
          "comma-separated extra flags for the supernode (e.g. "
          "--max_files=100000)");
ABSL_FLAG(int, settle_seconds, 10,
          "wait this long after filling (changes reach the index) before "
          "reading the figures");

namespace trove {
namespace {

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

// Joins a new identity; returns its session.
absl::StatusOr<std::string> Join(supernode::SupernodeService::Stub* stub,
                                 int n) {
  absl::StatusOr<std::unique_ptr<Identity>> identity = Identity::Generate();
  if (!identity.ok()) return identity.status();
  grpc::ClientContext c1;
  c1.set_deadline(In(absl::Seconds(30)));
  supernode::ChallengeResponse challenge;
  grpc::Status s = stub->Challenge(&c1, {}, &challenge);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  supernode::JoinRequest join;
  join.set_public_key((*identity)->public_key());
  join.set_nonce(challenge.nonce());
  join.set_listen_address(absl::StrCat("127.0.0.1:", 20000 + n));
  absl::StatusOr<std::string> sig = (*identity)->Sign(
      JoinSignedMessage(challenge.nonce(), join.listen_address()));
  if (!sig.ok()) return sig.status();
  join.set_signature(*sig);
  join.set_work(SolveJoinWork(challenge.nonce(), join.public_key(),
                              challenge.work_bits()));
  grpc::ClientContext c2;
  c2.set_deadline(In(absl::Seconds(30)));
  supernode::JoinResponse joined;
  s = stub->Join(&c2, join, &joined);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return joined.session();
}

int Main() {
  const int leaves = absl::GetFlag(FLAGS_leaves);
  const int per_leaf = absl::GetFlag(FLAGS_files_per_leaf);
  const int min_name = absl::GetFlag(FLAGS_min_name_bytes);
  if (leaves < 1 || per_leaf < 1) {
    std::cerr << "supernode_memory: --leaves and --files_per_leaf must be "
                 "positive\n";
    return 2;
  }
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
  // The supernode's own defaults for sessions (the test cluster's are
  // short), then the caller's flags.
  std::vector<std::string> flags = {"--session_timeout_ms=90000",
                                    "--heartbeat_interval_ms=30000"};
  for (absl::string_view f : absl::StrSplit(
           absl::GetFlag(FLAGS_supernode_flags), ',', absl::SkipEmpty())) {
    flags.emplace_back(f);
  }
  if (absl::Status s = cluster.StartSupernode(flags); !s.ok()) {
    std::cerr << s << "\n";
    return 1;
  }
  const pid_t pid = cluster.supernode()->pid();
  absl::SleepFor(absl::Seconds(2));
  const ProcFigures empty = ReadProcFigures(pid);

  auto stub = supernode::SupernodeService::NewStub(
      grpc::CreateChannel(cluster.supernode_address(),
                          grpc::InsecureChannelCredentials()));
  bench::CatalogOptions options;
  options.vocabulary = 150000;
  bench::CatalogGenerator gen(options);
  int64_t files = 0, name_bytes = 0;
  std::string refusal;
  int joined = 0;
  const absl::Time start = absl::Now();
  std::vector<std::string> sessions;
  // Keeps the joined leaves' sessions alive.
  auto heartbeat = [&] {
    for (const std::string& session : sessions) {
      supernode::HeartbeatRequest hb;
      hb.set_session(session);
      supernode::HeartbeatResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(In(absl::Seconds(30)));
      grpc::Status s = stub->Heartbeat(&ctx, hb, &resp);
      if (!s.ok()) std::cerr << "heartbeat: " << s.error_message() << "\n";
    }
  };
  for (int i = 0; i < leaves && refusal.empty(); ++i) {
    supernode::PublishRequest req;
    req.set_full(true);
    int64_t bytes = 0;
    for (int f = 0; f < per_leaf; ++f) {
      bench::GenFile g = gen.MakeFile();
      while (g.name.size() < static_cast<size_t>(min_name)) {
        g.name = absl::StrCat(gen.Word(), " ", g.name);
      }
      FileEntry* e = req.add_added();
      e->set_cid(g.cid);
      e->set_size(g.size);
      e->set_name(g.name);
      bytes += g.name.size();
    }
    absl::StatusOr<std::string> session = Join(stub.get(), i);
    if (!session.ok()) {
      std::cerr << "leaf " << i << ": " << session.status() << "\n";
      return 1;
    }
    ++joined;
    sessions.push_back(*session);
    req.set_session(*session);
    supernode::PublishResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(120)));
    grpc::Status s = stub->Publish(&ctx, req, &resp);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      refusal = s.error_message();
    } else if (!s.ok()) {
      std::cerr << "leaf " << i << " publish: " << s.error_message() << "\n";
      return 1;
    } else {
      files += resp.file_count();
      name_bytes += bytes;
      std::cerr << "leaf " << i << ": " << files << " files held\n";
    }
    heartbeat();
  }
  const absl::Duration fill_time = absl::Now() - start;
  absl::SleepFor(absl::Seconds(absl::GetFlag(FLAGS_settle_seconds)));
  heartbeat();
  const ProcFigures full = ReadProcFigures(pid);

  std::cout << "supernode empty: VmRSS " << empty.rss_kib << " KiB, VmHWM "
            << empty.hwm_kib << " KiB\n"
            << "supernode holding " << files << " files (" << name_bytes
            << " bytes of names) from " << joined << " leaves: VmRSS "
            << full.rss_kib << " KiB, VmHWM " << full.hwm_kib << " KiB\n"
            << "difference: VmRSS +" << full.rss_kib - empty.rss_kib
            << " KiB, VmHWM +" << full.hwm_kib - empty.hwm_kib << " KiB ("
            << (files > 0 ? (full.hwm_kib - empty.hwm_kib) * 1024 / files : 0)
            << " bytes of peak per file); filling took "
            << absl::FormatDuration(fill_time) << "\n"
            << "budget refusal: "
            << (refusal.empty() ? std::string("none (raise --leaves)")
                                : refusal)
            << "\n";
  return refusal.empty() ? 1 : 0;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "supernode_memory: a supernode's resident memory empty and filled to "
      "its memory budgets, side by side.\n"
      "  bazel run -c opt //bench:supernode_memory -- [--leaves=12] "
      "[--files_per_leaf=50000] [--supernode_flags=--max_files=N,...]");
  absl::ParseCommandLine(argc, argv);
  return trove::Main();
}
