#include "peer_client/transfer/part_file.h"

#include <vector>

#include "gtest/gtest.h"
#include "common/merkle.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::PathExists;
using testing::ReadTestFile;
using testing::TempDir;
using testing::WriteTestFile;

TEST(PartFileTest, WritesAtOffsetsAndCommits) {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<PartFile>> part =
      PartFile::Create(dir.path(), "a.txt", 6);
  ASSERT_TRUE(part.ok()) << part.status();
  EXPECT_EQ((*part)->path(), dir.Sub(".a.txt.trove-part"));
  ASSERT_TRUE((*part)->WriteAt(3, "def").ok());
  ASSERT_TRUE((*part)->WriteAt(0, "abc").ok());
  absl::StatusOr<std::string> path = (*part)->Commit();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir.Sub("a.txt"));
  EXPECT_EQ(ReadTestFile(*path), "abcdef");
  EXPECT_FALSE(PathExists(dir.Sub(".a.txt.trove-part")));
}

TEST(PartFileTest, NeverReplacesAnExistingFile) {
  TempDir dir;
  WriteTestFile(dir.Sub("a.txt"), "old");
  WriteTestFile(dir.Sub("a.txt (1)"), "older");
  auto part = PartFile::Create(dir.path(), "a.txt", 3);
  ASSERT_TRUE(part.ok());
  ASSERT_TRUE((*part)->WriteAt(0, "new").ok());
  absl::StatusOr<std::string> path = (*part)->Commit();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir.Sub("a.txt (2)"));
  EXPECT_EQ(ReadTestFile(dir.Sub("a.txt")), "old");
  EXPECT_EQ(ReadTestFile(dir.Sub("a.txt (1)")), "older");
  EXPECT_EQ(ReadTestFile(*path), "new");
}

TEST(PartFileTest, RemovedUnlessCommittedOrKept) {
  TempDir dir;
  {
    auto part = PartFile::Create(dir.path(), "gone", 10);
    ASSERT_TRUE(part.ok());
    EXPECT_TRUE(PathExists(dir.Sub(".gone.trove-part")));
  }
  EXPECT_FALSE(PathExists(dir.Sub(".gone.trove-part")));
  {
    auto part = PartFile::Create(dir.path(), "kept", 10);
    ASSERT_TRUE(part.ok());
    (*part)->Keep();
  }
  EXPECT_TRUE(PathExists(dir.Sub(".kept.trove-part")));
}

TEST(PartFileTest, WritesPiecesWithoutGatheringThem) {
  TempDir dir;
  auto part = PartFile::Create(dir.path(), "p", 10);
  ASSERT_TRUE(part.ok());
  std::vector<absl::string_view> pieces = {"ab", "", "cde", "f"};
  ASSERT_TRUE((*part)->WriteAt(2, absl::MakeConstSpan(pieces)).ok());
  absl::StatusOr<std::string> read = (*part)->ReadAt(0, 10);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, std::string("\0\0abcdef\0\0", 10));
  EXPECT_EQ((*part)->ReadAt(8, 3).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(PartFileTest, AlignedAndUnalignedWritesLandWhereAsked) {
  TempDir dir;
  const std::string data = testing::RandomBytes(2 * kChunkSize + 1000, 3);
  auto part = PartFile::Create(dir.path(), "d.bin",
                               static_cast<int64_t>(data.size()));
  ASSERT_TRUE(part.ok()) << part.status();
  // Chunk 1 in odd-sized pieces (aligned as a whole: O_DIRECT where the
  // file system allows it), then the short last chunk, then chunk 0.
  absl::string_view d(data);
  std::vector<absl::string_view> pieces = {d.substr(kChunkSize, 7),
                                           d.substr(kChunkSize + 7, 70000),
                                           d.substr(kChunkSize + 70007,
                                                    kChunkSize - 70007)};
  ASSERT_TRUE((*part)->WriteAt(kChunkSize, absl::MakeConstSpan(pieces)).ok());
  std::vector<absl::string_view> tail = {d.substr(2 * kChunkSize)};
  ASSERT_TRUE(
      (*part)->WriteAt(2 * kChunkSize, absl::MakeConstSpan(tail)).ok());
  std::vector<absl::string_view> head = {d.substr(0, kChunkSize)};
  ASSERT_TRUE((*part)->WriteAt(0, absl::MakeConstSpan(head)).ok());
  absl::StatusOr<std::string> read =
      (*part)->ReadAt(0, static_cast<int64_t>(data.size()));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == data);
  absl::StatusOr<std::string> path = (*part)->Commit();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data);
}

TEST(PartFileTest, ReopenedPartFileKeepsItsContents) {
  TempDir dir;
  std::string path;
  {
    auto part = PartFile::Create(dir.path(), "r.bin", 6);
    ASSERT_TRUE(part.ok());
    ASSERT_TRUE((*part)->WriteAt(0, "abc").ok());
    ASSERT_TRUE((*part)->SyncData().ok());
    path = (*part)->path();
    (*part)->Keep();
  }
  auto part = PartFile::Open(dir.path(), "r.bin", path);
  ASSERT_TRUE(part.ok()) << part.status();
  absl::StatusOr<FileStamp> before = (*part)->Stamp();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->size, 6);
  ASSERT_TRUE((*part)->WriteAt(3, "def").ok());
  absl::StatusOr<std::string> path2 = (*part)->Commit();
  ASSERT_TRUE(path2.ok()) << path2.status();
  EXPECT_EQ(ReadTestFile(*path2), "abcdef");
  EXPECT_EQ(PartFile::Open(dir.path(), "r.bin", path).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(PartFileTest, StampChangesWhenTheFileIsWrittenOrResized) {
  TempDir dir;
  auto part = PartFile::Create(dir.path(), "s", 4);
  ASSERT_TRUE(part.ok());
  absl::StatusOr<FileStamp> a = (*part)->Stamp();
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size, 4);
  EXPECT_NE(a->inode, 0u);
  ASSERT_TRUE((*part)->Resize(8).ok());
  absl::StatusOr<FileStamp> b = (*part)->Stamp();
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size, 8);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(b->inode, a->inode);
}

TEST(PartFileTest, LongNamesGetAShortPartName) {
  std::string name(250, 'n');
  std::string part = PartFile::PartPath("/d", name);
  EXPECT_LE(part.size() - 3, 255u);
  EXPECT_EQ(part.rfind("/d/.", 0), 0u);
}

TEST(PartFileTest, RenameNoReplaceRefusesExistingTarget) {
  TempDir dir;
  WriteTestFile(dir.Sub("from"), "1");
  WriteTestFile(dir.Sub("to"), "2");
  EXPECT_EQ(RenameNoReplace(dir.Sub("from"), dir.Sub("to")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadTestFile(dir.Sub("to")), "2");
}

}  // namespace
}  // namespace trove
