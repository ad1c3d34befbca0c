#include "peer_client/transfer/part_file.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/merkle.h"

namespace trove {
namespace {

// Longest name most file systems take.
constexpr size_t kMaxNameBytes = 255;
// Offsets, lengths and buffers of O_DIRECT writes are multiples of this
// (every device's logical block size divides it).
constexpr size_t kDirectAlign = 4096;

// A buffer aligned for O_DIRECT, one per thread, grown as needed and kept:
// reused memory stays mapped and warm.
char* AlignedBuffer(size_t size) {
  struct Buffer {
    ~Buffer() { std::free(data); }
    char* data = nullptr;
    size_t size = 0;
  };
  thread_local Buffer buffer;
  if (buffer.size < size) {
    std::free(buffer.data);
    buffer.data = nullptr;
    buffer.size = 0;
    void* p = nullptr;
    if (::posix_memalign(&p, kDirectAlign, size) != 0) return nullptr;
    buffer.data = static_cast<char*>(p);
    buffer.size = size;
  }
  return buffer.data;
}
constexpr int kMaxAlternatives = 9999;

void SyncDir(const std::string& dir) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace

std::string AlternativeName(absl::string_view name, int n) {
  return absl::StrCat(name, " (", n, ")");
}

std::string PartFile::PartPath(const std::string& dir,
                               const std::string& name) {
  std::string base = absl::StrCat(".", name, ".trove-part");
  if (base.size() > kMaxNameBytes) {
    // Too long with the decorations: a short name from the name's hash.
    base = absl::StrCat(".", HexEncode(Sha256(name)).substr(0, 32),
                        ".trove-part");
  }
  return absl::StrCat(dir, "/", base);
}

absl::Status RenameNoReplace(const std::string& from, const std::string& to) {
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(),
                  RENAME_NOREPLACE) == 0) {
    return absl::OkStatus();
  }
  int err = errno;
  if (err != EINVAL && err != ENOSYS && err != ENOTSUP) {
    return ErrnoToStatus(err, absl::StrCat("rename to ", to));
  }
  // The file system cannot rename without replacing: link() never replaces.
  if (::link(from.c_str(), to.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("link to ", to));
  }
  ::unlink(from.c_str());
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<PartFile>> PartFile::Create(
    const std::string& dir, const std::string& name, int64_t size) {
  std::string path = PartPath(dir, name);
  int fd = ::open(path.c_str(),
                  O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) {
    return ErrnoToStatus(
        errno, absl::StrCat("cannot start writing ", name, " in ", dir));
  }
  std::unique_ptr<PartFile> part(new PartFile(dir, name, path, fd));
  if (::ftruncate(fd, size) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("cannot size ", name, " in ", dir));
  }
  if (size > 0 && ::fallocate(fd, 0, 0, size) != 0 && errno == ENOSPC) {
    return ErrnoToStatus(errno, absl::StrCat("cannot make room for ", name, " (", size,
                                             " bytes) in ", dir));
  }
  part->OpenDirect();
  // The new name must survive a crash too, or a journal would point at
  // nothing.
  SyncDir(dir);
  return part;
}

absl::StatusOr<std::unique_ptr<PartFile>> PartFile::Open(
    const std::string& dir, const std::string& name, const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("cannot open the unfinished ", name, " in ", dir));
  std::unique_ptr<PartFile> part(new PartFile(dir, name, path, fd));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    part->Keep();
    return ErrnoToStatus(errno, absl::StrCat("cannot inspect the unfinished ", name, " in ", dir));
  }
  if (!S_ISREG(st.st_mode)) {
    part->Keep();
    return absl::FailedPreconditionError(
        absl::StrCat("the unfinished ", name, " in ", dir,
                     " is not a regular file"));
  }
  part->OpenDirect();
  return part;
}

void PartFile::OpenDirect() {
  direct_fd_ =
      ::open(path_.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW);
}

PartFile::~PartFile() {
  if (direct_fd_ >= 0) ::close(direct_fd_);
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !keep_) ::unlink(path_.c_str());
}

std::string PartFile::Where(absl::string_view what) const {
  return absl::StrCat(what, " the unfinished ", name_, " in ", dir_);
}

absl::Status PartFile::WriteAt(int64_t offset, absl::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t w = ::pwrite(fd_, data.data() + done, data.size() - done,
                         offset + static_cast<int64_t>(done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoToStatus(errno, Where("cannot write"));
    done += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status PartFile::WriteAt(int64_t offset,
                               absl::Span<const absl::string_view> pieces) {
  size_t total = 0;
  for (absl::string_view p : pieces) total += p.size();
  if (total == 0 || direct_fd_ < 0 || !direct_ok_.load() ||
      offset % kDirectAlign != 0 || total % kDirectAlign != 0) {
    return WriteBuffered(offset, pieces);
  }
  char* buffer = AlignedBuffer(total);
  if (buffer == nullptr) return WriteBuffered(offset, pieces);
  size_t at = 0;
  for (absl::string_view p : pieces) {
    std::memcpy(buffer + at, p.data(), p.size());
    at += p.size();
  }
  size_t done = 0;
  while (done < total) {
    ssize_t w = ::pwrite(direct_fd_, buffer + done, total - done,
                         offset + static_cast<int64_t>(done));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EINVAL && done == 0) {
      // The file system refuses these direct writes after all.
      direct_ok_.store(false);
      return WriteBuffered(offset, pieces);
    }
    if (w < 0) return ErrnoToStatus(errno, Where("cannot write"));
    if (w == 0) {
      return absl::InternalError(
          absl::StrCat(Where("cannot write"), ": nothing was written"));
    }
    done += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status PartFile::WriteBuffered(
    int64_t offset, absl::Span<const absl::string_view> pieces) {
  std::vector<struct iovec> iov;
  iov.reserve(pieces.size());
  for (absl::string_view p : pieces) {
    if (p.empty()) continue;
    iov.push_back({const_cast<char*>(p.data()), p.size()});
  }
  size_t first = 0;  // The first iovec not fully written.
  while (first < iov.size()) {
    const int count =
        static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
    ssize_t w = ::pwritev(fd_, &iov[first], count, offset);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoToStatus(errno, Where("cannot write"));
    offset += w;
    size_t left = static_cast<size_t>(w);
    while (first < iov.size() && left >= iov[first].iov_len) {
      left -= iov[first].iov_len;
      ++first;
    }
    if (left > 0) {
      iov[first].iov_base = static_cast<char*>(iov[first].iov_base) + left;
      iov[first].iov_len -= left;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> PartFile::ReadAt(int64_t offset, int64_t length) {
  std::string out(static_cast<size_t>(length), '\0');
  int64_t got = 0;
  while (got < length) {
    ssize_t r = ::pread(fd_, &out[got], length - got, offset + got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return ErrnoToStatus(errno, Where("cannot read"));
    if (r == 0) {
      return absl::OutOfRangeError(absl::StrCat(
          "the unfinished ", name_, " in ", dir_, " ends before byte ",
          offset + length));
    }
    got += r;
  }
  return out;
}

absl::Status PartFile::Resize(int64_t size) {
  if (::ftruncate(fd_, size) != 0) {
    return ErrnoToStatus(errno, Where("cannot size"));
  }
  return absl::OkStatus();
}

absl::Status PartFile::SyncData() {
  if (::fdatasync(fd_) != 0) {
    return ErrnoToStatus(errno, Where("cannot sync"));
  }
  return absl::OkStatus();
}

absl::StatusOr<FileStamp> PartFile::Stamp() {
  struct stat st;
  if (::fstat(fd_, &st) != 0) {
    return ErrnoToStatus(errno, Where("cannot inspect"));
  }
  FileStamp out;
  out.size = st.st_size;
  out.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                 st.st_mtim.tv_nsec;
  out.inode = st.st_ino;
  return out;
}

absl::StatusOr<std::string> PartFile::Commit() {
  if (::fsync(fd_) != 0) {
    return ErrnoToStatus(errno, Where("cannot sync"));
  }
  if (direct_fd_ >= 0) {
    ::close(direct_fd_);
    direct_fd_ = -1;
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    return ErrnoToStatus(errno, Where("cannot close"));
  }
  fd_ = -1;
  for (int n = 0; n <= kMaxAlternatives; ++n) {
    std::string name = n == 0 ? name_ : AlternativeName(name_, n);
    std::string target = absl::StrCat(dir_, "/", name);
    absl::Status st = RenameNoReplace(path_, target);
    if (st.ok()) {
      committed_ = true;
      SyncDir(dir_);
      return target;
    }
    if (!absl::IsAlreadyExists(st)) return st;
  }
  return absl::AlreadyExistsError(absl::StrCat(
      "every name for ", name_, " in ", dir_, " is taken"));
}

}  // namespace trove
