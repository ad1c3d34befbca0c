// The leaves of a supernode: who they are, their sessions, and what they
// share.
//
// A leaf asks for a challenge (a random one-time nonce), signs
// "trove-join-v1" || nonce || listen_address with its Ed25519 key and joins;
// its peer id is the SHA-256 of its public key, so no leaf can speak for
// another. It gets a session token, publishes its full file list and then
// deltas, and heartbeats. A leaf that stays silent for longer than the
// session timeout is dropped and its files withdrawn. A leaf that joins
// again replaces its earlier session (its files stay until it publishes).
//
// A leaf's change may come signed (a serialised LeafChange, checked by the
// caller with VerifyLeafChange): the registry then checks that it names
// this leaf and this supernode and follows the leaf's previous signed
// change, applies it, and passes the signed bytes on unchanged (never
// skipped, even when nothing changes, so the index sees the leaf's whole
// chain). It keeps each leaf's signed changes since its last full list, to
// send them again after the index lost this supernode's state. A signed
// leaf that goes silent is not withdrawn by the supernode (the index
// withdraws it when its signed presence runs out).
//
// Every change to what leaves share is passed, in order, to a CatalogSink
// (the index forwarder) as an index PeerDelta: complete files in `added`,
// files held in part (downloads in progress) in `partial`, withdrawn ones
// (complete or partial) in `removed`; a full list carries both lists.
//
// Thread-safe.
#ifndef TROVE_SUPERNODE_LEAF_REGISTRY_H_
#define TROVE_SUPERNODE_LEAF_REGISTRY_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "protos/index.pb.h"
#include "protos/supernode.pb.h"
#include "protos/types.pb.h"
#include "common/clock.h"
#include "supernode/inverted_index.h"

namespace trove {
namespace supernode {

// Receives the catalog changes of leaves, in the order they happened.
class CatalogSink {
 public:
  virtual ~CatalogSink() = default;
  // Called with the registry's lock held, so it must be quick and must not
  // call back into the registry.
  virtual void OnPeerDelta(index::PeerDelta delta) = 0;
};

class LeafRegistry {
 public:
  struct Options {
    // How long a challenge nonce may be used.
    absl::Duration challenge_ttl = absl::Seconds(60);
    // Most nonces handed out and not yet used. Beyond it new challenges are
    // refused (RESOURCE_EXHAUSTED) until some expire or are used: pending
    // nonces are never evicted by others' requests.
    size_t max_pending_challenges = 10000;
    // Most pending nonces per asker (its address); beyond it that asker's
    // own oldest nonce goes, nobody else's.
    size_t max_challenges_per_asker = 16;
    // Leading zero bits of the proof of work a join must carry
    // (common/join_work.h); 0: none.
    int join_work_bits = 0;
    // A leaf silent for longer is dropped.
    absl::Duration session_timeout = absl::Seconds(90);
    // Most leaves at once.
    int max_leaves = 1000;
    // Most complete files, and most partial files, per leaf.
    int max_files_per_leaf = 200000;
    // Memory budgets (see docs/security.md for what they hold in memory):
    // bytes of names per leaf (complete and partial files), and over all
    // leaves, files (complete and partial) and bytes of names. A change
    // that would go over one is refused whole with RESOURCE_EXHAUSTED
    // naming the budget; what was stored stays as it was.
    size_t max_name_bytes_per_leaf = 16u << 20;
    size_t max_files_total = 500000;
    size_t max_name_bytes_total = 48u << 20;
    // The search index of the leaves' files.
    InvertedIndex::Options index;
    // This supernode's id, which leaves' signed changes must name; empty:
    // not checked.
    std::string supernode_id;
  };

  // A leaf's signed change: the fields the registry checks, and the bytes
  // and signature it forwards.
  struct SignedChange {
    std::string peer_id;
    std::string supernode_id;
    int64_t seq = 0;
    int64_t prev_seq = 0;
    bool full = false;
    bool gone = false;
    std::string bytes;
    std::string signature;
  };

  // What a successful Join gives the leaf.
  struct JoinResult {
    std::string peer_id;
    std::string session;
  };

  // A leaf as the registry sees it, for status and tests.
  struct LeafInfo {
    std::string peer_id;
    std::string address;
    Capacity capacity;
    absl::Time joined;
    // Since when it has been known: `joined`, or earlier when the index
    // said it knew the peer before (LearnKnownSince).
    absl::Time known_since;
    absl::Time last_seen;
    size_t file_count = 0;
    size_t partial_count = 0;
  };

  // What the leaves know of a cid.
  struct LocalSources {
    int64_t size = 0;
    std::string name;
    // Complete sources first, then partial ones; sorted by peer id within.
    std::vector<Source> sources;
  };

  // `clock` must outlive the registry. `sink` may be null (no forwarding)
  // and must outlive the registry too.
  LeafRegistry(Options options, Clock* clock, CatalogSink* sink);
  LeafRegistry(const LeafRegistry&) = delete;
  LeafRegistry& operator=(const LeafRegistry&) = delete;

  // A fresh random nonce for Join, usable once within challenge_ttl, handed
  // to `asker` (the caller's address; "" for in-process callers). An asker
  // holding max_challenges_per_asker nonces loses its own oldest one;
  // RESOURCE_EXHAUSTED, saying when to retry, when max_pending_challenges
  // are pending in all.
  absl::StatusOr<std::string> Challenge(absl::string_view asker = "");
  // The proof of work asked of joins, told with each nonce.
  int join_work_bits() const { return options_.join_work_bits; }
  // Nonces handed out and not yet used or expired.
  size_t pending_challenges() const;

  // Admits a leaf. REQUIRES: the request's fields have been validated
  // (lengths, address). The nonce is used up by this call whatever its
  // outcome. UNAUTHENTICATED for an unknown, used or expired nonce or a bad
  // signature; PERMISSION_DENIED when the proof of work falls short;
  // INVALID_ARGUMENT for a key or signature of the wrong length;
  // RESOURCE_EXHAUSTED when max_leaves other leaves are joined.
  absl::StatusOr<JoinResult> Join(const JoinRequest& request);

  // Applies a leaf's full list or delta; returns how many complete files the
  // leaf now has. REQUIRES: every entry and cid has been validated. With
  // `full`, `added` replaces the leaf's list and `partial` its partial list
  // (`removed` is ignored). Otherwise `removed` is applied first (a cid both
  // removed and added ends up added), a cid added leaves the partial list,
  // and a partial entry is kept only for a cid the leaf does not hold whole.
  // Later entries for the same cid replace earlier ones.
  // UNAUTHENTICATED for an unknown session; INVALID_ARGUMENT when the leaf
  // would hold more than max_files_per_leaf files (nothing is applied).
  // Counts as a heartbeat.
  // With `signed_change` (the same change as the leaf signed it):
  // PERMISSION_DENIED when it names another peer or supernode;
  // FAILED_PRECONDITION when it is a delta that does not follow the leaf's
  // previous signed change (the leaf should send its full list).
  absl::StatusOr<int> Publish(const supernode::PublishRequest& request,
                              const SignedChange* signed_change = nullptr);

  // Keeps a session alive; `presence` / `presence_signature` (may be
  // empty) are the leaf's latest signed presence, kept for Presences().
  // Returns true when the leaf should send its full list again.
  // NOT_FOUND when the session is unknown or has expired.
  absl::StatusOr<bool> Heartbeat(const std::string& session,
                                 const std::string& presence = "",
                                 const std::string& presence_signature = "");

  // Ends a session and withdraws the leaf's files (with `signed_gone`, the
  // leaf's signed gone is what is forwarded). NOT_FOUND when unknown;
  // PERMISSION_DENIED / FAILED_PRECONDITION as for Publish.
  absl::Status Leave(const std::string& session,
                     const SignedChange* signed_gone = nullptr);

  // Ends the leaf's session and forgets its files here, without sending a
  // withdrawal to the index (used for a peer the operator banned: the
  // index removed its sources itself). False when it is not joined.
  bool Drop(const std::string& peer_id);

  // Marks the leaf as having to send its full list again (the index
  // refused one of its changes as out of order).
  void NeedFull(const std::string& peer_id);

  // Every leaf's latest signed presence.
  std::vector<index::SignedPresence> Presences() const;

  // The index says it has known `peer_id` since `since` (the index's
  // durable record, never the leaf's own claim). When the peer is joined
  // and that is earlier than what the registry knew, its files vote on
  // names and its bad-source reports weigh by that age from now on; a time
  // in the future counts as now. Returns whether anything changed. The
  // record lasts while the leaf stays joined.
  bool LearnKnownSince(const std::string& peer_id, absl::Time since);

  // The peer id of a live session. NOT_FOUND when unknown.
  absl::StatusOr<std::string> PeerOfSession(const std::string& session);

  // Drops the leaves silent for longer than the session timeout (their
  // files withdrawn) and forgets expired nonces. Returns how many leaves
  // were dropped.
  int ExpireIdle();

  // Searches the leaves' files (see InvertedIndex::Search).
  // REQUIRES: the query has been validated.
  absl::StatusOr<search::SearchPage> Search(
      const search::ParsedQuery& query) const;

  // The leaves holding `cid` whole or in part; nullopt when none.
  std::optional<LocalSources> Locate(const std::string& cid) const;

  // Passes every leaf's full list to the sink again (after the index lost
  // this supernode's state). Returns how many leaves.
  int ResendAll();

  // Whether `peer_id` is joined.
  bool IsJoined(const std::string& peer_id) const;

  // How many leaves are joined.
  int leaf_count() const;
  // A leaf's state, or nullopt.
  std::optional<LeafInfo> GetLeaf(const std::string& peer_id) const;
  // All leaves' entries.
  size_t file_count() const;
  // What the budgets count now: files (complete and partial) and bytes of
  // their names, over all leaves.
  struct Usage {
    int64_t files = 0;
    int64_t name_bytes = 0;
  };
  Usage usage() const;

 private:
  struct Leaf {
    std::string peer_id;
    std::string session;
    std::string address;
    Capacity capacity;
    absl::Time joined;
    absl::Time known_since;
    absl::Time last_seen;
    // Cids held in part, with their entries.
    std::map<std::string, FileEntry> partial;
    // Signed changes: the seq of the last one, and the leaf's signed changes
    // since its last signed full list (signed_change and signature only).
    int64_t last_seq = 0;
    std::vector<index::PeerDelta> chain;
    // The leaf must send its full list again.
    bool need_full = false;
    // Its latest signed presence.
    index::SignedPresence presence;
    // Its files (complete and partial) and their bytes of names, as the
    // budgets count them.
    Usage usage;
  };

  // OK when `leaf` may hold `after` (its files and bytes of names after a
  // change); RESOURCE_EXHAUSTED naming the budget otherwise.
  absl::Status CheckBudgetsLocked(const Leaf& leaf, const Usage& after) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records that `leaf` now holds `after`.
  void SetUsageLocked(Leaf& leaf, const Usage& after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Checks `signed_change` against `leaf` (see Publish).
  absl::Status CheckSignedLocked(const Leaf& leaf,
                                 const SignedChange& signed_change) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forwards `signed_change` and keeps it in the leaf's chain.
  void EmitSignedLocked(Leaf& leaf, const SignedChange& signed_change,
                        index::PeerDelta delta)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Counts the votes on names of leaves that came of age (see
  // InvertedIndex::Settle), when some did.
  void SettleIfDue() const ABSL_LOCKS_EXCLUDED(mu_);

  Leaf* LeafOfSessionLocked(const std::string& session)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveLeafLocked(const std::string& peer_id, bool withdraw)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetPartialLocked(Leaf& leaf, const FileEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearPartialLocked(Leaf& leaf, const std::string& cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireChallengesLocked(absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EmitFullLocked(const Leaf& leaf) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(index::PeerDelta delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock* const clock_;
  CatalogSink* const sink_;

  mutable absl::Mutex mu_;
  // A nonce handed out: when it stops being valid, and to whom.
  struct PendingChallenge {
    absl::Time expires;
    std::string asker;
  };
  // Forgets the pending nonce at `it`.
  void EraseChallengeLocked(
      absl::flat_hash_map<std::string, PendingChallenge>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Nonce -> its state; and the order they were made in (with nonces used
  // early left behind until compacted).
  absl::flat_hash_map<std::string, PendingChallenge> challenges_
      ABSL_GUARDED_BY(mu_);
  std::deque<std::string> challenge_order_ ABSL_GUARDED_BY(mu_);
  // Asker -> its nonces, oldest first (possibly with used ones left behind),
  // and how many of them are pending.
  struct AskerChallenges {
    std::deque<std::string> order;
    size_t pending = 0;
  };
  absl::flat_hash_map<std::string, AskerChallenges> askers_
      ABSL_GUARDED_BY(mu_);
  // Peer id -> leaf.
  absl::flat_hash_map<std::string, Leaf> leaves_ ABSL_GUARDED_BY(mu_);
  // Session token -> peer id.
  absl::flat_hash_map<std::string, std::string> sessions_
      ABSL_GUARDED_BY(mu_);
  // Complete files of all leaves.
  InvertedIndex index_ ABSL_GUARDED_BY(mu_);
  // What all leaves hold, as the budgets count it.
  Usage total_ ABSL_GUARDED_BY(mu_);
  // Cid -> peers holding it in part.
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>
      partial_holders_ ABSL_GUARDED_BY(mu_);
};

// A join's proof: `work` meets `work_bits` for its nonce and key
// (common/join_work.h), and `signature` is the key's over
// JoinSignedMessage(nonce, listen_address). PERMISSION_DENIED for short
// work; UNAUTHENTICATED or INVALID_ARGUMENT for a bad signature. Pure; the
// registry calls it once the nonce is known to be live.
absl::Status CheckJoinProof(const JoinRequest& request, int work_bits);

// `bytes` random bytes from the system's secure generator.
std::string SecureRandomBytes(size_t bytes);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_LEAF_REGISTRY_H_
