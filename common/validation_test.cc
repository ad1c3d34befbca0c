#include "common/validation.h"

#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace {

constexpr char kCid[] =
    "16a1f5a1a8f6fdadd3e3f4c48a3fc8a2619472552599c779509f322a62fdfaf1";

void ExpectBadName(const std::string& name, const std::string& needle) {
  absl::Status s = ValidateFileName(name);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
  EXPECT_NE(s.message().find(needle), absl::string_view::npos) << s.message();
}

TEST(ValidationTest, GoodNames) {
  EXPECT_TRUE(ValidateFileName("song.mp3").ok());
  EXPECT_TRUE(ValidateFileName("Ünïcödé – 日本語.flac").ok());
  EXPECT_TRUE(ValidateFileName(".hidden").ok());
  EXPECT_TRUE(ValidateFileName(std::string(255, 'a')).ok());
}

TEST(ValidationTest, BadNames) {
  ExpectBadName("", "empty");
  ExpectBadName("a/b", "separator");
  ExpectBadName("a\\b", "separator");
  ExpectBadName("..", "..");
  ExpectBadName(".", "..");
  ExpectBadName("a..b", "..");
  ExpectBadName(std::string("a\0b", 3), "control");
  ExpectBadName("a\nb", "control");
  ExpectBadName("a\x7f", "control");
  ExpectBadName("\xff\xfe", "UTF-8");
  ExpectBadName("\xc0\xaf", "UTF-8");        // overlong '/'
  ExpectBadName("\xed\xa0\x80", "UTF-8");    // surrogate
  ExpectBadName("abc\xe6\x97", "UTF-8");     // truncated
  ExpectBadName(std::string(256, 'a'), "256 bytes");
}

TEST(ValidationTest, HexIds) {
  EXPECT_TRUE(ValidateHexId(kCid, "cid").ok());
  EXPECT_EQ(ValidateHexId("abc", "cid").code(),
            absl::StatusCode::kInvalidArgument);
  std::string upper = kCid;
  upper[0] = 'A';
  EXPECT_EQ(ValidateHexId(upper, "cid").code(),
            absl::StatusCode::kInvalidArgument);
  std::string bad = kCid;
  bad[5] = 'g';
  absl::Status s = ValidateHexId(bad, "peer_id");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("peer_id"), absl::string_view::npos);
}

TEST(ValidationTest, Sizes) {
  EXPECT_TRUE(ValidateFileSize(0).ok());
  EXPECT_TRUE(ValidateFileSize(kMaxFileSize).ok());
  EXPECT_EQ(ValidateFileSize(-1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateFileSize(kMaxFileSize + 1).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, FileEntry) {
  FileEntry e;
  e.set_cid(kCid);
  e.set_size(10);
  e.set_name("x.txt");
  EXPECT_TRUE(ValidateFileEntry(e).ok());
  e.set_size(-5);
  absl::Status s = ValidateFileEntry(e);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("x.txt"), absl::string_view::npos);
  e.set_size(5);
  e.set_cid("nothex");
  EXPECT_EQ(ValidateFileEntry(e).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, Queries) {
  SearchQuery q;
  EXPECT_EQ(ValidateSearchQuery(q).code(), absl::StatusCode::kInvalidArgument);
  q.set_text("rhapsody");
  EXPECT_TRUE(ValidateSearchQuery(q).ok());
  q.set_text(std::string(257, 'a'));
  EXPECT_EQ(ValidateSearchQuery(q).code(), absl::StatusCode::kInvalidArgument);
  q.set_text("  --- ");
  EXPECT_EQ(ValidateSearchQuery(q).code(), absl::StatusCode::kInvalidArgument);
  q.set_text("ok");
  q.set_min_size(10);
  q.set_max_size(5);
  EXPECT_EQ(ValidateSearchQuery(q).code(), absl::StatusCode::kInvalidArgument);
  q.set_max_size(0);
  q.add_extensions("mp3");
  EXPECT_TRUE(ValidateSearchQuery(q).ok());
  q.add_extensions("../x");
  EXPECT_EQ(ValidateSearchQuery(q).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, Addresses) {
  EXPECT_TRUE(ValidateAddress("127.0.0.1:7400").ok());
  EXPECT_TRUE(ValidateAddress("[::1]:7400").ok());
  EXPECT_TRUE(ValidateAddress("unix:/tmp/x.sock").ok());
  EXPECT_EQ(ValidateAddress("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAddress("host").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAddress("host:0").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAddress("host:70000").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateAddress("ho st:80").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, Extension) {
  EXPECT_EQ(FileExtension("a.MP3"), "mp3");
  EXPECT_EQ(FileExtension("noext"), "");
  EXPECT_EQ(FileExtension(".bashrc"), "");
  EXPECT_EQ(FileExtension("a.tar.gz"), "gz");
}

}  // namespace
}  // namespace trove
