// CatalogStore: everything the index service keeps, behind one interface
// (PgIndexStore, on PostgreSQL). IndexStore adds Search, which a running
// index answers from memory (IndexedStore).
#ifndef TROVE_INDEX_SERVER_STORE_H_
#define TROVE_INDEX_SERVER_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/search/query.h"
#include "protos/index.pb.h"
#include "protos/types.pb.h"

namespace trove {
namespace index_server {

// What a supernode tells the index when it registers.
struct SupernodeRegistration {
  std::string supernode_id;
  std::string address;
  Capacity capacity;
  // Hex SHA-256 of the session token granted by this registration; empty: none
  // (the supernode proved no key; only when the index does not require
  // one).
  std::string session_hash;
};

// What the caller of one store call allows it: until when it waits for the
// answer, and a way to learn that it gave up earlier. A store stops work
// for a caller that gave up (statements are cancelled, nothing is
// committed) and answers DEADLINE_EXCEEDED or CANCELLED.
struct CallContext {
  absl::Time deadline = absl::InfiniteFuture();
  // True once the caller went away; may be empty.
  std::function<bool()> cancelled;

  bool GaveUp() const {
    return absl::Now() >= deadline || (cancelled && cancelled());
  }
};

// What one expiry pass removed.
struct ExpiryStats {
  // False when another index replica was running a pass at the same time
  // (this one then did nothing).
  bool ran = false;
  int64_t supernodes = 0;
  int64_t peers = 0;
  int64_t sources = 0;
};

// The catalog of record: supernodes and their leases, peers, files and
// their sources. Implementations are thread-safe and may be shared by many
// index replicas (all state lives in the store; time is the store's clock).
// Each call takes the caller's CallContext.
//
// Inputs are expected to be validated by the caller (the service does it
// with common/validation); implementations still never crash on bad input
// and never store part of a refused request.
//
// Errors common to all methods: UNAVAILABLE when the store cannot be
// reached (retry later), ABORTED when a conflicting concurrent change won
// (retry), DEADLINE_EXCEEDED when a statement ran too long, INTERNAL for
// anything else unexpected.
class CatalogStore {
 public:
  virtual ~CatalogStore() = default;

  // Creates the supernode, or updates its address and capacity, and sets its
  // lease to end `lease` from now. A registration starts the supernode
  // afresh: the sources and peers it published before are dropped, whether
  // its lease had ended or not (a supernode registers when it starts, which
  // may be a restart within its old lease, and when it lost its lease; it
  // then publishes every leaf's full list again). Returns the new
  // registration's generation (see index.PublishDeltasRequest.generation).
  virtual absl::StatusOr<int64_t> RegisterSupernode(
      const SupernodeRegistration& reg, absl::Duration lease,
      const CallContext& call) = 0;

  // Moves the end of a live lease to `lease` from now and records
  // `leaf_count`. NOT_FOUND when the supernode is unknown or its lease has
  // ended (it must register and publish again); UNAUTHENTICATED when its
  // registration has a session and `session_hash` is not its hash;
  // PERMISSION_DENIED when its key was revoked.
  virtual absl::Status RenewLease(const std::string& supernode_id,
                                  const std::string& session_hash,
                                  int32_t leaf_count, absl::Duration lease,
                                  const CallContext& call) = 0;

  // Ends the lease of `supernode_id` now when its current registration is
  // `generation` (0: whichever is current); what it published goes at the
  // next ExpireDeadSupernodes. OK when there was no live lease.
  virtual absl::Status EndLease(const std::string& supernode_id,
                                int64_t generation, const CallContext& call) {
    (void)supernode_id;
    (void)generation;
    (void)call;
    return absl::UnimplementedError("this store cannot end a lease early");
  }

  // Applies the deltas of `request`, in order, as one transaction: all or
  // nothing. `partial` entries are stored as partial sources (partial=true);
  // for one (peer, cid) the last announcement wins, and a cid both added and
  // partial in one delta is complete. A peer belongs to the supernode that
  // sent its changes: a `full` list takes the peer over with all its
  // sources, wherever they were published. A `gone` withdraws only what the
  // requesting supernode holds for the peer (a peer that moved on keeps
  // what it published through its new supernode), and a plain delta (no
  // `full`) for a peer that another supernode with a live lease holds is
  // stale and skipped. Returns how many source rows were added or changed,
  // and removed.
  // The request's session must be the supernode's current one (when its
  // registration has one): UNAUTHENTICATED otherwise. A delta with a seq
  // (set by the service from the leaf's verified signed change) applies
  // only in the leaf's order (leaf_chain.h); one out of order is left out
  // and listed in the response's `refused`, the rest still applies.
  // A request with a generation (not 0) is applied only while that
  // registration is current and when no batch with a higher number was
  // applied from it: a batch whose sender gave up and sent its changes again
  // never lands after them. Nothing is committed once the caller gave up.
  // FAILED_PRECONDITION when the supernode holds no live lease or the
  // generation is over; ABORTED when a later batch was applied;
  // INVALID_ARGUMENT when the store itself rejects a value (nothing stored).
  // A store that can tell cheaply lists in the response's `standing` since
  // when it has known each peer whose full list it applied.
  virtual absl::StatusOr<index::PublishDeltasResponse> ApplyDeltas(
      const index::PublishDeltasRequest& request, const CallContext& call) = 0;

  // Size, the most common name (among complete sources when there are
  // any), and up to `limit` live sources of `cid`, complete ones first,
  // then partial ones (flagged partial). NOT_FOUND when the cid is unknown
  // or has no live source, complete or partial. REQUIRES: limit > 0.
  virtual absl::StatusOr<index::LocateResponse> Locate(
      const std::string& cid, int limit, const CallContext& call) = 0;
  // True when Locate answers from memory, without waiting on the database
  // (the service then answers on the thread that received the call).
  virtual bool LocatesInMemory() const { return false; }

  // Up to `limit` supernodes with a live lease, least loaded first.
  virtual absl::StatusOr<std::vector<index::SupernodeInfo>> LiveSupernodes(
      int limit, const CallContext& call) = 0;

  // Deletes supernodes whose lease has ended, with their peers and sources.
  // Idempotent; safe to run from several replicas at once (one does the
  // work, the others return ran=false).
  virtual absl::StatusOr<ExpiryStats> ExpireDeadSupernodes() = 0;
};

// The catalog with search: what the index service runs on.
class IndexStore : public CatalogStore {
 public:
  // The page `query` asks for, over the names of complete sources: each
  // hit is one cid with the name most of its sources use and how many
  // sources hold it (partial sources, downloads in progress, neither match
  // nor count; they show in Locate). The rules are those of
  // common/search/matcher.h, the same as every supernode's.
  // UNAVAILABLE while the catalog is still being loaded;
  // DEADLINE_EXCEEDED when the caller's deadline passes first.
  virtual absl::StatusOr<search::SearchPage> Search(
      const search::ParsedQuery& query, const CallContext& call) = 0;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_STORE_H_
