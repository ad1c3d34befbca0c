#include "peer_client/transfer/upload_slots.h"

#include <map>
#include <string>

#include "gtest/gtest.h"

namespace trove {
namespace {

class UploadSlotsTest : public ::testing::Test {
 protected:
  void Make(int slots, int max_queue = 3) {
    UploadSlots::Options o;
    o.max_slots = slots;
    o.slot_idle = absl::Seconds(2);
    o.queue_stale = absl::Seconds(3);
    o.retry_after = absl::Seconds(1);
    o.max_queue = max_queue;
    o.turn = absl::Seconds(10);
    slots_ = std::make_unique<UploadSlots>(
        o, &clock_, [this](const std::string& who) {
          auto it = credit_.find(who);
          return it == credit_.end() ? int64_t{0} : it->second;
        });
  }

  // "granted" or "queued N" (or "refused" for a full queue).
  std::string Ask(const std::string& who) {
    return Show(slots_->Request(who));
  }
  std::string Use(const std::string& who) {
    return Show(slots_->Acquire(who));
  }
  static std::string Show(const UploadSlots::Decision& d) {
    if (d.granted) return "granted";
    if (d.suspended) return "suspended";
    EXPECT_EQ(d.retry_after, absl::Seconds(1));
    if (d.queue_position == 0) return "refused";
    return "queued " + std::to_string(d.queue_position);
  }
  void Wait(absl::Duration d) { clock_.Advance(d); }

  FakeClock clock_;
  // Bytes received from each requester.
  std::map<std::string, int64_t> credit_;
  std::unique_ptr<UploadSlots> slots_;
};

TEST_F(UploadSlotsTest, OneSlotThreeRequesters) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Ask("c"), "queued 2");
  EXPECT_EQ(slots_->active(), 1);
  EXPECT_EQ(slots_->queued(), 2);
  // The holder asks again: granted at once; the others keep their places.
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("c"), "queued 2");
  EXPECT_EQ(Ask("b"), "queued 1");
}

TEST_F(UploadSlotsTest, IdleHolderMakesRoomForTheNext) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Ask("c"), "queued 2");
  // a stops asking; b and c keep asking every second.
  for (int i = 0; i < 2; ++i) {
    Wait(absl::Seconds(1));
    EXPECT_EQ(Ask("c"), "queued 2");
    if (i == 0) {
      EXPECT_EQ(Ask("b"), "queued 1");
    }
  }
  // 2 s since a's last request: its slot is free, b is first in line.
  EXPECT_EQ(Ask("b"), "granted");
  EXPECT_EQ(Ask("c"), "queued 1");
  EXPECT_EQ(Ask("a"), "queued 2");  // a comes back: end of the queue.
}

TEST_F(UploadSlotsTest, ActivityKeepsTheSlot) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  // (For 9 s: within its turn.)
  for (int i = 0; i < 6; ++i) {
    Wait(absl::Milliseconds(1500));
    EXPECT_EQ(Use("a"), "granted");
    slots_->Release("a");
    EXPECT_EQ(Ask("b"), "queued 1");
  }
}

TEST_F(UploadSlotsTest, AskingAloneDoesNotKeepASlot) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  for (int i = 0; i < 3; ++i) {
    Wait(absl::Milliseconds(500));
    EXPECT_EQ(Ask("a"), "granted");  // Still its slot, but no data taken.
    EXPECT_EQ(Ask("b"), "queued 1");
  }
  Wait(absl::Milliseconds(500));
  EXPECT_EQ(Ask("b"), "granted");
  EXPECT_EQ(Ask("a"), "queued 1");
}

TEST_F(UploadSlotsTest, SlotInUseNeverGoesIdle) {
  Make(1);
  EXPECT_EQ(Use("a"), "granted");
  Wait(absl::Seconds(60));  // A long, slow stream.
  EXPECT_EQ(Ask("b"), "queued 1");
  slots_->Release("a");
  Wait(absl::Milliseconds(1999));
  EXPECT_EQ(Ask("b"), "queued 1");
  Wait(absl::Milliseconds(1));
  EXPECT_EQ(Ask("b"), "granted");
}

TEST_F(UploadSlotsTest, TwoStreamsOfOneHolder) {
  Make(1);
  EXPECT_EQ(Use("a"), "granted");
  EXPECT_EQ(Use("a"), "granted");
  slots_->Release("a");
  Wait(absl::Seconds(10));
  EXPECT_EQ(Ask("b"), "queued 1");  // One stream still runs.
  slots_->Release("a");
  Wait(absl::Seconds(2));
  EXPECT_EQ(Ask("b"), "granted");
}

TEST_F(UploadSlotsTest, StaleQueuePlaceIsDropped) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Ask("c"), "queued 2");
  // a keeps its slot (downloading); c keeps asking; b goes silent for 3 s.
  for (int i = 0; i < 3; ++i) {
    Wait(absl::Seconds(1));
    EXPECT_EQ(Use("a"), "granted");
    slots_->Release("a");
    EXPECT_EQ(Ask("c"), i < 2 ? "queued 2" : "queued 1");
  }
  EXPECT_EQ(slots_->queued(), 1);
  EXPECT_EQ(Ask("b"), "queued 2");  // Back at the end.
}

TEST_F(UploadSlotsTest, NobodyOvertakesTheQueue) {
  Make(2);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "granted");
  EXPECT_EQ(Ask("c"), "queued 1");
  EXPECT_EQ(Ask("d"), "queued 2");
  // a and b go idle: two slots free, for the first two in line, not for a
  // newcomer.
  Wait(absl::Seconds(2));
  EXPECT_EQ(Ask("e"), "queued 3");
  EXPECT_EQ(Ask("d"), "granted");  // Place 2, two slots free.
  EXPECT_EQ(Ask("e"), "queued 2");
  EXPECT_EQ(Ask("c"), "granted");
  EXPECT_EQ(Ask("e"), "queued 1");
  EXPECT_EQ(slots_->active(), 2);
}

TEST_F(UploadSlotsTest, NewcomerGetsAFreeSlotWhenNobodyWaits) {
  Make(2);
  EXPECT_EQ(Use("a"), "granted");
  EXPECT_EQ(Use("b"), "granted");
  EXPECT_EQ(slots_->active(), 2);
  EXPECT_EQ(Ask("c"), "queued 1");
}

TEST_F(UploadSlotsTest, FullQueueRefuses) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Ask("c"), "queued 2");
  EXPECT_EQ(Ask("d"), "queued 3");
  EXPECT_EQ(Ask("e"), "refused");
  EXPECT_EQ(slots_->queued(), 3);
  EXPECT_EQ(Ask("d"), "queued 3");  // Those queued keep their places.
}

TEST_F(UploadSlotsTest, ZeroSlotsQueuesEveryone) {
  Make(0);
  EXPECT_EQ(Ask("a"), "queued 1");
  EXPECT_EQ(Use("b"), "queued 2");
  EXPECT_EQ(slots_->active(), 0);
}

TEST_F(UploadSlotsTest, ReleaseOfAnUnknownRequesterIsHarmless) {
  Make(1);
  slots_->Release("nobody");
  EXPECT_EQ(Ask("a"), "granted");
}

// ---- Who is served first when slots are short.

TEST_F(UploadSlotsTest, PeersThatUploadBackAreServedFirst) {
  Make(1, 10);
  credit_["giver"] = 5 << 20;
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Ask("c"), "queued 2");
  // A peer that sent this one data overtakes those that did not.
  EXPECT_EQ(Ask("giver"), "queued 1");
  EXPECT_EQ(Ask("b"), "queued 2");
  credit_["c"] = 10 << 20;  // Gives more.
  EXPECT_EQ(Ask("c"), "queued 1");
  EXPECT_EQ(Ask("giver"), "queued 2");
  Wait(absl::Seconds(2));  // a goes idle.
  EXPECT_EQ(Ask("b"), "queued 3");
  EXPECT_EQ(Ask("giver"), "queued 2");
  EXPECT_EQ(Ask("c"), "granted");
}

TEST_F(UploadSlotsTest, OneOptimisticSlotLetsANewcomerIn) {
  Make(2, 10);
  credit_["g1"] = 100;
  credit_["g2"] = 200;
  EXPECT_EQ(Use("g1"), "granted");  // Free slots: anyone.
  EXPECT_EQ(Use("g2"), "granted");
  EXPECT_EQ(Ask("new1"), "queued 1");  // The optimistic slot's candidate.
  EXPECT_EQ(Ask("new2"), "queued 2");
  credit_["g3"] = 300;
  EXPECT_EQ(Ask("g3"), "queued 2");   // Behind the optimistic newcomer only.
  EXPECT_EQ(Ask("new2"), "queued 3");
  slots_->Release("g1");
  Wait(absl::Seconds(2));             // g1 goes idle; g2 is still streaming.
  for (const char* who : {"g3", "new2"}) EXPECT_NE(Ask(who), "granted");
  EXPECT_EQ(Ask("new1"), "granted");  // Optimistic: the newcomer goes first.
  // With the optimistic slot taken, credit decides again.
  slots_->Release("g2");
  Wait(absl::Seconds(1));
  EXPECT_EQ(Ask("g3"), "queued 1");
  EXPECT_EQ(Ask("new2"), "queued 2");
  EXPECT_EQ(Use("new1"), "granted");  // Downloading: keeps its slot.
  slots_->Release("new1");
  Wait(absl::Seconds(1.5));
  EXPECT_EQ(Ask("new1"), "granted");
  EXPECT_EQ(Ask("g3"), "granted");    // g2 went idle: the giver.
  EXPECT_EQ(Ask("new2"), "queued 1");
}

TEST_F(UploadSlotsTest, WithoutCreditTheQueueIsFirstComeFirstServed) {
  Make(2, 10);
  EXPECT_EQ(Use("a"), "granted");
  EXPECT_EQ(Use("b"), "granted");
  EXPECT_EQ(Ask("c"), "queued 1");
  EXPECT_EQ(Ask("d"), "queued 2");
  EXPECT_EQ(Ask("e"), "queued 3");
  slots_->Release("a");
  slots_->Release("b");
  Wait(absl::Seconds(2));
  EXPECT_EQ(Ask("e"), "queued 3");
  EXPECT_EQ(Ask("d"), "granted");  // Places 1 and 2 within 2 free slots.
  EXPECT_EQ(Ask("c"), "granted");
  EXPECT_EQ(Ask("e"), "queued 1");
}

TEST_F(UploadSlotsTest, SlotCountChangesAtRunTime) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  slots_->SetMaxSlots(2);
  EXPECT_EQ(slots_->max_slots(), 2);
  EXPECT_EQ(Ask("b"), "granted");
  // Fewer: the holders keep their slots, newcomers wait.
  slots_->SetMaxSlots(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "granted");
  EXPECT_EQ(Ask("c"), "queued 1");
}

TEST_F(UploadSlotsTest, SuspendedHolderLosesItsSlotToTheQueue) {
  Make(1);
  EXPECT_EQ(Use("hog"), "granted");  // A stream it does not read.
  EXPECT_EQ(Ask("real"), "queued 1");
  slots_->Suspend("hog", absl::Seconds(20));
  // The slot in use is gone at once; the hog is refused, the queue served.
  EXPECT_EQ(Use("hog"), "suspended");
  UploadSlots::Decision d = slots_->Request("hog");
  EXPECT_EQ(d.retry_after, absl::Seconds(20));
  EXPECT_EQ(Ask("real"), "granted");
  slots_->Release("hog");  // Its cancelled stream ends: harmless.
  EXPECT_EQ(slots_->active(), 1);
  Wait(absl::Seconds(21));
  EXPECT_EQ(Ask("real"), "granted");
  EXPECT_EQ(Ask("hog"), "queued 1");
}

TEST_F(UploadSlotsTest, SuspendedWaiterLeavesTheQueue) {
  Make(1);
  EXPECT_EQ(Ask("a"), "granted");
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Ask("c"), "queued 2");
  slots_->Suspend("b", absl::Seconds(5));
  EXPECT_EQ(Ask("c"), "queued 1");
  EXPECT_EQ(slots_->queued(), 1);
}

TEST_F(UploadSlotsTest, HoldersTakeTurnsWhileOthersWait) {
  Make(1);
  EXPECT_EQ(Use("a"), "granted");
  slots_->Release("a");
  // Alone, a keeps downloading as long as it likes.
  for (int i = 0; i < 15; ++i) {
    Wait(absl::Seconds(1));
    EXPECT_EQ(Use("a"), "granted");
    slots_->Release("a");
  }
  // b comes: a's turn (10 s) is long over, so its next request queues it
  // behind b, and b gets the slot.
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Use("a"), "queued 2");
  EXPECT_EQ(Use("b"), "granted");
  // b's turn: 10 s, then a again.
  for (int i = 0; i < 9; ++i) {
    Wait(absl::Seconds(1));
    EXPECT_EQ(Ask("a"), "queued 1");
    EXPECT_EQ(Use("b"), "granted");
    slots_->Release("b");
  }
  Wait(absl::Seconds(1));
  EXPECT_EQ(Use("b"), "queued 2");
  EXPECT_EQ(Use("a"), "granted");
}

TEST_F(UploadSlotsTest, ATurnDoesNotStopARunningStream) {
  Make(1);
  EXPECT_EQ(Use("a"), "granted");
  Wait(absl::Seconds(30));
  EXPECT_EQ(Ask("b"), "queued 1");
  // a's stream goes on; only its next request finds its turn over.
  EXPECT_EQ(Ask("b"), "queued 1");
  EXPECT_EQ(Use("a"), "queued 2");
  slots_->Release("a");  // The running stream ends.
  EXPECT_EQ(Ask("b"), "granted");
}

}  // namespace
}  // namespace trove
