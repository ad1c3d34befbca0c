#include "peer_client/file_catalog.h"

#include <algorithm>

namespace trove {

ChunkHaveMap::ChunkHaveMap(int64_t chunk_count)
    : chunk_count_(std::max<int64_t>(chunk_count, 1)),
      bits_(static_cast<size_t>((chunk_count_ + 7) / 8), '\0') {}

void ChunkHaveMap::Set(uint32_t index) {
  if (static_cast<int64_t>(index) >= chunk_count_) return;
  absl::MutexLock lock(&mu_);
  char& byte = bits_[index / 8];
  const char bit = static_cast<char>(1 << (index % 8));
  if ((byte & bit) == 0) {
    byte |= bit;
    ++count_;
  }
}

bool ChunkHaveMap::Has(uint32_t index) const {
  if (static_cast<int64_t>(index) >= chunk_count_) return false;
  absl::MutexLock lock(&mu_);
  return (static_cast<uint8_t>(bits_[index / 8]) >> (index % 8)) & 1;
}

int64_t ChunkHaveMap::count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

std::string ChunkHaveMap::Bitmap() const {
  absl::MutexLock lock(&mu_);
  return bits_;
}

std::string ChunkHaveMap::WaitForMore(int64_t count, absl::Duration timeout,
                                      int64_t* now) const {
  absl::MutexLock lock(&mu_);
  auto more = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return count_ > count;
  };
  mu_.AwaitWithTimeout(absl::Condition(&more), timeout);
  *now = count_;
  return bits_;
}

std::shared_ptr<const SharedFile> LayeredCatalog::FindByCid(
    absl::string_view cid) const {
  for (const FileCatalog* layer : layers_) {
    if (std::shared_ptr<const SharedFile> f = layer->FindByCid(cid)) return f;
  }
  return nullptr;
}

}  // namespace trove
