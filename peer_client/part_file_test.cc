#include "peer_client/part_file.h"

#include "gtest/gtest.h"
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
