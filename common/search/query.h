// A search query taken apart (words, phrases, exclusions, filters, order,
// cursor), the order of hits, and the cursor that continues a page.
//
// Query text syntax:
//   rhapsody queen        both words must match (each as a whole word, part
//                         of a word or a misspelling)
//   "bohemian rhapsody"   these words, next to each other, as written
//   -live                 no name holding the word "live"
//   -"live at"            no name holding that phrase
// Everything else between words (punctuation) only separates words.
//
// Pure functions; thread-safe.
#ifndef TROVE_COMMON_SEARCH_QUERY_H_
#define TROVE_COMMON_SEARCH_QUERY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "protos/types.pb.h"

namespace trove {
namespace search {

// A query may hold at most this many distinct words (required and
// excluded together).
inline constexpr size_t kMaxQueryWords = 16;
// Longest cursor accepted, in bytes.
inline constexpr size_t kMaxCursorBytes = 512;

// One required word of a query.
struct QueryTerm {
  std::string word;
  // True for words of a quoted phrase: only the whole word matches.
  bool exact_only = false;
};

// Where a page of results starts: the sort key of the last hit shown.
struct HitKey {
  SearchMatch match = SEARCH_MATCH_EXACT;
  // Live sources (relevance and sources order) or size (size order).
  int64_t value = 0;
  std::string name;
  // 64 lowercase hex digits.
  std::string cid;
};

struct ParsedQuery {
  // Distinct required words, in order of first appearance.
  std::vector<QueryTerm> terms;
  // Phrases of two or more words that must occur consecutively.
  std::vector<std::vector<std::string>> phrases;
  // Words no matching name may hold.
  std::vector<std::string> excluded_words;
  // Phrases (two or more words) no matching name may hold.
  std::vector<std::vector<std::string>> excluded_phrases;
  // 0: no bound.
  int64_t min_size = 0;
  int64_t max_size = 0;
  // Lowercase extensions; a name passes when its extension is one of these
  // or of `kind` (when either is set).
  absl::flat_hash_set<std::string> extensions;
  FileKind kind = FILE_KIND_ANY;
  SearchSort sort = SEARCH_SORT_RELEVANCE;
  bool reverse = false;
  // Hits strictly after this key, when set.
  std::optional<HitKey> after;
  // Hits per page, at least 1.
  int limit = 1;

  bool has_type_filter() const {
    return !extensions.empty() || kind != FILE_KIND_ANY;
  }
};

// One page of results.
struct SearchPage {
  std::vector<SearchHit> hits;
  // Set when more hits follow the last one (see SearchQuery.cursor).
  std::string next_cursor;
};

// Takes `query` apart. The limit is `default_limit` when the query says 0,
// and at most `max_limit`.
// INVALID_ARGUMENT when the text has no word to look for (only
// exclusions), more than kMaxQueryWords words, or a cursor that is
// malformed or was made for another order. Does not repeat the checks of
// ValidateSearchQuery (common/validation.h); call that first.
absl::StatusOr<ParsedQuery> ParseQuery(const SearchQuery& query,
                                       int default_limit, int max_limit);

// A query as it comes from the network: ValidateSearchQuery, then
// ParseQuery. What every service that answers searches calls.
absl::StatusOr<ParsedQuery> ParseRequestQuery(const SearchQuery& query,
                                              int default_limit,
                                              int max_limit);

// Negative when `a` comes before `b` in the order of `sort` (reversed when
// `reverse`), positive when after, zero when the keys are equal.
int CompareHitKeys(const HitKey& a, const HitKey& b, SearchSort sort,
                   bool reverse);

// The key of `hit` in the order of `sort`.
HitKey KeyOfHit(const SearchHit& hit, SearchSort sort);

// The opaque cursor that continues after `key` (printable: URL-safe
// base64).
std::string EncodeCursor(const HitKey& key, SearchSort sort, bool reverse);

// The key inside `cursor`, checked against `sort` and `reverse`.
// INVALID_ARGUMENT when malformed or made for another order.
absl::StatusOr<HitKey> DecodeCursor(absl::string_view cursor, SearchSort sort,
                                    bool reverse);

// Hex <-> 32 raw bytes for cids and peer ids. REQUIRES for FromHex: 64
// hex digits (returns false otherwise).
bool HexToRaw(absl::string_view hex, std::string* raw);
std::string RawToHex(absl::string_view raw);

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_QUERY_H_
