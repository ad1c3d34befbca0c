#include "index_server/delta_fold.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace trove {
namespace index_server {
namespace {

// Working state of one peer while folding. Keys and entries point into
// the deltas: a batch of full lists is folded without copying a file.
struct Working {
  std::string address;
  bool gone = false;
  bool replace = false;
  absl::flat_hash_map<absl::string_view, const FileEntry*> upserts;
  absl::flat_hash_map<absl::string_view, const FileEntry*> partials;
  absl::flat_hash_set<absl::string_view> removals;
};

// The entries of `by_cid` in cid order, so that output is deterministic.
std::vector<const FileEntry*> InCidOrder(
    const absl::flat_hash_map<absl::string_view, const FileEntry*>& by_cid) {
  std::vector<const FileEntry*> out;
  out.reserve(by_cid.size());
  for (const auto& [cid, entry] : by_cid) out.push_back(entry);
  std::sort(out.begin(), out.end(), [](const FileEntry* a, const FileEntry* b) {
    return a->cid() < b->cid();
  });
  return out;
}

}  // namespace

std::vector<PeerChange> FoldDeltas(
    const google::protobuf::RepeatedPtrField<index::PeerDelta>& deltas) {
  std::vector<absl::string_view> order;
  absl::flat_hash_map<absl::string_view, Working> peers;
  for (const index::PeerDelta& delta : deltas) {
    auto [it, inserted] = peers.try_emplace(delta.peer_id());
    if (inserted) order.push_back(delta.peer_id());
    Working& w = it->second;
    if (delta.gone()) {
      w = Working();
      w.gone = true;
      continue;
    }
    w.address = delta.address();
    if (delta.full() || w.gone) {
      // A full list replaces everything; changes after `gone` start from
      // an empty list, which is a replacement too.
      w.gone = false;
      w.replace = true;
      w.removals.clear();
      if (delta.full()) {
        w.upserts.clear();
        w.partials.clear();
      }
    }
    for (const std::string& cid : delta.removed()) {
      w.upserts.erase(cid);
      w.partials.erase(cid);
      if (!w.replace) w.removals.insert(cid);
    }
    for (const FileEntry& entry : delta.partial()) {
      w.upserts.erase(entry.cid());
      w.partials[entry.cid()] = &entry;
      w.removals.erase(entry.cid());
    }
    w.upserts.reserve(w.upserts.size() + delta.added_size());
    for (const FileEntry& entry : delta.added()) {
      w.partials.erase(entry.cid());
      w.upserts[entry.cid()] = &entry;
      w.removals.erase(entry.cid());
    }
  }
  std::vector<PeerChange> out;
  out.reserve(order.size());
  for (absl::string_view peer_id : order) {
    Working& w = peers[peer_id];
    PeerChange change;
    change.peer_id = std::string(peer_id);
    change.gone = w.gone;
    change.replace = w.replace;
    if (!w.gone) change.address = std::move(w.address);
    change.upserts = InCidOrder(w.upserts);
    change.partials = InCidOrder(w.partials);
    change.removals.reserve(w.removals.size());
    for (absl::string_view cid : w.removals) {
      change.removals.emplace_back(cid);
    }
    std::sort(change.removals.begin(), change.removals.end());
    out.push_back(std::move(change));
  }
  return out;
}

}  // namespace index_server
}  // namespace trove
