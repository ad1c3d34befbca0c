// Forwards the leaves' catalog changes to the index in batches, and keeps
// this supernode registered there.
//
// Changes arrive per peer (OnPeerDelta, from the LeafRegistry) and are
// coalesced per peer while they wait: a full list replaces whatever was
// pending for that peer (its partial list too), "gone" replaces everything,
// and deltas fold into what is pending. Partial files (downloads in
// progress, PeerDelta.partial) coalesce like added ones; for one cid the
// last change wins, so a file that becomes complete moves from partial to
// added, and a removal withdraws it either way. A batch goes out as one
// PublishDeltas call when batch_max_entries files are pending or
// batch_max_delay has passed since the first pending change, whichever
// comes first.
//
// At start the forwarder registers with the index and then renews the lease
// as often as the index asks. When the index says the lease is gone
// (RenewLease NOT_FOUND, PublishDeltas FAILED_PRECONDITION: it restarted or
// this supernode was cut off too long) it registers again and sends every
// leaf's full list again. A registration makes the index drop whatever this
// supernode published before (also after a restart within the old lease),
// so every registration is followed by every leaf's full list: after the
// first one nothing was published yet and every change since start is
// still pending; after later ones the registry re-sends all (resend_all).
// When the index cannot be reached, changes stay pending (coalesced; beyond
// max_pending_entries the pending lists are replaced by fresh full lists,
// which are bounded by the leaves' files) and are retried with exponential
// backoff. Nothing is dropped except a change the index refuses as invalid.
//
// Every attempt to send a batch carries the registration's generation and a
// number that grows with each attempt, retries included. A batch retried
// after a timeout is merged with the changes that came after it; the index
// refuses the earlier attempt if it shows up late, so a withdrawn file can
// never come back from a batch the forwarder gave up on.
//
// Leaves' signed changes (PeerDelta.signed_change) are never merged or
// rewritten: the index verifies the leaf's signature over the bytes and
// applies them only in the leaf's order. They queue per peer in order; a
// signed full list or gone replaces what is queued for the peer. When the
// index refuses a leaf's change as out of order, the forwarder asks the
// registry (Hooks.need_full) to have the leaf send its full list again.
//
// With a signing key (Options.identity) the forwarder registers by signing
// a nonce from SupernodeChallenge, and carries the session the index grants
// in every renewal and batch; a call refused as UNAUTHENTICATED makes it
// register again.
//
// All the work is done by RunOnce(), which Start() calls from a background
// thread; tests call RunOnce() directly with a fake clock instead.
//
// Thread-safe.
#ifndef TROVE_SUPERNODE_INDEX_FORWARDER_H_
#define TROVE_SUPERNODE_INDEX_FORWARDER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/index.pb.h"
#include "protos/types.pb.h"
#include "common/clock.h"
#include "common/identity.h"
#include "supernode/index_client.h"
#include "supernode/leaf_registry.h"

namespace trove {
namespace supernode {

class IndexForwarder : public CatalogSink {
 public:
  struct Options {
    // This supernode's id: 64 lowercase hex digits.
    std::string supernode_id;
    // The key to register with (its id must be supernode_id); null: the
    // registration is unsigned (accepted only by an index that does not
    // require enrolled keys). Must outlive the forwarder.
    const Identity* identity = nullptr;
    // host:port where leaves reach this supernode, as told to the index.
    std::string address;
    // Told to the index at registration.
    Capacity capacity;
    // Flush when this many files (added + partial + removed; a "gone"
    // counts one) are pending.
    int batch_max_entries = 1000;
    // Flush when the oldest pending change is this old.
    absl::Duration batch_max_delay = absl::Seconds(2);
    // ... or when a leaf's full list (a leaf that joined, or moved here
    // from a supernode that died) has waited this long: it decides which
    // supernode the index routes the leaf through, so it goes out quickly.
    absl::Duration full_list_max_delay = absl::Milliseconds(200);
    // Most deltas in one PublishDeltas call (the index's limit), and most
    // files in one delta: a longer list goes as several deltas of the same
    // call (a full list first, then additions).
    int max_deltas_per_batch = 1000;
    int max_files_per_delta = 100000;
    // Beyond this many pending entries, replace the pending lists by full
    // lists from the registry.
    size_t max_pending_entries = 2000000;
    // Backoff between attempts when the index fails.
    absl::Duration retry_initial = absl::Milliseconds(250);
    absl::Duration retry_max = absl::Seconds(4);
    // Deadline of each call to the index.
    absl::Duration rpc_timeout = absl::Seconds(10);
    // Renew this often; zero: as the index says.
    absl::Duration renew_interval = absl::ZeroDuration();
  };

  // What the forwarder asks of the leaves' registry.
  struct Hooks {
    // How many leaves are joined (for RenewLease).
    std::function<int()> leaf_count;
    // Makes the registry pass every leaf's full list to OnPeerDelta again.
    // Never called with the forwarder's lock held.
    std::function<void()> resend_all;
    // The index refused a leaf's change as out of order: the leaf should
    // send its full list again. May be empty. Never called with the
    // forwarder's lock held.
    std::function<void(const std::string& peer_id)> need_full;
    // The leaves' latest signed presences, sent with each renewal. May be
    // empty. Never called with the forwarder's lock held.
    std::function<std::vector<index::SignedPresence>()> presences;
    // Each lease the index granted or renewed (it carries the bans and
    // takedowns). May be empty. Never called with the forwarder's lock
    // held.
    std::function<void(const index::LeaseResponse&)> on_lease;
    // The index said since when it has known a peer whose full list it
    // applied (PublishDeltasResponse.standing). May be empty. Never called
    // with the forwarder's lock held.
    std::function<void(const std::string& peer_id, absl::Time known_since)>
        known_since;
  };

  // Counters, for status pages and tests.
  struct Stats {
    int64_t registrations = 0;
    int64_t batches_sent = 0;
    int64_t deltas_sent = 0;
    int64_t publish_failures = 0;
    int64_t deltas_rejected = 0;
    int64_t resyncs = 0;
    // Leaves' changes the index refused on their own (out of order, replays).
    int64_t changes_refused = 0;
  };

  // `client` and `clock` must outlive the forwarder.
  IndexForwarder(Options options, IndexClient* client, Clock* clock);
  ~IndexForwarder() override;
  IndexForwarder(const IndexForwarder&) = delete;
  IndexForwarder& operator=(const IndexForwarder&) = delete;

  // REQUIRES: called before Start() and before any RunOnce().
  void SetHooks(Hooks hooks);

  // Sets the address told to the index (before Start(), or the next
  // registration uses it).
  void SetAddress(const std::string& address);

  // CatalogSink: queues one peer's change.
  void OnPeerDelta(index::PeerDelta delta) override;

  // Does whatever is due now: register, renew, resync, publish one batch.
  // Returns how long until something may next be due. REQUIRES: not called
  // concurrently with itself (the background thread, when started, is the
  // only caller).
  absl::Duration RunOnce();

  // Starts the background thread.
  void Start();

  // Stops the background thread, then tries to publish everything pending
  // until it is sent or `deadline` (real time) passes. Idempotent.
  void Stop(absl::Time deadline);

  // Whether the supernode holds a lease, as far as the forwarder knows.
  bool registered() const;
  // Pending entries, as counted for batch_max_entries.
  size_t pending_entries() const;
  // Peers with pending changes.
  size_t pending_peers() const;
  // Other live supernodes, from the index's Bootstrap at the last renewal.
  std::vector<index::SupernodeInfo> other_supernodes() const;
  Stats stats() const;
  // How often the lease is renewed (as the index said, or the option).
  absl::Duration renew_every() const;

 private:
  // What is pending for one peer.
  struct Pending {
    // kSigned: `chain` holds a leaf's signed changes, in order, sent as
    // they are.
    enum Kind { kDelta, kFull, kGone, kSigned };
    Kind kind = kDelta;
    std::string address;
    // Cid -> entry; for kFull the whole list.
    std::map<std::string, FileEntry> added;
    // Cid -> entry of files held in part; for kFull the whole partial list.
    // Disjoint from `added`.
    std::map<std::string, FileEntry> partial;
    // For kDelta only; disjoint from `added` and `partial`.
    std::set<std::string> removed;
    // For kSigned: the leaf's signed changes (signed_change and signature
    // only), and how many files they carry.
    std::vector<index::PeerDelta> chain;
    size_t chain_entries = 0;
    size_t entries() const;
  };

  static Pending FromDelta(const index::PeerDelta& delta);
  // The deltas that carry `pending`, each within max_files_per_delta.
  std::vector<index::PeerDelta> ToDeltas(const std::string& peer_id,
                                         const Pending& pending) const;
  size_t DeltaCount(const Pending& pending) const;
  // Folds `newer` into `older`.
  static void Merge(Pending& older, Pending newer);

  // Puts `pending` for `peer_id` into the queue, after what is queued
  // (newer = true) or before it (newer = false: a batch that failed).
  void EnqueueLocked(const std::string& peer_id, Pending pending, bool newer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes about batch_max_entries entries out of the queue.
  std::vector<std::pair<std::string, Pending>> TakeBatchLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RestoreBatch(std::vector<std::pair<std::string, Pending>> batch,
                    absl::Time first_pending);

  // RegisterSupernode, signed when there is a key.
  absl::StatusOr<index::LeaseResponse> SignedRegister(
      index::RegisterSupernodeRequest req);
  // Passes on what the index said of a batch: since when it knew the
  // peers whose full lists it applied (Hooks.known_since), and the leaves'
  // changes it refused (Hooks.need_full).
  void HandleResponse(const index::PublishDeltasRequest& request,
                     const index::PublishDeltasResponse& response);

  // One attempt at each step. They take and release mu_ themselves.
  void TryRegister(absl::Time now);
  void TryRenew(absl::Time now);
  void RefreshSupernodes();
  // Sends one batch. Returns the status of the PublishDeltas call (OK when
  // nothing was pending).
  absl::Status PublishBatch(absl::Time now, absl::Duration timeout);
  absl::Duration NextBackoff(absl::Duration* backoff);

  void Loop();
  bool ShouldWake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || wake_;
  }

  const Options options_;
  IndexClient* const client_;
  Clock* const clock_;
  Hooks hooks_;
  const absl::Time started_;

  mutable absl::Mutex mu_;
  std::string address_ ABSL_GUARDED_BY(mu_);
  // The session of the current registration ("" when unsigned).
  std::string session_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  size_t pending_entries_ ABSL_GUARDED_BY(mu_) = 0;
  // The last peer put in a batch.
  std::string cursor_ ABSL_GUARDED_BY(mu_);
  absl::Time first_pending_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  size_t resync_threshold_ ABSL_GUARDED_BY(mu_);
  bool resync_wanted_ ABSL_GUARDED_BY(mu_) = false;

  bool registered_ ABSL_GUARDED_BY(mu_) = false;
  // The current registration's generation (0: the index does not fence).
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  // The number of the last attempt to send a batch.
  int64_t batch_number_ ABSL_GUARDED_BY(mu_) = 0;
  bool ever_registered_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_register_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration register_backoff_ ABSL_GUARDED_BY(mu_);
  absl::Time next_renew_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  absl::Duration renew_every_ ABSL_GUARDED_BY(mu_) = absl::Seconds(10);
  absl::Duration renew_backoff_ ABSL_GUARDED_BY(mu_);
  absl::Time next_publish_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration publish_backoff_ ABSL_GUARDED_BY(mu_);
  std::vector<index::SupernodeInfo> others_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);

  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<std::thread> thread_;
};

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_INDEX_FORWARDER_H_
