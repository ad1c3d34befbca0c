#include "common/text.h"

#include "absl/strings/str_cat.h"

namespace trove {

size_t DecodeUtf8(absl::string_view s, size_t pos, char32_t* code_point) {
  const unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) {
    *code_point = c;
    return 1;
  }
  size_t len;
  char32_t cp;
  if ((c & 0xE0) == 0xC0) {
    len = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (pos + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[pos + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
      (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  *code_point = cp;
  return len;
}

bool IsUnsafeCodePoint(char32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C ||
         cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069) || cp == 0x2028 || cp == 0x2029;
}

size_t FindUnsafeText(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    const size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0 || IsUnsafeCodePoint(cp)) return i;
    i += len;
  }
  return absl::string_view::npos;
}

std::string EscapeText(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    const size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0) {
      absl::StrAppend(&out, "\\x",
                      absl::Hex(static_cast<unsigned char>(s[i]), absl::kZeroPad2));
      ++i;
      continue;
    }
    if (cp == '\\') {
      out += "\\\\";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp < 0x20 || cp == 0x7F) {
      absl::StrAppend(&out, "\\x", absl::Hex(cp, absl::kZeroPad2));
    } else if (IsUnsafeCodePoint(cp)) {
      absl::StrAppend(&out, "\\u", absl::Hex(cp, absl::kZeroPad4));
    } else {
      out.append(s.data() + i, len);
    }
    i += len;
  }
  return out;
}

void AppendJsonEscaped(absl::string_view s, std::string* out) {
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    const size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0) {
      *out += "\\ufffd";
      ++i;
      continue;
    }
    if (cp == '"') {
      *out += "\\\"";
    } else if (cp == '\\') {
      *out += "\\\\";
    } else if (cp == '\n') {
      *out += "\\n";
    } else if (cp == '\r') {
      *out += "\\r";
    } else if (cp == '\t') {
      *out += "\\t";
    } else if (IsUnsafeCodePoint(cp)) {
      absl::StrAppend(out, "\\u", absl::Hex(cp, absl::kZeroPad4));
    } else {
      out->append(s.data() + i, len);
    }
    i += len;
  }
}

}  // namespace trove
