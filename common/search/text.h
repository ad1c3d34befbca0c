// How file names and query text are cut into words, and the character-level
// tools the matcher uses (UTF-8 characters, trigrams, edit distance).
//
// Words are maximal runs of ASCII letters and digits and of non-ASCII UTF-8
// characters (any byte >= 0x80 counts as a letter), with ASCII lowercased.
// Everything else separates words. The same rules hold on the index and on
// every supernode, so a name yields the same words wherever it is indexed.
//
// All functions are pure and thread-safe.
#ifndef TROVE_COMMON_SEARCH_TEXT_H_
#define TROVE_COMMON_SEARCH_TEXT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trove {
namespace search {

// True for a byte that belongs to a word (see above).
bool IsWordByte(unsigned char c);

// The words of `text`, lowercased, in order, duplicates kept.
//   "Bohemian_Rhapsody (Live).MP3" -> {"bohemian", "rhapsody", "live", "mp3"}
std::vector<std::string> Tokenize(absl::string_view text);

// The words of `text` joined by single spaces ("bohemian rhapsody live mp3").
std::string NormalizeName(absl::string_view text);

// The UTF-8 characters of a word, each as its bytes. A malformed byte is
// taken as a character on its own.
std::vector<absl::string_view> Utf8Chars(absl::string_view word);

// Number of characters of `word` (as Utf8Chars counts them).
int CharCount(absl::string_view word);

// True when `word` holds an ASCII digit.
bool HasDigit(absl::string_view word);

// The distinct trigrams of `word` over characters, without padding, sorted;
// empty for words of fewer than three characters.
std::vector<std::string> InnerTrigrams(absl::string_view word);

// The distinct strings made by deleting one character of `word`, sorted.
// Empty for a word of fewer than two characters.
std::vector<std::string> OneDeletions(absl::string_view word);

// Edit distance between `a` and `b` over characters, counting an insertion,
// a deletion, a substitution or a swap of two neighbours as one edit
// (optimal string alignment). Returns `limit + 1` as soon as the distance is
// known to be above `limit`.
int BoundedEditDistance(absl::string_view a, absl::string_view b, int limit);

// Orders names the way results sorted by name are shown: by bytes with ASCII
// letters folded to lowercase, then by raw bytes. Negative, zero or positive
// like strcmp.
int CompareNames(absl::string_view a, absl::string_view b);

// The first eight bytes of `name` with ASCII lowercased, big-endian, padded
// with zeros: comparing two of these orders names as CompareNames does,
// except that equal values need the full comparison.
uint64_t NamePrefixKey(absl::string_view name);

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_TEXT_H_
