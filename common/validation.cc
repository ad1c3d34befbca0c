#include "common/validation.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/text.h"

namespace trove {
namespace {

// Shortens untrusted text for an error message, escaping what is not safe
// to print (see common/text.h).
std::string Quote(absl::string_view s) {
  std::string out = "\"";
  out += EscapeText(s.substr(0, 64));
  if (s.size() > 64) out += "...";
  out += "\"";
  return out;
}

// INVALID_ARGUMENT naming `what` when `s` is not UTF-8 or holds a control
// or bidi formatting character.
absl::Status CheckText(absl::string_view s, absl::string_view what) {
  size_t bad = FindUnsafeText(s);
  if (bad == absl::string_view::npos) return absl::OkStatus();
  char32_t cp;
  if (DecodeUtf8(s, bad, &cp) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid UTF-8: ", Quote(s)));
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what,
      cp > 0x9F ? " contains a bidi or line formatting character: "
                : " contains a control character: ",
      Quote(s)));
}

}  // namespace

bool IsValidUtf8(absl::string_view s) {
  char32_t cp;
  for (size_t i = 0; i < s.size();) {
    size_t len = DecodeUtf8(s, i, &cp);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

absl::Status ValidateText(absl::string_view text, absl::string_view what) {
  return CheckText(text, what);
}

absl::Status ValidateFileName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("file name is empty");
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "file name is ", name.size(), " bytes; the limit is ", kMaxNameBytes,
        ": ", Quote(name)));
  }
  if (name.find_first_of("/\\") != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "file name must not contain a path separator: ", Quote(name)));
  }
  RETURN_IF_ERROR(CheckText(name, "file name"));
  // Only the path components "." and ".." are dangerous; ".." inside a
  // name ("AC-DC - T.N.T..mp3") is not.
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("file name must not be \".\" or \"..\": ", Quote(name)));
  }
  return absl::OkStatus();
}

absl::Status ValidateHexId(absl::string_view id, absl::string_view what) {
  if (id.size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " must be 64 lowercase hex digits, got ", id.size(),
        " characters: ", Quote(id)));
  }
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " must be 64 lowercase hex digits: ", Quote(id)));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateFileSize(int64_t size) {
  if (size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("file size is negative: ", size));
  }
  if (size > kMaxFileSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "file size ", size, " is over the limit of ", kMaxFileSize, " bytes"));
  }
  return absl::OkStatus();
}

absl::Status ValidateFileEntry(const FileEntry& entry) {
  absl::Status s = ValidateFileName(entry.name());
  if (!s.ok()) return s;
  s = ValidateHexId(entry.cid(), "cid");
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("file ", Quote(entry.name()), ": ", s.message()));
  }
  s = ValidateFileSize(entry.size());
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("file ", Quote(entry.name()), ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateSearchQuery(const SearchQuery& query) {
  const std::string& text = query.text();
  if (text.empty()) return absl::InvalidArgumentError("search query is empty");
  if (text.size() > kMaxQueryBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("search query is ", text.size(), " bytes; the limit is ",
                     kMaxQueryBytes));
  }
  RETURN_IF_ERROR(CheckText(text, "search query"));
  bool has_word = false;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c >= 0x80) has_word = true;
  }
  if (!has_word) {
    return absl::InvalidArgumentError(
        "search query has no letter or digit to search for");
  }
  if (query.min_size() < 0 || query.max_size() < 0) {
    return absl::InvalidArgumentError("size filter is negative");
  }
  if (query.max_size() != 0 && query.min_size() > query.max_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_size ", query.min_size(), " is above max_size ", query.max_size()));
  }
  if (static_cast<size_t>(query.extensions_size()) > kMaxExtensions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "too many extensions: ", query.extensions_size(), "; the limit is ",
        kMaxExtensions));
  }
  for (const std::string& ext : query.extensions()) {
    if (ext.empty() || ext.size() > kMaxExtensionBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("extension must be 1..", kMaxExtensionBytes,
                       " characters: ", Quote(ext)));
    }
    for (char c : ext) {
      if (!std::isalnum(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError(absl::StrCat(
            "extension must be letters and digits only: ", Quote(ext)));
      }
    }
  }
  if (query.limit() < 0) {
    return absl::InvalidArgumentError("limit is negative");
  }
  return absl::OkStatus();
}

namespace {

// host:port with a port in min_port..65535, or unix:PATH.
absl::Status ValidateAddressWithPorts(absl::string_view address, int min_port) {
  if (address.empty()) return absl::InvalidArgumentError("address is empty");
  if (address.size() > 255) {
    return absl::InvalidArgumentError("address is over 255 bytes");
  }
  if (absl::StartsWith(address, "unix:")) {
    absl::string_view path = address.substr(5);
    if (path.empty()) {
      return absl::InvalidArgumentError("unix: address has no path");
    }
    if (FindUnsafeText(path) != absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address contains a control character: ", Quote(address)));
    }
    return absl::OkStatus();
  }
  size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("address must be host:port: ", Quote(address)));
  }
  for (char ch : address) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "address contains a space, control character or non-ASCII byte: ",
          Quote(address)));
    }
  }
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < min_port ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("address has no valid port: ", Quote(address)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAddress(absl::string_view address) {
  return ValidateAddressWithPorts(address, 1);
}

absl::Status ValidateListenAddress(absl::string_view address) {
  return ValidateAddressWithPorts(address, 0);
}

std::string FileExtension(absl::string_view name) {
  size_t dot = name.rfind('.');
  if (dot == absl::string_view::npos || dot == 0 || dot + 1 == name.size()) {
    return "";
  }
  return absl::AsciiStrToLower(name.substr(dot + 1));
}

}  // namespace trove
