#include "peer_client/hash_cache.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/log.h"

namespace trove {
namespace {

constexpr char kMagic[] = "TROVEHC1";
constexpr size_t kMagicLen = 8;

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

void PutU64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// Reads fixed-size fields from a buffer, remembering whether it ran short.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}

  bool U32(uint32_t* v) {
    if (data_.size() < 4) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      *v |= static_cast<uint32_t>(static_cast<uint8_t>(data_[i])) << (8 * i);
    }
    data_.remove_prefix(4);
    return true;
  }

  bool U64(uint64_t* v) {
    if (data_.size() < 8) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) {
      *v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[i])) << (8 * i);
    }
    data_.remove_prefix(8);
    return true;
  }

  bool Bytes(size_t n, absl::string_view* out) {
    if (data_.size() < n) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }

  size_t remaining() const { return data_.size(); }

 private:
  absl::string_view data_;
};

}  // namespace

std::unique_ptr<HashCache> HashCache::Load(const std::string& path) {
  std::unique_ptr<HashCache> cache(new HashCache(path));
  absl::StatusOr<std::string> data = ReadFile(path);
  if (!data.ok()) {
    if (!absl::IsNotFound(data.status())) {
      TROVE_LOG(WARNING) << "hash cache " << path
                         << " unreadable, starting empty: " << data.status();
    }
    return cache;
  }
  std::string error;
  std::optional<std::map<std::string, Entry>> entries = Parse(*data, &error);
  if (!entries.has_value()) {
    TROVE_LOG(WARNING) << "hash cache " << path << " is corrupt (" << error
                       << "), starting empty; shared files will be hashed again";
    absl::MutexLock lock(&cache->mu_);
    cache->dirty_ = true;  // Replace the corrupt file at the next save.
    return cache;
  }
  absl::MutexLock lock(&cache->mu_);
  cache->entries_ = std::move(*entries);
  return cache;
}

std::optional<std::map<std::string, HashCache::Entry>> HashCache::Parse(
    const std::string& data, std::string* error) {
  if (data.size() < kMagicLen + 8 + 32 ||
      std::memcmp(data.data(), kMagic, kMagicLen) != 0) {
    *error = "bad header";
    return std::nullopt;
  }
  absl::string_view body(data.data(), data.size() - 32);
  Hash sum = Sha256(body);
  if (std::memcmp(sum.data(), data.data() + body.size(), 32) != 0) {
    *error = "checksum mismatch";
    return std::nullopt;
  }
  Reader r(body.substr(kMagicLen));
  uint64_t count = 0;
  if (!r.U64(&count)) {
    *error = "truncated";
    return std::nullopt;
  }
  std::map<std::string, Entry> out;
  for (uint64_t i = 0; i < count; ++i) {
    uint32_t path_len = 0, hash_count = 0;
    uint64_t size = 0, mtime = 0;
    absl::string_view path, cid;
    if (!r.U32(&path_len) || !r.Bytes(path_len, &path) || !r.U64(&size) ||
        !r.U64(&mtime) || !r.Bytes(32, &cid) || !r.U32(&hash_count)) {
      *error = absl::StrCat("entry ", i, " truncated");
      return std::nullopt;
    }
    Entry e;
    e.size = static_cast<int64_t>(size);
    e.mtime_ns = static_cast<int64_t>(mtime);
    if (e.size < 0 || static_cast<int64_t>(hash_count) != ChunkCount(e.size) ||
        r.remaining() < static_cast<size_t>(hash_count) * 32) {
      *error = absl::StrCat("entry ", i, " inconsistent");
      return std::nullopt;
    }
    e.hashes.size = e.size;
    e.hashes.chunk_hashes.resize(hash_count);
    for (uint32_t k = 0; k < hash_count; ++k) {
      absl::string_view h;
      r.Bytes(32, &h);
      std::memcpy(e.hashes.chunk_hashes[k].data(), h.data(), 32);
    }
    e.hashes.cid = HexEncode(cid);
    out[std::string(path)] = std::move(e);
  }
  if (r.remaining() != 0) {
    *error = "trailing bytes";
    return std::nullopt;
  }
  return out;
}

std::optional<FileHashes> HashCache::Lookup(const std::string& path,
                                            int64_t size,
                                            int64_t mtime_ns) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(path);
  if (it == entries_.end() || it->second.size != size ||
      it->second.mtime_ns != mtime_ns) {
    return std::nullopt;
  }
  return it->second.hashes;
}

void HashCache::Put(const std::string& path, int64_t size, int64_t mtime_ns,
                    const FileHashes& hashes) {
  absl::MutexLock lock(&mu_);
  Entry& e = entries_[path];
  e.size = size;
  e.mtime_ns = mtime_ns;
  e.hashes = hashes;
  dirty_ = true;
}

void HashCache::RetainOnly(const std::set<std::string>& keep) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (keep.count(it->first) == 0) {
      it = entries_.erase(it);
      dirty_ = true;
    } else {
      ++it;
    }
  }
}

std::string HashCache::SerializeLocked() const {
  std::string out(kMagic, kMagicLen);
  PutU64(&out, entries_.size());
  for (const auto& [path, e] : entries_) {
    PutU32(&out, static_cast<uint32_t>(path.size()));
    out += path;
    PutU64(&out, static_cast<uint64_t>(e.size));
    PutU64(&out, static_cast<uint64_t>(e.mtime_ns));
    absl::StatusOr<Hash> cid = HashFromHex(e.hashes.cid);
    out += cid.ok() ? HashToBytes(*cid) : std::string(32, '\0');
    PutU32(&out, static_cast<uint32_t>(e.hashes.chunk_hashes.size()));
    for (const Hash& h : e.hashes.chunk_hashes) out += HashToBytes(h);
  }
  Hash sum = Sha256(out);
  out += HashToBytes(sum);
  return out;
}

absl::Status HashCache::Save() {
  absl::MutexLock save_lock(&save_mu_);  // Writes land in order.
  std::string data;
  {
    absl::MutexLock lock(&mu_);
    if (!dirty_) return absl::OkStatus();
    data = SerializeLocked();
    dirty_ = false;
  }
  absl::Status st = WriteFileAtomic(path_, data, 0600);
  if (!st.ok()) {
    absl::MutexLock lock(&mu_);
    dirty_ = true;
  }
  return st;
}

size_t HashCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace trove
