#include "common/merkle.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace trove {
namespace {

Hash NodeHash(const Hash& left, const Hash& right) {
  uint8_t buf[1 + 32 + 32];
  buf[0] = 0x01;
  std::memcpy(buf + 1, left.data(), 32);
  std::memcpy(buf + 33, right.data(), 32);
  Hash out;
  SHA256(buf, sizeof(buf), out.data());
  return out;
}

Hash SubtreeRoot(const std::vector<Hash>& leaves, size_t begin, size_t end) {
  size_t n = end - begin;
  if (n == 1) return leaves[begin];
  size_t k = 1;
  while (k * 2 < n) k *= 2;
  return NodeHash(SubtreeRoot(leaves, begin, begin + k),
                  SubtreeRoot(leaves, begin + k, end));
}

absl::Status ErrnoStatus(int err, const std::string& what) {
  std::string msg = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  if (err == EACCES || err == EPERM) return absl::PermissionDeniedError(msg);
  return absl::InternalError(msg);
}

}  // namespace

Hash Sha256(absl::string_view data) {
  Hash out;
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(),
         out.data());
  return out;
}

std::string HexEncode(absl::string_view bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string HexEncode(const Hash& hash) {
  return HexEncode(absl::string_view(reinterpret_cast<const char*>(hash.data()),
                                     hash.size()));
}

absl::StatusOr<Hash> HashFromHex(absl::string_view hex) {
  if (hex.size() != 64) {
    return absl::InvalidArgumentError("hash must be 64 hex digits");
  }
  Hash out;
  for (size_t i = 0; i < 32; ++i) {
    int v = 0;
    for (int k = 0; k < 2; ++k) {
      char c = hex[2 * i + k];
      int d;
      if (c >= '0' && c <= '9') {
        d = c - '0';
      } else if (c >= 'a' && c <= 'f') {
        d = c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        d = c - 'A' + 10;
      } else {
        return absl::InvalidArgumentError("hash has a non-hex digit");
      }
      v = v * 16 + d;
    }
    out[i] = static_cast<uint8_t>(v);
  }
  return out;
}

std::string HashToBytes(const Hash& hash) {
  return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes) {
  if (bytes.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk hash must be 32 bytes, got ", bytes.size()));
  }
  Hash out;
  std::memcpy(out.data(), bytes.data(), 32);
  return out;
}

int64_t ChunkCount(int64_t size) {
  if (size <= 0) return 1;
  return (size + kChunkSize - 1) / kChunkSize;
}

int64_t ChunkLength(int64_t size, int64_t index) {
  int64_t begin = index * kChunkSize;
  if (begin >= size) return 0;
  return std::min(kChunkSize, size - begin);
}

Hash MerkleRoot(const std::vector<Hash>& chunk_hashes) {
  return SubtreeRoot(chunk_hashes, 0, chunk_hashes.size());
}

std::string ComputeCid(const std::vector<Hash>& chunk_hashes, int64_t size) {
  Hash root = MerkleRoot(chunk_hashes);
  uint8_t buf[1 + 32 + 8];
  buf[0] = 0x02;
  std::memcpy(buf + 1, root.data(), 32);
  uint64_t s = static_cast<uint64_t>(size);
  for (int i = 0; i < 8; ++i) buf[33 + i] = static_cast<uint8_t>(s >> (56 - 8 * i));
  Hash cid;
  SHA256(buf, sizeof(buf), cid.data());
  return HexEncode(cid);
}

absl::Status VerifyManifest(absl::string_view cid, int64_t size,
                            const std::vector<Hash>& chunk_hashes) {
  if (size < 0) return absl::InvalidArgumentError("manifest size is negative");
  if (static_cast<int64_t>(chunk_hashes.size()) != ChunkCount(size)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest has ", chunk_hashes.size(), " chunk hashes; a file of ", size,
        " bytes has ", ChunkCount(size)));
  }
  std::string computed = ComputeCid(chunk_hashes, size);
  if (computed != cid) {
    return absl::DataLossError(absl::StrCat(
        "manifest does not match cid ", cid, " (it gives ", computed, ")"));
  }
  return absl::OkStatus();
}

FileHashes HashBuffer(absl::string_view data) {
  FileHashes out;
  out.size = static_cast<int64_t>(data.size());
  int64_t n = ChunkCount(out.size);
  out.chunk_hashes.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    out.chunk_hashes.push_back(
        Sha256(data.substr(i * kChunkSize, ChunkLength(out.size, i))));
  }
  out.cid = ComputeCid(out.chunk_hashes, out.size);
  return out;
}

absl::StatusOr<FileHashes> HashFile(
    const std::string& path,
    const std::function<void(int64_t, int64_t)>& progress) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return ErrnoStatus(err, absl::StrCat("stat ", path));
  }
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  FileHashes out;
  out.size = st.st_size;
  int64_t n = ChunkCount(out.size);
  out.chunk_hashes.reserve(n);
  std::string buf(kChunkSize, '\0');
  for (int64_t i = 0; i < n; ++i) {
    int64_t want = ChunkLength(out.size, i);
    int64_t got = 0;
    while (got < want) {
      ssize_t r = ::pread(fd, buf.data() + got, want - got, i * kChunkSize + got);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) {
        int err = errno;
        ::close(fd);
        return ErrnoStatus(err, absl::StrCat("read ", path));
      }
      if (r == 0) {
        ::close(fd);
        return absl::AbortedError(
            absl::StrCat(path, " shrank while it was being hashed"));
      }
      got += r;
    }
    out.chunk_hashes.push_back(Sha256(absl::string_view(buf.data(), want)));
    if (progress) progress(std::min(out.size, (i + 1) * kChunkSize), out.size);
  }
  ::close(fd);
  out.cid = ComputeCid(out.chunk_hashes, out.size);
  return out;
}

}  // namespace trove
