#include "peer_client/transfer/chunk_scheduler.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

// Scenarios with sources named 'A', 'B', ... and pictures of the file, one
// letter per chunk: '.' wanted, 'd' done, 'A'/'B'/... in flight at that
// source, '2' in flight at two sources.
class Scenario {
 public:
  explicit Scenario(int chunks,
                    ChunkScheduler::Options options = Window(4, 1 << 20, 0))
      : s(chunks, options) {}

  // A window of `w` at every source, and one extent covering the file
  // (plain index order among equally rare chunks) unless `extent` is set.
  static ChunkScheduler::Options Window(int w, int extent = 1 << 20,
                                        uint64_t seed = 0) {
    ChunkScheduler::Options o;
    o.initial_window = w;
    o.max_window = w;
    o.extent_chunks = extent;
    o.seed = seed;
    return o;
  }

  // Bitmap from a picture: 'x' marks a set bit.
  static std::string Bits(const std::string& marks) {
    std::string bits((marks.size() + 7) / 8, '\0');
    for (size_t i = 0; i < marks.size(); ++i) {
      if (marks[i] == 'x') bits[i / 8] |= static_cast<char>(1 << (i % 8));
    }
    return bits;
  }

  // Adds a source; `have` marks the chunks it holds with 'x' ("" = all).
  void Source(char name, const std::string& have = "") {
    s.AddSource(name, Bits(have));
  }

  // What `name` is given, as "0 1 2".
  std::string Ask(char name, int max = 100) {
    return absl::StrJoin(s.Assign(name, max), " ");
  }

  bool Done(char name, uint32_t index) {
    return s.MarkDone(name, index).accepted;
  }

  // Sources whose request for `index` a delivery by `name` cancelled.
  std::string DoneCancelling(char name, uint32_t index) {
    std::string out;
    for (int id : s.MarkDone(name, index).cancelled) out += static_cast<char>(id);
    return out;
  }

  std::string Picture() const {
    std::string out;
    for (uint32_t i = 0; i < s.chunk_count(); ++i) {
      if (s.IsDone(i)) {
        out += 'd';
        continue;
      }
      std::string at;
      for (char c = 'A'; c <= 'Z'; ++c) {
        if (s.IsInFlight(c, i)) at += c;
      }
      out += at.empty() ? '.' : at.size() == 1 ? at[0] : '2';
    }
    return out;
  }

  ChunkScheduler s;
};

TEST(ChunkSchedulerTest, InOrderWhenEverySourceHoldsTheWholeFile) {
  Scenario f(10);
  f.Source('A');
  f.Source('B');
  EXPECT_EQ(f.Ask('A'), "0 1 2 3");
  EXPECT_EQ(f.Ask('B'), "4 5 6 7");
  EXPECT_EQ(f.Picture(), "AAAABBBB..");
  EXPECT_EQ(f.Ask('A'), "");  // Its window of 4 is full.
  EXPECT_TRUE(f.Done('A', 0));
  EXPECT_TRUE(f.Done('A', 1));
  EXPECT_EQ(f.Ask('A'), "8 9");
  EXPECT_EQ(f.Picture(), "ddAABBBBAA");
}

TEST(ChunkSchedulerTest, AskIsLimitedByMaxAndWindow) {
  Scenario f(10);
  f.Source('A');
  EXPECT_EQ(f.Ask('A', 3), "0 1 2");
  EXPECT_EQ(f.Ask('A', 3), "3");
  EXPECT_EQ(f.s.in_flight('A'), 4);
}

TEST(ChunkSchedulerTest, RarestChunksFirst) {
  Scenario f(8, Scenario::Window(2));
  f.Source('A');              // Holds everything.
  f.Source('B', "xxxx....");  // Holds the first half.
  // Only A holds 4..7: A is given those, B what it holds.
  EXPECT_EQ(f.Ask('A'), "4 5");
  EXPECT_EQ(f.Ask('B'), "0 1");
  EXPECT_EQ(f.Picture(), "BB..AA..");
  EXPECT_TRUE(f.Done('A', 4));
  EXPECT_TRUE(f.Done('A', 5));
  EXPECT_EQ(f.Ask('A'), "6 7");
  EXPECT_TRUE(f.Done('A', 6));
  EXPECT_TRUE(f.Done('A', 7));
  EXPECT_EQ(f.Ask('A'), "2 3");  // Now the common ones.
  EXPECT_EQ(f.Picture(), "BBAAdddd");
}

TEST(ChunkSchedulerTest, PartialSourceGetsOnlyWhatItHolds) {
  Scenario f(6, Scenario::Window(8));
  f.Source('A', ".x.x.x");
  EXPECT_EQ(f.s.UnavailableCount(), 3);
  EXPECT_EQ(f.Ask('A'), "1 3 5");
  EXPECT_EQ(f.Picture(), ".A.A.A");
  f.Source('B');
  EXPECT_EQ(f.s.UnavailableCount(), 0);
  EXPECT_EQ(f.Ask('B', 3), "0 2 4");
}

TEST(ChunkSchedulerTest, PartialSourceThatGainsChunksIsGivenThem) {
  Scenario f(4, Scenario::Window(8));
  f.Source('A', "x...");
  EXPECT_EQ(f.Ask('A'), "0");
  EXPECT_EQ(f.Ask('A'), "");
  f.Source('A', "xxx.");  // Its manifest, asked again, shows more.
  EXPECT_EQ(f.Ask('A'), "1 2");
  EXPECT_EQ(f.Picture(), "AAA.");
  EXPECT_EQ(f.s.UnavailableCount(), 1);
}

TEST(ChunkSchedulerTest, SlowSourceGetsASmallWindowFastOneALargeOne) {
  ChunkScheduler::Options o;
  o.initial_window = 4;
  o.min_window = 2;
  o.max_window = 16;
  o.window_seconds = 0.5;
  o.extent_chunks = 1 << 20;  // Plain index order.
  Scenario f(40, o);
  f.Source('A');
  f.Source('B');
  EXPECT_EQ(f.s.window('A'), 4);  // Before any rate is known.
  f.s.SetRate('A', 100);          // 100 chunks/s: 50 wanted, 16 at most.
  f.s.SetRate('B', 1);            // 1 chunk/s: 1 wanted, 2 at least.
  EXPECT_EQ(f.s.window('A'), 16);
  EXPECT_EQ(f.s.window('B'), 2);
  EXPECT_EQ(f.Ask('B'), "0 1");
  EXPECT_EQ(f.Ask('A').size(), std::string("2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17").size());
  EXPECT_EQ(f.s.in_flight('A'), 16);
  f.s.SetRate('A', 12);  // 6 chunks' worth: the window shrinks...
  EXPECT_EQ(f.s.window('A'), 6);
  EXPECT_TRUE(f.Done('A', 2));
  EXPECT_EQ(f.Ask('A'), "");  // ... and nothing more until it drains.
  f.s.SetRate('B', 0);
  EXPECT_EQ(f.s.window('B'), 2);
}

TEST(ChunkSchedulerTest, VanishedSourceGivesItsChunksBack) {
  Scenario f(6, Scenario::Window(2));
  f.Source('A');
  f.Source('B');
  EXPECT_EQ(f.Ask('A'), "0 1");
  EXPECT_EQ(f.Ask('B'), "2 3");
  EXPECT_TRUE(f.Done('A', 0));
  EXPECT_EQ(f.s.RemoveSource('A'), std::vector<uint32_t>{1});
  EXPECT_EQ(f.Picture(), "d.BB..");
  EXPECT_FALSE(f.Done('A', 1));  // A is gone: its late chunk is not taken.
  EXPECT_TRUE(f.Done('B', 2));
  EXPECT_EQ(f.Ask('B'), "1");  // The returned chunk first.
  EXPECT_EQ(f.s.source_count(), 1);
}

TEST(ChunkSchedulerTest, FailedChunkIsWantedAgainFirst) {
  Scenario f(4, Scenario::Window(8));
  f.Source('A');
  EXPECT_EQ(f.Ask('A', 2), "0 1");
  EXPECT_TRUE(f.Done('A', 0));
  EXPECT_TRUE(f.s.MarkFailed('A', 1));
  EXPECT_FALSE(f.s.MarkFailed('A', 1));
  EXPECT_EQ(f.Picture(), "d...");
  EXPECT_EQ(f.Ask('A', 1), "1");
}

TEST(ChunkSchedulerTest, EndgameAsksTheLastChunksOfASecondSource) {
  Scenario f(6, Scenario::Window(3));
  f.Source('A');
  f.Source('B');
  EXPECT_EQ(f.Ask('A'), "0 1 2");
  EXPECT_EQ(f.Ask('B'), "3 4 5");
  EXPECT_FALSE(f.s.InEndgame() && f.s.wanted_count() > 0);
  for (uint32_t i : {0, 1, 2}) EXPECT_TRUE(f.Done('A', i));
  // Everything left is in flight at B: A is given B's chunks, last first.
  EXPECT_TRUE(f.s.InEndgame());
  EXPECT_EQ(f.Ask('A'), "5 4 3");
  EXPECT_EQ(f.Picture(), "ddd222");
  // A's copy of 5 arrives first: B's request for it is cancelled.
  EXPECT_EQ(f.DoneCancelling('A', 5), "B");
  EXPECT_EQ(f.Picture(), "ddd22d");
  EXPECT_EQ(f.s.in_flight('B'), 2);
  EXPECT_FALSE(f.Done('B', 5));  // B's late copy is not needed.
  EXPECT_EQ(f.DoneCancelling('B', 3), "A");
  EXPECT_EQ(f.DoneCancelling('B', 4), "A");
  EXPECT_TRUE(f.s.complete());
  EXPECT_EQ(f.s.in_flight('A'), 0);
  EXPECT_EQ(f.s.in_flight('B'), 0);
}

TEST(ChunkSchedulerTest, NoEndgameWhileAnyWantedChunkCanBeAsked) {
  Scenario f(6, Scenario::Window(2));
  f.Source('A');
  f.Source('B');
  EXPECT_EQ(f.Ask('A'), "0 1");
  EXPECT_EQ(f.Ask('B'), "2 3");
  EXPECT_TRUE(f.Done('A', 0));
  EXPECT_TRUE(f.Done('A', 1));
  EXPECT_EQ(f.Ask('A'), "4 5");  // Plain chunks, no duplicates.
  EXPECT_TRUE(f.Done('A', 4));
  EXPECT_EQ(f.Ask('A'), "3");    // Endgame: B's last chunk.
  EXPECT_EQ(f.Picture(), "ddB2dA");
}

TEST(ChunkSchedulerTest, EndgameAsksAtMostTwoSourcesPerChunk) {
  Scenario f(2, Scenario::Window(4));
  f.Source('A');
  f.Source('B');
  f.Source('C');
  EXPECT_EQ(f.Ask('A'), "0 1");
  EXPECT_EQ(f.Ask('B'), "1 0");
  EXPECT_EQ(f.Ask('C'), "");  // Both chunks are asked of two sources.
  EXPECT_EQ(f.Picture(), "22");
}

TEST(ChunkSchedulerTest, EndgameDuplicateOnlyFromASourceHoldingTheChunk) {
  Scenario f(4, Scenario::Window(4));
  f.Source('A');
  f.Source('B', "xx..");
  EXPECT_EQ(f.Ask('A'), "2 3 0 1");
  EXPECT_EQ(f.Ask('B'), "1 0");
  EXPECT_EQ(f.Picture(), "22AA");
}

TEST(ChunkSchedulerTest, LosingOneOfTwoRequestersKeepsTheChunkInFlight) {
  Scenario f(1, Scenario::Window(4));
  f.Source('A');
  f.Source('B');
  EXPECT_EQ(f.Ask('A'), "0");
  EXPECT_EQ(f.Ask('B'), "0");
  EXPECT_EQ(f.s.RemoveSource('B'), std::vector<uint32_t>{});  // A has it.
  EXPECT_EQ(f.Picture(), "A");
  EXPECT_TRUE(f.s.MarkFailed('A', 0));
  EXPECT_EQ(f.Picture(), ".");
}

TEST(ChunkSchedulerTest, ResumedChunksAreNeverAsked) {
  Scenario f(5, Scenario::Window(8));
  f.s.SetDone(0);
  f.s.SetDone(2);
  f.s.SetDone(2);   // Twice counts once.
  f.s.SetDone(99);  // Past the end: ignored.
  EXPECT_EQ(f.s.done_count(), 2);
  f.Source('A');
  EXPECT_EQ(f.Ask('A'), "1 3 4");
  EXPECT_EQ(f.Picture(), "dAdAA");
}

TEST(ChunkSchedulerTest, SourceArrivingLateMakesTheRestAvailable) {
  Scenario f(4, Scenario::Window(8));
  f.Source('A', "xx..");
  EXPECT_EQ(f.Ask('A'), "0 1");
  EXPECT_TRUE(f.Done('A', 0));
  EXPECT_TRUE(f.Done('A', 1));
  EXPECT_EQ(f.s.UnavailableCount(), 2);  // Stuck until someone has 2 and 3.
  EXPECT_EQ(f.Ask('A'), "");
  f.Source('C');
  EXPECT_EQ(f.Ask('C'), "2 3");
}

TEST(ChunkSchedulerTest, EmptyFileHasOneChunk) {
  ChunkScheduler s(0, ChunkScheduler::Options());
  EXPECT_EQ(s.chunk_count(), 1);
  s.AddSource(7);
  EXPECT_EQ(s.Assign(7, 8), std::vector<uint32_t>{0});
  EXPECT_TRUE(s.MarkDone(7, 0).accepted);
  EXPECT_TRUE(s.complete());
}

TEST(ChunkSchedulerTest, MarkDoneTwiceOrFromTheWrongSourceIsIgnored) {
  Scenario f(2, Scenario::Window(1));
  f.Source('A');
  f.Source('B');
  EXPECT_EQ(f.Ask('A'), "0");
  EXPECT_FALSE(f.Done('B', 0));
  EXPECT_TRUE(f.Done('A', 0));
  EXPECT_FALSE(f.Done('A', 0));
  EXPECT_FALSE(f.s.MarkFailed('A', 0));
  EXPECT_EQ(f.s.done_count(), 1);
}

TEST(ChunkSchedulerTest, UnknownSourceGetsNothing) {
  ChunkScheduler s(3, ChunkScheduler::Options());
  EXPECT_EQ(s.Assign(42, 8), std::vector<uint32_t>{});
  EXPECT_EQ(s.RemoveSource(42), std::vector<uint32_t>{});
  EXPECT_EQ(s.in_flight(42), 0);
  EXPECT_EQ(s.window(42), 0);
  EXPECT_FALSE(s.MarkDone(42, 0).accepted);
}


// ---- Extents: random order among equally rare chunks, in order within.

// The extents (index / extent) in the order `chunks` visits them, each once.
std::vector<uint32_t> ExtentOrder(const std::vector<uint32_t>& chunks,
                                  uint32_t extent) {
  std::vector<uint32_t> out;
  for (uint32_t c : chunks) {
    if (out.empty() || out.back() != c / extent) out.push_back(c / extent);
  }
  return out;
}

TEST(ChunkSchedulerExtentTest, ExtentsInRandomOrderChunksInOrderWithin) {
  ChunkScheduler s(18, Scenario::Window(18, 4, 7));  // Extents 4,4,4,4,2.
  s.AddSource('A');
  std::vector<uint32_t> got = s.Assign('A', 100);
  ASSERT_EQ(got.size(), 18u);
  // Each extent is taken whole, its chunks ascending, before the next one.
  std::vector<uint32_t> extents = ExtentOrder(got, 4);
  ASSERT_EQ(extents.size(), 5u) << absl::StrJoin(got, " ");
  std::vector<uint32_t> sorted = extents;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<uint32_t>{0, 1, 2, 3, 4}));
  for (size_t i = 1; i < got.size(); ++i) {
    if (got[i] / 4 == got[i - 1] / 4) {
      EXPECT_EQ(got[i], got[i - 1] + 1);
    }
  }
  // The order is the extents' ranks.
  for (size_t i = 0; i < extents.size(); ++i) {
    EXPECT_EQ(s.extent_rank(extents[i] * 4), i);
  }
}

TEST(ChunkSchedulerExtentTest, TheSeedFixesTheOrder) {
  auto order = [](uint64_t seed) {
    ChunkScheduler s(64, Scenario::Window(64, 4, seed));
    s.AddSource('A');
    return ExtentOrder(s.Assign('A', 100), 4);
  };
  EXPECT_EQ(order(42), order(42));
  EXPECT_NE(order(42), order(43));
}

TEST(ChunkSchedulerExtentTest, TwoDownloadersOfOneSeedStartOnDifferentExtents) {
  // Two downloaders, each with its own scheduler (and seed), one seed
  // holding the whole file: their first requests are for different
  // extents, so they soon hold different chunks to trade.
  Scenario d1(64, Scenario::Window(4, 4, 1001));
  Scenario d2(64, Scenario::Window(4, 4, 2002));
  d1.Source('S');
  d2.Source('S');
  std::vector<uint32_t> a = d1.s.Assign('S', 4);
  std::vector<uint32_t> b = d2.s.Assign('S', 4);
  ASSERT_EQ(a.size(), 4u);
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(ExtentOrder(a, 4).size(), 1u);  // One whole extent each...
  EXPECT_EQ(a[3], a[0] + 3);
  EXPECT_NE(a[0] / 4, b[0] / 4);            // ...not the same one.

  // Over many pairs of downloaders, the first extents rarely coincide (1 in
  // 16 by chance; in-order picking would make every pair coincide).
  int same = 0;
  for (uint64_t seed = 0; seed < 200; seed += 2) {
    ChunkScheduler x(64, Scenario::Window(4, 4, seed));
    ChunkScheduler y(64, Scenario::Window(4, 4, seed + 1));
    x.AddSource('S');
    y.AddSource('S');
    if (x.Assign('S', 1)[0] / 4 == y.Assign('S', 1)[0] / 4) ++same;
  }
  EXPECT_LE(same, 20);
}

TEST(ChunkSchedulerExtentTest, PartialSourcesNewChunksRaiseTheirAvailability) {
  Scenario f(8, Scenario::Window(3));
  f.Source('S');               // The seed: everything.
  f.Source('P', "........");   // A downloader: nothing yet.
  EXPECT_EQ(f.s.availability(0), 1);
  f.s.AddHave('P', 0);
  f.s.AddHave('P', 1);
  f.s.AddHave('P', 1);         // Twice: counted once.
  EXPECT_EQ(f.s.availability(0), 2);
  EXPECT_EQ(f.s.availability(1), 2);
  EXPECT_EQ(f.s.availability(2), 1);
  // The seed is asked for what only it holds; the partial source for what
  // it has verified since.
  EXPECT_EQ(f.Ask('S'), "2 3 4");
  EXPECT_EQ(f.Ask('P'), "0 1");
  EXPECT_EQ(f.Picture(), "PPSSS...");
  // A source that completes holds everything.
  f.s.AddSource('P');
  EXPECT_EQ(f.s.availability(7), 2);
}

TEST(ChunkSchedulerExtentTest, TwoDownloadersTradeWhatTheSeedGaveEach) {
  // Downloaders X and Y of one seed S; each also sees the other as a
  // partial source as soon as it holds something.
  Scenario x(16, Scenario::Window(4, 4, 11));
  Scenario y(16, Scenario::Window(4, 4, 12));
  x.Source('S');
  y.Source('S');
  x.Source('Y', std::string(16, '.'));
  y.Source('X', std::string(16, '.'));
  std::vector<uint32_t> from_seed_x = x.s.Assign('S', 4);
  std::vector<uint32_t> from_seed_y = y.s.Assign('S', 4);
  ASSERT_NE(from_seed_x[0] / 4, from_seed_y[0] / 4);
  for (uint32_t c : from_seed_x) {
    ASSERT_TRUE(x.Done('S', c));
    y.s.AddHave('X', c);  // X tells Y.
  }
  // Y asks X for exactly what X got, and the seed for none of it.
  std::vector<uint32_t> from_x = y.s.Assign('X', 4);
  std::sort(from_x.begin(), from_x.end());
  EXPECT_EQ(from_x, from_seed_x);
  for (uint32_t c : y.s.Assign('S', 100)) {
    EXPECT_EQ(std::count(from_seed_x.begin(), from_seed_x.end(), c), 0) << c;
  }
}

TEST(ChunkSchedulerExtentTest, InitialSeedingAsksOnlyUnsentChunks) {
  ChunkScheduler::Options o = Scenario::Window(8);
  o.seeding_window = 8;
  Scenario f(8, o);
  f.Source('S');
  f.s.SetUnsent('S', Scenario::Bits("..xx.x.."));
  EXPECT_EQ(f.Ask('S'), "2 3 5");
  f.s.DropUnsent('S', 6);  // Not in the set: nothing changes.
  EXPECT_EQ(f.Ask('S'), "");
  f.s.ClearUnsent('S');    // Initial seeding over: the rest.
  EXPECT_EQ(f.Ask('S'), "0 1 4 6 7");
}

TEST(ChunkSchedulerExtentTest, AnInitialSeedIsAskedForAFewChunksAtATime) {
  ChunkScheduler::Options o = Scenario::Window(8);
  o.seeding_window = 2;
  Scenario f(8, o);
  f.Source('S');
  EXPECT_FALSE(f.s.restricted('S'));
  f.s.SetUnsent('S', Scenario::Bits("xxxxxxxx"));
  EXPECT_TRUE(f.s.restricted('S'));
  EXPECT_EQ(f.Ask('S'), "0 1");  // Not 8: the others get some too.
  EXPECT_EQ(f.Ask('S'), "");
  EXPECT_TRUE(f.Done('S', 0));
  EXPECT_EQ(f.Ask('S'), "2");
  f.s.ClearUnsent('S');
  EXPECT_FALSE(f.s.restricted('S'));
  EXPECT_EQ(f.Ask('S'), "3 4 5 6 7");  // Its whole window again.
}

TEST(ChunkSchedulerExtentTest, RefusedChunkIsNotAskedAgainOfThatSource) {
  ChunkScheduler::Options o = Scenario::Window(4);
  o.seeding_window = 4;
  Scenario f(4, o);
  f.Source('S');
  f.Source('T');
  EXPECT_EQ(f.Ask('S', 2), "0 1");
  // S refused chunk 1 (another downloader has it): asked elsewhere.
  EXPECT_TRUE(f.s.MarkFailed('S', 1));
  f.s.MarkFailed('S', 0);
  f.s.DropUnsent('S', 1);
  EXPECT_EQ(f.Ask('S'), "0 2 3");
  EXPECT_EQ(f.Ask('T', 1), "1");
}

TEST(ChunkSchedulerExtentTest, EndgameDuplicatesTheChunksGivenOutLast) {
  Scenario f(8, Scenario::Window(8, 2, 5));
  f.Source('A');
  f.Source('B');
  std::vector<uint32_t> a = f.s.Assign('A', 8);
  ASSERT_EQ(a.size(), 8u);
  EXPECT_TRUE(f.s.InEndgame());
  // B duplicates the last two A was given (A sends them last).
  std::vector<uint32_t> b = f.s.Assign('B', 2);
  EXPECT_EQ(b, (std::vector<uint32_t>{a[7], a[6]}));
  EXPECT_EQ(f.DoneCancelling('B', a[7]), "A");
  EXPECT_FALSE(f.Done('A', a[7]));  // Already arrived from B.
  for (int i = 0; i < 7; ++i) f.Done('A', a[i]);
  EXPECT_TRUE(f.s.complete());
}

}  // namespace
}  // namespace trove
