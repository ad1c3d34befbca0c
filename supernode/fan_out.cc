#include "supernode/fan_out.h"

#include <openssl/rand.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/server_util.h"
#include "protos/supernode.grpc.pb.h"

namespace trove {
namespace supernode {
namespace {

constexpr size_t kQueryIdBytes = 16;
constexpr size_t kMinQueryIdBytes = 8;
constexpr size_t kMaxQueryIdBytes = 64;

class GrpcSupernodeLink : public SupernodeLink {
 public:
  explicit GrpcSupernodeLink(std::shared_ptr<const TlsContext> tls)
      : tls_(std::move(tls)) {}

  absl::StatusOr<SearchResponse> PeerSearch(const SupernodeRef& target,
                                            const PeerSearchRequest& request,
                                            absl::Time deadline) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    SearchResponse response;
    grpc::Status s = StubFor(target)->PeerSearch(&ctx, request, &response);
    if (!s.ok()) return FromGrpcStatus(s);
    return response;
  }

  absl::StatusOr<LocateResponse> PeerLocate(const SupernodeRef& target,
                                            const PeerLocateRequest& request,
                                            absl::Time deadline) override {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(deadline));
    LocateResponse response;
    grpc::Status s = StubFor(target)->PeerLocate(&ctx, request, &response);
    if (!s.ok()) return FromGrpcStatus(s);
    return response;
  }

 private:
  std::shared_ptr<SupernodeService::Stub> StubFor(const SupernodeRef& target) {
    const std::string key = absl::StrCat(target.address(), "/",
                                         target.supernode_id());
    absl::MutexLock lock(&mu_);
    auto it = stubs_.find(key);
    if (it != stubs_.end()) return it->second;
    std::shared_ptr<SupernodeService::Stub> stub = SupernodeService::NewStub(
        MakeChannel(target.address(), Expected::Supernode(target.supernode_id()),
                    tls_.get()));
    // Addresses change rarely; a bounded cache is enough.
    if (stubs_.size() > 1000) stubs_.clear();
    stubs_[key] = stub;
    return stub;
  }

  const std::shared_ptr<const TlsContext> tls_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<SupernodeService::Stub>>
      stubs_ ABSL_GUARDED_BY(mu_);
};

// Runs `call(i)` for i in [0, n) on n threads and waits for all. Each call
// is bounded by its own deadline.
void InParallel(size_t n, const std::function<void(size_t)>& call) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(call, i);
  for (std::thread& t : threads) t.join();
}

}  // namespace

std::unique_ptr<SupernodeLink> NewGrpcSupernodeLink(
    std::shared_ptr<const TlsContext> tls) {
  return std::make_unique<GrpcSupernodeLink>(std::move(tls));
}

absl::Status ValidateFanOut(const FanOut& fan_out, int max_hops) {
  if (fan_out.query_id().size() < kMinQueryIdBytes ||
      fan_out.query_id().size() > kMaxQueryIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "fan_out.query_id must be ", kMinQueryIdBytes, " to ",
        kMaxQueryIdBytes, " bytes, got ", fan_out.query_id().size()));
  }
  if (fan_out.hops_left() < 0 || fan_out.hops_left() > max_hops) {
    return absl::InvalidArgumentError(
        absl::StrCat("fan_out.hops_left must be 0 to ", max_hops, ", got ",
                     fan_out.hops_left()));
  }
  return absl::OkStatus();
}

FanOutSearch::FanOutSearch(Options options, SupernodeLink* link, Clock* clock,
                           std::function<std::vector<SupernodeRef>()> known)
    : options_(std::move(options)),
      link_(link),
      clock_(clock),
      known_(std::move(known)) {}

FanOut FanOutSearch::NewQuery() const {
  std::string id(kQueryIdBytes, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(id.data()), id.size());
  FanOut out;
  out.set_query_id(std::move(id));
  out.set_hops_left(options_.hops);
  return out;
}

bool FanOutSearch::FirstSight(const std::string& query_id) {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  while (!seen_order_.empty() &&
         (seen_order_.front().first <= now ||
          seen_order_.size() > options_.max_remembered)) {
    auto it = seen_.find(seen_order_.front().second);
    if (it != seen_.end() && it->second == seen_order_.front().first) {
      seen_.erase(it);
    }
    seen_order_.pop_front();
  }
  auto it = seen_.find(query_id);
  if (it != seen_.end() && it->second > now) return false;
  const absl::Time until = now + options_.remember;
  seen_[query_id] = until;
  seen_order_.emplace_back(until, query_id);
  return true;
}

std::vector<SupernodeRef> FanOutSearch::Targets() const {
  std::vector<SupernodeRef> targets = known_ ? known_() : std::vector<SupernodeRef>();
  if (targets.size() > static_cast<size_t>(options_.max_targets)) {
    targets.resize(options_.max_targets);
  }
  return targets;
}

std::vector<SearchHit> FanOutSearch::Search(const SearchQuery& query,
                                            const FanOut& from,
                                            absl::Time deadline) {
  std::vector<SearchHit> hits;
  if (from.hops_left() <= 0) return hits;
  const std::vector<SupernodeRef> targets = Targets();
  if (targets.empty()) return hits;
  PeerSearchRequest request;
  *request.mutable_query() = query;
  request.mutable_fan_out()->set_query_id(from.query_id());
  request.mutable_fan_out()->set_hops_left(from.hops_left() - 1);
  absl::Mutex mu;
  InParallel(targets.size(), [&](size_t i) {
    absl::StatusOr<SearchResponse> r =
        link_->PeerSearch(targets[i], request, deadline);
    if (!r.ok()) return;
    absl::MutexLock lock(&mu);
    for (const SearchHit& h : r->hits()) hits.push_back(h);
  });
  absl::MutexLock lock(&mu_);
  calls_ += targets.size();
  return hits;
}

FanOutSearch::Located FanOutSearch::Locate(const std::string& cid,
                                           const FanOut& from,
                                           absl::Time deadline) {
  Located out;
  if (from.hops_left() <= 0) return out;
  const std::vector<SupernodeRef> targets = Targets();
  if (targets.empty()) return out;
  PeerLocateRequest request;
  request.set_cid(cid);
  request.mutable_fan_out()->set_query_id(from.query_id());
  request.mutable_fan_out()->set_hops_left(from.hops_left() - 1);
  std::vector<absl::StatusOr<LocateResponse>> answers(
      targets.size(), absl::UnavailableError("not asked"));
  InParallel(targets.size(), [&](size_t i) {
    answers[i] = link_->PeerLocate(targets[i], request, deadline);
  });
  absl::flat_hash_set<std::string> seen;
  for (const absl::StatusOr<LocateResponse>& a : answers) {
    if (!a.ok()) continue;
    if (out.name.empty()) {
      out.size = a->size();
      out.name = a->name();
    }
    for (const Source& s : a->sources()) {
      if (seen.insert(s.peer_id()).second) out.sources.push_back(s);
    }
  }
  absl::MutexLock lock(&mu_);
  calls_ += targets.size();
  return out;
}

int64_t FanOutSearch::calls() const {
  absl::MutexLock lock(&mu_);
  return calls_;
}

}  // namespace supernode
}  // namespace trove
