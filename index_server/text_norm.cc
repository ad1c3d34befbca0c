#include "index_server/text_norm.h"

#include <algorithm>

#include "absl/strings/str_split.h"

namespace trove {
namespace index_server {

std::string NormalizeName(absl::string_view name) {
  std::string out;
  out.reserve(name.size());
  bool pending_space = false;
  for (char ch : name) {
    unsigned char c = static_cast<unsigned char>(ch);
    bool word_byte = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                     (c >= 'A' && c <= 'Z') || c >= 0x80;
    if (!word_byte) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch;
  }
  return out;
}

std::vector<std::string> QueryWords(absl::string_view text) {
  std::vector<std::string> words;
  for (absl::string_view w :
       absl::StrSplit(NormalizeName(text), ' ', absl::SkipEmpty())) {
    if (std::find(words.begin(), words.end(), w) == words.end()) {
      words.emplace_back(w);
    }
  }
  return words;
}

}  // namespace index_server
}  // namespace trove
