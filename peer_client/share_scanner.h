// Walks the shared folders, hashes new and changed files (reusing the hash
// cache for unchanged ones), and keeps the cid -> file map the PeerService
// serves from. Each Scan() diffs against the previous one so the supernode
// session can publish deltas.
//
// What is shared: regular files under the folders, recursively. Skipped:
// symbolic links (files and folders), anything not a regular file or folder,
// hidden names (leading '.', which includes downloads in progress), temp
// files ("~", ".tmp", ".part", ".crdownload", ".swp" endings), and names that
// fail ValidateFileName (with one warning per path). A file that changes
// while it is hashed is left for the next scan. When several files have the
// same content, the first path in sorted order serves that cid.
//
// Thread-safe: Scan() calls are serialized; lookups run concurrently with a
// scan and see the previous scan's state until the new one is complete.
#ifndef TROVE_PEER_CLIENT_SHARE_SCANNER_H_
#define TROVE_PEER_CLIENT_SHARE_SCANNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/merkle.h"
#include "peer_client/file_catalog.h"
#include "peer_client/hash_cache.h"
#include "protos/types.pb.h"

namespace trove {

// Hashes one file; `progress(done, size)` may be called along the way.
using FileHasher = std::function<absl::StatusOr<FileHashes>(
    const std::string& path,
    const std::function<void(int64_t, int64_t)>& progress)>;

// The hasher the daemon uses: common/merkle HashFile.
FileHasher DefaultFileHasher();

// What one scan changed.
struct ScanResult {
  // Entries new since the previous scan, or whose name changed.
  std::vector<FileEntry> added;
  // Cids no longer shared.
  std::vector<std::string> removed;
  // Files hashed during this scan (neither unchanged nor found in the cache).
  int hashed = 0;
  // Distinct cids shared and their total size after the scan.
  int64_t file_count = 0;
  int64_t total_bytes = 0;
};

class ShareScanner : public FileCatalog {
 public:
  struct Options {
    // Shared folders. Each is resolved to an absolute real path at every
    // scan; a folder that does not exist is skipped with a warning.
    std::vector<std::string> roots;
    // Hashes files; DefaultFileHasher() when empty.
    FileHasher hasher;
    // Files at least this big get hashing progress lines in the log.
    int64_t progress_log_bytes = int64_t{256} << 20;
  };

  // `cache` may be null (nothing cached); when set it must outlive the
  // scanner and is saved after every scan that changed it.
  ShareScanner(Options options, HashCache* cache);

  // Walks the folders, hashes what changed, swaps in the new state and
  // returns the difference to the previous state. The first scan reports
  // every file as added. Never fails on a single unreadable file (it is
  // skipped with a warning).
  ScanResult Scan();

  // Shares the file at `path` at once, with hashes already verified (a
  // download that just completed), without hashing it or waiting for a
  // scan; it is kept by later scans as long as it is unchanged. Returns the
  // entry to publish. FAILED_PRECONDITION when `path` is not inside a
  // shared folder or is a name the scanner skips; NOT_FOUND when it is not
  // a regular file; INVALID_ARGUMENT when its size is not the hashes'.
  absl::StatusOr<FileEntry> AddVerifiedFile(const std::string& path,
                                            const FileHashes& hashes);

  // FileCatalog.
  std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const override;

  // One entry per shared cid, sorted by cid.
  std::vector<FileEntry> Files() const;

  // Distinct cids shared and their total size.
  int64_t file_count() const;
  int64_t total_bytes() const;

  // Whether a scan is running now.
  bool scanning() const { return scanning_.load(); }

  // How many scans have completed.
  int64_t scans_completed() const;

  const std::vector<std::string>& roots() const { return options_.roots; }

 private:
  using FileMap = std::map<std::string, std::shared_ptr<const SharedFile>>;

  // Walks `dir` (a real path), appending shareable files to `out`.
  void Walk(const std::string& dir, std::set<std::pair<uint64_t, uint64_t>>* seen,
            std::vector<std::shared_ptr<SharedFile>>* out);
  // Fills the hashes of `file` from the previous scan, the cache, or by
  // hashing. False when the file should be skipped this time.
  bool FillHashes(const FileMap& previous, SharedFile* file, int* hashed);
  bool WarnOnce(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  HashCache* const cache_;
  absl::Mutex scan_mu_;  // Serializes Scan().
  std::atomic<bool> scanning_{false};

  mutable absl::Mutex mu_;
  FileMap by_path_ ABSL_GUARDED_BY(mu_);
  FileMap by_cid_ ABSL_GUARDED_BY(mu_);
  int64_t total_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t scans_completed_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<std::string> warned_ ABSL_GUARDED_BY(mu_);
  // Files added by AddVerifiedFile since the running scan began; the scan
  // keeps them (its walk may have passed before they appeared).
  FileMap added_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_SHARE_SCANNER_H_
