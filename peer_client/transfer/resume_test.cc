// Downloads saved for resuming: stopped and resumed, tampered with while
// stopped, a torn journal, attaching to a running download, cancelling.
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "peer_client/test_util.h"
#include "peer_client/transfer/downloader.h"
#include "peer_client/transfer/downloader_testing.h"
#include "peer_client/transfer/resume_journal.h"

namespace trove {
namespace {

using testing::DownloaderTest;
using testing::FakePeer;
using testing::Key;
using testing::PeerId;
using testing::PathExists;
using testing::ReadTestFile;
using testing::WriteTestFile;

class ResumeTest : public DownloaderTest {
 protected:
  void SetUp() override {
    DownloaderTest::SetUp();
    UseChunks(11);  // 12 chunks.
    state_ = dir_.Sub("state/transfers");
  }

  Downloader::Options Options() {
    Downloader::Options o = DefaultOptions();
    o.state_dir = state_;
    o.journal_batch_chunks = 2;
    // One extent: chunks in index order, so that a test knows which ones
    // are verified when it stops the download.
    o.extent_chunks = 1 << 20;
    return o;
  }

  // Starts fetching on another thread; `held` is notified once `chunks`
  // chunks are verified.
  void StartFetch(Downloader* d, int chunks) {
    fetch_thread_ = std::thread([this, d, chunks] {
      fetch_result_ = d->Fetch(
          Request(),
          [this, chunks](const DownloadProgress& p) {
            // More than chunks - 1 full chunks' worth: `chunks` chunks,
            // one of which may be the short last one.
            if (p.done_bytes > (chunks - 1) * kChunkSize &&
                !held_.HasBeenNotified()) {
              held_.Notify();
            }
          },
          nullptr);
    });
  }

  void JoinFetch() {
    if (fetch_thread_.joinable()) fetch_thread_.join();
  }

  void TearDown() override {
    JoinFetch();
    DownloaderTest::TearDown();
  }

  // Stops a download after `chunks` chunks by shutting its downloader down.
  void DownloadPartlyThenShutDown(FakePeer* peer, int chunks) {
    peer->HoldAfter(chunks);
    Downloader first(&directory_, Options());
    StartFetch(&first, chunks);
    held_.WaitForNotification();
    first.Shutdown();
    JoinFetch();
    EXPECT_EQ(fetch_result_.status().code(), absl::StatusCode::kUnavailable)
        << fetch_result_.status();
    peer->Release();
  }

  std::string part_path() const { return out_ + "/.file.bin.trove-part"; }

  // Polls `f` for up to 10 s.
  static bool WaitFor(const std::function<bool()>& f) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (f()) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return f();
  }

  std::string state_;
  std::thread fetch_thread_;
  absl::Notification held_;
  absl::StatusOr<std::string> fetch_result_;
};

TEST_F(ResumeTest, StoppedHalfWayResumesWithoutFetchingOrHashingAgain) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 5);
  EXPECT_TRUE(PathExists(part_path()));
  EXPECT_TRUE(PathExists(state_ + "/" + cid_ + "/journal"));

  Downloader second(&directory_, Options());
  progress_.clear();
  absl::StatusOr<std::string> path = second.Fetch(
      Request(), [this](const DownloadProgress& p) { progress_.push_back(p); },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  const DownloadProgress& done = progress_.back();
  EXPECT_EQ(done.chunks_resumed, 5);
  EXPECT_EQ(done.chunks_rehashed, 0);  // Unchanged part file: trusted.
  EXPECT_EQ(done.chunks_fetched, ChunkTotal() - 5);
  EXPECT_EQ(done.done_bytes, static_cast<int64_t>(data_.size()));
  // Done: nothing saved any more, no part file.
  EXPECT_FALSE(PathExists(state_ + "/" + cid_));
  EXPECT_EQ(OutFiles(), std::vector<std::string>{"file.bin"});
}

TEST_F(ResumeTest, PartFileTamperedWithWhileStoppedIsCaught) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 5);
  // Someone writes into chunk 1 while the download is stopped.
  {
    int fd = ::open(part_path().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "!", 1, kChunkSize + 10), 1);
    ::close(fd);
  }
  Downloader second(&directory_, Options());
  EXPECT_EQ(second.ResumeSaved(), 1);  // Goes on by itself...
  progress_.clear();
  absl::StatusOr<std::string> path = second.Fetch(  // ... and can be followed.
      Request(), [this](const DownloadProgress& p) { progress_.push_back(p); },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  const DownloadProgress& done = progress_.back();
  EXPECT_EQ(done.chunks_rehashed, 5);
  EXPECT_EQ(done.chunks_resumed, 4);  // Chunk 1 was dropped...
  EXPECT_EQ(done.chunks_fetched, ChunkTotal() - 4);  // ... and fetched again.
}

TEST_F(ResumeTest, TornJournalTailCostsOnlyItsChunks) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 6);
  // A crash tore the journal's last record.
  const std::string journal = state_ + "/" + cid_ + "/journal";
  std::string bytes = ReadTestFile(journal);
  size_t valid = 0;
  std::vector<JournalRecord> records = DecodeJournal(bytes, &valid);
  ASSERT_GE(records.size(), 2u);
  ASSERT_EQ(valid, bytes.size());
  const size_t last = EncodeJournalRecord(records.back()).size();
  WriteTestFile(journal, bytes.substr(0, bytes.size() - last / 2));
  int64_t kept = 0;
  for (size_t i = 0; i + 1 < records.size(); ++i) {
    kept += static_cast<int64_t>(records[i].chunks.size());
  }

  Downloader second(&directory_, Options());
  progress_.clear();
  absl::StatusOr<std::string> path = second.Fetch(
      Request(), [this](const DownloadProgress& p) { progress_.push_back(p); },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(progress_.back().chunks_resumed, kept);
  EXPECT_EQ(progress_.back().chunks_fetched, ChunkTotal() - kept);
}

TEST_F(ResumeTest, SecondFetchAttachesAndThePartialFileIsServed) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(3);
  Downloader downloader(&directory_, Options());
  std::atomic<int> announced{0};
  downloader.SetPartialFilesListener([&] { ++announced; });
  StartFetch(&downloader, 3);
  held_.WaitForNotification();

  // While it runs, the verified chunks are served and announced.
  std::shared_ptr<const SharedFile> partial = downloader.FindByCid(cid_);
  ASSERT_NE(partial, nullptr);
  EXPECT_EQ(partial->path, part_path());
  EXPECT_EQ(partial->size, static_cast<int64_t>(data_.size()));
  ASSERT_NE(partial->have, nullptr);
  EXPECT_EQ(partial->have->count(), 3);
  EXPECT_TRUE(partial->have->Has(0));
  std::vector<FileEntry> files = downloader.PartialFiles();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].cid(), cid_);
  EXPECT_EQ(files[0].name(), "file.bin");
  EXPECT_GE(announced.load(), 1);
  ASSERT_EQ(downloader.Transfers().size(), 1u);
  EXPECT_EQ(downloader.Transfers()[0].cid, cid_);

  // Into another folder: refused, it is being downloaded here.
  DownloadRequest elsewhere = Request();
  elsewhere.out_dir = dir_.Sub("elsewhere");
  EXPECT_EQ(downloader.Add(elsewhere).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Another Fetch of the same cid, into any folder, follows the download.
  DownloadRequest again;
  again.cid = cid_;
  std::vector<DownloadProgress> followed;
  absl::Notification attached;
  std::thread second([&] {
    absl::StatusOr<std::string> p = downloader.Fetch(
        again,
        [&](const DownloadProgress& p) {
          followed.push_back(p);
          if (!attached.HasBeenNotified()) attached.Notify();
        },
        nullptr);
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) EXPECT_EQ(*p, out_ + "/file.bin");
  });
  attached.WaitForNotification();
  peer->Release();
  second.join();
  JoinFetch();
  ASSERT_TRUE(fetch_result_.ok()) << fetch_result_.status();
  EXPECT_EQ(*fetch_result_, out_ + "/file.bin");
  EXPECT_TRUE(ReadTestFile(*fetch_result_) == data_);
  ASSERT_FALSE(followed.empty());
  EXPECT_TRUE(followed.back().done);
  EXPECT_FALSE(PathExists(dir_.Sub("elsewhere/file.bin")));
  // Done: no longer partial, no longer announced.
  EXPECT_EQ(downloader.FindByCid(cid_), nullptr);
  EXPECT_TRUE(downloader.PartialFiles().empty());
  EXPECT_TRUE(downloader.Transfers().empty());
}

TEST_F(ResumeTest, CancelledDownloadLeavesNoStateBehind) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(2);
  Downloader downloader(&directory_, Options());
  StartFetch(&downloader, 2);
  held_.WaitForNotification();
  ASSERT_TRUE(PathExists(state_ + "/" + cid_));
  ASSERT_TRUE(downloader.Cancel(cid_).ok());
  JoinFetch();
  EXPECT_EQ(fetch_result_.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(OutFiles().empty());
  EXPECT_FALSE(PathExists(state_ + "/" + cid_));
  peer->Release();
}

TEST_F(ResumeTest, PausedStaysPausedAcrossARestartAndResumesFromWhereItWas) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(4);
  {
    Downloader first(&directory_, Options());
    StartFetch(&first, 4);
    held_.WaitForNotification();
    absl::StatusOr<DownloadProgress> paused = first.Pause(cid_);
    ASSERT_TRUE(paused.ok()) << paused.status();
    EXPECT_EQ(paused->state, DownloadState::kPaused);
    first.Shutdown();
    JoinFetch();
  }
  peer->Release();
  const int served = peer->served();
  Downloader second(&directory_, Options());
  EXPECT_EQ(second.ResumeSaved(), 0);  // Nothing started...
  std::vector<DownloadProgress> list = second.List();
  ASSERT_EQ(list.size(), 1u);  // ... but it is there, paused,
  EXPECT_EQ(list[0].state, DownloadState::kPaused);
  EXPECT_EQ(list[0].name, "file.bin");
  EXPECT_EQ(list[0].size, static_cast<int64_t>(data_.size()));
  EXPECT_GE(list[0].done_bytes, 4 * kChunkSize);  // with what it had.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(peer->served(), served);
  ASSERT_TRUE(second.Resume(cid_).ok());
  progress_.clear();
  absl::StatusOr<std::string> path = second.Watch(
      cid_, [this](const DownloadProgress& p) { progress_.push_back(p); },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(progress_.back().chunks_resumed, 4);
}

TEST_F(ResumeTest, DownloadAddedWithoutAnySourceYetIsSavedAndComesBack) {
  directory_.SetLocateStatus(absl::UnavailableError("not joined yet"));
  DownloadRequest req = Request();
  req.name = "wanted.bin";
  {
    Downloader first(&directory_, Options());
    ASSERT_TRUE(first.Add(req).ok());
    first.Shutdown();
  }
  EXPECT_TRUE(PathExists(state_ + "/" + cid_ + "/meta"));
  AddFake(PeerId('a'));
  directory_.SetLocateStatus(absl::OkStatus());
  Downloader second(&directory_, Options());
  EXPECT_EQ(second.ResumeSaved(), 1);
  absl::StatusOr<std::string> path = second.Watch(cid_, nullptr, nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/wanted.bin");
  EXPECT_TRUE(ReadTestFile(*path) == data_);
}

TEST_F(ResumeTest, MissingPartFileDropsTheSavedDownload) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 2);
  ASSERT_EQ(::unlink(part_path().c_str()), 0);
  Downloader second(&directory_, Options());
  EXPECT_EQ(second.ResumeSaved(), 1);
  // The resumed download ends by itself and is forgotten.
  EXPECT_EQ(second.Watch(cid_, nullptr, nullptr).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(WaitFor([&] { return second.List().empty(); }));
  second.Shutdown();
  EXPECT_FALSE(PathExists(state_ + "/" + cid_));
  EXPECT_TRUE(OutFiles().empty());
}

}  // namespace
}  // namespace trove
