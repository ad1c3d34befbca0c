// What a peer can serve: files it holds, found by cid. The PeerService reads
// only through this interface, so it can never be pointed at a path.
//
// Two kinds of entries:
// - a complete shared file (SharedFile::have is null): served while its size
//   and mtime still match what was hashed;
// - a download in progress (SharedFile::have is set): `path` is its part
//   file, which is being written, so its size and mtime are NOT checked;
//   only the chunks set in `have` (verified and written) may be served,
//   any other chunk is NOT_FOUND, and the manifest carries have->Bitmap()
//   in Manifest.have. The entry disappears when the download ends (the
//   file then becomes a normal shared file if its folder is shared).
#ifndef TROVE_PEER_CLIENT_FILE_CATALOG_H_
#define TROVE_PEER_CLIENT_FILE_CATALOG_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/merkle.h"

namespace trove {

// Which chunks of a file are verified on disk. It only grows. Thread-safe.
class ChunkHaveMap {
 public:
  // A map of `chunk_count` chunks (at least 1), none held.
  explicit ChunkHaveMap(int64_t chunk_count);

  int64_t chunk_count() const { return chunk_count_; }

  // Marks chunk `index` held. REQUIRES: index < chunk_count().
  void Set(uint32_t index);
  // Whether chunk `index` is held (false past the end).
  bool Has(uint32_t index) const;
  // How many chunks are held.
  int64_t count() const;
  // The map in Manifest.have form: bit i of byte i/8, least significant
  // first, (chunk_count + 7) / 8 bytes.
  std::string Bitmap() const;
  // Blocks until more than `count` chunks are held or `timeout` (real
  // time) passes; returns the Bitmap() then and sets `*now` to the count.
  std::string WaitForMore(int64_t count, absl::Duration timeout,
                          int64_t* now) const;

 private:
  const int64_t chunk_count_;
  mutable absl::Mutex mu_;
  std::string bits_ ABSL_GUARDED_BY(mu_);
  int64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// One file this peer can serve. Immutable once published (the `have` map
// of a partial entry grows on its own, under its own lock).
struct SharedFile {
  // Content id (64 lowercase hex digits).
  std::string cid;
  // Absolute path: inside a shared folder, or a download's part file.
  std::string path;
  // Base name, valid per ValidateFileName.
  std::string name;
  // The file's size. For a complete file, size and modification time
  // (nanoseconds since the epoch) when hashed: the file is served only while
  // both still match. For a partial entry mtime_ns is 0 and not checked.
  int64_t size = 0;
  int64_t mtime_ns = 0;
  // SHA-256 of each chunk; ChunkCount(size) of them.
  std::vector<Hash> chunk_hashes;
  // Null for a complete file; for a download in progress, the chunks that
  // may be served (see the file comment).
  std::shared_ptr<const ChunkHaveMap> have;
};

// Finds files by cid. Implementations are thread-safe.
class FileCatalog {
 public:
  virtual ~FileCatalog() = default;

  // The file with content id `cid`, or null when none is held.
  virtual std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const = 0;
};

// Asks several catalogs in turn (e.g. the shared folders, then the
// downloads in progress); the first that holds the cid answers.
// Thread-safe; the catalogs must outlive it.
class LayeredCatalog final : public FileCatalog {
 public:
  explicit LayeredCatalog(std::vector<const FileCatalog*> layers)
      : layers_(std::move(layers)) {}

  std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const override;

 private:
  const std::vector<const FileCatalog*> layers_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_FILE_CATALOG_H_
