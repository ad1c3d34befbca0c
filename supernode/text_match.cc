#include "supernode/text_match.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/match.h"

namespace trove {
namespace supernode {
namespace {

bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c >= 0x80;
}

// Length of the UTF-8 sequence starting with `c` as its lead byte says, or 1
// for a byte that cannot start one.
size_t SequenceLength(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

std::vector<std::string> Trigrams(absl::string_view word, bool padded) {
  std::vector<absl::string_view> chars = Utf8Chars(word);
  static constexpr absl::string_view kPad = " ";
  if (padded) {
    chars.insert(chars.begin(), 2, kPad);
    chars.push_back(kPad);
  }
  std::vector<std::string> out;
  if (chars.size() < 3) return out;
  out.reserve(chars.size() - 2);
  for (size_t i = 0; i + 2 < chars.size(); ++i) {
    std::string t;
    t.reserve(chars[i].size() + chars[i + 1].size() + chars[i + 2].size());
    t.append(chars[i].data(), chars[i].size());
    t.append(chars[i + 1].data(), chars[i + 1].size());
    t.append(chars[i + 2].data(), chars[i + 2].size());
    out.push_back(std::move(t));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace

std::vector<std::string> Tokenize(absl::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (IsWordByte(c)) {
      current.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a')
                                             : ch);
    } else if (!current.empty()) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::vector<absl::string_view> Utf8Chars(absl::string_view word) {
  std::vector<absl::string_view> out;
  out.reserve(word.size());
  size_t i = 0;
  while (i < word.size()) {
    size_t len = SequenceLength(static_cast<unsigned char>(word[i]));
    if (i + len > word.size()) len = 1;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(word[i + k]) & 0xC0) != 0x80) {
        len = 1;
        break;
      }
    }
    out.push_back(word.substr(i, len));
    i += len;
  }
  return out;
}

std::vector<std::string> PaddedTrigrams(absl::string_view word) {
  return Trigrams(word, /*padded=*/true);
}

std::vector<std::string> InnerTrigrams(absl::string_view word) {
  return Trigrams(word, /*padded=*/false);
}

double TrigramSimilarity(absl::string_view a, absl::string_view b) {
  std::vector<std::string> ta = PaddedTrigrams(a);
  std::vector<std::string> tb = PaddedTrigrams(b);
  if (ta.empty() && tb.empty()) return 0;
  size_t shared = 0;
  size_t i = 0, j = 0;
  while (i < ta.size() && j < tb.size()) {
    if (ta[i] == tb[j]) {
      ++shared;
      ++i;
      ++j;
    } else if (ta[i] < tb[j]) {
      ++i;
    } else {
      ++j;
    }
  }
  return static_cast<double>(shared) /
         static_cast<double>(ta.size() + tb.size() - shared);
}

int BoundedEditDistance(absl::string_view a_text, absl::string_view b_text,
                        int limit) {
  std::vector<absl::string_view> a = Utf8Chars(a_text);
  std::vector<absl::string_view> b = Utf8Chars(b_text);
  const int n = static_cast<int>(a.size());
  const int m = static_cast<int>(b.size());
  if (std::abs(n - m) > limit) return limit + 1;
  // Three rows of the optimal-string-alignment table.
  std::vector<int> prev2(m + 1), prev(m + 1), cur(m + 1);
  for (int j = 0; j <= m; ++j) prev[j] = j;
  for (int i = 1; i <= n; ++i) {
    cur[0] = i;
    int row_min = cur[0];
    for (int j = 1; j <= m; ++j) {
      int cost = a[i - 1] == b[j - 1] ? 0 : 1;
      int v = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
        v = std::min(v, prev2[j - 2] + 1);
      }
      cur[j] = v;
      row_min = std::min(row_min, v);
    }
    if (row_min > limit) return limit + 1;
    std::swap(prev2, prev);
    std::swap(prev, cur);
  }
  return std::min(prev[m], limit + 1);
}

int MaxEditsFor(int chars) {
  if (chars < 4) return 0;
  if (chars < 8) return 1;
  return 2;
}

WordMatch MatchWord(absl::string_view token, absl::string_view word,
                    const MatchOptions& options) {
  if (token.empty() || word.empty()) return {};
  if (token == word) return {MatchKind::kExact, 1.0};
  if (absl::StartsWith(word, token)) return {MatchKind::kPrefix, 0.9};
  const int token_chars = static_cast<int>(Utf8Chars(token).size());
  if (token_chars < options.min_fuzzy_chars) return {};
  if (absl::StrContains(word, token)) return {MatchKind::kSubstring, 0.75};
  double similarity = TrigramSimilarity(token, word);
  const int word_chars = static_cast<int>(Utf8Chars(word).size());
  const int max_edits = MaxEditsFor(token_chars);
  if (max_edits > 0) {
    int d = BoundedEditDistance(token, word, max_edits);
    if (d <= max_edits) {
      similarity = std::max(
          similarity, 1.0 - static_cast<double>(d) /
                                static_cast<double>(
                                    std::max(token_chars, word_chars)));
      return {MatchKind::kFuzzy, 0.6 * similarity};
    }
  }
  if (similarity >= options.min_similarity) {
    return {MatchKind::kFuzzy, 0.6 * similarity};
  }
  return {};
}

}  // namespace supernode
}  // namespace trove
