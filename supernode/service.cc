#include "supernode/service.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/signed_change.h"
#include "common/tls_credentials.h"
#include "common/search/query.h"
#include "common/validation.h"

namespace trove {
namespace supernode {
namespace {

// Longest session token looked up; longer ones cannot be ours.
constexpr size_t kMaxSessionBytes = 128;
// Sizes of the Join fields, in bytes.
constexpr size_t kPublicKeyBytes = 32;
constexpr size_t kSignatureBytes = 64;
constexpr size_t kMaxNonceBytes = 64;
// Most of a bad-source reason kept for the log.
constexpr size_t kMaxReasonBytes = 512;
// Time kept from a search's deadline to answer from the leaves when the
// index is slow.
constexpr absl::Duration kAnswerMargin = absl::Milliseconds(20);

bool PlausibleSession(const std::string& session) {
  return !session.empty() && session.size() <= kMaxSessionBytes;
}

absl::Status WithContext(const absl::Status& status, absl::string_view what) {
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

// Printable ASCII of `s`, shortened, for the log.
std::string Printable(absl::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxReasonBytes)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

}  // namespace

absl::Status ValidatePublish(const PublishRequest& request, int max_entries) {
  const int64_t entries = static_cast<int64_t>(request.added_size()) +
                          request.removed_size() + request.partial_size();
  if (entries > max_entries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "publish has ", entries, " entries; the limit is ", max_entries,
        " per request (send the rest as deltas)"));
  }
  for (int i = 0; i < request.added_size(); ++i) {
    absl::Status s = ValidateFileEntry(request.added(i));
    if (!s.ok()) return WithContext(s, absl::StrCat("added[", i, "]"));
  }
  for (int i = 0; i < request.removed_size(); ++i) {
    absl::Status s = ValidateHexId(request.removed(i), "cid");
    if (!s.ok()) return WithContext(s, absl::StrCat("removed[", i, "]"));
  }
  for (int i = 0; i < request.partial_size(); ++i) {
    absl::Status s = ValidateFileEntry(request.partial(i));
    if (!s.ok()) return WithContext(s, absl::StrCat("partial[", i, "]"));
  }
  return absl::OkStatus();
}

SupernodeServiceImpl::SupernodeServiceImpl(
    Options options, LeafRegistry* registry, IndexClient* index,
    std::function<std::string()> backup_address)
    : options_(std::move(options)),
      registry_(registry),
      index_(index),
      backup_address_(std::move(backup_address)) {}

grpc::Status SupernodeServiceImpl::Challenge(grpc::ServerContext*,
                                             const ChallengeRequest*,
                                             ChallengeResponse* response) {
  response->set_nonce(registry_->Challenge());
  return grpc::Status::OK;
}

absl::Status SupernodeServiceImpl::DoJoin(const JoinRequest& request,
                                          JoinResponse* response) {
  if (request.public_key().size() != kPublicKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("public_key must be ", kPublicKeyBytes,
                     " bytes (raw Ed25519), got ",
                     request.public_key().size()));
  }
  if (request.signature().size() != kSignatureBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("signature must be ", kSignatureBytes, " bytes, got ",
                     request.signature().size()));
  }
  if (request.nonce().empty() || request.nonce().size() > kMaxNonceBytes) {
    return absl::InvalidArgumentError(
        "nonce must be the one Challenge returned");
  }
  absl::Status s = ValidateAddress(request.listen_address());
  if (!s.ok()) return WithContext(s, "listen_address");
  const Capacity& c = request.capacity();
  if (c.upload_bytes_per_second() < 0 || c.uptime_seconds() < 0 ||
      c.free_memory_bytes() < 0) {
    return absl::InvalidArgumentError("capacity values must not be negative");
  }
  absl::StatusOr<LeafRegistry::JoinResult> joined = registry_->Join(request);
  if (!joined.ok()) return joined.status();
  response->set_peer_id(joined->peer_id);
  response->set_session(joined->session);
  response->set_supernode_id(options_.supernode_id);
  if (options_.presence_validity) {
    response->set_presence_validity_ms(static_cast<int32_t>(
        absl::ToInt64Milliseconds(options_.presence_validity())));
  }
  response->set_heartbeat_interval_ms(static_cast<int32_t>(
      absl::ToInt64Milliseconds(options_.heartbeat_interval)));
  response->set_session_timeout_ms(static_cast<int32_t>(
      absl::ToInt64Milliseconds(options_.session_timeout)));
  if (backup_address_) response->set_backup_address(backup_address_());
  TROVE_LOG(INFO) << "leaf " << joined->peer_id << " joined from "
                  << request.listen_address();
  return absl::OkStatus();
}

grpc::Status SupernodeServiceImpl::Join(grpc::ServerContext*,
                                        const JoinRequest* request,
                                        JoinResponse* response) {
  return ToGrpcStatus(DoJoin(*request, response));
}

namespace {

// With TLS, the caller's proven id must be the session's peer, so that a
// leaf cannot use another leaf's session. OK on plaintext.
absl::Status CheckSessionCaller(const grpc::ServerContext* context,
                                LeafRegistry* registry,
                                const std::string& session) {
  if (context == nullptr) return absl::OkStatus();
  absl::StatusOr<std::string> caller = CallerId(context);
  if (!caller.ok()) return absl::OkStatus();  // plaintext
  absl::StatusOr<std::string> peer = registry->PeerOfSession(session);
  if (!peer.ok()) return absl::OkStatus();  // the call itself says so
  if (*peer != *caller) {
    return absl::PermissionDeniedError(
        "this session belongs to another peer than the one calling");
  }
  return absl::OkStatus();
}

LeafRegistry::SignedChange SignedOf(const LeafChange& change,
                                    const std::string& bytes,
                                    const std::string& signature) {
  LeafRegistry::SignedChange out;
  out.peer_id = change.peer_id();
  out.supernode_id = change.supernode_id();
  out.seq = change.seq();
  out.prev_seq = change.prev_seq();
  out.full = change.full();
  out.gone = change.gone();
  out.bytes = bytes;
  out.signature = signature;
  return out;
}

}  // namespace

absl::Status SupernodeServiceImpl::DoPublish(const PublishRequest& request,
                                             PublishResponse* response) {
  if (!PlausibleSession(request.session())) {
    return absl::UnauthenticatedError("unknown session; join first");
  }
  const PublishRequest* effective = &request;
  PublishRequest from_signed;
  LeafRegistry::SignedChange signed_change;
  if (!request.signed_change().empty()) {
    // The change as the leaf signed it; the plain fields are ignored.
    absl::StatusOr<LeafChange> change =
        VerifyLeafChange(request.signed_change(), request.signature());
    if (!change.ok()) return change.status();
    signed_change = SignedOf(*change, request.signed_change(),
                             request.signature());
    from_signed.set_session(request.session());
    from_signed.set_full(change->full());
    from_signed.mutable_added()->Swap(change->mutable_added());
    from_signed.mutable_removed()->Swap(change->mutable_removed());
    from_signed.mutable_partial()->Swap(change->mutable_partial());
    effective = &from_signed;
  }
  absl::Status s = ValidatePublish(*effective, options_.max_files_per_publish);
  if (!s.ok()) return s;
  absl::StatusOr<int> count = registry_->Publish(
      *effective, request.signed_change().empty() ? nullptr : &signed_change);
  if (!count.ok()) return count.status();
  response->set_file_count(*count);
  return absl::OkStatus();
}

grpc::Status SupernodeServiceImpl::Publish(grpc::ServerContext* context,
                                           const PublishRequest* request,
                                           PublishResponse* response) {
  absl::Status s = CheckSessionCaller(context, registry_, request->session());
  if (!s.ok()) return ToGrpcStatus(s);
  return ToGrpcStatus(DoPublish(*request, response));
}

grpc::Status SupernodeServiceImpl::Heartbeat(grpc::ServerContext* context,
                                             const HeartbeatRequest* request,
                                             HeartbeatResponse* response) {
  if (absl::Status s =
          CheckSessionCaller(context, registry_, request->session());
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (!PlausibleSession(request->session())) {
    return ToGrpcStatus(absl::NotFoundError("unknown session; join again"));
  }
  if (!request->presence().empty()) {
    // Checked here so that only a presence the index will accept is kept.
    absl::StatusOr<Presence> presence =
        VerifyPresence(request->presence(), request->presence_signature());
    if (!presence.ok()) return ToGrpcStatus(presence.status());
    if (!options_.supernode_id.empty() &&
        presence->supernode_id() != options_.supernode_id) {
      return ToGrpcStatus(absl::PermissionDeniedError(
          "the presence is bound to another supernode"));
    }
    absl::StatusOr<std::string> peer =
        registry_->PeerOfSession(request->session());
    if (peer.ok() && *peer != presence->peer_id()) {
      return ToGrpcStatus(absl::PermissionDeniedError(
          "the presence is another peer's, not this session's"));
    }
  }
  absl::StatusOr<bool> resend = registry_->Heartbeat(
      request->session(), request->presence(), request->presence_signature());
  if (!resend.ok()) return ToGrpcStatus(resend.status());
  response->set_resend_full(*resend);
  return grpc::Status::OK;
}

grpc::Status SupernodeServiceImpl::Leave(grpc::ServerContext* context,
                                         const LeaveRequest* request,
                                         LeaveResponse*) {
  if (absl::Status s =
          CheckSessionCaller(context, registry_, request->session());
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  if (!PlausibleSession(request->session())) {
    return ToGrpcStatus(absl::NotFoundError("unknown session"));
  }
  if (!request->signed_change().empty()) {
    absl::StatusOr<LeafChange> change =
        VerifyLeafChange(request->signed_change(), request->signature());
    if (!change.ok()) return ToGrpcStatus(change.status());
    LeafRegistry::SignedChange gone = SignedOf(
        *change, request->signed_change(), request->signature());
    return ToGrpcStatus(registry_->Leave(request->session(), &gone));
  }
  return ToGrpcStatus(registry_->Leave(request->session()));
}

absl::Status SupernodeServiceImpl::DoSearch(const SearchRequest& request,
                                            SearchResponse* response,
                                            absl::Time deadline) {
  absl::Status s = ValidateSearchQuery(request.query());
  if (!s.ok()) return s;
  const SearchQuery& query = request.query();
  absl::StatusOr<search::ParsedQuery> parsed = search::ParseQuery(
      query, options_.search_default_limit, options_.search_max_limit);
  if (!parsed.ok()) return parsed.status();

  absl::StatusOr<search::SearchPage> local = registry_->Search(*parsed);
  if (!local.ok()) return local.status();
  search::SearchPage remote;
  bool partial = false;
  // The index's part ends with the caller's time, keeping a little to
  // answer with what the leaves hold.
  const absl::Duration left =
      std::min(options_.index_search_timeout,
               deadline - absl::Now() - kAnswerMargin);
  if (index_ != nullptr && left > absl::ZeroDuration()) {
    index::SearchRequest req;
    *req.mutable_query() = query;
    req.mutable_query()->set_limit(parsed->limit);
    absl::StatusOr<index::SearchResponse> r = index_->Search(req, left);
    if (r.ok()) {
      remote.hits.assign(r->hits().begin(), r->hits().end());
      remote.next_cursor = r->next_cursor();
      NoteIndexHealth(absl::OkStatus());
    } else {
      partial = true;
      NoteIndexHealth(r.status());
    }
  } else {
    partial = true;
  }

  // Merge by cid. The index may already count this supernode's leaves, so
  // the larger count wins (with its name), not the sum. Both sides order
  // and page by the same rules, so the merged page keeps their order.
  absl::flat_hash_map<std::string, size_t> by_cid;
  std::vector<SearchHit> merged;
  for (const std::vector<SearchHit>* hits : {&remote.hits, &local->hits}) {
    for (const SearchHit& h : *hits) {
      auto [it, inserted] = by_cid.emplace(h.cid(), merged.size());
      if (inserted) {
        merged.push_back(h);
        continue;
      }
      SearchHit& m = merged[it->second];
      const SearchMatch best = std::min(m.match(), h.match());
      if (h.source_count() > m.source_count()) m = h;
      m.set_match(best);
    }
  }
  const SearchSort sort = parsed->sort;
  const bool reverse = parsed->reverse;
  std::stable_sort(merged.begin(), merged.end(),
                   [&](const SearchHit& a, const SearchHit& b) {
                     return search::CompareHitKeys(search::KeyOfHit(a, sort),
                                                   search::KeyOfHit(b, sort),
                                                   sort, reverse) < 0;
                   });
  const bool more = merged.size() > static_cast<size_t>(parsed->limit) ||
                    !local->next_cursor.empty() || !remote.next_cursor.empty();
  if (merged.size() > static_cast<size_t>(parsed->limit)) {
    merged.resize(parsed->limit);
  }
  if (more && !merged.empty()) {
    response->set_next_cursor(search::EncodeCursor(
        search::KeyOfHit(merged.back(), sort), sort, reverse));
  }
  for (SearchHit& h : merged) *response->add_hits() = std::move(h);
  response->set_partial(partial);
  return absl::OkStatus();
}

void SupernodeServiceImpl::NoteIndexHealth(const absl::Status& status) {
  const bool failing = !status.ok();
  if (index_failing_.exchange(failing) == failing) return;
  if (failing) {
    TROVE_LOG(WARNING) << "the index does not answer searches ("
                       << status << "); answering from leaves only";
  } else {
    TROVE_LOG(INFO) << "the index answers searches again";
  }
}

grpc::Status SupernodeServiceImpl::Search(grpc::ServerContext* context,
                                          const SearchRequest* request,
                                          SearchResponse* response) {
  absl::Time deadline = absl::InfiniteFuture();
  const auto d = context->deadline();
  if (d != std::chrono::system_clock::time_point::max()) {
    deadline = absl::FromChrono(d);
  }
  return ToGrpcStatus(DoSearch(*request, response, deadline));
}

absl::Status SupernodeServiceImpl::DoLocate(const LocateRequest& request,
                                            LocateResponse* response) {
  absl::Status s = ValidateHexId(request.cid(), "cid");
  if (!s.ok()) return s;
  std::optional<LeafRegistry::LocalSources> local =
      registry_->Locate(request.cid());
  absl::StatusOr<index::LocateResponse> remote =
      absl::UnavailableError("no index");
  if (index_ != nullptr) {
    index::LocateRequest req;
    req.set_cid(request.cid());
    req.set_limit(options_.locate_limit);
    remote = index_->Locate(req, options_.index_locate_timeout);
    NoteIndexHealth(remote.ok() ||
                            remote.status().code() == absl::StatusCode::kNotFound
                        ? absl::OkStatus()
                        : remote.status());
  }
  std::vector<Source> sources;
  absl::flat_hash_set<std::string> seen;
  if (local.has_value()) {
    response->set_size(local->size);
    response->set_name(local->name);
    for (const Source& src : local->sources) {
      if (seen.insert(src.peer_id()).second) sources.push_back(src);
    }
  }
  if (remote.ok()) {
    if (!local.has_value()) {
      response->set_size(remote->size());
      response->set_name(remote->name());
    }
    for (const Source& src : remote->sources()) {
      if (seen.insert(src.peer_id()).second) sources.push_back(src);
    }
  }
  if (sources.empty()) {
    if (!remote.ok() && remote.status().code() != absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(
          "no leaf of this supernode holds ", request.cid(),
          ", and the index could not be asked: ", remote.status().message()));
    }
    return absl::NotFoundError(
        absl::StrCat("no live source holds ", request.cid()));
  }
  // Complete sources first.
  std::stable_sort(sources.begin(), sources.end(),
                   [](const Source& a, const Source& b) {
                     return !a.partial() && b.partial();
                   });
  for (Source& src : sources) *response->add_sources() = std::move(src);
  return absl::OkStatus();
}

grpc::Status SupernodeServiceImpl::Locate(grpc::ServerContext*,
                                          const LocateRequest* request,
                                          LocateResponse* response) {
  return ToGrpcStatus(DoLocate(*request, response));
}

absl::Status SupernodeServiceImpl::DoReportBadSource(
    const ReportBadSourceRequest& request) {
  if (!PlausibleSession(request.session())) {
    return absl::UnauthenticatedError("unknown session; join first");
  }
  absl::Status s = ValidateHexId(request.cid(), "cid");
  if (!s.ok()) return s;
  s = ValidateHexId(request.peer_id(), "peer_id");
  if (!s.ok()) return s;
  absl::StatusOr<std::string> reporter =
      registry_->PeerOfSession(request.session());
  if (!reporter.ok()) {
    return absl::UnauthenticatedError("unknown or expired session; join again");
  }
  if (*reporter == request.peer_id()) {
    return absl::InvalidArgumentError("a peer cannot report itself");
  }
  int64_t count = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = bad_sources_.find(request.peer_id());
    if (it != bad_sources_.end()) {
      count = ++it->second;
    } else if (bad_sources_.size() < options_.max_reported_peers) {
      count = bad_sources_[request.peer_id()] = 1;
    }
  }
  TROVE_LOG(WARNING) << "peer " << *reporter << " reports bad data from "
                     << request.peer_id() << " for " << request.cid() << " ("
                     << Printable(request.reason()) << "); reports so far: "
                     << count;
  return absl::OkStatus();
}

grpc::Status SupernodeServiceImpl::ReportBadSource(
    grpc::ServerContext*, const ReportBadSourceRequest* request,
    ReportBadSourceResponse*) {
  return ToGrpcStatus(DoReportBadSource(*request));
}

int64_t SupernodeServiceImpl::bad_source_reports(
    const std::string& peer_id) const {
  absl::MutexLock lock(&mu_);
  auto it = bad_sources_.find(peer_id);
  return it == bad_sources_.end() ? 0 : it->second;
}

}  // namespace supernode
}  // namespace trove
