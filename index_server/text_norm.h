// How file names and search queries are reduced to comparable words.
// Pure functions; thread-safe.
#ifndef TROVE_INDEX_SERVER_TEXT_NORM_H_
#define TROVE_INDEX_SERVER_TEXT_NORM_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace trove {
namespace index_server {

// A query may hold at most this many distinct words.
inline constexpr size_t kMaxQueryWords = 16;

// The searchable form of a file name: ASCII letters lowercased, every other
// ASCII character that is not a letter or digit turned into a space, runs of
// spaces collapsed, no leading or trailing space. Bytes >= 0x80 (non-ASCII
// UTF-8) are kept as they are; the database lowercases them with lower().
//   "Bohemian_Rhapsody (Live).MP3" -> "bohemian rhapsody live mp3"
std::string NormalizeName(absl::string_view name);

// The distinct words of NormalizeName(text), in order of first appearance.
std::vector<std::string> QueryWords(absl::string_view text);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_TEXT_NORM_H_
