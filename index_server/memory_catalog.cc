#include "index_server/memory_catalog.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/search/query.h"

namespace trove {
namespace index_server {
namespace {

// FNV-1a, 64 bits: stable across processes, for Digest.
class Fnv {
 public:
  void Add(absl::string_view s) {
    for (char c : s) {
      h_ ^= static_cast<unsigned char>(c);
      h_ *= 1099511628211ull;
    }
    Add64(s.size());
  }
  void Add64(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h_ ^= (v >> (8 * i)) & 0xff;
      h_ *= 1099511628211ull;
    }
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 14695981039346656037ull;
};

// The i-th 32-byte id of a concatenation, or "" when out of range.
absl::string_view IdAt(const std::string& ids, int i) {
  size_t at = static_cast<size_t>(i) * 32;
  if (at + 32 > ids.size()) return absl::string_view();
  return absl::string_view(ids).substr(at, 32);
}

int IdCount(const std::string& ids) { return static_cast<int>(ids.size() / 32); }

// How many sources ahead of the one being stored ApplyBatch asks for the
// next cid's place in the index.
constexpr int kCidsAhead = 2;

// Counts its caller in `waiting` while it lives: declared before a lock of
// the catalog, it tells a change being applied that someone waits.
class WaitMark {
 public:
  explicit WaitMark(std::atomic<int>* waiting) : waiting_(waiting) {
    waiting_->fetch_add(1, std::memory_order_relaxed);
  }
  ~WaitMark() { waiting_->fetch_sub(1, std::memory_order_relaxed); }
  WaitMark(const WaitMark&) = delete;
  WaitMark& operator=(const WaitMark&) = delete;

 private:
  std::atomic<int>* const waiting_;
};

template <typename V>
void EraseValue(V& v, uint32_t x) {
  auto it = std::find(v.begin(), v.end(), x);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

}  // namespace

MemoryCatalog::MemoryCatalog(Options options)
    : options_(options),
      clock_(options.clock != nullptr ? options.clock : Clock::Real()),
      index_(options.search),
      seniority_(options.establish_after) {}

void MemoryCatalog::RestandPeer(PeerId peer, search::SearchIndex::Standing to) {
  PeerRec& p = peers_[peer];
  if (p.standing == to) return;
  for (const auto& [cid, rec] : p.sources) index_.Restand(rec.doc, p.standing);
  p.standing = to;
}

void MemoryCatalog::SetKnownSince(PeerId peer, absl::Time since) {
  PeerRec& p = peers_[peer];
  if (p.known && p.known_since == since) return;
  p.known = true;
  p.known_since = since;
  RestandPeer(peer, seniority_.Track(peer, since, clock_->Now()));
  NoteNextDue();
}

void MemoryCatalog::SettleStanding() {
  for (PeerId peer : seniority_.TakeDue(clock_->Now())) {
    RestandPeer(peer, search::SearchIndex::Standing::kEstablished);
  }
  NoteNextDue();
}

void MemoryCatalog::NoteNextDue() {
  next_due_ns_.store(absl::ToUnixNanos(seniority_.NextDue()),
                     std::memory_order_release);
}

MemoryCatalog::PeerId MemoryCatalog::InternPeer(absl::string_view key) {
  auto it = peer_ids_.find(key);
  if (it != peer_ids_.end()) return it->second;
  PeerId id;
  if (!free_peers_.empty()) {
    id = free_peers_.back();
    free_peers_.pop_back();
  } else {
    id = static_cast<PeerId>(peers_.size());
    peers_.emplace_back();
  }
  peers_[id].key = std::string(key);
  peer_ids_.emplace(std::string(key), id);
  return id;
}

MemoryCatalog::PeerRec* MemoryCatalog::FindPeer(absl::string_view key) {
  auto it = peer_ids_.find(key);
  return it == peer_ids_.end() ? nullptr : &peers_[it->second];
}

void MemoryCatalog::MaybeFreePeer(PeerId id) {
  PeerRec& p = peers_[id];
  if (!p.sources.empty() || !p.partials.empty()) return;
  for (SnId sn : p.sns) {
    if (sn < sns_.size()) sns_[sn].peers.erase(id);
  }
  peer_ids_.erase(p.key);
  seniority_.Forget(id);
  NoteNextDue();
  p.key.clear();
  p.address.clear();
  p.known = false;
  p.known_since = absl::InfinitePast();
  p.standing = search::SearchIndex::Standing::kNewcomer;
  p.sources = {};
  p.partials = {};
  p.sns.clear();
  free_peers_.push_back(id);
}

MemoryCatalog::SnId MemoryCatalog::InternSn(absl::string_view key) {
  auto it = sn_ids_.find(key);
  if (it != sn_ids_.end()) return it->second;
  SnId id;
  if (!free_sns_.empty()) {
    id = free_sns_.back();
    free_sns_.pop_back();
  } else {
    id = static_cast<SnId>(sns_.size());
    sns_.emplace_back();
  }
  sns_[id].key = std::string(key);
  sn_ids_.emplace(std::string(key), id);
  return id;
}

void MemoryCatalog::LinkPeerToSn(PeerId peer, SnId sn) {
  PeerRec& p = peers_[peer];
  // The peer's own list is short and names every set that lists it.
  if (std::find(p.sns.begin(), p.sns.end(), sn) != p.sns.end()) return;
  p.sns.push_back(sn);
  sns_[sn].peers.insert(peer);
}

int64_t MemoryCatalog::ResolveSize(std::optional<CidId> id,
                                   absl::string_view cid, int64_t announced) {
  if (id.has_value()) return index_.SizeOfCid(*id);
  auto it = other_files_.find(cid);
  return it == other_files_.end() ? announced : it->second;
}

absl::InlinedVector<MemoryCatalog::PeerId, 2>& MemoryCatalog::HoldersOf(
    CidId cid) {
  if (cid >= holders_.size()) holders_.resize(cid + 1);
  return holders_[cid];
}

void MemoryCatalog::RemoveSource(PeerId peer_id, CidId cid) {
  PeerRec& peer = peers_[peer_id];
  auto it = peer.sources.find(cid);
  if (it == peer.sources.end()) return;
  const SourceRec rec = it->second;
  peer.sources.erase(it);
  if (cid < holders_.size()) {
    EraseValue(holders_[cid], peer_id);
    if (holders_[cid].empty()) holders_[cid] = {};
  }
  const int64_t size = index_.SizeOfCid(cid);
  const std::string key(index_.KeyOfCid(cid));
  if (index_.Remove(rec.doc, peer.standing) &&
      partial_holders_.contains(key)) {
    // Its partial sources keep the size; with no source left the file is
    // gone, as in PostgreSQL.
    other_files_.emplace(key, size);
  }
  --sources_;
  Breathe();
}

void MemoryCatalog::RemovePartial(PeerId peer_id, absl::string_view cid) {
  PeerRec& peer = peers_[peer_id];
  auto it = peer.partials.find(cid);
  if (it == peer.partials.end()) return;
  peer.partials.erase(it);
  auto hit = partial_holders_.find(cid);
  if (hit != partial_holders_.end()) {
    EraseValue(hit->second, peer_id);
    if (hit->second.empty()) {
      partial_holders_.erase(hit);
      if (!index_.FindCid(cid).has_value()) {
        other_files_.erase(std::string(cid));
      }
    }
  }
  --partials_;
}

void MemoryCatalog::RemoveSourcesIf(
    PeerId peer_id, const std::function<bool(SnId, absl::string_view)>& drop) {
  std::vector<CidId> complete;
  for (const auto& [cid, rec] : peers_[peer_id].sources) {
    if (drop(rec.sn, index_.KeyOfCid(cid))) complete.push_back(cid);
  }
  std::vector<std::string> partial;
  for (const auto& [cid, rec] : peers_[peer_id].partials) {
    if (drop(rec.sn, cid)) partial.push_back(cid);
  }
  for (CidId cid : complete) RemoveSource(peer_id, cid);
  for (const std::string& cid : partial) RemovePartial(peer_id, cid);
}

void MemoryCatalog::StoreSource(PeerId peer_id, SnId sn, absl::string_view cid,
                                absl::string_view name, int64_t announced,
                                bool partial) {
  std::optional<CidId> id = index_.FindCid(cid);
  const int64_t size = ResolveSize(id, cid, announced);
  if (id.has_value()) {
    auto it = peers_[peer_id].sources.find(*id);
    if (it != peers_[peer_id].sources.end()) {
      if (!partial && index_.NameOf(it->second.doc) == name) {
        it->second.sn = sn;
        return;
      }
      RemoveSource(peer_id, *id);
    }
  }
  LinkPeerToSn(peer_id, sn);
  if (partial) {
    auto [it, inserted] = peers_[peer_id].partials.try_emplace(
        std::string(cid), PartialRec{std::string(name), sn});
    if (inserted) {
      partial_holders_[std::string(cid)].push_back(peer_id);
      ++partials_;
    } else {
      it->second = PartialRec{std::string(name), sn};
    }
    if (!index_.FindCid(cid).has_value()) {
      other_files_.try_emplace(std::string(cid), size);
    }
    return;
  }
  RemovePartial(peer_id, cid);
  const DocId doc = index_.Add(cid, size, name, peers_[peer_id].standing);
  if (!other_files_.empty()) other_files_.erase(cid);
  const CidId cid_id = index_.CidOfDoc(doc);
  peers_[peer_id].sources[cid_id] = SourceRec{doc, sn};
  HoldersOf(cid_id).push_back(peer_id);
  ++sources_;
  Breathe();
}

void MemoryCatalog::Breathe() {
  if (++slice_ < options_.apply_slice) return;
  slice_ = 0;
  // Nobody waits: the batch goes on, and its new files enter the orders
  // later, together, at less cost each.
  if (waiting_.load(std::memory_order_relaxed) == 0 &&
      ++batch_slices_ < options_.batch_slices) {
    return;
  }
  batch_slices_ = 0;
  // Let waiting searches in between two slices of a large change; they see
  // the slices so far whole.
  index_.EndBatch();
  mu_.Unlock();
  mu_.Lock();
  index_.BeginBatch();
}

void MemoryCatalog::BeginLoad() {
  absl::MutexLock lock(&mu_);
  index_.BeginBulkLoad();
}

void MemoryCatalog::LoadSource(absl::string_view cid, absl::string_view peer,
                               absl::string_view supernode,
                               absl::string_view name, int64_t size,
                               absl::string_view address, bool partial,
                               absl::Time known_since) {
  absl::MutexLock lock(&mu_);
  const PeerId p = InternPeer(peer);
  const SnId sn = InternSn(supernode);
  if (peers_[p].address != address) peers_[p].address = std::string(address);
  SetKnownSince(p, known_since);
  LinkPeerToSn(p, sn);
  if (partial) {
    auto [it, inserted] = peers_[p].partials.try_emplace(
        std::string(cid), PartialRec{std::string(name), sn});
    if (inserted) {
      partial_holders_[std::string(cid)].push_back(p);
      ++partials_;
    }
    return;
  }
  const DocId doc = index_.Add(cid, size, name, peers_[p].standing);
  const CidId cid_id = index_.CidOfDoc(doc);
  auto [it, inserted] = peers_[p].sources.try_emplace(cid_id, SourceRec{doc, sn});
  if (!inserted) {
    // (cid, peer) is the table's key, so this cannot happen with a real
    // snapshot; keep the count of holders right anyway.
    index_.Remove(doc, peers_[p].standing);
    return;
  }
  HoldersOf(cid_id).push_back(p);
  ++sources_;
}

void MemoryCatalog::LoadFile(absl::string_view cid, int64_t size) {
  absl::MutexLock lock(&mu_);
  other_files_.emplace(std::string(cid), size);
}

void MemoryCatalog::EndLoad() {
  absl::MutexLock lock(&mu_);
  index_.EndBulkLoad();
  // Sizes loaded for partial sources of files a complete source holds.
  for (auto it = other_files_.begin(); it != other_files_.end();) {
    if (index_.FindCid(it->first).has_value()) {
      other_files_.erase(it++);
    } else {
      ++it;
    }
  }
}

void MemoryCatalog::Apply(const CatalogChange& change) {
  absl::MutexLock lock(&mu_);
  slice_ = 0;
  batch_slices_ = 0;
  // New files enter the index's orders together, at the end (or at each
  // slice's end).
  index_.BeginBatch();
  SettleStanding();
  switch (change.change_case()) {
    case CatalogChange::kBatch:
      ApplyBatch(change.batch());
      break;
    case CatalogChange::kDroppedSupernodes:
      for (const std::string& sn : change.dropped_supernodes().supernode_ids()) {
        DropSupernode(sn);
      }
      break;
    case CatalogChange::kDroppedFiles: {
      const std::string& cids = change.dropped_files().cids();
      for (int i = 0; i < IdCount(cids); ++i) {
        other_files_.erase(std::string(IdAt(cids, i)));
      }
      break;
    }
    case CatalogChange::kDroppedPeers:
      for (const std::string& key : change.dropped_peers().peer_ids()) {
        auto it = peer_ids_.find(key);
        if (it == peer_ids_.end()) continue;
        const PeerId p = it->second;
        RemoveSourcesIf(p, [](SnId, absl::string_view) { return true; });
        MaybeFreePeer(p);
      }
      break;
    case CatalogChange::kDroppedCids: {
      const std::string& cids = change.dropped_cids().cids();
      for (int i = 0; i < IdCount(cids); ++i) DropCid(IdAt(cids, i));
      break;
    }
    case CatalogChange::CHANGE_NOT_SET:
      break;
  }
  index_.EndBatch();
}

void MemoryCatalog::DropCid(absl::string_view cid) {
  std::vector<PeerId> peers;
  if (std::optional<CidId> id = index_.FindCid(cid)) {
    if (*id < holders_.size()) {
      peers.assign(holders_[*id].begin(), holders_[*id].end());
      for (PeerId p : peers) RemoveSource(p, *id);
    }
  }
  auto pit = partial_holders_.find(std::string(cid));
  if (pit != partial_holders_.end()) {
    const std::vector<PeerId> partial(pit->second.begin(), pit->second.end());
    for (PeerId p : partial) RemovePartial(p, cid);
    peers.insert(peers.end(), partial.begin(), partial.end());
  }
  std::sort(peers.begin(), peers.end());
  peers.erase(std::unique(peers.begin(), peers.end()), peers.end());
  for (PeerId p : peers) MaybeFreePeer(p);
}

void MemoryCatalog::DropSupernode(absl::string_view key) {
  auto it = sn_ids_.find(key);
  if (it == sn_ids_.end()) return;
  const SnId sn = it->second;
  std::vector<PeerId> peers(sns_[sn].peers.begin(), sns_[sn].peers.end());
  for (PeerId p : peers) {
    RemoveSourcesIf(p, [sn](SnId s, absl::string_view) { return s == sn; });
    PeerRec& rec = peers_[p];
    rec.sns.erase(std::remove(rec.sns.begin(), rec.sns.end(), sn),
                  rec.sns.end());
    MaybeFreePeer(p);
  }
  sn_ids_.erase(sns_[sn].key);
  sns_[sn].key.clear();
  sns_[sn].peers = {};
  free_sns_.push_back(sn);
}

void MemoryCatalog::ApplyBatch(const AppliedBatch& b) {
  const SnId sn = InternSn(b.supernode_id());
  // What each peer stores in this batch, for replace_peers (only those
  // that hold something here: a new peer has nothing to replace).
  absl::flat_hash_map<absl::string_view, absl::flat_hash_set<absl::string_view>>
      kept;
  if (b.replace_peers_size() > 0) {
    absl::flat_hash_set<absl::string_view> replacing;
    for (const std::string& key : b.replace_peers()) {
      if (peer_ids_.contains(key)) replacing.insert(key);
    }
    for (const PeerFiles& pf : b.stored()) {
      if (replacing.empty()) break;
      if (!replacing.contains(pf.peer_id())) continue;
      auto& set = kept[pf.peer_id()];
      for (int i = 0; i < IdCount(pf.cids()); ++i) {
        set.emplace(IdAt(pf.cids(), i));
      }
    }
  }
  // Peers that left this supernode.
  for (const std::string& key : b.gone_peers()) {
    auto it = peer_ids_.find(key);
    if (it == peer_ids_.end()) continue;
    const PeerId p = it->second;
    RemoveSourcesIf(p, [sn](SnId s, absl::string_view) { return s == sn; });
    MaybeFreePeer(p);
  }
  // Full lists: what is not stored again goes.
  for (const std::string& key : b.replace_peers()) {
    auto it = peer_ids_.find(key);
    if (it == peer_ids_.end()) continue;
    const auto& keep = kept[absl::string_view(key)];
    RemoveSourcesIf(it->second, [&keep](SnId, absl::string_view cid) {
      return !keep.contains(cid);
    });
  }
  // Single withdrawals.
  for (const PeerFiles& pf : b.removed()) {
    auto it = peer_ids_.find(pf.peer_id());
    if (it == peer_ids_.end()) continue;
    const PeerId p = it->second;
    for (int i = 0; i < IdCount(pf.cids()); ++i) {
      const absl::string_view cid = IdAt(pf.cids(), i);
      if (std::optional<CidId> id = index_.FindCid(cid)) RemoveSource(p, *id);
      RemovePartial(p, cid);
    }
  }
  // Peers now held through this supernode take all their sources along,
  // and their current address.
  for (int i = 0; i < b.moved_peers_size(); ++i) {
    const PeerId p = InternPeer(b.moved_peers(i));
    PeerRec& rec = peers_[p];
    if (i < b.moved_addresses_size()) rec.address = b.moved_addresses(i);
    for (auto& [cid, source] : rec.sources) source.sn = sn;
    for (auto& [cid, partial] : rec.partials) partial.sn = sn;
    if (!rec.sources.empty() || !rec.partials.empty()) LinkPeerToSn(p, sn);
  }
  // Stored sources, in order.
  for (const PeerFiles& pf : b.stored()) {
    const PeerId p = InternPeer(pf.peer_id());
    SetKnownSince(p, absl::FromUnixMillis(pf.known_since_ms()));
    const int n = IdCount(pf.cids());
    // A new peer's whole list arrives at once: one allocation, not one per
    // doubling.
    if (peers_[p].sources.empty()) peers_[p].sources.reserve(n);
    for (int i = 0; i < n; ++i) {
      // A new cid's look-up misses the cache: the one a few files ahead is
      // asked for now, while this one is stored.
      if (i + kCidsAhead < n) {
        index_.PrefetchCid(IdAt(pf.cids(), i + kCidsAhead));
      }
      const std::string& name = i < pf.names_size() ? pf.names(i) : "";
      const int64_t size = i < pf.sizes_size() ? pf.sizes(i) : 0;
      const bool partial = i < pf.partial_size() && pf.partial(i);
      if (name.empty()) continue;  // never written so
      StoreSource(p, sn, IdAt(pf.cids(), i), name, size, partial);
    }
  }
  // Peers left with nothing are forgotten.
  for (const std::string& key : b.moved_peers()) {
    auto it = peer_ids_.find(key);
    if (it != peer_ids_.end()) MaybeFreePeer(it->second);
  }
  for (const std::string& key : b.replace_peers()) {
    auto it = peer_ids_.find(key);
    if (it != peer_ids_.end()) MaybeFreePeer(it->second);
  }
  for (const PeerFiles& pf : b.removed()) {
    auto it = peer_ids_.find(pf.peer_id());
    if (it != peer_ids_.end()) MaybeFreePeer(it->second);
  }
}

void MemoryCatalog::SettleIfDue() const {
  if (absl::ToUnixNanos(clock_->Now()) <
      next_due_ns_.load(std::memory_order_acquire)) {
    return;
  }
  // Settling follows the clock, not a change: what the catalog holds is
  // the same, only which votes count is brought up to now.
  WaitMark mark(&waiting_);
  absl::MutexLock lock(&mu_);
  const_cast<MemoryCatalog*>(this)->SettleStanding();
}

absl::StatusOr<search::SearchPage> MemoryCatalog::Search(
    const search::ParsedQuery& query, absl::Time deadline) const {
  SettleIfDue();
  WaitMark mark(&waiting_);
  absl::ReaderMutexLock lock(&mu_);
  return index_.Search(query, deadline);
}

std::optional<absl::Time> MemoryCatalog::KnownSince(
    const std::string& peer_id) const {
  std::string raw;
  if (!search::HexToRaw(peer_id, &raw)) return std::nullopt;
  WaitMark mark(&waiting_);
  absl::ReaderMutexLock lock(&mu_);
  auto it = peer_ids_.find(raw);
  if (it == peer_ids_.end()) return std::nullopt;
  const PeerRec& p = peers_[it->second];
  if (!p.known) return std::nullopt;
  return p.known_since;
}

absl::StatusOr<index::LocateResponse> MemoryCatalog::Locate(
    const std::string& cid_hex, int limit,
    const absl::flat_hash_set<std::string>& dead) const {
  std::string cid;
  if (!search::HexToRaw(cid_hex, &cid)) {
    return absl::InvalidArgumentError("cid must be 64 lowercase hex digits");
  }
  SettleIfDue();
  WaitMark mark(&waiting_);
  absl::ReaderMutexLock lock(&mu_);
  auto live = [&](SnId sn) { return !dead.contains(sns_[sn].key); };
  index::LocateResponse response;
  // Most files have a few sources: no heap for them.
  absl::InlinedVector<std::pair<const std::string*, PeerId>, 8> complete,
      partial;
  std::optional<CidId> id = index_.FindCid(cid);
  if (id.has_value()) {
    response.set_size(index_.SizeOfCid(*id));
    if (*id < holders_.size()) {
      for (PeerId p : holders_[*id]) {
        // A holder's supernode is looked up (in its own table, a cache
        // miss) only when some lease ended.
        if (dead.empty() || live(peers_[p].sources.at(*id).sn)) {
          complete.emplace_back(&peers_[p].key, p);
        }
      }
    }
  } else {
    auto fit = other_files_.find(cid);
    if (fit == other_files_.end()) {
      return absl::NotFoundError(absl::StrCat("no live source has cid ", cid_hex));
    }
    response.set_size(fit->second);
  }
  auto pit = partial_holders_.find(cid);
  std::map<absl::string_view, int> partial_names;
  if (pit != partial_holders_.end()) {
    for (PeerId p : pit->second) {
      const PartialRec& rec = peers_[p].partials.at(cid);
      if (!dead.empty() && !live(rec.sn)) continue;
      partial.emplace_back(&peers_[p].key, p);
      ++partial_names[rec.name];
    }
  }
  if (complete.empty() && partial.empty()) {
    return absl::NotFoundError(absl::StrCat("no live source has cid ", cid_hex));
  }
  if (!complete.empty()) {
    if (std::optional<search::SearchIndex::CidView> view = index_.Lookup(cid)) {
      response.set_name(std::move(view->name));
    }
  } else {
    int best = 0;
    for (const auto& [name, n] : partial_names) {
      if (n > best) {
        best = n;
        response.set_name(std::string(name));
      }
    }
  }
  auto by_peer = [](const std::pair<const std::string*, PeerId>& a,
                    const std::pair<const std::string*, PeerId>& b) {
    return *a.first < *b.first;
  };
  std::sort(complete.begin(), complete.end(), by_peer);
  std::sort(partial.begin(), partial.end(), by_peer);
  for (const auto* group : {&complete, &partial}) {
    for (const auto& [key, p] : *group) {
      if (response.sources_size() >= limit) break;
      Source* s = response.add_sources();
      s->set_peer_id(search::RawToHex(*key));
      s->set_address(peers_[p].address);
      s->set_partial(group == &partial);
    }
  }
  return response;
}

MemoryCatalog::Stats MemoryCatalog::stats() const {
  WaitMark mark(&waiting_);
  absl::ReaderMutexLock lock(&mu_);
  Stats s;
  s.sources = sources_;
  s.partial_sources = partials_;
  search::SearchIndex::Stats is = index_.stats();
  s.cids = is.cids;
  s.names = is.names;
  s.words = is.words;
  s.peers = peer_ids_.size();
  s.supernodes = sn_ids_.size();
  s.other_files = other_files_.size();
  s.newcomers = seniority_.watched();
  return s;
}

std::string MemoryCatalog::Digest() const {
  WaitMark mark(&waiting_);
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::tuple<std::string, std::string, std::string, std::string,
                         int64_t, bool>>
      rows;
  rows.reserve(sources_ + partials_);
  for (const auto& [key, id] : peer_ids_) {
    for (const auto& [cid, rec] : peers_[id].sources) {
      rows.emplace_back(std::string(index_.KeyOfCid(cid)), key,
                        sns_[rec.sn].key, std::string(index_.NameOf(rec.doc)),
                        index_.SizeOfCid(cid), false);
    }
    for (const auto& [cid, rec] : peers_[id].partials) {
      rows.emplace_back(cid, key, sns_[rec.sn].key, rec.name, -1, true);
    }
  }
  std::sort(rows.begin(), rows.end());
  Fnv h;
  for (const auto& [cid, peer, sn, name, size, partial] : rows) {
    h.Add(cid);
    h.Add(peer);
    h.Add(sn);
    h.Add(name);
    h.Add64(static_cast<uint64_t>(size));
    h.Add64(partial ? 1 : 0);
  }
  std::vector<std::tuple<std::string, std::string, int64_t>> addresses;
  for (const auto& [key, id] : peer_ids_) {
    const PeerRec& p = peers_[id];
    addresses.emplace_back(key, p.address,
                           p.known ? absl::ToUnixMillis(p.known_since) : -1);
  }
  std::sort(addresses.begin(), addresses.end());
  for (const auto& [peer, address, known_since] : addresses) {
    h.Add(peer);
    h.Add(address);
    h.Add64(static_cast<uint64_t>(known_since));
  }
  std::vector<std::pair<std::string, int64_t>> files(other_files_.begin(),
                                                     other_files_.end());
  std::sort(files.begin(), files.end());
  for (const auto& [cid, size] : files) {
    h.Add(cid);
    h.Add64(static_cast<uint64_t>(size));
  }
  return absl::StrFormat("%d sources, %d peers, %d other files, %016x",
                         rows.size(), addresses.size(), files.size(), h.value());
}

}  // namespace index_server
}  // namespace trove
