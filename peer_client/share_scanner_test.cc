#include "peer_client/share_scanner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "gtest/gtest.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::TempDir;
using testing::WriteTestFile;

std::vector<std::string> Names(const std::vector<FileEntry>& entries) {
  std::vector<std::string> out;
  for (const FileEntry& e : entries) out.push_back(e.name());
  std::sort(out.begin(), out.end());
  return out;
}

// Sets a file's mtime explicitly so that a rewrite is visible as a change
// even on file systems with coarse timestamps.
void SetMtime(const std::string& path, time_t seconds) {
  struct timespec times[2];
  times[0].tv_sec = seconds;
  times[0].tv_nsec = 0;
  times[1] = times[0];
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

class ShareScannerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    share_ = state_.path() + "/share";
    ASSERT_EQ(::mkdir(share_.c_str(), 0755), 0);
    cache_ = HashCache::Load(state_.Sub("hashcache"));
    scanner_ = MakeScanner(cache_.get());
  }

  std::unique_ptr<ShareScanner> MakeScanner(HashCache* cache) {
    ShareScanner::Options options;
    options.roots = {share_};
    options.hasher = [this](const std::string& path,
                            const std::function<void(int64_t, int64_t)>& p) {
      ++hash_calls_;
      return HashFile(path, p);
    };
    return std::make_unique<ShareScanner>(options, cache);
  }

  TempDir state_;
  std::string share_;
  std::atomic<int> hash_calls_{0};
  std::unique_ptr<HashCache> cache_;
  std::unique_ptr<ShareScanner> scanner_;
};

TEST_F(ShareScannerTest, FirstScanAddsEverythingRecursively) {
  WriteTestFile(share_ + "/a.txt", "alpha");
  WriteTestFile(share_ + "/music/b.mp3", "beta");
  WriteTestFile(share_ + "/music/deep/c.flac", "");
  ScanResult r = scanner_->Scan();
  EXPECT_EQ(Names(r.added),
            (std::vector<std::string>{"a.txt", "b.mp3", "c.flac"}));
  EXPECT_TRUE(r.removed.empty());
  EXPECT_EQ(r.hashed, 3);
  EXPECT_EQ(r.file_count, 3);
  EXPECT_EQ(r.total_bytes, 9);
  EXPECT_EQ(scanner_->file_count(), 3);

  FileHashes h = HashBuffer("beta");
  std::shared_ptr<const SharedFile> f = scanner_->FindByCid(h.cid);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->name, "b.mp3");
  EXPECT_EQ(f->path, share_ + "/music/b.mp3");
  EXPECT_EQ(f->size, 4);
  EXPECT_EQ(f->chunk_hashes, h.chunk_hashes);
}

TEST_F(ShareScannerTest, SecondScanRehashesNothingAndReportsNoChange) {
  WriteTestFile(share_ + "/a.txt", "alpha");
  WriteTestFile(share_ + "/b.txt", "beta");
  scanner_->Scan();
  ASSERT_EQ(hash_calls_.load(), 2);
  ScanResult r = scanner_->Scan();
  EXPECT_EQ(hash_calls_.load(), 2);
  EXPECT_EQ(r.hashed, 0);
  EXPECT_TRUE(r.added.empty());
  EXPECT_TRUE(r.removed.empty());
}

TEST_F(ShareScannerTest, RestartUsesTheHashCache) {
  WriteTestFile(share_ + "/a.txt", "alpha");
  WriteTestFile(share_ + "/b.txt", std::string(kChunkSize + 1, 'b'));
  scanner_->Scan();
  ASSERT_EQ(hash_calls_.load(), 2);

  // A new daemon: fresh scanner, cache loaded from disk.
  std::unique_ptr<HashCache> cache = HashCache::Load(state_.Sub("hashcache"));
  EXPECT_EQ(cache->size(), 2u);
  std::unique_ptr<ShareScanner> again = MakeScanner(cache.get());
  ScanResult r = again->Scan();
  EXPECT_EQ(hash_calls_.load(), 2);
  EXPECT_EQ(r.hashed, 0);
  EXPECT_EQ(r.added.size(), 2u);  // New to this scanner, not re-hashed.
  EXPECT_NE(again->FindByCid(HashBuffer("alpha").cid), nullptr);
}

TEST_F(ShareScannerTest, ChangedFileIsRehashedAndReplacesItsCid) {
  std::string path = share_ + "/a.txt";
  WriteTestFile(path, "version one");
  SetMtime(path, 1000);
  scanner_->Scan();
  std::string old_cid = HashBuffer("version one").cid;
  ASSERT_NE(scanner_->FindByCid(old_cid), nullptr);

  WriteTestFile(path, "version two!");
  SetMtime(path, 2000);
  ScanResult r = scanner_->Scan();
  EXPECT_EQ(r.hashed, 1);
  ASSERT_EQ(r.added.size(), 1u);
  EXPECT_EQ(r.added[0].cid(), HashBuffer("version two!").cid);
  EXPECT_EQ(r.removed, std::vector<std::string>{old_cid});
  EXPECT_EQ(scanner_->FindByCid(old_cid), nullptr);
}

TEST_F(ShareScannerTest, RemovedFileIsReported) {
  WriteTestFile(share_ + "/a.txt", "alpha");
  WriteTestFile(share_ + "/b.txt", "beta");
  scanner_->Scan();
  ASSERT_EQ(::unlink((share_ + "/a.txt").c_str()), 0);
  ScanResult r = scanner_->Scan();
  EXPECT_TRUE(r.added.empty());
  EXPECT_EQ(r.removed, std::vector<std::string>{HashBuffer("alpha").cid});
  EXPECT_EQ(scanner_->file_count(), 1);
  // The cache forgot the removed path too.
  EXPECT_EQ(cache_->size(), 1u);
}

TEST_F(ShareScannerTest, SkipsSymlinksHiddenTempAndSpecialFiles) {
  TempDir outside;
  WriteTestFile(outside.Sub("secret.txt"), "do not share");
  WriteTestFile(share_ + "/ok.txt", "fine");
  ASSERT_EQ(::symlink(outside.Sub("secret.txt").c_str(),
                      (share_ + "/link.txt").c_str()),
            0);
  ASSERT_EQ(::symlink(outside.path().c_str(), (share_ + "/linkdir").c_str()),
            0);
  WriteTestFile(share_ + "/.hidden", "h");
  WriteTestFile(share_ + "/.movie.mkv.trove-part", "partial");
  WriteTestFile(share_ + "/.git/config", "g");
  WriteTestFile(share_ + "/notes.txt~", "backup");
  WriteTestFile(share_ + "/download.part", "p");
  ASSERT_EQ(::mkfifo((share_ + "/fifo").c_str(), 0644), 0);

  ScanResult r = scanner_->Scan();
  EXPECT_EQ(Names(r.added), std::vector<std::string>{"ok.txt"});
  EXPECT_EQ(scanner_->FindByCid(HashBuffer("do not share").cid), nullptr);
}

TEST_F(ShareScannerTest, SkipsInvalidNames) {
  WriteTestFile(share_ + "/ok.txt", "fine");
  WriteTestFile(share_ + "/bad\x01name.txt", "control char");
  WriteTestFile(share_ + "/not\xffutf8.txt", "bad utf8");
  ScanResult r = scanner_->Scan();
  EXPECT_EQ(Names(r.added), std::vector<std::string>{"ok.txt"});
}

TEST_F(ShareScannerTest, DuplicateContentIsOneCid) {
  WriteTestFile(share_ + "/a.txt", "same");
  WriteTestFile(share_ + "/b.txt", "same");
  ScanResult r = scanner_->Scan();
  ASSERT_EQ(r.added.size(), 1u);
  EXPECT_EQ(r.added[0].name(), "a.txt");
  EXPECT_EQ(r.file_count, 1);
  // Removing the serving copy falls back to the other one.
  ASSERT_EQ(::unlink((share_ + "/a.txt").c_str()), 0);
  r = scanner_->Scan();
  ASSERT_EQ(r.added.size(), 1u);  // The name changed.
  EXPECT_EQ(r.added[0].name(), "b.txt");
  EXPECT_TRUE(r.removed.empty());
  EXPECT_EQ(scanner_->FindByCid(HashBuffer("same").cid)->path,
            share_ + "/b.txt");
}

TEST_F(ShareScannerTest, MissingRootIsSkipped) {
  ShareScanner::Options options;
  options.roots = {state_.Sub("nope"), share_};
  WriteTestFile(share_ + "/a.txt", "alpha");
  ShareScanner scanner(options, nullptr);
  ScanResult r = scanner.Scan();
  EXPECT_EQ(r.added.size(), 1u);
}

TEST_F(ShareScannerTest, FilesListsEveryCid) {
  WriteTestFile(share_ + "/a.txt", "alpha");
  WriteTestFile(share_ + "/b.txt", "beta");
  scanner_->Scan();
  EXPECT_EQ(Names(scanner_->Files()),
            (std::vector<std::string>{"a.txt", "b.txt"}));
}

TEST_F(ShareScannerTest, VerifiedFileIsSharedAtOnceWithoutHashing) {
  WriteTestFile(share_ + "/a.txt", "alpha");
  scanner_->Scan();
  ASSERT_EQ(hash_calls_.load(), 1);
  // A download completes into the shared folder.
  const std::string data = std::string(kChunkSize + 3, 'd');
  WriteTestFile(share_ + "/got.bin", data);
  const FileHashes h = HashBuffer(data);
  absl::StatusOr<FileEntry> e =
      scanner_->AddVerifiedFile(share_ + "/got.bin", h);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->cid(), h.cid);
  EXPECT_EQ(e->name(), "got.bin");
  std::shared_ptr<const SharedFile> f = scanner_->FindByCid(h.cid);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->size, static_cast<int64_t>(data.size()));
  EXPECT_EQ(scanner_->file_count(), 2);
  EXPECT_EQ(Names(scanner_->Files()),
            (std::vector<std::string>{"a.txt", "got.bin"}));
  // The next scan keeps it, hashes nothing and reports nothing new.
  ScanResult r = scanner_->Scan();
  EXPECT_EQ(hash_calls_.load(), 1);
  EXPECT_TRUE(r.added.empty());
  EXPECT_NE(scanner_->FindByCid(h.cid), nullptr);
  // Nor does a restart (the hash cache has it).
  std::unique_ptr<HashCache> cache = HashCache::Load(state_.Sub("hashcache"));
  std::unique_ptr<ShareScanner> again = MakeScanner(cache.get());
  again->Scan();
  EXPECT_EQ(hash_calls_.load(), 1);
  EXPECT_NE(again->FindByCid(h.cid), nullptr);
}

TEST_F(ShareScannerTest, VerifiedFileOutsideTheSharesIsNotShared) {
  const std::string outside = state_.Sub("elsewhere") + "/x.bin";
  WriteTestFile(outside, "x");
  EXPECT_EQ(scanner_->AddVerifiedFile(outside, HashBuffer("x")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  WriteTestFile(share_ + "/.hidden", "x");
  EXPECT_EQ(scanner_->AddVerifiedFile(share_ + "/.hidden", HashBuffer("x"))
                .status()
                .code(),
            absl::StatusCode::kFailedPrecondition);
  WriteTestFile(share_ + "/y.bin", "yy");
  EXPECT_EQ(scanner_->AddVerifiedFile(share_ + "/y.bin", HashBuffer("x"))
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(scanner_->AddVerifiedFile(share_ + "/none", HashBuffer("x"))
                .status()
                .code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(scanner_->file_count(), 0);
}

}  // namespace
}  // namespace trove
