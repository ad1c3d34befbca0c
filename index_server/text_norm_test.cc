#include "index_server/text_norm.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(NormalizeNameTest, LowercasesAndSplitsOnPunctuation) {
  EXPECT_EQ(NormalizeName("Bohemian_Rhapsody (Live).MP3"),
            "bohemian rhapsody live mp3");
  EXPECT_EQ(NormalizeName("  --a--b--  "), "a b");
  EXPECT_EQ(NormalizeName("Track01.flac"), "track01 flac");
  EXPECT_EQ(NormalizeName("..."), "");
  EXPECT_EQ(NormalizeName(""), "");
}

TEST(NormalizeNameTest, KeepsNonAsciiBytes) {
  EXPECT_EQ(NormalizeName("Bj\xc3\xb6rk - J\xc3\xb3ga.ogg"),
            "bj\xc3\xb6rk j\xc3\xb3ga ogg");
}

TEST(QueryWordsTest, SplitsAndDeduplicates) {
  EXPECT_THAT(QueryWords("Queen - queen: Rhapsody!"),
              ElementsAre("queen", "rhapsody"));
  EXPECT_THAT(QueryWords("?!"), IsEmpty());
}

}  // namespace
}  // namespace index_server
}  // namespace trove
