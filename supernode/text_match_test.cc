#include "supernode/text_match.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(TokenizeTest, LowercasesAndSplitsOnPunctuation) {
  EXPECT_THAT(Tokenize("Queen - Bohemian_Rhapsody (1975).MP3"),
              ElementsAre("queen", "bohemian", "rhapsody", "1975", "mp3"));
}

TEST(TokenizeTest, KeepsMultibyteCharactersAsLetters) {
  EXPECT_THAT(Tokenize("Björk—Jóga.flac"),
              // The em dash is a multibyte character too, so it joins.
              ElementsAre("björk—jóga", "flac"));
  EXPECT_THAT(Tokenize("東京 tower"), ElementsAre("東京", "tower"));
}

TEST(TokenizeTest, EmptyAndPunctuationOnly) {
  EXPECT_THAT(Tokenize(""), IsEmpty());
  EXPECT_THAT(Tokenize(" -_.()"), IsEmpty());
}

TEST(Utf8CharsTest, SplitsCodePoints) {
  EXPECT_THAT(Utf8Chars("aé東"), ElementsAre("a", "é", "東"));
  // A stray continuation byte is a character of its own.
  EXPECT_THAT(Utf8Chars("a\x80z"), ElementsAre("a", "\x80", "z"));
  // A truncated sequence too.
  EXPECT_THAT(Utf8Chars("a\xe6"), ElementsAre("a", "\xe6"));
}

TEST(TrigramTest, PaddedLikePgTrgm) {
  EXPECT_THAT(PaddedTrigrams("cat"), ElementsAre("  c", " ca", "at ", "cat"));
  EXPECT_THAT(InnerTrigrams("cat"), ElementsAre("cat"));
  EXPECT_THAT(InnerTrigrams("ab"), IsEmpty());
  EXPECT_THAT(PaddedTrigrams("a"), ElementsAre("  a", " a "));
}

TEST(TrigramTest, Similarity) {
  EXPECT_DOUBLE_EQ(TrigramSimilarity("rhapsody", "rhapsody"), 1.0);
  // 6 shared of 8 and 9.
  EXPECT_NEAR(TrigramSimilarity("rapsody", "rhapsody"), 6.0 / 11.0, 1e-9);
  EXPECT_DOUBLE_EQ(TrigramSimilarity("abc", "xyz"), 0.0);
}

TEST(EditDistanceTest, CountsSwapsAsOne) {
  EXPECT_EQ(BoundedEditDistance("bohemain", "bohemian", 2), 1);
  EXPECT_EQ(BoundedEditDistance("kitten", "sitting", 5), 3);
  EXPECT_EQ(BoundedEditDistance("kitten", "sitting", 1), 2);
  EXPECT_EQ(BoundedEditDistance("abc", "abc", 0), 0);
  EXPECT_EQ(BoundedEditDistance("abcdef", "a", 2), 3);
  EXPECT_EQ(BoundedEditDistance("björk", "bjork", 1), 1);
}

TEST(MatchWordTest, Kinds) {
  MatchOptions o;
  EXPECT_EQ(MatchWord("rhapsody", "rhapsody", o).kind, MatchKind::kExact);
  EXPECT_EQ(MatchWord("rhaps", "rhapsody", o).kind, MatchKind::kPrefix);
  EXPECT_EQ(MatchWord("psod", "rhapsody", o).kind, MatchKind::kSubstring);
  EXPECT_EQ(MatchWord("rapsody", "rhapsody", o).kind, MatchKind::kFuzzy);
  EXPECT_EQ(MatchWord("bohemain", "bohemian", o).kind, MatchKind::kFuzzy);
  EXPECT_EQ(MatchWord("queen", "rhapsody", o).kind, MatchKind::kNone);
  // Short words match only whole words and beginnings.
  EXPECT_EQ(MatchWord("rh", "rhapsody", o).kind, MatchKind::kPrefix);
  EXPECT_EQ(MatchWord("ps", "rhapsody", o).kind, MatchKind::kNone);
  EXPECT_EQ(MatchWord("cat", "car", o).kind, MatchKind::kNone);
}

TEST(MatchWordTest, QualityOrder) {
  MatchOptions o;
  double exact = MatchWord("rhapsody", "rhapsody", o).quality;
  double prefix = MatchWord("rhaps", "rhapsody", o).quality;
  double part = MatchWord("psody", "rhapsody", o).quality;
  double fuzzy = MatchWord("rapsody", "rhapsody", o).quality;
  EXPECT_GT(exact, prefix);
  EXPECT_GT(prefix, part);
  EXPECT_GT(part, fuzzy);
  EXPECT_GT(fuzzy, 0);
}

}  // namespace
}  // namespace supernode
}  // namespace trove
