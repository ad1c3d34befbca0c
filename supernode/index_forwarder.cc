#include "supernode/index_forwarder.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/signed_change.h"

namespace trove {
namespace supernode {
namespace {

// Used when the index gives neither a renewal interval nor a lease length.
constexpr absl::Duration kDefaultRenewEvery = absl::Seconds(10);
// Shortest renewal interval, whatever the index says.
constexpr absl::Duration kMinRenewEvery = absl::Milliseconds(10);

}  // namespace

size_t IndexForwarder::Pending::entries() const {
  if (kind == kGone) return 1;
  if (kind == kSigned) return std::max<size_t>(1, chain_entries);
  return std::max<size_t>(1, added.size() + partial.size() + removed.size());
}

IndexForwarder::Pending IndexForwarder::FromDelta(
    const index::PeerDelta& delta) {
  Pending p;
  p.address = delta.address();
  if (!delta.signed_change().empty()) {
    p.kind = Pending::kSigned;
    p.chain_entries = std::max(
        1, delta.added_size() + delta.removed_size() + delta.partial_size());
    index::PeerDelta& d = p.chain.emplace_back();
    d.set_peer_id(delta.peer_id());
    d.set_signed_change(delta.signed_change());
    d.set_signature(delta.signature());
    // A full list or gone starts the chain afresh (see Merge).
    d.set_full(delta.full());
    d.set_gone(delta.gone());
    return p;
  }
  if (delta.gone()) {
    p.kind = Pending::kGone;
    return p;
  }
  p.kind = delta.full() ? Pending::kFull : Pending::kDelta;
  if (!delta.full()) {
    for (const std::string& cid : delta.removed()) p.removed.insert(cid);
  }
  // As the index applies one delta: removed, then partial, then added.
  for (const FileEntry& e : delta.partial()) {
    p.removed.erase(e.cid());
    p.partial[e.cid()] = e;
  }
  for (const FileEntry& e : delta.added()) {
    p.removed.erase(e.cid());
    p.partial.erase(e.cid());
    p.added[e.cid()] = e;
  }
  return p;
}

size_t IndexForwarder::DeltaCount(const Pending& pending) const {
  if (pending.kind == Pending::kGone) return 1;
  if (pending.kind == Pending::kSigned) return pending.chain.size();
  const size_t per = static_cast<size_t>(options_.max_files_per_delta);
  auto pieces = [per](size_t n) { return (n + per - 1) / per; };
  return std::max<size_t>(
      1, pieces(pending.added.size() + pending.partial.size() +
                pending.removed.size()));
}

std::vector<index::PeerDelta> IndexForwarder::ToDeltas(
    const std::string& peer_id, const Pending& pending) const {
  std::vector<index::PeerDelta> out;
  if (pending.kind == Pending::kSigned) {
    for (const index::PeerDelta& d : pending.chain) {
      index::PeerDelta& copy = out.emplace_back();
      copy.set_peer_id(d.peer_id());
      copy.set_signed_change(d.signed_change());
      copy.set_signature(d.signature());
    }
    return out;
  }
  auto next = [&]() -> index::PeerDelta& {
    index::PeerDelta& d = out.emplace_back();
    d.set_peer_id(peer_id);
    d.set_address(pending.address);
    return d;
  };
  if (pending.kind == Pending::kGone) {
    next().set_gone(true);
    return out;
  }
  const int per = options_.max_files_per_delta;
  if (pending.kind == Pending::kFull) next().set_full(true);
  auto room = [&] {
    return !out.empty() && out.back().added_size() +
                                   out.back().partial_size() +
                                   out.back().removed_size() <
                               per;
  };
  for (const std::string& cid : pending.removed) {
    if (!room()) next();
    out.back().add_removed(cid);
  }
  for (const auto& [cid, e] : pending.added) {
    if (!room()) next();
    *out.back().add_added() = e;
  }
  for (const auto& [cid, e] : pending.partial) {
    if (!room()) next();
    *out.back().add_partial() = e;
  }
  if (out.empty()) next();  // an empty delta: just the address
  return out;
}

void IndexForwarder::Merge(Pending& older, Pending newer) {
  if (newer.kind == Pending::kSigned) {
    const index::PeerDelta& first = newer.chain.front();
    if (older.kind == Pending::kSigned && !first.full() && !first.gone()) {
      // Signed changes are kept as they are, in order.
      for (index::PeerDelta& d : newer.chain) {
        older.chain.push_back(std::move(d));
      }
      older.chain_entries += newer.chain_entries;
    } else {
      older = std::move(newer);
    }
    return;
  }
  if (newer.kind != Pending::kDelta || older.kind == Pending::kSigned) {
    older = std::move(newer);
    return;
  }
  older.address = std::move(newer.address);
  switch (older.kind) {
    case Pending::kGone:
      // The peer left, then came back with nothing and added these: that is
      // its whole list.
      older.kind = Pending::kFull;
      older.added = std::move(newer.added);
      older.partial = std::move(newer.partial);
      older.removed.clear();
      return;
    case Pending::kFull:
      for (const std::string& cid : newer.removed) {
        older.added.erase(cid);
        older.partial.erase(cid);
      }
      for (auto& [cid, e] : newer.partial) {
        older.added.erase(cid);
        older.partial[cid] = std::move(e);
      }
      for (auto& [cid, e] : newer.added) {
        older.partial.erase(cid);
        older.added[cid] = std::move(e);
      }
      return;
    case Pending::kDelta:
      for (const std::string& cid : newer.removed) {
        older.added.erase(cid);
        older.partial.erase(cid);
        older.removed.insert(cid);
      }
      for (auto& [cid, e] : newer.partial) {
        older.removed.erase(cid);
        older.added.erase(cid);
        older.partial[cid] = std::move(e);
      }
      for (auto& [cid, e] : newer.added) {
        older.removed.erase(cid);
        older.partial.erase(cid);
        older.added[cid] = std::move(e);
      }
      return;
    case Pending::kSigned:
      return;  // Replaced whole above: a signed chain is never merged.
  }
}

IndexForwarder::IndexForwarder(Options options, IndexClient* client,
                               Clock* clock)
    : options_(std::move(options)),
      client_(client),
      clock_(clock),
      started_(clock->Now()) {
  absl::MutexLock lock(&mu_);
  address_ = options_.address;
  resync_threshold_ = options_.max_pending_entries;
  register_backoff_ = options_.retry_initial;
  renew_backoff_ = options_.retry_initial;
  publish_backoff_ = options_.retry_initial;
}

IndexForwarder::~IndexForwarder() { Stop(absl::Now()); }

void IndexForwarder::SetHooks(Hooks hooks) { hooks_ = std::move(hooks); }

void IndexForwarder::SetAddress(const std::string& address) {
  absl::MutexLock lock(&mu_);
  address_ = address;
}

void IndexForwarder::OnPeerDelta(index::PeerDelta delta) {
  const absl::Time now = clock_->Now();
  std::string peer_id = delta.peer_id();
  Pending p = FromDelta(delta);
  absl::MutexLock lock(&mu_);
  if (pending_.empty()) {
    first_pending_ = now;
    wake_ = true;  // the loop may be asleep until a later deadline
  }
  EnqueueLocked(peer_id, std::move(p), /*newer=*/true);
  if (pending_entries_ >= static_cast<size_t>(options_.batch_max_entries)) {
    wake_ = true;
  }
  if (delta.full() && options_.full_list_max_delay < options_.batch_max_delay) {
    // A full list makes the batch due within full_list_max_delay.
    const absl::Time due_from =
        now - options_.batch_max_delay + options_.full_list_max_delay;
    if (due_from < first_pending_) {
      first_pending_ = due_from;
      wake_ = true;
    }
  }
  if (pending_entries_ > resync_threshold_ && hooks_.resend_all &&
      !resync_wanted_) {
    resync_wanted_ = true;
    wake_ = true;
  }
}

void IndexForwarder::EnqueueLocked(const std::string& peer_id, Pending p,
                                   bool newer) {
  auto it = pending_.find(peer_id);
  if (it == pending_.end()) {
    pending_entries_ += p.entries();
    pending_.emplace(peer_id, std::move(p));
    return;
  }
  pending_entries_ -= it->second.entries();
  if (newer) {
    Merge(it->second, std::move(p));
  } else {
    Merge(p, std::move(it->second));
    it->second = std::move(p);
  }
  pending_entries_ += it->second.entries();
}

std::vector<std::pair<std::string, IndexForwarder::Pending>>
IndexForwarder::TakeBatchLocked() {
  std::vector<std::pair<std::string, Pending>> batch;
  size_t entries = 0;
  // Take peers in turn, starting after the last one taken, so that a busy
  // peer cannot hold the others back.
  size_t deltas = 0;
  while (!pending_.empty() &&
         entries < static_cast<size_t>(options_.batch_max_entries)) {
    auto it = pending_.upper_bound(cursor_);
    if (it == pending_.end()) it = pending_.begin();
    const size_t n = DeltaCount(it->second);
    if (!batch.empty() &&
        deltas + n > static_cast<size_t>(options_.max_deltas_per_batch)) {
      break;
    }
    deltas += n;
    entries += it->second.entries();
    pending_entries_ -= it->second.entries();
    cursor_ = it->first;
    batch.emplace_back(it->first, std::move(it->second));
    pending_.erase(it);
  }
  return batch;
}

void IndexForwarder::RestoreBatch(
    std::vector<std::pair<std::string, Pending>> batch,
    absl::Time first_pending) {
  absl::MutexLock lock(&mu_);
  for (auto& [peer_id, p] : batch) {
    EnqueueLocked(peer_id, std::move(p), /*newer=*/false);
  }
  if (!pending_.empty()) first_pending_ = std::min(first_pending_, first_pending);
}

absl::Duration IndexForwarder::NextBackoff(absl::Duration* backoff) {
  absl::Duration d = *backoff;
  *backoff = std::min(*backoff * 2, options_.retry_max);
  return d;
}

absl::StatusOr<index::LeaseResponse> IndexForwarder::SignedRegister(
    index::RegisterSupernodeRequest req) {
  if (options_.identity != nullptr) {
    absl::StatusOr<index::SupernodeChallengeResponse> challenge =
        client_->SupernodeChallenge(index::SupernodeChallengeRequest(),
                                    options_.rpc_timeout);
    if (!challenge.ok()) return challenge.status();
    req.set_public_key(options_.identity->public_key());
    req.set_nonce(challenge->nonce());
    absl::StatusOr<std::string> signature =
        options_.identity->Sign(RegistrationPayload(
            challenge->nonce(), req.supernode_id(), req.address()));
    if (!signature.ok()) return signature.status();
    req.set_signature(*std::move(signature));
  }
  return client_->RegisterSupernode(req, options_.rpc_timeout);
}

void IndexForwarder::TryRegister(absl::Time now) {
  index::RegisterSupernodeRequest req;
  req.set_supernode_id(options_.supernode_id);
  *req.mutable_capacity() = options_.capacity;
  req.mutable_capacity()->set_uptime_seconds(
      absl::ToInt64Seconds(now - started_));
  {
    absl::MutexLock lock(&mu_);
    req.set_address(address_);
  }
  absl::StatusOr<index::LeaseResponse> lease = SignedRegister(req);
  bool resync = false;
  {
    absl::MutexLock lock(&mu_);
    if (!lease.ok()) {
      next_register_ = now + NextBackoff(&register_backoff_);
      TROVE_LOG(WARNING) << "registering with the index failed: "
                         << lease.status() << "; retrying in "
                         << next_register_ - now;
      return;
    }
    register_backoff_ = options_.retry_initial;
    registered_ = true;
    generation_ = lease->generation();
    session_ = lease->session();
    resync = ever_registered_;
    ever_registered_ = true;
    ++stats_.registrations;
    if (options_.renew_interval > absl::ZeroDuration()) {
      renew_every_ = options_.renew_interval;
    } else if (lease->renew_every_seconds() > 0) {
      renew_every_ = absl::Seconds(lease->renew_every_seconds());
    } else if (lease->lease_seconds() > 0) {
      renew_every_ = absl::Seconds(lease->lease_seconds()) / 3;
    } else {
      renew_every_ = kDefaultRenewEvery;
    }
    renew_every_ = std::max(renew_every_, kMinRenewEvery);
    next_renew_ = now + renew_every_;
    renew_backoff_ = options_.retry_initial;
    // Publish at once whatever waited for the registration.
    next_publish_ = absl::InfinitePast();
    publish_backoff_ = options_.retry_initial;
    TROVE_LOG(INFO) << "registered with the index as " << options_.supernode_id
                    << " at " << req.address() << "; lease "
                    << lease->lease_seconds() << "s, renewing every "
                    << renew_every_;
  }
  if (hooks_.on_lease) hooks_.on_lease(*lease);
  if (resync && hooks_.resend_all) {
    // The index lost what this supernode told it: tell it all again.
    TROVE_LOG(INFO) << "re-sending every leaf's full list to the index";
    hooks_.resend_all();
    absl::MutexLock lock(&mu_);
    ++stats_.resyncs;
  }
  RefreshSupernodes();
}

void IndexForwarder::TryRenew(absl::Time now) {
  index::RenewLeaseRequest req;
  req.set_supernode_id(options_.supernode_id);
  req.set_leaf_count(hooks_.leaf_count ? hooks_.leaf_count() : 0);
  if (hooks_.presences) {
    for (index::SignedPresence& p : hooks_.presences()) {
      *req.add_presences() = std::move(p);
    }
  }
  {
    absl::MutexLock lock(&mu_);
    req.set_session(session_);
  }
  absl::StatusOr<index::LeaseResponse> lease =
      client_->RenewLease(req, options_.rpc_timeout);
  {
    absl::MutexLock lock(&mu_);
    if (lease.ok()) {
      renew_backoff_ = options_.retry_initial;
      next_renew_ = now + renew_every_;
    } else if (lease.status().code() == absl::StatusCode::kNotFound ||
               lease.status().code() == absl::StatusCode::kUnauthenticated ||
               lease.status().code() ==
                   absl::StatusCode::kPermissionDenied) {
      TROVE_LOG(WARNING) << "the index no longer knows this supernode ("
                         << lease.status().message()
                         << "); registering again";
      registered_ = false;
      next_register_ = now;
      next_renew_ = absl::InfiniteFuture();
      return;
    } else {
      next_renew_ = now + NextBackoff(&renew_backoff_);
      TROVE_LOG(WARNING) << "renewing the lease failed: " << lease.status();
      return;
    }
  }
  if (hooks_.on_lease) hooks_.on_lease(*lease);
  RefreshSupernodes();
}

void IndexForwarder::RefreshSupernodes() {
  absl::StatusOr<index::BootstrapResponse> r =
      client_->Bootstrap(index::BootstrapRequest(), options_.rpc_timeout);
  if (!r.ok()) return;
  std::vector<index::SupernodeInfo> others;
  for (const index::SupernodeInfo& s : r->supernodes()) {
    if (s.supernode_id() != options_.supernode_id) others.push_back(s);
  }
  absl::MutexLock lock(&mu_);
  others_ = std::move(others);
}

absl::Status IndexForwarder::PublishBatch(absl::Time now,
                                          absl::Duration timeout) {
  std::vector<std::pair<std::string, Pending>> batch;
  absl::Time first_pending;
  {
    absl::MutexLock lock(&mu_);
    first_pending = first_pending_;
    batch = TakeBatchLocked();
    // What is left is as old as before, so keep first_pending_.
    if (pending_.empty()) first_pending_ = absl::InfiniteFuture();
  }
  if (batch.empty()) return absl::OkStatus();
  index::PublishDeltasRequest req;
  req.set_supernode_id(options_.supernode_id);
  // Each attempt gets a new number (see the class comment).
  auto stamp = [this](index::PublishDeltasRequest* r) {
    absl::MutexLock lock(&mu_);
    r->set_generation(generation_);
    r->set_batch(++batch_number_);
    r->set_session(session_);
  };
  stamp(&req);
  for (const auto& [peer_id, p] : batch) {
    for (index::PeerDelta& d : ToDeltas(peer_id, p)) {
      *req.add_deltas() = std::move(d);
    }
  }
  absl::StatusOr<index::PublishDeltasResponse> r =
      client_->PublishDeltas(req, timeout);
  if (r.ok()) {
    HandleResponse(req, *r);
    absl::MutexLock lock(&mu_);
    publish_backoff_ = options_.retry_initial;
    ++stats_.batches_sent;
    stats_.deltas_sent += static_cast<int64_t>(batch.size());
    return absl::OkStatus();
  }
  const absl::Status status = r.status();
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    // The index refuses something in the batch. Retrying it would block
    // every later change, so send the deltas one by one and drop only those
    // refused.
    int64_t rejected = 0, sent = 0;
    std::vector<std::pair<std::string, Pending>> retry;
    for (auto& [peer_id, p] : batch) {
      index::PublishDeltasRequest one;
      one.set_supernode_id(options_.supernode_id);
      stamp(&one);
      for (index::PeerDelta& d : ToDeltas(peer_id, p)) {
        *one.add_deltas() = std::move(d);
      }
      absl::StatusOr<index::PublishDeltasResponse> r1 =
          batch.size() == 1 ? r : client_->PublishDeltas(one, timeout);
      if (r1.ok()) {
        HandleResponse(batch.size() == 1 ? req : one, *r1);
        ++sent;
      } else if (r1.status().code() == absl::StatusCode::kInvalidArgument) {
        ++rejected;
        TROVE_LOG(ERROR) << "the index refused the changes of peer "
                         << peer_id << ": " << r1.status().message();
      } else {
        retry.emplace_back(peer_id, std::move(p));
      }
    }
    {
      absl::MutexLock lock(&mu_);
      stats_.deltas_rejected += rejected;
      stats_.deltas_sent += sent;
      if (retry.empty()) return absl::OkStatus();
    }
    RestoreBatch(std::move(retry), first_pending);
    absl::MutexLock lock(&mu_);
    ++stats_.publish_failures;
    next_publish_ = now + NextBackoff(&publish_backoff_);
    return absl::UnavailableError("part of a batch could not be sent");
  }
  RestoreBatch(std::move(batch), first_pending);
  absl::MutexLock lock(&mu_);
  ++stats_.publish_failures;
  if (status.code() == absl::StatusCode::kFailedPrecondition ||
      status.code() == absl::StatusCode::kNotFound ||
      status.code() == absl::StatusCode::kUnauthenticated ||
      status.code() == absl::StatusCode::kPermissionDenied) {
    TROVE_LOG(WARNING) << "the index refused a batch for want of a lease ("
                       << status.message() << "); registering again";
    registered_ = false;
    next_register_ = now;
    next_renew_ = absl::InfiniteFuture();
  } else {
    next_publish_ = now + NextBackoff(&publish_backoff_);
    TROVE_LOG(WARNING) << "publishing to the index failed: " << status
                       << "; " << pending_entries_
                       << " entries pending, retrying in "
                       << next_publish_ - now;
  }
  return status;
}

void IndexForwarder::HandleResponse(
    const index::PublishDeltasRequest& request,
    const index::PublishDeltasResponse& response) {
  if (hooks_.known_since) {
    for (const index::PeerStanding& standing : response.standing()) {
      hooks_.known_since(standing.peer_id(),
                         absl::FromUnixMillis(standing.known_since_ms()));
    }
  }
  if (response.refused().empty()) return;
  std::set<std::string> need_full;
  for (const index::RefusedChange& refused : response.refused()) {
    TROVE_LOG(WARNING) << "the index refused a change of peer "
                       << refused.peer_id().substr(0, 12) << "...: "
                       << refused.message();
    if (refused.code() ==
        static_cast<int>(absl::StatusCode::kFailedPrecondition)) {
      need_full.insert(refused.peer_id());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    stats_.changes_refused += response.refused_size();
  }
  if (hooks_.need_full) {
    for (const std::string& peer : need_full) hooks_.need_full(peer);
  }
}

absl::Duration IndexForwarder::RunOnce() {
  absl::Time now = clock_->Now();
  bool registered, want_resync;
  {
    absl::MutexLock lock(&mu_);
    registered = registered_;
    want_resync = resync_wanted_;
  }
  if (!registered) {
    bool due;
    {
      absl::MutexLock lock(&mu_);
      due = now >= next_register_;
    }
    if (due) TryRegister(now);
  } else {
    bool due;
    {
      absl::MutexLock lock(&mu_);
      due = now >= next_renew_;
    }
    if (due) TryRenew(now);
  }

  if (want_resync && hooks_.resend_all) {
    // Too much piled up: fresh full lists replace the pending lists.
    hooks_.resend_all();
    absl::MutexLock lock(&mu_);
    resync_wanted_ = false;
    ++stats_.resyncs;
    resync_threshold_ =
        std::max(options_.max_pending_entries, 2 * pending_entries_);
    TROVE_LOG(WARNING) << "pending changes replaced by full lists; "
                       << pending_entries_ << " entries pending";
  }

  bool publish;
  {
    absl::MutexLock lock(&mu_);
    publish = registered_ && !pending_.empty() && now >= next_publish_ &&
              (pending_entries_ >=
                   static_cast<size_t>(options_.batch_max_entries) ||
               now - first_pending_ >= options_.batch_max_delay);
  }
  // A failure is logged and scheduled for retry inside.
  if (publish) PublishBatch(now, options_.rpc_timeout).IgnoreError();

  // When is something next due?
  absl::MutexLock lock(&mu_);
  absl::Time next = absl::InfiniteFuture();
  if (!registered_) {
    next = std::min(next, next_register_);
  } else {
    next = std::min(next, next_renew_);
    if (!pending_.empty()) {
      absl::Time flush =
          pending_entries_ >= static_cast<size_t>(options_.batch_max_entries)
              ? now
              : first_pending_ + options_.batch_max_delay;
      next = std::min(next, std::max(flush, next_publish_));
    }
  }
  if (resync_wanted_) next = now;
  return std::max(absl::ZeroDuration(), next - now);
}

void IndexForwarder::Loop() {
  while (true) {
    absl::Duration wait = RunOnce();
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    if (!wake_) {
      mu_.AwaitWithTimeout(absl::Condition(this, &IndexForwarder::ShouldWake),
                           std::min(wait, absl::Seconds(60)));
    }
    wake_ = false;
    if (stopping_) return;
  }
}

void IndexForwarder::Start() {
  thread_ = std::make_unique<std::thread>([this] { Loop(); });
}

void IndexForwarder::Stop(absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_ != nullptr) {
    thread_->join();
    thread_.reset();
  }
  // Send what is pending, ignoring the batching thresholds.
  absl::Duration backoff = options_.retry_initial;
  while (true) {
    bool registered;
    {
      absl::MutexLock lock(&mu_);
      if (pending_.empty()) break;
      registered = registered_;
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    absl::Status s;
    if (!registered) {
      TryRegister(clock_->Now());
      absl::MutexLock lock(&mu_);
      if (!registered_) s = absl::UnavailableError("not registered");
    } else {
      s = PublishBatch(clock_->Now(), std::min(left, options_.rpc_timeout));
    }
    if (s.ok()) continue;
    left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    absl::SleepFor(std::min(backoff, left));
    backoff = std::min(backoff * 2, options_.retry_max);
  }
  index::EndLeaseRequest end;
  {
    absl::MutexLock lock(&mu_);
    if (!pending_.empty()) {
      TROVE_LOG(WARNING) << "stopping with " << pending_entries_
                         << " entries not sent to the index; its lease on "
                            "them will run out";
    }
    if (!registered_) return;
    end.set_supernode_id(options_.supernode_id);
    end.set_generation(generation_);
  }
  // Leave the index now rather than when the lease runs out: peers stop
  // being sent here and searches stop counting this supernode's sources.
  const absl::Duration left =
      std::max(deadline - absl::Now(), absl::Milliseconds(500));
  absl::Status s = client_->EndLease(end, std::min(left, options_.rpc_timeout));
  if (s.ok()) {
    TROVE_LOG(INFO) << "left the index";
  } else {
    TROVE_LOG(WARNING) << "could not leave the index (" << s
                       << "); its lease will run out";
  }
}

bool IndexForwarder::registered() const {
  absl::MutexLock lock(&mu_);
  return registered_;
}

size_t IndexForwarder::pending_entries() const {
  absl::MutexLock lock(&mu_);
  return pending_entries_;
}

size_t IndexForwarder::pending_peers() const {
  absl::MutexLock lock(&mu_);
  return pending_.size();
}

std::vector<index::SupernodeInfo> IndexForwarder::other_supernodes() const {
  absl::MutexLock lock(&mu_);
  return others_;
}

absl::Duration IndexForwarder::renew_every() const {
  absl::MutexLock lock(&mu_);
  return renew_every_;
}

IndexForwarder::Stats IndexForwarder::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace supernode
}  // namespace trove
