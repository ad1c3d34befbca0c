#include "peer_client/cli_format.h"

#include <cmath>
#include <cstdlib>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "common/validation.h"

namespace trove {

std::string HumanBytes(int64_t bytes) {
  if (bytes < 1024) return absl::StrCat(bytes, " B");
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes) / 1024;
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  return absl::StrFormat("%.1f %s", v, kUnits[unit]);
}

std::string HumanRate(double bytes_per_second) {
  if (!(bytes_per_second > 0)) return "0 B/s";
  return absl::StrCat(HumanBytes(static_cast<int64_t>(bytes_per_second)), "/s");
}

std::string HumanDuration(double seconds) {
  if (!(seconds >= 0) || seconds > 100.0 * 24 * 3600) return "?";
  int64_t s = static_cast<int64_t>(std::llround(seconds));
  int64_t h = s / 3600, m = (s / 60) % 60, sec = s % 60;
  if (h > 0) return absl::StrFormat("%d:%02d:%02d", h, m, sec);
  return absl::StrFormat("%d:%02d", m, sec);
}

absl::StatusOr<int64_t> ParseSize(absl::string_view text) {
  std::string t = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  const std::string original(text);
  for (absl::string_view suffix : {"ib", "b"}) {
    if (absl::EndsWith(t, suffix) && t.size() > suffix.size()) {
      t.resize(t.size() - suffix.size());
      break;
    }
  }
  double mult = 1;
  if (!t.empty()) {
    switch (t.back()) {
      case 'k': mult = 1024.0; break;
      case 'm': mult = 1024.0 * 1024; break;
      case 'g': mult = 1024.0 * 1024 * 1024; break;
      case 't': mult = 1024.0 * 1024 * 1024 * 1024; break;
      default: break;
    }
    if (mult != 1) t.pop_back();
  }
  double v = 0;
  if (t.empty() || !absl::SimpleAtod(t, &v) || !(v >= 0) ||
      v * mult > static_cast<double>(kMaxFileSize)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a size: '", original, "' (examples: 1234, 10k, 700M, 1.5G)"));
  }
  return static_cast<int64_t>(v * mult);
}

std::string PercentEncode(absl::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      int v = 0;
      if (i + 2 >= s.size() || !absl::ascii_isxdigit(s[i + 1]) ||
          !absl::ascii_isxdigit(s[i + 2])) {
        return absl::InvalidArgumentError("bad %-escape in link");
      }
      for (int k = 1; k <= 2; ++k) {
        char c = absl::ascii_tolower(s[i + k]);
        v = v * 16 + (c <= '9' ? c - '0' : c - 'a' + 10);
      }
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string MakeTroveLink(absl::string_view cid, absl::string_view name,
                          int64_t size) {
  return absl::StrCat("trove:", cid, "?name=", PercentEncode(name),
                      "&size=", size);
}

absl::StatusOr<TroveLink> ParseTroveLink(absl::string_view text) {
  absl::string_view rest = absl::StripAsciiWhitespace(text);
  TroveLink link;
  if (absl::StartsWithIgnoreCase(rest, "trove:")) {
    rest.remove_prefix(6);
    absl::ConsumePrefix(&rest, "//");
  }
  absl::string_view query;
  size_t q = rest.find('?');
  if (q != absl::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  link.cid = absl::AsciiStrToLower(rest);
  absl::Status valid = ValidateHexId(link.cid, "cid");
  if (!valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not a cid or trove: link: '", text,
        "' (a cid is 64 hex digits; a link looks like trove:CID?name=...)"));
  }
  for (absl::string_view pair : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(pair, absl::MaxSplits('=', 1));
    absl::StatusOr<std::string> value = PercentDecode(kv.second);
    if (!value.ok()) return value.status();
    if (kv.first == "name") {
      link.name = *value;
    } else if (kv.first == "size") {
      if (!absl::SimpleAtoi(*value, &link.size) || link.size < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad size in link: '", *value, "'"));
      }
    }
  }
  return link;
}

namespace {

// Decodes the UTF-8 code point at text[*i] and advances *i; a bad byte is
// taken as one column wide.
uint32_t NextCodePoint(absl::string_view text, size_t* i) {
  const unsigned char c = static_cast<unsigned char>(text[*i]);
  int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
  if (*i + extra >= text.size()) extra = 0;  // Cut short: one byte.
  uint32_t cp = extra == 0 ? c : (c & (0x3F >> extra));
  for (int k = 1; k <= extra; ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(text[*i + k]) & 0x3F);
  }
  *i += 1 + extra;
  return cp;
}

int CodePointWidth(uint32_t cp) {
  if ((cp >= 0x300 && cp <= 0x36F) || (cp >= 0x200B && cp <= 0x200F) ||
      (cp >= 0xFE00 && cp <= 0xFE0F)) {
    return 0;
  }
  if ((cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
      (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
      (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
      (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
      (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD)) {
    return 2;
  }
  return 1;
}

}  // namespace

int DisplayWidth(absl::string_view text) {
  int width = 0;
  for (size_t i = 0; i < text.size();) width += CodePointWidth(NextCodePoint(text, &i));
  return width;
}

std::string Ellipsize(absl::string_view text, int width) {
  if (width <= 0) return "";
  if (DisplayWidth(text) <= width) return std::string(text);
  std::string out;
  int used = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t start = i;
    const int w = CodePointWidth(NextCodePoint(text, &i));
    if (used + w > width - 1) break;  // Room for the ellipsis.
    absl::StrAppend(&out, text.substr(start, i - start));
    used += w;
  }
  return out + "\u2026";
}

std::string ProgressLine(const ProgressView& v, int width) {
  std::string pct =
      v.size > 0 ? absl::StrCat(v.done * 100 / v.size, "%") : std::string("0%");
  if (v.size == 0 && v.done == 0) pct = "";
  if (v.state_text == "done") pct = "100%";
  // The fields after the name, most important first.
  std::vector<std::string> fields;
  fields.push_back(absl::StrCat(HumanBytes(v.done), " / ", HumanBytes(v.size)));
  if (!pct.empty()) fields.push_back(pct);
  if (v.state_text.empty() || v.state_text == "downloading") {
    fields.push_back(HumanRate(v.bytes_per_second));
    std::string eta = "?";
    if (v.bytes_per_second > 0 && v.size >= v.done) {
      eta = HumanDuration((v.size - v.done) / v.bytes_per_second);
    }
    fields.push_back("ETA " + eta);
    fields.push_back(absl::StrCat(v.sources,
                                  v.sources == 1 ? " source" : " sources"));
  } else if (v.state_text == "done") {
    fields.push_back(HumanRate(v.bytes_per_second));
  } else {
    fields.push_back(v.state_text);
  }
  if (v.queue_position > 0) {
    fields.push_back(absl::StrCat("queued #", v.queue_position));
  }
  const std::string name =
      v.name.empty() ? std::string("(waiting for a source)") : v.name;
  auto join = [](const std::string& n, const std::vector<std::string>& f) {
    std::string line = n;
    for (const std::string& x : f) absl::StrAppend(&line, "  ", x);
    return line;
  };
  std::string line = join(name, fields);
  if (width <= 0 || DisplayWidth(line) <= width) return line;
  // Shorten the name, down to a few columns, then drop fields from the end.
  constexpr int kMinName = 8;
  while (true) {
    const int rest = DisplayWidth(join("", fields));
    const int room = width - rest;
    if (room >= std::min(kMinName, DisplayWidth(name)) || fields.size() <= 2) {
      line = join(Ellipsize(name, std::max(1, room)), fields);
      break;
    }
    fields.pop_back();
  }
  if (DisplayWidth(line) > width) line = Ellipsize(line, width);
  return line;
}

std::string ProgressLine(absl::string_view name, int64_t done, int64_t size,
                         double bytes_per_second, int sources,
                         int queue_position) {
  ProgressView v;
  v.name = std::string(name);
  v.done = done;
  v.size = size;
  v.bytes_per_second = bytes_per_second;
  v.sources = sources;
  v.queue_position = queue_position;
  return ProgressLine(v, 0);
}

}  // namespace trove
