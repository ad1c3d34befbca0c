#include "peer_client/transfer/transfer_ledger.h"

#include "gtest/gtest.h"

namespace trove {
namespace {

TEST(TransferLedgerTest, CountsPerPeerAndFile) {
  TransferLedger ledger;
  ledger.AddSent("p1", "c1", 100);
  ledger.AddSent("p1", "c1", 50);
  ledger.AddSent("p2", "c1", 7);
  ledger.AddReceived("p1", "c2", 1000);
  ledger.AddReceived("p1", "c3", 24);
  EXPECT_EQ(ledger.ReceivedFrom("p1"), 1024);
  EXPECT_EQ(ledger.ReceivedFrom("p2"), 0);
  std::vector<TransferLedger::Entry> up = ledger.Uploads();
  ASSERT_EQ(up.size(), 2u);  // Entries with nothing sent are not uploads.
  EXPECT_EQ(up[0].peer_id, "p2");  // Most recent first.
  EXPECT_EQ(up[0].bytes_sent, 7);
  EXPECT_EQ(up[1].peer_id, "p1");
  EXPECT_EQ(up[1].cid, "c1");
  EXPECT_EQ(up[1].bytes_sent, 150);
}

TEST(TransferLedgerTest, BoundedByDroppingTheLeastRecent) {
  TransferLedger ledger(2);
  ledger.AddSent("a", "c", 1);
  ledger.AddSent("b", "c", 1);
  ledger.AddSent("a", "c", 1);  // a is now more recent than b.
  ledger.AddSent("d", "c", 1);  // Drops b.
  std::vector<TransferLedger::Entry> up = ledger.Uploads();
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[0].peer_id, "d");
  EXPECT_EQ(up[1].peer_id, "a");
  EXPECT_EQ(up[1].bytes_sent, 2);
  for (const char* p : {"x", "y", "z"}) ledger.AddReceived(p, "c", 5);
  EXPECT_EQ(ledger.ReceivedFrom("x"), 0);  // Dropped: only 2 kept.
  EXPECT_EQ(ledger.ReceivedFrom("z"), 5);
}

}  // namespace
}  // namespace trove
