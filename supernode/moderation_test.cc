#include "supernode/moderation.h"

#include "gtest/gtest.h"

namespace trove {
namespace supernode {
namespace {

SearchHit Hit(const std::string& cid) {
  SearchHit h;
  h.set_cid(cid);
  return h;
}

TEST(ModerationTest, LearnsListsFromTheLeaseAndReplacesThem) {
  Moderation m;
  EXPECT_TRUE(m.CheckPeer("p1").ok());
  index::LeaseResponse lease;
  lease.add_banned_peers("p1");
  lease.add_taken_down("c1");
  EXPECT_EQ(m.Update(lease), std::vector<std::string>{"p1"});
  absl::Status s = m.CheckPeer("p1");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("peer banned"), absl::string_view::npos);
  EXPECT_TRUE(m.IsTakenDown("c1"));
  EXPECT_FALSE(m.IsTakenDown("c2"));
  std::vector<SearchHit> hits = {Hit("c1"), Hit("c2"), Hit("c1")};
  m.FilterHits(&hits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].cid(), "c2");
  // Already banned: not new again; lifted lists are lifted.
  EXPECT_TRUE(m.Update(lease).empty());
  EXPECT_TRUE(m.Update(index::LeaseResponse()).empty());
  EXPECT_TRUE(m.CheckPeer("p1").ok());
  EXPECT_FALSE(m.IsTakenDown("c1"));
}

}  // namespace
}  // namespace supernode
}  // namespace trove
