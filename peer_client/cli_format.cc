#include "peer_client/cli_format.h"

#include <cmath>
#include <cstdlib>

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
  absl::ConsumePrefix(&rest, "trove://");
  absl::ConsumePrefix(&rest, "trove:");
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

std::string ProgressLine(absl::string_view name, int64_t done, int64_t size,
                         double bytes_per_second, int sources,
                         int queue_position) {
  std::string pct =
      size > 0 ? absl::StrCat(done * 100 / size, "%") : std::string("0%");
  if (size == 0 && done == 0) pct = "";
  std::string eta = "?";
  if (bytes_per_second > 0 && size >= done) {
    eta = HumanDuration((size - done) / bytes_per_second);
  }
  return absl::StrCat(name.empty() ? "(waiting for a source)" : name, "  ",
                      HumanBytes(done), " / ", HumanBytes(size), "  ", pct,
                      "  ", HumanRate(bytes_per_second), "  ETA ", eta, "  ",
                      sources, sources == 1 ? " source" : " sources",
                      queue_position > 0
                          ? absl::StrCat("  queued #", queue_position)
                          : std::string());
}

}  // namespace trove
