#include "common/search/text.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>

namespace trove {
namespace search {
namespace {

// Length of the UTF-8 sequence starting with `c` as its lead byte says, or 1
// for a byte that cannot start one.
size_t SequenceLength(unsigned char c) {
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) return 2;
  if ((c & 0xF0) == 0xE0) return 3;
  if ((c & 0xF8) == 0xF0) return 4;
  return 1;
}

unsigned char FoldAscii(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<unsigned char>(c - 'A' + 'a') : c;
}

}  // namespace

bool IsWordByte(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || c >= 0x80;
}

std::vector<std::string> Tokenize(absl::string_view text) {
  std::vector<std::string> out;
  std::string current;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (IsWordByte(c)) {
      current.push_back(static_cast<char>(FoldAscii(c)));
    } else if (!current.empty()) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

std::string NormalizeName(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (!IsWordByte(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += static_cast<char>(FoldAscii(c));
  }
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

int CharCount(absl::string_view word) {
  bool ascii = true;
  for (char c : word) {
    if (static_cast<unsigned char>(c) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) return static_cast<int>(word.size());
  return static_cast<int>(Utf8Chars(word).size());
}

bool HasDigit(absl::string_view word) {
  for (char c : word) {
    if (c >= '0' && c <= '9') return true;
  }
  return false;
}

std::vector<std::string> InnerTrigrams(absl::string_view word) {
  std::vector<absl::string_view> chars = Utf8Chars(word);
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

std::vector<std::string> OneDeletions(absl::string_view word) {
  std::vector<absl::string_view> chars = Utf8Chars(word);
  std::vector<std::string> out;
  if (chars.size() < 2) return out;
  out.reserve(chars.size());
  for (size_t skip = 0; skip < chars.size(); ++skip) {
    std::string v;
    v.reserve(word.size());
    for (size_t i = 0; i < chars.size(); ++i) {
      if (i != skip) v.append(chars[i].data(), chars[i].size());
    }
    out.push_back(std::move(v));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

namespace {

bool Ascii(absl::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// Optimal string alignment distance between sequences `a` and `b` (of
// bytes, or of UTF-8 characters), capped at limit + 1. `rows` holds
// 3 * (b.size() + 1) ints.
template <typename Seq>
int OsaDistance(const Seq& a, const Seq& b, int limit, int* rows) {
  const int n = static_cast<int>(a.size());
  const int m = static_cast<int>(b.size());
  if (std::abs(n - m) > limit) return limit + 1;
  int* prev2 = rows;
  int* prev = rows + (m + 1);
  int* cur = rows + 2 * (m + 1);
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
    int* t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return std::min(prev[m], limit + 1);
}

}  // namespace

int BoundedEditDistance(absl::string_view a_text, absl::string_view b_text,
                        int limit) {
  // ASCII words of usual length: bytes are characters, and the table fits
  // on the stack.
  if (a_text.size() < 64 && b_text.size() < 64 && Ascii(a_text) &&
      Ascii(b_text)) {
    int rows[3 * 64];
    return OsaDistance(a_text, b_text, limit, rows);
  }
  std::vector<absl::string_view> a = Utf8Chars(a_text);
  std::vector<absl::string_view> b = Utf8Chars(b_text);
  std::vector<int> rows(3 * (b.size() + 1));
  return OsaDistance(a, b, limit, rows.data());
}

int CompareNames(absl::string_view a, absl::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = FoldAscii(static_cast<unsigned char>(a[i]));
    unsigned char y = FoldAscii(static_cast<unsigned char>(b[i]));
    if (x != y) return x < y ? -1 : 1;
  }
  if (a.size() != b.size()) return a.size() < b.size() ? -1 : 1;
  int raw = a.compare(b);
  return raw < 0 ? -1 : (raw > 0 ? 1 : 0);
}

uint64_t NamePrefixKey(absl::string_view name) {
  uint64_t key = 0;
  for (size_t i = 0; i < 8; ++i) {
    key <<= 8;
    if (i < name.size()) key |= FoldAscii(static_cast<unsigned char>(name[i]));
  }
  return key;
}

}  // namespace search
}  // namespace trove
