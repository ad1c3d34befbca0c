#include "peer_client/supernode_watch.h"

#include <string>
#include <vector>

#include "common/clock.h"
#include "gtest/gtest.h"

namespace trove {
namespace {

std::vector<supernode::SupernodeRef> Refs(std::vector<std::string> addresses) {
  std::vector<supernode::SupernodeRef> out;
  for (const std::string& a : addresses) {
    supernode::SupernodeRef r;
    r.set_address(a);
    r.set_supernode_id(std::string(64, 'a' + out.size()));
    out.push_back(r);
  }
  return out;
}

TEST(BackupChooserTest, TheFirstOtherIsTheBackup) {
  FakeClock clock;
  BackupChooser c(&clock, absl::Seconds(60));
  EXPECT_EQ(c.backup(), "");
  c.Joined("127.0.0.1:1", Refs({"127.0.0.1:2", "127.0.0.1:3"}));
  EXPECT_EQ(c.backup(), "127.0.0.1:2");
  EXPECT_EQ(c.IdOf("127.0.0.1:3"), std::string(64, 'b'));
  EXPECT_EQ(c.IdOf("127.0.0.1:9"), "");
}

TEST(BackupChooserTest, FailoverMovesToTheBackupAndSkipsTheDeadOne) {
  FakeClock clock;
  BackupChooser c(&clock, absl::Seconds(60));
  c.Joined("127.0.0.1:1", Refs({"127.0.0.1:2", "127.0.0.1:3"}));
  // The primary dies: the leaf moves to the backup...
  c.Failed("127.0.0.1:1");
  const std::string next = c.backup();
  EXPECT_EQ(next, "127.0.0.1:2");
  // ... which still lists the dead one first (the index has not expired
  // its lease yet): the new backup is the third.
  c.Joined(next, Refs({"127.0.0.1:1", "127.0.0.1:3"}));
  EXPECT_EQ(c.backup(), "127.0.0.1:3");
  // Once the failure is old, the first supernode counts again.
  clock.Advance(absl::Seconds(61));
  EXPECT_EQ(c.backup(), "127.0.0.1:1");
}

TEST(BackupChooserTest, NoBackupWhenEveryOtherFailedLately) {
  FakeClock clock;
  BackupChooser c(&clock, absl::Seconds(60));
  c.Joined("127.0.0.1:1", Refs({"127.0.0.1:2"}));
  c.Failed("127.0.0.1:2");
  EXPECT_EQ(c.backup(), "");
  clock.Advance(absl::Seconds(30));
  EXPECT_EQ(c.backup(), "");
  // A newer list from the supernode (a Watch event) brings a new one.
  c.Others(Refs({"127.0.0.1:2", "127.0.0.1:4"}));
  EXPECT_EQ(c.backup(), "127.0.0.1:4");
  EXPECT_EQ(c.others(), (std::vector<std::string>{"127.0.0.1:2",
                                                  "127.0.0.1:4"}));
}

TEST(BackupChooserTest, JoiningASupernodeClearsItsFailure) {
  FakeClock clock;
  BackupChooser c(&clock, absl::Seconds(60));
  c.Failed("127.0.0.1:2");
  c.Joined("127.0.0.1:2", Refs({"127.0.0.1:1"}));
  c.Joined("127.0.0.1:1", Refs({"127.0.0.1:2"}));
  EXPECT_EQ(c.backup(), "127.0.0.1:2");
}

TEST(BackupChooserTest, MalformedAddressesAreNeverChosen) {
  FakeClock clock;
  BackupChooser c(&clock, absl::Seconds(60));
  c.Joined("127.0.0.1:1", Refs({"not an address", "127.0.0.1:5"}));
  EXPECT_EQ(c.backup(), "127.0.0.1:5");
}

}  // namespace
}  // namespace trove
