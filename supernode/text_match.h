// How file names and queries are cut into words, and how a query word is
// compared with a word of a name: equal, part of it, or close to it (a
// misspelling). These are the same rules the index server applies, so a
// search gives the same kind of results from a supernode and from the index.
//
// Words are maximal runs of ASCII letters and digits and of non-ASCII UTF-8
// characters (any byte >= 0x80 counts as a letter), with ASCII lowercased.
// Trigrams are taken over characters (code points), padded as in PostgreSQL's
// pg_trgm: two spaces before the word and one after ("  c", " ca", "cat",
// "at ").
//
// All functions are pure and thread-safe.
#ifndef TROVE_SUPERNODE_TEXT_MATCH_H_
#define TROVE_SUPERNODE_TEXT_MATCH_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trove {
namespace supernode {

// The words of `text`, lowercased, in order, duplicates kept.
std::vector<std::string> Tokenize(absl::string_view text);

// The UTF-8 characters of a word, each as its bytes. A malformed byte is
// taken as a character on its own.
std::vector<absl::string_view> Utf8Chars(absl::string_view word);

// The distinct padded trigrams of a word (sorted).
std::vector<std::string> PaddedTrigrams(absl::string_view word);

// The distinct trigrams of a word without padding (sorted); empty for words
// of fewer than three characters.
std::vector<std::string> InnerTrigrams(absl::string_view word);

// |A ∩ B| / |A ∪ B| over the padded trigrams of `a` and `b` (0 when both
// are empty).
double TrigramSimilarity(absl::string_view a, absl::string_view b);

// Edit distance between `a` and `b` over characters, counting an insertion,
// a deletion, a substitution or a swap of two neighbours as one edit
// (optimal string alignment). Returns `limit + 1` as soon as the distance is
// known to be above `limit`.
int BoundedEditDistance(absl::string_view a, absl::string_view b, int limit);

// How a query word matched a word of a name.
enum class MatchKind { kNone, kFuzzy, kSubstring, kPrefix, kExact };

// Tuning of fuzzy matching.
struct MatchOptions {
  // Trigram similarity at or above which two words are taken as the same
  // word misspelt.
  double min_similarity = 0.4;
  // Query words shorter than this (in characters) match only whole words
  // and word beginnings, never misspellings or the middle of a word.
  int min_fuzzy_chars = 3;
};

// Most edits allowed for a query word of `chars` characters to still match:
// 0 below 4 characters, 1 up to 7, 2 from 8.
int MaxEditsFor(int chars);

// A match of a query word against a word of a name and its quality in
// (0, 1] (1 = the same word).
struct WordMatch {
  MatchKind kind = MatchKind::kNone;
  double quality = 0;
};

// Compares query word `token` with name word `word` by the rules above.
WordMatch MatchWord(absl::string_view token, absl::string_view word,
                    const MatchOptions& options);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_TEXT_MATCH_H_
