// sim_leaves: many simulated leaves in one process, for a community that
// has something to show (bench/community starts it).
//
//   sim_leaves --supernodes=HOST:PORT,HOST:PORT --join=trove://... 
//       --leaves=300 [--files_per_leaf=20] [--searches_per_second=2]
//       [--seconds=0] [--tls_ca=FILE | --insecure]
//
// Each leaf is a real identity (Ed25519) that joins one of the supernodes
// (round robin) through the real SupernodeService protocol (Challenge,
// signed Join), publishes a generated file list (bench/catalog_gen: names,
// sizes and cids of a realistic mix) as a change it signs, and heartbeats
// with signed presences to stay joined; the process also sends searches for
// vocabulary words through the supernodes. The leaves serve nothing: their
// listen addresses are placeholders, so a download from one fails. Runs
// until SIGINT/SIGTERM or --seconds, then leaves (a signed "gone").
//
// TLS as a peer speaks it: each leaf connects with a certificate made from
// its own key, and accepts only supernodes the community CA enrolled. The
// CA comes from --tls_ca, or is learned from the index with the community
// link (--join, checked against the link's fingerprint). --insecure:
// plaintext, for a community run that way.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
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
#include "common/community_ca.h"
#include "common/community_link.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/signed_change.h"
#include "common/tls_credentials.h"
#include "common/tls_flags.h"
#include "protos/supernode.grpc.pb.h"

ABSL_FLAG(std::string, supernodes, "",
          "comma-separated HOST:PORT of the supernodes to join (required)");
ABSL_FLAG(std::string, join, "",
          "the community link (trove://HOST:PORT?ca=FINGERPRINT): the "
          "community CA is learned from the index there and checked against "
          "the link (unless --tls_ca gives it)");
ABSL_FLAG(int, leaves, 300, "simulated leaves");
ABSL_FLAG(int, files_per_leaf, 20, "files each leaf shares, on average");
ABSL_FLAG(uint64_t, seed, 1, "seed of the generated file lists");
ABSL_FLAG(double, searches_per_second, 2, "searches sent through the supernodes");
ABSL_FLAG(int, heartbeat_seconds, 20,
          "how often each leaf heartbeats (below the supernodes' "
          "--session_timeout_ms)");
ABSL_FLAG(int, seconds, 0, "stop after this long (0: at SIGINT/SIGTERM)");

namespace trove {
namespace {

std::atomic<bool> stopping{false};

void OnSignal(int) { stopping = true; }

std::chrono::system_clock::time_point In(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

struct Leaf {
  std::unique_ptr<Identity> identity;
  // Its own connection: with TLS, its certificate is made from its key.
  std::unique_ptr<supernode::SupernodeService::Stub> stub;
  std::string session;
  std::string supernode_id;
  std::string address;
  int64_t last_seq = 0;
  // How long a presence may vouch for the leaf, as the supernode said.
  absl::Duration presence_validity = absl::ZeroDuration();
  std::vector<FileEntry> files;

  int64_t NextSeq() {
    last_seq = std::max(last_seq + 1, absl::ToUnixMicros(absl::Now()));
    return last_seq;
  }
};

// The TLS context of the process (for its searches) and the CA the leaves
// trust; an insecure context with --insecure.
absl::StatusOr<std::shared_ptr<const TlsContext>> ProcessTls() {
  const TlsFlags flags = GetTlsFlags();
  if (flags.insecure) return TlsContext::Insecure();
  std::string ca;
  if (!flags.ca.empty()) {
    absl::StatusOr<std::string> pem = ReadPemFlag("tls_ca", flags.ca);
    if (!pem.ok()) return pem.status();
    ca = *std::move(pem);
  } else if (!absl::GetFlag(FLAGS_join).empty()) {
    absl::StatusOr<CommunityLink> link =
        ParseCommunityLink(absl::GetFlag(FLAGS_join));
    if (!link.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--join: ", link.status().message()));
    }
    absl::StatusOr<std::shared_ptr<const TlsContext>> probe =
        TlsContext::Ephemeral("");
    if (!probe.ok()) return probe.status();
    absl::StatusOr<std::string> fetched =
        FetchCommunityCa(*link, **probe, absl::Seconds(30));
    if (!fetched.ok()) return fetched.status();
    ca = *std::move(fetched);
  } else {
    return absl::InvalidArgumentError(
        "TLS needs the community CA: give --join=LINK or --tls_ca=FILE "
        "(or --insecure for a plaintext community)");
  }
  return TlsContext::Ephemeral(ca);
}

absl::Status Join(Leaf* leaf, int port) {
  supernode::ChallengeResponse challenge;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(10)));
    grpc::Status s =
        leaf->stub->Challenge(&ctx, supernode::ChallengeRequest(), &challenge);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
  }
  supernode::JoinRequest join;
  join.set_public_key(leaf->identity->public_key());
  join.set_nonce(challenge.nonce());
  join.set_listen_address(absl::StrCat("127.0.0.1:", port));
  absl::StatusOr<std::string> sig = leaf->identity->Sign(
      JoinSignedMessage(challenge.nonce(), join.listen_address()));
  if (!sig.ok()) return sig.status();
  join.set_signature(*sig);
  join.set_work(SolveJoinWork(challenge.nonce(), join.public_key(),
                              challenge.work_bits()));
  supernode::JoinResponse joined;
  grpc::ClientContext ctx;
  ctx.set_deadline(In(absl::Seconds(10)));
  grpc::Status s = leaf->stub->Join(&ctx, join, &joined);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  leaf->session = joined.session();
  leaf->supernode_id = joined.supernode_id();
  leaf->address = join.listen_address();
  leaf->presence_validity = absl::Milliseconds(joined.presence_validity_ms());

  // The whole list, signed by the leaf: the index stores only what the
  // leaf signed.
  LeafChange change;
  change.set_supernode_id(leaf->supernode_id);
  change.set_seq(leaf->NextSeq());
  change.set_full(true);
  change.set_address(leaf->address);
  change.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
  for (const FileEntry& f : leaf->files) *change.add_added() = f;
  absl::StatusOr<Signed> signed_change =
      SignLeafChange(*leaf->identity, std::move(change));
  if (!signed_change.ok()) return signed_change.status();
  supernode::PublishRequest req;
  req.set_session(leaf->session);
  req.set_full(true);
  req.set_signed_change(std::move(signed_change->bytes));
  req.set_signature(std::move(signed_change->signature));
  supernode::PublishResponse resp;
  grpc::ClientContext pctx;
  pctx.set_deadline(In(absl::Seconds(30)));
  s = leaf->stub->Publish(&pctx, req, &resp);
  if (!s.ok()) return absl::UnavailableError(s.error_message());
  return absl::OkStatus();
}

int Main() {
  const std::vector<std::string> addresses = absl::StrSplit(
      absl::GetFlag(FLAGS_supernodes), ',', absl::SkipWhitespace());
  const int n = absl::GetFlag(FLAGS_leaves);
  const int per_leaf = absl::GetFlag(FLAGS_files_per_leaf);
  if (addresses.empty() || n <= 0 || per_leaf <= 0 ||
      absl::GetFlag(FLAGS_heartbeat_seconds) <= 0) {
    std::cerr << "sim_leaves: give --supernodes, and positive --leaves, "
                 "--files_per_leaf and --heartbeat_seconds; see --help\n";
    return 2;
  }
  // The leaves' file lists.
  bench::CatalogOptions options;
  options.seed = absl::GetFlag(FLAGS_seed);
  options.vocabulary = 5000;
  bench::CatalogGenerator gen(options);
  bench::Catalog catalog =
      gen.GenerateNewLeaves(static_cast<int64_t>(n) * per_leaf, n, 1);
  std::vector<Leaf> leaves(n);
  std::map<uint32_t, int> leaf_of_peer;
  for (const bench::GenSource& src : catalog.sources) {
    auto [it, fresh] =
        leaf_of_peer.emplace(src.peer, static_cast<int>(leaf_of_peer.size()) % n);
    FileEntry f;
    const bench::GenFile& file = catalog.files[src.file];
    f.set_cid(file.cid);
    f.set_size(file.size);
    f.set_name(src.name);
    leaves[it->second].files.push_back(std::move(f));
  }

  absl::StatusOr<std::shared_ptr<const TlsContext>> tls = ProcessTls();
  if (!tls.ok()) {
    std::cerr << "sim_leaves: " << tls.status().message() << "\n";
    return tls.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::cout << "sim_leaves: "
            << ((*tls)->insecure() ? "plaintext (--insecure)"
                                   : "TLS, trusting the community CA")
            << std::endl;
  std::vector<std::unique_ptr<supernode::SupernodeService::Stub>> stubs;
  for (const std::string& a : addresses) {
    stubs.push_back(supernode::SupernodeService::NewStub(
        (*tls)->MakeChannel(a, Expected::Supernode())));
  }
  int joined = 0, failed = 0;
  for (int i = 0; i < n && !stopping; ++i) {
    absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
    if (!id.ok()) return 1;
    leaves[i].identity = std::move(*id);
    std::shared_ptr<const TlsContext> own = *tls;
    if (!(*tls)->insecure()) {
      absl::StatusOr<std::shared_ptr<const TlsContext>> mine =
          TlsContext::ForIdentity(*leaves[i].identity, (*tls)->ca_pem());
      if (!mine.ok()) {
        std::cerr << "sim_leaves: " << mine.status() << "\n";
        return 1;
      }
      own = *mine;
    }
    leaves[i].stub = supernode::SupernodeService::NewStub(own->MakeChannel(
        addresses[i % addresses.size()], Expected::Supernode()));
    absl::Status s = Join(&leaves[i], 20000 + i);
    if (s.ok()) {
      ++joined;
    } else {
      ++failed;
      if (failed <= 3) std::cerr << "sim_leaves: a leaf could not join: " << s << "\n";
    }
    if ((i + 1) % 50 == 0 || i + 1 == n) {
      std::cout << "sim_leaves: " << joined << "/" << n << " leaves joined ("
                << failed << " failed)" << std::endl;
    }
  }

  const absl::Time start = absl::Now();
  const int seconds = absl::GetFlag(FLAGS_seconds);
  const absl::Duration heartbeat = absl::Seconds(absl::GetFlag(FLAGS_heartbeat_seconds));
  const double rate = absl::GetFlag(FLAGS_searches_per_second);
  const absl::Duration tick = absl::Milliseconds(100);
  absl::Time next_heartbeat = absl::Now() + heartbeat;
  double search_credit = 0;
  int64_t searches = 0;
  while (!stopping && (seconds <= 0 || absl::Now() - start < absl::Seconds(seconds))) {
    absl::SleepFor(tick);
    search_credit += rate * absl::ToDoubleSeconds(tick);
    for (; search_credit >= 1 && !stopping; search_credit -= 1) {
      supernode::SearchRequest req;
      req.mutable_query()->set_text(gen.Word());
      supernode::SearchResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(In(absl::Seconds(5)));
      (void)stubs[searches++ % stubs.size()]->Search(&ctx, req, &resp);
    }
    if (absl::Now() >= next_heartbeat) {
      next_heartbeat = absl::Now() + heartbeat;
      for (Leaf& leaf : leaves) {
        if (leaf.session.empty() || stopping) continue;
        supernode::HeartbeatRequest req;
        req.set_session(leaf.session);
        Presence presence;
        presence.set_supernode_id(leaf.supernode_id);
        presence.set_valid_until_ms(absl::ToUnixMillis(
            absl::Now() + (leaf.presence_validity > absl::ZeroDuration()
                               ? leaf.presence_validity
                               : 3 * heartbeat)));
        absl::StatusOr<Signed> signed_presence =
            SignPresence(*leaf.identity, presence);
        if (signed_presence.ok()) {
          req.set_presence(signed_presence->bytes);
          req.set_presence_signature(signed_presence->signature);
        }
        supernode::HeartbeatResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(In(absl::Seconds(5)));
        (void)leaf.stub->Heartbeat(&ctx, req, &resp);
      }
    }
  }
  std::cout << "sim_leaves: leaving (" << searches << " searches sent)" << std::endl;
  for (Leaf& leaf : leaves) {
    if (leaf.session.empty()) continue;
    supernode::LeaveRequest req;
    req.set_session(leaf.session);
    LeafChange gone;
    gone.set_supernode_id(leaf.supernode_id);
    gone.set_prev_seq(leaf.last_seq);
    gone.set_seq(leaf.NextSeq());
    gone.set_gone(true);
    gone.set_address(leaf.address);
    gone.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
    absl::StatusOr<Signed> signed_gone = SignLeafChange(*leaf.identity, gone);
    if (signed_gone.ok()) {
      req.set_signed_change(signed_gone->bytes);
      req.set_signature(signed_gone->signature);
    }
    supernode::LeaveResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(2)));
    (void)leaf.stub->Leave(&ctx, req, &resp);
  }
  return 0;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Many simulated leaves joining real supernodes, publishing generated "
      "file lists and searching, over TLS as peers do.\nUsage: sim_leaves "
      "--supernodes=HOST:PORT,... --join=trove://... [--tls_ca=FILE | "
      "--insecure] [--leaves=300] [--files_per_leaf=20] "
      "[--searches_per_second=2] [--seconds=0]");
  absl::ParseCommandLine(argc, argv);
  signal(SIGINT, trove::OnSignal);
  signal(SIGTERM, trove::OnSignal);
  return trove::Main();
}
