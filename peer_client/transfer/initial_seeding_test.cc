#include "peer_client/transfer/initial_seeding.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

constexpr char kCid[] = "cid";
constexpr int64_t kChunks = 10;

// Chunks set in a have-map, as "0 3 4".
std::string Listed(const std::string& bits) {
  std::string out;
  for (uint32_t i = 0; i < bits.size() * 8; ++i) {
    if ((static_cast<uint8_t>(bits[i / 8]) >> (i % 8)) & 1) {
      out += (out.empty() ? "" : " ") + std::to_string(i);
    }
  }
  return out;
}

class InitialSeedingTest : public ::testing::Test {
 protected:
  absl::Status Reserve(const std::string& who, std::vector<uint32_t> idx) {
    return seeding_.Reserve(kCid, kChunks, who, idx);
  }
  // Reserves and sends `idx` to `who`.
  void Send(const std::string& who, std::vector<uint32_t> idx) {
    ASSERT_TRUE(Reserve(who, idx).ok());
    for (uint32_t i : idx) seeding_.Sent(kCid, who, i);
  }

  FakeClock clock_;
  InitialSeeding seeding_{InitialSeeding::Options(), &clock_};
};

TEST_F(InitialSeedingTest, ALoneDownloaderGetsAnythingAndNoHint) {
  Send("a", {0, 1, 2});
  Send("a", {0, 1, 2});  // Asked again: still fine.
  EXPECT_FALSE(seeding_.Current(kCid).active);
}

TEST_F(InitialSeedingTest, ACrowdGetsEachChunkOnceUntilAllWentOut) {
  seeding_.Seen(kCid, kChunks, "a");
  seeding_.Seen(kCid, kChunks, "b");
  InitialSeeding::Hint h = seeding_.Current(kCid);
  EXPECT_TRUE(h.active);
  EXPECT_EQ(Listed(h.unsent), "0 1 2 3 4 5 6 7 8 9");

  ASSERT_TRUE(Reserve("a", {0, 1}).ok());
  // Being sent to a: refused to b, and no longer listed as unsent.
  absl::Status st = Reserve("b", {1, 2});
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_NE(st.message().find("chunk 1"), std::string::npos) << st;
  EXPECT_EQ(Listed(seeding_.Current(kCid).unsent), "2 3 4 5 6 7 8 9");
  seeding_.Sent(kCid, "a", 0);
  seeding_.Sent(kCid, "a", 1);
  EXPECT_EQ(Reserve("b", {0}).code(), absl::StatusCode::kAborted);
  EXPECT_TRUE(Reserve("a", {0}).ok());  // Its own chunk again: fine.
  seeding_.Release(kCid, "a", {0});
  Send("b", {2, 3, 4, 5, 6, 7, 8});
  EXPECT_EQ(Listed(seeding_.Current(kCid).unsent), "9");
  Send("a", {9});
  // Every chunk went out once: anyone gets anything again.
  EXPECT_FALSE(seeding_.Current(kCid).active);
  EXPECT_TRUE(Reserve("b", {0, 9}).ok());
}

TEST_F(InitialSeedingTest, ACancelledSendIsUnsentAgain) {
  seeding_.Seen(kCid, kChunks, "a");
  ASSERT_TRUE(Reserve("b", {4, 5}).ok());
  seeding_.Sent(kCid, "b", 4);
  seeding_.Release(kCid, "b", {5});  // The stream ended before chunk 5.
  EXPECT_EQ(Listed(seeding_.Current(kCid).unsent), "0 1 2 3 5 6 7 8 9");
  EXPECT_TRUE(Reserve("a", {5}).ok());
  EXPECT_EQ(Reserve("a", {4}).code(), absl::StatusCode::kAborted);
}

TEST_F(InitialSeedingTest, ADownloaderHoldingManyYieldsToOneHoldingFew) {
  // a asked for 6 chunks while alone.
  ASSERT_TRUE(Reserve("a", {0, 1, 2, 3, 4, 5}).ok());
  EXPECT_FALSE(seeding_.ShouldYield(kCid, "a", 6));  // Alone: no.
  seeding_.Seen(kCid, kChunks, "b");
  EXPECT_TRUE(seeding_.ShouldYield(kCid, "a", 6));   // b holds none.
  EXPECT_FALSE(seeding_.ShouldYield(kCid, "a", 2));  // A fair share left.
  seeding_.Sent(kCid, "a", 0);
  seeding_.Release(kCid, "a", {1, 2, 3, 4, 5});      // It yielded.
  ASSERT_TRUE(Reserve("b", {3, 4}).ok());
  ASSERT_TRUE(Reserve("a", {1, 2}).ok());
  EXPECT_FALSE(seeding_.ShouldYield(kCid, "a", 2));
  EXPECT_FALSE(seeding_.ShouldYield(kCid, "b", 2));
}

TEST_F(InitialSeedingTest, AQuietDownloadersChunksAreUnsentAgain) {
  seeding_.Seen(kCid, kChunks, "c");
  Send("a", {0, 1});
  clock_.Advance(absl::Seconds(10));
  seeding_.Seen(kCid, kChunks, "b");
  seeding_.Seen(kCid, kChunks, "c");
  EXPECT_EQ(Reserve("b", {0}).code(), absl::StatusCode::kAborted);
  clock_.Advance(absl::Seconds(6));  // a silent for 16 s: gone.
  seeding_.Seen(kCid, kChunks, "c");
  EXPECT_TRUE(Reserve("b", {0}).ok());
  EXPECT_TRUE(seeding_.Current(kCid).active);  // b and c remain.
}

TEST_F(InitialSeedingTest, FilesNobodyAsksAboutAreForgotten) {
  seeding_.Seen(kCid, kChunks, "a");
  seeding_.Seen("other", 3, "a");
  EXPECT_EQ(seeding_.file_count(), 2);
  clock_.Advance(absl::Seconds(61));
  EXPECT_EQ(seeding_.file_count(), 0);
}

TEST_F(InitialSeedingTest, ReservingMoreFilesThanTrackedDropsTheOldest) {
  InitialSeeding::Options o;
  o.max_files = 2;
  InitialSeeding small(o, &clock_);
  small.Seen("x", 1, "a");
  clock_.Advance(absl::Seconds(1));
  small.Seen("y", 1, "a");
  clock_.Advance(absl::Seconds(1));
  small.Seen("z", 1, "a");
  EXPECT_EQ(small.file_count(), 2);
}

TEST_F(InitialSeedingTest, WaitersWakeOnAChange) {
  seeding_.Seen(kCid, kChunks, "a");
  seeding_.Seen(kCid, kChunks, "b");
  InitialSeeding::Hint before = seeding_.Current(kCid);
  InitialSeeding::Hint same =
      seeding_.WaitForChange(kCid, before.version, absl::Milliseconds(5));
  EXPECT_EQ(same.version, before.version);
  std::thread sender([this] {
    absl::SleepFor(absl::Milliseconds(20));
    Send("a", {3});
  });
  InitialSeeding::Hint after =
      seeding_.WaitForChange(kCid, before.version, absl::Seconds(30));
  sender.join();
  EXPECT_NE(after.version, before.version);
}

}  // namespace
}  // namespace trove
