#include "common/search/chunked_vector.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace trove {
namespace search {
namespace {

// Counts the live instances, to check that every element constructed is
// destroyed exactly once.
struct Counted {
  static int live;
  std::string text;
  Counted() { ++live; }
  explicit Counted(std::string t) : text(std::move(t)) { ++live; }
  Counted(const Counted& o) : text(o.text) { ++live; }
  ~Counted() { --live; }
};
int Counted::live = 0;

TEST(ChunkedVectorTest, RandomOperationsMatchStdVector) {
  std::mt19937 rng(7);
  // Small blocks, so that the sequences below cross many block edges.
  ChunkedVector<uint64_t, 4> chunked;
  std::vector<uint64_t> reference;
  for (int step = 0; step < 200000; ++step) {
    const int op = rng() % 100;
    if (op < 55) {
      const uint64_t v = rng();
      chunked.emplace_back(v);
      reference.push_back(v);
    } else if (op < 70 && !reference.empty()) {
      chunked.pop_back();
      reference.pop_back();
    } else if (op < 85 && !reference.empty()) {
      const size_t i = rng() % reference.size();
      const uint64_t v = rng();
      chunked[i] = v;
      reference[i] = v;
    } else if (op < 88) {
      const size_t n = rng() % (reference.size() + 40);
      chunked.resize(n);
      reference.resize(n);
    } else if (op < 90) {
      const size_t n = rng() % (reference.size() + 40);
      chunked.resize(n, 5);
      reference.resize(n, 5);
    } else if (!reference.empty()) {
      const size_t i = rng() % reference.size();
      ASSERT_EQ(chunked[i], reference[i]) << "step " << step;
      ASSERT_EQ(chunked.back(), reference.back());
    }
    ASSERT_EQ(chunked.size(), reference.size());
    ASSERT_GE(chunked.capacity(), chunked.size());
  }
  for (size_t i = 0; i < reference.size(); ++i) {
    ASSERT_EQ(chunked[i], reference[i]) << i;
  }
}

TEST(ChunkedVectorTest, ResizeValueInitializes) {
  ChunkedVector<uint32_t, 3> v;
  v.resize(20);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 9;
  v.resize(3);
  v.resize(30);
  for (size_t i = 3; i < 30; ++i) EXPECT_EQ(v[i], 0u) << i;
}

TEST(ChunkedVectorTest, ElementsKeepTheirAddressesAsItGrows) {
  ChunkedVector<uint64_t, 2> v;
  std::vector<const uint64_t*> where;
  for (uint64_t i = 0; i < 1000; ++i) {
    where.push_back(&v.emplace_back(i));
  }
  for (uint64_t i = 0; i < 1000; ++i) {
    EXPECT_EQ(where[i], &v[i]);
    EXPECT_EQ(*where[i], i);
  }
}

TEST(ChunkedVectorTest, ReserveAddsRoomWithoutElements) {
  ChunkedVector<uint64_t, 4> v;
  v.reserve(100);
  EXPECT_EQ(v.size(), 0u);
  EXPECT_GE(v.capacity(), 100u);
  const uint64_t* first = &v.emplace_back(1);
  for (int i = 0; i < 99; ++i) v.emplace_back(i);
  EXPECT_EQ(first, &v[0]);
  EXPECT_EQ(v.capacity() % 16, 0u);
}

TEST(ChunkedVectorTest, EveryElementIsDestroyedOnce) {
  std::mt19937 rng(3);
  {
    ChunkedVector<Counted, 3> v;
    std::vector<std::string> reference;
    for (int step = 0; step < 20000; ++step) {
      const int op = rng() % 10;
      if (op < 6) {
        const std::string t = std::to_string(rng());
        v.emplace_back(t);
        reference.push_back(t);
      } else if (op < 8 && !reference.empty()) {
        v.pop_back();
        reference.pop_back();
      } else if (op == 8) {
        const size_t n = rng() % (reference.size() + 20);
        v.resize(n);
        reference.resize(n);
      } else if (!reference.empty()) {
        const size_t i = rng() % reference.size();
        ASSERT_EQ(v[i].text, reference[i]);
      }
      ASSERT_EQ(Counted::live, static_cast<int>(reference.size()));
    }
    v.clear();
    EXPECT_EQ(Counted::live, 0);
    EXPECT_EQ(v.size(), 0u);
    v.emplace_back("again");
    EXPECT_EQ(v[0].text, "again");
  }
  EXPECT_EQ(Counted::live, 0);
}

// Over-aligned elements get aligned blocks.
TEST(ChunkedVectorTest, AlignsElements) {
  struct alignas(64) Line {
    char bytes[64];
  };
  ChunkedVector<Line, 2> v;
  for (int i = 0; i < 20; ++i) {
    Line& l = v.emplace_back();
    EXPECT_EQ(reinterpret_cast<uintptr_t>(&l) % 64, 0u);
  }
}

}  // namespace
}  // namespace search
}  // namespace trove
