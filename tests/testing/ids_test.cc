#include "tests/testing/ids.h"

#include "gtest/gtest.h"

namespace trove {
namespace testutil {
namespace {

TEST(IdsTest, IdIsWellFormedAndDistinct) {
  EXPECT_EQ(Id('c', 1), std::string("c") + std::string(62, '0') + "1");
  EXPECT_EQ(Id('e', 255).size(), 64u);
  EXPECT_EQ(Id('e', 255).substr(61), "0ff");
  EXPECT_NE(Id('a', 1), Id('c', 1));
}

TEST(IdsTest, NewIdentitiesAreFresh) {
  std::unique_ptr<Identity> a = NewIdentity();
  std::unique_ptr<Identity> b = NewIdentity();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(a->peer_id().size(), 64u);
  EXPECT_NE(a->peer_id(), b->peer_id());
}

}  // namespace
}  // namespace testutil
}  // namespace trove
