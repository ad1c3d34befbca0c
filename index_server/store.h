// IndexStore: everything the index service keeps, behind one interface.
// The production implementation is PgIndexStore (PostgreSQL); an in-memory
// search index can later take Search over while writes still go through
// here.
#ifndef TROVE_INDEX_SERVER_STORE_H_
#define TROVE_INDEX_SERVER_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/index.pb.h"
#include "protos/types.pb.h"

namespace trove {
namespace index_server {

// What a supernode tells the index when it registers.
struct SupernodeRegistration {
  std::string supernode_id;
  std::string address;
  Capacity capacity;
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
//
// Inputs are expected to be validated by the caller (the service does it
// with common/validation); implementations still never crash on bad input
// and never store part of a refused request.
//
// Errors common to all methods: UNAVAILABLE when the store cannot be
// reached (retry later), ABORTED when a conflicting concurrent change won
// (retry), DEADLINE_EXCEEDED when a statement ran too long, INTERNAL for
// anything else unexpected.
class IndexStore {
 public:
  virtual ~IndexStore() = default;

  // Creates the supernode, or updates its address and capacity, and sets its
  // lease to end `lease` from now. A registration starts the supernode
  // afresh: the sources and peers it published before are dropped, whether
  // its lease had ended or not (a supernode registers when it starts, which
  // may be a restart within its old lease, and when it lost its lease; it
  // then publishes every leaf's full list again).
  virtual absl::Status RegisterSupernode(const SupernodeRegistration& reg,
                                         absl::Duration lease) = 0;

  // Moves the end of a live lease to `lease` from now and records
  // `leaf_count`. NOT_FOUND when the supernode is unknown or its lease has
  // ended (it must register and publish again).
  virtual absl::Status RenewLease(const std::string& supernode_id,
                                  int32_t leaf_count, absl::Duration lease) = 0;

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
  // FAILED_PRECONDITION when the supernode holds no live lease;
  // INVALID_ARGUMENT when the store itself rejects a value (nothing stored).
  virtual absl::StatusOr<index::PublishDeltasResponse> ApplyDeltas(
      const index::PublishDeltasRequest& request) = 0;

  // Searches names of live sources: every word of query.text must occur in
  // a name as a whole word, part of a word, or a close misspelling; size and
  // extension filters apply. One hit per cid. Order: cids whose names
  // contain every word exactly before those matched only by misspelling;
  // then most live sources; then name closest to the query. At most `limit`
  // hits. The hit's name is the most common name among the cid's matching
  // live sources; source_count counts all its live sources. Only complete
  // sources count here: partial ones (downloads in progress) neither match
  // nor count, so a cid that only partial sources hold is not found (they
  // show in Locate).
  // REQUIRES: limit > 0. INVALID_ARGUMENT when the text has no word or more
  // than kMaxQueryWords words.
  virtual absl::StatusOr<std::vector<SearchHit>> Search(const SearchQuery& query,
                                                       int limit) = 0;

  // Size, the most common name (among complete sources when there are
  // any), and up to `limit` live sources of `cid`, complete ones first,
  // then partial ones (flagged partial). NOT_FOUND when the cid is unknown
  // or has no live source, complete or partial. REQUIRES: limit > 0.
  virtual absl::StatusOr<index::LocateResponse> Locate(const std::string& cid,
                                                       int limit) = 0;

  // Up to `limit` supernodes with a live lease, least loaded first.
  virtual absl::StatusOr<std::vector<index::SupernodeInfo>> LiveSupernodes(
      int limit) = 0;

  // Deletes supernodes whose lease has ended, with their peers and sources.
  // Idempotent; safe to run from several replicas at once (one does the
  // work, the others return ran=false).
  virtual absl::StatusOr<ExpiryStats> ExpireDeadSupernodes() = 0;

  // Deletes files that no source shares and that nobody announced for at
  // least `min_age`. Returns how many. Idempotent.
  virtual absl::StatusOr<int64_t> DeleteOrphanFiles(absl::Duration min_age) = 0;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_STORE_H_
