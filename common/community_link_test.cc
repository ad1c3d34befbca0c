#include "common/community_link.h"

#include "gtest/gtest.h"

namespace trove {
namespace {

const std::string kFp(64, 'a');

TEST(CommunityLinkTest, ParsesAndRoundTrips) {
  absl::StatusOr<CommunityLink> link =
      ParseCommunityLink("trove://index.example.org:7400?ca=" + kFp);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->host, "index.example.org");
  EXPECT_EQ(link->port, 7400);
  EXPECT_EQ(link->ca_fingerprint, kFp);
  EXPECT_EQ(link->address(), "index.example.org:7400");
  EXPECT_EQ(FormatCommunityLink(*link), "trove://index.example.org:7400?ca=" + kFp);
  absl::StatusOr<CommunityLink> again =
      ParseCommunityLink(FormatCommunityLink(*link));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->address(), link->address());
  EXPECT_EQ(again->ca_fingerprint, link->ca_fingerprint);
}

TEST(CommunityLinkTest, SchemeAndHexAreCaseInsensitive) {
  std::string upper(64, 'A');
  absl::StatusOr<CommunityLink> link =
      ParseCommunityLink("TROVE://127.0.0.1:1/?CA=" + upper + "&future=1");
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->ca_fingerprint, kFp);  // Lowercased.
  EXPECT_EQ(link->address(), "127.0.0.1:1");
}

TEST(CommunityLinkTest, Ipv6InBrackets) {
  absl::StatusOr<CommunityLink> link =
      ParseCommunityLink("trove://[::1]:7400?ca=" + kFp);
  ASSERT_TRUE(link.ok()) << link.status();
  EXPECT_EQ(link->host, "::1");
  EXPECT_EQ(link->address(), "[::1]:7400");
  EXPECT_EQ(FormatCommunityLink(*link), "trove://[::1]:7400?ca=" + kFp);
}

TEST(CommunityLinkTest, RefusesWithClearErrors) {
  struct Case {
    std::string link;
    std::string says;
  } cases[] = {
      {"http://h:1?ca=" + kFp, "does not start with trove://"},
      {"trove:" + kFp + "?name=x", "file's trove: link"},
      {"trove://h?ca=" + kFp, "no :PORT"},
      {"trove://:7400?ca=" + kFp, "host is empty"},
      {"trove://h:0?ca=" + kFp, "port must be 1 to 65535"},
      {"trove://h:65536?ca=" + kFp, "port must be 1 to 65535"},
      {"trove://h:x?ca=" + kFp, "port must be 1 to 65535"},
      {"trove://h:1", "no ?ca=FINGERPRINT"},
      {"trove://h:1?ca=abc", "64 hex digits"},
      {"trove://h:1?ca=" + std::string(64, 'g'), "64 hex digits"},
      {"trove://h:1?ca=" + kFp + "&ca=" + kFp, "given twice"},
      {"trove://h:1/path?ca=" + kFp, "path is not allowed"},
      {"trove://u@h:1?ca=" + kFp, "user info"},
      {"trove://h:1?ca=" + kFp + "#x", "fragment"},
      {"trove://h\n:1?ca=" + kFp, "control characters"},
      {"trove://h$:1?ca=" + kFp, "cannot be in one"},
      {"trove://[::1:1?ca=" + kFp, "lacks ']'"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<CommunityLink> link = ParseCommunityLink(c.link);
    ASSERT_FALSE(link.ok()) << c.link;
    EXPECT_EQ(link.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(link.status().message().find(c.says), absl::string_view::npos)
        << c.link << " -> " << link.status();
  }
}

}  // namespace
}  // namespace trove
