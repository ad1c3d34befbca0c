#include "index_server/delta_fold.h"

#include <map>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"

namespace trove {
namespace index_server {
namespace {

// Working state of one peer while folding.
struct Working {
  std::string address;
  bool gone = false;
  bool replace = false;
  // cid -> entry, in cid order so output is deterministic.
  std::map<std::string, FileEntry> upserts;
  std::map<std::string, FileEntry> partials;
  std::set<std::string> removals;
};

}  // namespace

std::vector<PeerChange> FoldDeltas(
    const google::protobuf::RepeatedPtrField<index::PeerDelta>& deltas) {
  std::vector<std::string> order;
  absl::flat_hash_map<std::string, Working> peers;
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
      w.partials[entry.cid()] = entry;
      w.removals.erase(entry.cid());
    }
    for (const FileEntry& entry : delta.added()) {
      w.partials.erase(entry.cid());
      w.upserts[entry.cid()] = entry;
      w.removals.erase(entry.cid());
    }
  }
  std::vector<PeerChange> out;
  out.reserve(order.size());
  for (const std::string& peer_id : order) {
    Working& w = peers[peer_id];
    PeerChange change;
    change.peer_id = peer_id;
    change.gone = w.gone;
    change.replace = w.replace;
    if (!w.gone) change.address = std::move(w.address);
    for (auto& [cid, entry] : w.upserts) change.upserts.push_back(std::move(entry));
    for (auto& [cid, entry] : w.partials) {
      change.partials.push_back(std::move(entry));
    }
    change.removals.assign(w.removals.begin(), w.removals.end());
    out.push_back(std::move(change));
  }
  return out;
}

}  // namespace index_server
}  // namespace trove
