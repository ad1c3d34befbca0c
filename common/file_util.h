// Small file helpers with clear failure statuses. Thread-safe.
#ifndef TROVE_COMMON_FILE_UTIL_H_
#define TROVE_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {

// Writes `contents` to `path` atomically: a temporary file beside it is
// written, fsynced and renamed over `path`, then the folder is fsynced. After
// a crash `path` holds either the old or the new contents, never a mix.
absl::Status WriteFileAtomic(const std::string& path,
                             absl::string_view contents, int mode = 0644);

// Reads a whole file. NOT_FOUND when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Creates `path` and its parents as needed (like mkdir -p).
absl::Status MakeDirs(const std::string& path, int mode = 0755);

// A Status for errno `err` while doing `what`.
absl::Status ErrnoToStatus(int err, absl::string_view what);

}  // namespace trove

#endif  // TROVE_COMMON_FILE_UTIL_H_
