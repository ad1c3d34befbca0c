#include "peer_client/test_util.h"

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"

namespace trove {
namespace testing {

namespace {

std::string DefaultBase() {
  const char* base = std::getenv("TEST_TMPDIR");
  return base != nullptr ? base : "/tmp";
}

}  // namespace

TempDir::TempDir() : TempDir(DefaultBase()) {}

TempDir::TempDir(const std::string& base) {
  std::string tmpl = absl::StrCat(base, "/peer_XXXXXX");
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  ::nftw(
      path_.c_str(),
      [](const char* p, const struct stat*, int, struct FTW*) {
        return ::remove(p);
      },
      16, FTW_DEPTH | FTW_PHYS);
}

std::string TempDir::Sub(absl::string_view relative) const {
  return absl::StrCat(path_, "/", relative);
}

void WriteTestFile(const std::string& path, absl::string_view contents) {
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (!MakeDirs(path.substr(0, slash)).ok()) std::abort();
  }
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) {
    std::perror(path.c_str());
    std::abort();
  }
  if (!contents.empty()) std::fwrite(contents.data(), 1, contents.size(), f);
  std::fclose(f);
}

std::string ReadTestFile(const std::string& path) {
  absl::StatusOr<std::string> data = ReadFile(path);
  return data.ok() ? *data : "";
}

bool PathExists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>(rng() & 0xff);
  return out;
}

}  // namespace testing
}  // namespace trove
