// A persistent cache of file hashes: (path, size, mtime) -> cid and chunk
// hashes, kept in the daemon's state folder so that a restart does not hash
// unchanged shared files again.
//
// On disk (little-endian):
//   "TROVEHC1" | u64 count | count x entry | SHA-256 of everything before
//   entry = u32 path_len | path | i64 size | i64 mtime_ns | 32-byte cid
//           | u32 hash_count | hash_count x 32-byte chunk hash
// A missing file is an empty cache; a corrupt one (bad magic, truncated,
// checksum mismatch, inconsistent entry) is an empty cache and a warning.
// Saves are atomic (WriteFileAtomic).
//
// Thread-safe.
#ifndef TROVE_PEER_CLIENT_HASH_CACHE_H_
#define TROVE_PEER_CLIENT_HASH_CACHE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/merkle.h"

namespace trove {

class HashCache {
 public:
  // Loads the cache kept at `path`. Never fails: an absent or corrupt file
  // gives an empty cache (the latter with a warning in the log).
  static std::unique_ptr<HashCache> Load(const std::string& path);

  // The hashes recorded for `path` when its recorded size and mtime are
  // exactly `size` and `mtime_ns`; nullopt otherwise.
  std::optional<FileHashes> Lookup(const std::string& path, int64_t size,
                                   int64_t mtime_ns) const;

  // Records the hashes of `path` at `size`/`mtime_ns`, replacing any older
  // record of that path.
  void Put(const std::string& path, int64_t size, int64_t mtime_ns,
           const FileHashes& hashes);

  // Forgets every path not in `keep`.
  void RetainOnly(const std::set<std::string>& keep);

  // Writes the cache to its file when it changed since the last load or
  // save. Errors of the write (INTERNAL, PERMISSION_DENIED, ...).
  absl::Status Save();

  // Number of cached paths.
  size_t size() const;

  // The file the cache lives in.
  const std::string& path() const { return path_; }

 private:
  struct Entry {
    int64_t size = 0;
    int64_t mtime_ns = 0;
    FileHashes hashes;
  };

  explicit HashCache(std::string path) : path_(std::move(path)) {}

  // Parses the serialized form; nullopt with `error` set when corrupt.
  static std::optional<std::map<std::string, Entry>> Parse(
      const std::string& data, std::string* error);
  std::string SerializeLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex save_mu_;  // Held across a whole Save.
  mutable absl::Mutex mu_;
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  bool dirty_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_HASH_CACHE_H_
