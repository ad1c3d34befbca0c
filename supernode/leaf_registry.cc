#include "supernode/leaf_registry.h"

#include <openssl/rand.h>

#include <algorithm>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/merkle.h"

namespace trove {
namespace supernode {
namespace {

// Bytes of a challenge nonce and of a session token.
constexpr size_t kNonceBytes = 32;
constexpr size_t kSessionBytes = 16;

}  // namespace

std::string SecureRandomBytes(size_t bytes) {
  std::string out(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()),
                 static_cast<int>(bytes)) != 1) {
    // OpenSSL's generator failing is near impossible; the OS's is as good.
    std::random_device rd;
    for (char& c : out) c = static_cast<char>(rd());
  }
  return out;
}

LeafRegistry::LeafRegistry(Options options, Clock* clock, CatalogSink* sink)
    : options_(std::move(options)),
      clock_(clock),
      sink_(sink),
      index_(options_.index) {}

absl::StatusOr<std::string> LeafRegistry::Challenge(absl::string_view asker) {
  std::string nonce = SecureRandomBytes(kNonceBytes);
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireChallengesLocked(now);
  auto mine = askers_.find(asker);
  if (mine != askers_.end() &&
      mine->second.pending >= options_.max_challenges_per_asker) {
    // The asker's own oldest pending nonce makes room.
    std::deque<std::string>& order = mine->second.order;
    while (!order.empty()) {
      auto it = challenges_.find(order.front());
      order.pop_front();
      if (it != challenges_.end() && it->second.asker == asker) {
        EraseChallengeLocked(it);
        break;
      }
    }
  }
  if (challenges_.size() >= options_.max_pending_challenges) {
    absl::Duration wait = options_.challenge_ttl;
    for (const std::string& n : challenge_order_) {
      auto it = challenges_.find(n);
      if (it == challenges_.end()) continue;
      wait = std::max(absl::ZeroDuration(), it->second.expires - now);
      break;
    }
    return absl::ResourceExhaustedError(absl::StrCat(
        "this supernode has ", challenges_.size(),
        " join challenges pending, its most; retry in ",
        absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))), " s"));
  }
  challenges_[nonce] = PendingChallenge{now + options_.challenge_ttl,
                                        std::string(asker)};
  challenge_order_.push_back(nonce);
  AskerChallenges& entry = askers_[asker];
  entry.order.push_back(nonce);
  ++entry.pending;
  // Used nonces leave stale entries behind; compact when they dominate.
  if (entry.order.size() > 2 * entry.pending + 16) {
    std::deque<std::string> live;
    for (std::string& n : entry.order) {
      if (challenges_.contains(n)) live.push_back(std::move(n));
    }
    entry.order = std::move(live);
  }
  return nonce;
}

size_t LeafRegistry::pending_challenges() const {
  absl::MutexLock lock(&mu_);
  return challenges_.size();
}

void LeafRegistry::EraseChallengeLocked(
    absl::flat_hash_map<std::string, PendingChallenge>::iterator it) {
  auto a = askers_.find(it->second.asker);
  if (a != askers_.end() && --a->second.pending == 0) askers_.erase(a);
  challenges_.erase(it);
}

void LeafRegistry::ExpireChallengesLocked(absl::Time now) {
  while (!challenge_order_.empty()) {
    auto it = challenges_.find(challenge_order_.front());
    if (it != challenges_.end() && it->second.expires > now) break;
    if (it != challenges_.end()) EraseChallengeLocked(it);
    challenge_order_.pop_front();
  }
  // Nonces used early leave stale entries behind the live ones; compact when
  // they outnumber the live ones.
  if (challenge_order_.size() > 2 * challenges_.size() + 64) {
    std::deque<std::string> live;
    for (std::string& n : challenge_order_) {
      if (challenges_.contains(n)) live.push_back(std::move(n));
    }
    challenge_order_ = std::move(live);
  }
}

absl::Status CheckJoinProof(const JoinRequest& request, int work_bits) {
  if (!JoinWorkMeets(request.nonce(), request.public_key(), request.work(),
                     work_bits)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "join refused: the proof of work does not have the ", work_bits,
        " leading zero bits the challenge asked for (common/join_work.h); "
        "ask for a new challenge"));
  }
  absl::Status verified = VerifySignature(
      request.public_key(),
      JoinSignedMessage(request.nonce(), request.listen_address()),
      request.signature());
  if (!verified.ok()) {
    return absl::Status(verified.code(),
                        absl::StrCat("join refused: ", verified.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<LeafRegistry::JoinResult> LeafRegistry::Join(
    const JoinRequest& request) {
  const absl::Time now = clock_->Now();
  {
    absl::MutexLock lock(&mu_);
    auto it = challenges_.find(request.nonce());
    if (it == challenges_.end()) {
      return absl::UnauthenticatedError(
          "unknown or already used challenge nonce; ask for a new one");
    }
    const bool expired = it->second.expires <= now;
    EraseChallengeLocked(it);
    if (expired) {
      return absl::UnauthenticatedError(
          "challenge nonce expired; ask for a new one");
    }
  }
  absl::Status proven = CheckJoinProof(request, options_.join_work_bits);
  if (!proven.ok()) return proven;
  const std::string peer_id = PeerIdFromPublicKey(request.public_key());

  absl::MutexLock lock(&mu_);
  const bool rejoin = leaves_.contains(peer_id);
  if (!rejoin && leaves_.size() >= static_cast<size_t>(options_.max_leaves)) {
    // Make room from silent leaves before refusing.
    std::vector<std::string> idle;
    for (const auto& [id, leaf] : leaves_) {
      if (now - leaf.last_seen > options_.session_timeout) idle.push_back(id);
    }
    for (const std::string& id : idle) RemoveLeafLocked(id, /*withdraw=*/true);
    if (leaves_.size() >= static_cast<size_t>(options_.max_leaves)) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "this supernode is full (", options_.max_leaves,
          " leaves); join another"));
    }
  }
  std::string session = HexEncode(SecureRandomBytes(kSessionBytes));
  if (rejoin) {
    // A rejoin replaces the old session; the files stay until the leaf
    // publishes its list again.
    Leaf& leaf = leaves_.at(peer_id);
    sessions_.erase(leaf.session);
    leaf.session = session;
    leaf.capacity = request.capacity();
    leaf.last_seen = now;
    if (leaf.address != request.listen_address()) {
      leaf.address = request.listen_address();
      if (index_.FileCountOf(peer_id) > 0 || !leaf.partial.empty()) {
        EmitFullLocked(leaf);
      }
    }
  } else {
    Leaf& leaf = leaves_[peer_id];
    leaf.peer_id = peer_id;
    leaf.session = session;
    leaf.address = request.listen_address();
    leaf.capacity = request.capacity();
    leaf.joined = now;
    leaf.known_since = now;
    leaf.last_seen = now;
    // Its files vote on names as a newcomer's until it has stayed
    // establish_after (the index weighs them by its own, durable record).
    index_.SetKnownSince(peer_id, now, now);
  }
  sessions_[session] = peer_id;
  return JoinResult{peer_id, session};
}

LeafRegistry::Leaf* LeafRegistry::LeafOfSessionLocked(
    const std::string& session) {
  auto sit = sessions_.find(session);
  if (sit == sessions_.end()) return nullptr;
  auto lit = leaves_.find(sit->second);
  if (lit == leaves_.end()) return nullptr;
  if (clock_->Now() - lit->second.last_seen > options_.session_timeout) {
    // Expired, though the sweep has not come by yet.
    RemoveLeafLocked(lit->first, /*withdraw=*/true);
    return nullptr;
  }
  return &lit->second;
}

void LeafRegistry::SetPartialLocked(Leaf& leaf, const FileEntry& entry) {
  leaf.partial[entry.cid()] = entry;
  partial_holders_[entry.cid()].insert(leaf.peer_id);
}

void LeafRegistry::ClearPartialLocked(Leaf& leaf, const std::string& cid) {
  if (leaf.partial.erase(cid) == 0) return;
  auto it = partial_holders_.find(cid);
  if (it == partial_holders_.end()) return;
  it->second.erase(leaf.peer_id);
  if (it->second.empty()) partial_holders_.erase(it);
}

absl::Status LeafRegistry::CheckSignedLocked(
    const Leaf& leaf, const SignedChange& change) const {
  if (change.peer_id != leaf.peer_id) {
    return absl::PermissionDeniedError(
        "the signed change is another peer's, not this session's");
  }
  if (!options_.supernode_id.empty() &&
      change.supernode_id != options_.supernode_id) {
    return absl::PermissionDeniedError(
        "the signed change is bound to another supernode");
  }
  if (change.seq <= leaf.last_seq) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the change's seq ", change.seq, " is not above the last one (",
        leaf.last_seq, "); send the full list"));
  }
  if (!change.full && !change.gone &&
      (leaf.chain.empty() || change.prev_seq != leaf.last_seq)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the delta follows seq ", change.prev_seq, " but the last change was ",
        leaf.last_seq, "; send the full list"));
  }
  return absl::OkStatus();
}

void LeafRegistry::EmitSignedLocked(Leaf& leaf, const SignedChange& change,
                                    index::PeerDelta delta) {
  delta.set_peer_id(leaf.peer_id);
  delta.set_address(leaf.address);
  delta.set_full(change.full);
  delta.set_gone(change.gone);
  delta.set_signed_change(change.bytes);
  delta.set_signature(change.signature);
  index::PeerDelta kept;
  kept.set_peer_id(leaf.peer_id);
  kept.set_signed_change(change.bytes);
  kept.set_signature(change.signature);
  kept.set_full(change.full);
  if (change.full) leaf.chain.clear();
  leaf.chain.push_back(std::move(kept));
  leaf.last_seq = change.seq;
  leaf.need_full = false;
  Emit(std::move(delta));
}

absl::StatusOr<int> LeafRegistry::Publish(
    const supernode::PublishRequest& request,
    const SignedChange* signed_change) {
  absl::MutexLock lock(&mu_);
  Leaf* leaf = LeafOfSessionLocked(request.session());
  if (leaf == nullptr) {
    return absl::UnauthenticatedError(
        "unknown or expired session; join again");
  }
  if (signed_change != nullptr) {
    if (signed_change->gone) {
      return absl::InvalidArgumentError("a gone is sent with Leave");
    }
    absl::Status s = CheckSignedLocked(*leaf, *signed_change);
    if (!s.ok()) {
      if (s.code() == absl::StatusCode::kFailedPrecondition) {
        leaf->need_full = true;
      }
      return s;
    }
  }
  leaf->last_seen = clock_->Now();
  const std::string& peer = leaf->peer_id;
  const size_t max_files = static_cast<size_t>(options_.max_files_per_leaf);

  // Later entries for a cid replace earlier ones.
  std::map<std::string, const FileEntry*> added;
  for (const FileEntry& e : request.added()) added[e.cid()] = &e;

  if (request.full()) {
    std::map<std::string, const FileEntry*> partial;
    for (const FileEntry& e : request.partial()) {
      if (!added.count(e.cid())) partial[e.cid()] = &e;
    }
    if (added.size() > max_files || partial.size() > max_files) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "over the budget of ", max_files,
          " files per leaf (max_files_per_leaf): the list has ",
          std::max(added.size(), partial.size())));
    }
    Usage after;
    after.files = static_cast<int64_t>(added.size() + partial.size());
    for (const auto& [cid, e] : added) after.name_bytes += e->name().size();
    for (const auto& [cid, e] : partial) after.name_bytes += e->name().size();
    if (absl::Status s = CheckBudgetsLocked(*leaf, after); !s.ok()) return s;
    SetUsageLocked(*leaf, after);
    index_.RemovePeer(peer);
    for (const auto& [cid, e] : added) index_.Add(peer, *e);
    std::vector<std::string> old_partial;
    for (const auto& [cid, e] : leaf->partial) old_partial.push_back(cid);
    for (const std::string& cid : old_partial) ClearPartialLocked(*leaf, cid);
    for (const auto& [cid, e] : partial) SetPartialLocked(*leaf, *e);
    if (signed_change != nullptr) {
      index::PeerDelta delta;
      for (const auto& [cid, e] : added) *delta.add_added() = *e;
      for (const auto& [cid, e] : partial) *delta.add_partial() = *e;
      EmitSignedLocked(*leaf, *signed_change, std::move(delta));
    } else {
      EmitFullLocked(*leaf);
    }
    return static_cast<int>(index_.FileCountOf(peer));
  }

  // A delta: work out what actually changes before touching anything.
  std::set<std::string> removed;
  for (const std::string& cid : request.removed()) {
    if (!added.count(cid) && index_.Get(peer, cid).has_value()) {
      removed.insert(cid);
    }
  }
  std::vector<const FileEntry*> changed;
  size_t new_cids = 0;
  for (const auto& [cid, e] : added) {
    std::optional<FileEntry> current = index_.Get(peer, cid);
    if (!current.has_value()) ++new_cids;
    if (!current.has_value() || current->name() != e->name() ||
        current->size() != e->size()) {
      changed.push_back(e);
    }
  }
  const size_t file_count = index_.FileCountOf(peer) - removed.size() +
                            new_cids;
  if (file_count > max_files) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "over the budget of ", max_files,
        " files per leaf (max_files_per_leaf): this change makes ",
        file_count));
  }
  // Partial entries after the change.
  auto held_after = [&](const std::string& cid) {
    return added.count(cid) ||
           (!removed.count(cid) && index_.Get(peer, cid).has_value());
  };
  std::set<std::string> cleared;
  for (const std::string& cid : request.removed()) {
    if (leaf->partial.count(cid)) cleared.insert(cid);
  }
  for (const auto& [cid, e] : added) {
    if (leaf->partial.count(cid)) cleared.insert(cid);
  }
  std::map<std::string, const FileEntry*> partial;
  size_t new_partials = 0;
  for (const FileEntry& e : request.partial()) {
    if (held_after(e.cid())) continue;
    bool present = leaf->partial.count(e.cid()) && !cleared.count(e.cid());
    if (!present && !partial.count(e.cid())) ++new_partials;
    partial[e.cid()] = &e;
  }
  // What the index hears about partial files: new or renamed ones, and
  // withdrawn ones (removed and not re-announced; a cid that became
  // complete goes as `added`).
  std::vector<const FileEntry*> partial_changed;
  for (const auto& [cid, e] : partial) {
    auto old = leaf->partial.find(cid);
    if (old == leaf->partial.end() || old->second.name() != e->name() ||
        old->second.size() != e->size()) {
      partial_changed.push_back(e);
    }
  }
  std::vector<std::string> partial_withdrawn;
  for (const std::string& cid : cleared) {
    if (!added.count(cid) && !partial.count(cid)) {
      partial_withdrawn.push_back(cid);
    }
  }
  const size_t partial_count =
      leaf->partial.size() - cleared.size() + new_partials;
  if (partial_count > max_files) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "over the budget of ", max_files,
        " partial files per leaf (max_files_per_leaf): this change makes ",
        partial_count));
  }
  // The budgets after the change.
  Usage after = leaf->usage;
  for (const std::string& cid : removed) {
    --after.files;
    if (std::optional<FileEntry> old = index_.Get(peer, cid)) {
      after.name_bytes -= old->name().size();
    }
  }
  for (const FileEntry* e : changed) {
    if (std::optional<FileEntry> old = index_.Get(peer, e->cid())) {
      after.name_bytes -= old->name().size();
    } else {
      ++after.files;
    }
    after.name_bytes += e->name().size();
  }
  for (const std::string& cid : cleared) {
    --after.files;
    after.name_bytes -= leaf->partial.at(cid).name().size();
  }
  for (const auto& [cid, e] : partial) {
    auto old = leaf->partial.find(cid);
    if (old != leaf->partial.end() && !cleared.count(cid)) {
      after.name_bytes -= old->second.name().size();
    } else {
      ++after.files;
    }
    after.name_bytes += e->name().size();
  }
  if (absl::Status s = CheckBudgetsLocked(*leaf, after); !s.ok()) return s;
  SetUsageLocked(*leaf, after);

  for (const std::string& cid : removed) index_.Remove(peer, cid);
  for (const FileEntry* e : changed) index_.Add(peer, *e);
  for (const std::string& cid : cleared) ClearPartialLocked(*leaf, cid);
  for (const auto& [cid, e] : partial) SetPartialLocked(*leaf, *e);

  if (signed_change != nullptr) {
    // Forwarded as signed, even when nothing changes here: the index must
    // see every link of the leaf's chain.
    index::PeerDelta delta;
    for (const FileEntry* e : changed) *delta.add_added() = *e;
    for (const std::string& cid : removed) delta.add_removed(cid);
    for (const FileEntry* e : partial_changed) *delta.add_partial() = *e;
    EmitSignedLocked(*leaf, *signed_change, std::move(delta));
  } else if (!removed.empty() || !changed.empty() || !partial_changed.empty() ||
      !partial_withdrawn.empty()) {
    index::PeerDelta delta;
    delta.set_peer_id(peer);
    delta.set_address(leaf->address);
    for (const FileEntry* e : changed) *delta.add_added() = *e;
    for (const std::string& cid : removed) delta.add_removed(cid);
    for (const std::string& cid : partial_withdrawn) delta.add_removed(cid);
    for (const FileEntry* e : partial_changed) *delta.add_partial() = *e;
    Emit(std::move(delta));
  }
  return static_cast<int>(index_.FileCountOf(peer));
}

absl::StatusOr<bool> LeafRegistry::Heartbeat(
    const std::string& session, const std::string& presence,
    const std::string& presence_signature) {
  absl::MutexLock lock(&mu_);
  Leaf* leaf = LeafOfSessionLocked(session);
  if (leaf == nullptr) {
    return absl::NotFoundError("unknown or expired session; join again");
  }
  leaf->last_seen = clock_->Now();
  if (!presence.empty()) {
    leaf->presence.set_presence(presence);
    leaf->presence.set_signature(presence_signature);
  }
  return leaf->need_full;
}

void LeafRegistry::NeedFull(const std::string& peer_id) {
  absl::MutexLock lock(&mu_);
  auto it = leaves_.find(peer_id);
  if (it != leaves_.end()) it->second.need_full = true;
}

std::vector<index::SignedPresence> LeafRegistry::Presences() const {
  absl::MutexLock lock(&mu_);
  std::vector<index::SignedPresence> out;
  for (const auto& [id, leaf] : leaves_) {
    if (!leaf.presence.presence().empty()) out.push_back(leaf.presence);
  }
  return out;
}

absl::Status LeafRegistry::Leave(const std::string& session,
                                 const SignedChange* signed_gone) {
  absl::MutexLock lock(&mu_);
  Leaf* leaf = LeafOfSessionLocked(session);
  if (leaf == nullptr) {
    return absl::NotFoundError("unknown or expired session");
  }
  if (signed_gone != nullptr) {
    if (!signed_gone->gone) {
      return absl::InvalidArgumentError("Leave carries a signed gone");
    }
    absl::Status s = CheckSignedLocked(*leaf, *signed_gone);
    if (!s.ok()) return s;
    EmitSignedLocked(*leaf, *signed_gone, index::PeerDelta());
    RemoveLeafLocked(leaf->peer_id, /*withdraw=*/false);
    return absl::OkStatus();
  }
  RemoveLeafLocked(leaf->peer_id, /*withdraw=*/true);
  return absl::OkStatus();
}

bool LeafRegistry::Drop(const std::string& peer_id) {
  absl::MutexLock lock(&mu_);
  if (leaves_.find(peer_id) == leaves_.end()) return false;
  RemoveLeafLocked(peer_id, /*withdraw=*/false);
  return true;
}

absl::StatusOr<std::string> LeafRegistry::PeerOfSession(
    const std::string& session) {
  absl::MutexLock lock(&mu_);
  Leaf* leaf = LeafOfSessionLocked(session);
  if (leaf == nullptr) {
    return absl::NotFoundError("unknown or expired session");
  }
  return leaf->peer_id;
}

void LeafRegistry::RemoveLeafLocked(const std::string& peer_id,
                                    bool withdraw) {
  auto it = leaves_.find(peer_id);
  if (it == leaves_.end()) return;
  // Copy: the map entry goes away below.
  const std::string id = peer_id;
  Leaf& leaf = it->second;
  sessions_.erase(leaf.session);
  std::vector<std::string> partial;
  for (const auto& [cid, e] : leaf.partial) partial.push_back(cid);
  for (const std::string& cid : partial) ClearPartialLocked(leaf, cid);
  index_.RemovePeer(id);
  index_.ForgetPeer(id);
  const std::string address = leaf.address;
  SetUsageLocked(leaf, Usage());
  // A leaf that signs its changes is withdrawn only by its own signed gone
  // or by the index, when its signed presence runs out.
  if (!leaf.chain.empty()) withdraw = false;
  leaves_.erase(it);
  if (withdraw) {
    index::PeerDelta delta;
    delta.set_peer_id(id);
    delta.set_address(address);
    delta.set_gone(true);
    Emit(std::move(delta));
  }
}

int LeafRegistry::ExpireIdle() {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  ExpireChallengesLocked(now);
  std::vector<std::string> idle;
  for (const auto& [id, leaf] : leaves_) {
    if (now - leaf.last_seen > options_.session_timeout) idle.push_back(id);
  }
  for (const std::string& id : idle) RemoveLeafLocked(id, /*withdraw=*/true);
  return static_cast<int>(idle.size());
}

void LeafRegistry::SettleIfDue() const {
  const absl::Time now = clock_->Now();
  {
    absl::ReaderMutexLock lock(&mu_);
    if (!index_.AnyDue(now)) return;
  }
  // Settling follows the clock: what the leaves share is the same, only
  // which votes on names count is brought up to now.
  absl::MutexLock lock(&mu_);
  const_cast<InvertedIndex&>(index_).Settle(now);
}

absl::StatusOr<search::SearchPage> LeafRegistry::Search(
    const search::ParsedQuery& query) const {
  SettleIfDue();
  absl::ReaderMutexLock lock(&mu_);
  return index_.Search(query);
}

std::optional<LeafRegistry::LocalSources> LeafRegistry::Locate(
    const std::string& cid) const {
  SettleIfDue();
  absl::ReaderMutexLock lock(&mu_);
  LocalSources out;
  bool found = false;
  if (std::optional<InvertedIndex::CidSummary> s = index_.Lookup(cid)) {
    found = true;
    out.size = s->size;
    out.name = s->name;
    for (const std::string& peer : s->peers) {
      auto it = leaves_.find(peer);
      if (it == leaves_.end()) continue;
      Source& src = out.sources.emplace_back();
      src.set_peer_id(peer);
      src.set_address(it->second.address);
    }
  }
  auto pit = partial_holders_.find(cid);
  if (pit != partial_holders_.end()) {
    std::vector<std::string> peers(pit->second.begin(), pit->second.end());
    std::sort(peers.begin(), peers.end());
    for (const std::string& peer : peers) {
      auto it = leaves_.find(peer);
      if (it == leaves_.end()) continue;
      if (!found) {
        found = true;
        const FileEntry& e = it->second.partial.at(cid);
        out.size = e.size();
        out.name = e.name();
      }
      Source& src = out.sources.emplace_back();
      src.set_peer_id(peer);
      src.set_address(it->second.address);
      src.set_partial(true);
    }
  }
  if (!found) return std::nullopt;
  return out;
}

void LeafRegistry::EmitFullLocked(const Leaf& leaf) {
  index::PeerDelta delta;
  delta.set_peer_id(leaf.peer_id);
  delta.set_address(leaf.address);
  delta.set_full(true);
  for (FileEntry& e : index_.FilesOf(leaf.peer_id)) {
    *delta.add_added() = std::move(e);
  }
  for (const auto& [cid, e] : leaf.partial) *delta.add_partial() = e;
  Emit(std::move(delta));
}

void LeafRegistry::Emit(index::PeerDelta delta) {
  if (sink_ != nullptr) sink_->OnPeerDelta(std::move(delta));
}

int LeafRegistry::ResendAll() {
  absl::MutexLock lock(&mu_);
  for (const auto& [id, leaf] : leaves_) {
    if (leaf.chain.empty()) {
      EmitFullLocked(leaf);
      continue;
    }
    // The leaf's own signed changes since its last full list, as they were.
    for (const index::PeerDelta& d : leaf.chain) {
      index::PeerDelta copy = d;
      copy.set_address(leaf.address);
      Emit(std::move(copy));
    }
  }
  return static_cast<int>(leaves_.size());
}

bool LeafRegistry::IsJoined(const std::string& peer_id) const {
  absl::ReaderMutexLock lock(&mu_);
  return leaves_.contains(peer_id);
}

int LeafRegistry::leaf_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return static_cast<int>(leaves_.size());
}

bool LeafRegistry::LearnKnownSince(const std::string& peer_id,
                                   absl::Time since) {
  {
    absl::MutexLock lock(&mu_);
    auto it = leaves_.find(peer_id);
    if (it == leaves_.end()) return false;
    const absl::Time now = clock_->Now();
    since = std::min(since, now);
    Leaf& leaf = it->second;
    if (since >= leaf.known_since) return false;
    leaf.known_since = since;
    index_.SetKnownSince(peer_id, since, now);
  }
  SettleIfDue();
  return true;
}

std::optional<LeafRegistry::LeafInfo> LeafRegistry::GetLeaf(
    const std::string& peer_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = leaves_.find(peer_id);
  if (it == leaves_.end()) return std::nullopt;
  const Leaf& leaf = it->second;
  LeafInfo out;
  out.peer_id = leaf.peer_id;
  out.address = leaf.address;
  out.capacity = leaf.capacity;
  out.joined = leaf.joined;
  out.known_since = leaf.known_since;
  out.last_seen = leaf.last_seen;
  out.file_count = index_.FileCountOf(leaf.peer_id);
  out.partial_count = leaf.partial.size();
  return out;
}

absl::Status LeafRegistry::CheckBudgetsLocked(const Leaf& leaf,
                                              const Usage& after) const {
  if (after.name_bytes > leaf.usage.name_bytes &&
      static_cast<size_t>(after.name_bytes) >
          options_.max_name_bytes_per_leaf) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "over the budget of ", options_.max_name_bytes_per_leaf,
        " bytes of names per leaf (max_name_bytes_per_leaf): this change "
        "makes ", after.name_bytes, "; nothing of it was applied"));
  }
  const int64_t files = total_.files - leaf.usage.files + after.files;
  if (after.files > leaf.usage.files &&
      static_cast<size_t>(files) > options_.max_files_total) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "over this supernode's budget of ", options_.max_files_total,
        " files over all its leaves (max_files): this change makes ", files,
        "; nothing of it was applied (share through another supernode, or "
        "share fewer files)"));
  }
  const int64_t bytes =
      total_.name_bytes - leaf.usage.name_bytes + after.name_bytes;
  if (after.name_bytes > leaf.usage.name_bytes &&
      static_cast<size_t>(bytes) > options_.max_name_bytes_total) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "over this supernode's budget of ", options_.max_name_bytes_total,
        " bytes of names over all its leaves (max_name_bytes): this change "
        "makes ", bytes, "; nothing of it was applied"));
  }
  return absl::OkStatus();
}

void LeafRegistry::SetUsageLocked(Leaf& leaf, const Usage& after) {
  total_.files += after.files - leaf.usage.files;
  total_.name_bytes += after.name_bytes - leaf.usage.name_bytes;
  leaf.usage = after;
}

LeafRegistry::Usage LeafRegistry::usage() const {
  absl::ReaderMutexLock lock(&mu_);
  return total_;
}

size_t LeafRegistry::file_count() const {
  absl::ReaderMutexLock lock(&mu_);
  return index_.entry_count();
}

}  // namespace supernode
}  // namespace trove
