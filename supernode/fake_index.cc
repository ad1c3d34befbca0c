#include "supernode/fake_index.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"

namespace trove {
namespace supernode {
namespace {

template <typename T>
grpc::Status Reply(absl::StatusOr<T> result, T* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(result).value();
  return grpc::Status::OK;
}

}  // namespace

absl::StatusOr<index::LeaseResponse> FakeIndexClient::RegisterSupernode(
    const index::RegisterSupernodeRequest& request, absl::Duration) {
  absl::MutexLock lock(&mu_);
  ++calls_["RegisterSupernode"];
  if (unavailable_) return absl::UnavailableError("index down");
  if (request.supernode_id().size() != 64) {
    return absl::InvalidArgumentError("bad supernode id");
  }
  registered_.insert(request.supernode_id());
  last_register_ = request;
  // Like the real index: a registration drops what the supernode published.
  for (auto it = owner_.begin(); it != owner_.end();) {
    if (it->second == request.supernode_id()) {
      catalog_.erase(it->first);
      partials_.erase(it->first);
      it = owner_.erase(it);
    } else {
      ++it;
    }
  }
  index::LeaseResponse lease;
  lease.set_lease_seconds(30);
  lease.set_renew_every_seconds(10);
  lease.set_generation(++generation_);
  return lease;
}

absl::StatusOr<index::SupernodeChallengeResponse>
FakeIndexClient::SupernodeChallenge(const index::SupernodeChallengeRequest&,
                                    absl::Duration) {
  absl::MutexLock lock(&mu_);
  ++calls_["SupernodeChallenge"];
  if (unavailable_) return absl::UnavailableError("index down");
  index::SupernodeChallengeResponse response;
  response.set_nonce(absl::StrCat("nonce-", generation_));
  return response;
}

absl::StatusOr<index::LeaseResponse> FakeIndexClient::RenewLease(
    const index::RenewLeaseRequest& request, absl::Duration) {
  absl::MutexLock lock(&mu_);
  ++calls_["RenewLease"];
  if (unavailable_) return absl::UnavailableError("index down");
  if (!registered_.count(request.supernode_id())) {
    return absl::NotFoundError("unknown supernode");
  }
  index::LeaseResponse lease;
  lease.set_lease_seconds(30);
  lease.set_renew_every_seconds(10);
  return lease;
}

absl::Status FakeIndexClient::EndLease(const index::EndLeaseRequest& request,
                                       absl::Duration) {
  absl::MutexLock lock(&mu_);
  ++calls_["EndLease"];
  if (unavailable_) return absl::UnavailableError("index down");
  if (request.generation() == 0 || request.generation() == generation_) {
    registered_.erase(request.supernode_id());
  }
  return absl::OkStatus();
}

absl::StatusOr<index::PublishDeltasResponse> FakeIndexClient::PublishDeltas(
    const index::PublishDeltasRequest& request, absl::Duration) {
  absl::MutexLock lock(&mu_);
  ++calls_["PublishDeltas"];
  if (unavailable_) return absl::UnavailableError("index down");
  if (!publish_status_.ok()) return publish_status_;
  if (!registered_.count(request.supernode_id())) {
    return absl::FailedPreconditionError("no live lease");
  }
  for (const index::PeerDelta& d : request.deltas()) {
    if (d.peer_id().size() != 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad peer id ", d.peer_id()));
    }
  }
  index::PublishDeltasResponse response;
  const std::string& sn = request.supernode_id();
  for (const index::PeerDelta& wire : request.deltas()) {
    // A leaf's signed change: take it from the signed bytes, as the index
    // does (verified there, not here).
    index::PeerDelta d = wire;
    if (!wire.signed_change().empty()) {
      LeafChange change;
      if (!change.ParseFromString(wire.signed_change())) {
        return absl::InvalidArgumentError("signed change does not parse");
      }
      d.set_peer_id(change.peer_id());
      d.set_address(change.address());
      d.set_full(change.full());
      d.set_gone(change.gone());
      *d.mutable_added() = change.added();
      *d.mutable_removed() = change.removed();
      *d.mutable_partial() = change.partial();
    }
    auto owner = owner_.find(d.peer_id());
    const bool other = owner != owner_.end() && owner->second != sn;
    // A `gone` only withdraws what this supernode holds; a plain delta for
    // a peer another live supernode holds is stale. (Unlike the real index,
    // this checks delta by delta rather than per folded batch.)
    if (other && d.gone()) continue;
    if (other && !d.full() && registered_.count(owner->second)) continue;
    auto& files = catalog_[d.peer_id()];
    auto& partial = partials_[d.peer_id()];
    if (d.gone() || d.full()) {
      response.set_sources_removed(response.sources_removed() + files.size() +
                                   partial.size());
      files.clear();
      partial.clear();
    }
    if (d.gone()) {
      owner_.erase(d.peer_id());
    } else {
      owner_[d.peer_id()] = sn;
      auto known = known_since_.find(d.peer_id());
      if (d.full() && known != known_since_.end()) {
        index::PeerStanding* standing = response.add_standing();
        standing->set_peer_id(d.peer_id());
        standing->set_known_since_ms(absl::ToUnixMillis(known->second));
      }
      for (const std::string& cid : d.removed()) {
        response.set_sources_removed(response.sources_removed() +
                                     files.erase(cid) + partial.erase(cid));
      }
      for (const FileEntry& e : d.partial()) {
        files.erase(e.cid());
        partial[e.cid()] = e;
        response.set_sources_added(response.sources_added() + 1);
      }
      for (const FileEntry& e : d.added()) {
        partial.erase(e.cid());
        files[e.cid()] = e;
        response.set_sources_added(response.sources_added() + 1);
      }
    }
    if (files.empty()) catalog_.erase(d.peer_id());
    if (partial.empty()) partials_.erase(d.peer_id());
  }
  published_.push_back(request);
  return response;
}

absl::StatusOr<index::SearchResponse> FakeIndexClient::Search(
    const index::SearchRequest& request, absl::Duration timeout) {
  WaitAnswerDelay();
  absl::MutexLock lock(&mu_);
  ++calls_["Search"];
  last_search_timeout_ = timeout;
  last_search_ = request;
  if (unavailable_) return absl::UnavailableError("index down");
  index::SearchResponse response;
  for (const SearchHit& h : hits_) *response.add_hits() = h;
  response.set_next_cursor(search_cursor_);
  return response;
}

absl::StatusOr<index::LocateResponse> FakeIndexClient::Locate(
    const index::LocateRequest& request, absl::Duration) {
  WaitAnswerDelay();
  absl::MutexLock lock(&mu_);
  ++calls_["Locate"];
  if (unavailable_) return absl::UnavailableError("index down");
  auto it = locate_.find(request.cid());
  if (it == locate_.end()) return absl::NotFoundError("unknown cid");
  return it->second;
}

absl::StatusOr<index::BootstrapResponse> FakeIndexClient::Bootstrap(
    const index::BootstrapRequest&, absl::Duration) {
  absl::MutexLock lock(&mu_);
  ++calls_["Bootstrap"];
  if (unavailable_) return absl::UnavailableError("index down");
  index::BootstrapResponse response;
  for (const index::SupernodeInfo& s : supernodes_) {
    *response.add_supernodes() = s;
  }
  return response;
}

void FakeIndexClient::SetAnswerDelay(absl::Duration delay) {
  absl::MutexLock lock(&mu_);
  answer_delay_ = delay;
}

void FakeIndexClient::WaitAnswerDelay() const {
  absl::Duration delay;
  {
    absl::MutexLock lock(&mu_);
    delay = answer_delay_;
  }
  if (delay > absl::ZeroDuration()) absl::SleepFor(delay);
}

void FakeIndexClient::SetUnavailable(bool unavailable) {
  absl::MutexLock lock(&mu_);
  unavailable_ = unavailable;
}

void FakeIndexClient::SetPublishStatus(absl::Status status) {
  absl::MutexLock lock(&mu_);
  publish_status_ = std::move(status);
}

void FakeIndexClient::ForgetEverything() {
  absl::MutexLock lock(&mu_);
  registered_.clear();
  catalog_.clear();
  partials_.clear();
  owner_.clear();
}

void FakeIndexClient::SetSearchHits(std::vector<SearchHit> hits) {
  absl::MutexLock lock(&mu_);
  hits_ = std::move(hits);
}

void FakeIndexClient::SetLocate(const std::string& cid,
                                index::LocateResponse response) {
  absl::MutexLock lock(&mu_);
  locate_[cid] = std::move(response);
}

void FakeIndexClient::SetKnownSince(const std::string& peer_id,
                                    absl::Time since) {
  absl::MutexLock lock(&mu_);
  known_since_[peer_id] = since;
}

void FakeIndexClient::SetSupernodes(
    std::vector<index::SupernodeInfo> supernodes) {
  absl::MutexLock lock(&mu_);
  supernodes_ = std::move(supernodes);
}

int FakeIndexClient::calls(const std::string& rpc) const {
  absl::MutexLock lock(&mu_);
  auto it = calls_.find(rpc);
  return it == calls_.end() ? 0 : it->second;
}

std::vector<index::PublishDeltasRequest> FakeIndexClient::published() const {
  absl::MutexLock lock(&mu_);
  return published_;
}

std::map<std::string, std::map<std::string, FileEntry>>
FakeIndexClient::catalog() const {
  absl::MutexLock lock(&mu_);
  return catalog_;
}

std::map<std::string, std::map<std::string, FileEntry>>
FakeIndexClient::partials() const {
  absl::MutexLock lock(&mu_);
  return partials_;
}

std::set<std::string> FakeIndexClient::registered() const {
  absl::MutexLock lock(&mu_);
  return registered_;
}

index::RegisterSupernodeRequest FakeIndexClient::last_register() const {
  absl::MutexLock lock(&mu_);
  return last_register_;
}

absl::Duration FakeIndexClient::last_search_timeout() const {
  absl::MutexLock lock(&mu_);
  return last_search_timeout_;
}

void FakeIndexClient::SetSearchCursor(std::string cursor) {
  absl::MutexLock lock(&mu_);
  search_cursor_ = std::move(cursor);
}

index::SearchRequest FakeIndexClient::last_search() const {
  absl::MutexLock lock(&mu_);
  return last_search_;
}

grpc::Status FakeIndexService::SupernodeChallenge(
    grpc::ServerContext*, const index::SupernodeChallengeRequest* request,
    index::SupernodeChallengeResponse* response) {
  return Reply(fake_->SupernodeChallenge(*request, absl::Seconds(1)),
               response);
}

grpc::Status FakeIndexService::RegisterSupernode(
    grpc::ServerContext*, const index::RegisterSupernodeRequest* request,
    index::LeaseResponse* response) {
  return Reply(fake_->RegisterSupernode(*request, absl::Seconds(1)), response);
}

grpc::Status FakeIndexService::RenewLease(
    grpc::ServerContext*, const index::RenewLeaseRequest* request,
    index::LeaseResponse* response) {
  return Reply(fake_->RenewLease(*request, absl::Seconds(1)), response);
}

grpc::Status FakeIndexService::PublishDeltas(
    grpc::ServerContext*, const index::PublishDeltasRequest* request,
    index::PublishDeltasResponse* response) {
  return Reply(fake_->PublishDeltas(*request, absl::Seconds(1)), response);
}

grpc::Status FakeIndexService::Search(grpc::ServerContext*,
                                      const index::SearchRequest* request,
                                      index::SearchResponse* response) {
  return Reply(fake_->Search(*request, absl::Seconds(1)), response);
}

grpc::Status FakeIndexService::Locate(grpc::ServerContext*,
                                      const index::LocateRequest* request,
                                      index::LocateResponse* response) {
  return Reply(fake_->Locate(*request, absl::Seconds(1)), response);
}

grpc::Status FakeIndexService::Bootstrap(grpc::ServerContext*,
                                         const index::BootstrapRequest* request,
                                         index::BootstrapResponse* response) {
  return Reply(fake_->Bootstrap(*request, absl::Seconds(1)), response);
}

}  // namespace supernode
}  // namespace trove
