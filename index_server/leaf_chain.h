// The order in which the index applies a leaf's signed changes (see
// docs/decisions.md, "Signed leaf changes"). Pure bookkeeping over one
// peer's chain state, kept in PostgreSQL (peer_chains) and checked inside
// the transaction that applies the change.
//
// - A full list applies when its seq is above the last applied seq, or,
//   after the peer's sources were withdrawn by the index (its supernode
//   re-registered, lost its lease or was revoked), when it is at least the
//   seq of the last full list applied: the supernode may replay the leaf's
//   chain from its last full list (the chain then continues from it, so
//   the deltas after it replay in order), never anything older.
// - A delta applies only right after the change it names (prev_seq equal
//   to the last applied seq) and while the peer's sources are in place.
// - A gone applies when its seq is above the last applied seq; after it,
//   only a newer full list brings the peer back.
//
// Thread-compatible value types and pure functions.
#ifndef TROVE_INDEX_SERVER_LEAF_CHAIN_H_
#define TROVE_INDEX_SERVER_LEAF_CHAIN_H_

#include <cstdint>

#include "absl/status/status.h"

namespace trove {
namespace index_server {

// What the index remembers of one peer's chain.
struct ChainState {
  // The seq of the last change applied.
  int64_t last_seq = 0;
  // The lowest seq a full list may carry after the peer's sources were
  // withdrawn (the last full list applied, or one above the last gone).
  int64_t full_floor = 0;
  // True when the index withdrew the peer's sources (not the leaf): a full
  // list at or above full_floor may restore them.
  bool withdrawn = false;
};

// The kind and position of one signed change.
struct ChainLink {
  int64_t seq = 0;
  int64_t prev_seq = 0;
  bool full = false;
  bool gone = false;
};

// OK when `link` may be applied after `state` (null: the peer has no chain
// yet). FAILED_PRECONDITION for a delta out of order (the leaf should send
// its full list); ALREADY_EXISTS for a change whose seq was passed already
// (a replay, or a change older than what was applied).
absl::Status CheckLink(const ChainState* state, const ChainLink& link);

// The state after applying `link` (REQUIRES: CheckLink was OK).
ChainState Advance(const ChainState* state, const ChainLink& link);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_LEAF_CHAIN_H_
