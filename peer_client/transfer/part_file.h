// A download's file while it is written: OUT_DIR/.NAME.trove-part (hidden,
// so the share scanner ignores it; error messages speak of "the unfinished
// NAME in OUT_DIR", the name the user knows), written at chunk offsets with pwrite,
// then fsynced and renamed to OUT_DIR/NAME, or to "NAME (1)", "NAME (2)"...
// when that name is taken: an existing file is never overwritten. Unless
// committed or kept, the part file is removed when the object is destroyed.
// A kept part file can be opened again (Open) to resume a download.
//
// The file is allocated in full up front (fallocate: no fragmentation, and a
// full disk is found at once). Block-aligned writes (every chunk but a short
// last one) go through a second descriptor opened with O_DIRECT, from a
// per-thread aligned buffer: the data goes from that buffer to the disk
// without passing through the page cache. Measured here on a 1 GiB
// download, buffered writes cost 2.5 to 4.4 s of CPU (allocating and
// charging a gigabyte of fresh page cache, then writing it back), direct
// writes about 0.15 s plus one 1 MiB copy per chunk into the warm aligned
// buffer. Where O_DIRECT is refused (tmpfs, some file systems), writes are
// buffered.
//
// Thread-safe for concurrent WriteAt/ReadAt/SyncData/Stamp calls;
// Commit/Keep are called once, after all writes.
#ifndef TROVE_PEER_CLIENT_TRANSFER_PART_FILE_H_
#define TROVE_PEER_CLIENT_TRANSFER_PART_FILE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace trove {

// What identifies a file's contents cheaply: if any of these changed, the
// file was written (or replaced) since.
struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t inode = 0;

  bool operator==(const FileStamp& o) const {
    return size == o.size && mtime_ns == o.mtime_ns && inode == o.inode;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

// A file whose written data can be made durable: what the resume journal
// needs of the part file (an interface so that tests can check the order of
// syncs and journal records).
class SyncableFile {
 public:
  virtual ~SyncableFile() = default;
  // Makes every write that returned before this call durable (fdatasync).
  virtual absl::Status SyncData() = 0;
  // The file's stamp now.
  virtual absl::StatusOr<FileStamp> Stamp() = 0;
};

class PartFile : public SyncableFile {
 public:
  // Creates (or truncates) the part file for `name` in `dir` and sizes it to
  // `size` bytes. REQUIRES: `name` passed ValidateFileName. Errors from the
  // file system (PERMISSION_DENIED, NOT_FOUND, RESOURCE_EXHAUSTED, ...).
  static absl::StatusOr<std::unique_ptr<PartFile>> Create(
      const std::string& dir, const std::string& name, int64_t size);

  // Opens an existing part file at `path` (to resume a download) without
  // changing it. `dir` and `name` are where Commit puts it. NOT_FOUND when
  // it is gone; FAILED_PRECONDITION when it is not a regular file.
  static absl::StatusOr<std::unique_ptr<PartFile>> Open(
      const std::string& dir, const std::string& name,
      const std::string& path);

  // The part file's path for `name` in `dir`.
  static std::string PartPath(const std::string& dir, const std::string& name);

  ~PartFile() override;
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  // Writes `data` at `offset`.
  absl::Status WriteAt(int64_t offset, absl::string_view data);
  // Writes the pieces one after the other from `offset`: gathered into an
  // aligned buffer and written with O_DIRECT when offset and length are
  // block-aligned, else with pwritev straight from the pieces.
  absl::Status WriteAt(int64_t offset,
                       absl::Span<const absl::string_view> pieces);

  // Whether block-aligned writes bypass the page cache (O_DIRECT).
  bool direct_io() const { return direct_fd_ >= 0 && direct_ok_.load(); }

  // Reads `length` bytes at `offset`. OUT_OF_RANGE when the file is
  // shorter.
  absl::StatusOr<std::string> ReadAt(int64_t offset, int64_t length);

  // Sets the file's size (to repair a part file truncated or extended
  // behind the downloader's back).
  absl::Status Resize(int64_t size);

  // SyncableFile.
  absl::Status SyncData() override;
  absl::StatusOr<FileStamp> Stamp() override;

  // Fsyncs, closes and renames the file to its final name without replacing
  // anything; returns the final path.
  absl::StatusOr<std::string> Commit();

  // Leaves the part file on disk when destroyed.
  void Keep() { keep_ = true; }

  const std::string& path() const { return path_; }

 private:
  PartFile(std::string dir, std::string name, std::string path, int fd)
      : dir_(std::move(dir)),
        name_(std::move(name)),
        path_(std::move(path)),
        fd_(fd) {}

  // "WHAT the unfinished NAME in DIR": errors name the file the user asked
  // for, not the hidden part file.
  std::string Where(absl::string_view what) const;
  // Opens the O_DIRECT descriptor, if the file system allows it.
  void OpenDirect();
  absl::Status WriteBuffered(int64_t offset,
                             absl::Span<const absl::string_view> pieces);

  const std::string dir_;
  const std::string name_;
  const std::string path_;
  int fd_;
  int direct_fd_ = -1;
  std::atomic<bool> direct_ok_{true};
  bool committed_ = false;
  bool keep_ = false;
};

// The n-th alternative for a taken file name: "NAME (n)" (n >= 1).
std::string AlternativeName(absl::string_view name, int n);

// Renames `from` to `to` unless `to` exists. ALREADY_EXISTS when it does.
absl::Status RenameNoReplace(const std::string& from, const std::string& to);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_PART_FILE_H_
