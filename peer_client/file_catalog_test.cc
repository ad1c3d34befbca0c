#include "peer_client/file_catalog.h"

#include <map>
#include <string>

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
