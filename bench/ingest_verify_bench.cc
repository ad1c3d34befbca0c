// Ingest through IndexService with leaves' signed changes verified, against
// the same ingest with verification off, side by side in one run.
//
//   bazel run -c opt //bench:ingest_verify_bench -- --rounds=3 \
//       --leaves=2000 --files_per_leaf=100
//
// Two index services run in this process over gRPC on loopback, each on its
// own database of one private PostgreSQL cluster (tests/testing/postgres,
// fsync off): one as shipped (every delta a signed LeafChange, verified on
// up to --verify_threads threads, applied in each leaf's order), one with
// IndexServiceOptions.verify_leaf_changes off taking the same lists
// unsigned. Each round sends fresh leaves' full lists to both, one after the
// other (the order alternates between rounds); signing is done beforehand
// and not timed. Prints files/s for each and their ratio per round, and the
// cost of verification alone.
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/identity.h"
#include "common/server_util.h"
#include "common/signed_change.h"
#include "index_server/indexed_store.h"
#include "index_server/pg_store.h"
#include "index_server/service.h"
#include "protos/index.grpc.pb.h"
#include "tests/testing/postgres.h"

ABSL_FLAG(int, rounds, 3, "rounds; each sends fresh leaves to both indexes");
ABSL_FLAG(int, leaves, 2000, "new leaves per round");
ABSL_FLAG(int, files_per_leaf, 100, "files in each leaf's full list");
ABSL_FLAG(int, deltas_per_batch, 250, "leaves' full lists per PublishDeltas");
ABSL_FLAG(int, verify_threads, 4, "threads verifying one batch");

namespace trove {
namespace {

using index_server::IndexedStore;
using index_server::IndexServiceImpl;
using index_server::IndexServiceOptions;
using index_server::PgIndexStore;
using index_server::PgStoreOptions;

struct Index {
  std::unique_ptr<testutil::TestDatabase> db;
  std::unique_ptr<PgIndexStore> pg;
  std::unique_ptr<IndexedStore> store;
  std::unique_ptr<IndexServiceImpl> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<index::IndexService::Stub> stub;
  std::unique_ptr<Identity> supernode;
  std::string session;
  int64_t generation = 0;
  int64_t batch = 0;
};

absl::Status Start(testutil::PostgresServer* pg_server, bool verify,
                   Index* out) {
  auto db = testutil::TestDatabase::CreateOn(pg_server);
  if (!db.ok()) return db.status();
  out->db = *std::move(db);
  PgStoreOptions o;
  o.dsn = out->db->dsn();
  auto pg = PgIndexStore::Connect(o);
  if (!pg.ok()) return pg.status();
  out->pg = *std::move(pg);
  if (auto m = out->pg->Migrate(); !m.ok()) return m.status();
  out->store = std::make_unique<IndexedStore>(out->pg.get(),
                                              IndexedStore::Options());
  out->store->Start();
  out->store->follower()->WaitReady(absl::Now() + absl::Minutes(2));
  IndexServiceOptions options;
  options.lease = absl::Minutes(30);
  options.verify_leaf_changes = verify;
  options.verify_threads = absl::GetFlag(FLAGS_verify_threads);
  out->service = std::make_unique<IndexServiceImpl>(out->store.get(),
                                                    out->pg.get(), options);
  auto server = StartServer("127.0.0.1:0", {out->service.get()},
                            grpc::InsecureServerCredentials());
  if (!server.ok()) return server.status();
  out->server = std::move(server->server);
  out->stub = index::IndexService::NewStub(grpc::CreateChannel(
      server->address, grpc::InsecureChannelCredentials()));
  // Register an enrolled supernode the proper way.
  out->supernode = *Identity::Generate();
  auto id = out->pg->EnrolSupernodeKey(out->supernode->public_key(),
                                       "enrolled", true, "bench");
  if (!id.ok()) return id.status();
  index::SupernodeChallengeResponse challenge;
  grpc::ClientContext c1;
  grpc::Status s = out->stub->SupernodeChallenge(&c1, {}, &challenge);
  if (!s.ok()) return absl::InternalError(s.error_message());
  index::RegisterSupernodeRequest reg;
  reg.set_supernode_id(*id);
  reg.set_address("127.0.0.1:1");
  reg.set_public_key(out->supernode->public_key());
  reg.set_nonce(challenge.nonce());
  reg.set_signature(*out->supernode->Sign(
      RegistrationPayload(reg.nonce(), reg.supernode_id(), reg.address())));
  index::LeaseResponse lease;
  grpc::ClientContext c2;
  s = out->stub->RegisterSupernode(&c2, reg, &lease);
  if (!s.ok()) return absl::InternalError(s.error_message());
  out->session = lease.session();
  out->generation = lease.generation();
  return absl::OkStatus();
}

// One round's batches for `index`: signed full lists, or the same unsigned.
std::vector<index::PublishDeltasRequest> MakeBatches(
    Index* index, int round, bool signed_lists, int64_t* files) {
  const int leaves = absl::GetFlag(FLAGS_leaves);
  const int per_leaf = absl::GetFlag(FLAGS_files_per_leaf);
  const int per_batch = absl::GetFlag(FLAGS_deltas_per_batch);
  std::vector<index::PublishDeltasRequest> batches;
  *files = 0;
  for (int l = 0; l < leaves; ++l) {
    if (batches.empty() || batches.back().deltas_size() >= per_batch) {
      batches.emplace_back();
      batches.back().set_supernode_id(index->supernode->peer_id());
      batches.back().set_session(index->session);
      batches.back().set_generation(index->generation);
    }
    auto leaf = *Identity::Generate();
    LeafChange change;
    change.set_supernode_id(index->supernode->peer_id());
    change.set_seq(1000);
    change.set_full(true);
    change.set_address(absl::StrCat("10.1.", l / 250, ".", l % 250, ":7000"));
    for (int f = 0; f < per_leaf; ++f) {
      FileEntry* e = change.add_added();
      e->set_cid(absl::StrFormat("%016x%016x%016x%016x", round, l, f,
                                 0xc1dULL));
      e->set_size(1000 + f);
      e->set_name(absl::StrFormat("round %d leaf %d track %d.mp3", round, l, f));
    }
    *files += per_leaf;
    index::PeerDelta* d = batches.back().add_deltas();
    if (signed_lists) {
      Signed s = *SignLeafChange(*leaf, change);
      d->set_signed_change(s.bytes);
      d->set_signature(s.signature);
    } else {
      d->set_peer_id(leaf->peer_id());
      d->set_address(change.address());
      d->set_full(true);
      *d->mutable_added() = change.added();
    }
  }
  return batches;
}

// Sends `batches`; returns files/s, or a negative number on failure.
double Ingest(Index* index, std::vector<index::PublishDeltasRequest>& batches,
              int64_t files) {
  const absl::Time start = absl::Now();
  for (index::PublishDeltasRequest& b : batches) {
    b.set_batch(++index->batch);
    index::PublishDeltasResponse response;
    grpc::ClientContext ctx;
    grpc::Status s = index->stub->PublishDeltas(&ctx, b, &response);
    if (!s.ok() || response.refused_size() > 0) {
      std::fprintf(stderr, "publish failed: %s\n",
                   s.ok() ? response.refused(0).message().c_str()
                          : s.error_message().c_str());
      return -1;
    }
  }
  return files / absl::ToDoubleSeconds(absl::Now() - start);
}

int Main() {
  auto pg_server = testutil::PostgresServer::StartPrivate();
  if (!pg_server.ok()) {
    std::fprintf(stderr, "%s\n", pg_server.status().ToString().c_str());
    return 1;
  }
  Index verified, unverified;
  for (auto [index, verify] : {std::make_pair(&verified, true),
                               std::make_pair(&unverified, false)}) {
    absl::Status s = Start(pg_server->get(), verify, index);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::printf(
      "command: bench/ingest_verify_bench --rounds=%d --leaves=%d "
      "--files_per_leaf=%d --deltas_per_batch=%d --verify_threads=%d\n",
      absl::GetFlag(FLAGS_rounds), absl::GetFlag(FLAGS_leaves),
      absl::GetFlag(FLAGS_files_per_leaf),
      absl::GetFlag(FLAGS_deltas_per_batch),
      absl::GetFlag(FLAGS_verify_threads));
  std::printf("| round | verified files/s | unverified files/s | ratio |\n");
  std::printf("|------:|-----------------:|-------------------:|------:|\n");
  double total_v = 0, total_u = 0;
  int64_t verify_files = 0;
  absl::Duration verify_only;
  for (int r = 0; r < absl::GetFlag(FLAGS_rounds); ++r) {
    int64_t files = 0;
    auto signed_batches = MakeBatches(&verified, r, true, &files);
    auto plain_batches = MakeBatches(&unverified, r, false, &files);
    // Verification alone, on copies, for its share of the cost.
    for (const index::PublishDeltasRequest& b : signed_batches) {
      index::PublishDeltasRequest copy = b;
      const absl::Time t = absl::Now();
      if (!index_server::VerifySignedDeltas(
               &copy, absl::GetFlag(FLAGS_verify_threads))
               .ok()) {
        std::fprintf(stderr, "verification failed\n");
        return 1;
      }
      verify_only += absl::Now() - t;
    }
    verify_files += files;
    double v, u;
    if (r % 2 == 0) {
      v = Ingest(&verified, signed_batches, files);
      u = Ingest(&unverified, plain_batches, files);
    } else {
      u = Ingest(&unverified, plain_batches, files);
      v = Ingest(&verified, signed_batches, files);
    }
    if (v < 0 || u < 0) return 1;
    total_v += v;
    total_u += u;
    std::printf("| %5d | %16.0f | %18.0f | %5.2f |\n", r + 1, v, u, v / u);
    std::fflush(stdout);
  }
  const int rounds = absl::GetFlag(FLAGS_rounds);
  std::printf("| mean  | %16.0f | %18.0f | %5.2f |\n", total_v / rounds,
              total_u / rounds, total_v / total_u);
  std::printf(
      "verification alone (parse + Ed25519, %d threads): %.0f files/s, "
      "%.0f changes/s\n",
      absl::GetFlag(FLAGS_verify_threads),
      verify_files / absl::ToDoubleSeconds(verify_only),
      verify_files / absl::GetFlag(FLAGS_files_per_leaf) /
          absl::ToDoubleSeconds(verify_only));
  for (Index* index : {&verified, &unverified}) {
    index->server->Shutdown();
    index->store->Stop();
  }
  return 0;
}

}  // namespace
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Ingest with leaves' signed changes verified against the same ingest "
      "unverified, in one run. See the comment at the top of "
      "bench/ingest_verify_bench.cc.");
  absl::ParseCommandLine(argc, argv);
  return trove::Main();
}
