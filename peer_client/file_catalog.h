// What a peer can serve: files it holds, found by cid. The PeerService reads
// only through this interface, so it can never be pointed at a path.
#ifndef TROVE_PEER_CLIENT_FILE_CATALOG_H_
#define TROVE_PEER_CLIENT_FILE_CATALOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/merkle.h"

namespace trove {

// One shared file as it was when it was hashed. Immutable once published.
struct SharedFile {
  // Content id (64 lowercase hex digits).
  std::string cid;
  // Absolute path inside a shared folder.
  std::string path;
  // Base name, valid per ValidateFileName.
  std::string name;
  // Size and modification time (nanoseconds since the epoch) when hashed;
  // the file is served only while both still match.
  int64_t size = 0;
  int64_t mtime_ns = 0;
  // SHA-256 of each chunk; ChunkCount(size) of them.
  std::vector<Hash> chunk_hashes;
};

// Finds files by cid. Implementations are thread-safe.
class FileCatalog {
 public:
  virtual ~FileCatalog() = default;

  // The file with content id `cid`, or null when none is held.
  virtual std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const = 0;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_FILE_CATALOG_H_
