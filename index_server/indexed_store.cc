#include "index_server/indexed_store.h"

#include <algorithm>
#include <utility>

#include "common/metrics.h"

namespace trove {
namespace index_server {
namespace {

// The log position of the change this thread committed last: the sink
// runs on the committing thread, inside the store call, so the call can
// wait for exactly its own change afterwards.
thread_local int64_t last_commit_on_this_thread = 0;

}  // namespace

IndexedStore::IndexedStore(PgIndexStore* pg, Options options)
    : pg_(pg),
      options_(std::move(options)),
      feed_(pg),
      follower_(&feed_, options_.follower) {
  pg_->SetChangeSink(
      [this](int64_t seq, std::shared_ptr<const CatalogChange> change) {
        last_commit_on_this_thread = seq;
        follower_.Offer(seq, std::move(change));
      });
  pg_->SetPendingSink([this](int64_t seq, bool pending) {
    if (pending) {
      follower_.Expect(seq);
    } else {
      follower_.Withdraw(seq);
    }
  });
}

IndexedStore::~IndexedStore() { Stop(); }

void IndexedStore::Start() {
  follower_.Start();
  absl::MutexLock lock(&ended_mu_);
  if (!ended_refresher_.joinable() && !ended_stopping_) {
    ended_refresher_ = std::thread([this] { RefreshEndedLeasesLoop(); });
  }
}

void IndexedStore::Stop() {
  {
    absl::MutexLock lock(&ended_mu_);
    ended_stopping_ = true;
  }
  if (ended_refresher_.joinable()) ended_refresher_.join();
  follower_.Stop();
}

void IndexedStore::AwaitOwnCommit(const CallContext& call) {
  const int64_t seq = last_commit_on_this_thread;
  if (seq == 0 || !follower_.ready()) return;
  follower_.WaitApplied(seq,
                        std::min(call.deadline, absl::Now() + options_.apply_wait));
}

absl::StatusOr<int64_t> IndexedStore::RegisterSupernode(
    const SupernodeRegistration& reg, absl::Duration lease,
    const CallContext& call) {
  last_commit_on_this_thread = 0;
  absl::StatusOr<int64_t> r = pg_->RegisterSupernode(reg, lease, call);
  if (r.ok()) AwaitOwnCommit(call);
  return r;
}

absl::Status IndexedStore::RenewLease(const std::string& supernode_id,
                                      const std::string& session_hash,
                                      int32_t leaf_count, absl::Duration lease,
                                      const CallContext& call) {
  return pg_->RenewLease(supernode_id, session_hash, leaf_count, lease, call);
}

absl::Status IndexedStore::EndLease(const std::string& supernode_id,
                                    int64_t generation,
                                    const CallContext& call) {
  absl::Status s = pg_->EndLease(supernode_id, generation, call);
  if (!s.ok()) return s;
  // Look-ups stop listing its sources at once (this thread may wait on
  // the database: EndLease is not answered on gRPC's callback threads).
  RefreshEndedLeases();
  return absl::OkStatus();
}

absl::StatusOr<index::PublishDeltasResponse> IndexedStore::ApplyDeltas(
    const index::PublishDeltasRequest& request, const CallContext& call) {
  last_commit_on_this_thread = 0;
  absl::StatusOr<index::PublishDeltasResponse> r =
      pg_->ApplyDeltas(request, call);
  if (r.ok()) {
    AwaitOwnCommit(call);
    AddStanding(request, &*r);
    static prometheus::Counter& added = metrics::Counter(
        "trove_index_ingested_sources_total",
        "Source rows PublishDeltas added or replaced, or removed",
        {{"change", "added"}});
    static prometheus::Counter& removed = metrics::Counter(
        "trove_index_ingested_sources_total",
        "Source rows PublishDeltas added or replaced, or removed",
        {{"change", "removed"}});
    added.Increment(static_cast<double>(r->sources_added()));
    removed.Increment(static_cast<double>(r->sources_removed()));
  }
  return r;
}

void IndexedStore::AddStanding(const index::PublishDeltasRequest& request,
                               index::PublishDeltasResponse* response) {
  std::shared_ptr<const MemoryCatalog> catalog = follower_.catalog();
  if (catalog == nullptr || !follower_.ready()) return;
  absl::flat_hash_set<std::string> refused;
  for (const index::RefusedChange& r : response->refused()) {
    refused.insert(r.peer_id());
  }
  absl::flat_hash_set<std::string> told;
  for (const index::PeerDelta& d : request.deltas()) {
    if (!d.full() || d.gone() || refused.contains(d.peer_id())) continue;
    if (!told.insert(d.peer_id()).second) continue;
    std::optional<absl::Time> since = catalog->KnownSince(d.peer_id());
    if (!since.has_value()) continue;
    index::PeerStanding* standing = response->add_standing();
    standing->set_peer_id(d.peer_id());
    standing->set_known_since_ms(absl::ToUnixMillis(*since));
  }
}

std::shared_ptr<const absl::flat_hash_set<std::string>>
IndexedStore::EndedLeases() {
  {
    absl::MutexLock lock(&ended_mu_);
    if (ended_ != nullptr) return ended_;
  }
  // Only the first look-up asks (the service runs it where it may wait:
  // LocatesInMemory is false until then); the background thread does the
  // rest.
  RefreshEndedLeases();
  absl::MutexLock lock(&ended_mu_);
  return ended_;
}

void IndexedStore::RefreshEndedLeases() {
  absl::StatusOr<std::vector<std::string>> ended = pg_->EndedLeases();
  absl::MutexLock lock(&ended_mu_);
  if (ended.ok()) {
    ended_ = std::make_shared<const absl::flat_hash_set<std::string>>(
        ended->begin(), ended->end());
  } else if (ended_ == nullptr) {
    ended_ = std::make_shared<const absl::flat_hash_set<std::string>>();
  }
}

void IndexedStore::RefreshEndedLeasesLoop() {
  while (true) {
    {
      absl::MutexLock lock(&ended_mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(ended_mu_) {
        return ended_stopping_;
      };
      if (ended_mu_.AwaitWithTimeout(absl::Condition(&stopping),
                                     options_.lease_check)) {
        return;
      }
      // Nobody looked anything up yet: the first look-up asks itself.
      if (ended_ == nullptr) continue;
    }
    RefreshEndedLeases();
  }
}

bool IndexedStore::LocatesInMemory() const {
  if (!follower_.ready()) return false;
  absl::MutexLock lock(&ended_mu_);
  return ended_ != nullptr;
}

absl::StatusOr<index::LocateResponse> IndexedStore::Locate(
    const std::string& cid, int limit, const CallContext& call) {
  std::shared_ptr<const MemoryCatalog> catalog = follower_.ready_catalog();
  if (catalog == nullptr) {
    return pg_->Locate(cid, limit, call);
  }
  return catalog->Locate(cid, limit, *EndedLeases());
}

absl::StatusOr<std::vector<index::SupernodeInfo>> IndexedStore::LiveSupernodes(
    int limit, const CallContext& call) {
  return pg_->LiveSupernodes(limit, call);
}

absl::StatusOr<ExpiryStats> IndexedStore::ExpireDeadSupernodes() {
  last_commit_on_this_thread = 0;
  absl::StatusOr<ExpiryStats> r = pg_->ExpireDeadSupernodes();
  if (r.ok()) {
    AwaitOwnCommit(CallContext());
    static prometheus::Counter& expired =
        metrics::Counter("trove_index_lease_expiries_total",
                         "Supernodes dropped because their lease ended");
    expired.Increment(static_cast<double>(r->supernodes));
  }
  return r;
}

absl::StatusOr<search::SearchPage> IndexedStore::Search(
    const search::ParsedQuery& query, const CallContext& call) {
  std::shared_ptr<const MemoryCatalog> catalog = follower_.ready_catalog();
  if (catalog == nullptr) {
    return absl::UnavailableError(
        "the index is still loading its catalog into memory; retry shortly");
  }
  return catalog->Search(query, call.deadline);
}

}  // namespace index_server
}  // namespace trove
