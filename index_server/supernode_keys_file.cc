#include "index_server/supernode_keys_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace trove {
namespace index_server {

absl::StatusOr<std::vector<std::string>> ParseSupernodeKeys(
    absl::string_view text) {
  std::vector<std::string> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    bool hex = line.size() == 64;
    for (char c : line) hex = hex && absl::ascii_isxdigit(c);
    if (!hex) {
      return absl::InvalidArgumentError(absl::StrCat(
          "line ", line_number,
          ": expected a supernode's public key as 64 hex digits"));
    }
    keys.push_back(absl::HexStringToBytes(absl::AsciiStrToLower(line)));
  }
  return keys;
}

}  // namespace index_server
}  // namespace trove
