#include "supernode/inverted_index.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

// A valid-looking cid made from a small number.
std::string Cid(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'a') + hex;
}

std::string Peer(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'b') + hex;
}

FileEntry File(int cid, const std::string& name, int64_t size = 1000) {
  FileEntry e;
  e.set_cid(Cid(cid));
  e.set_name(name);
  e.set_size(size);
  return e;
}

SearchQuery Query(const std::string& text) {
  SearchQuery q;
  q.set_text(text);
  return q;
}

// The hits of the page `query` asks for.
std::vector<SearchHit> Hits(const InvertedIndex& index, const SearchQuery& query) {
  absl::StatusOr<search::SearchPage> page = index.Search(query);
  EXPECT_TRUE(page.ok()) << page.status();
  return page.ok() ? page->hits : std::vector<SearchHit>();
}

std::vector<std::string> Names(const std::vector<SearchHit>& hits) {
  std::vector<std::string> out;
  for (const SearchHit& h : hits) out.push_back(h.name());
  return out;
}

class InvertedIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    index_.Add(Peer(1), File(1, "Queen - Bohemian Rhapsody.mp3"));
    index_.Add(Peer(1), File(2, "Rhapsody in Blue.flac", 50000));
    index_.Add(Peer(2), File(3, "queen_greatest_hits.zip", 900000));
    index_.Add(Peer(2), File(4, "Björk - Jóga.ogg"));
  }

  std::vector<std::string> Find(const std::string& text) {
    return Names(Hits(index_, Query(text)));
  }

  InvertedIndex index_;
};

TEST_F(InvertedIndexTest, WholeWords) {
  EXPECT_THAT(Find("rhapsody"),
              UnorderedElementsAre("Queen - Bohemian Rhapsody.mp3",
                                   "Rhapsody in Blue.flac"));
  EXPECT_THAT(Find("QUEEN"),
              UnorderedElementsAre("Queen - Bohemian Rhapsody.mp3",
                                   "queen_greatest_hits.zip"));
}

TEST_F(InvertedIndexTest, AllWordsMustMatch) {
  EXPECT_THAT(Find("queen rhapsody"),
              ElementsAre("Queen - Bohemian Rhapsody.mp3"));
  EXPECT_THAT(Find("queen blue"), IsEmpty());
  EXPECT_THAT(Find("rhapsody zeppelin"), IsEmpty());
}

TEST_F(InvertedIndexTest, PartOfAWord) {
  EXPECT_THAT(Find("rhaps"),
              UnorderedElementsAre("Queen - Bohemian Rhapsody.mp3",
                                   "Rhapsody in Blue.flac"));
  EXPECT_THAT(Find("hemia"), ElementsAre("Queen - Bohemian Rhapsody.mp3"));
  EXPECT_THAT(Find("greatest hit"), ElementsAre("queen_greatest_hits.zip"));
  // Two letters match word beginnings only.
  EXPECT_THAT(Find("bl"), ElementsAre("Rhapsody in Blue.flac"));
  EXPECT_THAT(Find("ue"), IsEmpty());
}

TEST_F(InvertedIndexTest, Misspellings) {
  EXPECT_THAT(Find("rapsody"),
              UnorderedElementsAre("Queen - Bohemian Rhapsody.mp3",
                                   "Rhapsody in Blue.flac"));
  EXPECT_THAT(Find("bohemain"), ElementsAre("Queen - Bohemian Rhapsody.mp3"));
  EXPECT_THAT(Find("quen rapsody"),
              ElementsAre("Queen - Bohemian Rhapsody.mp3"));
  EXPECT_THAT(Find("xylophone"), IsEmpty());
}

TEST_F(InvertedIndexTest, MultibyteWords) {
  EXPECT_THAT(Find("björk"), ElementsAre("Björk - Jóga.ogg"));
  // Only ASCII is case-folded; "jÓga" is one edit away from "jóga".
  EXPECT_THAT(Find("JÓGA"), ElementsAre("Björk - Jóga.ogg"));
  EXPECT_THAT(Find("ÓÓÓÓ"), IsEmpty());
  EXPECT_THAT(Find("jóga"), ElementsAre("Björk - Jóga.ogg"));
  EXPECT_THAT(Find("bjork"), ElementsAre("Björk - Jóga.ogg"));  // one edit
}

TEST_F(InvertedIndexTest, ExtensionIsAWordToo) {
  EXPECT_THAT(Find("mp3"), ElementsAre("Queen - Bohemian Rhapsody.mp3"));
}

TEST_F(InvertedIndexTest, SizeFilters) {
  SearchQuery q = Query("rhapsody");
  q.set_min_size(10000);
  EXPECT_THAT(Names(Hits(index_, q)), ElementsAre("Rhapsody in Blue.flac"));
  q.set_min_size(0);
  q.set_max_size(10000);
  EXPECT_THAT(Names(Hits(index_, q)),
              ElementsAre("Queen - Bohemian Rhapsody.mp3"));
  q.set_min_size(1000);
  q.set_max_size(1000);
  EXPECT_THAT(Names(Hits(index_, q)),
              ElementsAre("Queen - Bohemian Rhapsody.mp3"));
}

TEST_F(InvertedIndexTest, ExtensionFilterIgnoresCase) {
  SearchQuery q = Query("rhapsody");
  q.add_extensions("FLAC");
  EXPECT_THAT(Names(Hits(index_, q)), ElementsAre("Rhapsody in Blue.flac"));
  q.add_extensions("mp3");
  EXPECT_THAT(Names(Hits(index_, q)),
              UnorderedElementsAre("Queen - Bohemian Rhapsody.mp3",
                                   "Rhapsody in Blue.flac"));
  SearchQuery none = Query("rhapsody");
  none.add_extensions("zip");
  EXPECT_THAT(Hits(index_, none), IsEmpty());
}

TEST_F(InvertedIndexTest, OneHitPerCidWithSourceCountAndCommonName) {
  // Three more peers hold cid 1; two of them call it something else.
  index_.Add(Peer(3), File(1, "bohemian rhapsody.mp3"));
  index_.Add(Peer(4), File(1, "bohemian rhapsody.mp3"));
  index_.Add(Peer(5), File(1, "Queen - Bohemian Rhapsody.mp3"));
  index_.Add(Peer(6), File(1, "bohemian rhapsody.mp3"));
  std::vector<SearchHit> hits = Hits(index_, Query("bohemian"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].cid(), Cid(1));
  EXPECT_EQ(hits[0].source_count(), 5);
  EXPECT_EQ(hits[0].name(), "bohemian rhapsody.mp3");
  EXPECT_EQ(hits[0].size(), 1000);
}

TEST_F(InvertedIndexTest, MatchOnAMinorityNameStillFindsTheCid) {
  index_.Add(Peer(3), File(1, "track01.mp3"));
  index_.Add(Peer(4), File(1, "track01.mp3"));
  std::vector<SearchHit> hits = Hits(index_, Query("bohemian"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].name(), "track01.mp3");
  EXPECT_EQ(hits[0].source_count(), 3);
  // Words must all come from one name: "track01" and "queen" never share
  // a name.
  EXPECT_THAT(Hits(index_, Query("track01 queen")), IsEmpty());
}

TEST_F(InvertedIndexTest, RanksByMatchThenSources) {
  InvertedIndex index;
  index.Add(Peer(1), File(1, "rhapsodic.mp3"));         // prefix match
  index.Add(Peer(1), File(2, "rhaps.mp3"));             // exact
  index.Add(Peer(1), File(3, "xrhaps.mp3"));            // part of a word
  index.Add(Peer(1), File(4, "rhapz.mp3"));             // misspelling
  index.Add(Peer(1), File(5, "popular rhapsody.mp3"));  // prefix, 3 sources
  index.Add(Peer(2), File(5, "popular rhapsody.mp3"));
  index.Add(Peer(3), File(5, "popular rhapsody.mp3"));
  // The whole word, then parts of words by sources and name, then the
  // misspelling.
  EXPECT_THAT(Names(Hits(index, Query("rhaps"))),
              ElementsAre("rhaps.mp3", "popular rhapsody.mp3", "rhapsodic.mp3",
                          "xrhaps.mp3", "rhapz.mp3"));
}

TEST_F(InvertedIndexTest, Limit) {
  InvertedIndex::Options options;
  options.default_limit = 3;
  options.max_limit = 5;
  InvertedIndex index(options);
  for (int i = 0; i < 10; ++i) {
    index.Add(Peer(1), File(i, absl::StrCat("song ", i, ".mp3")));
  }
  EXPECT_EQ(Hits(index, Query("song")).size(), 3u);
  SearchQuery q = Query("song");
  q.set_limit(4);
  EXPECT_EQ(Hits(index, q).size(), 4u);
  q.set_limit(100);
  EXPECT_EQ(Hits(index, q).size(), 5u);
}

TEST_F(InvertedIndexTest, RemoveWithdrawsOneSource) {
  index_.Add(Peer(3), File(1, "Queen - Bohemian Rhapsody.mp3"));
  EXPECT_TRUE(index_.Remove(Peer(1), Cid(1)));
  EXPECT_FALSE(index_.Remove(Peer(1), Cid(1)));
  EXPECT_FALSE(index_.Remove(Peer(9), Cid(1)));
  std::vector<SearchHit> hits = Hits(index_, Query("bohemian"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].source_count(), 1);
  EXPECT_TRUE(index_.Remove(Peer(3), Cid(1)));
  EXPECT_THAT(Find("bohemian"), IsEmpty());
  EXPECT_FALSE(index_.Lookup(Cid(1)).has_value());
}

TEST_F(InvertedIndexTest, RemovePeerWithdrawsAllItsFiles) {
  EXPECT_EQ(index_.RemovePeer(Peer(1)), 2u);
  EXPECT_EQ(index_.RemovePeer(Peer(1)), 0u);
  EXPECT_THAT(Find("rhapsody"), IsEmpty());
  EXPECT_THAT(Find("queen"), ElementsAre("queen_greatest_hits.zip"));
  EXPECT_EQ(index_.entry_count(), 2u);
  EXPECT_EQ(index_.FileCountOf(Peer(1)), 0u);
}

TEST_F(InvertedIndexTest, VocabularyShrinksWhenNamesGo) {
  size_t words = index_.word_count();
  index_.Add(Peer(7), File(9, "zanzibar.txt"));
  EXPECT_EQ(index_.word_count(), words + 2);  // "zanzibar" and "txt"
  index_.RemovePeer(Peer(7));
  EXPECT_EQ(index_.word_count(), words);
  EXPECT_THAT(Find("zanzibar"), IsEmpty());
  EXPECT_THAT(Find("zanzibr"), IsEmpty());
}

TEST_F(InvertedIndexTest, ReAddReplacesNameAndSize) {
  index_.Add(Peer(1), File(1, "renamed track.mp3", 1234));
  EXPECT_THAT(Find("bohemian"), IsEmpty());
  std::vector<SearchHit> hits = Hits(index_, Query("renamed"));
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].size(), 1234);
  EXPECT_EQ(hits[0].source_count(), 1);
  EXPECT_EQ(index_.entry_count(), 4u);
  // Adding the same entry again changes nothing.
  index_.Add(Peer(1), File(1, "renamed track.mp3", 1234));
  EXPECT_EQ(index_.entry_count(), 4u);
  EXPECT_EQ(Hits(index_, Query("renamed"))[0].source_count(), 1);
}

TEST_F(InvertedIndexTest, SharedNameSurvivesOneHolderLeaving) {
  index_.Add(Peer(3), File(1, "Queen - Bohemian Rhapsody.mp3"));
  index_.RemovePeer(Peer(1));
  EXPECT_THAT(Find("bohemian"), ElementsAre("Queen - Bohemian Rhapsody.mp3"));
}

TEST_F(InvertedIndexTest, LookupAndFilesOf) {
  index_.Add(Peer(3), File(1, "bohemian.mp3"));
  std::optional<InvertedIndex::CidSummary> s = index_.Lookup(Cid(1));
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->size, 1000);
  EXPECT_THAT(s->peers, ElementsAre(Peer(1), Peer(3)));
  EXPECT_FALSE(index_.Lookup(Cid(99)).has_value());

  std::vector<FileEntry> files = index_.FilesOf(Peer(1));
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].cid(), Cid(1));
  EXPECT_EQ(files[0].name(), "Queen - Bohemian Rhapsody.mp3");
  EXPECT_EQ(files[1].cid(), Cid(2));
  EXPECT_EQ(files[1].size(), 50000);
  EXPECT_THAT(index_.FilesOf(Peer(9)), IsEmpty());
  ASSERT_TRUE(index_.Get(Peer(2), Cid(4)).has_value());
  EXPECT_EQ(index_.Get(Peer(2), Cid(4))->name(), "Björk - Jóga.ogg");
  EXPECT_FALSE(index_.Get(Peer(2), Cid(1)).has_value());
}

TEST_F(InvertedIndexTest, DuplicateQueryWordsAndPunctuation) {
  EXPECT_THAT(Find("  rhapsody, RHAPSODY!! queen "),
              ElementsAre("Queen - Bohemian Rhapsody.mp3"));
}

TEST(InvertedIndexStandingTest, NewcomersCannotRenameAnEstablishedLeafsFile) {
  InvertedIndex::Options options;
  options.establish_after = absl::Hours(1);
  InvertedIndex index(options);
  absl::Time now = absl::FromUnixSeconds(1700000000);
  index.SetKnownSince(Peer(1), now - absl::Hours(2), now);
  index.Add(Peer(1), File(1, "moonlight.iso"));
  for (int p : {2, 3, 4}) {
    index.SetKnownSince(Peer(p), now, now);
    index.Add(Peer(p), File(1, "zz_trojan_setup_moonlight.exe"));
  }
  EXPECT_EQ(index.newcomer_count(), 3u);
  for (const char* text : {"moonlight", "trojan"}) {
    absl::StatusOr<search::SearchPage> page = index.Search(Query(text));
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->hits.size(), 1u) << text;
    EXPECT_EQ(page->hits[0].name(), "moonlight.iso") << text;
    EXPECT_EQ(page->hits[0].source_count(), 4) << text;
  }
  EXPECT_EQ(index.Lookup(Cid(1))->name, "moonlight.iso");
  // The established leaf leaves: only newcomers, whose name shows.
  index.RemovePeer(Peer(1));
  index.ForgetPeer(Peer(1));
  EXPECT_EQ(index.Lookup(Cid(1))->name, "zz_trojan_setup_moonlight.exe");
  // It joins again: a newcomer here, until it has stayed an hour.
  index.SetKnownSince(Peer(1), now, now);
  index.Add(Peer(1), File(1, "moonlight.iso"));
  index.Add(Peer(1), File(2, "other.iso"));
  EXPECT_EQ(index.Lookup(Cid(1))->name, "zz_trojan_setup_moonlight.exe");
  now += absl::Minutes(30);
  // Peers 2..4 came 30 minutes before peer 1 this time.
  for (int p : {2, 3, 4}) index.SetKnownSince(Peer(p), now - absl::Minutes(50), now);
  EXPECT_FALSE(index.AnyDue(now));
  now += absl::Minutes(10);
  ASSERT_TRUE(index.AnyDue(now));
  index.Settle(now);
  EXPECT_EQ(index.Lookup(Cid(1))->name, "zz_trojan_setup_moonlight.exe");
  EXPECT_EQ(index.newcomer_count(), 1u);
}

TEST(InvertedIndexStandingTest, AgeingInCountsTheVote) {
  InvertedIndex::Options options;
  options.establish_after = absl::Minutes(5);
  InvertedIndex index(options);
  absl::Time now = absl::FromUnixSeconds(1700000000);
  index.SetKnownSince(Peer(1), now, now);
  index.Add(Peer(1), File(1, "moonlight.iso"));
  now += absl::Minutes(4);
  for (int p : {2, 3}) {
    index.SetKnownSince(Peer(p), now, now);
    index.Add(Peer(p), File(1, "zz_trojan_setup_moonlight.exe"));
  }
  EXPECT_EQ(index.Lookup(Cid(1))->name, "zz_trojan_setup_moonlight.exe");
  now += absl::Minutes(1);
  index.Settle(now);
  EXPECT_EQ(index.Lookup(Cid(1))->name, "moonlight.iso");
  // A file added after coming of age votes as established at once.
  index.Add(Peer(1), File(2, "b.iso"));
  index.Add(Peer(2), File(2, "a.iso"));
  EXPECT_EQ(index.Lookup(Cid(2))->name, "b.iso");
}

TEST(InvertedIndexScaleTest, ManyFilesChurn) {
  // Adds and removes many entries and checks the structures stay exact.
  InvertedIndex index;
  for (int p = 0; p < 20; ++p) {
    for (int f = 0; f < 200; ++f) {
      index.Add(Peer(p),
                File(p * 1000 + f, absl::StrCat("artist", p, " title", f,
                                                " common.mp3")));
    }
  }
  EXPECT_EQ(index.entry_count(), 4000u);
  // Exact words first; "title120" (a longer word) and "artist1" (one edit)
  // match too, below it.
  std::vector<SearchHit> hits = Hits(index, Query("artist7 title12"));
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].name(), "artist7 title12 common.mp3");
  SearchQuery q = Query("common");
  q.set_limit(1000);
  EXPECT_EQ(Hits(index, q).size(), 1000u);
  for (int p = 0; p < 20; p += 2) index.RemovePeer(Peer(p));
  EXPECT_EQ(index.entry_count(), 2000u);
  for (const SearchHit& hit : Hits(index, Query("artist8"))) {
    EXPECT_THAT(hit.name(), ::testing::Not(::testing::StartsWith("artist8 ")));
  }
  hits = Hits(index, Query("artist9 title199"));
  ASSERT_FALSE(hits.empty());
  EXPECT_EQ(hits[0].name(), "artist9 title199 common.mp3");
  for (int p = 1; p < 20; p += 2) index.RemovePeer(Peer(p));
  EXPECT_EQ(index.entry_count(), 0u);
  EXPECT_EQ(index.word_count(), 0u);
  EXPECT_EQ(index.cid_count(), 0u);
}

}  // namespace
}  // namespace supernode
}  // namespace trove
