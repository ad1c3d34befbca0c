// How a query matches a name: the rules every Trove search applies, on the
// index and on every supernode, so a query gives the same hits whoever
// answers it. SearchIndex (search_index.h) is the fast form of these rules;
// the functions here are the plain form, used for single names and as the
// reference the index is tested against.
//
// A query word matches a word of a name:
//   exactly      the same word;
//   in part      the word begins with it, or (query words of 3 characters
//                or more) holds it anywhere: "rhaps", "psody" -> rhapsody;
//   misspelt     query words of 3 to 32 characters without digits, against
//                name words of 3 to 32 characters without digits (so "mp3"
//                never finds mp4, nor "2001" 2011): one edit apart
//                (a character added, dropped or changed, or two neighbours
//                swapped): "rapsody", "pel" -> perl, "drneg" -> dreng.
// Words of a quoted phrase match only exactly. A name matches when every
// query word matches one of its words, every phrase occurs in it as
// consecutive words, and it holds no excluded word or phrase; the match is
// as good as its worst query word.
//
// Pure functions; thread-safe.
#ifndef TROVE_COMMON_SEARCH_MATCHER_H_
#define TROVE_COMMON_SEARCH_MATCHER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/search/query.h"
#include "protos/types.pb.h"

namespace trove {
namespace search {

struct MatchOptions {
  // Query words of at least this many characters match inside a word, not
  // only at its beginning.
  int min_infix_chars = 3;
  // Words (query and name) of fewer characters never match by misspelling.
  int min_fuzzy_chars = 3;
  // Words (query and name) of more characters never match by misspelling.
  int max_fuzzy_chars = 32;
};

// How `term` matches the name word `word`, or nullopt when it does not.
std::optional<SearchMatch> MatchWord(absl::string_view term,
                                     absl::string_view word, bool exact_only,
                                     const MatchOptions& options);

// How a name whose words (Tokenize) are `words` matches the words, phrases
// and exclusions of `query`; nullopt when it does not. Filters are not
// looked at.
std::optional<SearchMatch> MatchNameWords(const ParsedQuery& query,
                                          const std::vector<std::string>& words,
                                          const MatchOptions& options);

// Whether a file of `size` passes the query's size bounds.
bool SizePasses(const ParsedQuery& query, int64_t size);

// Whether a name with lowercase extension `extension` passes the query's
// extension and kind filters.
bool TypePasses(const ParsedQuery& query, absl::string_view extension);

// True when `words` holds `phrase` as consecutive words.
bool HoldsPhrase(const std::vector<std::string>& words,
                 const std::vector<std::string>& phrase);

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_MATCHER_H_
