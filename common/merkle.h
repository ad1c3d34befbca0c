// Content ids: a file is cut into 1 MiB chunks (the last one shorter, one
// empty chunk for an empty file); each chunk's hash is SHA-256 of its bytes;
// the chunk hashes are the leaves of a binary Merkle tree shaped as in
// RFC 6962 (left subtree = largest power of two below n), inner node =
// SHA-256(0x01 || left || right); and
//   cid = hex(SHA-256(0x02 || root || size as 8 bytes big-endian)).
// So a cid binds the chunk hashes and the size, and a downloader can check a
// manifest against the cid, then each chunk against the manifest.
// All functions are thread-safe.
#ifndef TROVE_COMMON_MERKLE_H_
#define TROVE_COMMON_MERKLE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {

inline constexpr int64_t kChunkSize = int64_t{1} << 20;

using Hash = std::array<uint8_t, 32>;

// SHA-256 of `data`.
Hash Sha256(absl::string_view data);

// Lowercase hex of `bytes`.
std::string HexEncode(absl::string_view bytes);
std::string HexEncode(const Hash& hash);

// Parses 64 hex digits. INVALID_ARGUMENT otherwise.
absl::StatusOr<Hash> HashFromHex(absl::string_view hex);

// The bytes of a hash as a string (32 bytes), and back. HashFromBytes
// fails with INVALID_ARGUMENT unless `bytes` is exactly 32 bytes.
std::string HashToBytes(const Hash& hash);
absl::StatusOr<Hash> HashFromBytes(absl::string_view bytes);

// Number of chunks of a file of `size` bytes: max(1, ceil(size / 1 MiB)).
int64_t ChunkCount(int64_t size);

// Length of chunk `index` of a file of `size` bytes.
int64_t ChunkLength(int64_t size, int64_t index);

// Merkle root over the chunk hashes. REQUIRES: !chunk_hashes.empty().
Hash MerkleRoot(const std::vector<Hash>& chunk_hashes);

// The cid of a file with these chunk hashes and size.
// REQUIRES: chunk_hashes.size() == ChunkCount(size).
std::string ComputeCid(const std::vector<Hash>& chunk_hashes, int64_t size);

// Checks that `chunk_hashes` and `size` give `cid`. INVALID_ARGUMENT when the
// count of hashes does not fit the size; DATA_LOSS when the cid differs.
absl::Status VerifyManifest(absl::string_view cid, int64_t size,
                            const std::vector<Hash>& chunk_hashes);

// What hashing a whole file gives.
struct FileHashes {
  int64_t size = 0;
  std::vector<Hash> chunk_hashes;
  std::string cid;
};

// Hashes an in-memory buffer.
FileHashes HashBuffer(absl::string_view data);

// Hashes the file at `path`, calling `progress(bytes_done, size)` after each
// chunk when given. NOT_FOUND / PERMISSION_DENIED / INTERNAL on I/O errors.
absl::StatusOr<FileHashes> HashFile(
    const std::string& path,
    const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace trove

#endif  // TROVE_COMMON_MERKLE_H_
