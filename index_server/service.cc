#include "index_server/service.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/validation.h"
#include "index_server/text_norm.h"

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
    case absl::StatusCode::kDeadlineExceeded:
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

absl::Status ValidatePublishDeltas(const index::PublishDeltasRequest& request,
                                   const IndexServiceOptions& options) {
  absl::Status s = ValidateHexId(request.supernode_id(), "supernode_id");
  if (!s.ok()) return s;
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
    grpc::ServerContext*, const index::RegisterSupernodeRequest* request,
    index::LeaseResponse* response) {
  absl::Status s = ValidateHexId(request->supernode_id(), "supernode_id");
  if (s.ok()) s = ValidateAddress(request->address());
  if (s.ok()) s = ValidateCapacity(request->capacity());
  if (!s.ok()) return ToGrpcStatus(s);
  SupernodeRegistration reg;
  reg.supernode_id = request->supernode_id();
  reg.address = request->address();
  reg.capacity = request->capacity();
  s = store_->RegisterSupernode(reg, options_.lease);
  if (!s.ok()) return StoreFailure(s);
  TROVE_LOG(INFO) << "supernode " << reg.supernode_id.substr(0, 12)
                  << "... registered at " << reg.address;
  FillLease(response);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::RenewLease(grpc::ServerContext*,
                                          const index::RenewLeaseRequest* request,
                                          index::LeaseResponse* response) {
  absl::Status s = ValidateHexId(request->supernode_id(), "supernode_id");
  if (s.ok() && request->leaf_count() < 0) {
    s = absl::InvalidArgumentError("leaf_count is negative");
  }
  if (!s.ok()) return ToGrpcStatus(s);
  s = store_->RenewLease(request->supernode_id(), request->leaf_count(),
                         options_.lease);
  if (!s.ok()) return StoreFailure(s);
  FillLease(response);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::PublishDeltas(
    grpc::ServerContext*, const index::PublishDeltasRequest* request,
    index::PublishDeltasResponse* response) {
  absl::Status s = ValidatePublishDeltas(*request, options_);
  if (!s.ok()) {
    TROVE_LOG(WARNING) << "refused batch from supernode "
                       << request->supernode_id().substr(0, 12)
                       << "...: " << s.message();
    return ToGrpcStatus(s);
  }
  absl::StatusOr<index::PublishDeltasResponse> result =
      store_->ApplyDeltas(*request);
  if (!result.ok()) return StoreFailure(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Search(grpc::ServerContext*,
                                      const index::SearchRequest* request,
                                      index::SearchResponse* response) {
  const SearchQuery& query = request->query();
  absl::Status s = ValidateSearchQuery(query);
  if (s.ok()) {
    size_t words = QueryWords(query.text()).size();
    if (words == 0) {
      s = absl::InvalidArgumentError(
          "search query has no letter or digit to search for");
    } else if (words > kMaxQueryWords) {
      s = absl::InvalidArgumentError(absl::StrCat(
          "search query has ", words, " words; the limit is ", kMaxQueryWords));
    }
  }
  if (!s.ok()) return ToGrpcStatus(s);
  int limit = EffectiveLimit(query.limit(), options_.search_default_limit,
                             options_.search_max_limit);
  absl::StatusOr<std::vector<SearchHit>> hits = store_->Search(query, limit);
  if (!hits.ok()) return StoreFailure(hits.status());
  for (SearchHit& hit : *hits) *response->add_hits() = std::move(hit);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Locate(grpc::ServerContext*,
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
      store_->Locate(request->cid(), limit);
  if (!result.ok()) return StoreFailure(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Bootstrap(grpc::ServerContext*,
                                         const index::BootstrapRequest*,
                                         index::BootstrapResponse* response) {
  absl::StatusOr<std::vector<index::SupernodeInfo>> live =
      store_->LiveSupernodes(std::max(1, options_.bootstrap_limit));
  if (!live.ok()) return StoreFailure(live.status());
  for (index::SupernodeInfo& info : *live) {
    *response->add_supernodes() = std::move(info);
  }
  return grpc::Status::OK;
}

}  // namespace index_server
}  // namespace trove
