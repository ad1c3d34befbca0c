#include "common/validation.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/text.h"

namespace trove {
namespace {

// Shortens untrusted text for an error message, escaping what is not
// printable ASCII.
std::string Quote(absl::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < 64; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("\\x", absl::Hex(c, absl::kZeroPad2));
    }
  }
  if (s.size() > 64) out += "...";
  out += "\"";
  return out;
}

}  // namespace

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
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
      return false;
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

absl::Status ValidateFileName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("file name is empty");
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "file name is ", name.size(), " bytes; the limit is ", kMaxNameBytes,
        ": ", Quote(name)));
  }
  if (!IsValidUtf8(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("file name is not valid UTF-8: ", Quote(name)));
  }
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c == '/' || c == '\\') {
      return absl::InvalidArgumentError(absl::StrCat(
          "file name must not contain a path separator: ", Quote(name)));
    }
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "file name contains a control character: ", Quote(name)));
    }
  }
  if (name == "." || name.find("..") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("file name must not contain \"..\": ", Quote(name)));
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
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError("search query is not valid UTF-8");
  }
  bool has_word = false;
  for (char ch : text) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          "search query contains a control character");
    }
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
