// Reduces an ordered batch of PeerDeltas to one net change per peer, so
// that a store can apply a whole batch with a fixed number of set-based
// statements instead of replaying it delta by delta.
// Pure functions; thread-safe.
#ifndef TROVE_INDEX_SERVER_DELTA_FOLD_H_
#define TROVE_INDEX_SERVER_DELTA_FOLD_H_

#include <string>
#include <vector>

#include "google/protobuf/repeated_field.h"
#include "protos/index.pb.h"
#include "protos/types.pb.h"

namespace trove {
namespace index_server {

// The net effect of a batch on one peer.
struct PeerChange {
  std::string peer_id;
  // The peer's last announced address; empty when `gone`.
  std::string address;
  // The peer left: withdraw all its sources and forget it.
  bool gone = false;
  // Every stored source of the peer that is not in `upserts` or `partials`
  // goes away (a full list, or changes after the peer was gone in the same
  // batch).
  bool replace = false;
  // Files to store as complete sources, one per cid (the last announcement
  // wins), in cid order. They point into the folded deltas, which must
  // outlive the change (a batch is folded without copying its files).
  std::vector<const FileEntry*> upserts;
  // Files to store as partial sources (downloads in progress), one per cid,
  // in cid order; disjoint from `upserts`. Point into the deltas too.
  std::vector<const FileEntry*> partials;
  // Cids to withdraw, whole or partial; disjoint from `upserts` and
  // `partials`. Empty when `replace`.
  std::vector<std::string> removals;
};

// Folds `deltas`, applied in order, into one PeerChange per peer (in order
// of each peer's first delta). Within one delta, `removed` is applied
// first, then `partial`, then `added`: a cid removed and re-announced stays
// shared, and a cid both partial and added is complete. For one cid the
// last announcement wins, so a partial entry after an added one makes the
// source partial again (a supernode only sends that after a removal). A
// delta with `gone` ignores its other fields; a `full` delta replaces
// everything before it, partial sources included.
// The changes' files point into `deltas`, which must outlive them.
// REQUIRES: nothing; works on unvalidated input (validation is separate).
std::vector<PeerChange> FoldDeltas(
    const google::protobuf::RepeatedPtrField<index::PeerDelta>& deltas);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_DELTA_FOLD_H_
