#include "peer_client/transfer/downloader.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "gtest/gtest.h"
#include "peer_client/peer_service.h"
#include "peer_client/share_scanner.h"
#include "peer_client/test_util.h"
#include "peer_client/transfer/downloader_testing.h"
#include "peer_client/transfer/rate_limiter.h"

namespace trove {
namespace {

using testing::DownloaderTest;
using testing::FakePeer;
using testing::Key;
using testing::PeerId;
using testing::PathExists;
using testing::ReadTestFile;
using testing::WriteTestFile;

TEST_F(DownloaderTest, DownloadsFromARealPeer) {
  std::string share = dir_.Sub("share");
  WriteTestFile(share + "/song.mp3", data_);
  ShareScanner::Options so;
  so.roots = {share};
  ShareScanner scanner(so, nullptr);
  scanner.Scan();
  PeerServiceImpl service(&scanner, &Key('a'), PeerServiceImpl::Options());
  Serve(&service, PeerId('a'));

  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/song.mp3");
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(OutFiles(), std::vector<std::string>{"song.mp3"});  // No part file.
  ASSERT_FALSE(progress_.empty());
  const DownloadProgress& last = progress_.back();
  EXPECT_TRUE(last.done);
  EXPECT_EQ(last.path, *path);
  EXPECT_EQ(last.done_bytes, static_cast<int64_t>(data_.size()));
  EXPECT_EQ(last.size, static_cast<int64_t>(data_.size()));
  EXPECT_EQ(last.name, "song.mp3");
  EXPECT_TRUE(directory_.Reported().empty());
}

TEST_F(DownloaderTest, EmptyFile) {
  data_ = "";
  cid_ = HashBuffer("").cid;
  AddFake(PeerId('a'))->name = "empty.txt";
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/empty.txt");
  EXPECT_TRUE(PathExists(*path));
  EXPECT_EQ(ReadTestFile(*path), "");
}

TEST_F(DownloaderTest, TakenNameGetsANumberAndNothingIsOverwritten) {
  AddFake(PeerId('a'));
  WriteTestFile(out_ + "/file.bin", "mine");
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin (1)");
  EXPECT_EQ(ReadTestFile(out_ + "/file.bin"), "mine");
  EXPECT_EQ(ReadTestFile(*path), data_);
  path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin (2)");
}

TEST_F(DownloaderTest, RequestedNameWins) {
  AddFake(PeerId('a'));
  absl::StatusOr<std::string> path = Fetch("renamed.dat");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/renamed.dat");
}

TEST_F(DownloaderTest, FlippedByteIsDetectedReportedAndNothingIsLeft) {
  FakePeer* bad = AddFake(PeerId('b'));
  bad->flip_chunk = 1;
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss)
      << path.status();
  EXPECT_NE(path.status().message().find("failed verification"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, BadChunkIsNeverWritten) {
  FakePeer* bad = AddFake(PeerId('b'));
  bad->flip_chunk = 1;
  Downloader::Options o = DefaultOptions();
  o.streams_per_source = 1;
  o.keep_partial_on_failure = true;
  absl::StatusOr<std::string> path = FetchWith(o);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(OutFiles(), std::vector<std::string>{".file.bin.trove-part"});
  std::string part = ReadTestFile(out_ + "/.file.bin.trove-part");
  ASSERT_EQ(part.size(), data_.size());
  EXPECT_EQ(part.substr(0, kChunkSize), data_.substr(0, kChunkSize));
  EXPECT_EQ(part.substr(kChunkSize, kChunkSize),
            std::string(kChunkSize, '\0'));  // The bad chunk was not written.
}

TEST_F(DownloaderTest, BadSourceIsDroppedAndTheOtherOneFinishes) {
  AddFake(PeerId('b'))->flip_all = true;
  FakePeer* good = AddFake(PeerId('c'));
  good->HoldAfter(0);  // Until the liar was caught.
  std::thread release([&] {
    directory_.reported_once.WaitForNotification();
    good->Release();
  });
  absl::StatusOr<std::string> path = Fetch();
  release.join();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_GT(good->served(), 0);
}

TEST_F(DownloaderTest, ShortChunkIsBadData) {
  AddFake(PeerId('b'))->short_chunk = 0;
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, ManifestWithAPathForANameIsRejected) {
  AddFake(PeerId('b'))->name = "../../x";
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss)
      << path.status();
  EXPECT_NE(path.status().message().find("unsafe file name"),
            std::string::npos);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_FALSE(PathExists(dir_.Sub("x")));
  EXPECT_FALSE(PathExists(dir_.Sub(".x.trove-part")));
  EXPECT_TRUE(OutFiles().empty());

  // A good source after the hostile one still gets the file.
  AddFake(PeerId('c'));
  path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin");
}

TEST_F(DownloaderTest, ManifestNotMatchingTheCidIsRejected) {
  AddFake(PeerId('b'))->corrupt_manifest = true;
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("does not match cid"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, ManifestFromTheWrongPeerIsRejected) {
  AddFake(PeerId('b'))->manifest_peer_id = PeerId('e');
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("answered as peer"),
            std::string::npos);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, ProofSignedByAnotherKeyIsRejected) {
  AddFake(PeerId('b'))->signer = &Key('e');
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("proof does not verify"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, SourceClaimingAnotherPeersIdWithItsOwnKeyIsRejected) {
  // Listed as 'b' and answering as 'b', but holding (and signing with) the
  // key of 'e'.
  FakePeer* impostor = AddFakeWith(&Key('e'), PeerId('b'));
  impostor->manifest_peer_id = PeerId('b');
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("public key is not that of peer"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_EQ(impostor->served(), 0);
}

TEST_F(DownloaderTest, ImpostorIsDroppedAndTheRealPeerFinishes) {
  FakePeer* impostor = AddFakeWith(&Key('e'), PeerId('b'));
  impostor->manifest_peer_id = PeerId('b');
  FakePeer* real = AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(impostor->served(), 0);
  EXPECT_GT(real->served(), 0);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, SourceWithoutAProofIsRejected) {
  FakePeer* old = AddFake(PeerId('b'));
  old->key = nullptr;  // Answers like a peer that predates the proof.
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("no proof"), std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, FailingSourceHandsOverToTheNext) {
  FakePeer* flaky = AddFake(PeerId('b'));
  flaky->fail_after_chunks = 1;
  AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_TRUE(directory_.Reported().empty());  // Failing is not lying.
}

TEST_F(DownloaderTest, StalledSourceIsDropped) {
  AddFake(PeerId('b'))->stall = true;
  AddFake(PeerId('c'));
  Downloader::Options o = DefaultOptions();
  o.stall_timeout = absl::Milliseconds(100);
  absl::StatusOr<std::string> path = FetchWith(o);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
}

TEST_F(DownloaderTest, OnlyFailingSourcesIsUnavailable) {
  AddFake(PeerId('b'))->fail_after_chunks = 0;
  directory_.AddSource(PeerId('c'), "127.0.0.1:1");  // Nobody listens there.
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kUnavailable)
      << path.status();
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, NoSourcesIsNotFound) {
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kNotFound);
  directory_.locate_status = absl::NotFoundError("unknown cid");
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DownloaderTest, OwnPeerIsSkipped) {
  AddFake(PeerId('0'));  // This peer itself.
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(path.status().message().find("no other peer"), std::string::npos);
}

TEST_F(DownloaderTest, LocateFailureIsPassedOn) {
  directory_.locate_status = absl::UnavailableError("no supernode");
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(DownloaderTest, BadRequestsAreInvalidArgument) {
  Downloader downloader(&directory_, DefaultOptions());
  DownloadRequest req;
  req.cid = "xyz";
  req.out_dir = out_;
  EXPECT_EQ(downloader.Fetch(req, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  req.cid = cid_;
  req.out_dir = "relative/dir";
  EXPECT_EQ(downloader.Fetch(req, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  req.out_dir = out_;
  req.name = "../escape";
  EXPECT_EQ(downloader.Fetch(req, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DownloaderTest, CancelledDownloadStops) {
  AddFake(PeerId('a'));
  Downloader downloader(&directory_, DefaultOptions());
  DownloadRequest req;
  req.cid = cid_;
  req.out_dir = out_;
  absl::StatusOr<std::string> path =
      downloader.Fetch(req, nullptr, [] { return true; });
  EXPECT_EQ(path.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(OutFiles().empty());
}


// ---- Swarming

TEST_F(DownloaderTest, ManySourcesAtOnceTheLiarIsDroppedAndReported) {
  UseChunks(12);
  FakePeer* a = AddFake(PeerId('a'));
  FakePeer* liar = AddFake(PeerId('b'));
  liar->flip_all = true;
  FakePeer* c = AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  ASSERT_FALSE(progress_.empty());
  EXPECT_EQ(progress_.back().bad_sources, 1);
  EXPECT_GE(a->served() + c->served(), ChunkTotal());
  EXPECT_EQ(progress_.back().chunks_resumed, 0);
  EXPECT_GE(progress_.back().chunks_fetched, ChunkTotal());
}

TEST_F(DownloaderTest, SourceDyingMidTransferLeavesItsChunksToTheOthers) {
  UseChunks(10);
  FakePeer* dying = AddFake(PeerId('a'));
  dying->fail_after_chunks = 2;
  AddFake(PeerId('b'));
  AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_TRUE(directory_.Reported().empty());  // Dying is not lying.
  EXPECT_EQ(progress_.back().bad_sources, 0);
}

TEST_F(DownloaderTest, SourcesListedLaterJoinTheRunningDownload) {
  UseChunks(6);
  FakePeer* stuck = AddFake(PeerId('a'));
  stuck->HoldAfter(0);  // Sends nothing: only a newcomer can finish.
  fakes_.push_back(std::make_unique<FakePeer>(data_, &Key('b')));
  FakePeer* late = fakes_.back().get();
  Downloader::Options o = DefaultOptions();
  o.relocate_interval = absl::Milliseconds(20);
  Downloader downloader(&directory_, o);
  bool listed = false;
  absl::StatusOr<std::string> path = downloader.Fetch(
      Request(),
      [&](const DownloadProgress& p) {
        if (!listed && p.size > 0) {
          listed = true;
          Serve(late, PeerId('b'));  // Located at the next look.
        }
      },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(late->served(), ChunkTotal());  // Including the endgame's.
  stuck->Release();
}

TEST_F(DownloaderTest, PartialSourcesAreAskedOnlyForWhatTheyHold) {
  UseChunks(9);  // 10 chunks.
  FakePeer* even = AddFake(PeerId('a'));
  even->have = "x.x.x.x.x.";
  FakePeer* odd = AddFake(PeerId('b'));
  odd->have = ".x.x.x.x.x";
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();  // A NOT_FOUND would drop one.
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(even->served(), 5);
  EXPECT_EQ(odd->served(), 5);
}

TEST_F(DownloaderTest, NoSourceHoldingTheRestFailsAfterTheStuckTimeout) {
  UseChunks(3);
  AddFake(PeerId('a'))->have = "xx..";
  Downloader::Options o = DefaultOptions();
  o.stuck_timeout = absl::Milliseconds(100);
  absl::StatusOr<std::string> path = FetchWith(o);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kUnavailable)
      << path.status();
  EXPECT_NE(path.status().message().find("no source holds the 2 chunks"),
            std::string::npos)
      << path.status();
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, QueuedSourceShowsItsPlaceThenServes) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->DenySlots(3);
  Downloader downloader(&directory_, DefaultOptions());
  int best_place = 0;
  absl::StatusOr<std::string> path = downloader.Fetch(
      Request(),
      [&](const DownloadProgress& p) {
        if (p.queue_position > 0) {
          best_place = p.queue_position;
          EXPECT_EQ(p.sources, 0);
          peer->DenySlots(0);  // Our turn.
        }
      },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(best_place, 3);
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  // Our own id goes with every slot and chunk request.
  for (const std::string& r : peer->Requesters()) {
    EXPECT_TRUE(r == "slot:" + PeerId('0') || r == "chunks:" + PeerId('0'))
        << r;
  }
}

TEST_F(DownloaderTest, LostSlotIsAskedForAgain) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->lose_slot_times = 3;
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_TRUE(directory_.Reported().empty());
}

TEST_F(DownloaderTest, DownloadLimitIsTakenForEveryChunk) {
  UseChunks(4);  // 4 MiB and a bit.
  AddFake(PeerId('a'));
  // Only the limiter's sleeps move it.
  const absl::Time start = absl::UnixEpoch();
  FakeClock fake(start);
  PeerRateLimiter::Options lo;
  lo.total_bytes_per_second = kChunkSize;  // 1 MiB/s, 1 MiB burst.
  PeerRateLimiter limiter(lo, &fake);
  Downloader::Options o = DefaultOptions();
  o.limiter = &limiter;
  absl::StatusOr<std::string> path = FetchWith(o);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  // Past the burst, every byte waited its turn: about 3 seconds.
  EXPECT_GE(fake.Now() - start, absl::Seconds(3));
}

// ---- Resume, attach, partial sharing

}  // namespace
}  // namespace trove
