#include "peer_client/hash_cache.h"

#include <string>

#include "gtest/gtest.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::ReadTestFile;
using testing::TempDir;
using testing::WriteTestFile;

class HashCacheTest : public ::testing::Test {
 protected:
  std::string CachePath() const { return dir_.Sub("hashcache"); }

  TempDir dir_;
};

TEST_F(HashCacheTest, MissingFileIsEmpty) {
  std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
  EXPECT_EQ(cache->size(), 0u);
  EXPECT_FALSE(cache->Lookup("/a", 1, 2).has_value());
}

TEST_F(HashCacheTest, RoundTripsThroughDisk) {
  FileHashes big = HashBuffer(std::string(3 * kChunkSize + 7, 'x'));
  FileHashes empty = HashBuffer("");
  {
    std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
    cache->Put("/share/big.bin", big.size, 111, big);
    cache->Put("/share/empty", 0, 222, empty);
    ASSERT_TRUE(cache->Save().ok());
  }
  std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
  ASSERT_EQ(cache->size(), 2u);
  std::optional<FileHashes> got = cache->Lookup("/share/big.bin", big.size, 111);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->cid, big.cid);
  EXPECT_EQ(got->chunk_hashes, big.chunk_hashes);
  EXPECT_EQ(got->size, big.size);
  got = cache->Lookup("/share/empty", 0, 222);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->cid, empty.cid);
}

TEST_F(HashCacheTest, LookupRequiresSameSizeAndMtime) {
  std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
  FileHashes h = HashBuffer("hello");
  cache->Put("/f", 5, 100, h);
  EXPECT_TRUE(cache->Lookup("/f", 5, 100).has_value());
  EXPECT_FALSE(cache->Lookup("/f", 5, 101).has_value());
  EXPECT_FALSE(cache->Lookup("/f", 6, 100).has_value());
  EXPECT_FALSE(cache->Lookup("/g", 5, 100).has_value());
}

TEST_F(HashCacheTest, RetainOnlyForgetsOtherPaths) {
  std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
  FileHashes h = HashBuffer("a");
  cache->Put("/a", 1, 1, h);
  cache->Put("/b", 1, 1, h);
  cache->RetainOnly({"/b"});
  EXPECT_FALSE(cache->Lookup("/a", 1, 1).has_value());
  EXPECT_TRUE(cache->Lookup("/b", 1, 1).has_value());
}

TEST_F(HashCacheTest, CorruptFileStartsEmpty) {
  {
    std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
    cache->Put("/a", 1, 1, HashBuffer("a"));
    ASSERT_TRUE(cache->Save().ok());
  }
  std::string data = ReadTestFile(CachePath());
  ASSERT_GT(data.size(), 20u);
  data[12] ^= 0x40;  // Flip one bit inside the body.
  WriteTestFile(CachePath(), data);
  std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
  EXPECT_EQ(cache->size(), 0u);
  // The next save replaces the corrupt file with a good one.
  ASSERT_TRUE(cache->Save().ok());
  EXPECT_EQ(HashCache::Load(CachePath())->size(), 0u);
}

TEST_F(HashCacheTest, GarbageAndTruncatedFilesStartEmpty) {
  WriteTestFile(CachePath(), "not a cache at all");
  EXPECT_EQ(HashCache::Load(CachePath())->size(), 0u);
  {
    std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
    cache->Put("/a", 1, 1, HashBuffer("a"));
    ASSERT_TRUE(cache->Save().ok());
  }
  std::string data = ReadTestFile(CachePath());
  WriteTestFile(CachePath(), data.substr(0, data.size() - 5));
  EXPECT_EQ(HashCache::Load(CachePath())->size(), 0u);
}

TEST_F(HashCacheTest, SaveWithoutChangesDoesNotWrite) {
  std::unique_ptr<HashCache> cache = HashCache::Load(CachePath());
  ASSERT_TRUE(cache->Save().ok());
  EXPECT_FALSE(testing::PathExists(CachePath()));
}

}  // namespace
}  // namespace trove
