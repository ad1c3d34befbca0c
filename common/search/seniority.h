// Seniority: which peers are established, for the vote on the name a cid
// shows (SearchIndex::Standing). A peer is established once it has been
// known to the community for `establish_after`; until then its sources are
// newcomers. The index server and the supernode both keep one, keyed by
// their own peer handle, and ask it which peers came of age so that they
// can move those peers' sources (SearchIndex::Restand).
//
// Only the peers still newcomers are kept here (an entry each); a peer
// established at once costs nothing.
//
// Thread-compatible.
#ifndef TROVE_COMMON_SEARCH_SENIORITY_H_
#define TROVE_COMMON_SEARCH_SENIORITY_H_

#include <utility>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/search/search_index.h"

namespace trove {
namespace search {

// The standing of a peer known since `since`, at `now`.
inline SearchIndex::Standing StandingAt(absl::Time since, absl::Time now,
                                        absl::Duration establish_after) {
  return now - since >= establish_after ? SearchIndex::Standing::kEstablished
                                        : SearchIndex::Standing::kNewcomer;
}

template <typename Key>
class Seniority {
 public:
  // `establish_after` <= 0: every peer is established at once.
  explicit Seniority(absl::Duration establish_after)
      : establish_after_(establish_after) {}

  absl::Duration establish_after() const { return establish_after_; }

  // Starts (or restarts) watching `key`, known since `since`; returns its
  // standing at `now`. An established peer is not watched.
  SearchIndex::Standing Track(const Key& key, absl::Time since,
                              absl::Time now) {
    Forget(key);
    const SearchIndex::Standing standing =
        StandingAt(since, now, establish_after_);
    if (standing == SearchIndex::Standing::kNewcomer) {
      const absl::Time at = since + establish_after_;
      due_.emplace(key, at);
      pending_.emplace(at, key);
    }
    return standing;
  }

  // Stops watching `key` (it left, or came of age).
  void Forget(const Key& key) {
    auto it = due_.find(key);
    if (it == due_.end()) return;
    pending_.erase(std::make_pair(it->second, key));
    due_.erase(it);
  }

  // Whether some watched peer is established at `now`.
  bool AnyDue(absl::Time now) const {
    return !pending_.empty() && pending_.begin()->first <= now;
  }

  // When the next watched peer becomes established (InfiniteFuture when
  // none is watched).
  absl::Time NextDue() const {
    return pending_.empty() ? absl::InfiniteFuture() : pending_.begin()->first;
  }

  // The watched peers established at `now`, earliest first; no longer
  // watched.
  std::vector<Key> TakeDue(absl::Time now) {
    std::vector<Key> out;
    while (AnyDue(now)) {
      auto first = pending_.begin();
      out.push_back(first->second);
      due_.erase(first->second);
      pending_.erase(first);
    }
    return out;
  }

  // Peers watched (newcomers).
  size_t watched() const { return due_.size(); }

 private:
  const absl::Duration establish_after_;
  // (when it comes of age, peer), and the same by peer.
  absl::btree_set<std::pair<absl::Time, Key>> pending_;
  absl::flat_hash_map<Key, absl::Time> due_;
};

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_SENIORITY_H_
