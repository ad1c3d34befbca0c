#include "supernode/service.h"

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/identity.h"
#include "common/log.h"
#include "common/signed_change.h"
#include "common/tls.h"
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

// Finishes a unary call with `status` on the context's default reactor.
grpc::ServerUnaryReactor* Answer(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

// The caller's deadline (InfiniteFuture when it set none).
absl::Time DeadlineOf(const grpc::CallbackServerContext* context) {
  const auto d = context->deadline();
  if (d == std::chrono::system_clock::time_point::max()) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(d);
}

// With TLS, only a supernode the community CA enrolled may ask PeerSearch /
// PeerLocate. OK on plaintext.
absl::Status CheckSupernodeCaller(const grpc::ServerContextBase* context) {
  absl::StatusOr<CallerInfo> caller = Caller(context);
  if (!caller.ok()) return absl::OkStatus();  // plaintext
  if (caller->role != CertRole::kSupernode) {
    return absl::PermissionDeniedError(
        "only supernodes of this community may ask PeerSearch / PeerLocate");
  }
  return absl::OkStatus();
}

}  // namespace

// One leaf's Watch stream: the events it is sent, and its end. At most one
// write is in flight; a newer event waiting for it replaces an older one
// (each event is the whole list). gRPC calls the reactions on its threads,
// never inline from StartWrite or Finish.
class SupernodeServiceImpl::WatchReactor
    : public grpc::ServerWriteReactor<SupernodeEvent> {
 public:
  explicit WatchReactor(SupernodeServiceImpl* service) : service_(service) {}

  void Send(const SupernodeEvent& event) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      if (writing_) {
        next_ = event;
        has_next_ = true;
        return;
      }
      writing_ = true;
      current_ = event;
    }
    StartWrite(&current_);
  }

  void End(const grpc::Status& status) {
    {
      absl::MutexLock lock(&mu_);
      if (ended_) return;
      ended_ = true;
      end_ = status;
      if (writing_) return;  // OnWriteDone finishes.
    }
    Finish(status);
  }

  void OnWriteDone(bool ok) override {
    enum { kNothing, kWrite, kFinish } then = kNothing;
    grpc::Status finish;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok && !ended_) {
        ended_ = true;
        end_ = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                            "the leaf's stream broke");
      }
      if (ended_) {
        then = kFinish;
        finish = end_;
      } else if (has_next_) {
        current_ = std::move(next_);
        has_next_ = false;
        writing_ = true;
        then = kWrite;
      }
    }
    if (then == kWrite) StartWrite(&current_);
    if (then == kFinish) Finish(finish);
  }

  void OnCancel() override {
    End(grpc::Status(grpc::StatusCode::CANCELLED, "the leaf went away"));
  }

  void OnDone() override {
    service_->RemoveWatch(this);
    delete this;
  }

 private:
  SupernodeServiceImpl* const service_;
  absl::Mutex mu_;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  bool has_next_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status end_ ABSL_GUARDED_BY(mu_);
  // The event being written (touched only by the one writer in flight).
  SupernodeEvent current_;
  SupernodeEvent next_ ABSL_GUARDED_BY(mu_);
};

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

absl::Status ValidateJoinRequest(const JoinRequest& request) {
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
  if (request.work().size() > kMaxNonceBytes) {
    return absl::InvalidArgumentError("work is too long");
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
  return absl::OkStatus();
}

absl::StatusOr<CheckedPublish> CheckPublish(const PublishRequest& request,
                                            int max_entries) {
  if (!PlausibleSession(request.session())) {
    return absl::UnauthenticatedError("unknown session; join first");
  }
  CheckedPublish out;
  out.original = &request;
  if (!request.signed_change().empty()) {
    // The change as the leaf signed it; the plain fields are ignored.
    absl::StatusOr<LeafChange> change =
        VerifyLeafChange(request.signed_change(), request.signature());
    if (!change.ok()) return change.status();
    // The address the leaf signed goes to the index and to downloaders:
    // checked as Join checks the listen address.
    if (!change->address().empty()) {
      absl::Status valid = ValidateAddress(change->address());
      if (!valid.ok()) return WithContext(valid, "the change's address");
    }
    PublishRequest& lists = out.from_signed.emplace();
    lists.set_session(request.session());
    lists.set_full(change->full());
    lists.mutable_added()->Swap(change->mutable_added());
    lists.mutable_removed()->Swap(change->mutable_removed());
    lists.mutable_partial()->Swap(change->mutable_partial());
    out.change = *std::move(change);
  }
  absl::Status s = ValidatePublish(out.request(), max_entries);
  if (!s.ok()) return s;
  return out;
}

absl::StatusOr<std::optional<Presence>> CheckHeartbeatPresence(
    const HeartbeatRequest& request, const std::string& supernode_id) {
  if (request.presence().empty()) return std::optional<Presence>();
  absl::StatusOr<Presence> presence =
      VerifyPresence(request.presence(), request.presence_signature());
  if (!presence.ok()) return presence.status();
  if (!supernode_id.empty() && presence->supernode_id() != supernode_id) {
    return absl::PermissionDeniedError(
        "the presence is bound to another supernode");
  }
  return std::optional<Presence>(*std::move(presence));
}

absl::Status ValidatePeerSearch(const PeerSearchRequest& request,
                                int max_hops) {
  return ValidateFanOut(request.fan_out(), max_hops);
}

absl::Status ValidatePeerLocate(const PeerLocateRequest& request,
                                int max_hops) {
  absl::Status s = ValidateHexId(request.cid(), "cid");
  if (!s.ok()) return s;
  return ValidateFanOut(request.fan_out(), max_hops);
}

absl::Status ValidateLocate(const LocateRequest& request) {
  return ValidateHexId(request.cid(), "cid");
}

absl::Status ValidateReportBadSource(const ReportBadSourceRequest& request) {
  if (!PlausibleSession(request.session())) {
    return absl::UnauthenticatedError("unknown session; join first");
  }
  absl::Status s = ValidateHexId(request.cid(), "cid");
  if (!s.ok()) return s;
  return ValidateHexId(request.peer_id(), "peer_id");
}

SupernodeServiceImpl::SupernodeServiceImpl(
    Options options, LeafRegistry* registry, IndexClient* index,
    std::function<std::string()> backup_address)
    : options_(std::move(options)),
      searches_("searches", options_.search_rate, options_.clock),
      locates_("look-ups", options_.locate_rate, options_.clock),
      publishes_("publishes", options_.publish_rate, options_.clock),
      joins_("join requests", options_.join_rate, options_.clock),
      registry_(registry),
      index_(index),
      backup_address_(std::move(backup_address)),
      reports_(options_.reports),
      work_(options_.search_workers, options_.max_queued_searches) {}

SupernodeServiceImpl::~SupernodeServiceImpl() { Shutdown(); }

bool SupernodeServiceImpl::Submit(std::function<void()> work) {
  return work_.Submit(std::move(work));
}

absl::Status SupernodeServiceImpl::TooManyWaiting(absl::string_view what) {
  return absl::ResourceExhaustedError(absl::StrCat(
      "too many ", what, " waiting at this supernode; retry shortly"));
}

void SupernodeServiceImpl::OnWorker(grpc::ServerUnaryReactor* reactor,
                                    absl::string_view what,
                                    std::function<void()> work) {
  if (!Submit(std::move(work))) {
    reactor->Finish(ToGrpcStatus(TooManyWaiting(what)));
  }
}

std::string SupernodeServiceImpl::LeafKey(
    const grpc::ServerContextBase* context, const std::string& session) {
  if (PlausibleSession(session)) {
    absl::StatusOr<std::string> peer = registry_->PeerOfSession(session);
    if (peer.ok()) return absl::StrCat("peer:", *peer);
  }
  absl::StatusOr<std::string> proven = CallerId(context);
  if (proven.ok() && !proven->empty() && registry_->IsJoined(*proven)) {
    return absl::StrCat("peer:", *proven);
  }
  return absl::StrCat("addr:", PeerAddressWithoutPort(context->peer()));
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::Challenge(
    grpc::CallbackServerContext* context, const ChallengeRequest*,
    ChallengeResponse* response) {
  const std::string address = PeerAddressWithoutPort(context->peer());
  if (absl::Status s = joins_.Admit(absl::StrCat("addr:", address)); !s.ok()) {
    return Answer(context, s);
  }
  absl::StatusOr<std::string> nonce = registry_->Challenge(address);
  if (!nonce.ok()) return Answer(context, nonce.status());
  response->set_nonce(*nonce);
  response->set_work_bits(registry_->join_work_bits());
  return Answer(context, absl::OkStatus());
}

absl::Status SupernodeServiceImpl::DoJoin(const JoinRequest& request,
                                          JoinResponse* response) {
  absl::Status s = ValidateJoinRequest(request);
  if (!s.ok()) return s;
  if (options_.moderation != nullptr) {
    s = options_.moderation->CheckPeer(PeerIdFromPublicKey(request.public_key()));
    if (!s.ok()) return s;
  }
  absl::StatusOr<LeafRegistry::JoinResult> joined =
      registry_->Join(request);
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
  if (options_.others) {
    for (SupernodeRef& ref : options_.others()) {
      *response->add_others() = std::move(ref);
    }
    if (response->backup_address().empty() && response->others_size() > 0) {
      response->set_backup_address(response->others(0).address());
    }
  }
  TROVE_LOG(INFO) << "leaf " << joined->peer_id << " joined from "
                  << request.listen_address();
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::Join(
    grpc::CallbackServerContext* context, const JoinRequest* request,
    JoinResponse* response) {
  if (absl::Status s = joins_.Admit(absl::StrCat(
          "addr:", PeerAddressWithoutPort(context->peer())));
      !s.ok()) {
    return Answer(context, s);
  }
  return Answer(context, DoJoin(*request, response));
}

namespace {

// With TLS, the caller's proven id must be the session's peer, so that a
// leaf cannot use another leaf's session. OK on plaintext.
absl::Status CheckSessionCaller(const grpc::ServerContextBase* context,
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
  absl::StatusOr<CheckedPublish> checked =
      CheckPublish(request, options_.max_files_per_publish);
  if (!checked.ok()) return checked.status();
  const PublishRequest* effective = &checked->request();
  LeafRegistry::SignedChange signed_change;
  if (checked->change.has_value()) {
    signed_change = SignedOf(*checked->change, request.signed_change(),
                             request.signature());
  }
  absl::StatusOr<int> count = registry_->Publish(
      *effective, request.signed_change().empty() ? nullptr : &signed_change);
  if (!count.ok()) return count.status();
  response->set_file_count(*count);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::Publish(
    grpc::CallbackServerContext* context, const PublishRequest* request,
    PublishResponse* response) {
  absl::Status s = CheckSessionCaller(context, registry_, request->session());
  if (!s.ok()) return Answer(context, s);
  s = publishes_.Admit(LeafKey(context, request->session()));
  if (!s.ok()) return Answer(context, s);
  return Answer(context, DoPublish(*request, response));
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::Heartbeat(
    grpc::CallbackServerContext* context, const HeartbeatRequest* request,
    HeartbeatResponse* response) {
  if (absl::Status s =
          CheckSessionCaller(context, registry_, request->session());
      !s.ok()) {
    return Answer(context, s);
  }
  if (!PlausibleSession(request->session())) {
    return Answer(context, absl::NotFoundError("unknown session; join again"));
  }
  // Checked here so that only a presence the index will accept is kept.
  absl::StatusOr<std::optional<Presence>> presence =
      CheckHeartbeatPresence(*request, options_.supernode_id);
  if (!presence.ok()) return Answer(context, presence.status());
  if (presence->has_value()) {
    absl::StatusOr<std::string> peer =
        registry_->PeerOfSession(request->session());
    if (peer.ok() && *peer != (*presence)->peer_id()) {
      return Answer(context, absl::PermissionDeniedError(
          "the presence is another peer's, not this session's"));
    }
  }
  absl::StatusOr<bool> resend = registry_->Heartbeat(
      request->session(), request->presence(), request->presence_signature());
  if (!resend.ok()) return Answer(context, resend.status());
  response->set_resend_full(*resend);
  return Answer(context, absl::OkStatus());
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::Leave(
    grpc::CallbackServerContext* context, const LeaveRequest* request,
    LeaveResponse*) {
  if (absl::Status s =
          CheckSessionCaller(context, registry_, request->session());
      !s.ok()) {
    return Answer(context, s);
  }
  if (!PlausibleSession(request->session())) {
    return Answer(context, absl::NotFoundError("unknown session"));
  }
  if (!request->signed_change().empty()) {
    absl::StatusOr<LeafChange> change =
        VerifyLeafChange(request->signed_change(), request->signature());
    if (!change.ok()) return Answer(context, change.status());
    LeafRegistry::SignedChange gone = SignedOf(
        *change, request->signed_change(), request->signature());
    absl::Status left = registry_->Leave(request->session(), &gone);
    EndWatchesOf(request->session());
    return Answer(context, left);
  }
  absl::Status left = registry_->Leave(request->session());
  EndWatchesOf(request->session());
  return Answer(context, left);
}

absl::Status SupernodeServiceImpl::DoSearch(const SearchRequest& request,
                                            SearchResponse* response,
                                            absl::Time deadline) {
  return SearchWith(request, response, deadline, nullptr);
}

absl::Status SupernodeServiceImpl::DoPeerSearch(
    const PeerSearchRequest& request, SearchResponse* response,
    absl::Time deadline) {
  const int max_hops = options_.fan_out != nullptr
                           ? options_.fan_out->options().hops
                           : 0;
  absl::Status s = ValidatePeerSearch(request, max_hops);
  if (!s.ok()) return s;
  if (options_.fan_out != nullptr &&
      !options_.fan_out->FirstSight(request.fan_out().query_id())) {
    return absl::OkStatus();  // Answered already, through another path.
  }
  SearchRequest plain;
  *plain.mutable_query() = request.query();
  return SearchWith(plain, response, deadline, &request.fan_out());
}

struct SupernodeServiceImpl::SearchState {
  SearchQuery query;
  search::ParsedQuery parsed;
  absl::Time deadline;
  search::SearchPage local;
  search::SearchPage remote;
  bool index_answered = false;
};

absl::Duration SupernodeServiceImpl::IndexTimeLeft(absl::Duration most,
                                                   absl::Time deadline) const {
  return std::min(most, deadline - absl::Now() - kAnswerMargin);
}

bool SupernodeServiceImpl::AcquireIndexCall() {
  const int most = options_.search_workers + options_.max_queued_searches;
  if (index_calls_.fetch_add(1) >= most) {
    index_calls_.fetch_sub(1);
    return false;
  }
  return true;
}

void SupernodeServiceImpl::ReleaseIndexCall() { index_calls_.fetch_sub(1); }

absl::StatusOr<std::shared_ptr<SupernodeServiceImpl::SearchState>>
SupernodeServiceImpl::StartSearch(const SearchQuery& query,
                                  absl::Time deadline) {
  auto state = std::make_shared<SearchState>();
  absl::StatusOr<search::ParsedQuery> parsed = search::ParseRequestQuery(
      query, options_.search_default_limit, options_.search_max_limit);
  if (!parsed.ok()) return parsed.status();
  state->parsed = *std::move(parsed);
  absl::StatusOr<search::SearchPage> local = registry_->Search(state->parsed);
  if (!local.ok()) return local.status();
  state->local = *std::move(local);
  state->query = query;
  state->deadline = deadline;
  return state;
}

index::SearchRequest SupernodeServiceImpl::IndexSearchRequest(
    const SearchState& state) const {
  index::SearchRequest req;
  *req.mutable_query() = state.query;
  req.mutable_query()->set_limit(state.parsed.limit);
  return req;
}

void SupernodeServiceImpl::TakeIndexSearch(
    SearchState* state, absl::StatusOr<index::SearchResponse> answer) {
  if (answer.ok()) {
    state->remote.hits.assign(
        std::make_move_iterator(answer->mutable_hits()->begin()),
        std::make_move_iterator(answer->mutable_hits()->end()));
    state->remote.next_cursor = std::move(*answer->mutable_next_cursor());
    state->index_answered = true;
    NoteIndexHealth(absl::OkStatus());
  } else {
    NoteIndexHealth(answer.status());
  }
}

FanOut SupernodeServiceImpl::FanOutFor(const FanOut* incoming) {
  if (incoming != nullptr) return *incoming;
  FanOut fan_out = options_.fan_out->NewQuery();
  options_.fan_out->FirstSight(fan_out.query_id());
  return fan_out;
}

void SupernodeServiceImpl::SearchOthers(SearchState* state,
                                        const FanOut* incoming) {
  if (state->index_answered || options_.fan_out == nullptr) return;
  // Without the index: the other supernodes, within the caller's time.
  const FanOut fan_out = FanOutFor(incoming);
  const absl::Time until =
      std::min(state->deadline - kAnswerMargin,
               absl::Now() + options_.index_search_timeout);
  SearchQuery ask = state->query;
  ask.set_limit(state->parsed.limit);
  if (fan_out.hops_left() > 0 && until > absl::Now()) {
    state->remote.hits = options_.fan_out->Search(ask, fan_out, until);
  }
}

absl::Status SupernodeServiceImpl::SearchWith(const SearchRequest& request,
                                              SearchResponse* response,
                                              absl::Time deadline,
                                              const FanOut* incoming) {
  absl::StatusOr<std::shared_ptr<SearchState>> state =
      StartSearch(request.query(), deadline);
  if (!state.ok()) return state.status();
  const absl::Duration left =
      IndexTimeLeft(options_.index_search_timeout, deadline);
  if (incoming == nullptr && index_ != nullptr && left > absl::ZeroDuration()) {
    TakeIndexSearch(state->get(),
                    index_->Search(IndexSearchRequest(**state), left));
  }
  SearchOthers(state->get(), incoming);
  return FinishSearch(state->get(), response);
}

absl::Status SupernodeServiceImpl::FinishSearch(SearchState* state,
                                                SearchResponse* response) {
  const search::SearchPage& remote = state->remote;
  const search::SearchPage* local = &state->local;
  const bool index_answered = state->index_answered;
  const bool partial = !index_answered;
  // Merge by cid. The index may already count this supernode's leaves, so
  // the larger count wins (with its name), not the sum; but the name the
  // index shows stands whenever it answered, since it weighs every source
  // by how long the index has known its peer, which this supernode knows
  // only for its own leaves and only since they joined here. Both sides
  // order and page by the same rules, so the merged page keeps their
  // order.
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
      if (h.source_count() > m.source_count()) {
        const bool index_name = index_answered && it->second < remote.hits.size();
        std::string name = m.name();
        m = h;
        if (index_name) m.set_name(std::move(name));
      }
      m.set_match(best);
    }
  }
  if (options_.moderation != nullptr) options_.moderation->FilterHits(&merged);
  const SearchSort sort = state->parsed.sort;
  const bool reverse = state->parsed.reverse;
  const int limit = state->parsed.limit;
  std::stable_sort(merged.begin(), merged.end(),
                   [&](const SearchHit& a, const SearchHit& b) {
                     return search::CompareHitKeys(search::KeyOfHit(a, sort),
                                                   search::KeyOfHit(b, sort),
                                                   sort, reverse) < 0;
                   });
  const bool more = merged.size() > static_cast<size_t>(limit) ||
                    !local->next_cursor.empty() || !remote.next_cursor.empty();
  if (merged.size() > static_cast<size_t>(limit)) {
    merged.resize(limit);
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

grpc::ServerUnaryReactor* SupernodeServiceImpl::Search(
    grpc::CallbackServerContext* context, const SearchRequest* request,
    SearchResponse* response) {
  if (absl::Status s = searches_.Admit(LeafKey(context, "")); !s.ok()) {
    return Answer(context, s);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time deadline = DeadlineOf(context);
  const absl::Duration left =
      IndexTimeLeft(options_.index_search_timeout, deadline);
  if (index_ == nullptr || left <= absl::ZeroDuration()) {
    // Only the other supernodes can add to the leaves' hits: a worker
    // waits for them.
    OnWorker(reactor, "searches", [this, reactor, request, response, deadline] {
      reactor->Finish(ToGrpcStatus(DoSearch(*request, response, deadline)));
    });
    return reactor;
  }
  // A worker matches the leaves' files (a long match must not hold one of
  // gRPC's threads), then asks the index without waiting for it: the
  // index's answer finishes the call.
  OnWorker(reactor, "searches",
           [this, reactor, request, response, deadline, left] {
             StartIndexedSearch(reactor, *request, response, deadline, left);
           });
  return reactor;
}

void SupernodeServiceImpl::StartIndexedSearch(grpc::ServerUnaryReactor* reactor,
                                              const SearchRequest& request,
                                              SearchResponse* response,
                                              absl::Time deadline,
                                              absl::Duration left) {
  absl::StatusOr<std::shared_ptr<SearchState>> state =
      StartSearch(request.query(), deadline);
  if (!state.ok()) {
    reactor->Finish(ToGrpcStatus(state.status()));
    return;
  }
  if (!AcquireIndexCall()) {
    reactor->Finish(ToGrpcStatus(TooManyWaiting("searches")));
    return;
  }
  const index::SearchRequest req = IndexSearchRequest(**state);
  index_->SearchAsync(
      req, left,
      [this, reactor, response, state = *std::move(state)](
          absl::StatusOr<index::SearchResponse> answer) {
        ReleaseIndexCall();
        TakeIndexSearch(state.get(), std::move(answer));
        if (!state->index_answered && options_.fan_out != nullptr &&
            Submit([this, reactor, response, state] {
              SearchOthers(state.get(), nullptr);
              reactor->Finish(
                  ToGrpcStatus(FinishSearch(state.get(), response)));
            })) {
          return;
        }
        // Answered by the index, or nobody else to ask (or no worker free
        // to ask them): the leaves' hits with what the index gave.
        reactor->Finish(ToGrpcStatus(FinishSearch(state.get(), response)));
      });
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::PeerSearch(
    grpc::CallbackServerContext* context, const PeerSearchRequest* request,
    SearchResponse* response) {
  if (absl::Status s = CheckSupernodeCaller(context); !s.ok()) {
    return Answer(context, s);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time deadline = DeadlineOf(context);
  OnWorker(reactor, "searches", [this, reactor, request, response, deadline] {
    reactor->Finish(ToGrpcStatus(DoPeerSearch(*request, response, deadline)));
  });
  return reactor;
}

absl::Status SupernodeServiceImpl::DoLocate(const LocateRequest& request,
                                            LocateResponse* response,
                                            absl::Time deadline) {
  absl::Status s = ValidateLocate(request);
  if (!s.ok()) return s;
  return LocateWith(request.cid(), response, deadline, nullptr);
}

absl::Status SupernodeServiceImpl::DoPeerLocate(
    const PeerLocateRequest& request, LocateResponse* response,
    absl::Time deadline) {
  const int max_hops = options_.fan_out != nullptr
                           ? options_.fan_out->options().hops
                           : 0;
  absl::Status s = ValidatePeerLocate(request, max_hops);
  if (!s.ok()) return s;
  if (options_.fan_out != nullptr &&
      !options_.fan_out->FirstSight(request.fan_out().query_id())) {
    return absl::NotFoundError("this query was answered already");
  }
  return LocateWith(request.cid(), response, deadline, &request.fan_out());
}

struct SupernodeServiceImpl::LocateState {
  std::string cid;
  absl::Time deadline;
  std::optional<LeafRegistry::LocalSources> local;
  absl::StatusOr<index::LocateResponse> remote =
      absl::UnavailableError("no index");
};

absl::StatusOr<std::shared_ptr<SupernodeServiceImpl::LocateState>>
SupernodeServiceImpl::StartLocate(const std::string& cid,
                                  absl::Time deadline) {
  if (options_.moderation != nullptr && options_.moderation->IsTakenDown(cid)) {
    return absl::NotFoundError(
        absl::StrCat(cid, " was taken down by the community's operator"));
  }
  auto state = std::make_shared<LocateState>();
  state->cid = cid;
  state->deadline = deadline;
  state->local = registry_->Locate(cid);
  return state;
}

void SupernodeServiceImpl::TakeIndexLocate(
    LocateState* state, absl::StatusOr<index::LocateResponse> answer) {
  state->remote = std::move(answer);
  NoteIndexHealth(state->remote.ok() || state->remote.status().code() ==
                                            absl::StatusCode::kNotFound
                      ? absl::OkStatus()
                      : state->remote.status());
}

void SupernodeServiceImpl::LocateOthers(LocateState* state,
                                        const FanOut* incoming) {
  // Without the index: the other supernodes' leaves.
  if (state->remote.ok() ||
      state->remote.status().code() == absl::StatusCode::kNotFound ||
      options_.fan_out == nullptr) {
    return;
  }
  const FanOut fan_out = FanOutFor(incoming);
  const absl::Time until =
      std::min(state->deadline - kAnswerMargin,
               absl::Now() + options_.index_locate_timeout);
  if (fan_out.hops_left() > 0 && until > absl::Now()) {
    FanOutSearch::Located found =
        options_.fan_out->Locate(state->cid, fan_out, until);
    if (!found.sources.empty()) {
      index::LocateResponse r;
      r.set_size(found.size);
      r.set_name(found.name);
      for (Source& src : found.sources) *r.add_sources() = std::move(src);
      state->remote = std::move(r);
    }
  }
}

absl::Status SupernodeServiceImpl::LocateWith(const std::string& cid,
                                              LocateResponse* response,
                                              absl::Time deadline,
                                              const FanOut* incoming) {
  absl::StatusOr<std::shared_ptr<LocateState>> state =
      StartLocate(cid, deadline);
  if (!state.ok()) return state.status();
  const absl::Duration left =
      IndexTimeLeft(options_.index_locate_timeout, deadline);
  if (incoming == nullptr && index_ != nullptr && left > absl::ZeroDuration()) {
    index::LocateRequest req;
    req.set_cid(cid);
    req.set_limit(options_.locate_limit);
    TakeIndexLocate(state->get(), index_->Locate(req, left));
  }
  LocateOthers(state->get(), incoming);
  return FinishLocate(state->get(), response);
}

absl::Status SupernodeServiceImpl::FinishLocate(LocateState* state,
                                                LocateResponse* response) {
  const std::string& cid = state->cid;
  const std::optional<LeafRegistry::LocalSources>& local = state->local;
  absl::StatusOr<index::LocateResponse>& remote = state->remote;
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
    for (Source& src : *remote->mutable_sources()) {
      if (seen.insert(src.peer_id()).second) sources.push_back(std::move(src));
    }
  }
  // Sources this supernode's leaves reported for sending bad data of this
  // file: left out, or ranked after the others, while the reports count.
  const absl::Time now = Now();
  std::vector<SourceReports::Standing> standing;
  standing.reserve(sources.size());
  size_t left_out = 0;
  {
    std::vector<absl::string_view> peers;
    peers.reserve(sources.size());
    for (const Source& src : sources) peers.push_back(src.peer_id());
    const std::vector<SourceReports::Standing> all =
        reports_.StandingsOf(peers, cid, now);
    size_t kept = 0;
    for (size_t i = 0; i < sources.size(); ++i) {
      const SourceReports::Standing st = all[i];
      if (st == SourceReports::Standing::kLeftOut) {
        ++left_out;
        continue;
      }
      standing.push_back(st);
      if (kept != i) sources[kept] = std::move(sources[i]);
      ++kept;
    }
    sources.resize(kept);
  }
  if (sources.empty() && left_out > 0) {
    return absl::NotFoundError(absl::StrCat(
        "every source of ", cid, " known here (", left_out,
        ") was reported for sending bad data; try again later"));
  }
  if (sources.empty()) {
    if (!remote.ok() && remote.status().code() != absl::StatusCode::kNotFound) {
      return absl::NotFoundError(absl::StrCat(
          "no leaf of this supernode holds ", cid,
          ", and the index could not be asked: ", remote.status().message()));
    }
    return absl::NotFoundError(absl::StrCat("no live source holds ", cid));
  }
  // Good complete sources first, then good partial ones, then the
  // reported ones.
  std::vector<size_t> order(sources.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto rank = [&](size_t i) {
    return (standing[i] == SourceReports::Standing::kGood ? 0 : 2) +
           (sources[i].partial() ? 1 : 0);
  };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return rank(a) < rank(b); });
  for (size_t i : order) *response->add_sources() = std::move(sources[i]);
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::Locate(
    grpc::CallbackServerContext* context, const LocateRequest* request,
    LocateResponse* response) {
  if (absl::Status s = locates_.Admit(LeafKey(context, "")); !s.ok()) {
    return Answer(context, s);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time deadline = DeadlineOf(context);
  const absl::Duration left =
      IndexTimeLeft(options_.index_locate_timeout, deadline);
  if (index_ == nullptr || left <= absl::ZeroDuration()) {
    // Only the other supernodes can add to the leaves' sources: a worker
    // waits for them.
    OnWorker(reactor, "look-ups", [this, reactor, request, response, deadline] {
      reactor->Finish(ToGrpcStatus(DoLocate(*request, response, deadline)));
    });
    return reactor;
  }
  // The leaves' sources here, the index's part without holding a thread;
  // the answer is finished from the index's.
  if (absl::Status s = ValidateLocate(*request); !s.ok()) {
    reactor->Finish(ToGrpcStatus(s));
    return reactor;
  }
  absl::StatusOr<std::shared_ptr<LocateState>> state =
      StartLocate(request->cid(), deadline);
  if (!state.ok()) {
    reactor->Finish(ToGrpcStatus(state.status()));
    return reactor;
  }
  if (!AcquireIndexCall()) {
    reactor->Finish(ToGrpcStatus(TooManyWaiting("look-ups")));
    return reactor;
  }
  index::LocateRequest req;
  req.set_cid(request->cid());
  req.set_limit(options_.locate_limit);
  index_->LocateAsync(
      req, left,
      [this, reactor, response, state = *std::move(state)](
          absl::StatusOr<index::LocateResponse> answer) {
        ReleaseIndexCall();
        TakeIndexLocate(state.get(), std::move(answer));
        const bool ask_others =
            !state->remote.ok() &&
            state->remote.status().code() != absl::StatusCode::kNotFound &&
            options_.fan_out != nullptr;
        if (ask_others && Submit([this, reactor, response, state] {
              LocateOthers(state.get(), nullptr);
              reactor->Finish(
                  ToGrpcStatus(FinishLocate(state.get(), response)));
            })) {
          return;
        }
        // Answered by the index, or nobody else to ask (or no worker free
        // to ask them): the leaves' sources with what the index gave.
        reactor->Finish(ToGrpcStatus(FinishLocate(state.get(), response)));
      });
  return reactor;
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::PeerLocate(
    grpc::CallbackServerContext* context, const PeerLocateRequest* request,
    LocateResponse* response) {
  if (absl::Status s = CheckSupernodeCaller(context); !s.ok()) {
    return Answer(context, s);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time deadline = DeadlineOf(context);
  OnWorker(reactor, "look-ups", [this, reactor, request, response, deadline] {
    reactor->Finish(ToGrpcStatus(DoPeerLocate(*request, response, deadline)));
  });
  return reactor;
}

grpc::ServerWriteReactor<SupernodeEvent>* SupernodeServiceImpl::Watch(
    grpc::CallbackServerContext* context, const WatchRequest* request) {
  auto* reactor = new WatchReactor(this);
  absl::Status s = CheckSessionCaller(context, registry_, request->session());
  if (s.ok() && !PlausibleSession(request->session())) {
    s = absl::NotFoundError("unknown session; join again");
  }
  if (s.ok()) {
    absl::StatusOr<std::string> peer =
        registry_->PeerOfSession(request->session());
    if (!peer.ok()) s = absl::NotFoundError("unknown or expired session; join again");
  }
  if (!s.ok()) {
    reactor->End(ToGrpcStatus(s));
    return reactor;
  }
  {
    absl::MutexLock lock(&watch_mu_);
    if (shutting_down_) {
      reactor->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the supernode is stopping"));
      return reactor;
    }
    watches_[reactor] = request->session();
  }
  reactor->Send(CurrentEvent());
  return reactor;
}

SupernodeEvent SupernodeServiceImpl::CurrentEvent() const {
  SupernodeEvent event;
  if (options_.others) {
    for (SupernodeRef& ref : options_.others()) {
      *event.add_others() = std::move(ref);
    }
  }
  return event;
}

void SupernodeServiceImpl::RemoveWatch(WatchReactor* reactor) {
  absl::MutexLock lock(&watch_mu_);
  watches_.erase(reactor);
}

void SupernodeServiceImpl::Shutdown() {
  absl::MutexLock lock(&watch_mu_);
  if (shutting_down_) return;
  shutting_down_ = true;
  for (auto& [reactor, session] : watches_) {
    reactor->End(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                              "the supernode is stopping"));
  }
}

int SupernodeServiceImpl::EndStaleWatches() {
  int ended = 0;
  absl::MutexLock lock(&watch_mu_);
  for (auto& [reactor, session] : watches_) {
    if (!registry_->PeerOfSession(session).ok()) {
      reactor->End(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                "the session ended; join again"));
      ++ended;
    }
  }
  return ended;
}

void SupernodeServiceImpl::EndWatchesOf(const std::string& session) {
  absl::MutexLock lock(&watch_mu_);
  for (auto& [reactor, watched] : watches_) {
    if (watched == session) {
      reactor->End(grpc::Status(grpc::StatusCode::NOT_FOUND,
                                "the session ended; join again"));
    }
  }
}

void SupernodeServiceImpl::PublishOthers() {
  const SupernodeEvent event = CurrentEvent();
  const std::string bytes = event.SerializeAsString();
  absl::MutexLock lock(&watch_mu_);
  if (bytes == last_others_) return;
  last_others_ = bytes;
  for (auto& [reactor, session] : watches_) reactor->Send(event);
}

size_t SupernodeServiceImpl::watch_count() const {
  absl::MutexLock lock(&watch_mu_);
  return watches_.size();
}

absl::Status SupernodeServiceImpl::DoReportBadSource(
    const ReportBadSourceRequest& request) {
  absl::Status s = ValidateReportBadSource(request);
  if (!s.ok()) return s;
  absl::StatusOr<std::string> reporter =
      registry_->PeerOfSession(request.session());
  if (!reporter.ok()) {
    return absl::UnauthenticatedError("unknown or expired session; join again");
  }
  if (*reporter == request.peer_id()) {
    return absl::InvalidArgumentError("a peer cannot report itself");
  }
  std::optional<LeafRegistry::LeafInfo> info = registry_->GetLeaf(*reporter);
  const absl::Time now = Now();
  // Its age as this supernode knows it: since it joined, or since the
  // index first knew it, never what the leaf says of itself.
  const absl::Duration age =
      info.has_value() ? now - info->known_since : absl::ZeroDuration();
  absl::StatusOr<SourceReports::Outcome> outcome = reports_.Report(
      *reporter, age, request.peer_id(), request.cid(), now);
  if (!outcome.ok()) return outcome.status();
  TROVE_LOG(WARNING) << "peer " << *reporter << " reports bad data from "
                     << request.peer_id() << " for " << request.cid() << " ("
                     << Printable(request.reason()) << "); "
                     << (outcome->counted
                             ? absl::StrCat("counted with weight ",
                                            absl::SixDigits(outcome->weight))
                             : std::string("not counted again"))
                     << "; its score for this file is "
                     << absl::StrCat(absl::SixDigits(outcome->score)) << " ("
                     << StandingName(outcome->standing) << " in look-ups)";
  return absl::OkStatus();
}

grpc::ServerUnaryReactor* SupernodeServiceImpl::ReportBadSource(
    grpc::CallbackServerContext* context,
    const ReportBadSourceRequest* request, ReportBadSourceResponse*) {
  return Answer(context, DoReportBadSource(*request));
}

int64_t SupernodeServiceImpl::bad_source_reports(
    const std::string& peer_id) const {
  return reports_.ReportsAgainst(peer_id, Now());
}

double SupernodeServiceImpl::bad_source_weight(
    const std::string& peer_id) const {
  return reports_.WeightAgainst(peer_id, Now());
}

absl::Time SupernodeServiceImpl::Now() const {
  return (options_.clock != nullptr ? options_.clock : Clock::Real())->Now();
}

}  // namespace supernode
}  // namespace trove
