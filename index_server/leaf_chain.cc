#include "index_server/leaf_chain.h"

#include "absl/strings/str_cat.h"

namespace trove {
namespace index_server {

absl::Status CheckLink(const ChainState* state, const ChainLink& link) {
  if (link.seq <= 0) {
    return absl::InvalidArgumentError("a change's seq must be positive");
  }
  if (link.full || link.gone) {
    if (state == nullptr || link.seq > state->last_seq) return absl::OkStatus();
    if (link.full && state->withdrawn && link.seq >= state->full_floor) {
      return absl::OkStatus();
    }
    return absl::AlreadyExistsError(absl::StrCat(
        link.full ? "full list" : "gone", " seq ", link.seq,
        " is not newer than the peer's last applied change (seq ",
        state->last_seq, "): a replay or a stale change"));
  }
  if (state == nullptr) {
    return absl::FailedPreconditionError(
        "a delta for a peer whose full list the index does not hold; send "
        "the full list");
  }
  if (state->withdrawn) {
    return absl::FailedPreconditionError(
        "the peer's sources were withdrawn; send the full list");
  }
  if (link.seq <= state->last_seq) {
    return absl::AlreadyExistsError(
        absl::StrCat("delta seq ", link.seq, " was passed already (last ",
                     state->last_seq, "): a replay"));
  }
  if (link.prev_seq != state->last_seq) {
    return absl::FailedPreconditionError(absl::StrCat(
        "delta seq ", link.seq, " follows seq ", link.prev_seq,
        " but the last applied is ", state->last_seq,
        ": a change is missing; send the full list"));
  }
  return absl::OkStatus();
}

ChainState Advance(const ChainState* state, const ChainLink& link) {
  ChainState next = state == nullptr ? ChainState() : *state;
  // Above the last seq, except for a full list replayed after a
  // withdrawal: the chain then continues from it, so the leaf's deltas
  // after it can be replayed in order too.
  next.last_seq = link.seq;
  if (link.full) {
    next.full_floor = link.seq;
    next.withdrawn = false;
  } else if (link.gone) {
    next.full_floor = link.seq + 1;
    next.withdrawn = true;
  }
  return next;
}

}  // namespace index_server
}  // namespace trove
