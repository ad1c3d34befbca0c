#include "index_server/service.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/search/query.h"
#include "common/validation.h"

namespace trove {
namespace index_server {
namespace {

// Prefixes a validation failure with where it happened.
absl::Status At(const std::string& where, const absl::Status& status) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", status.message()));
}

// "deltas[3] (peer 1a2b3c4d...)"; the peer id only when it is well formed.
std::string DeltaLabel(int i, const index::PeerDelta& delta) {
  std::string label = absl::StrCat("deltas[", i, "]");
  if (ValidateHexId(delta.peer_id(), "peer_id").ok()) {
    absl::StrAppend(&label, " (peer ", delta.peer_id().substr(0, 12), "...)");
  }
  return label;
}

absl::Status ValidateCapacity(const Capacity& c) {
  if (c.upload_bytes_per_second() < 0 || c.uptime_seconds() < 0 ||
      c.free_memory_bytes() < 0) {
    return absl::InvalidArgumentError("capacity values must not be negative");
  }
  return absl::OkStatus();
}

// A store failure as a gRPC status; failures that are the server's
// problem rather than the caller's are logged.
grpc::Status StoreFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kAborted:
      TROVE_LOG(WARNING) << status;
      break;
    default:
      break;
  }
  return ToGrpcStatus(status);
}

// `requested` when positive, `fallback` when 0, capped at `max`.
int EffectiveLimit(int requested, int fallback, int max) {
  return std::max(1, std::min(requested > 0 ? requested : fallback, max));
}

}  // namespace

CallContext CallOf(grpc::ServerContext* context) {
  CallContext call;
  if (context == nullptr) return call;
  const auto deadline = context->deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    call.deadline = absl::FromChrono(deadline);
  }
  call.cancelled = [context] { return context->IsCancelled(); };
  return call;
}

absl::Status ValidatePublishDeltas(const index::PublishDeltasRequest& request,
                                   const IndexServiceOptions& options) {
  absl::Status s = ValidateHexId(request.supernode_id(), "supernode_id");
  if (!s.ok()) return s;
  if (request.generation() < 0 || request.batch() < 0) {
    return absl::InvalidArgumentError("generation and batch must not be negative");
  }
  if (request.generation() > 0 && request.batch() == 0) {
    return absl::InvalidArgumentError(
        "a batch with a generation needs a batch number above 0");
  }
  if (request.deltas_size() > options.max_deltas_per_batch) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch has ", request.deltas_size(), " deltas; the limit is ",
        options.max_deltas_per_batch));
  }
  for (int i = 0; i < request.deltas_size(); ++i) {
    const index::PeerDelta& d = request.deltas(i);
    const std::string where = DeltaLabel(i, d);
    s = ValidateHexId(d.peer_id(), "peer_id");
    if (!s.ok()) return At(where, s);
    if (d.gone()) continue;  // other fields are ignored
    s = ValidateAddress(d.address());
    if (!s.ok()) return At(where, s);
    if (d.added_size() > options.max_files_per_delta) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", d.added_size(), " added files; the limit is ",
                       options.max_files_per_delta));
    }
    if (d.removed_size() > options.max_files_per_delta) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", d.removed_size(), " removed cids; the limit is ",
          options.max_files_per_delta));
    }
    if (d.partial_size() > options.max_files_per_delta) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ", d.partial_size(), " partial files; the limit is ",
          options.max_files_per_delta));
    }
    if (static_cast<int>(d.signature().size()) > options.max_signature_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": signature is ", d.signature().size(),
          " bytes; the limit is ", options.max_signature_bytes));
    }
    for (int j = 0; j < d.added_size(); ++j) {
      s = ValidateFileEntry(d.added(j));
      if (!s.ok()) return At(absl::StrCat(where, ": added[", j, "]"), s);
    }
    for (int j = 0; j < d.partial_size(); ++j) {
      s = ValidateFileEntry(d.partial(j));
      if (!s.ok()) return At(absl::StrCat(where, ": partial[", j, "]"), s);
    }
    for (int j = 0; j < d.removed_size(); ++j) {
      s = ValidateHexId(d.removed(j), "cid");
      if (!s.ok()) return At(absl::StrCat(where, ": removed[", j, "]"), s);
    }
  }
  return absl::OkStatus();
}

IndexServiceImpl::IndexServiceImpl(IndexStore* store,
                                   const IndexServiceOptions& options)
    : store_(store), options_(options) {}

void IndexServiceImpl::FillLease(index::LeaseResponse* response) const {
  response->set_lease_seconds(static_cast<int32_t>(
      std::ceil(absl::ToDoubleSeconds(options_.lease))));
  response->set_renew_every_seconds(std::max<int32_t>(
      1, static_cast<int32_t>(absl::ToInt64Seconds(options_.renew_every))));
}

grpc::Status IndexServiceImpl::RegisterSupernode(
    grpc::ServerContext* context, const index::RegisterSupernodeRequest* request,
    index::LeaseResponse* response) {
  absl::Status s = ValidateHexId(request->supernode_id(), "supernode_id");
  if (s.ok()) s = ValidateAddress(request->address());
  if (s.ok()) s = ValidateCapacity(request->capacity());
  if (!s.ok()) return ToGrpcStatus(s);
  SupernodeRegistration reg;
  reg.supernode_id = request->supernode_id();
  reg.address = request->address();
  reg.capacity = request->capacity();
  absl::StatusOr<int64_t> generation =
      store_->RegisterSupernode(reg, options_.lease, CallOf(context));
  if (!generation.ok()) return StoreFailure(generation.status());
  TROVE_LOG(INFO) << "supernode " << reg.supernode_id.substr(0, 12)
                  << "... registered at " << reg.address << " (generation "
                  << *generation << ")";
  FillLease(response);
  response->set_generation(*generation);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::RenewLease(grpc::ServerContext* context,
                                          const index::RenewLeaseRequest* request,
                                          index::LeaseResponse* response) {
  absl::Status s = ValidateHexId(request->supernode_id(), "supernode_id");
  if (s.ok() && request->leaf_count() < 0) {
    s = absl::InvalidArgumentError("leaf_count is negative");
  }
  if (!s.ok()) return ToGrpcStatus(s);
  s = store_->RenewLease(request->supernode_id(), request->leaf_count(),
                         options_.lease, CallOf(context));
  if (!s.ok()) return StoreFailure(s);
  FillLease(response);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::EndLease(grpc::ServerContext* context,
                                        const index::EndLeaseRequest* request,
                                        index::EndLeaseResponse*) {
  absl::Status s = ValidateHexId(request->supernode_id(), "supernode_id");
  if (s.ok() && request->generation() < 0) {
    s = absl::InvalidArgumentError("generation is negative");
  }
  if (!s.ok()) return ToGrpcStatus(s);
  s = store_->EndLease(request->supernode_id(), request->generation(),
                       CallOf(context));
  if (!s.ok()) return StoreFailure(s);
  TROVE_LOG(INFO) << "supernode " << request->supernode_id().substr(0, 12)
                  << "... ended its lease";
  // Its peers and sources go now rather than at the next expiry round.
  absl::StatusOr<ExpiryStats> expired = store_->ExpireDeadSupernodes();
  if (!expired.ok()) {
    TROVE_LOG(WARNING) << "expiry after an ended lease failed: "
                       << expired.status();
  }
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::PublishDeltas(
    grpc::ServerContext* context, const index::PublishDeltasRequest* request,
    index::PublishDeltasResponse* response) {
  absl::Status s = ValidatePublishDeltas(*request, options_);
  if (!s.ok()) {
    TROVE_LOG(WARNING) << "refused batch from supernode "
                       << request->supernode_id().substr(0, 12)
                       << "...: " << s.message();
    return ToGrpcStatus(s);
  }
  absl::StatusOr<index::PublishDeltasResponse> result =
      store_->ApplyDeltas(*request, CallOf(context));
  if (!result.ok()) return StoreFailure(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Search(grpc::ServerContext* context,
                                      const index::SearchRequest* request,
                                      index::SearchResponse* response) {
  const SearchQuery& query = request->query();
  absl::Status s = ValidateSearchQuery(query);
  if (!s.ok()) return ToGrpcStatus(s);
  absl::StatusOr<search::ParsedQuery> parsed = search::ParseQuery(
      query, options_.search_default_limit, options_.search_max_limit);
  if (!parsed.ok()) return ToGrpcStatus(parsed.status());
  // Refuse at once what cannot be served now, rather than queue it.
  if (searches_in_flight_.fetch_add(1) >= options_.max_concurrent_searches) {
    searches_in_flight_.fetch_sub(1);
    return ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
        "the index is answering ", options_.max_concurrent_searches,
        " searches already; retry shortly")));
  }
  struct Release {
    std::atomic<int>* n;
    ~Release() { n->fetch_sub(1); }
  } release{&searches_in_flight_};
  const CallContext call = CallOf(context);
  if (absl::Now() >= call.deadline) {
    return ToGrpcStatus(absl::DeadlineExceededError(
        "the search's deadline passed before it started"));
  }
  absl::StatusOr<search::SearchPage> page = store_->Search(*parsed, call);
  if (!page.ok()) return StoreFailure(page.status());
  for (SearchHit& hit : page->hits) *response->add_hits() = std::move(hit);
  response->set_next_cursor(std::move(page->next_cursor));
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Locate(grpc::ServerContext* context,
                                      const index::LocateRequest* request,
                                      index::LocateResponse* response) {
  absl::Status s = ValidateHexId(request->cid(), "cid");
  if (s.ok() && request->limit() < 0) {
    s = absl::InvalidArgumentError("limit is negative");
  }
  if (!s.ok()) return ToGrpcStatus(s);
  int limit = EffectiveLimit(request->limit(), options_.locate_default_limit,
                             options_.locate_max_limit);
  absl::StatusOr<index::LocateResponse> result =
      store_->Locate(request->cid(), limit, CallOf(context));
  if (!result.ok()) return StoreFailure(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Bootstrap(grpc::ServerContext* context,
                                         const index::BootstrapRequest*,
                                         index::BootstrapResponse* response) {
  absl::StatusOr<std::vector<index::SupernodeInfo>> live =
      store_->LiveSupernodes(std::max(1, options_.bootstrap_limit),
                             CallOf(context));
  if (!live.ok()) return StoreFailure(live.status());
  for (index::SupernodeInfo& info : *live) {
    *response->add_supernodes() = std::move(info);
  }
  return grpc::Status::OK;
}

}  // namespace index_server
}  // namespace trove
