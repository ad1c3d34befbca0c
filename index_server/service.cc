#include "index_server/service.h"

#include <openssl/rand.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/identity.h"
#include "common/log.h"
#include "common/signed_change.h"
#include "common/tls_credentials.h"
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

// With TLS, a supernode's calls must come over a connection proven by its
// own key (a leaf or another supernode cannot use its session). OK on
// plaintext.
absl::Status CheckSupernodeCaller(const grpc::ServerContext* context,
                                  const std::string& supernode_id) {
  if (context == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> caller = CallerId(context);
  if (!caller.ok()) return absl::OkStatus();  // plaintext
  if (*caller != supernode_id) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the connection is proven by key ", caller->substr(0, 12),
        "..., not supernode ", supernode_id.substr(0, 12), "...'s"));
  }
  return absl::OkStatus();
}

}  // namespace

CallContext CallOf(grpc::ServerContextBase* context) {
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

absl::Status VerifySignedDeltas(index::PublishDeltasRequest* request,
                                int threads, bool check) {
  const int n = request->deltas_size();
  std::vector<absl::Status> results(n);
  auto verify = [request, &results, check](int i) {
    index::PeerDelta* d = request->mutable_deltas(i);
    const std::string where = absl::StrCat("deltas[", i, "]");
    if (!check) {
      LeafChange change;
      if (d->signed_change().empty()) return;
      if (!change.ParseFromString(d->signed_change())) {
        results[i] = absl::InvalidArgumentError(
            absl::StrCat(where, ": the signed change does not parse"));
        return;
      }
      d->Clear();
      d->set_peer_id(change.peer_id());
      d->set_address(change.address());
      d->set_full(change.full());
      d->set_gone(change.gone());
      d->mutable_added()->Swap(change.mutable_added());
      d->mutable_removed()->Swap(change.mutable_removed());
      d->mutable_partial()->Swap(change.mutable_partial());
      return;
    }
    if (d->signed_change().empty()) {
      results[i] = absl::InvalidArgumentError(absl::StrCat(
          where, ": the change is not signed by its peer (signed_change is "
                 "empty)"));
      return;
    }
    absl::StatusOr<LeafChange> change =
        VerifyLeafChange(d->signed_change(), d->signature());
    if (!change.ok()) {
      results[i] = absl::Status(
          change.status().code(),
          absl::StrCat(where, ": ", change.status().message()));
      return;
    }
    if (change->supernode_id() != request->supernode_id()) {
      results[i] = absl::PermissionDeniedError(absl::StrCat(
          where, " (peer ", change->peer_id().substr(0, 12),
          "...): the peer signed this change for another supernode"));
      return;
    }
    d->Clear();
    d->set_peer_id(change->peer_id());
    d->set_address(change->address());
    d->set_full(change->full());
    d->set_gone(change->gone());
    d->mutable_added()->Swap(change->mutable_added());
    d->mutable_removed()->Swap(change->mutable_removed());
    d->mutable_partial()->Swap(change->mutable_partial());
    d->set_seq(change->seq());
    d->set_prev_seq(change->prev_seq());
    if (d->seq() <= 0) {
      results[i] = absl::InvalidArgumentError(
          absl::StrCat(where, ": the change's seq must be positive"));
    }
  };
  const int workers = std::max(1, std::min(threads, n / 8));
  if (workers <= 1) {
    for (int i = 0; i < n; ++i) verify(i);
  } else {
    std::vector<std::thread> pool;
    for (int w = 0; w < workers; ++w) {
      pool.emplace_back([w, workers, n, &verify] {
        for (int i = w; i < n; i += workers) verify(i);
      });
    }
    for (std::thread& t : pool) t.join();
  }
  for (const absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateRegisterSupernode(
    const index::RegisterSupernodeRequest& request) {
  absl::Status s = ValidateHexId(request.supernode_id(), "supernode_id");
  if (s.ok()) s = ValidateAddress(request.address());
  if (s.ok()) s = ValidateCapacity(request.capacity());
  return s;
}

absl::Status CheckRegistrationProof(const index::RegisterSupernodeRequest& r) {
  if (r.public_key().size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "public_key must be a raw 32-byte Ed25519 key, got ",
        r.public_key().size(), " bytes"));
  }
  if (PeerIdFromPublicKey(r.public_key()) != r.supernode_id()) {
    return absl::InvalidArgumentError(
        "supernode_id is not the SHA-256 of public_key");
  }
  if (r.signature().size() != 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature must be 64 bytes, got ", r.signature().size()));
  }
  absl::Status s = VerifySignature(
      r.public_key(),
      RegistrationPayload(r.nonce(), r.supernode_id(), r.address()),
      r.signature());
  if (!s.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the registration's signature is wrong: ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateRenewLease(const index::RenewLeaseRequest& request) {
  absl::Status s = ValidateHexId(request.supernode_id(), "supernode_id");
  if (s.ok() && request.leaf_count() < 0) {
    s = absl::InvalidArgumentError("leaf_count is negative");
  }
  return s;
}

std::vector<std::pair<std::string, absl::Time>> VerifiedPresences(
    const index::RenewLeaseRequest& request, absl::Time latest,
    int* refused) {
  std::vector<std::pair<std::string, absl::Time>> presences;
  for (const index::SignedPresence& signed_presence : request.presences()) {
    absl::StatusOr<Presence> p = VerifyPresence(signed_presence.presence(),
                                                signed_presence.signature());
    if (!p.ok() || p->supernode_id() != request.supernode_id()) {
      if (refused != nullptr) ++*refused;
      continue;
    }
    presences.emplace_back(
        p->peer_id(),
        std::min(latest, absl::FromUnixMillis(p->valid_until_ms())));
  }
  return presences;
}

absl::Status ValidateEndLease(const index::EndLeaseRequest& request) {
  absl::Status s = ValidateHexId(request.supernode_id(), "supernode_id");
  if (s.ok() && request.generation() < 0) {
    s = absl::InvalidArgumentError("generation is negative");
  }
  return s;
}

absl::Status ValidateLocate(const index::LocateRequest& request) {
  absl::Status s = ValidateHexId(request.cid(), "cid");
  if (s.ok() && request.limit() < 0) {
    s = absl::InvalidArgumentError("limit is negative");
  }
  return s;
}

absl::Status ValidateLocateMany(const index::LocateManyRequest& request,
                                int max_cids) {
  if (request.cids_size() > max_cids) {
    return absl::InvalidArgumentError(
        absl::StrCat("LocateMany asks for ", request.cids_size(),
                     " cids; the most in one call is ", max_cids));
  }
  if (request.limit() < 0) {
    return absl::InvalidArgumentError("limit is negative");
  }
  for (int i = 0; i < request.cids_size(); ++i) {
    absl::Status s =
        ValidateHexId(request.cids(i), absl::StrCat("cids[", i, "]"));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<search::ParsedQuery> ParseSearchRequest(
    const index::SearchRequest& request, const IndexServiceOptions& options) {
  return search::ParseRequestQuery(request.query(),
                                   options.search_default_limit,
                                   options.search_max_limit);
}

absl::StatusOr<CapacityReport> CheckPeerReport(
    const index::ReportPeerRequest& request) {
  if (request.report().size() > 4096 || request.signature().size() != 64) {
    return absl::InvalidArgumentError(
        "a capacity report is at most 4096 bytes, with a 64-byte signature");
  }
  absl::StatusOr<CapacityReport> report =
      VerifyCapacityReport(request.report(), request.signature());
  if (!report.ok()) return report.status();
  absl::Status s = ValidateAddress(report->address());
  if (!s.ok()) return At("address", s);
  if (!report->supernode_id().empty()) {
    s = ValidateHexId(report->supernode_id(), "supernode_id");
  }
  if (s.ok() && !report->supernode_address().empty()) {
    s = ValidateAddress(report->supernode_address());
    if (!s.ok()) s = At("supernode_address", s);
  }
  if (s.ok()) s = ValidateCapacity(report->capacity());
  if (!s.ok()) return s;
  return report;
}

absl::StatusOr<const index::PublishDeltasRequest*> CheckPublishDeltas(
    const index::PublishDeltasRequest& request,
    const IndexServiceOptions& options,
    index::PublishDeltasRequest* verified) {
  const index::PublishDeltasRequest* effective = &request;
  bool signed_deltas = false;
  for (const index::PeerDelta& d : request.deltas()) {
    signed_deltas = signed_deltas || !d.signed_change().empty();
  }
  if (options.verify_leaf_changes || signed_deltas) {
    if (request.deltas_size() > options.max_deltas_per_batch) {
      return absl::InvalidArgumentError(absl::StrCat(
          "batch has ", request.deltas_size(), " deltas; the limit is ",
          options.max_deltas_per_batch));
    }
    *verified = request;
    absl::Status s = VerifySignedDeltas(verified, options.verify_threads,
                                        options.verify_leaf_changes);
    if (!s.ok()) return s;
    effective = verified;
  }
  absl::Status s = ValidatePublishDeltas(*effective, options);
  if (!s.ok()) return s;
  return effective;
}

IndexServiceImpl::IndexServiceImpl(IndexStore* store, TrustStore* trust,
                                   const IndexServiceOptions& options)
    : store_(store),
      trust_(trust),
      options_(options),
      challenges_(options.challenge_window),
      peer_searches_("searches", options.peer_search_rate),
      supernode_searches_("searches", options.supernode_search_rate),
      peer_locates_("locates", options.peer_locate_rate),
      supernode_locates_("locates", options.supernode_locate_rate),
      publishes_("batches", options.publish_rate),
      joins_("join requests", options.join_rate),
      address_joins_("join requests", options.join_rate_per_address),
      database_work_(options.database_threads,
                     options.max_queued_database_calls) {}

absl::Status IndexServiceImpl::AdmitJoin(grpc::ServerContext* context) {
  absl::StatusOr<CallerInfo> caller = Caller(context);
  const bool proven = caller.ok() && !caller->id.empty();
  if (proven &&
      (caller->role == CertRole::kSupernode || IsKnownSupernode(caller->id))) {
    return absl::OkStatus();
  }
  const std::string address =
      absl::StrCat("addr:", PeerAddressWithoutPort(context->peer()));
  absl::Status s =
      joins_.Admit(proven ? absl::StrCat("id:", caller->id) : address);
  if (!s.ok()) return s;
  return address_joins_.Admit(address);
}

void IndexServiceImpl::NoteSupernode(const std::string& id) {
  absl::MutexLock lock(&supernodes_mu_);
  // Supernodes are few; a table this large means something is wrong, and
  // forgetting costs only a lower limit until the next renewal.
  if (known_supernodes_.size() >= 100000) known_supernodes_.clear();
  known_supernodes_.insert(id);
}

bool IndexServiceImpl::IsKnownSupernode(const std::string& id) const {
  absl::MutexLock lock(&supernodes_mu_);
  return known_supernodes_.contains(id);
}

absl::Status IndexServiceImpl::Admit(grpc::ServerContextBase* context,
                                     CallRateLimiter* for_peers,
                                     CallRateLimiter* for_supernodes,
                                     double cost) {
  // Without limits there is nobody to tell apart.
  if (!for_peers->enabled() && !for_supernodes->enabled()) {
    return absl::OkStatus();
  }
  absl::StatusOr<CallerInfo> caller = Caller(context);
  if (caller.ok() && !caller->id.empty()) {
    CallRateLimiter* limiter = caller->role == CertRole::kSupernode ||
                                   IsKnownSupernode(caller->id)
                               ? for_supernodes
                               : for_peers;
    return limiter->Admit(absl::StrCat("id:", caller->id), cost);
  }
  return for_peers->Admit(
      absl::StrCat("addr:", PeerAddressWithoutPort(context->peer())), cost);
}

grpc::Status IndexServiceImpl::SupernodeChallenge(
    grpc::ServerContext* context, const index::SupernodeChallengeRequest*,
    index::SupernodeChallengeResponse* response) {
  if (absl::Status limited = AdmitJoin(context);
      !limited.ok()) {
    return ToGrpcStatus(limited);
  }
  response->set_nonce(challenges_.Issue(absl::Now()));
  return grpc::Status::OK;
}

absl::Status IndexServiceImpl::CheckRegistration(
    const index::RegisterSupernodeRequest& r, grpc::ServerContext* context) {
  absl::Status s = CheckRegistrationProof(r);
  if (!s.ok()) return s;
  absl::StatusOr<SupernodeKey> key =
      trust_->GetSupernodeKey(r.supernode_id(), CallOf(context));
  if (key.status().code() == absl::StatusCode::kNotFound) {
    return absl::PermissionDeniedError(absl::StrCat(
        "supernode ", r.supernode_id(),
        " is not enrolled: the operator must enrol its key first"));
  }
  if (!key.ok()) return key.status();
  if (key->revoked) {
    return absl::PermissionDeniedError(absl::StrCat(
        "supernode ", r.supernode_id(), "'s key was revoked by the operator"));
  }
  if (key->public_key != r.public_key()) {
    return absl::PermissionDeniedError(
        "the key does not match the one enrolled for this supernode id");
  }
  // Last, so a nonce is spent only by a registration that passed the rest.
  return challenges_.Redeem(r.nonce(), absl::Now());
}

void IndexServiceImpl::FillLease(index::LeaseResponse* response) const {
  response->set_lease_seconds(static_cast<int32_t>(
      std::ceil(absl::ToDoubleSeconds(options_.lease))));
  response->set_renew_every_seconds(std::max<int32_t>(
      1, static_cast<int32_t>(absl::ToInt64Seconds(options_.renew_every))));
  if (options_.lease_extras) options_.lease_extras(response);
}

grpc::Status IndexServiceImpl::RegisterSupernode(
    grpc::ServerContext* context, const index::RegisterSupernodeRequest* request,
    index::LeaseResponse* response) {
  absl::Status s = ValidateRegisterSupernode(*request);
  if (!s.ok()) return ToGrpcStatus(s);
  SupernodeRegistration reg;
  std::string session;
  if (options_.require_supernode_keys) {
    s = CheckSupernodeCaller(context, request->supernode_id());
    if (s.ok()) s = CheckRegistration(*request, context);
    if (!s.ok()) {
      TROVE_LOG(WARNING) << "refused registration of supernode "
                         << request->supernode_id().substr(0, 12) << "...: "
                         << s.message();
      return ToGrpcStatus(s);
    }
    session.assign(32, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(&session[0]), session.size());
    reg.session_hash = SessionHash(session);
  }
  reg.supernode_id = request->supernode_id();
  reg.address = request->address();
  reg.capacity = request->capacity();
  absl::StatusOr<int64_t> generation =
      store_->RegisterSupernode(reg, options_.lease, CallOf(context));
  if (!generation.ok()) return StoreFailure(generation.status());
  TROVE_LOG(INFO) << "supernode " << reg.supernode_id.substr(0, 12)
                  << "... registered at " << reg.address << " (generation "
                  << *generation << ")";
  if (options_.require_supernode_keys) NoteSupernode(reg.supernode_id);
  FillLease(response);
  response->set_generation(*generation);
  response->set_session(session);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::RenewLease(grpc::ServerContext* context,
                                          const index::RenewLeaseRequest* request,
                                          index::LeaseResponse* response) {
  absl::Status s = ValidateRenewLease(*request);
  if (s.ok() && options_.require_supernode_keys) {
    s = CheckSupernodeCaller(context, request->supernode_id());
  }
  if (!s.ok()) return ToGrpcStatus(s);
  s = store_->RenewLease(
      request->supernode_id(),
      request->session().empty() ? "" : SessionHash(request->session()),
      request->leaf_count(), options_.lease, CallOf(context));
  if (!s.ok()) return StoreFailure(s);
  if (options_.require_supernode_keys) NoteSupernode(request->supernode_id());
  if (trust_ != nullptr && request->presences_size() > 0) {
    // Leaves' presences: only those the leaf signed for this supernode, and
    // never further ahead than the leaf could mean.
    int refused = 0;
    std::vector<std::pair<std::string, absl::Time>> presences =
        VerifiedPresences(*request, absl::Now() + options_.max_presence,
                          &refused);
    if (refused > 0) {
      TROVE_LOG(WARNING) << "supernode "
                         << request->supernode_id().substr(0, 12)
                         << "... forwarded " << refused
                         << " presence(s) that do not verify";
    }
    s = trust_->RecordPresences(request->supernode_id(), presences,
                                CallOf(context));
    if (!s.ok()) return StoreFailure(s);
  }
  FillLease(response);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::EndLease(grpc::ServerContext* context,
                                        const index::EndLeaseRequest* request,
                                        index::EndLeaseResponse*) {
  absl::Status s = ValidateEndLease(*request);
  // Only the supernode itself ends its lease (its generation is no secret).
  if (s.ok() && options_.require_supernode_keys) {
    s = CheckSupernodeCaller(context, request->supernode_id());
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
  absl::Status s = ValidateHexId(request->supernode_id(), "supernode_id");
  if (s.ok() && options_.require_supernode_keys) {
    s = CheckSupernodeCaller(context, request->supernode_id());
  }
  if (s.ok()) s = publishes_.Admit(absl::StrCat("id:", request->supernode_id()));
  index::PublishDeltasRequest verified;
  if (s.ok()) {
    absl::StatusOr<const index::PublishDeltasRequest*> checked =
        CheckPublishDeltas(*request, options_, &verified);
    if (checked.ok()) {
      request = *checked;
    } else {
      s = checked.status();
    }
  }
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

grpc::ServerUnaryReactor* IndexServiceImpl::Search(
    grpc::CallbackServerContext* context, const index::SearchRequest* request,
    index::SearchResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(AnswerSearch(context, *request, response));
  return reactor;
}

template <typename Answer>
grpc::ServerUnaryReactor* IndexServiceImpl::FinishLookup(
    grpc::CallbackServerContext* context, Answer answer) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (store_->LocatesInMemory()) {
    reactor->Finish(answer());
    return reactor;
  }
  // The store asks PostgreSQL: not on this thread, which serves other calls.
  if (!database_work_.Submit([reactor, answer = std::move(answer)] {
        reactor->Finish(answer());
      })) {
    reactor->Finish(ToGrpcStatus(absl::ResourceExhaustedError(
        "too many look-ups are waiting on the database while the index "
        "loads its catalog; retry shortly")));
  }
  return reactor;
}

grpc::ServerUnaryReactor* IndexServiceImpl::Locate(
    grpc::CallbackServerContext* context, const index::LocateRequest* request,
    index::LocateResponse* response) {
  return FinishLookup(context, [this, context, request, response] {
    return AnswerLocate(context, *request, response);
  });
}

grpc::ServerUnaryReactor* IndexServiceImpl::LocateMany(
    grpc::CallbackServerContext* context,
    const index::LocateManyRequest* request,
    index::LocateManyResponse* response) {
  return FinishLookup(context, [this, context, request, response] {
    return AnswerLocateMany(context, *request, response);
  });
}

grpc::Status IndexServiceImpl::AnswerSearch(
    grpc::ServerContextBase* context, const index::SearchRequest& request,
    index::SearchResponse* response) {
  if (absl::Status limited =
          Admit(context, &peer_searches_, &supernode_searches_);
      !limited.ok()) {
    return ToGrpcStatus(limited);
  }
  absl::StatusOr<search::ParsedQuery> parsed =
      ParseSearchRequest(request, options_);
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

grpc::Status IndexServiceImpl::AnswerLocate(
    grpc::ServerContextBase* context, const index::LocateRequest& request,
    index::LocateResponse* response) {
  if (absl::Status limited =
          Admit(context, &peer_locates_, &supernode_locates_);
      !limited.ok()) {
    return ToGrpcStatus(limited);
  }
  absl::Status s = ValidateLocate(request);
  if (!s.ok()) return ToGrpcStatus(s);
  int limit = EffectiveLimit(request.limit(), options_.locate_default_limit,
                             options_.locate_max_limit);
  absl::StatusOr<index::LocateResponse> result =
      store_->Locate(request.cid(), limit, CallOf(context));
  if (!result.ok()) return StoreFailure(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::AnswerLocateMany(
    grpc::ServerContextBase* context, const index::LocateManyRequest& request,
    index::LocateManyResponse* response) {
  absl::Status s =
      ValidateLocateMany(request, options_.locate_many_max_cids);
  if (!s.ok()) return ToGrpcStatus(s);
  // Each cid costs what one Locate costs.
  if (absl::Status limited = Admit(context, &peer_locates_,
                                   &supernode_locates_,
                                   std::max(1, request.cids_size()));
      !limited.ok()) {
    return ToGrpcStatus(limited);
  }
  const int limit =
      EffectiveLimit(request.limit(), options_.locate_default_limit,
                     options_.locate_max_limit);
  const CallContext call = CallOf(context);
  response->mutable_files()->Reserve(request.cids_size());
  for (const std::string& cid : request.cids()) {
    index::LocatedFile* file = response->add_files();
    file->set_cid(cid);
    absl::StatusOr<index::LocateResponse> found =
        store_->Locate(cid, limit, call);
    if (!found.ok()) {
      if (found.status().code() == absl::StatusCode::kNotFound) continue;
      return StoreFailure(found.status());
    }
    file->set_size(found->size());
    file->set_name(std::move(*found->mutable_name()));
    file->mutable_sources()->Swap(found->mutable_sources());
  }
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::Bootstrap(grpc::ServerContext* context,
                                         const index::BootstrapRequest*,
                                         index::BootstrapResponse* response) {
  if (absl::Status limited = AdmitJoin(context);
      !limited.ok()) {
    return ToGrpcStatus(limited);
  }
  absl::StatusOr<std::vector<index::SupernodeInfo>> live =
      store_->LiveSupernodes(std::max(1, options_.bootstrap_limit),
                             CallOf(context));
  if (!live.ok()) return StoreFailure(live.status());
  for (index::SupernodeInfo& info : *live) {
    *response->add_supernodes() = std::move(info);
  }
  return grpc::Status::OK;
}

grpc::Status IndexServiceImpl::ReportPeer(
    grpc::ServerContext* context, const index::ReportPeerRequest* request,
    index::ReportPeerResponse* response) {
  if (election_.store == nullptr) {
    return ToGrpcStatus(absl::FailedPreconditionError(
        "this index does not run the supernode election"));
  }
  absl::StatusOr<CapacityReport> report = CheckPeerReport(*request);
  if (!report.ok()) return ToGrpcStatus(report.status());
  const absl::Time issued = absl::FromUnixMillis(report->issued_at_ms());
  if (absl::AbsDuration(issued - absl::Now()) > options_.max_report_skew) {
    return ToGrpcStatus(absl::UnauthenticatedError(absl::StrCat(
        "the report's time is ", absl::FormatTime(issued),
        ", too far from the index's clock (", absl::FormatTime(absl::Now()),
        "): check the peer's clock")));
  }
  absl::StatusOr<PeerStanding> standing = election_.store->RecordPeerReport(
      *report, options_.reprobe_after, options_.drain, CallOf(context));
  if (!standing.ok()) return StoreFailure(standing.status());
  if (standing->needs_probe && election_.probe) {
    election_.probe(report->peer_id(), report->address());
  }
  if (standing->promoted) {
    response->set_role(index::PEER_ROLE_SUPERNODE);
  } else if (standing->draining) {
    response->set_role(index::PEER_ROLE_DRAINING);
    response->set_drain_seconds(static_cast<int32_t>(
        std::ceil(absl::ToDoubleSeconds(standing->drain_left))));
  }
  response->set_move(standing->move);
  response->set_reachable(standing->reachable);
  response->set_report_every_seconds(std::max<int32_t>(
      1, static_cast<int32_t>(absl::ToInt64Seconds(options_.report_every))));
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
