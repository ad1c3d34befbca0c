#include "peer_client/transfer/downloader.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/clock.h"
#include "common/file_util.h"
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

TEST_F(DownloaderTest, StreamsOfOneSourceAreSpreadOverItsConnections) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(0);  // Every call waits, so each chunk gets its own stream.
  Downloader::Options o = DefaultOptions();
  o.streams_per_source = 4;
  o.max_requests = 4;
  o.min_window = 4;
  o.connections_per_source = 2;
  // Stream i uses connection i % 2: any three of the four streams (one per
  // chunk of the file) use both.
  std::thread release([peer] {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (peer->chunk_calls() < 3 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    peer->Release();
  });
  absl::StatusOr<std::string> path = FetchWith(o);
  release.join();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_GE(peer->chunk_calls(), 3);
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(peer->chunk_callers().size(), 2u);
}

TEST_F(DownloaderTest, OneConnectionPerSourceByDefault) {
  FakePeer* peer = AddFake(PeerId('a'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(peer->chunk_callers().size(), 1u);
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
}

TEST_F(DownloaderTest, SameFileInTheFolderIsNotFetchedAgain) {
  AddFake(PeerId('a'));
  WriteTestFile(out_ + "/file.bin", "mine");
  absl::StatusOr<std::string> first = Fetch();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, out_ + "/file.bin (1)");
  // Again, by a downloader that does not remember the first (a restart):
  // the copy at "file.bin (1)" is found and hashed, nothing is fetched, and
  // no "file.bin (2)" appears.
  absl::StatusOr<std::string> again = Fetch();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, out_ + "/file.bin (1)");
  ASSERT_FALSE(progress_.empty());
  EXPECT_TRUE(progress_.back().done);
  EXPECT_TRUE(progress_.back().already_there);
  EXPECT_EQ(progress_.back().chunks_fetched, 0);
  EXPECT_EQ(OutFiles(), (std::vector<std::string>{"file.bin", "file.bin (1)"}));

  // And by the same downloader, which remembers it.
  Downloader downloader(&directory_, DefaultOptions());
  ASSERT_TRUE(downloader.Fetch(Request(), nullptr, nullptr).ok());
  absl::StatusOr<Downloader::AddResult> added = downloader.Add(Request());
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_TRUE(added->existing);
  EXPECT_TRUE(added->progress.already_there);
  EXPECT_EQ(added->progress.path, out_ + "/file.bin (1)");
}

TEST_F(DownloaderTest, RequestedNameWins) {
  AddFake(PeerId('a'));
  absl::StatusOr<std::string> path = Fetch("renamed.dat");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/renamed.dat");
}

TEST_F(DownloaderTest, FlippedByteIsDetectedReportedAndTheDownloadWaits) {
  FakePeer* bad = AddFake(PeerId('b'));
  bad->flip_chunk = 1;
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("failed verification"), std::string::npos)
      << p.detail;
  EXPECT_EQ(p.bad_sources, 1);
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
  EXPECT_FALSE(PathExists(out_ + "/file.bin"));
  // Only a cancel removes what it holds.
  ASSERT_TRUE(downloader.Cancel(cid_).ok());
  EXPECT_TRUE(OutFiles().empty());
  EXPECT_TRUE(downloader.List().empty());
}

TEST_F(DownloaderTest, BadChunkIsNeverWritten) {
  FakePeer* bad = AddFake(PeerId('b'));
  bad->flip_chunk = 1;
  Downloader::Options o = DefaultOptions();
  o.streams_per_source = 1;
  Downloader downloader(&directory_, o);
  AwaitState(&downloader, DownloadState::kWaitingForSources);
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
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
  EXPECT_GT(good->served(), 0);
}

TEST_F(DownloaderTest, ShortChunkIsBadData) {
  AddFake(PeerId('b'))->short_chunk = 0;
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("expected"), std::string::npos) << p.detail;
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, ManifestWithAPathForANameIsRejected) {
  AddFake(PeerId('b'))->name = "../../x";
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("unsafe file name"), std::string::npos) << p.detail;
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
  EXPECT_FALSE(PathExists(dir_.Sub("x")));
  EXPECT_FALSE(PathExists(dir_.Sub(".x.trove-part")));
  EXPECT_TRUE(OutFiles().empty());

  // A good source that turns up later is found and gets the file.
  AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = downloader.Watch(cid_, nullptr, nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin");
  EXPECT_EQ(ReadTestFile(*path), data_);
}

TEST_F(DownloaderTest, ManifestNotMatchingTheCidIsRejected) {
  AddFake(PeerId('b'))->corrupt_manifest = true;
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("does not match cid"), std::string::npos)
      << p.detail;
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, ManifestFromTheWrongPeerIsRejected) {
  AddFake(PeerId('b'))->manifest_peer_id = PeerId('e');
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("answered as peer"), std::string::npos) << p.detail;
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, ProofSignedByAnotherKeyIsRejected) {
  AddFake(PeerId('b'))->signer = &Key('e');
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("proof does not verify"), std::string::npos)
      << p.detail;
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, SourceClaimingAnotherPeersIdWithItsOwnKeyIsRejected) {
  // Listed as 'b' and answering as 'b', but holding (and signing with) the
  // key of 'e'.
  FakePeer* impostor = AddFakeWith(&Key('e'), PeerId('b'));
  impostor->manifest_peer_id = PeerId('b');
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("public key is not that of peer"), std::string::npos)
      << p.detail;
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
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
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, SourceWithoutAProofIsRejected) {
  FakePeer* old = AddFake(PeerId('b'));
  old->key = nullptr;  // Answers like a peer that predates the proof.
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("no proof"), std::string::npos) << p.detail;
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
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

TEST_F(DownloaderTest, OnlyFailingSourcesWaitForSourcesWithBackoff) {
  AddFake(PeerId('b'))->fail_after_chunks = 0;
  directory_.AddSource(PeerId('c'), "127.0.0.1:1");  // Nobody listens there.
  Downloader::Options o = DefaultOptions();
  o.fast_relocate_interval = absl::Milliseconds(50);
  o.max_relocate_backoff = absl::Seconds(30);
  Downloader downloader(&directory_, o);
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("tried 2 sources"), std::string::npos) << p.detail;
  EXPECT_NE(p.detail.find("looking again in"), std::string::npos) << p.detail;
  EXPECT_FALSE(PathExists(out_ + "/file.bin"));
  // Looked up again, less and less often: 50 ms, 100, 200, 400, 800...
  // at most about 6 times in 2 s (every 50 ms would be 40).
  absl::SleepFor(absl::Milliseconds(100));
  int before;
  {
    absl::MutexLock lock(&directory_.mu_);
    before = directory_.locate_calls;
  }
  absl::SleepFor(absl::Seconds(2));
  absl::MutexLock lock(&directory_.mu_);
  EXPECT_LE(directory_.locate_calls - before, 6);
  EXPECT_GE(directory_.locate_calls - before, 1);
}

TEST_F(DownloaderTest, NoSourcesIsNotFoundAndNothingIsAdded) {
  Downloader downloader(&directory_, DefaultOptions());
  EXPECT_EQ(downloader.Fetch(Request(), nullptr, nullptr).status().code(),
            absl::StatusCode::kNotFound);
  directory_.SetLocateStatus(absl::NotFoundError("unknown cid"));
  EXPECT_EQ(downloader.Fetch(Request(), nullptr, nullptr).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(downloader.List().empty());
}

TEST_F(DownloaderTest, OwnPeerIsSkipped) {
  AddFake(PeerId('0'));  // This peer itself.
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(path.status().message().find("no other peer"), std::string::npos);
}

TEST_F(DownloaderTest, DownloadAddedBeforeTheNetworkWaitsForIt) {
  directory_.SetLocateStatus(
      absl::UnavailableError("not joined to a supernode yet"));
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForNetwork);
  EXPECT_NE(p.detail.find("not joined"), std::string::npos) << p.detail;
  // Joined, and a source is there: it goes on by itself.
  AddFake(PeerId('a'));
  directory_.SetLocateStatus(absl::OkStatus());
  absl::StatusOr<std::string> path = downloader.Watch(cid_, nullptr, nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
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

TEST_F(DownloaderTest, WatcherGoingAwayLeavesTheDownloadRunning) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(1);
  Downloader downloader(&directory_, DefaultOptions());
  absl::StatusOr<std::string> path =
      downloader.Fetch(Request(), nullptr, [] { return true; });
  EXPECT_EQ(path.status().code(), absl::StatusCode::kCancelled);
  ASSERT_EQ(downloader.List().size(), 1u);
  EXPECT_FALSE(IsFinalState(downloader.List()[0].state));
  peer->Release();
  path = downloader.Watch(cid_, nullptr, nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  ASSERT_EQ(downloader.List().size(), 1u);
  EXPECT_EQ(downloader.List()[0].state, DownloadState::kDone);
  EXPECT_TRUE(downloader.Transfers().empty());
}

TEST_F(DownloaderTest, CancelStopsTheDownloadAndRemovesItsData) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(1);
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p = AwaitState(&downloader, DownloadState::kDownloading);
  ASSERT_TRUE(PathExists(out_ + "/.file.bin.trove-part"));
  absl::StatusOr<DownloadProgress> cancelled = downloader.Cancel(cid_);
  ASSERT_TRUE(cancelled.ok()) << cancelled.status();
  EXPECT_EQ(cancelled->state, DownloadState::kCancelled);
  EXPECT_TRUE(OutFiles().empty());
  EXPECT_TRUE(downloader.List().empty());
  EXPECT_EQ(downloader.Watch(cid_, nullptr, nullptr).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(downloader.Cancel(cid_).status().code(),
            absl::StatusCode::kNotFound);
  peer->Release();
}

TEST_F(DownloaderTest, PauseKeepsWhatItHasAndResumeFinishes) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(1);
  Downloader downloader(&directory_, DefaultOptions());
  AwaitState(&downloader, DownloadState::kDownloading);
  absl::StatusOr<DownloadProgress> paused = downloader.Pause(cid_);
  ASSERT_TRUE(paused.ok()) << paused.status();
  EXPECT_EQ(paused->state, DownloadState::kPaused);
  EXPECT_TRUE(PathExists(out_ + "/.file.bin.trove-part"));
  // Paused: the held call is cancelled, and once it has returned nothing
  // is asked of the source any more, even when it would answer.
  for (int i = 0; i < 1000 && peer->open_calls() > 0; ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(peer->open_calls(), 0) << "the held call was not cancelled";
  const int served = peer->served();
  const int calls = peer->chunk_calls();
  peer->Release();
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(peer->served(), served);
  EXPECT_EQ(peer->chunk_calls(), calls);
  ASSERT_EQ(downloader.List().size(), 1u);
  EXPECT_EQ(downloader.List()[0].state, DownloadState::kPaused);

  absl::StatusOr<DownloadProgress> resumed = downloader.Resume(cid_);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  absl::StatusOr<std::string> path = downloader.Watch(cid_, nullptr, nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(downloader.Pause(cid_).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(downloader.Resume(cid_).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(DownloaderTest, SecondRequestIntoAnotherFolderOrNameIsRefused) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(1);
  Downloader downloader(&directory_, DefaultOptions());
  AwaitState(&downloader, DownloadState::kDownloading);
  DownloadRequest elsewhere = Request();
  elsewhere.out_dir = dir_.Sub("elsewhere");
  absl::StatusOr<Downloader::AddResult> r = downloader.Add(elsewhere);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("already being downloaded into " + out_),
            std::string::npos)
      << r.status();
  DownloadRequest renamed = Request();
  renamed.name = "other.bin";
  r = downloader.Add(renamed);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("as file.bin"), std::string::npos)
      << r.status();
  // The same folder, or none, follows the running download.
  r = downloader.Add(Request());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->existing);
  DownloadRequest any;
  any.cid = cid_;
  r = downloader.Add(any);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->existing);
  peer->Release();
}

TEST_F(DownloaderTest, LinkDisagreeingWithTheNetworkIsRefused) {
  AddFake(PeerId('a'));
  directory_.size = static_cast<int64_t>(data_.size());
  directory_.name = "file.bin";
  Downloader downloader(&directory_, DefaultOptions());
  DownloadRequest req = Request();
  req.expected_size = 12345;
  absl::StatusOr<Downloader::AddResult> r = downloader.Add(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("the link says the file has 12345 bytes"),
            std::string::npos)
      << r.status();
  req = Request();
  req.expected_name = "holiday.jpg";
  r = downloader.Add(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("'holiday.jpg'"), std::string::npos)
      << r.status();
  EXPECT_TRUE(downloader.List().empty());
  // A link that agrees is fetched under its name.
  req = Request();
  req.expected_size = static_cast<int64_t>(data_.size());
  req.expected_name = "file.bin";
  absl::StatusOr<std::string> path = downloader.Fetch(req, nullptr, nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin");
}

TEST_F(DownloaderTest, LinkDisagreeingWithTheManifestFailsTheDownload) {
  // Added before the network could say anything: the first manifest is
  // checked against the link instead.
  directory_.SetLocateStatus(absl::UnavailableError("not joined yet"));
  Downloader downloader(&directory_, DefaultOptions());
  DownloadRequest req = Request();
  req.expected_size = 12345;
  ASSERT_TRUE(downloader.Add(req).ok());
  AddFake(PeerId('a'));
  directory_.SetLocateStatus(absl::OkStatus());
  absl::StatusOr<std::string> path = downloader.Watch(cid_, nullptr, nullptr);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(path.status().message().find("12345"), std::string::npos)
      << path.status();
  ASSERT_EQ(downloader.List().size(), 1u);
  EXPECT_EQ(downloader.List()[0].state, DownloadState::kFailed);
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, ErrorsNameTheFileNotThePartFile) {
  AddFake(PeerId('a'));
  // Where the part file would go, a folder: it cannot be written.
  ASSERT_TRUE(MakeDirs(out_ + "/.file.bin.trove-part").ok());
  Downloader downloader(&directory_, DefaultOptions());
  absl::StatusOr<std::string> path =
      downloader.Fetch(Request(), nullptr, nullptr);
  ASSERT_FALSE(path.ok());
  EXPECT_NE(path.status().message().find("file.bin in " + out_),
            std::string::npos)
      << path.status();
  EXPECT_EQ(path.status().message().find("trove-part"), std::string::npos)
      << path.status();
  ASSERT_EQ(downloader.List().size(), 1u);
  EXPECT_EQ(downloader.List()[0].state, DownloadState::kFailed);
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
  EXPECT_EQ(AwaitReported(), std::vector<std::string>{PeerId('b')});
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

TEST_F(DownloaderTest, NoSourceHoldingTheRestWaitsForOne) {
  UseChunks(3);
  AddFake(PeerId('a'))->have = "xx..";
  Downloader downloader(&directory_, DefaultOptions());
  DownloadProgress p =
      AwaitState(&downloader, DownloadState::kWaitingForSources);
  EXPECT_NE(p.detail.find("no source holds the 2 chunks still needed"),
            std::string::npos)
      << p.detail;
  // What it has stays: the first two chunks.
  EXPECT_EQ(p.done_bytes, 2 * kChunkSize);
  AddFake(PeerId('b'));
  absl::StatusOr<std::string> path = downloader.Watch(cid_, nullptr, nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
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
