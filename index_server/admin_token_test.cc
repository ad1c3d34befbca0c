#include "index_server/admin_token.h"

#include <set>

#include "gtest/gtest.h"

namespace trove {
namespace index_server {
namespace {

TEST(AdminTokenTest, TokensAreFreshWellFormedAndStoredOnlyAsTheirHash) {
  std::set<std::string> seen;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<NewAdminToken> t = MakeAdminToken();
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_TRUE(CheckAdminTokenForm(t->token).ok()) << t->token;
    EXPECT_EQ(t->token.size(), 12u + 64u);
    EXPECT_EQ(t->hash, AdminTokenHash(t->token));
    EXPECT_EQ(t->hash.size(), 64u);
    EXPECT_EQ(t->hash.find(t->token.substr(12)), std::string::npos);
    EXPECT_EQ(t->token_id.size(), 16u);
    EXPECT_TRUE(seen.insert(t->token).second);
    EXPECT_TRUE(seen.insert(t->token_id).second);
  }
}

TEST(AdminTokenTest, HashIsSha256Hex) {
  // SHA-256("abc").
  EXPECT_EQ(AdminTokenHash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(AdminTokenTest, FormErrorsSayWhatIsWrong) {
  EXPECT_EQ(CheckAdminTokenForm("hello").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_NE(CheckAdminTokenForm("trove-admin-abc").message().find("64 hex"),
            absl::string_view::npos);
  EXPECT_FALSE(
      CheckAdminTokenForm("trove-admin-" + std::string(64, 'A')).ok());
  EXPECT_TRUE(CheckAdminTokenForm("trove-admin-" + std::string(64, 'a')).ok());
}

TEST(AdminTokenTest, BearerParsing) {
  const std::string token = "trove-admin-" + std::string(64, 'f');
  EXPECT_EQ(*BearerToken("Bearer " + token), token);
  EXPECT_EQ(*BearerToken("  bearer   " + token + " "), token);
  EXPECT_EQ(BearerToken("").status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(BearerToken("").status().message().find("no admin token"),
            absl::string_view::npos);
  EXPECT_EQ(BearerToken("Basic abc").status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(BearerToken(token).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_NE(BearerToken("Bearer nope").status().message().find("malformed"),
            absl::string_view::npos);
}

TEST(AdminTokenTest, RolesAreOrdered) {
  EXPECT_TRUE(RoleAllows(AdminRole::kAdmin, AdminRole::kModerator));
  EXPECT_TRUE(RoleAllows(AdminRole::kModerator, AdminRole::kModerator));
  EXPECT_TRUE(RoleAllows(AdminRole::kModerator, AdminRole::kViewer));
  EXPECT_FALSE(RoleAllows(AdminRole::kModerator, AdminRole::kAdmin));
  EXPECT_FALSE(RoleAllows(AdminRole::kViewer, AdminRole::kModerator));
  for (AdminRole r :
       {AdminRole::kAdmin, AdminRole::kModerator, AdminRole::kViewer}) {
    EXPECT_EQ(*ParseAdminRole(AdminRoleName(r)), r);
  }
  EXPECT_EQ(ParseAdminRole("root").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace index_server
}  // namespace trove
