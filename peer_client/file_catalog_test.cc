#include "peer_client/file_catalog.h"

#include <map>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

TEST(ChunkHaveMapTest, StartsEmptyAndGrows) {
  ChunkHaveMap have(10);
  EXPECT_EQ(have.chunk_count(), 10);
  EXPECT_EQ(have.count(), 0);
  EXPECT_EQ(have.Bitmap(), std::string(2, '\0'));
  have.Set(0);
  have.Set(9);
  have.Set(9);  // Twice counts once.
  EXPECT_EQ(have.count(), 2);
  EXPECT_TRUE(have.Has(0));
  EXPECT_FALSE(have.Has(1));
  EXPECT_TRUE(have.Has(9));
  EXPECT_FALSE(have.Has(10));  // Past the end.
  EXPECT_EQ(have.Bitmap(), std::string("\x01\x02", 2));
}

TEST(ChunkHaveMapTest, IndexPastTheEndIsIgnored) {
  ChunkHaveMap have(3);
  have.Set(3);
  have.Set(1000);
  EXPECT_EQ(have.count(), 0);
  EXPECT_EQ(have.Bitmap(), std::string(1, '\0'));
}

TEST(ChunkHaveMapTest, EmptyFileHasOneChunk) {
  ChunkHaveMap have(0);
  EXPECT_EQ(have.chunk_count(), 1);
  have.Set(0);
  EXPECT_EQ(have.Bitmap(), std::string(1, '\x01'));
}

class MapCatalog : public FileCatalog {
 public:
  std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const override {
    auto it = files.find(std::string(cid));
    return it == files.end() ? nullptr : it->second;
  }
  std::map<std::string, std::shared_ptr<const SharedFile>> files;
};

std::shared_ptr<SharedFile> File(const std::string& cid,
                                 const std::string& path) {
  auto f = std::make_shared<SharedFile>();
  f->cid = cid;
  f->path = path;
  return f;
}

TEST(ChunkHaveMapTest, WaitForMoreWakesOnANewChunk) {
  ChunkHaveMap m(10);
  m.Set(1);
  int64_t now = -1;
  // Nothing new: waits out the timeout.
  std::string bits = m.WaitForMore(1, absl::Milliseconds(10), &now);
  EXPECT_EQ(now, 1);
  EXPECT_EQ(bits, m.Bitmap());
  std::thread setter([&m] {
    absl::SleepFor(absl::Milliseconds(20));
    m.Set(9);
  });
  bits = m.WaitForMore(1, absl::Seconds(30), &now);
  setter.join();
  EXPECT_EQ(now, 2);
  EXPECT_EQ(static_cast<uint8_t>(bits[1]) & 0x02, 0x02);
}

TEST(LayeredCatalogTest, FirstLayerHoldingTheCidAnswers) {
  MapCatalog shared, partial;
  shared.files["a"] = File("a", "/share/a");
  partial.files["a"] = File("a", "/out/.a.trove-part");
  partial.files["b"] = File("b", "/out/.b.trove-part");
  LayeredCatalog catalog({&shared, &partial});
  EXPECT_EQ(catalog.FindByCid("a")->path, "/share/a");
  EXPECT_EQ(catalog.FindByCid("b")->path, "/out/.b.trove-part");
  EXPECT_EQ(catalog.FindByCid("c"), nullptr);
}

}  // namespace
}  // namespace trove
