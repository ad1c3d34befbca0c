#include "common/merkle.h"

#include <unistd.h>

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace {

// The byte pattern the vectors were computed over: byte i = (i*31 + 7) mod 256.
std::string Pattern(int64_t n) {
  std::string s(n, '\0');
  for (int64_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + 7) & 0xff);
  return s;
}

struct Vector {
  int64_t size;
  const char* cid;
  const char* root;
};

// Computed independently of this code from the definition in merkle.h.
constexpr Vector kVectors[] = {
    {0, "16a1f5a1a8f6fdadd3e3f4c48a3fc8a2619472552599c779509f322a62fdfaf1",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {1, "93772de1dd9648c23ef2e56636a065b4fd788b9e133a27fd5840a01a118a7592",
     "ca358758f6d27e6cf45272937977a748fd88391db679ceda7dc7bf1f005ee879"},
    {1048576,
     "4af0c0e69bd45a463f3c02b17b98758eed499308486c60a8e0591f6bdae86b78",
     "06b7bbfb7824aa03382051691630eb26de85102d1b08a81e907ec0744cd8a286"},
    {1048577,
     "9923ac728038af2e46a2bd451e1b9824a307447030339cfd8705ee90e307c046",
     "a66c4ebf7898089f3dd766ced505e1d6e153055f997a3dfc4b209f6ef8bf7940"},
    {5 * 1048576 + 123,
     "5a3f9098263f549cd91cd7bdb5e85160a0db6dcb784af5b3e92e54e681ab7f43",
     "f7d211e2ad95d728b2cce28b31bf70212cd59060355520f2d4575c0b16ab9286"},
};

TEST(MerkleTest, KnownVectors) {
  for (const Vector& v : kVectors) {
    FileHashes h = HashBuffer(Pattern(v.size));
    EXPECT_EQ(h.size, v.size);
    EXPECT_EQ(static_cast<int64_t>(h.chunk_hashes.size()), ChunkCount(v.size));
    EXPECT_EQ(HexEncode(MerkleRoot(h.chunk_hashes)), v.root) << v.size;
    EXPECT_EQ(h.cid, v.cid) << v.size;
  }
}

TEST(MerkleTest, ChunkArithmetic) {
  EXPECT_EQ(ChunkCount(0), 1);
  EXPECT_EQ(ChunkCount(1), 1);
  EXPECT_EQ(ChunkCount(kChunkSize), 1);
  EXPECT_EQ(ChunkCount(kChunkSize + 1), 2);
  EXPECT_EQ(ChunkLength(kChunkSize + 1, 0), kChunkSize);
  EXPECT_EQ(ChunkLength(kChunkSize + 1, 1), 1);
  EXPECT_EQ(ChunkLength(0, 0), 0);
}

TEST(MerkleTest, HashFileMatchesBuffer) {
  char path[] = "/tmp/trove_merkle_XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  std::string data = Pattern(3 * kChunkSize + 77);
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  close(fd);
  int64_t last_progress = -1;
  absl::StatusOr<FileHashes> h =
      HashFile(path, [&](int64_t done, int64_t) { last_progress = done; });
  unlink(path);
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->cid, HashBuffer(data).cid);
  EXPECT_EQ(last_progress, static_cast<int64_t>(data.size()));
}

TEST(MerkleTest, HashFileMissing) {
  EXPECT_EQ(HashFile("/nonexistent/trove/file").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(MerkleTest, VerifyManifest) {
  std::string data = Pattern(2 * kChunkSize + 5);
  data[kChunkSize] ^= 0x55;  // chunks 0 and 1 differ
  FileHashes h = HashBuffer(data);
  EXPECT_TRUE(VerifyManifest(h.cid, h.size, h.chunk_hashes).ok());
  // Wrong size for the hash count.
  EXPECT_EQ(VerifyManifest(h.cid, 5, h.chunk_hashes).code(),
            absl::StatusCode::kInvalidArgument);
  // Same count, different size: the cid binds the size.
  EXPECT_EQ(VerifyManifest(h.cid, h.size + 1, h.chunk_hashes).code(),
            absl::StatusCode::kDataLoss);
  // A tampered chunk hash.
  std::vector<Hash> bad = h.chunk_hashes;
  bad[1][0] ^= 1;
  EXPECT_EQ(VerifyManifest(h.cid, h.size, bad).code(),
            absl::StatusCode::kDataLoss);
  // Swapped chunks change the root.
  std::vector<Hash> swapped = h.chunk_hashes;
  std::swap(swapped[0], swapped[1]);
  EXPECT_EQ(VerifyManifest(h.cid, h.size, swapped).code(),
            absl::StatusCode::kDataLoss);
}

TEST(MerkleTest, HexRoundTrip) {
  Hash h = Sha256("abc");
  EXPECT_EQ(HexEncode(h),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  absl::StatusOr<Hash> back = HashFromHex(HexEncode(h));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, h);
  EXPECT_EQ(HashFromHex("zz").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HashFromBytes("short").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*HashFromBytes(HashToBytes(h)), h);
}

}  // namespace
}  // namespace trove
