// Kinds of files (audio, video, ...) by extension, for the kind filter of a
// search. Pure functions; thread-safe.
#ifndef TROVE_COMMON_SEARCH_KINDS_H_
#define TROVE_COMMON_SEARCH_KINDS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "protos/types.pb.h"

namespace trove {
namespace search {

// The kind a lowercase extension (without the dot) belongs to;
// FILE_KIND_ANY for one the table does not know.
FileKind KindOfExtension(absl::string_view extension);

// The extensions the table lists for `kind`, sorted (empty for
// FILE_KIND_ANY).
std::vector<std::string> ExtensionsOfKind(FileKind kind);

// "audio", "video", "image", "document", "archive", "software"; "any".
absl::string_view KindName(FileKind kind);

// The kind named `name` (case-insensitive), or nullopt.
std::optional<FileKind> ParseKind(absl::string_view name);

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_KINDS_H_
