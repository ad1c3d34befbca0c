#include "common/search/text.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace search {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TokenizeTest, LowercasesAndSplitsOnPunctuation) {
  EXPECT_THAT(Tokenize("Bohemian_Rhapsody (Live).MP3"),
              ElementsAre("bohemian", "rhapsody", "live", "mp3"));
  EXPECT_THAT(Tokenize("AC/DC -- T.N.T"), ElementsAre("ac", "dc", "t", "n", "t"));
}

TEST(TokenizeTest, KeepsMultibyteCharactersAsLetters) {
  EXPECT_THAT(Tokenize("Björk - Jóga"), ElementsAre("björk", "jóga"));
  EXPECT_THAT(Tokenize("東京 2020"), ElementsAre("東京", "2020"));
}

TEST(TokenizeTest, EmptyAndPunctuationOnly) {
  EXPECT_THAT(Tokenize(""), IsEmpty());
  EXPECT_THAT(Tokenize(" - _ ."), IsEmpty());
}

TEST(NormalizeNameTest, JoinsWordsWithSingleSpaces) {
  EXPECT_EQ(NormalizeName("  Queen -- Greatest_Hits.zip "),
            "queen greatest hits zip");
}

TEST(Utf8CharsTest, SplitsCodePointsAndLoneBytes) {
  EXPECT_THAT(Utf8Chars("aé東"), ElementsAre("a", "é", "東"));
  EXPECT_EQ(Utf8Chars("a\xff").size(), 2u);
  EXPECT_EQ(CharCount("jóga"), 4);
}

TEST(TrigramTest, InnerTrigramsOverCharacters) {
  EXPECT_THAT(InnerTrigrams("abcd"), ElementsAre("abc", "bcd"));
  EXPECT_THAT(InnerTrigrams("ab"), IsEmpty());
  EXPECT_THAT(InnerTrigrams("jóga"), ElementsAre("jóg", "óga"));
}

TEST(OneDeletionsTest, DistinctAndSorted) {
  EXPECT_THAT(OneDeletions("perl"), ElementsAre("erl", "pel", "per", "prl"));
  EXPECT_THAT(OneDeletions("aa"), ElementsAre("a"));
  EXPECT_THAT(OneDeletions("a"), IsEmpty());
}

TEST(EditDistanceTest, CountsSwapsAsOne) {
  EXPECT_EQ(BoundedEditDistance("drneg", "dreng", 2), 1);
  EXPECT_EQ(BoundedEditDistance("pel", "perl", 2), 1);
  EXPECT_EQ(BoundedEditDistance("abc", "bca", 3), 2);
  EXPECT_EQ(BoundedEditDistance("abcdef", "a", 2), 3);
  EXPECT_EQ(BoundedEditDistance("björk", "bjork", 1), 1);
}

TEST(CompareNamesTest, FoldsAsciiCaseThenBytes) {
  EXPECT_LT(CompareNames("apple", "Banana"), 0);
  EXPECT_LT(CompareNames("Apple", "apple"), 0);
  EXPECT_EQ(CompareNames("x", "x"), 0);
  EXPECT_LT(CompareNames("ab", "abc"), 0);
  EXPECT_LT(NamePrefixKey("ab"), NamePrefixKey("abc"));
  EXPECT_EQ(NamePrefixKey("ABCDEFGHzz"), NamePrefixKey("abcdefghyy"));
}

}  // namespace
}  // namespace search
}  // namespace trove
