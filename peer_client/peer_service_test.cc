#include "peer_client/peer_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "common/grpc_status.h"
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

constexpr char kPeerId[] =
    "1111111111111111111111111111111111111111111111111111111111111111";

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
    service_ = std::make_unique<PeerServiceImpl>(scanner_.get(), kPeerId,
                                                 options);
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {service_.get()}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    stub_ = trove::peer::PeerService::NewStub(MakeChannel(server_.address));
  }

  void TearDown() override { server_.server->Shutdown(); }

  absl::StatusOr<Manifest> GetManifest(const std::string& cid) {
    grpc::ClientContext ctx;
    GetManifestRequest req;
    req.set_cid(cid);
    Manifest m;
    grpc::Status st = stub_->GetManifest(&ctx, req, &m);
    if (!st.ok()) return FromGrpcStatus(st);
    return m;
  }

  // Streams the asked chunks; the status of the call and what arrived.
  absl::Status GetChunks(const std::string& cid,
                         const std::vector<uint32_t>& indexes,
                         std::vector<Chunk>* out) {
    grpc::ClientContext ctx;
    GetChunksRequest req;
    req.set_cid(cid);
    for (uint32_t i : indexes) req.add_indexes(i);
    auto reader = stub_->GetChunks(&ctx, req);
    Chunk c;
    while (reader->Read(&c)) out->push_back(c);
    return FromGrpcStatus(reader->Finish());
  }

  TempDir dir_;
  std::string share_;
  std::string big_;
  std::unique_ptr<ShareScanner> scanner_;
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
  EXPECT_EQ(m->peer_id(), kPeerId);
  EXPECT_TRUE(m->have().empty());
  std::vector<Hash> hashes;
  for (const std::string& b : m->chunk_hashes()) {
    absl::StatusOr<Hash> hash = HashFromBytes(b);
    ASSERT_TRUE(hash.ok());
    hashes.push_back(*hash);
  }
  EXPECT_TRUE(VerifyManifest(m->cid(), m->size(), hashes).ok());
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

TEST_F(PeerServiceTest, NoFreeUploadSlotIsResourceExhausted) {
  PeerServiceImpl::Options options;
  options.max_uploads = 0;
  StartWith(options);
  std::vector<Chunk> chunks;
  EXPECT_EQ(GetChunks(HashBuffer(big_).cid, {0}, &chunks).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(service_->active_uploads(), 0);
}

}  // namespace
}  // namespace trove
