// Helpers shared by peer_client's tests: temporary folders and files.
#ifndef TROVE_PEER_CLIENT_TEST_UTIL_H_
#define TROVE_PEER_CLIENT_TEST_UTIL_H_

#include <string>

#include "absl/strings/string_view.h"

namespace trove {
namespace testing {

// A fresh empty folder under $TEST_TMPDIR (or /tmp), removed with its
// contents when the object is destroyed.
class TempDir {
 public:
  TempDir();
  // Under `base` instead (e.g. "/tmp" where a Unix socket path must stay
  // short).
  explicit TempDir(const std::string& base);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + relative.
  std::string Sub(absl::string_view relative) const;

 private:
  std::string path_;
};

// Writes `contents` to `path` (creating parent folders). Aborts the test
// binary on failure.
void WriteTestFile(const std::string& path, absl::string_view contents);

// Reads a whole file; "" when it cannot be read.
std::string ReadTestFile(const std::string& path);

// Whether `path` exists (without following a final symlink).
bool PathExists(const std::string& path);

// `n` bytes of deterministic pseudo-random data.
std::string RandomBytes(size_t n, uint32_t seed);

}  // namespace testing
}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TEST_UTIL_H_
