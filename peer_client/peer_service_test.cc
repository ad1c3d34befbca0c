#include "peer_client/peer_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/identity.h"
#include "common/manifest_auth.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "peer_client/share_scanner.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::TempDir;
using testing::WriteTestFile;
using trove::peer::Chunk;
using trove::peer::GetChunksRequest;
using trove::peer::GetManifestRequest;
using trove::peer::Manifest;
using trove::peer::SlotRequest;
using trove::peer::SlotResponse;

// Requesters.
const std::string kAlice(64, 'a');
const std::string kBob(64, 'b');
const std::string kCarol(64, 'c');

// Downloads in progress, by cid.
class FakePartials : public FileCatalog {
 public:
  void Add(std::shared_ptr<const SharedFile> file) {
    absl::MutexLock lock(&mu_);
    files_[file->cid] = std::move(file);
  }
  std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const override {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(std::string(cid));
    return it == files_.end() ? nullptr : it->second;
  }

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<const SharedFile>> files_
      ABSL_GUARDED_BY(mu_);
};

// A fake clock that also counts the time slept on it. Thread-safe.
class FakeTime : public FakeClock {
 public:
  void SleepFor(absl::Duration d) override {
    FakeClock::SleepFor(d);
    absl::MutexLock lock(&mu_);
    slept_ += d;
  }
  absl::Duration slept() {
    absl::MutexLock lock(&mu_);
    return slept_;
  }
  Clock* clock() { return this; }

 private:
  absl::Mutex mu_;
  absl::Duration slept_ ABSL_GUARDED_BY(mu_);
};

class PeerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    share_ = dir_.Sub("share");
    big_ = testing::RandomBytes(2 * kChunkSize + 12345, 7);
    WriteTestFile(share_ + "/big.bin", big_);
    WriteTestFile(share_ + "/empty.txt", "");
    WriteTestFile(share_ + "/small.txt", "small file");
    ShareScanner::Options options;
    options.roots = {share_};
    scanner_ = std::make_unique<ShareScanner>(options, nullptr);
    scanner_->Scan();
    StartWith(PeerServiceImpl::Options());
  }

  void StartWith(PeerServiceImpl::Options options) {
    if (server_.server) server_.server->Shutdown();
    if (options.clock == nullptr) options.clock = time_.clock();
    if (identity_ == nullptr) {
      absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
      ASSERT_TRUE(id.ok()) << id.status();
      identity_ = std::move(*id);
    }
    service_ = std::make_unique<PeerServiceImpl>(
        catalog_ != nullptr ? catalog_ : scanner_.get(), identity_.get(),
        options);
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {service_.get()}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    stub_ = trove::peer::PeerService::NewStub(MakeChannel(server_.address));
  }

  void TearDown() override { server_.server->Shutdown(); }

  absl::StatusOr<Manifest> GetManifest(const std::string& cid,
                                       const std::string& nonce = "") {
    grpc::ClientContext ctx;
    GetManifestRequest req;
    req.set_cid(cid);
    req.set_nonce(nonce);
    Manifest m;
    grpc::Status st = stub_->GetManifest(&ctx, req, &m);
    if (!st.ok()) return FromGrpcStatus(st);
    return m;
  }

  absl::StatusOr<SlotResponse> RequestSlot(const std::string& requester,
                                           const std::string& cid) {
    grpc::ClientContext ctx;
    SlotRequest req;
    req.set_requester_id(requester);
    req.set_cid(cid);
    SlotResponse r;
    grpc::Status st = stub_->RequestSlot(&ctx, req, &r);
    if (!st.ok()) return FromGrpcStatus(st);
    return r;
  }

  // Streams the asked chunks; the status of the call and what arrived.
  absl::Status GetChunks(const std::string& cid,
                         const std::vector<uint32_t>& indexes,
                         std::vector<Chunk>* out,
                         const std::string& requester = kAlice) {
    grpc::ClientContext ctx;
    GetChunksRequest req;
    req.set_cid(cid);
    req.set_requester_id(requester);
    for (uint32_t i : indexes) req.add_indexes(i);
    auto reader = stub_->GetChunks(&ctx, req);
    Chunk c;
    while (reader->Read(&c)) out->push_back(c);
    return FromGrpcStatus(reader->Finish());
  }

  FakeTime time_;
  TempDir dir_;
  std::string share_;
  std::string big_;
  std::unique_ptr<ShareScanner> scanner_;
  // What the service serves from; the scanner when null.
  const FileCatalog* catalog_ = nullptr;
  // The serving peer's identity.
  std::unique_ptr<Identity> identity_;
  std::unique_ptr<PeerServiceImpl> service_;
  RunningServer server_;
  std::unique_ptr<trove::peer::PeerService::Stub> stub_;
};

TEST_F(PeerServiceTest, ManifestVerifiesAgainstTheCid) {
  FileHashes h = HashBuffer(big_);
  absl::StatusOr<Manifest> m = GetManifest(h.cid);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->cid(), h.cid);
  EXPECT_EQ(m->size(), static_cast<int64_t>(big_.size()));
  EXPECT_EQ(m->chunk_size(), kChunkSize);
  EXPECT_EQ(m->name(), "big.bin");
  EXPECT_EQ(m->peer_id(), identity_->peer_id());
  EXPECT_TRUE(m->have().empty());
  // No nonce, no proof.
  EXPECT_TRUE(m->public_key().empty());
  EXPECT_TRUE(m->proof().empty());
  std::vector<Hash> hashes;
  for (const std::string& b : m->chunk_hashes()) {
    absl::StatusOr<Hash> hash = HashFromBytes(b);
    ASSERT_TRUE(hash.ok());
    hashes.push_back(*hash);
  }
  EXPECT_TRUE(VerifyManifest(m->cid(), m->size(), hashes).ok());
}

TEST_F(PeerServiceTest, ManifestProvesTheIdentityOverTheNonce) {
  FileHashes h = HashBuffer(big_);
  const std::string nonce(32, '\x5a');
  absl::StatusOr<Manifest> m = GetManifest(h.cid, nonce);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->public_key(), identity_->public_key());
  EXPECT_EQ(PeerIdFromPublicKey(m->public_key()), m->peer_id());
  EXPECT_TRUE(VerifySignature(m->public_key(),
                              ManifestProofMessage(nonce, h.cid, m->peer_id()),
                              m->proof())
                  .ok());
  // The proof is bound to the nonce.
  EXPECT_EQ(VerifySignature(m->public_key(),
                            ManifestProofMessage(std::string(32, 'x'), h.cid,
                                                 m->peer_id()),
                            m->proof())
                .code(),
            absl::StatusCode::kUnauthenticated);
  // The shortest and longest nonces are fine.
  EXPECT_TRUE(GetManifest(h.cid, std::string(kMinManifestNonce, 'n')).ok());
  EXPECT_TRUE(GetManifest(h.cid, std::string(kMaxManifestNonce, 'n')).ok());
}

TEST_F(PeerServiceTest, NonceOfABadLengthIsInvalidArgument) {
  FileHashes h = HashBuffer(big_);
  for (size_t n : {size_t{1}, kMinManifestNonce - 1, kMaxManifestNonce + 1,
                   size_t{4096}}) {
    absl::StatusOr<Manifest> m = GetManifest(h.cid, std::string(n, 'n'));
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument) << n;
    EXPECT_NE(m.status().message().find("nonce"), std::string::npos)
        << m.status();
  }
}

TEST_F(PeerServiceTest, ChunksMatchTheFileInTheOrderAsked) {
  std::string cid = HashBuffer(big_).cid;
  std::vector<Chunk> chunks;
  ASSERT_TRUE(GetChunks(cid, {2, 0, 1}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].index(), 2u);
  EXPECT_EQ(chunks[0].data(), big_.substr(2 * kChunkSize));
  EXPECT_EQ(chunks[1].index(), 0u);
  EXPECT_EQ(chunks[1].data(), big_.substr(0, kChunkSize));
  EXPECT_EQ(chunks[2].index(), 1u);
  EXPECT_EQ(chunks[2].data(), big_.substr(kChunkSize, kChunkSize));
}

TEST_F(PeerServiceTest, IndexesThatTakeSeveralVarintBytes) {
  // A sparse file of 130 chunks and a bit: indexes 128+ are two bytes on the
  // wire.
  const int64_t size = 130 * kChunkSize + 5;
  const std::string path = share_ + "/sparse.bin";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::ftruncate(fd, size), 0);
  ::close(fd);
  scanner_->Scan();
  const std::string cid = HashBuffer(std::string(size, '\0')).cid;
  std::vector<Chunk> chunks;
  ASSERT_TRUE(GetChunks(cid, {130, 127, 128, 0}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].index(), 130u);
  EXPECT_EQ(chunks[0].data(), std::string(5, '\0'));
  EXPECT_EQ(chunks[1].index(), 127u);
  EXPECT_EQ(chunks[2].index(), 128u);
  EXPECT_EQ(chunks[2].data(), std::string(kChunkSize, '\0'));
  EXPECT_EQ(chunks[3].index(), 0u);
  EXPECT_EQ(chunks[3].data().size(), static_cast<size_t>(kChunkSize));
}

TEST_F(PeerServiceTest, EmptyFileHasOneEmptyChunk) {
  FileHashes h = HashBuffer("");
  absl::StatusOr<Manifest> m = GetManifest(h.cid);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->size(), 0);
  EXPECT_EQ(m->chunk_hashes_size(), 1);
  std::vector<Chunk> chunks;
  ASSERT_TRUE(GetChunks(h.cid, {0}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].data(), "");
}

TEST_F(PeerServiceTest, MalformedCidIsInvalidArgument) {
  for (std::string bad : {std::string(""), std::string("abc"),
                          std::string(64, 'A'), std::string(64, 'g'),
                          std::string("../../etc/passwd")}) {
    EXPECT_EQ(GetManifest(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    std::vector<Chunk> chunks;
    EXPECT_EQ(GetChunks(bad, {0}, &chunks).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(PeerServiceTest, UnknownCidIsNotFound) {
  std::string cid = HashBuffer("nobody shares this").cid;
  EXPECT_EQ(GetManifest(cid).status().code(), absl::StatusCode::kNotFound);
  std::vector<Chunk> chunks;
  EXPECT_EQ(GetChunks(cid, {0}, &chunks).code(), absl::StatusCode::kNotFound);
}

TEST_F(PeerServiceTest, IndexPastTheEndIsOutOfRange) {
  std::string cid = HashBuffer(big_).cid;
  std::vector<Chunk> chunks;
  EXPECT_EQ(GetChunks(cid, {0, 3}, &chunks).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(chunks.empty());  // Checked before anything is sent.
  EXPECT_EQ(GetChunks(HashBuffer("").cid, {1}, &chunks).code(),
            absl::StatusCode::kOutOfRange);
}

TEST_F(PeerServiceTest, NoIndexesIsInvalidArgument) {
  std::vector<Chunk> chunks;
  EXPECT_EQ(GetChunks(HashBuffer(big_).cid, {}, &chunks).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PeerServiceTest, TooManyIndexesIsInvalidArgument) {
  PeerServiceImpl::Options options;
  options.max_indexes_per_request = 2;
  StartWith(options);
  std::vector<Chunk> chunks;
  EXPECT_EQ(GetChunks(HashBuffer(big_).cid, {0, 1, 2}, &chunks).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PeerServiceTest, FileChangedAfterHashingIsNotServed) {
  std::string old_cid = HashBuffer("small file").cid;
  std::string path = share_ + "/small.txt";
  WriteTestFile(path, "SMALL FILE");  // Same size, new content.
  struct timespec times[2] = {{1234, 0}, {1234, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  EXPECT_EQ(GetManifest(old_cid).status().code(), absl::StatusCode::kNotFound);
  std::vector<Chunk> chunks;
  EXPECT_EQ(GetChunks(old_cid, {0}, &chunks).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(chunks.empty());
}

TEST_F(PeerServiceTest, SymlinkSwappedInIsNotFollowed) {
  TempDir outside;
  WriteTestFile(outside.Sub("secret"), "secret data");
  std::string old_cid = HashBuffer("small file").cid;
  std::string path = share_ + "/small.txt";
  ASSERT_EQ(::unlink(path.c_str()), 0);
  ASSERT_EQ(::symlink(outside.Sub("secret").c_str(), path.c_str()), 0);
  std::vector<Chunk> chunks;
  EXPECT_EQ(GetChunks(old_cid, {0}, &chunks).code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(chunks.empty());
}

TEST_F(PeerServiceTest, NoFreeUploadSlotIsResourceExhaustedWithAPosition) {
  PeerServiceImpl::Options options;
  options.max_uploads = 0;
  StartWith(options);
  std::vector<Chunk> chunks;
  absl::Status st = GetChunks(HashBuffer(big_).cid, {0}, &chunks);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("call RequestSlot"), absl::string_view::npos)
      << st;
  EXPECT_NE(st.message().find("queued at position 1"), absl::string_view::npos)
      << st;
  EXPECT_TRUE(chunks.empty());
  EXPECT_EQ(service_->active_uploads(), 0);
  EXPECT_EQ(service_->queued_uploads(), 1);
  for (int i = 0; i < 2; ++i) {  // Asking again keeps the place.
    st = GetChunks(HashBuffer(big_).cid, {0}, &chunks, kBob);
    EXPECT_NE(st.message().find("queued at position 2"),
              absl::string_view::npos)
        << st;
  }
  EXPECT_EQ(service_->queued_uploads(), 2);
}

TEST_F(PeerServiceTest, OneSlotTwoRequesters) {
  PeerServiceImpl::Options options;
  options.max_uploads = 1;
  options.slot_idle = absl::Seconds(2);
  options.retry_after = absl::Milliseconds(700);
  options.queue_stale = absl::Seconds(3);
  StartWith(options);
  const std::string cid = HashBuffer(big_).cid;

  absl::StatusOr<SlotResponse> a = RequestSlot(kAlice, cid);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(a->granted());
  EXPECT_EQ(a->queue_position(), 0);
  absl::StatusOr<SlotResponse> b = RequestSlot(kBob, cid);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_FALSE(b->granted());
  EXPECT_EQ(b->queue_position(), 1);
  EXPECT_EQ(b->retry_after_ms(), 700);
  EXPECT_EQ(RequestSlot(kCarol, cid)->queue_position(), 2);
  EXPECT_EQ(service_->active_uploads(), 1);
  EXPECT_EQ(service_->queued_uploads(), 2);

  // The holder downloads; Bob, without a slot, is told his place.
  std::vector<Chunk> chunks;
  EXPECT_TRUE(GetChunks(cid, {0}, &chunks, kAlice).ok());
  absl::Status st = GetChunks(cid, {0}, &chunks, kBob);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("queued at position 1"), absl::string_view::npos)
      << st;

  // Alice goes idle; Bob and Carol keep asking.
  time_.Advance(absl::Seconds(1));
  EXPECT_FALSE(RequestSlot(kBob, cid)->granted());
  EXPECT_EQ(RequestSlot(kCarol, cid)->queue_position(), 2);
  time_.Advance(absl::Seconds(1));
  EXPECT_TRUE(RequestSlot(kBob, cid)->granted());
  EXPECT_EQ(RequestSlot(kCarol, cid)->queue_position(), 1);
  chunks.clear();
  EXPECT_TRUE(GetChunks(cid, {1}, &chunks, kBob).ok());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].data(), big_.substr(kChunkSize, kChunkSize));
  // Alice comes back to the end of the queue.
  st = GetChunks(cid, {0}, &chunks, kAlice);
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(st.message().find("queued at position 2"), absl::string_view::npos)
      << st;
}

TEST_F(PeerServiceTest, BadRequesterIdIsInvalidArgument) {
  const std::string cid = HashBuffer(big_).cid;
  EXPECT_EQ(RequestSlot("", cid).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (std::string bad : {std::string("abc"), std::string(64, 'G'),
                          std::string(65, 'a')}) {
    EXPECT_EQ(RequestSlot(bad, cid).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
    std::vector<Chunk> chunks;
    EXPECT_EQ(GetChunks(cid, {0}, &chunks, bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(service_->queued_uploads(), 0);
  EXPECT_EQ(service_->active_uploads(), 0);
}

TEST_F(PeerServiceTest, GetChunksWithoutRequesterIdIsKeyedByConnection) {
  PeerServiceImpl::Options options;
  options.max_uploads = 1;
  StartWith(options);
  const std::string cid = HashBuffer(big_).cid;
  std::vector<Chunk> chunks;
  // A peer that predates RequestSlot: served, and it takes the slot.
  ASSERT_TRUE(GetChunks(cid, {0}, &chunks, "").ok());
  ASSERT_EQ(chunks.size(), 1u);
  ASSERT_TRUE(GetChunks(cid, {1}, &chunks, "").ok());
  EXPECT_EQ(service_->active_uploads(), 1);
  EXPECT_FALSE(RequestSlot(kAlice, cid)->granted());
}

TEST_F(PeerServiceTest, RequestSlotForAFileNotHeldIsNotFound) {
  EXPECT_EQ(RequestSlot(kAlice, HashBuffer("nobody").cid).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(RequestSlot(kAlice, "zz").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service_->active_uploads(), 0);
}

TEST_F(PeerServiceTest, CorruptChunksFlagFlipsEveryChunk) {
  PeerServiceImpl::Options options;
  options.testonly_corrupt_chunks = true;
  StartWith(options);
  FileHashes h = HashBuffer(big_);
  std::vector<Chunk> chunks;
  ASSERT_TRUE(GetChunks(h.cid, {0, 1, 2}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 3u);
  for (const Chunk& c : chunks) {
    EXPECT_EQ(c.data().size(),
              static_cast<size_t>(ChunkLength(h.size, c.index())));
    EXPECT_NE(Sha256(c.data()), h.chunk_hashes[c.index()]) << c.index();
  }
  // The manifest itself is left intact.
  absl::StatusOr<Manifest> m = GetManifest(h.cid);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->chunk_hashes(0), HashToBytes(h.chunk_hashes[0]));
  // Even the empty file's one empty chunk.
  FileHashes e = HashBuffer("");
  chunks.clear();
  ASSERT_TRUE(GetChunks(e.cid, {0}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_NE(Sha256(chunks[0].data()), e.chunk_hashes[0]);
}

TEST_F(PeerServiceTest, UploadLimitPacesTheChunks) {
  // One chunk per second per requester, one chunk of burst; total unlimited.
  PeerRateLimiter limiter({/*total=*/0, /*per_peer=*/kChunkSize},
                          time_.clock());
  PeerServiceImpl::Options options;
  options.upload_limiter = &limiter;
  StartWith(options);
  const std::string cid = HashBuffer(big_).cid;
  std::vector<Chunk> chunks;
  ASSERT_TRUE(GetChunks(cid, {0, 1, 2}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[2].data(), big_.substr(2 * kChunkSize));
  // The burst paid chunk 0; chunk 1 waited 1 s, chunk 2 (12345 bytes) its
  // share of a second.
  const absl::Duration want =
      absl::Seconds(1) + absl::Seconds(12345.0 / kChunkSize);
  EXPECT_LE(absl::AbsDuration(time_.slept() - want), absl::Microseconds(1))
      << time_.slept();
  // Another requester has its own bucket.
  absl::Duration before = time_.slept();
  chunks.clear();
  ASSERT_TRUE(GetChunks(cid, {0}, &chunks, kBob).ok());
  EXPECT_EQ(time_.slept(), before);
}

TEST_F(PeerServiceTest, PartialEntryServesOnlyHeldChunks) {
  // A download in progress of a 3-chunk file that is not shared: its part
  // file has chunk 1 so far.
  const std::string other = testing::RandomBytes(2 * kChunkSize + 99, 11);
  const FileHashes h = HashBuffer(other);
  const std::string part = dir_.Sub(".other.bin.trove-part");
  std::string on_disk(other.size(), '\0');
  on_disk.replace(kChunkSize, kChunkSize, other.substr(kChunkSize, kChunkSize));
  WriteTestFile(part, on_disk);
  auto have = std::make_shared<ChunkHaveMap>(3);
  have->Set(1);
  auto entry = std::make_shared<SharedFile>();
  entry->cid = h.cid;
  entry->path = part;
  entry->name = "other.bin";
  entry->size = h.size;
  entry->chunk_hashes = h.chunk_hashes;
  entry->have = have;
  FakePartials partials;
  partials.Add(entry);
  LayeredCatalog layered({scanner_.get(), &partials});
  catalog_ = &layered;
  StartWith(PeerServiceImpl::Options());

  absl::StatusOr<Manifest> m = GetManifest(h.cid);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->have(), std::string("\x02", 1));
  EXPECT_EQ(m->size(), h.size);
  EXPECT_EQ(m->chunk_hashes_size(), 3);
  EXPECT_EQ(m->name(), "other.bin");

  std::vector<Chunk> chunks;
  ASSERT_TRUE(GetChunks(h.cid, {1}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(Sha256(chunks[0].data()), h.chunk_hashes[1]);

  chunks.clear();
  absl::Status st = GetChunks(h.cid, {1, 0}, &chunks);
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(st.message().find("chunk 0"), absl::string_view::npos) << st;
  EXPECT_NE(st.message().find("not held yet"), absl::string_view::npos) << st;
  EXPECT_TRUE(chunks.empty());  // Checked before anything is sent.
  EXPECT_EQ(GetChunks(h.cid, {3}, &chunks).code(),
            absl::StatusCode::kOutOfRange);

  // The download verifies chunk 2 and writes it: now it is served, and the
  // part file's changing size and mtime do not matter.
  on_disk.replace(2 * kChunkSize, 99, other.substr(2 * kChunkSize));
  WriteTestFile(part, on_disk);
  have->Set(2);
  EXPECT_EQ(GetManifest(h.cid)->have(), std::string("\x06", 1));
  chunks.clear();
  ASSERT_TRUE(GetChunks(h.cid, {2, 1}, &chunks).ok());
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].data(), other.substr(2 * kChunkSize));
  EXPECT_EQ(chunks[1].data(), other.substr(kChunkSize, kChunkSize));

  // Complete files are still served from the same catalog, without a map.
  EXPECT_TRUE(GetManifest(HashBuffer(big_).cid)->have().empty());
  server_.server->Shutdown();
  catalog_ = nullptr;
}

TEST_F(PeerServiceTest, CountsBytesServed) {
  const std::string cid = HashBuffer(big_).cid;
  std::vector<Chunk> chunks;
  ASSERT_TRUE(GetChunks(cid, {0, 2}, &chunks).ok());
  EXPECT_EQ(service_->bytes_served(), kChunkSize + 12345);
  EXPECT_EQ(service_->active_streams(), 0);
  EXPECT_EQ(service_->active_uploads(), 1);  // Held until idle.
  time_.Advance(absl::Seconds(2));
  EXPECT_EQ(service_->active_uploads(), 0);
}

}  // namespace
}  // namespace trove
