// A small swarm in one process: a seed whose upload is capped and two
// downloaders that start together, each serving its verified chunks (a
// real PeerService over its Downloader). The downloaders learn of each
// other's chunks (WatchHaves), the seed sends each chunk to one of them
// (initial seeding), and they trade the rest.
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/server_util.h"
#include "gtest/gtest.h"
#include "peer_client/peer_service.h"
#include "peer_client/share_scanner.h"
#include "peer_client/test_util.h"
#include "peer_client/transfer/downloader.h"
#include "peer_client/transfer/downloader_testing.h"
#include "peer_client/transfer/rate_limiter.h"

namespace trove {
namespace {

using testing::FakeDirectory;
using testing::Key;
using testing::PeerId;
using testing::ReadTestFile;
using testing::TempDir;
using testing::WriteTestFile;

constexpr int kChunks = 16;

class SwarmTest : public ::testing::Test {
 protected:
  // A downloader serving what it verified.
  struct Leech {
    char key;
    std::unique_ptr<Downloader> downloader;
    std::unique_ptr<PeerServiceImpl> service;
    RunningServer server;
    std::string out;
    absl::StatusOr<std::string> path;
    DownloadProgress last;
  };

  void SetUp() override {
    data_ = testing::RandomBytes(kChunks * kChunkSize - 1000, 21);
    cid_ = HashBuffer(data_).cid;
    WriteTestFile(dir_.Sub("seed") + "/payload.bin", data_);
    ShareScanner::Options so;
    so.roots = {dir_.Sub("seed")};
    scanner_ = std::make_unique<ShareScanner>(so, nullptr);
    scanner_->Scan();
    // 8 MiB/s: two seconds for the file, so the two overlap; no burst, so
    // the first to ask does not get half the file at once.
    PeerRateLimiter::Options lo;
    lo.total_bytes_per_second = 8 * kChunkSize;
    lo.burst_bytes = kChunkSize;
    lo.poll_interval = absl::Milliseconds(5);
    upload_cap_ = std::make_unique<PeerRateLimiter>(lo);
    PeerServiceImpl::Options po;
    po.upload_limiter = upload_cap_.get();
    po.watch_poll = absl::Milliseconds(50);
    seed_ = std::make_unique<PeerServiceImpl>(scanner_.get(), &Key('s'), po);
    Serve(seed_.get(), PeerId('s'), &seed_server_);
  }

  void TearDown() override {
    for (Leech* l : {&x_, &y_}) {
      if (l->downloader) l->downloader->Shutdown();
      if (l->service) l->service->StopWatches();
      if (l->server.server) l->server.server->Shutdown();
    }
    seed_->StopWatches();
    seed_server_.server->Shutdown();
  }

  void Serve(grpc::Service* service, const std::string& peer_id,
             RunningServer* out) {
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {service}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    *out = std::move(*s);
    directory_.AddSource(peer_id, out->address);
  }

  void StartLeech(Leech* l, char key) {
    l->key = key;
    l->out = dir_.Sub(std::string("out-") + key);
    Downloader::Options o;
    o.own_peer_id = PeerId(key);
    o.progress_interval = absl::Milliseconds(20);
    // Listed before they hold anything: try again soon.
    o.source_retry = absl::Milliseconds(100);
    o.fast_relocate_interval = absl::Milliseconds(100);
    o.fast_relocates = 1000;
    l->downloader = std::make_unique<Downloader>(&directory_, o);
    PeerServiceImpl::Options po;
    po.watch_poll = absl::Milliseconds(50);
    l->service = std::make_unique<PeerServiceImpl>(l->downloader.get(),
                                                   &Key(key), po);
    Serve(l->service.get(), PeerId(key), &l->server);
  }

  void Fetch(Leech* l) {
    DownloadRequest req;
    req.cid = cid_;
    req.out_dir = l->out;
    l->path = l->downloader->Fetch(
        req, [l](const DownloadProgress& p) { l->last = p; }, nullptr);
  }

  // Bytes `l` received from peer `from`.
  static int64_t From(const Leech& l, char from) {
    for (const SourceBytes& b : l.last.received) {
      if (b.peer_id == PeerId(from)) return b.bytes;
    }
    return 0;
  }

  TempDir dir_;
  std::string data_;
  std::string cid_;
  FakeDirectory directory_;
  std::unique_ptr<ShareScanner> scanner_;
  std::unique_ptr<PeerRateLimiter> upload_cap_;
  std::unique_ptr<PeerServiceImpl> seed_;
  RunningServer seed_server_;
  Leech x_;
  Leech y_;
};

TEST_F(SwarmTest, TwoDownloadersOfACappedSeedTradeWhatEachGot) {
  StartLeech(&x_, 'x');
  StartLeech(&y_, 'y');
  std::thread tx([this] { Fetch(&x_); });
  std::thread ty([this] { Fetch(&y_); });
  tx.join();
  ty.join();
  ASSERT_TRUE(x_.path.ok()) << x_.path.status();
  ASSERT_TRUE(y_.path.ok()) << y_.path.status();
  EXPECT_TRUE(ReadTestFile(*x_.path) == data_);
  EXPECT_TRUE(ReadTestFile(*y_.path) == data_);
  const int64_t size = static_cast<int64_t>(data_.size());
  // Each got a good part from the other...
  EXPECT_GE(From(x_, 'y'), size / 4) << "x from y";
  EXPECT_GE(From(y_, 'x'), size / 4) << "y from x";
  EXPECT_EQ(From(x_, 's') + From(x_, 'y'), size);
  EXPECT_EQ(From(y_, 's') + From(y_, 'x'), size);
  // ... the other downloader was partial, the seed complete ...
  for (const SourceBytes& b : x_.last.received) {
    EXPECT_EQ(b.partial, b.peer_id == PeerId('y')) << b.peer_id;
  }
  std::cerr << "x: " << From(x_, 's') << " from the seed, " << From(x_, 'y')
            << " from y; y: " << From(y_, 's') << " from the seed, "
            << From(y_, 'x') << " from x; seed sent " << seed_->bytes_served()
            << "\n";
  // ... and the seed sent little more than one copy.
  EXPECT_LE(seed_->bytes_served(), size * 3 / 2);
}

}  // namespace
}  // namespace trove
