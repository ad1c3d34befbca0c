#include "common/validation.h"

#include <string>
#include <vector>

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
  // ".." inside a name is not a path component.
  EXPECT_TRUE(ValidateFileName("AC-DC - T.N.T..mp3").ok());
  EXPECT_TRUE(ValidateFileName("a..b").ok());
  EXPECT_TRUE(ValidateFileName("...").ok());
  EXPECT_TRUE(ValidateFileName("..hidden").ok());
  EXPECT_TRUE(ValidateFileName("wait...").ok());
  // Joiners and non-breaking spaces are ordinary text.
  EXPECT_TRUE(ValidateFileName("caf\xc3\xa9\xc2\xa0\xe2\x80\x8d.txt").ok());
  EXPECT_TRUE(ValidateFileName("Ünïcödé – 日本語.flac").ok());
  EXPECT_TRUE(ValidateFileName(".hidden").ok());
  EXPECT_TRUE(ValidateFileName(std::string(255, 'a')).ok());
}

TEST(ValidationTest, BadNames) {
  ExpectBadName("", "empty");
  ExpectBadName("a/b", "separator");
  ExpectBadName("a\\b", "separator");
  ExpectBadName("..", "must not be");
  ExpectBadName(".", "must not be");
  ExpectBadName("../x", "separator");
  ExpectBadName("..\\x", "separator");
  ExpectBadName(std::string("a\0b", 3), "control");
  ExpectBadName("a\nb", "control");
  ExpectBadName("a\x7f", "control");
  ExpectBadName("\xff\xfe", "UTF-8");
  ExpectBadName("\xc0\xaf", "UTF-8");        // overlong '/'
  ExpectBadName("\xed\xa0\x80", "UTF-8");    // surrogate
  ExpectBadName("abc\xe6\x97", "UTF-8");     // truncated
  ExpectBadName(std::string(256, 'a'), "256 bytes");
}

TEST(ValidationTest, ControlAndBidiCharactersInNames) {
  ExpectBadName("tab\there", "control");
  ExpectBadName("esc\x1b[2J.mp3", "control");
  ExpectBadName("c1\xc2\x9b" "31m.mp3", "control");    // U+009B (CSI)
  ExpectBadName("nel\xc2\x85.mp3", "control");          // U+0085
  ExpectBadName("evil\xe2\x80\xaegpj.exe", "bidi");     // U+202E
  ExpectBadName("\xe2\x80\xaa.mp3", "bidi");              // U+202A
  ExpectBadName("iso\xe2\x81\xa6x\xe2\x81\xa9.mp3", "bidi");  // U+2066, U+2069
  ExpectBadName("\xe2\x81\xa7.mp3", "bidi");              // U+2067
  ExpectBadName("\xe2\x81\xa8.mp3", "bidi");              // U+2068
  ExpectBadName("lrm\xe2\x80\x8e.mp3", "bidi");         // U+200E
  ExpectBadName("rlm\xe2\x80\x8f.mp3", "bidi");         // U+200F
  ExpectBadName("ls\xe2\x80\xa8.mp3", "bidi");          // U+2028
  // The error shows the name escaped, not raw.
  absl::Status s = ValidateFileName("evil\xe2\x80\xaegpj.exe");
  EXPECT_NE(s.message().find("evil\\u202egpj.exe"), absl::string_view::npos)
      << s.message();
  EXPECT_EQ(s.message().find("\xe2\x80\xae"), absl::string_view::npos);
}

TEST(ValidationTest, Text) {
  EXPECT_TRUE(ValidateText("plain words, caf\xc3\xa9", "comment").ok());
  absl::Status s = ValidateText("a\nb", "comment");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("comment contains a control character"),
            absl::string_view::npos);
  EXPECT_EQ(ValidateText("\xc2\x9b", "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateText("\xe2\x81\xa6", "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ValidateText("\xff", "x").message().find("UTF-8"),
            absl::string_view::npos);
}

TEST(ValidationTest, AddressesRefuseHostileText) {
  EXPECT_TRUE(ValidateAddress("127.0.0.1:7400").ok());
  EXPECT_TRUE(ValidateAddress("[::1]:7400").ok());
  EXPECT_TRUE(ValidateAddress("sn1.example.org:7401").ok());
  EXPECT_TRUE(ValidateAddress("unix:/run/trove/daemon.sock").ok());
  for (const std::string& bad : std::vector<std::string>{
           "", "notanaddress", "host:", "host:0", "host:65536", "host:x",
        "ho st:1", "host:1\n2026-01-01 forged", "h\x1b[2J:1",
        "h\xc2\x9b:1", "h\xe2\x80\xae:1", "unix:", "unix:/tmp/a\nb",
        "unix:/tmp/\xc2\x9bx", "unix:/tmp/\xe2\x80\xaex",
        std::string(300, 'a') + ":1"}) {
    absl::Status s = ValidateAddress(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(s.message().find('\n'), absl::string_view::npos) << s.message();
  }
  // Port 0 is fine for listening only.
  EXPECT_FALSE(ValidateAddress("127.0.0.1:0").ok());
  EXPECT_TRUE(ValidateListenAddress("127.0.0.1:0").ok());
  EXPECT_TRUE(ValidateListenAddress("0.0.0.0:7400").ok());
  EXPECT_EQ(ValidateListenAddress("notanaddress").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ValidationTest, QueriesRefuseControlAndBidi) {
  SearchQuery q;
  q.set_text("queen");
  EXPECT_TRUE(ValidateSearchQuery(q).ok());
  q.set_text("T.N.T..mp3");
  EXPECT_TRUE(ValidateSearchQuery(q).ok());
  for (const char* bad : {"a\x1b[2J", "a\xc2\x9b", "a\xe2\x80\xae", "a\nb"}) {
    q.set_text(bad);
    EXPECT_EQ(ValidateSearchQuery(q).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
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
