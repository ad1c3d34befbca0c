#include "peer_client/chunk_scheduler.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace trove {
namespace {

using Indexes = std::vector<uint32_t>;

// The scheduler's state as a string, one letter per chunk: 'd' done,
// 'a'/'b'/... in flight for source 0/1/..., '.' wanted.
std::string Picture(const ChunkScheduler& s, int sources,
                    const std::vector<Indexes>& flights) {
  std::string out(s.chunk_count(), '.');
  for (int64_t i = 0; i < s.chunk_count(); ++i) {
    if (s.IsDone(static_cast<uint32_t>(i))) out[i] = 'd';
  }
  for (int src = 0; src < sources; ++src) {
    for (uint32_t i : flights[src]) {
      if (!s.IsDone(i)) out[i] = static_cast<char>('a' + src);
    }
  }
  return out;
}

// A bitmap with the chunks marked 'x' in `pattern` set.
std::string Have(const std::string& pattern) {
  std::string out((pattern.size() + 7) / 8, '\0');
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == 'x') out[i / 8] |= static_cast<char>(1 << (i % 8));
  }
  return out;
}

ChunkScheduler::Options Window(int w) {
  ChunkScheduler::Options o;
  o.window = w;
  return o;
}

TEST(ChunkSchedulerTest, OneSourceLowestFirstWithinItsWindow) {
  ChunkScheduler s(6, Window(4));
  s.AddSource(0);
  Indexes a = s.Assign(0, 3);
  EXPECT_EQ(a, (Indexes{0, 1, 2}));
  EXPECT_EQ(s.Assign(0, 3), (Indexes{3}));  // Window of 4 is full.
  EXPECT_EQ(s.Assign(0, 3), Indexes{});
  EXPECT_EQ(s.in_flight(0), 4);
  EXPECT_TRUE(s.MarkDone(0, 0));
  EXPECT_TRUE(s.MarkDone(0, 1));
  EXPECT_EQ(Picture(s, 1, {{0, 1, 2, 3}}), "ddaa..");
  EXPECT_EQ(s.Assign(0, 8), (Indexes{4, 5}));
  for (uint32_t i : {2, 3, 4, 5}) EXPECT_TRUE(s.MarkDone(0, i));
  EXPECT_TRUE(s.complete());
  EXPECT_EQ(s.done_count(), 6);
  EXPECT_EQ(s.Assign(0, 8), Indexes{});
}

TEST(ChunkSchedulerTest, EmptyFileHasOneChunk) {
  ChunkScheduler s(0, Window(4));
  EXPECT_EQ(s.chunk_count(), 1);
  s.AddSource(7);
  EXPECT_EQ(s.Assign(7, 8), Indexes{0});
  EXPECT_TRUE(s.MarkDone(7, 0));
  EXPECT_TRUE(s.complete());
}

TEST(ChunkSchedulerTest, FailedChunkIsWantedAgainFirst) {
  ChunkScheduler s(4, Window(8));
  s.AddSource(0);
  EXPECT_EQ(s.Assign(0, 2), (Indexes{0, 1}));
  EXPECT_TRUE(s.MarkDone(0, 0));
  EXPECT_TRUE(s.MarkFailed(0, 1));
  EXPECT_EQ(s.wanted_count(), 3);
  EXPECT_EQ(s.Assign(0, 1), Indexes{1});
}

TEST(ChunkSchedulerTest, RemovedSourceHandsItsChunksToAnother) {
  ChunkScheduler s(5, Window(2));
  s.AddSource(0);
  s.AddSource(1);
  EXPECT_EQ(s.Assign(0, 8), (Indexes{0, 1}));
  EXPECT_EQ(s.Assign(1, 8), (Indexes{2, 3}));
  EXPECT_EQ(Picture(s, 2, {{0, 1}, {2, 3}}), "aabb.");
  EXPECT_TRUE(s.MarkDone(0, 0));
  EXPECT_EQ(s.RemoveSource(0), Indexes{1});
  EXPECT_EQ(s.source_count(), 1);
  EXPECT_TRUE(s.MarkDone(1, 2));
  EXPECT_EQ(s.Assign(1, 8), Indexes{1});  // Window 2: {3, 1}.
  EXPECT_FALSE(s.MarkDone(0, 1));         // Source 0 is gone.
  EXPECT_TRUE(s.MarkDone(1, 1));
  EXPECT_TRUE(s.MarkDone(1, 3));
  EXPECT_EQ(s.Assign(1, 8), Indexes{4});
  EXPECT_TRUE(s.MarkDone(1, 4));
  EXPECT_TRUE(s.complete());
}

TEST(ChunkSchedulerTest, PartialSourceGetsOnlyWhatItHas) {
  ChunkScheduler s(6, Window(8));
  s.AddSource(0, Have(".x.x.x"));
  EXPECT_EQ(s.Assign(0, 8), (Indexes{1, 3, 5}));
  EXPECT_EQ(s.UnavailableCount(), 3);
  s.AddSource(1);
  EXPECT_EQ(s.UnavailableCount(), 0);
  EXPECT_EQ(s.Assign(1, 8), (Indexes{0, 2, 4}));
}

TEST(ChunkSchedulerTest, MarkDoneTwiceOrFromTheWrongSourceIsIgnored) {
  ChunkScheduler s(2, Window(8));
  s.AddSource(0);
  s.AddSource(1);
  EXPECT_EQ(s.Assign(0, 1), Indexes{0});
  EXPECT_FALSE(s.MarkDone(1, 0));
  EXPECT_TRUE(s.MarkDone(0, 0));
  EXPECT_FALSE(s.MarkDone(0, 0));
  EXPECT_FALSE(s.MarkFailed(0, 0));
  EXPECT_EQ(s.done_count(), 1);
}

TEST(ChunkSchedulerTest, UnknownSourceGetsNothing) {
  ChunkScheduler s(3, Window(8));
  EXPECT_EQ(s.Assign(42, 8), Indexes{});
  EXPECT_EQ(s.RemoveSource(42), Indexes{});
  EXPECT_EQ(s.in_flight(42), 0);
}

}  // namespace
}  // namespace trove
