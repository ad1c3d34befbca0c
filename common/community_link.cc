#include "common/community_link.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/text.h"

namespace trove {
namespace {

constexpr absl::string_view kScheme = "trove://";
constexpr absl::string_view kForm = "trove://HOST:PORT?ca=FINGERPRINT";

absl::Status Bad(absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("bad community link (", kForm, "): ", why));
}

bool IsHex64(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

bool IsHostChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

std::string CommunityLink::address() const {
  return absl::StrContains(host, ':') ? absl::StrCat("[", host, "]:", port)
                                      : absl::StrCat(host, ":", port);
}

absl::StatusOr<CommunityLink> ParseCommunityLink(absl::string_view text) {
  if (FindUnsafeText(text) != absl::string_view::npos ||
      absl::StrContains(text, ' ')) {
    return Bad("it contains spaces or control characters");
  }
  if (text.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(text.substr(0, kScheme.size()), kScheme)) {
    if (absl::StartsWithIgnoreCase(text, "trove:")) {
      return Bad("this is a file's trove: link, not a community's");
    }
    return Bad("it does not start with trove://");
  }
  absl::string_view rest = text.substr(kScheme.size());
  if (absl::StrContains(rest, '#')) return Bad("a #fragment is not allowed");
  size_t q = rest.find('?');
  absl::string_view authority = rest.substr(0, q);
  absl::string_view query =
      q == absl::string_view::npos ? absl::string_view() : rest.substr(q + 1);
  if (absl::EndsWith(authority, "/")) authority.remove_suffix(1);
  if (absl::StrContains(authority, '/')) return Bad("a path is not allowed");
  if (absl::StrContains(authority, '@')) return Bad("user info is not allowed");
  CommunityLink link;
  absl::string_view port_text;
  if (absl::StartsWith(authority, "[")) {
    size_t close = authority.find(']');
    if (close == absl::string_view::npos) return Bad("an IPv6 address lacks ']'");
    link.host = std::string(authority.substr(1, close - 1));
    if (link.host.empty()) return Bad("the host is empty");
    for (char c : link.host) {
      if (!absl::ascii_isxdigit(static_cast<unsigned char>(c)) && c != ':' &&
          c != '.') {
        return Bad("the IPv6 address has a character that cannot be in one");
      }
    }
    absl::string_view after = authority.substr(close + 1);
    if (!absl::StartsWith(after, ":")) return Bad("no :PORT after the host");
    port_text = after.substr(1);
  } else {
    size_t colon = authority.rfind(':');
    if (colon == absl::string_view::npos) return Bad("no :PORT after the host");
    link.host = std::string(authority.substr(0, colon));
    port_text = authority.substr(colon + 1);
    if (link.host.empty()) return Bad("the host is empty");
    for (char c : link.host) {
      if (!IsHostChar(c)) {
        return Bad(absl::StrCat("the host has a character that cannot be in one: '",
                                std::string(1, c), "'"));
      }
    }
  }
  if (link.host.size() > 253) return Bad("the host is over 253 characters");
  if (!absl::SimpleAtoi(port_text, &link.port) || link.port < 1 ||
      link.port > 65535 || port_text.empty() || port_text[0] == '+') {
    return Bad(absl::StrCat("the port must be 1 to 65535, not '", port_text, "'"));
  }
  bool have_ca = false;
  for (absl::string_view param : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(param, absl::MaxSplits('=', 1));
    if (!absl::EqualsIgnoreCase(kv.first, "ca")) continue;
    if (have_ca) return Bad("ca= is given twice");
    if (!IsHex64(kv.second)) {
      return Bad("ca= must be the CA certificate's SHA-256 fingerprint, 64 "
                 "hex digits");
    }
    link.ca_fingerprint = absl::AsciiStrToLower(kv.second);
    have_ca = true;
  }
  if (!have_ca) return Bad("no ?ca=FINGERPRINT");
  return link;
}

std::string FormatCommunityLink(const CommunityLink& link) {
  return absl::StrCat(kScheme, link.address(), "?ca=", link.ca_fingerprint);
}

}  // namespace trove
