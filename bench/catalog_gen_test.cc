#include "bench/catalog_gen.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_split.h"
#include "common/search/kinds.h"
#include "common/validation.h"
#include "gtest/gtest.h"

namespace trove {
namespace bench {
namespace {

CatalogOptions Small() {
  CatalogOptions o;
  o.seed = 42;
  o.files = 20000;
  o.peers = 2000;
  o.sources = 50000;
  o.supernodes = 10;
  o.vocabulary = 20000;
  return o;
}

TEST(CatalogGenTest, SameSeedSameCatalog) {
  Catalog a = CatalogGenerator(Small()).Generate();
  Catalog b = CatalogGenerator(Small()).Generate();
  ASSERT_EQ(a.files.size(), b.files.size());
  ASSERT_EQ(a.sources.size(), b.sources.size());
  for (size_t i = 0; i < a.files.size(); ++i) {
    ASSERT_EQ(a.files[i].cid, b.files[i].cid);
    ASSERT_EQ(a.files[i].name, b.files[i].name);
    ASSERT_EQ(a.files[i].size, b.files[i].size);
  }
  CatalogOptions other = Small();
  other.seed = 43;
  EXPECT_NE(CatalogGenerator(other).Generate().files[0].name, a.files[0].name);
}

TEST(CatalogGenTest, SourcesAreSkewedLikeRealSharing) {
  Catalog c = CatalogGenerator(Small()).Generate();
  std::vector<int> per_file(c.files.size());
  for (const GenSource& s : c.sources) ++per_file[s.file];
  const int single = std::count(per_file.begin(), per_file.end(), 1);
  const int most = *std::max_element(per_file.begin(), per_file.end());
  EXPECT_GT(single, static_cast<int>(c.files.size()) / 2);  // most have one
  EXPECT_GE(most, 100);                                     // a few, hundreds
  EXPECT_EQ(*std::min_element(per_file.begin(), per_file.end()), 1);
  // About the asked-for total.
  EXPECT_NEAR(static_cast<double>(c.sources.size()), 50000.0, 5000.0);
  // No peer holds one file twice.
  std::map<std::pair<uint32_t, uint32_t>, int> pairs;
  for (const GenSource& s : c.sources) ++pairs[{s.file, s.peer}];
  for (const auto& [key, n] : pairs) ASSERT_EQ(n, 1);
}

TEST(CatalogGenTest, NamesAreValidWithExtensionsAndSizesByKind) {
  Catalog c = CatalogGenerator(Small()).Generate();
  std::map<FileKind, std::vector<int64_t>> sizes;
  for (const GenFile& f : c.files) {
    ASSERT_TRUE(ValidateFileName(f.name).ok()) << f.name;
    ASSERT_EQ(search::KindOfExtension(FileExtension(f.name)), f.kind) << f.name;
    sizes[f.kind].push_back(f.size);
  }
  for (FileKind k : {FILE_KIND_AUDIO, FILE_KIND_VIDEO, FILE_KIND_IMAGE,
                     FILE_KIND_DOCUMENT, FILE_KIND_ARCHIVE, FILE_KIND_SOFTWARE}) {
    EXPECT_GT(sizes[k].size(), 100u) << search::KindName(k);
  }
  auto median = [](std::vector<int64_t> v) {
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  EXPECT_GT(median(sizes[FILE_KIND_VIDEO]), 20 * median(sizes[FILE_KIND_AUDIO]));
  EXPECT_GT(median(sizes[FILE_KIND_AUDIO]), median(sizes[FILE_KIND_DOCUMENT]));
}

TEST(CatalogGenTest, VocabularyHasALongTail) {
  Catalog c = CatalogGenerator(Small()).Generate();
  absl::flat_hash_map<std::string, int> uses;
  for (const GenFile& f : c.files) {
    for (absl::string_view w : absl::StrSplit(f.name, ' ')) ++uses[std::string(w)];
  }
  int once = 0, top = 0;
  for (const auto& [w, n] : uses) {
    once += n == 1;
    top = std::max(top, n);
  }
  EXPECT_GT(top, 500);                                    // a few words everywhere
  EXPECT_GT(once, static_cast<int>(uses.size()) / 3);     // many words once
}

TEST(CatalogGenTest, NewLeavesHoldTheirOwnFiles) {
  CatalogGenerator gen(Small());
  Catalog c = gen.GenerateNewLeaves(1000, 10, 2);
  ASSERT_EQ(c.files.size(), 1000u);
  ASSERT_EQ(c.sources.size(), 1000u);
  ASSERT_EQ(c.peers.size(), 10u);
  std::vector<int> per_peer(10);
  for (const GenSource& s : c.sources) ++per_peer[s.peer];
  for (int n : per_peer) EXPECT_EQ(n, 100);
}

}  // namespace
}  // namespace bench
}  // namespace trove
