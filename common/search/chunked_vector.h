// ChunkedVector: a sequence indexed like std::vector, held in blocks of a
// fixed number of elements that never move. Growing adds a block; it never
// copies what is already held (a std::vector of a million 80-byte records
// copies 80 MB, and touches as much fresh memory, each time it doubles:
// the search index's per-slot records grow that way while a large change
// is applied under the catalog's lock). Elements keep their addresses for
// as long as they are held.
//
// Indexing costs one more load than a std::vector's (the block's address,
// from a table of a few dozen entries that stays in the cache). std::deque
// also grows without moving, but libstdc++ gives it 512-byte blocks (six
// 80-byte records each): a million records would be 170,000 allocations,
// and its indexing does more arithmetic.
//
// Thread-compatible.
#ifndef TROVE_COMMON_SEARCH_CHUNKED_VECTOR_H_
#define TROVE_COMMON_SEARCH_CHUNKED_VECTOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace trove {
namespace search {

// kBlockBits: log2 of the elements per block.
template <typename T, int kBlockBits = 16>
class ChunkedVector {
 public:
  static constexpr size_t kBlock = size_t{1} << kBlockBits;

  ChunkedVector() = default;
  ~ChunkedVector() { Clear(); }
  ChunkedVector(const ChunkedVector&) = delete;
  ChunkedVector& operator=(const ChunkedVector&) = delete;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Elements the blocks held now have room for.
  size_t capacity() const { return blocks_.size() * kBlock; }

  T& operator[](size_t i) { return blocks_[i >> kBlockBits][i & (kBlock - 1)]; }
  const T& operator[](size_t i) const {
    return blocks_[i >> kBlockBits][i & (kBlock - 1)];
  }
  T& back() { return (*this)[size_ - 1]; }
  const T& back() const { return (*this)[size_ - 1]; }

  template <typename... Args>
  T& emplace_back(Args&&... args) {
    if (size_ == capacity()) AddBlock();
    T* at = &(*this)[size_];
    ::new (static_cast<void*>(at)) T(std::forward<Args>(args)...);
    ++size_;
    return *at;
  }
  void push_back(const T& v) { emplace_back(v); }
  void push_back(T&& v) { emplace_back(std::move(v)); }

  void pop_back() {
    --size_;
    (*this)[size_].~T();
  }

  // New elements are value-initialized, as std::vector's resize does.
  void resize(size_t n) {
    while (size_ > n) pop_back();
    while (size_ < n) emplace_back();
  }
  void resize(size_t n, const T& fill) {
    while (size_ > n) pop_back();
    while (size_ < n) emplace_back(fill);
  }

  // Makes room for `n` elements now (block tables only grow).
  void reserve(size_t n) {
    while (capacity() < n) AddBlock();
  }

  // Destroys every element and lets go of the blocks.
  void clear() { Clear(); }

 private:
  struct FreeBlock {
    void operator()(T* p) const {
      ::operator delete (static_cast<void*>(p), std::align_val_t{alignof(T)});
    }
  };
  using Block = std::unique_ptr<T[], FreeBlock>;

  void AddBlock() {
    // Raw memory: elements are constructed as they are added, so a new
    // block's pages are touched only as it fills.
    void* raw =
        ::operator new (sizeof(T) * kBlock, std::align_val_t{alignof(T)});
    blocks_.emplace_back(static_cast<T*>(raw));
  }

  void Clear() {
    while (size_ > 0) pop_back();
    blocks_.clear();
  }

  std::vector<Block> blocks_;
  size_t size_ = 0;
};

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_CHUNKED_VECTOR_H_
