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

}  // namespace
}  // namespace trove
