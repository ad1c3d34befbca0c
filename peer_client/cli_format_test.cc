#include "peer_client/cli_format.h"

#include "gtest/gtest.h"

namespace trove {
namespace {

const std::string kCid(64, 'a');

TEST(CliFormatTest, HumanBytes) {
  EXPECT_EQ(HumanBytes(0), "0 B");
  EXPECT_EQ(HumanBytes(1023), "1023 B");
  EXPECT_EQ(HumanBytes(1536), "1.5 KiB");
  EXPECT_EQ(HumanBytes(3 << 20), "3.0 MiB");
  EXPECT_EQ(HumanBytes(int64_t{5} << 30), "5.0 GiB");
}

TEST(CliFormatTest, HumanDuration) {
  EXPECT_EQ(HumanDuration(7), "0:07");
  EXPECT_EQ(HumanDuration(725), "12:05");
  EXPECT_EQ(HumanDuration(3723), "1:02:03");
  EXPECT_EQ(HumanDuration(-1), "?");
}

TEST(CliFormatTest, ParseSize) {
  EXPECT_EQ(*ParseSize("1234"), 1234);
  EXPECT_EQ(*ParseSize("10k"), 10240);
  EXPECT_EQ(*ParseSize("700M"), int64_t{700} << 20);
  EXPECT_EQ(*ParseSize("1.5G"), int64_t{3} << 29);
  EXPECT_EQ(*ParseSize("2MiB"), int64_t{2} << 20);
  EXPECT_EQ(*ParseSize("5MB"), int64_t{5} << 20);
  EXPECT_EQ(ParseSize("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("-3").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseSize("lots").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CliFormatTest, LinksRoundTrip) {
  std::string link = MakeTroveLink(kCid, "Queen - Bohemian Rhapsody & more.mp3",
                                   12345);
  EXPECT_EQ(link.rfind("trove:" + kCid + "?name=", 0), 0u);
  EXPECT_EQ(link.find(' '), std::string::npos);
  absl::StatusOr<TroveLink> parsed = ParseTroveLink(link);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->cid, kCid);
  EXPECT_EQ(parsed->name, "Queen - Bohemian Rhapsody & more.mp3");
  EXPECT_EQ(parsed->size, 12345);
}

TEST(CliFormatTest, BareCidIsALink) {
  absl::StatusOr<TroveLink> parsed = ParseTroveLink(std::string(64, 'A'));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->cid, kCid);
  EXPECT_EQ(parsed->name, "");
  EXPECT_EQ(parsed->size, -1);
}

TEST(CliFormatTest, BadLinksAreInvalidArgument) {
  for (const char* bad : {"", "trove:", "trove:abc", "http://x",
                          "trove:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"}) {
    EXPECT_EQ(ParseTroveLink(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(ParseTroveLink("trove:" + kCid + "?name=%zz").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTroveLink("trove:" + kCid + "?name=a%2").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseTroveLink("trove:" + kCid + "?size=-4").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CliFormatTest, ProgressLine) {
  EXPECT_EQ(ProgressLine("song.mp3", 3 << 19, 3 << 20, 1 << 20, 1),
            "song.mp3  1.5 MiB / 3.0 MiB  50%  1.0 MiB/s  ETA 0:02  1 source");
  EXPECT_EQ(ProgressLine("x", 0, 100, 0, 2),
            "x  0 B / 100 B  0%  0 B/s  ETA ?  2 sources");
  EXPECT_EQ(ProgressLine("x", 0, 100, 0, 0, 3),
            "x  0 B / 100 B  0%  0 B/s  ETA ?  0 sources  queued #3");
}

TEST(CliFormatTest, LinkSchemeIsCaseInsensitive) {
  for (const std::string& prefix : {"TROVE:", "Trove:", "trove://", "TROVE://"}) {
    absl::StatusOr<TroveLink> parsed =
        ParseTroveLink(prefix + kCid + "?name=a.mp3&size=3");
    ASSERT_TRUE(parsed.ok()) << prefix << ": " << parsed.status();
    EXPECT_EQ(parsed->cid, kCid);
    EXPECT_EQ(parsed->name, "a.mp3");
    EXPECT_EQ(parsed->size, 3);
  }
}

TEST(CliFormatTest, DisplayWidthAndEllipsize) {
  EXPECT_EQ(DisplayWidth("abc"), 3);
  EXPECT_EQ(DisplayWidth("\u00e9t\u00e9"), 3);        // été
  EXPECT_EQ(DisplayWidth("\u6771\u4eac"), 4);         // 東京: wide
  EXPECT_EQ(DisplayWidth("e\u0301"), 1);               // e + combining accent
  EXPECT_EQ(Ellipsize("abcdef", 10), "abcdef");
  EXPECT_EQ(Ellipsize("abcdef", 4), "abc\u2026");
  EXPECT_EQ(DisplayWidth(Ellipsize("\u6771\u4eac\u6771\u4eac", 5)), 5);
}

TEST(CliFormatTest, ProgressLineFitsTheWidth) {
  ProgressView v;
  v.name = "A very long name of a film, Director's Cut (2019) 1080p.mkv";
  v.done = 3 << 19;
  v.size = 3 << 20;
  v.bytes_per_second = 1 << 20;
  v.sources = 2;
  const std::string full = ProgressLine(v, 0);
  EXPECT_GT(DisplayWidth(full), 80);
  for (int width : {80, 60, 40, 30, 20, 10}) {
    const std::string line = ProgressLine(v, width);
    EXPECT_LE(DisplayWidth(line), width) << line;
  }
  // At 80 columns the name is shortened and every field stays.
  const std::string at80 = ProgressLine(v, 79);
  EXPECT_NE(at80.find("\u2026"), std::string::npos) << at80;
  EXPECT_NE(at80.find("50%"), std::string::npos) << at80;
  EXPECT_NE(at80.find("2 sources"), std::string::npos) << at80;
  // Narrower: the last fields go before the percentage does.
  const std::string at40 = ProgressLine(v, 40);
  EXPECT_NE(at40.find("50%"), std::string::npos) << at40;
  // States other than downloading replace the rate.
  v.state_text = "waiting for sources";
  EXPECT_NE(ProgressLine(v, 0).find("waiting for sources"), std::string::npos);
  v.state_text = "done";
  v.done = v.size;
  EXPECT_NE(ProgressLine(v, 0).find("100%"), std::string::npos);
}

}  // namespace
}  // namespace trove
