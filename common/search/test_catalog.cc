#include "common/search/test_catalog.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/search/text.h"

namespace trove {
namespace search {
namespace {

const char* const kFixedWords[] = {
    "perl", "pel", "the", "live", "lively", "alive", "olive", "queen",
    "queens", "rhapsody", "bohemian", "dreng", "maxquath", "brown", "broken",
    "mp3", "cat", "car", "cart", "björk", "jóga", "café", "東京", "naïve",
    "remix", "remastered", "2001", "2011", "1977", "01", "02", "a", "ab"};

const char* const kExtensions[] = {"mp3", "flac", "ogg", "mkv", "avi", "mp4",
                                   "jpg", "png", "pdf", "epub", "txt", "zip",
                                   "rar", "iso", "exe", "dat", ""};

std::string MakeWord(std::mt19937_64& rng) {
  static const char* const kOnsets[] = {"b", "br", "c", "ch", "d", "dr", "f",
                                        "g", "gr", "h", "j", "k", "l", "m",
                                        "n", "p", "pr", "qu", "r", "s", "st",
                                        "t", "tr", "v", "w", "z"};
  static const char* const kVowels[] = {"a", "e", "i", "o", "u", "ai", "ea",
                                        "ou", "y"};
  std::uniform_int_distribution<int> syllables(1, 4);
  std::string w;
  int n = syllables(rng);
  for (int i = 0; i < n; ++i) {
    w += kOnsets[rng() % (sizeof(kOnsets) / sizeof(kOnsets[0]))];
    w += kVowels[rng() % (sizeof(kVowels) / sizeof(kVowels[0]))];
  }
  if (rng() % 3 == 0) w += "n";
  return w;
}

// Index in [0, n) with a long tail: low indexes much more often.
size_t Zipf(std::mt19937_64& rng, size_t n) {
  std::uniform_real_distribution<double> u(0, 1);
  double x = std::pow(static_cast<double>(n), u(rng));
  return std::min(n - 1, static_cast<size_t>(x) - 1);
}

std::string RandomCid(std::mt19937_64& rng) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string cid;
  for (int i = 0; i < 64; ++i) cid.push_back(kHex[rng() % 16]);
  return cid;
}

int64_t SizeFor(const std::string& ext, std::mt19937_64& rng) {
  std::uniform_int_distribution<int64_t> small(1, 200000);
  std::uniform_int_distribution<int64_t> medium(1000000, 50000000);
  std::uniform_int_distribution<int64_t> large(100000000, 4000000000);
  if (ext == "mkv" || ext == "avi" || ext == "mp4" || ext == "iso") {
    return large(rng);
  }
  if (ext == "mp3" || ext == "flac" || ext == "ogg" || ext == "zip" ||
      ext == "rar") {
    return medium(rng);
  }
  return small(rng);
}

std::string Misspell(const std::string& word, std::mt19937_64& rng) {
  std::string w = word;
  switch (rng() % 4) {
    case 0:  // insert
      w.insert(w.begin() + static_cast<long>(rng() % (w.size() + 1)),
               static_cast<char>('a' + rng() % 26));
      break;
    case 1:  // delete
      w.erase(w.begin() + static_cast<long>(rng() % w.size()));
      break;
    case 2:  // substitute
      w[rng() % w.size()] = static_cast<char>('a' + rng() % 26);
      break;
    default: {  // swap neighbours
      size_t i = rng() % (w.size() - 1);
      std::swap(w[i], w[i + 1]);
    }
  }
  return w;
}

}  // namespace

TestCatalog MakeTestCatalog(uint64_t seed, int files) {
  std::mt19937_64 rng(seed);
  TestCatalog catalog;
  absl::flat_hash_set<std::string> seen;
  for (const char* w : kFixedWords) {
    if (seen.insert(w).second) catalog.words.push_back(w);
  }
  const size_t vocabulary = std::max<size_t>(200, static_cast<size_t>(files) / 4);
  while (catalog.words.size() < vocabulary) {
    std::string w = MakeWord(rng);
    if (seen.insert(w).second) catalog.words.push_back(w);
  }
  // Fixed words spread over the ranks, not all at the head.
  std::shuffle(catalog.words.begin(), catalog.words.end(), rng);
  static const char* const kSeparators[] = {" ", "_", " - ", ".", "  "};
  auto make_name = [&]() {
    int words = 1 + static_cast<int>(rng() % 5);
    std::string name;
    for (int i = 0; i < words; ++i) {
      if (i > 0) name += kSeparators[rng() % 5];
      std::string w = catalog.words[Zipf(rng, catalog.words.size())];
      if (rng() % 4 == 0 && !w.empty()) w[0] = absl::ascii_toupper(w[0]);
      name += w;
    }
    std::string ext = kExtensions[rng() % (sizeof(kExtensions) / sizeof(kExtensions[0]))];
    if (!ext.empty()) {
      if (rng() % 8 == 0) ext = absl::AsciiStrToUpper(ext);
      absl::StrAppend(&name, ".", ext);
    }
    return std::make_pair(name, absl::AsciiStrToLower(ext));
  };
  for (int i = 0; i < files; ++i) {
    ReferenceFile f;
    f.cid = RandomCid(rng);
    auto [name, ext] = make_name();
    if (i > 0 && rng() % 8 == 0) {
      // Another encoding of a file already there: the same name (and often
      // the same number of sources) under another cid.
      const ReferenceFile& twin = catalog.files[rng() % catalog.files.size()];
      name = twin.names.begin()->first;
      size_t dot = name.rfind('.');
      ext = dot == std::string::npos ? "" : absl::AsciiStrToLower(name.substr(dot + 1));
    }
    f.size = SizeFor(ext, rng);
    int holders = 1 + static_cast<int>(Zipf(rng, 40));
    f.names[name] = holders;
    int extra = rng() % 10 < 7 ? 0 : 1 + static_cast<int>(rng() % 2);
    for (int k = 0; k < extra; ++k) {
      // Another name for the same file: sometimes the same words in
      // another case, sometimes different words.
      std::string other =
          rng() % 2 == 0 ? absl::AsciiStrToLower(name) : make_name().first;
      f.names[other] += 1 + static_cast<int>(Zipf(rng, 10));
    }
    catalog.files.push_back(std::move(f));
  }
  return catalog;
}

std::vector<TestQuery> MakeTestQueries(const TestCatalog& catalog,
                                       uint64_t seed, int per_shape) {
  std::mt19937_64 rng(seed);
  // Words as they occur in names, so common words are drawn more often.
  std::vector<std::vector<std::string>> names;
  for (const ReferenceFile& f : catalog.files) {
    for (const auto& [name, count] : f.names) names.push_back(Tokenize(name));
  }
  auto name_words = [&]() -> const std::vector<std::string>& {
    return names[rng() % names.size()];
  };
  auto any_word = [&](size_t min_chars) {
    for (int tries = 0; tries < 1000; ++tries) {
      const std::vector<std::string>& ws = name_words();
      const std::string& w = ws[rng() % ws.size()];
      if (w.size() >= min_chars) return w;
    }
    return std::string("queen");
  };
  auto ascii_word = [&](size_t min_chars, size_t max_chars) {
    for (int tries = 0; tries < 1000; ++tries) {
      std::string w = any_word(min_chars);
      bool ascii = std::all_of(w.begin(), w.end(), [](char c) {
        return static_cast<unsigned char>(c) < 0x80 && !absl::ascii_isdigit(c);
      });
      if (ascii && w.size() <= max_chars) return w;
    }
    return std::string("perl");
  };
  std::vector<TestQuery> out;
  for (int i = 0; i < per_shape; ++i) {
    out.push_back({"word", any_word(1)});
    std::string w = ascii_word(4, 64);
    out.push_back({"prefix", w.substr(0, 2 + rng() % (w.size() - 2))});
    w = ascii_word(5, 64);
    out.push_back({"infix", w.substr(1, 3 + rng() % (w.size() - 4))});
    out.push_back({"misspelt", Misspell(ascii_word(4, 32), rng)});
    out.push_back({"misspelt3", Misspell(ascii_word(3, 3), rng)});
    out.push_back({"two words", absl::StrCat(any_word(3), " ", any_word(1))});
    const std::vector<std::string>& ws = name_words();
    if (ws.size() >= 2) {
      size_t start = rng() % (ws.size() - 1);
      out.push_back({"phrase", absl::StrCat("\"", ws[start], " ",
                                            ws[start + 1], "\"")});
    }
    out.push_back({"exclusion", absl::StrCat(any_word(3), " -", any_word(1))});
    if (ws.size() >= 3) {
      out.push_back({"excluded phrase",
                     absl::StrCat(ws[0], " -\"", ws[1], " ", ws[2], "\"")});
    }
    out.push_back({"short prefix", ascii_word(2, 64).substr(0, 1 + rng() % 2)});
    out.push_back({"digits", rng() % 2 == 0 ? "2001" : "01"});
  }
  return out;
}

}  // namespace search
}  // namespace trove
