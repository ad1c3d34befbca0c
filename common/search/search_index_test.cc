#include "common/search/search_index.h"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/search/query.h"
#include "common/search/reference_search.h"
#include "common/search/test_catalog.h"
#include "common/search/text.h"
#include "gtest/gtest.h"

namespace trove {
namespace search {
namespace {

std::string Raw(const std::string& hex) {
  std::string raw;
  EXPECT_TRUE(HexToRaw(hex, &raw)) << hex;
  return raw;
}

std::string Describe(const SearchPage& page) {
  std::string out;
  for (const SearchHit& h : page.hits) {
    absl::StrAppend(&out, "  ", h.cid().substr(0, 8), " ", h.name(), " n=",
                    h.source_count(), " size=", h.size(), " m=", h.match(),
                    "\n");
  }
  absl::StrAppend(&out, "  next=", page.next_cursor.empty() ? "-" : "yes");
  return out;
}

bool SamePage(const SearchPage& a, const SearchPage& b) {
  if (a.hits.size() != b.hits.size() || a.next_cursor != b.next_cursor) {
    return false;
  }
  for (size_t i = 0; i < a.hits.size(); ++i) {
    const SearchHit& x = a.hits[i];
    const SearchHit& y = b.hits[i];
    if (x.cid() != y.cid() || x.name() != y.name() || x.size() != y.size() ||
        x.source_count() != y.source_count() || x.match() != y.match()) {
      return false;
    }
  }
  return true;
}

// A query's filters and order, as a test variation.
struct Variation {
  std::string label;
  int64_t min_size = 0;
  int64_t max_size = 0;
  std::vector<std::string> extensions;
  FileKind kind = FILE_KIND_ANY;
  SearchSort sort = SEARCH_SORT_RELEVANCE;
  bool reverse = false;
  int limit = 10;
};

std::vector<Variation> Variations() {
  std::vector<Variation> out;
  for (SearchSort sort : {SEARCH_SORT_RELEVANCE, SEARCH_SORT_SOURCES,
                          SEARCH_SORT_SIZE, SEARCH_SORT_NAME}) {
    for (bool reverse : {false, true}) {
      Variation v;
      v.label = absl::StrCat("sort=", sort, reverse ? " reversed" : "");
      v.sort = sort;
      v.reverse = reverse;
      out.push_back(v);
    }
  }
  Variation sized;
  sized.label = "size 1MB..60MB";
  sized.min_size = 1000000;
  sized.max_size = 60000000;
  out.push_back(sized);
  Variation ext;
  ext.label = "ext mp3,PDF";
  ext.extensions = {"mp3", "PDF"};
  out.push_back(ext);
  Variation kind;
  kind.label = "kind video by size";
  kind.kind = FILE_KIND_VIDEO;
  kind.sort = SEARCH_SORT_SIZE;
  out.push_back(kind);
  Variation both;
  both.label = "kind audio or ext txt, min size, by name";
  both.kind = FILE_KIND_AUDIO;
  both.extensions = {"txt"};
  both.min_size = 5000;
  both.sort = SEARCH_SORT_NAME;
  out.push_back(both);
  Variation small;
  small.label = "limit 3";
  small.limit = 3;
  out.push_back(small);
  return out;
}

// The query for `text` with the filters, sort and page size of `v`.
SearchQuery QueryFor(const std::string& text, const Variation& v) {
  SearchQuery q;
  q.set_text(text);
  q.set_min_size(v.min_size);
  q.set_max_size(v.max_size);
  for (const std::string& e : v.extensions) q.add_extensions(e);
  q.set_kind(v.kind);
  q.set_sort(v.sort);
  q.set_reverse(v.reverse);
  q.set_limit(v.limit);
  return q;
}

// Parameter: whether the catalog is loaded in bulk (BeginBulkLoad) or one
// source at a time.
class SearchIndexReferenceTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    catalog_ = MakeTestCatalog(/*seed=*/20261201, /*files=*/3000);
    // About a quarter of the names have established sources, often fewer
    // than another name of the same file has newcomers.
    std::mt19937_64 rng(5);
    for (ReferenceFile& f : catalog_.files) {
      for (const auto& [name, count] : f.names) {
        if (rng() % 4 == 0) f.established[name] = 1 + rng() % count;
      }
    }
    if (GetParam()) index_.BeginBulkLoad();
    for (const ReferenceFile& f : catalog_.files) {
      for (const auto& [name, count] : f.names) {
        auto e = f.established.find(name);
        const int established = e == f.established.end() ? 0 : e->second;
        for (int i = 0; i < count; ++i) {
          const Standing standing =
              i < established ? Standing::kEstablished : Standing::kNewcomer;
          docs_[{f.cid, name}].push_back(
              {index_.Add(Raw(f.cid), f.size, name, standing), standing});
        }
      }
    }
    if (GetParam()) index_.EndBulkLoad();
  }

  // Removes the last source of (cid, name) from the index and the
  // reference.
  void RemoveLast(ReferenceFile& f, const std::string& name) {
    std::vector<std::pair<SearchIndex::DocId, Standing>>& docs =
        docs_[{f.cid, name}];
    const auto [doc, standing] = docs.back();
    index_.Remove(doc, standing);
    docs.pop_back();
    --f.names[name];
    if (standing == Standing::kEstablished) --f.established[name];
  }

  // Compares up to `pages` pages of `text` under `v` with the reference;
  // returns how many hits were compared.
  int Compare(const std::string& shape, const std::string& text,
              const Variation& v, int pages) {
    SearchQuery q = QueryFor(text, v);
    int compared = 0;
    for (int page = 0; page < pages; ++page) {
      absl::StatusOr<ParsedQuery> parsed = ParseQuery(q, 10, 100);
      if (!parsed.ok()) {
        EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
            << text;
        return compared;
      }
      absl::StatusOr<SearchPage> got = index_.Search(*parsed);
      EXPECT_TRUE(got.ok()) << got.status();
      if (!got.ok()) return compared;
      SearchPage want = ReferenceSearch(catalog_.files, *parsed, MatchOptions());
      EXPECT_TRUE(SamePage(*got, want))
          << shape << " [" << text << "] " << v.label << " page " << page
          << "\nindex:\n"
          << Describe(*got) << "\nreference:\n"
          << Describe(want);
      compared += static_cast<int>(want.hits.size());
      if (want.next_cursor.empty() || !SamePage(*got, want)) break;
      q.set_cursor(want.next_cursor);
    }
    return compared;
  }

  void CompareAll(uint64_t seed, int per_shape) {
    std::vector<Variation> variations = Variations();
    std::mt19937_64 rng(seed);
    std::map<std::string, int> hits_by_shape;
    for (const TestQuery& tq : MakeTestQueries(catalog_, seed, per_shape)) {
      // The plain order with several pages, and three other variations.
      hits_by_shape[tq.shape] += Compare(tq.shape, tq.text, variations[0], 3);
      for (int k = 0; k < 3; ++k) {
        const Variation& v = variations[rng() % variations.size()];
        hits_by_shape[tq.shape] += Compare(tq.shape, tq.text, v, 2);
      }
    }
    // Every shape found something somewhere, so the comparisons are not
    // all of empty pages.
    for (const auto& [shape, hits] : hits_by_shape) {
      EXPECT_GT(hits, 0) << shape;
    }
  }

  using Standing = SearchIndex::Standing;

  // For each word, how many names of the catalog hold it.
  std::map<std::string, int> NamesWithWord() const {
    std::map<std::string, int> names_with;
    for (const ReferenceFile& f : catalog_.files) {
      for (const auto& [name, count] : f.names) {
        std::vector<std::string> ws = Tokenize(name);
        std::sort(ws.begin(), ws.end());
        ws.erase(std::unique(ws.begin(), ws.end()), ws.end());
        for (const std::string& w : ws) ++names_with[w];
      }
    }
    return names_with;
  }

  TestCatalog catalog_;
  SearchIndex index_;
  // (cid, name) -> its sources' documents and standings.
  std::map<std::pair<std::string, std::string>,
           std::vector<std::pair<SearchIndex::DocId, Standing>>>
      docs_;
};

TEST_P(SearchIndexReferenceTest, EveryShapeAndFilterMatchesTheReference) {
  CompareAll(/*seed=*/7, /*per_shape=*/6);
}

// Two words of one name, each as itself, its beginning, a part of it or
// one edit away: two terms of every match quality, with and without a
// kind, in the orders that pick different plans.
TEST_P(SearchIndexReferenceTest, TwoWordsOfEveryQualityMatchTheReference) {
  std::mt19937_64 rng(31);
  std::vector<Variation> variations = Variations();
  std::vector<Variation> picked = {variations[0], variations[2],
                                   variations[10], variations[11]};
  Variation audio;
  audio.label = "kind audio";
  audio.kind = FILE_KIND_AUDIO;
  picked.push_back(audio);
  auto change = [&](const std::string& w, int how) -> std::string {
    switch (how) {
      case 0:
        return w;
      case 1:
        return w.substr(0, 3 + rng() % (w.size() - 3));
      case 2:
        return w.substr(1, 3);
      default: {
        std::string typo = w;
        const size_t at = 1 + rng() % (typo.size() - 2);
        std::swap(typo[at], typo[at + 1]);
        if (typo == w) typo.erase(at, 1);
        return typo;
      }
    }
  };
  auto letters = [](const std::string& w) {
    return w.size() >= 5 && w.size() <= 12 &&
           std::all_of(w.begin(), w.end(),
                       [](char c) { return c >= 'a' && c <= 'z'; });
  };
  int compared = 0;
  int queries = 0;
  for (int tries = 0; tries < 5000 && queries < 48; ++tries) {
    const ReferenceFile& f = catalog_.files[rng() % catalog_.files.size()];
    std::vector<std::string> words;
    for (const std::string& w : Tokenize(f.names.begin()->first)) {
      if (letters(w)) words.push_back(w);
    }
    if (words.size() < 2) continue;
    const std::string& a = words[rng() % words.size()];
    const std::string& b = words[rng() % words.size()];
    if (a == b) continue;
    const std::string text =
        absl::StrCat(change(a, queries % 4), " ", change(b, (queries / 4) % 4));
    ++queries;
    compared += Compare("two words", text, picked[0], 3);
    for (size_t k = 1; k < picked.size(); ++k) {
      compared += Compare("two words", text, picked[k], 2);
    }
  }
  EXPECT_EQ(queries, 48);
  EXPECT_GT(compared, 0);
}

// A rare word (as itself, a beginning, a part or one edit away) with the
// commonest word, in both orders: the common word's exact matches alone
// far outnumber all of the rare word's, so it is matched per word of the
// documents the rare word finds instead of being expanded. Some of those
// documents hold only a longer or misspelt form of the common word.
TEST_P(SearchIndexReferenceTest, RareWordWithTheCommonestMatchesTheReference) {
  std::map<std::string, int> names_with = NamesWithWord();
  std::string common;
  int most = 0;
  for (const auto& [w, n] : names_with) {
    if (n > most && w.size() >= 3) {
      most = n;
      common = w;
    }
  }
  ASSERT_GE(most, 200) << common;
  auto letters = [](const std::string& w) {
    return w.size() >= 5 && w.size() <= 12 &&
           std::all_of(w.begin(), w.end(),
                       [](char c) { return c >= 'a' && c <= 'z'; });
  };
  std::vector<std::string> rare;
  std::vector<size_t> rare_file;
  for (size_t i = 0; i < catalog_.files.size(); ++i) {
    for (const auto& [name, count] : catalog_.files[i].names) {
      std::vector<std::string> ws = Tokenize(name);
      if (std::find(ws.begin(), ws.end(), common) == ws.end()) continue;
      for (const std::string& w : ws) {
        if (letters(w) && names_with[w] * 50 <= most &&
            std::find(rare.begin(), rare.end(), w) == rare.end()) {
          rare.push_back(w);
          rare_file.push_back(i);
        }
      }
    }
  }
  ASSERT_GE(rare.size(), 8u);
  // Names with the rare word and the common one only in part or misspelt.
  std::string misspelt = common;
  std::swap(misspelt[1], misspelt[2]);
  if (misspelt == common) misspelt.erase(1, 1);
  for (size_t i = 0; i < rare.size() && i < 24; ++i) {
    ReferenceFile& f = catalog_.files[rare_file[i]];
    const std::string name =
        i % 2 == 0 ? absl::StrCat(rare[i], " ", common, "s mix.ogg")
                   : absl::StrCat("Take ", rare[i], " ", misspelt, ".mp3");
    if (f.names.count(name) > 0) continue;
    f.names[name] = 1;
    docs_[{f.cid, name}].push_back(
        {index_.Add(Raw(f.cid), f.size, name, Standing::kNewcomer),
         Standing::kNewcomer});
  }
  std::mt19937_64 rng(41);
  std::vector<Variation> variations = Variations();
  Variation audio;
  audio.label = "kind audio";
  audio.kind = FILE_KIND_AUDIO;
  const std::vector<Variation> picked = {variations[0], variations[1],
                                         variations[10], variations[11], audio};
  int compared = 0;
  for (size_t i = 0; i < rare.size() && i < 24; ++i) {
    std::string r = rare[i];
    switch (i % 4) {
      case 1:
        r = r.substr(0, 3 + rng() % (r.size() - 3));
        break;
      case 2:
        r = r.substr(1, 3);
        break;
      case 3: {
        const size_t at = 1 + rng() % (r.size() - 2);
        std::swap(r[at], r[at + 1]);
        if (r == rare[i]) r.erase(at, 1);
        break;
      }
      default:
        break;
    }
    for (const std::string& text :
         {absl::StrCat(r, " ", common), absl::StrCat(common, " ", r)}) {
      compared += Compare("rare and common", text, picked[0], 3);
      for (size_t k = 1; k < picked.size(); ++k) {
        compared += Compare("rare and common", text, picked[k], 2);
      }
    }
  }
  EXPECT_GT(compared, 0);
}

// Parts, beginnings and misspellings of the commonest words, alone and
// with a second word, and words of the catalog inside them: expansions to
// many words holding a large share of the cids, walked word after word
// (their postings asked for ahead); every order, direction, filter and
// page size, the qualities after the first when it has too few hits, and
// the later pages.
TEST_P(SearchIndexReferenceTest, CommonWordsInPartMatchTheReference) {
  std::map<std::string, int> names_with = NamesWithWord();
  std::vector<std::pair<int, std::string>> by_count;
  for (const auto& [w, n] : names_with) {
    if (w.size() >= 5 && std::all_of(w.begin(), w.end(), [](char c) {
          return c >= 'a' && c <= 'z';
        })) {
      by_count.emplace_back(n, w);
    }
  }
  std::sort(by_count.rbegin(), by_count.rend());
  ASSERT_GE(by_count.size(), 6u);
  // A large share of the cids hold the commonest word.
  ASSERT_GE(by_count[0].first * 10, static_cast<int>(catalog_.files.size()));
  std::vector<std::string> texts;
  for (size_t i = 0; i < 6; ++i) {
    const std::string& w = by_count[i].second;
    std::string typo = w;
    std::swap(typo[1], typo[2]);
    if (typo == w) typo.erase(1, 1);
    for (const std::string& t :
         {w.substr(0, 3), w.substr(1, 3), w.substr(1, 4), typo}) {
      texts.push_back(t);
      texts.push_back(absl::StrCat(t, " ", by_count[(i + 1) % 6].second));
    }
    // Words of the catalog inside the common word: a few exact hits
    // before the many parts.
    for (size_t at = 0; at + 3 <= w.size(); ++at) {
      for (size_t len = 3; at + len <= w.size() && len < w.size(); ++len) {
        if (names_with.count(w.substr(at, len)) > 0) {
          texts.push_back(w.substr(at, len));
        }
      }
    }
  }
  ASSERT_GT(texts.size(), 48u);
  std::vector<Variation> variations = Variations();
  Variation audio;
  audio.label = "kind audio";
  audio.kind = FILE_KIND_AUDIO;
  variations.push_back(audio);
  Variation large;
  large.label = "limit 60";
  large.limit = 60;
  variations.push_back(large);
  int compared = 0;
  for (const std::string& text : texts) {
    for (const Variation& v : variations) {
      compared += Compare("common in part", text, v, 2);
    }
  }
  EXPECT_GT(compared, 0);
}

TEST_P(SearchIndexReferenceTest, StillMatchesAfterSourcesComeAndGo) {
  std::mt19937_64 rng(99);
  // Withdraw about a third of the holders, names and whole files included,
  // then add some back under new names.
  for (ReferenceFile& f : catalog_.files) {
    std::vector<std::string> names;
    for (const auto& [name, count] : f.names) names.push_back(name);
    for (const std::string& name : names) {
      while (f.names[name] > 0 && rng() % 3 == 0) RemoveLast(f, name);
    }
    if (rng() % 10 == 0) {
      std::string name = absl::StrCat("Extra ", catalog_.words[rng() % 50],
                                      " take.ogg");
      f.names[name] += 1;
      docs_[{f.cid, name}].push_back(
          {index_.Add(Raw(f.cid), f.size, name, Standing::kNewcomer),
           Standing::kNewcomer});
    }
  }
  CompareAll(/*seed=*/8, /*per_shape=*/4);
}

TEST_P(SearchIndexReferenceTest, StillMatchesAfterSourcesChangeStanding) {
  std::mt19937_64 rng(31);
  // Some newcomers come of age, a few established sources turn out new.
  for (ReferenceFile& f : catalog_.files) {
    for (auto& [name, count] : f.names) {
      for (auto& [doc, standing] : docs_[{f.cid, name}]) {
        if (rng() % 5 != 0) continue;
        index_.Restand(doc, standing);
        if (standing == Standing::kNewcomer) {
          standing = Standing::kEstablished;
          ++f.established[name];
        } else {
          standing = Standing::kNewcomer;
          --f.established[name];
        }
      }
    }
  }
  CompareAll(/*seed=*/9, /*per_shape=*/4);
}

TEST_P(SearchIndexReferenceTest, EmptiesCompletely) {
  size_t cids_gone = 0;
  for (auto& [key, docs] : docs_) {
    for (const auto& [d, standing] : docs) {
      cids_gone += index_.Remove(d, standing) ? 1 : 0;
    }
  }
  EXPECT_EQ(cids_gone, catalog_.files.size());
  SearchIndex::Stats s = index_.stats();
  EXPECT_EQ(s.cids, 0u);
  EXPECT_EQ(s.names, 0u);
  EXPECT_EQ(s.words, 0u);
  EXPECT_EQ(s.holders, 0u);
  SearchQuery q;
  q.set_text("queen");
  absl::StatusOr<SearchPage> page = index_.Search(*ParseQuery(q, 10, 10));
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->hits.empty());
}

INSTANTIATE_TEST_SUITE_P(Loading, SearchIndexReferenceTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Bulk" : "OneByOne";
                         });

// The name `index` shows for `cid`, as a search for `text` finds it.
std::string ShownName(const SearchIndex& index, const std::string& cid,
                      const std::string& text) {
  SearchQuery q;
  q.set_text(text);
  absl::StatusOr<SearchPage> page = index.Search(*ParseQuery(q, 10, 10));
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return "";
  for (const SearchHit& h : page->hits) {
    if (h.cid() == RawToHex(cid)) return h.name();
  }
  return "(not found)";
}

TEST(ShownNameTest, NewcomersCannotOutvoteOneEstablishedSource) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  const std::string cid(32, '\7');
  index.Add(cid, 700, "moonlight.iso", Standing::kEstablished);
  for (int i = 0; i < 5; ++i) {
    index.Add(cid, 700, "zz_trojan_setup_moonlight.exe", Standing::kNewcomer);
  }
  EXPECT_EQ(ShownName(index, cid, "moonlight"), "moonlight.iso");
  // Every name still finds the cid; the shown name stays.
  EXPECT_EQ(ShownName(index, cid, "trojan"), "moonlight.iso");
  ASSERT_TRUE(index.Lookup(cid).has_value());
  EXPECT_EQ(index.Lookup(cid)->name, "moonlight.iso");
  EXPECT_EQ(index.Lookup(cid)->sources, 6);
}

TEST(ShownNameTest, OnlyNewcomersShowTheirMostCommonName) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  const std::string cid(32, '\7');
  index.Add(cid, 700, "b name.iso", Standing::kNewcomer);
  index.Add(cid, 700, "a name.iso", Standing::kNewcomer);
  index.Add(cid, 700, "b name.iso", Standing::kNewcomer);
  EXPECT_EQ(ShownName(index, cid, "name"), "b name.iso");
  // A tie goes to the first name in CompareNames order.
  index.Add(cid, 700, "a name.iso", Standing::kNewcomer);
  EXPECT_EQ(ShownName(index, cid, "name"), "a name.iso");
}

TEST(ShownNameTest, EstablishedSourcesDisagreeing) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  const std::string cid(32, '\7');
  const SearchIndex::DocId b =
      index.Add(cid, 700, "b name.iso", Standing::kEstablished);
  const SearchIndex::DocId a =
      index.Add(cid, 700, "a name.iso", Standing::kEstablished);
  // One each: the tie goes to the first name.
  EXPECT_EQ(ShownName(index, cid, "name"), "a name.iso");
  // Newcomers do not break a tie between established sources.
  index.Add(cid, 700, "b name.iso", Standing::kNewcomer);
  index.Add(cid, 700, "b name.iso", Standing::kNewcomer);
  EXPECT_EQ(ShownName(index, cid, "name"), "a name.iso");
  // Two established against one wins.
  index.Add(cid, 700, "b name.iso", Standing::kEstablished);
  EXPECT_EQ(ShownName(index, cid, "name"), "b name.iso");
  // Back to one each (b keeps its two newcomers): the tie again.
  index.Remove(b, Standing::kEstablished);
  EXPECT_EQ(ShownName(index, cid, "name"), "a name.iso");
  // b left with newcomers only: a's one established source outvotes them.
  index.Remove(b, Standing::kEstablished);
  EXPECT_EQ(ShownName(index, cid, "name"), "a name.iso");
  // Without it, the newcomers' name shows.
  index.Restand(a, Standing::kEstablished);
  EXPECT_EQ(ShownName(index, cid, "name"), "b name.iso");
}

TEST(ShownNameTest, RestandMovesTheShownNameInEveryOrder) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  const std::string cid(32, '\7');
  const std::string other(32, '\1');
  index.Add(other, 900, "m other.iso", Standing::kNewcomer);
  const SearchIndex::DocId real =
      index.Add(cid, 700, "z real.iso", Standing::kNewcomer);
  index.Add(cid, 700, "a fake.exe", Standing::kNewcomer);
  index.Add(cid, 700, "a fake.exe", Standing::kNewcomer);
  EXPECT_EQ(ShownName(index, cid, "iso"), "a fake.exe");
  index.Restand(real, Standing::kNewcomer);
  for (SearchSort sort : {SEARCH_SORT_RELEVANCE, SEARCH_SORT_SOURCES,
                          SEARCH_SORT_SIZE, SEARCH_SORT_NAME}) {
    SearchQuery q;
    q.set_text("iso");
    q.set_sort(sort);
    absl::StatusOr<SearchPage> page = index.Search(*ParseQuery(q, 10, 10));
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->hits.size(), 2u) << sort;
    if (sort == SEARCH_SORT_NAME) {
      // By the shown name: "m other" before "z real".
      EXPECT_EQ(page->hits[0].name(), "m other.iso");
      EXPECT_EQ(page->hits[1].name(), "z real.iso");
    } else {
      const SearchHit& h =
          page->hits[0].cid() == RawToHex(cid) ? page->hits[0] : page->hits[1];
      EXPECT_EQ(h.name(), "z real.iso") << sort;
    }
  }
  index.Restand(real, Standing::kEstablished);
  EXPECT_EQ(ShownName(index, cid, "iso"), "a fake.exe");
}

TEST(SearchIndexTest, MisspellingsByOneEditFindTheWord) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  std::string cid(32, '\1');
  index.Add(cid, 100, "Learning Perl.pdf", Standing::kNewcomer);
  std::string cid2(32, '\2');
  index.Add(cid2, 100, "dreng og maxquath.txt", Standing::kNewcomer);
  for (const char* text : {"pel", "prel", "perll", "pearl", "drneg", "maxqauth",
                           "dreg", "drengs"}) {
    SearchQuery q;
    q.set_text(text);
    absl::StatusOr<SearchPage> page = index.Search(*ParseQuery(q, 10, 10));
    ASSERT_TRUE(page.ok());
    ASSERT_EQ(page->hits.size(), 1u) << text;
    EXPECT_EQ(page->hits[0].match(), SEARCH_MATCH_MISSPELLED) << text;
  }
}

// A word's slot, freed when its last name goes, is taken by the next new
// word: part-of-a-word searches then find the new word and not the old.
TEST(SearchIndexTest, PartOfAWordFollowsReusedWordSlots) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  const std::string a(32, '\1');
  const std::string b(32, '\2');
  const SearchIndex::DocId gone =
      index.Add(a, 100, "kaleidoscope.mp3", Standing::kNewcomer);
  index.Add(b, 200, "other.mp3", Standing::kNewcomer);
  auto hits = [&](const std::string& text) {
    SearchQuery q;
    q.set_text(text);
    absl::StatusOr<SearchPage> page = index.Search(*ParseQuery(q, 10, 10));
    EXPECT_TRUE(page.ok());
    std::vector<std::string> names;
    for (const SearchHit& h : page->hits) names.push_back(h.name());
    return names;
  };
  EXPECT_EQ(hits("eidosc"), std::vector<std::string>{"kaleidoscope.mp3"});
  EXPECT_TRUE(index.Remove(gone, Standing::kNewcomer));
  EXPECT_TRUE(hits("eidosc").empty());
  index.Add(a, 100, "marmalade.mp3", Standing::kNewcomer);
  EXPECT_EQ(hits("rmala"), std::vector<std::string>{"marmalade.mp3"});
  EXPECT_TRUE(hits("eidosc").empty());
  for (const char* part : {"other", "ther", "the"}) {
    EXPECT_EQ(hits(part), std::vector<std::string>{"other.mp3"}) << part;
  }
}

// A word found exactly in many names, and also as the beginning or a part
// of other words and one edit away from others: the exact names fill the
// first pages, the others follow. Every page of every order equals the
// reference, also after names go and the same names come back.
TEST(SearchIndexTest, ExactPagesThenPartsAndMisspellings) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  std::vector<ReferenceFile> files;
  // (file, name) -> documents, one per source.
  std::map<std::pair<size_t, std::string>, std::vector<SearchIndex::DocId>>
      docs;
  std::mt19937_64 rng(11);
  const std::vector<std::string> names = {
      "love song.mp3",   "Love Me Do.flac", "love.avi",       "song of love.mp3",
      "lovely day.mp3",  "glove box.pdf",   "live song.mp3",  "lobe study.pdf",
      "clover.jpg",      "loves.txt",       "dove song.ogg",  "other.zip"};
  for (size_t i = 0; i < 120; ++i) {
    ReferenceFile f;
    f.cid = std::string(64, '0');
    const std::string hex = absl::StrCat(absl::Hex(i + 1, absl::kZeroPad8));
    f.cid.replace(0, hex.size(), hex);
    f.size = static_cast<int64_t>(1000 + rng() % 100000);
    const std::string name = absl::StrCat(i % 7, " ", names[i % names.size()]);
    f.names[name] = 1 + static_cast<int>(rng() % 4);
    files.push_back(f);
  }
  auto add = [&](size_t i, const std::string& name, int count) {
    for (int k = 0; k < count; ++k) {
      docs[{i, name}].push_back(
          index.Add(Raw(files[i].cid), files[i].size, name, Standing::kNewcomer));
    }
  };
  for (size_t i = 0; i < files.size(); ++i) {
    for (const auto& [name, count] : files[i].names) add(i, name, count);
  }
  auto compare_all = [&](const std::string& label) {
    for (const char* text : {"love", "love song", "song love -dove", "live"}) {
      for (const Variation& v : Variations()) {
        SearchQuery q = QueryFor(text, v);
        for (int page = 0; page < 40; ++page) {
          absl::StatusOr<ParsedQuery> parsed = ParseQuery(q, 10, 100);
          ASSERT_TRUE(parsed.ok()) << parsed.status();
          absl::StatusOr<SearchPage> got = index.Search(*parsed);
          ASSERT_TRUE(got.ok()) << got.status();
          SearchPage want = ReferenceSearch(files, *parsed, MatchOptions());
          ASSERT_TRUE(SamePage(*got, want))
              << label << " [" << text << "] " << v.label << " page " << page
              << "\nindex:\n"
              << Describe(*got) << "\nreference:\n"
              << Describe(want);
          if (want.next_cursor.empty()) break;
          q.set_cursor(want.next_cursor);
        }
      }
    }
  };
  compare_all("loaded");
  // Every third file loses all its sources; then the same names return.
  std::vector<std::pair<size_t, std::string>> gone;
  for (size_t i = 0; i < files.size(); i += 3) {
    for (const auto& [name, count] : files[i].names) {
      for (SearchIndex::DocId d : docs[{i, name}]) index.Remove(d, Standing::kNewcomer);
      docs[{i, name}].clear();
      gone.emplace_back(i, name);
    }
  }
  std::vector<ReferenceFile> all = files;
  files.clear();
  for (size_t i = 0; i < all.size(); ++i) {
    if (i % 3 != 0) files.push_back(all[i]);
  }
  compare_all("after removal");
  files = all;
  for (const auto& [i, name] : gone) add(i, name, files[i].names[name]);
  compare_all("after re-adding");
}

TEST(SearchIndexTest, DeadlineInThePastIsExceeded) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  for (int i = 0; i < 20000; ++i) {
    std::string cid(32, '\0');
    cid[0] = static_cast<char>(i & 0xff);
    cid[1] = static_cast<char>(i >> 8);
    index.Add(cid, i, absl::StrCat("common word ", i, ".mp3"),
              Standing::kNewcomer);
  }
  SearchQuery q;
  q.set_text("comm");
  q.set_sort(SEARCH_SORT_NAME);
  q.set_reverse(true);
  absl::StatusOr<SearchPage> page =
      index.Search(*ParseQuery(q, 10, 10), absl::InfinitePast());
  // Walking the name order needs no more than a page of steps, so this one
  // may finish; a walk over every document must not.
  q.set_text("word -common");
  page = index.Search(*ParseQuery(q, 10, 10), absl::InfinitePast());
  EXPECT_EQ(page.status().code(), absl::StatusCode::kDeadlineExceeded);
}


// Changes applied in batches (BeginBatch/EndBatch) leave the index answering
// exactly as the same changes applied one at a time: new files, more
// sources of files already there, files that come and go within one batch,
// renames that change the shown name, and standing changes; in small
// batches and in large ones.
TEST(SearchIndexTest, BatchesAnswerAsOneChangeAtATime) {
  using Standing = SearchIndex::Standing;
  TestCatalog catalog = MakeTestCatalog(/*seed=*/20261128, /*files=*/2000);
  SearchIndex batched;
  SearchIndex single;
  struct Held {
    SearchIndex::DocId batched_doc;
    SearchIndex::DocId single_doc;
    Standing standing;
  };
  std::vector<Held> held;
  std::mt19937_64 rng(17);
  auto add = [&](const ReferenceFile& f, const std::string& name,
                 Standing standing) {
    held.push_back({batched.Add(Raw(f.cid), f.size, name, standing),
                    single.Add(Raw(f.cid), f.size, name, standing), standing});
  };
  auto remove_at = [&](size_t i) {
    const bool gone_b = batched.Remove(held[i].batched_doc, held[i].standing);
    const bool gone_s = single.Remove(held[i].single_doc, held[i].standing);
    EXPECT_EQ(gone_b, gone_s);
    held[i] = held.back();
    held.pop_back();
  };
  int batches = 0;
  size_t next = 0;
  while (next < catalog.files.size()) {
    batched.BeginBatch();
    // Every fourth batch is large (more new cids than a node of the orders
    // holds many times over); the others small.
    const int files_in_batch = batches % 4 == 0 ? 400 : 60;
    ++batches;
    for (int k = 0; k < files_in_batch && next < catalog.files.size();
         ++k, ++next) {
      const ReferenceFile& f = catalog.files[next];
      for (const auto& [name, count] : f.names) {
        for (int i = 0; i < count; ++i) {
          add(f, name, rng() % 3 == 0 ? Standing::kEstablished
                                      : Standing::kNewcomer);
        }
      }
      // Now and then a source goes again, some of this batch's (whole
      // files among them), some of earlier ones; or changes standing; or
      // an earlier file gets a source under a new name.
      const uint64_t r = rng() % 10;
      if (r == 0 && !held.empty()) {
        remove_at(held.size() - 1);
      } else if (r == 1 && !held.empty()) {
        remove_at(rng() % held.size());
      } else if (r == 2 && !held.empty()) {
        Held& h = held[rng() % held.size()];
        batched.Restand(h.batched_doc, h.standing);
        single.Restand(h.single_doc, h.standing);
        h.standing = h.standing == Standing::kNewcomer ? Standing::kEstablished
                                                       : Standing::kNewcomer;
      } else if (r == 3) {
        const ReferenceFile& g = catalog.files[rng() % (next + 1)];
        add(g, absl::StrCat("Aaa ", catalog.words[rng() % 40], " take.ogg"),
            Standing::kEstablished);
      }
    }
    batched.EndBatch();
  }
  ASSERT_GT(batches, 10);
  EXPECT_EQ(batched.stats().cids, single.stats().cids);
  EXPECT_EQ(batched.stats().names, single.stats().names);
  EXPECT_EQ(batched.stats().holders, single.stats().holders);
  int compared = 0;
  for (const TestQuery& tq : MakeTestQueries(catalog, 3, 4)) {
    for (const Variation& v : Variations()) {
      SearchQuery q = QueryFor(tq.text, v);
      absl::StatusOr<ParsedQuery> parsed = ParseQuery(q, 10, 100);
      if (!parsed.ok()) continue;
      absl::StatusOr<SearchPage> a = batched.Search(*parsed);
      absl::StatusOr<SearchPage> b = single.Search(*parsed);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_TRUE(SamePage(*a, *b))
          << tq.shape << " [" << tq.text << "] " << v.label
          << "\nbatched:\n" << Describe(*a) << "\none at a time:\n"
          << Describe(*b);
      compared += static_cast<int>(b->hits.size());
    }
  }
  EXPECT_GT(compared, 1000);
}

// More new cids at once than a batch's sort arrays keep are sorted for the
// orders in place; fewer through the kept arrays. Both must give each order
// as adding the cids one at a time does: names that tie on their first 20
// bytes, sizes and source counts that tie by the thousand.
TEST(SearchIndexTest, LargeAndSmallBatchesSortTheOrdersAlike) {
  using Standing = SearchIndex::Standing;
  constexpr int kCids = 70000;  // above what a batch's arrays keep (65,536)
  SearchIndex bulk, large, small, single;
  bulk.BeginBulkLoad();
  large.BeginBatch();
  for (int i = 0; i < kCids; ++i) {
    if (i % 1000 == 0) small.BeginBatch();
    const std::string cid = Raw(absl::StrFormat("%064x", i * 2654435761u));
    const std::string name = absl::StrFormat(
        "Common collection of tracks vol %05d.mp3", (i * 7919) % kCids);
    const int64_t size = 1000 * (1 + i % 7);
    for (int s = 0; s <= i % 3; ++s) {
      for (SearchIndex* index : {&bulk, &large, &small, &single}) {
        index->Add(cid, size, name, Standing::kEstablished);
      }
    }
    if (i % 1000 == 999) small.EndBatch();
  }
  small.EndBatch();
  large.EndBatch();
  bulk.EndBulkLoad();
  for (SearchSort sort :
       {SEARCH_SORT_NAME, SEARCH_SORT_SIZE, SEARCH_SORT_SOURCES}) {
    std::vector<std::string> walks[4];
    int i = 0;
    for (const SearchIndex* index : {&single, &bulk, &large, &small}) {
      std::string cursor;
      do {
        SearchQuery q;
        q.set_text("collection");
        q.set_sort(sort);
        q.set_limit(1000);
        q.set_cursor(cursor);
        absl::StatusOr<SearchPage> page =
            index->Search(*ParseQuery(q, 1000, 1000));
        ASSERT_TRUE(page.ok()) << page.status();
        for (const SearchHit& h : page->hits) walks[i].push_back(h.cid());
        cursor = page->next_cursor;
      } while (!cursor.empty());
      ++i;
    }
    ASSERT_EQ(walks[0].size(), static_cast<size_t>(kCids)) << sort;
    EXPECT_TRUE(walks[1] == walks[0]) << "bulk load, sort " << sort;
    EXPECT_TRUE(walks[2] == walks[0]) << "one large batch, sort " << sort;
    EXPECT_TRUE(walks[3] == walks[0]) << "small batches, sort " << sort;
  }
}

// The cids (hex) a search for `text` finds, all of them (sorted by name).
std::set<std::string> CidsFound(const SearchIndex& index,
                                const std::string& text) {
  SearchQuery q;
  q.set_text(text);
  q.set_sort(SEARCH_SORT_NAME);
  q.set_limit(1000);
  std::set<std::string> out;
  absl::StatusOr<SearchPage> page = index.Search(*ParseQuery(q, 1000, 1000));
  EXPECT_TRUE(page.ok()) << page.status();
  if (!page.ok()) return out;
  EXPECT_TRUE(page->next_cursor.empty());
  for (const SearchHit& h : page->hits) out.insert(h.cid());
  return out;
}

// Names that repeat a word, among many names sharing words, go in a random
// order and others come into the freed slots: each one that goes leaves a
// gap in its words' posting lists that another name's posting fills, and
// every search afterwards still finds exactly the names left.
TEST(SearchIndexTest, PostingsStayRightAsNamesComeAndGoInAnyOrder) {
  using Standing = SearchIndex::Standing;
  SearchIndex index;
  std::mt19937_64 rng(3);
  struct Held {
    std::string cid;
    SearchIndex::DocId doc;
    bool echo;
  };
  std::vector<Held> held;
  int made = 0;
  auto add = [&]() {
    const int i = made++;
    std::string cid(32, 'c');
    cid[0] = static_cast<char>(i & 0xff);
    cid[1] = static_cast<char>(i >> 8);
    const bool echo = i % 3 == 0;
    const std::string name =
        echo ? absl::StrCat("Echo shared echo x", i, " ECHO.mp3")
             : absl::StrCat("shared tone x", i, ".mp3");
    held.push_back(
        {cid, index.Add(cid, 1000 + i, name, Standing::kNewcomer), echo});
  };
  auto check = [&]() {
    std::set<std::string> echo, shared;
    for (const Held& h : held) {
      shared.insert(RawToHex(h.cid));
      if (h.echo) echo.insert(RawToHex(h.cid));
    }
    EXPECT_EQ(CidsFound(index, "echo"), echo);
    EXPECT_EQ(CidsFound(index, "shared"), shared);
    EXPECT_EQ(CidsFound(index, "shared echo"), echo);
    EXPECT_EQ(index.stats().cids, held.size());
  };
  for (int i = 0; i < 300; ++i) add();
  check();
  std::shuffle(held.begin(), held.end(), rng);
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < 90; ++k) {
      EXPECT_TRUE(index.Remove(held.back().doc, Standing::kNewcomer));
      held.pop_back();
    }
    check();
    for (int k = 0; k < 40; ++k) add();
    std::shuffle(held.begin(), held.end(), rng);
    check();
  }
  while (!held.empty()) {
    index.Remove(held.back().doc, Standing::kNewcomer);
    held.pop_back();
  }
  check();
  EXPECT_EQ(index.stats().words, 0u);
}

}  // namespace
}  // namespace search
}  // namespace trove
