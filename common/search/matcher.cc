#include "common/search/matcher.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/match.h"
#include "common/search/kinds.h"
#include "common/search/text.h"

namespace trove {
namespace search {

std::optional<SearchMatch> MatchWord(absl::string_view term,
                                     absl::string_view word, bool exact_only,
                                     const MatchOptions& options) {
  if (term.empty() || word.empty()) return std::nullopt;
  if (term == word) return SEARCH_MATCH_EXACT;
  if (exact_only) return std::nullopt;
  const int term_chars = CharCount(term);
  if (term_chars >= options.min_infix_chars
          ? absl::StrContains(word, term)
          : absl::StartsWith(word, term)) {
    return SEARCH_MATCH_PARTIAL;
  }
  if (term_chars < options.min_fuzzy_chars ||
      term_chars > options.max_fuzzy_chars || HasDigit(term)) {
    return std::nullopt;
  }
  const int word_chars = CharCount(word);
  if (word_chars < options.min_fuzzy_chars ||
      word_chars > options.max_fuzzy_chars ||
      std::abs(word_chars - term_chars) > 1 || HasDigit(word)) {
    return std::nullopt;
  }
  if (BoundedEditDistance(term, word, 1) <= 1) return SEARCH_MATCH_MISSPELLED;
  return std::nullopt;
}

bool HoldsPhrase(const std::vector<std::string>& words,
                 const std::vector<std::string>& phrase) {
  if (phrase.empty() || phrase.size() > words.size()) return false;
  for (size_t start = 0; start + phrase.size() <= words.size(); ++start) {
    if (std::equal(phrase.begin(), phrase.end(), words.begin() + start)) {
      return true;
    }
  }
  return false;
}

std::optional<SearchMatch> MatchNameWords(const ParsedQuery& query,
                                          const std::vector<std::string>& words,
                                          const MatchOptions& options) {
  for (const std::string& w : query.excluded_words) {
    if (std::find(words.begin(), words.end(), w) != words.end()) {
      return std::nullopt;
    }
  }
  for (const auto& phrase : query.excluded_phrases) {
    if (HoldsPhrase(words, phrase)) return std::nullopt;
  }
  for (const auto& phrase : query.phrases) {
    if (!HoldsPhrase(words, phrase)) return std::nullopt;
  }
  SearchMatch worst = SEARCH_MATCH_EXACT;
  for (const QueryTerm& term : query.terms) {
    std::optional<SearchMatch> best;
    for (const std::string& w : words) {
      std::optional<SearchMatch> m =
          MatchWord(term.word, w, term.exact_only, options);
      if (m.has_value() && (!best.has_value() || *m < *best)) best = m;
      if (best == SEARCH_MATCH_EXACT) break;
    }
    if (!best.has_value()) return std::nullopt;
    worst = std::max(worst, *best);
  }
  return worst;
}

bool SizePasses(const ParsedQuery& query, int64_t size) {
  if (query.min_size > 0 && size < query.min_size) return false;
  if (query.max_size > 0 && size > query.max_size) return false;
  return true;
}

bool TypePasses(const ParsedQuery& query, absl::string_view extension) {
  if (!query.has_type_filter()) return true;
  if (query.extensions.contains(extension)) return true;
  return query.kind != FILE_KIND_ANY && !extension.empty() &&
         KindOfExtension(extension) == query.kind;
}

}  // namespace search
}  // namespace trove
