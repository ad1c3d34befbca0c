#include "common/search/query.h"

#include <algorithm>
#include <array>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/search/text.h"
#include "common/validation.h"

namespace trove {
namespace search {
namespace {

constexpr char kCursorMagic[] = "T1";
constexpr size_t kCursorFixedBytes = 2 + 3 + 8 + 32;

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

// The query text cut into required words, phrases and exclusions.
struct TextParts {
  std::vector<std::pair<std::string, bool>> terms;  // word, exact_only
  std::vector<std::vector<std::string>> phrases;
  std::vector<std::string> excluded_words;
  std::vector<std::vector<std::string>> excluded_phrases;
};

TextParts SplitText(absl::string_view text) {
  TextParts parts;
  size_t i = 0;
  while (i < text.size()) {
    if (IsSpace(text[i])) {
      ++i;
      continue;
    }
    bool excluded = false;
    if (text[i] == '-' && i + 1 < text.size() && !IsSpace(text[i + 1])) {
      excluded = true;
      ++i;
    }
    if (text[i] == '"') {
      size_t end = text.find('"', i + 1);
      if (end == absl::string_view::npos) end = text.size();
      std::vector<std::string> words =
          Tokenize(text.substr(i + 1, end - i - 1));
      i = end + 1;
      if (words.empty()) continue;
      if (excluded) {
        if (words.size() == 1) {
          parts.excluded_words.push_back(std::move(words[0]));
        } else {
          parts.excluded_phrases.push_back(std::move(words));
        }
        continue;
      }
      for (const std::string& w : words) parts.terms.emplace_back(w, true);
      if (words.size() > 1) parts.phrases.push_back(std::move(words));
      continue;
    }
    size_t end = i;
    while (end < text.size() && !IsSpace(text[end]) && text[end] != '"') ++end;
    std::vector<std::string> words = Tokenize(text.substr(i, end - i));
    i = end;
    for (std::string& w : words) {
      if (excluded) {
        parts.excluded_words.push_back(std::move(w));
      } else {
        parts.terms.emplace_back(std::move(w), false);
      }
    }
  }
  return parts;
}

void PutBigEndian(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t GetBigEndian(absl::string_view s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace

bool HexToRaw(absl::string_view hex, std::string* raw) {
  // Lowercase hex digits -> value; 0xff for anything else.
  static const auto* const kTable = [] {
    auto* t = new std::array<uint8_t, 256>();
    t->fill(0xff);
    for (int c = 0; c < 256; ++c) {
      int v = HexValue(static_cast<char>(c));
      if (v >= 0) (*t)[c] = static_cast<uint8_t>(v);
    }
    return t;
  }();
  if (hex.size() != 64) return false;
  raw->resize(32);
  char* out = raw->data();
  uint8_t bad = 0;
  for (size_t i = 0; i < 32; ++i) {
    const uint8_t hi = (*kTable)[static_cast<unsigned char>(hex[2 * i])];
    const uint8_t lo = (*kTable)[static_cast<unsigned char>(hex[2 * i + 1])];
    bad |= hi | lo;
    out[i] = static_cast<char>(hi << 4 | (lo & 15));
  }
  return (bad & 0xf0) == 0;
}

std::string RawToHex(absl::string_view raw) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (char ch : raw) {
    unsigned char c = static_cast<unsigned char>(ch);
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

absl::StatusOr<ParsedQuery> ParseRequestQuery(const SearchQuery& query,
                                              int default_limit,
                                              int max_limit) {
  absl::Status s = ValidateSearchQuery(query);
  if (!s.ok()) return s;
  return ParseQuery(query, default_limit, max_limit);
}

absl::StatusOr<ParsedQuery> ParseQuery(const SearchQuery& query,
                                       int default_limit, int max_limit) {
  ParsedQuery out;
  TextParts parts = SplitText(query.text());
  for (auto& [word, exact] : parts.terms) {
    // Named, since a lambda may not capture a structured binding (C++17).
    const std::string& wanted = word;
    auto it = std::find_if(
        out.terms.begin(), out.terms.end(),
        [&wanted](const QueryTerm& t) { return t.word == wanted; });
    if (it == out.terms.end()) {
      out.terms.push_back({std::move(word), exact});
    } else {
      it->exact_only = it->exact_only || exact;
    }
  }
  if (out.terms.empty()) {
    return absl::InvalidArgumentError(
        "search query has no word to look for (a query of exclusions only "
        "matches nothing)");
  }
  out.phrases = std::move(parts.phrases);
  for (std::string& w : parts.excluded_words) {
    if (std::find(out.excluded_words.begin(), out.excluded_words.end(), w) ==
        out.excluded_words.end()) {
      out.excluded_words.push_back(std::move(w));
    }
  }
  out.excluded_phrases = std::move(parts.excluded_phrases);
  absl::flat_hash_set<std::string> distinct;
  for (const QueryTerm& t : out.terms) distinct.insert(t.word);
  for (const std::string& w : out.excluded_words) distinct.insert(w);
  for (const auto& p : out.excluded_phrases) distinct.insert(p.begin(), p.end());
  if (distinct.size() > kMaxQueryWords) {
    return absl::InvalidArgumentError(
        absl::StrCat("search query has ", distinct.size(),
                     " words; the limit is ", kMaxQueryWords));
  }
  out.min_size = query.min_size();
  out.max_size = query.max_size();
  for (const std::string& e : query.extensions()) {
    std::string ext;
    for (char c : e) {
      ext.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    }
    if (!ext.empty() && ext[0] == '.') ext.erase(0, 1);
    if (!ext.empty()) out.extensions.insert(std::move(ext));
  }
  if (!FileKind_IsValid(query.kind())) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown file kind ", static_cast<int>(query.kind())));
  }
  out.kind = query.kind();
  if (!SearchSort_IsValid(query.sort())) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown sort order ", static_cast<int>(query.sort())));
  }
  out.sort = query.sort();
  out.reverse = query.reverse();
  if (query.limit() < 0) {
    return absl::InvalidArgumentError("limit is negative");
  }
  out.limit = std::max(
      1, std::min(query.limit() > 0 ? query.limit() : default_limit, max_limit));
  if (!query.cursor().empty()) {
    absl::StatusOr<HitKey> key =
        DecodeCursor(query.cursor(), out.sort, out.reverse);
    if (!key.ok()) return key.status();
    out.after = *std::move(key);
  }
  return out;
}

int CompareHitKeys(const HitKey& a, const HitKey& b, SearchSort sort,
                   bool reverse) {
  int c = 0;
  if (sort == SEARCH_SORT_RELEVANCE && a.match != b.match) {
    c = a.match < b.match ? -1 : 1;
  } else if (sort != SEARCH_SORT_NAME && a.value != b.value) {
    c = a.value > b.value ? -1 : 1;
  } else {
    c = CompareNames(a.name, b.name);
    if (c == 0) c = a.cid < b.cid ? -1 : (a.cid > b.cid ? 1 : 0);
  }
  return reverse ? -c : c;
}

HitKey KeyOfHit(const SearchHit& hit, SearchSort sort) {
  HitKey key;
  key.match = hit.match();
  key.value = sort == SEARCH_SORT_SIZE ? hit.size() : hit.source_count();
  key.name = hit.name();
  key.cid = hit.cid();
  return key;
}

std::string EncodeCursor(const HitKey& key, SearchSort sort, bool reverse) {
  std::string raw = kCursorMagic;
  raw.push_back(static_cast<char>(sort));
  raw.push_back(reverse ? 1 : 0);
  raw.push_back(static_cast<char>(key.match));
  PutBigEndian(static_cast<uint64_t>(key.value), &raw);
  std::string cid;
  if (!HexToRaw(key.cid, &cid)) cid.assign(32, '\0');
  raw += cid;
  raw += key.name;
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<HitKey> DecodeCursor(absl::string_view cursor, SearchSort sort,
                                    bool reverse) {
  std::string raw;
  if (cursor.size() > kMaxCursorBytes ||
      !absl::WebSafeBase64Unescape(cursor, &raw) ||
      raw.size() < kCursorFixedBytes || raw.compare(0, 2, kCursorMagic) != 0 ||
      raw.size() - kCursorFixedBytes > 255) {
    return absl::InvalidArgumentError(
        "cursor is not one this server made; start again without it");
  }
  if (static_cast<unsigned char>(raw[2]) != static_cast<unsigned>(sort) ||
      raw[3] != (reverse ? 1 : 0)) {
    return absl::InvalidArgumentError(
        "cursor belongs to another sort order; start again without it");
  }
  const int match = static_cast<unsigned char>(raw[4]);
  if (!SearchMatch_IsValid(match)) {
    return absl::InvalidArgumentError(
        "cursor is not one this server made; start again without it");
  }
  HitKey key;
  key.match = static_cast<SearchMatch>(match);
  key.value = static_cast<int64_t>(GetBigEndian(absl::string_view(raw).substr(5)));
  key.cid = RawToHex(absl::string_view(raw).substr(13, 32));
  key.name = raw.substr(kCursorFixedBytes);
  return key;
}

}  // namespace search
}  // namespace trove
