#include "common/search/matcher.h"

#include "common/search/kinds.h"
#include "common/search/query.h"
#include "common/search/text.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace search {
namespace {

using ::testing::ElementsAre;

ParsedQuery Parse(const std::string& text) {
  SearchQuery q;
  q.set_text(text);
  absl::StatusOr<ParsedQuery> p = ParseQuery(q, 10, 100);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? *p : ParsedQuery();
}

std::optional<SearchMatch> Name(const std::string& query,
                                const std::string& name) {
  return MatchNameWords(Parse(query), Tokenize(name), MatchOptions());
}

TEST(MatchWordTest, Kinds) {
  MatchOptions o;
  EXPECT_EQ(MatchWord("rhapsody", "rhapsody", false, o), SEARCH_MATCH_EXACT);
  EXPECT_EQ(MatchWord("rhaps", "rhapsody", false, o), SEARCH_MATCH_PARTIAL);
  EXPECT_EQ(MatchWord("psod", "rhapsody", false, o), SEARCH_MATCH_PARTIAL);
  EXPECT_EQ(MatchWord("rapsody", "rhapsody", false, o), SEARCH_MATCH_MISSPELLED);
  EXPECT_EQ(MatchWord("bohemain", "bohemian", false, o),
            SEARCH_MATCH_MISSPELLED);
  EXPECT_EQ(MatchWord("pel", "perl", false, o), SEARCH_MATCH_MISSPELLED);
  EXPECT_EQ(MatchWord("drneg", "dreng", false, o), SEARCH_MATCH_MISSPELLED);
  EXPECT_EQ(MatchWord("maxqauth", "maxquath", false, o),
            SEARCH_MATCH_MISSPELLED);
  EXPECT_EQ(MatchWord("queen", "rhapsody", false, o), std::nullopt);
  // Two edits are not a misspelling.
  EXPECT_EQ(MatchWord("broen", "broken", false, o), SEARCH_MATCH_MISSPELLED);
  EXPECT_EQ(MatchWord("broen", "bran", false, o), std::nullopt);
  // Short query words match only whole words and beginnings.
  EXPECT_EQ(MatchWord("rh", "rhapsody", false, o), SEARCH_MATCH_PARTIAL);
  EXPECT_EQ(MatchWord("ps", "rhapsody", false, o), std::nullopt);
  EXPECT_EQ(MatchWord("ca", "cb", false, o), std::nullopt);
  // Words with digits are not misspelt.
  EXPECT_EQ(MatchWord("2001", "2011", false, o), std::nullopt);
  EXPECT_EQ(MatchWord("mp3", "mp4", false, o), std::nullopt);
  EXPECT_EQ(MatchWord("mpa", "mp4", false, o), std::nullopt);
  // Phrase words match only whole words.
  EXPECT_EQ(MatchWord("rhaps", "rhapsody", true, o), std::nullopt);
  EXPECT_EQ(MatchWord("rhapsody", "rhapsody", true, o), SEARCH_MATCH_EXACT);
}

TEST(ParseQueryTest, WordsPhrasesAndExclusions) {
  ParsedQuery p = Parse("queen \"Bohemian Rhapsody\" -live -\"at wembley\" x-y");
  std::vector<std::string> words;
  for (const QueryTerm& t : p.terms) {
    words.push_back(t.word + (t.exact_only ? "!" : ""));
  }
  EXPECT_THAT(words, ElementsAre("queen", "bohemian!", "rhapsody!", "x", "y"));
  ASSERT_EQ(p.phrases.size(), 1u);
  EXPECT_THAT(p.phrases[0], ElementsAre("bohemian", "rhapsody"));
  EXPECT_THAT(p.excluded_words, ElementsAre("live"));
  ASSERT_EQ(p.excluded_phrases.size(), 1u);
  EXPECT_THAT(p.excluded_phrases[0], ElementsAre("at", "wembley"));
}

TEST(ParseQueryTest, RefusesQueriesOfExclusionsOnly) {
  SearchQuery q;
  q.set_text("-live -\"x y\"");
  EXPECT_EQ(ParseQuery(q, 10, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseQueryTest, RefusesTooManyWords) {
  SearchQuery q;
  q.set_text("a b c d e f g h i j k l m n o p -q");
  EXPECT_EQ(ParseQuery(q, 10, 10).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ParseQueryTest, LimitDefaultsAndCaps) {
  SearchQuery q;
  q.set_text("x");
  EXPECT_EQ(ParseQuery(q, 7, 100)->limit, 7);
  q.set_limit(1000);
  EXPECT_EQ(ParseQuery(q, 7, 100)->limit, 100);
}

TEST(CursorTest, RoundTripsAndIsTiedToItsOrder) {
  HitKey k;
  k.match = SEARCH_MATCH_PARTIAL;
  k.value = 123456789012;
  k.name = "Björk - Jóga.ogg";
  k.cid = std::string(64, 'a');
  std::string c = EncodeCursor(k, SEARCH_SORT_SIZE, true);
  absl::StatusOr<HitKey> back = DecodeCursor(c, SEARCH_SORT_SIZE, true);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->match, k.match);
  EXPECT_EQ(back->value, k.value);
  EXPECT_EQ(back->name, k.name);
  EXPECT_EQ(back->cid, k.cid);
  EXPECT_EQ(DecodeCursor(c, SEARCH_SORT_SIZE, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCursor(c, SEARCH_SORT_NAME, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeCursor("not a cursor", SEARCH_SORT_SIZE, true).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MatchNameTest, AllWordsPhrasesAndExclusions) {
  EXPECT_EQ(Name("queen rhaps", "Queen - Bohemian Rhapsody.mp3"),
            SEARCH_MATCH_PARTIAL);
  EXPECT_EQ(Name("queen rhapsody", "Queen - Bohemian Rhapsody.mp3"),
            SEARCH_MATCH_EXACT);
  EXPECT_EQ(Name("queen rapsody", "Queen - Bohemian Rhapsody.mp3"),
            SEARCH_MATCH_MISSPELLED);
  EXPECT_EQ(Name("queen blue", "Queen - Bohemian Rhapsody.mp3"), std::nullopt);
  EXPECT_EQ(Name("\"bohemian rhapsody\"", "Queen - Bohemian Rhapsody.mp3"),
            SEARCH_MATCH_EXACT);
  EXPECT_EQ(Name("\"rhapsody bohemian\"", "Queen - Bohemian Rhapsody.mp3"),
            std::nullopt);
  EXPECT_EQ(Name("queen -live", "Queen - Bohemian Rhapsody (Live).mp3"),
            std::nullopt);
  EXPECT_EQ(Name("queen -liv", "Queen - Bohemian Rhapsody (Live).mp3"),
            SEARCH_MATCH_EXACT);
  EXPECT_EQ(Name("queen -\"rhapsody live\"",
                 "Queen - Bohemian Rhapsody (Live).mp3"),
            std::nullopt);
}

TEST(FilterTest, ExtensionsAndKinds) {
  SearchQuery q;
  q.set_text("x");
  q.add_extensions("MP3");
  q.set_kind(FILE_KIND_VIDEO);
  ParsedQuery p = *ParseQuery(q, 10, 10);
  EXPECT_TRUE(TypePasses(p, "mp3"));
  EXPECT_TRUE(TypePasses(p, "mkv"));
  EXPECT_FALSE(TypePasses(p, "flac"));
  EXPECT_FALSE(TypePasses(p, ""));
  EXPECT_EQ(KindOfExtension("flac"), FILE_KIND_AUDIO);
  EXPECT_EQ(KindOfExtension("weird"), FILE_KIND_ANY);
  EXPECT_EQ(ParseKind("Archive"), FILE_KIND_ARCHIVE);
  EXPECT_EQ(ParseKind("nonsense"), std::nullopt);
}

}  // namespace
}  // namespace search
}  // namespace trove
