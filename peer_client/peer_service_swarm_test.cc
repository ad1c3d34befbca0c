// PeerService for swarms: WatchHaves (a download's growing have-map, a
// seed's initial seeding hints), initial seeding refusals, and the bytes
// sent per requester.
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/grpc_status.h"
#include "common/identity.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "peer_client/peer_service.h"
#include "peer_client/share_scanner.h"
#include "peer_client/test_util.h"
#include "peer_client/transfer/transfer_ledger.h"

namespace trove {
namespace {

using testing::TempDir;
using testing::WriteTestFile;
using trove::peer::Chunk;
using trove::peer::GetChunksRequest;
using trove::peer::HaveUpdate;
using trove::peer::WatchHavesRequest;

const std::string kAlice(64, 'a');
const std::string kBob(64, 'b');

// One download in progress, replaceable.
class OnePartial : public FileCatalog {
 public:
  void Set(std::shared_ptr<const SharedFile> file) {
    absl::MutexLock lock(&mu_);
    file_ = std::move(file);
  }
  std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const override {
    absl::MutexLock lock(&mu_);
    return file_ != nullptr && file_->cid == cid ? file_ : nullptr;
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const SharedFile> file_ ABSL_GUARDED_BY(mu_);
};

class PeerServiceSwarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    share_ = dir_.Sub("share");
    data_ = testing::RandomBytes(9 * kChunkSize + 5, 3);  // 10 chunks.
    WriteTestFile(share_ + "/seed.bin", data_);
    cid_ = HashBuffer(data_).cid;
    ShareScanner::Options so;
    so.roots = {share_};
    scanner_ = std::make_unique<ShareScanner>(so, nullptr);
    scanner_->Scan();
    absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
    ASSERT_TRUE(id.ok());
    identity_ = std::move(*id);
    layered_ = std::make_unique<LayeredCatalog>(
        std::vector<const FileCatalog*>{scanner_.get(), &partial_});
    PeerServiceImpl::Options o;
    o.watch_poll = absl::Milliseconds(20);
    o.ledger = &ledger_;
    o.clock = &clock_;
    service_ = std::make_unique<PeerServiceImpl>(layered_.get(),
                                                 identity_.get(), o);
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {service_.get()}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    stub_ = trove::peer::PeerService::NewStub(MakeChannel(server_.address));
  }

  void TearDown() override {
    service_->StopWatches();
    server_.server->Shutdown();
  }

  absl::Status GetChunks(const std::string& cid,
                         const std::vector<uint32_t>& indexes,
                         const std::string& requester,
                         std::vector<Chunk>* got = nullptr) {
    grpc::ClientContext ctx;
    GetChunksRequest req;
    req.set_cid(cid);
    req.set_requester_id(requester);
    for (uint32_t i : indexes) req.add_indexes(i);
    auto reader = stub_->GetChunks(&ctx, req);
    Chunk c;
    while (reader->Read(&c)) {
      if (got != nullptr) got->push_back(c);
    }
    return FromGrpcStatus(reader->Finish());
  }

  // A WatchHaves call read on its own thread.
  class Watch {
   public:
    Watch(trove::peer::PeerService::Stub* stub, const std::string& cid,
          const std::string& requester) {
      WatchHavesRequest req;
      req.set_cid(cid);
      req.set_requester_id(requester);
      reader_ = stub->WatchHaves(&ctx_, req);
      thread_ = std::thread([this] {
        HaveUpdate u;
        while (reader_->Read(&u)) {
          absl::MutexLock lock(&mu_);
          updates_.push_back(u);
        }
        grpc::Status st = reader_->Finish();
        absl::MutexLock lock(&mu_);
        status_ = FromGrpcStatus(st);
        ended_ = true;
      });
    }
    ~Watch() {
      ctx_.TryCancel();
      thread_.join();
    }
    // Waits (up to 10 s) until `pred` holds for the updates so far.
    bool WaitFor(const std::function<bool(const std::vector<HaveUpdate>&)>& pred) {
      absl::MutexLock lock(&mu_);
      auto ok = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return pred(updates_);
      };
      return mu_.AwaitWithTimeout(absl::Condition(&ok), absl::Seconds(10));
    }
    bool WaitEnded() {
      absl::MutexLock lock(&mu_);
      return mu_.AwaitWithTimeout(absl::Condition(&ended_), absl::Seconds(10));
    }
    absl::Status status() {
      absl::MutexLock lock(&mu_);
      return status_;
    }
    void Cancel() { ctx_.TryCancel(); }

   private:
    grpc::ClientContext ctx_;
    std::unique_ptr<grpc::ClientReader<HaveUpdate>> reader_;
    std::thread thread_;
    absl::Mutex mu_;
    std::vector<HaveUpdate> updates_ ABSL_GUARDED_BY(mu_);
    bool ended_ ABSL_GUARDED_BY(mu_) = false;
    absl::Status status_ ABSL_GUARDED_BY(mu_);
  };

  static bool Bit(const std::string& bits, uint32_t i) {
    return i / 8 < bits.size() && ((static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1);
  }

  FakeClock clock_;
  TempDir dir_;
  std::string share_;
  std::string data_;
  std::string cid_;
  std::unique_ptr<ShareScanner> scanner_;
  OnePartial partial_;
  std::unique_ptr<LayeredCatalog> layered_;
  std::unique_ptr<Identity> identity_;
  TransferLedger ledger_;
  std::unique_ptr<PeerServiceImpl> service_;
  RunningServer server_;
  std::unique_ptr<trove::peer::PeerService::Stub> stub_;
};

TEST_F(PeerServiceSwarmTest, ADownloadsNewChunksReachItsWatchersAtOnce) {
  const std::string other = testing::RandomBytes(2 * kChunkSize + 1, 4);
  const FileHashes h = HashBuffer(other);
  auto have = std::make_shared<ChunkHaveMap>(3);
  have->Set(1);
  auto entry = std::make_shared<SharedFile>();
  entry->cid = h.cid;
  entry->path = dir_.Sub(".other.trove-part");
  WriteTestFile(entry->path, other);
  entry->name = "other.bin";
  entry->size = h.size;
  entry->chunk_hashes = h.chunk_hashes;
  entry->have = have;
  partial_.Set(entry);

  Watch watch(stub_.get(), h.cid, kBob);
  ASSERT_TRUE(watch.WaitFor([](const std::vector<HaveUpdate>& u) {
    return !u.empty();
  }));
  EXPECT_EQ(service_->watchers(), 1);
  have->Set(0);
  ASSERT_TRUE(watch.WaitFor([](const std::vector<HaveUpdate>& u) {
    return u.size() >= 2;
  }));
  have->Set(2);  // The last one: the download completes.
  ASSERT_TRUE(watch.WaitEnded());
  EXPECT_TRUE(watch.status().ok()) << watch.status();
  ASSERT_TRUE(watch.WaitFor([](const std::vector<HaveUpdate>& u) {
    if (u.size() < 3) return false;
    // First the picture, then each new chunk, and `complete` at the end.
    return !u[0].complete() && u[0].have() == std::string("\x02", 1) &&
           u[1].added_size() == 1 && u[1].added(0) == 0 &&
           u.back().complete() && u.back().added_size() == 1 &&
           u.back().added(0) == 2;
  }));
}

TEST_F(PeerServiceSwarmTest, WatchingADownloadThatStopsEndsWithNotFound) {
  const FileHashes h = HashBuffer(std::string(10, 'x'));
  auto entry = std::make_shared<SharedFile>();
  entry->cid = h.cid;
  entry->path = dir_.Sub(".x.trove-part");
  WriteTestFile(entry->path, std::string(10, 'x'));
  entry->name = "x";
  entry->size = h.size;
  entry->chunk_hashes = h.chunk_hashes;
  entry->have = std::make_shared<ChunkHaveMap>(1);
  partial_.Set(entry);
  Watch watch(stub_.get(), h.cid, kBob);
  ASSERT_TRUE(watch.WaitFor([](const std::vector<HaveUpdate>& u) {
    return !u.empty();
  }));
  partial_.Set(nullptr);  // Cancelled.
  ASSERT_TRUE(watch.WaitEnded());
  EXPECT_EQ(watch.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(PeerServiceSwarmTest, ACancelledWatchEnds) {
  {
    Watch watch(stub_.get(), cid_, kAlice);
    ASSERT_TRUE(watch.WaitFor([](const std::vector<HaveUpdate>& u) {
      return !u.empty() && u[0].complete() && !u[0].initial_seeding();
    }));
    EXPECT_EQ(service_->watchers(), 1);
  }  // Cancelled by the client.
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (service_->watchers() > 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_EQ(service_->watchers(), 0);
}

TEST_F(PeerServiceSwarmTest, ACrowdGetsEachChunkOnceAndIsToldWhatIsUnsent) {
  Watch alice(stub_.get(), cid_, kAlice);
  Watch bob(stub_.get(), cid_, kBob);
  // Two downloaders: initial seeding, every chunk unsent.
  ASSERT_TRUE(bob.WaitFor([](const std::vector<HaveUpdate>& u) {
    return !u.empty() && u.back().initial_seeding() &&
           u.back().unsent() == std::string("\xff\x03", 2);
  }));
  ASSERT_TRUE(GetChunks(cid_, {0, 1}, kAlice).ok());
  absl::Status refused = GetChunks(cid_, {2, 1}, kBob);
  EXPECT_EQ(refused.code(), absl::StatusCode::kAborted) << refused;
  EXPECT_NE(refused.message().find("chunk 1"), std::string::npos);
  // Bob hears that 0 and 1 went out.
  ASSERT_TRUE(bob.WaitFor([](const std::vector<HaveUpdate>& u) {
    return u.back().initial_seeding() && !Bit(u.back().unsent(), 0) &&
           !Bit(u.back().unsent(), 1) && Bit(u.back().unsent(), 2);
  }));
  // Bob asks for many while Alice holds none: he gets a first one, and
  // the rest is left to others.
  std::vector<Chunk> got;
  absl::Status yielded = GetChunks(cid_, {2, 3, 4, 5, 6, 7, 8}, kBob, &got);
  EXPECT_EQ(yielded.code(), absl::StatusCode::kAborted) << yielded;
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].index(), 2u);
  ASSERT_TRUE(GetChunks(cid_, {3, 4}, kBob).ok());
  ASSERT_TRUE(GetChunks(cid_, {5, 6}, kBob).ok());
  ASSERT_TRUE(GetChunks(cid_, {7, 8}, kBob).ok());
  ASSERT_TRUE(GetChunks(cid_, {9}, kAlice).ok());
  // Every chunk went out once: initial seeding is over, anything goes.
  ASSERT_TRUE(alice.WaitFor([](const std::vector<HaveUpdate>& u) {
    return !u.back().initial_seeding();
  }));
  EXPECT_TRUE(GetChunks(cid_, {1}, kBob).ok());
}

TEST_F(PeerServiceSwarmTest, ALoneDownloaderIsNeverRefused) {
  ASSERT_TRUE(GetChunks(cid_, {0, 1}, kAlice).ok());
  ASSERT_TRUE(GetChunks(cid_, {0, 1}, kAlice).ok());
  Watch watch(stub_.get(), cid_, kAlice);
  ASSERT_TRUE(watch.WaitFor([](const std::vector<HaveUpdate>& u) {
    return !u.empty() && !u[0].initial_seeding();
  }));
}

TEST_F(PeerServiceSwarmTest, BytesSentAreCountedPerRequester) {
  ASSERT_TRUE(GetChunks(cid_, {0, 9}, kAlice).ok());
  ASSERT_TRUE(GetChunks(cid_, {3}, kBob).ok());
  std::map<std::string, int64_t> sent;
  for (const TransferLedger::Entry& e : ledger_.Uploads()) {
    EXPECT_EQ(e.cid, cid_);
    sent[e.peer_id] = e.bytes_sent;
  }
  EXPECT_EQ(sent[kAlice], kChunkSize + 5);
  EXPECT_EQ(sent[kBob], kChunkSize);
}

TEST_F(PeerServiceSwarmTest, WatchOfAnUnknownOrMalformedCid) {
  Watch unknown(stub_.get(), std::string(64, 'e'), kAlice);
  ASSERT_TRUE(unknown.WaitEnded());
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  Watch bad(stub_.get(), "nope", kAlice);
  ASSERT_TRUE(bad.WaitEnded());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace trove
