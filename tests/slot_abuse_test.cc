// Slot abuse against a real peer daemon over TLS: hundreds of GetChunks
// streams that are never read, from a few throw-away identities, and 40
// made-up requester ids asking for slots over and over. A real downloader
// still gets a slot within seconds and its download completes.
#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "common/tls_credentials.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "protos/peer.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

using testutil::ChildProcess;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunfilePath;
using testutil::SameFile;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

constexpr int64_t kMiB = 1 << 20;
constexpr int kChunks = 48;
constexpr int kSlots = 4;
// Throw-away identities holding unread streams (as many as the seed has
// slots), and streams each keeps open.
constexpr int kHogs = kSlots;
constexpr int kStreamsPerHog = 50;
constexpr int kMadeUpIds = 40;

class SlotAbuseTest : public testutil::ClusterTest {
 protected:
  nlohmann::json Status(const PeerHandle& peer) {
    CommandResult r = cluster_->Cli(peer, {"status", "--json"});
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? nlohmann::json::object() : j;
  }
};

// One attacker identity: keeps kStreamsPerHog GetChunks streams of the
// whole file open without reading them, opening new ones as they are
// cancelled, until `stop`.
void Hog(const std::string& address, const std::string& seed_id,
         const std::string& cid, const std::atomic<bool>* stop,
         std::atomic<int>* opened) {
  std::shared_ptr<const TlsContext> tls = *TlsContext::Ephemeral("");
  auto stub = peer::PeerService::NewStub(
      MakeChannel(address, Expected::Peer(seed_id), tls.get()));
  peer::GetChunksRequest req;
  req.set_cid(cid);
  for (uint32_t i = 0; i < kChunks; ++i) req.add_indexes(i);
  for (int round = 0; round < 100 && !stop->load(); ++round) {
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<std::unique_ptr<grpc::ClientReader<peer::Chunk>>> streams;
    for (int i = 0; i < kStreamsPerHog; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      streams.push_back(stub->GetChunks(contexts.back().get(), req));
      opened->fetch_add(1);
    }
    // Held unread; then all dropped and opened again.
    for (int i = 0; i < 20 && !stop->load(); ++i) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    for (auto& c : contexts) c->TryCancel();
    for (auto& s : streams) s->Finish();
  }
}

// Asks for a slot under kMadeUpIds made-up requester ids, in turn, every
// 50 ms, until `stop`.
void MadeUpIds(const std::string& address, const std::string& seed_id,
               const std::string& cid, const std::atomic<bool>* stop) {
  std::shared_ptr<const TlsContext> tls = *TlsContext::Ephemeral("");
  auto stub = peer::PeerService::NewStub(
      MakeChannel(address, Expected::Peer(seed_id), tls.get()));
  for (int i = 0; i < 20000 && !stop->load(); ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    peer::SlotRequest req;
    req.set_requester_id(HexEncode(Sha256(absl::StrCat("made-up ", i % kMadeUpIds))));
    req.set_cid(cid);
    peer::SlotResponse resp;
    stub->RequestSlot(&ctx, req, &resp);
    absl::SleepFor(absl::Milliseconds(50));
  }
}

TEST_F(SlotAbuseTest, ARealDownloaderGetsASlotWithinSeconds) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  absl::StatusOr<PeerHandle*> seed = cluster_->StartPeer(
      "seed", {absl::StrCat("--max_uploads=", kSlots), "--upload_stall_ms=2000",
               "--noinitial_seeding"});
  ASSERT_TRUE(seed.ok()) << seed.status();
  absl::StatusOr<PeerHandle*> real = cluster_->StartPeer("real");
  ASSERT_TRUE(real.ok()) << real.status();
  const std::string file = (*seed)->share_dir + "/big.iso";
  ASSERT_TRUE(WriteRandomFile(file, kChunks * kMiB, 17).ok());
  std::string cid;
  ASSERT_TRUE(WaitUntil([&] {
    cid = cluster_->FindCid(**real, "big", "big.iso");
    return !cid.empty();
  }));
  const std::string seed_id = Status(**seed).value("peer_id", "");
  ASSERT_EQ(seed_id.size(), 64u);

  std::atomic<bool> stop{false};
  std::atomic<int> opened{0};
  std::vector<std::thread> attackers;
  for (int i = 0; i < kHogs; ++i) {
    attackers.emplace_back(Hog, (*seed)->address, seed_id, cid, &stop, &opened);
  }
  attackers.emplace_back(MadeUpIds, (*seed)->address, seed_id, cid, &stop);
  // The hogs hold every slot.
  bool full = WaitUntil(
      [&] { return Status(**seed).value("uploads_active", 0) >= kSlots; },
      absl::Seconds(20));
  EXPECT_TRUE(full);
  // Every hog stream is open before the real downloader asks (on a busy
  // machine the last ones can open after the slots are full).
  EXPECT_TRUE(WaitUntil([&] { return opened.load() >= kHogs * kStreamsPerHog; },
                        absl::Seconds(20)))
      << opened.load() << " of " << kHogs * kStreamsPerHog << " streams opened";

  const std::string out = cluster_->work_dir() + "/dl";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ChildProcess>> get = ChildProcess::Start(
      {RunfilePath("peer_client/peer_client"), "get", cid, "-o", out, "--json",
       "--state=" + (*real)->state_dir},
      cluster_->work_dir() + "/get.log");
  ASSERT_TRUE(get.ok()) << get.status();
  // The first bytes arrive within a few seconds (the stall time, then a
  // queue turn), attack or not.
  bool got_bytes = WaitUntil(
      [&] {
        nlohmann::json s = Status(**real);
        for (const auto& t : s.value("transfers", nlohmann::json::array())) {
          if (t.value("done_bytes", int64_t{0}) > 0) return true;
        }
        return !(*get)->Running();
      },
      absl::Seconds(30));
  const absl::Duration first_bytes = absl::Now() - start;
  EXPECT_TRUE(got_bytes);
  EXPECT_LT(first_bytes, absl::Seconds(10)) << "waited " << first_bytes;
  absl::StatusOr<int> exit = (*get)->Wait(absl::Seconds(120));
  stop.store(true);
  for (std::thread& t : attackers) t.join();
  ASSERT_TRUE(exit.ok()) << "the download did not finish";
  EXPECT_EQ(*exit, 0) << testutil::Slurp(cluster_->work_dir() + "/get.log");
  EXPECT_TRUE(SameFile(file, out + "/big.iso"));
  std::cerr << "first bytes after " << first_bytes << ", done after "
            << absl::Now() - start << "\n";
}

}  // namespace
}  // namespace trove
