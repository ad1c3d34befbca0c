// Upload slots and their queue: at most N requesters are served at once,
// the others wait and are told their place.
//
// Pure bookkeeping (no sockets, no files), keyed by requester peer id, with
// an injected clock:
// - A requester holds a slot while it downloads: a slot in use by a running
//   stream (between Acquire and Release) never goes idle, and one not used
//   for `slot_idle` since it was granted or its last stream ended is freed.
//   Asking again (Request) does not keep a slot: a requester that only
//   asks cannot hold one.
// - A requester that finds no free slot is queued and told its 1-based
//   place; it keeps the place by asking again (every `retry_after`, which it
//   is advised). A place not asked about for `queue_stale` is dropped and the
//   ones behind move up.
// - Who is served first when slots are short (tit-for-tat, in spirit): the
//   queue is ordered by credit, the bytes this peer received from each
//   requester (peers that upload back come first), then by arrival. One
//   slot is optimistic: when no holder has it, the longest-waiting
//   requester that gave nothing yet comes first (and holds it once
//   granted), so newcomers get started and can earn credit. Without credit (all zero) the queue is plain
//   first come, first served.
// - A request is granted when the requester already holds a slot, or when
//   its place is within the free slots, so nobody overtakes the queue's
//   order.
// - Turns: while others wait, a holder keeps its slot for `turn` at most;
//   after that its next request (between streams: a stream running goes
//   on) puts it at the back of the queue, so throw-away identities cannot
//   keep every slot by downloading forever, and waiters are served within
//   about a turn (BitTorrent's rechoke, in spirit).
// - A requester caught holding a slot without taking the data (its streams
//   stalled, see upload_streams.h) is suspended: it loses its slot and
//   queue place and is refused for a while.
//
// Thread-safe.
#ifndef TROVE_PEER_CLIENT_TRANSFER_UPLOAD_SLOTS_H_
#define TROVE_PEER_CLIENT_TRANSFER_UPLOAD_SLOTS_H_

#include <functional>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace trove {

class UploadSlots {
 public:
  struct Options {
    // Requesters served at once.
    int max_slots = 32;
    // A slot without activity for this long is freed.
    absl::Duration slot_idle = absl::Seconds(2);
    // A queued requester that does not ask again for this long loses its
    // place.
    absl::Duration queue_stale = absl::Seconds(3);
    // How soon a queued requester is told to ask again.
    absl::Duration retry_after = absl::Seconds(1);
    // Most requesters queued; further ones are refused (place 0).
    int max_queue = 1000;
    // Keep one slot for newcomers (see above); needs max_slots >= 2.
    bool optimistic_slot = true;
    // Longest a holder keeps its slot while others wait; zero: no limit.
    absl::Duration turn = absl::Seconds(5);
  };

  // The credit of a requester: bytes received from it. Thread-safe; called
  // under the slots' lock, so it must not call back into them.
  using CreditFunction = std::function<int64_t(const std::string& requester)>;

  // The answer to one request.
  struct Decision {
    // The requester may download now.
    bool granted = false;
    // When not granted: its 1-based place in the queue, or 0 when the queue
    // is full and it was not queued.
    int queue_position = 0;
    // When not granted: ask again after this long.
    absl::Duration retry_after;
    // Refused because the requester is suspended (retry_after: until when).
    bool suspended = false;
  };

  // `clock`: null for Clock::Real(); must outlive the slots. `credit` may be
  // empty (every requester has none).
  explicit UploadSlots(Options options, Clock* clock = nullptr,
                       CreditFunction credit = nullptr);

  // A RequestSlot: grants, refreshes or queues `requester` as above.
  Decision Request(const std::string& requester);

  // Like Request; when granted the slot is also marked in use until the
  // matching Release, so it cannot go idle during a long stream.
  Decision Acquire(const std::string& requester);

  // Ends one use begun by a granted Acquire; the idle time starts again.
  void Release(const std::string& requester);

  // Changes the number of slots now. Holders beyond a lower number keep
  // their slot until they leave it; nobody new is let in meanwhile.
  void SetMaxSlots(int max_slots);
  int max_slots();

  // Takes `requester`'s slot (even one in use) and queue place, and refuses
  // its requests for `duration`.
  void Suspend(const std::string& requester, absl::Duration duration);

  // Slots held and requesters queued now (after dropping expired ones).
  int active();
  int queued();

  const Options& options() const { return options_; }

 private:
  struct Holder {
    absl::Time granted_at;
    absl::Time last_active;
    int in_use = 0;
    bool optimistic = false;  // Holds the optimistic slot.
  };
  struct Waiter {
    std::string requester;
    absl::Time last_seen;
  };

  Decision RequestLocked(const std::string& requester, bool use)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Frees idle slots and drops stale queue places.
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The waiters (and `newcomer`, when not empty, as if queued last) in the
  // order they are served. Sets `*optimistic` to the one that would take the
  // optimistic slot ("" when none).
  std::vector<std::string> RankLocked(const std::string& newcomer,
                                      std::string* optimistic)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock* const clock_;
  const CreditFunction credit_;

  absl::Mutex mu_;
  int max_slots_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Holder> holders_ ABSL_GUARDED_BY(mu_);
  // In arrival order; `waiting_` indexes it.
  std::list<Waiter> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::list<Waiter>::iterator> waiting_
      ABSL_GUARDED_BY(mu_);
  // Suspended requesters, until when.
  std::map<std::string, absl::Time> suspended_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_UPLOAD_SLOTS_H_
