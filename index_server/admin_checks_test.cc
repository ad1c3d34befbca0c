// The AdminService's request checks and audit text (admin_service.h) on
// their own.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/admin_service.h"
#include "tests/testing/ids.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::HasSubstr;

using testutil::Id;

TEST(AdminChecksTest, IdsAndReasons) {
  AdminCore::Options o;
  o.max_reason_chars = 5;
  admin::BanPeerRequest ban;
  ban.set_peer_id(Id('e', 1));
  EXPECT_THAT(ValidateBanPeer(ban, o).message(), HasSubstr("reason is required"));
  ban.set_reason("caf\xc3\xa9!");  // 5 characters, 6 bytes
  EXPECT_TRUE(ValidateBanPeer(ban, o).ok());
  ban.set_reason("toolong");
  EXPECT_THAT(ValidateBanPeer(ban, o).message(), HasSubstr("the limit is 5"));
  ban.set_reason("a\nb");
  EXPECT_THAT(ValidateBanPeer(ban, o).message(), HasSubstr("reason"));

  admin::UnbanPeerRequest unban;
  unban.set_peer_id(Id('e', 1));
  EXPECT_TRUE(ValidateUnbanPeer(unban, o).ok());
  admin::TakeDownRequest takedown;
  takedown.set_cid("C");
  takedown.set_reason("x");
  EXPECT_THAT(ValidateTakeDown(takedown, o).message(), HasSubstr("cid"));
  admin::RestoreRequest restore;
  restore.set_cid(Id('c', 1));
  EXPECT_TRUE(ValidateRestore(restore, o).ok());
  admin::RevokeSupernodeRequest revoke;
  revoke.set_supernode_id(Id('a', 1));
  revoke.set_reason("a\xe2\x80\xae");
  EXPECT_THAT(ValidateRevokeSupernode(revoke, o).message(),
              HasSubstr("reason"));
  admin::EnrolSupernodeRequest enrol;
  enrol.set_public_key("AB");
  EXPECT_THAT(ValidateEnrolSupernode(enrol).message(),
              HasSubstr("public_key"));
}

TEST(AdminChecksTest, ListsTokensAndAudit) {
  AdminCore::Options o;
  admin::ListPeersRequest peers;
  peers.set_id_prefix("ab");
  EXPECT_TRUE(ValidateListPeers(peers).ok());
  peers.set_id_prefix("AB");
  EXPECT_THAT(ValidateListPeers(peers).message(), HasSubstr("id_prefix"));
  admin::ReadAuditRequest audit;
  audit.set_limit(-1);
  EXPECT_FALSE(ValidateReadAudit(audit).ok());
  admin::CreateTokenRequest create;
  create.set_role("root");
  EXPECT_THAT(ValidateCreateToken(create, o).message(), HasSubstr("role"));
  create.set_role("viewer");
  EXPECT_TRUE(ValidateCreateToken(create, o).ok());
  admin::RevokeTokenRequest revoke;
  EXPECT_THAT(ValidateRevokeToken(revoke).message(), HasSubstr("token_id"));
  revoke.set_token_id("0123456789abcdef");
  EXPECT_TRUE(ValidateRevokeToken(revoke).ok());

  EXPECT_EQ(AuditText("plain text", 5), "plain");
  EXPECT_EQ(AuditText("a\nb", 10), "a\\nb");
  // A cut through a character leaves its bytes escaped, never half of it.
  EXPECT_EQ(AuditText("\xc3\xa9", 1), "\\xc3");
}

}  // namespace
}  // namespace index_server
}  // namespace trove
