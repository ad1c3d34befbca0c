// A download's file while it is written: OUT_DIR/.NAME.trove-part (hidden,
// so the share scanner ignores it), written at chunk offsets with pwrite,
// then fsynced and renamed to OUT_DIR/NAME, or to "NAME (1)", "NAME (2)"...
// when that name is taken: an existing file is never overwritten. Unless
// committed or kept, the part file is removed when the object is destroyed.
//
// Thread-safe for concurrent WriteAt calls; Commit/Keep are called once,
// after all writes.
#ifndef TROVE_PEER_CLIENT_PART_FILE_H_
#define TROVE_PEER_CLIENT_PART_FILE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {

class PartFile {
 public:
  // Creates (or truncates) the part file for `name` in `dir` and sizes it to
  // `size` bytes. REQUIRES: `name` passed ValidateFileName. Errors from the
  // file system (PERMISSION_DENIED, NOT_FOUND, RESOURCE_EXHAUSTED, ...).
  static absl::StatusOr<std::unique_ptr<PartFile>> Create(
      const std::string& dir, const std::string& name, int64_t size);

  // The part file's path for `name` in `dir`.
  static std::string PartPath(const std::string& dir, const std::string& name);

  ~PartFile();
  PartFile(const PartFile&) = delete;
  PartFile& operator=(const PartFile&) = delete;

  // Writes `data` at `offset`.
  absl::Status WriteAt(int64_t offset, absl::string_view data);

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

  const std::string dir_;
  const std::string name_;
  const std::string path_;
  int fd_;
  bool committed_ = false;
  bool keep_ = false;
};

// The n-th alternative for a taken file name: "NAME (n)" (n >= 1).
std::string AlternativeName(absl::string_view name, int n);

// Renames `from` to `to` unless `to` exists. ALREADY_EXISTS when it does.
absl::Status RenameNoReplace(const std::string& from, const std::string& to);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_PART_FILE_H_
