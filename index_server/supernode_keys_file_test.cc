#include "index_server/supernode_keys_file.h"

#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

TEST(SupernodeKeysFileTest, ReadsKeysSkippingCommentsAndBlanks) {
  auto keys = ParseSupernodeKeys(
      "# enrolled supernodes\n\n" + std::string(64, 'a') + "\n  " +
      std::string(64, 'B') + "  \n");
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0], std::string(32, '\xaa'));
  EXPECT_EQ((*keys)[1], std::string(32, '\xbb'));
}

TEST(SupernodeKeysFileTest, NamesTheBadLine) {
  auto keys = ParseSupernodeKeys(std::string(64, 'a') + "\nnot a key\n");
  ASSERT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(keys.status().message().find("line 2"), std::string::npos);
  EXPECT_FALSE(ParseSupernodeKeys(std::string(63, 'a')).ok());
  EXPECT_FALSE(ParseSupernodeKeys(std::string(63, 'a') + "g").ok());
}

}  // namespace
}  // namespace index_server
}  // namespace trove
