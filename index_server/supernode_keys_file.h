// The file `index_server --enrol_supernode_keys=FILE` reads: one
// supernode's Ed25519 public key per line, as 64 hex digits (what
// `supernode --print_key` prints); blank lines and lines starting with '#'
// are skipped. Pure; thread-safe.
#ifndef TROVE_INDEX_SERVER_SUPERNODE_KEYS_FILE_H_
#define TROVE_INDEX_SERVER_SUPERNODE_KEYS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {
namespace index_server {

// The raw 32-byte keys in `text`. INVALID_ARGUMENT naming the first bad
// line.
absl::StatusOr<std::vector<std::string>> ParseSupernodeKeys(
    absl::string_view text);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_SUPERNODE_KEYS_FILE_H_
