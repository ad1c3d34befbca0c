#include "peer_client/transfer/upload_streams.h"

#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace {

class UploadStreamsTest : public ::testing::Test {
 protected:
  UploadStreamsTest() {
    UploadStreams::Options o;
    o.max_per_requester = 3;
    o.stall = absl::Seconds(10);
    streams_ = std::make_unique<UploadStreams>(o, &clock_);
  }

  // Begins a stream of `who` that counts its cancellations in `*cancels`.
  int64_t Open(const std::string& who, int* cancels) {
    absl::StatusOr<int64_t> id = streams_->Begin(who, [cancels] { ++*cancels; });
    EXPECT_TRUE(id.ok()) << id.status();
    return id.ok() ? *id : -1;
  }

  FakeClock clock_;
  std::unique_ptr<UploadStreams> streams_;
};

TEST_F(UploadStreamsTest, AtMostSomeStreamsPerRequester) {
  int cancels = 0;
  for (int i = 0; i < 3; ++i) Open("hog", &cancels);
  absl::StatusOr<int64_t> fourth = streams_->Begin("hog", [] {});
  EXPECT_EQ(fourth.status().code(), absl::StatusCode::kResourceExhausted);
  // Others are not affected.
  Open("real", &cancels);
  EXPECT_EQ(streams_->active("hog"), 3);
  EXPECT_EQ(streams_->active(), 4);
}

TEST_F(UploadStreamsTest, ARequesterTakingNothingIsCancelled) {
  int hog = 0, real = 0;
  int64_t h1 = Open("hog", &hog);
  int64_t h2 = Open("hog", &hog);
  int64_t r = Open("real", &real);
  streams_->WriteStarted(h1);  // Never completes: nobody reads.
  streams_->WriteStarted(r);
  clock_.Advance(absl::Seconds(6));
  streams_->WriteDone(r, true);  // A chunk went out.
  streams_->WriteStarted(r);
  EXPECT_EQ(streams_->Sweep(), 0);
  clock_.Advance(absl::Seconds(5));
  // hog: waiting 11 s with nothing taken, both its streams go; real:
  // waiting 5 s.
  EXPECT_EQ(streams_->Sweep(), 2);
  EXPECT_EQ(hog, 2);
  EXPECT_EQ(real, 0);
  // Cancelled once only.
  clock_.Advance(absl::Seconds(5));
  streams_->WriteDone(r, true);
  EXPECT_EQ(streams_->Sweep(), 0);
  EXPECT_EQ(hog, 2);
  EXPECT_EQ(streams_->cancelled(), 2);
  streams_->End(h1);
  streams_->End(h2);
  EXPECT_EQ(streams_->active("hog"), 0);
}

TEST_F(UploadStreamsTest, ASlowReaderKeepsItsStreams) {
  // Three streams of one requester, each Write taking 15 s (longer than
  // the stall time), but one completing every 5 s across them.
  int cancels = 0;
  int64_t s[3];
  for (int i = 0; i < 3; ++i) {
    s[i] = Open("slow", &cancels);
    streams_->WriteStarted(s[i]);
    clock_.Advance(absl::Seconds(5));
  }
  for (int round = 0; round < 6; ++round) {
    streams_->WriteDone(s[round % 3], true);
    streams_->WriteStarted(s[round % 3]);
    clock_.Advance(absl::Seconds(5));
    EXPECT_EQ(streams_->Sweep(), 0) << round;
  }
  EXPECT_EQ(cancels, 0);
}

TEST_F(UploadStreamsTest, OpeningNewStreamsDoesNotEndAStall) {
  // A hog that drops its streams every 4 s and opens new ones, never
  // reading: caught after 10 s all the same.
  int cancels = 0;
  int caught_at = -1;
  for (int round = 0; round < 5 && caught_at < 0; ++round) {
    int64_t a = Open("hog", &cancels);
    int64_t b = Open("hog", &cancels);
    streams_->WriteStarted(a);
    streams_->WriteStarted(b);
    for (int t = 0; t < 4 && caught_at < 0; ++t) {
      clock_.Advance(absl::Seconds(1));
      if (streams_->Sweep() > 0) caught_at = round * 4 + t + 1;
    }
    streams_->WriteDone(a, false);
    streams_->WriteDone(b, false);
    streams_->End(a);
    streams_->End(b);
  }
  EXPECT_EQ(caught_at, 10);
}

TEST_F(UploadStreamsTest, ARequesterThatLeftIsForgotten) {
  int cancels = 0;
  int64_t a = Open("peer", &cancels);
  streams_->WriteStarted(a);
  clock_.Advance(absl::Seconds(8));
  streams_->WriteDone(a, false);  // It cancelled.
  streams_->End(a);
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(streams_->Sweep(), 0);  // Forgotten now.
  int64_t b = Open("peer", &cancels);
  streams_->WriteStarted(b);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(streams_->Sweep(), 0);  // A fresh start, not 23 s of waiting.
  EXPECT_EQ(cancels, 0);
}

TEST_F(UploadStreamsTest, NoCancelAfterEnd) {
  int cancels = 0;
  int64_t h = Open("hog", &cancels);
  streams_->WriteStarted(h);
  streams_->End(h);
  clock_.Advance(absl::Seconds(30));
  EXPECT_EQ(streams_->Sweep(), 0);
  EXPECT_EQ(cancels, 0);
}

TEST_F(UploadStreamsTest, ZeroStallNeverCancels) {
  UploadStreams::Options o;
  o.stall = absl::ZeroDuration();
  UploadStreams streams(o, &clock_);
  int cancels = 0;
  absl::StatusOr<int64_t> id = streams.Begin("hog", [&] { ++cancels; });
  ASSERT_TRUE(id.ok());
  streams.WriteStarted(*id);
  clock_.Advance(absl::Hours(1));
  EXPECT_EQ(streams.Sweep(), 0);
  streams.Start();  // No thread.
  streams.Stop();
  EXPECT_EQ(cancels, 0);
}

}  // namespace
}  // namespace trove
