#include "peer_client/supernode_session.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/signed_change.h"
#include "common/server_util.h"
#include "common/validation.h"
#include "protos/index.grpc.pb.h"

namespace trove {
namespace {

// The most proof of work this peer does to join a supernode (about a
// quarter of a minute at 24 bits); a supernode asking for more is refused.
constexpr int kMaxJoinWorkBitsDone = 24;

int64_t FreeMemoryBytes() {
  long pages = ::sysconf(_SC_AVPHYS_PAGES);
  long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return 0;
  return static_cast<int64_t>(pages) * page_size;
}

bool IsSessionLost(const absl::Status& st) {
  return absl::IsNotFound(st) || absl::IsUnauthenticated(st);
}

// The supernode answered with a refusal (rather than not answering).
bool IsRefusal(const absl::Status& st) {
  return absl::IsInvalidArgument(st) || absl::IsPermissionDenied(st) ||
         absl::IsResourceExhausted(st) || absl::IsFailedPrecondition(st) ||
         absl::IsUnauthenticated(st);
}

// The first line of a gRPC error message, shortened: transport errors can
// be long.
std::string Short(absl::string_view message) {
  std::string m(message.substr(0, message.find('\n')));
  if (m.size() > 200) m = m.substr(0, 200) + "...";
  return m;
}

}  // namespace

// A call of the session thread, with the rpc deadline, that Stop() cancels.
class SupernodeSession::TrackedCall {
 public:
  explicit TrackedCall(SupernodeSession* session) : session_(session) {
    ctx.set_deadline(session_->Deadline());
    absl::MutexLock lock(&session_->mu_);
    if (session_->stopping_) ctx.TryCancel();
    session_->calls_.insert(&ctx);
  }
  ~TrackedCall() {
    absl::MutexLock lock(&session_->mu_);
    session_->calls_.erase(&ctx);
  }
  TrackedCall(const TrackedCall&) = delete;
  TrackedCall& operator=(const TrackedCall&) = delete;

  grpc::ClientContext ctx;

 private:
  SupernodeSession* const session_;
};

SupernodeSession::SupernodeSession(const Identity* identity, Options options)
    : identity_(identity),
      options_(std::move(options)),
      started_(absl::Now()),
      backoff_(options_.min_backoff),
      candidates_(options_.supernodes) {}

SupernodeSession::~SupernodeSession() { Stop(); }

void SupernodeSession::Start() {
  absl::MutexLock lock(&mu_);
  if (started_thread_) return;
  started_thread_ = true;
  thread_ = std::thread(&SupernodeSession::Run, this);
}

void SupernodeSession::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void SupernodeSession::Abandon() {
  {
    absl::MutexLock lock(&mu_);
    leave_on_stop_ = false;
  }
  Stop();
}

void SupernodeSession::SetFiles(const std::vector<FileEntry>& files) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, FileEntry> desired;
  for (const FileEntry& f : files) desired[f.cid()] = f;
  desired_ = std::move(desired);
  files_set_ = true;
  ++desired_version_;
}

void SupernodeSession::SetPartials(const std::vector<FileEntry>& partials) {
  absl::MutexLock lock(&mu_);
  std::map<std::string, FileEntry> desired;
  for (const FileEntry& f : partials) desired[f.cid()] = f;
  if (desired.size() == desired_partials_.size() &&
      std::equal(desired.begin(), desired.end(), desired_partials_.begin(),
                 [](const auto& a, const auto& b) {
                   return a.first == b.first &&
                          a.second.name() == b.second.name() &&
                          a.second.size() == b.second.size();
                 })) {
    return;  // Nothing changed.
  }
  desired_partials_ = std::move(desired);
  ++desired_version_;
}

bool SupernodeSession::WaitPublished(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || published_version_ >= desired_version_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return published_version_ >= desired_version_;
}

std::string SupernodeSession::supernode() const {
  absl::MutexLock lock(&mu_);
  return address_;
}

std::string SupernodeSession::join_status() const {
  absl::MutexLock lock(&mu_);
  if (!address_.empty()) return "";
  const absl::Time now = absl::Now();
  std::string retry;
  if (retry_at_ > now) {
    retry = absl::StrCat(
        "; retrying in ",
        absl::FormatDuration(absl::Seconds(
            std::ceil(absl::ToDoubleSeconds(retry_at_ - now)))));
  }
  if (!joining_.empty() && retry.empty()) {
    return absl::StrCat("joining ", joining_,
                        join_error_.empty() ? "" : " (last attempt: " +
                                                       join_error_ + ")");
  }
  if (join_error_.empty()) return "joining" + retry;
  return join_error_ + retry;
}

void SupernodeSession::SetJoinError(const std::string& address,
                                    const absl::Status& status) {
  std::string why;
  if (address.empty()) {
    why = options_.index_address.empty()
              ? "no supernode known"
              : absl::StrCat("no supernode known: ", Short(status.message()));
  } else if (IsRefusal(status)) {
    why = absl::StrCat("refused by supernode ", address, ": ",
                       Short(status.message()));
  } else {
    why = absl::StrCat("no supernode reachable (", address, ": ",
                       Short(status.message()), ")");
  }
  absl::MutexLock lock(&mu_);
  join_error_ = std::move(why);
  joining_.clear();
}

void SupernodeSession::ProbeSoon() {
  absl::MutexLock lock(&mu_);
  probe_requested_ = true;
}

void SupernodeSession::MoveSoon() {
  absl::MutexLock lock(&mu_);
  move_requested_ = true;
}

bool SupernodeSession::ProbeNeeded() {
  absl::MutexLock lock(&mu_);
  if (probe_requested_) {
    probe_requested_ = false;
    return true;
  }
  if (channel_ == nullptr) return false;
  const grpc_connectivity_state state = channel_->GetState(false);
  return state == GRPC_CHANNEL_TRANSIENT_FAILURE ||
         state == GRPC_CHANNEL_SHUTDOWN || state == GRPC_CHANNEL_IDLE;
}

std::string SupernodeSession::backup() const {
  absl::MutexLock lock(&mu_);
  return backup_;
}

int SupernodeSession::join_count() const {
  absl::MutexLock lock(&mu_);
  return join_count_;
}

absl::Duration SupernodeSession::HeartbeatInterval() const {
  absl::MutexLock lock(&mu_);
  return heartbeat_interval_;
}

std::shared_ptr<SupernodeSession::Stub> SupernodeSession::stub() const {
  absl::MutexLock lock(&mu_);
  return stub_;
}

std::shared_ptr<grpc::ChannelInterface> SupernodeSession::Channel(
    const std::string& address, const Expected& expected) {
  return MakeChannel(address, expected, options_.tls.get());
}

std::chrono::system_clock::time_point SupernodeSession::Deadline() const {
  return absl::ToChronoTime(absl::Now() + options_.rpc_timeout);
}

bool SupernodeSession::Pause(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  retry_at_ = absl::Now() + d;
  mu_.AwaitWithTimeout(absl::Condition(&stopping_), d);
  retry_at_ = absl::InfinitePast();
  return !stopping_;
}

void SupernodeSession::Bootstrap() {
  if (options_.index_address.empty()) return;
  auto index = index::IndexService::NewStub(
      Channel(options_.index_address, Expected::Index()));
  TrackedCall call(this);  // Cancelled by Stop().
  grpc::ClientContext& ctx = call.ctx;
  index::BootstrapRequest req;
  index::BootstrapResponse resp;
  grpc::Status st = index->Bootstrap(&ctx, req, &resp);
  if (!st.ok()) {
    TROVE_LOG(WARNING) << "cannot ask the index at " << options_.index_address
                       << " for supernodes: " << st.error_message();
    SetJoinError("", absl::UnavailableError(absl::StrCat(
                         "cannot reach the index at ", options_.index_address,
                         " (", Short(st.error_message()), ")")));
    return;
  }
  std::vector<std::string> found;
  for (const index::SupernodeInfo& sn : resp.supernodes()) {
    if (!ValidateAddress(sn.address()).ok()) continue;
    found.push_back(sn.address());
    // TLS then accepts only that supernode at that address.
    if (ValidateHexId(sn.supernode_id(), "supernode_id").ok()) {
      supernode_ids_[sn.address()] = sn.supernode_id();
    }
    if (found.size() == 2) break;  // A primary and a backup.
  }
  if (found.empty()) {
    TROVE_LOG(WARNING) << "the index knows no live supernode yet";
    SetJoinError("", absl::UnavailableError(absl::StrCat(
                         "the index at ", options_.index_address,
                         " knows no live supernode")));
    return;
  }
  TROVE_LOG(INFO) << "index offers supernode " << found[0]
                  << (found.size() > 1 ? absl::StrCat(", backup ", found[1])
                                       : std::string());
  candidates_ = found;
  cursor_ = 0;
  round_failures_ = 0;
  if (found.size() > 1) {
    absl::MutexLock lock(&mu_);
    backup_ = found[1];
  }
}

std::string SupernodeSession::PickCandidate() {
  if (candidates_.empty()) Bootstrap();
  if (candidates_.empty()) return "";
  return candidates_[cursor_ % candidates_.size()];
}

bool SupernodeSession::CandidateFailed() {
  ++cursor_;
  ++round_failures_;
  if (round_failures_ < std::max<size_t>(candidates_.size(), 1)) return false;
  round_failures_ = 0;
  if (!options_.index_address.empty()) {
    // Every known supernode failed: ask the index which ones live now,
    // keeping the ones we knew in case the index is down too.
    std::vector<std::string> known = candidates_;
    candidates_.clear();
    Bootstrap();
    if (candidates_.empty()) candidates_ = known;
  }
  return true;
}

absl::Status SupernodeSession::Join(const std::string& address) {
  {
    absl::MutexLock lock(&mu_);
    joining_ = address;
  }
  auto id = supernode_ids_.find(address);
  std::shared_ptr<grpc::ChannelInterface> channel = Channel(
      address, Expected::Supernode(id != supernode_ids_.end()
                                       ? id->second
                                       : backups_.IdOf(address)));
  std::shared_ptr<Stub> stub = supernode::SupernodeService::NewStub(channel);
  supernode::ChallengeResponse challenge;
  {
    TrackedCall call(this);  // Cancelled by Stop().
    grpc::ClientContext& ctx = call.ctx;
    grpc::Status st =
        stub->Challenge(&ctx, supernode::ChallengeRequest(), &challenge);
    if (!st.ok()) return FromGrpcStatus(st);
  }
  absl::StatusOr<std::string> signature = identity_->Sign(
      JoinSignedMessage(challenge.nonce(), options_.listen_address));
  if (!signature.ok()) return signature.status();
  supernode::JoinRequest req;
  req.set_public_key(identity_->public_key());
  req.set_nonce(challenge.nonce());
  req.set_signature(*signature);
  if (challenge.work_bits() > kMaxJoinWorkBitsDone) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the supernode at ", address, " asks for a proof of work of ",
        challenge.work_bits(), " bits; this peer does at most ",
        kMaxJoinWorkBitsDone));
  }
  req.set_work(SolveJoinWork(challenge.nonce(), identity_->public_key(),
                             challenge.work_bits()));
  req.set_listen_address(options_.listen_address);
  *req.mutable_capacity() = options_.capacity;
  req.mutable_capacity()->set_uptime_seconds(
      absl::ToInt64Seconds(absl::Now() - started_));
  if (req.capacity().free_memory_bytes() == 0) {
    req.mutable_capacity()->set_free_memory_bytes(FreeMemoryBytes());
  }
  supernode::JoinResponse resp;
  TrackedCall call(this);  // Cancelled by Stop().
  grpc::ClientContext& ctx = call.ctx;
  grpc::Status st = stub->Join(&ctx, req, &resp);
  if (!st.ok()) return FromGrpcStatus(st);
  if (resp.peer_id() != identity_->peer_id()) {
    TROVE_LOG(WARNING) << "supernode " << address << " computed peer id "
                       << resp.peer_id() << ", ours is "
                       << identity_->peer_id();
  }
  absl::Duration interval = absl::Milliseconds(resp.heartbeat_interval_ms());
  if (interval <= absl::ZeroDuration()) interval = absl::Seconds(30);
  supernode_id_ = resp.supernode_id();
  presence_validity_ = resp.presence_validity_ms() > 0
                           ? absl::Milliseconds(resp.presence_validity_ms())
                           : options_.presence_validity;
  // Once joined (after the lock below is released): the Watch stream.
  absl::Cleanup watch = [this, &address, &resp] {
    StartWatch(address, resp);
  };
  absl::MutexLock lock(&mu_);
  address_ = address;
  session_ = resp.session();
  stub_ = std::move(stub);
  channel_ = std::move(channel);
  probe_requested_ = false;
  join_error_.clear();
  joining_.clear();
  heartbeat_interval_ = interval;
  ++join_count_;
  if (!resp.backup_address().empty() &&
      ValidateAddress(resp.backup_address()).ok() &&
      resp.backup_address() != address) {
    backup_ = resp.backup_address();
    if (std::find(candidates_.begin(), candidates_.end(), backup_) ==
        candidates_.end()) {
      candidates_.push_back(backup_);
    }
  }
  TROVE_LOG(INFO) << "joined supernode " << address << " as "
                  << identity_->peer_id().substr(0, 16) << " (heartbeat every "
                  << absl::FormatDuration(interval)
                  << (backup_.empty() ? "" : ", backup " + backup_) << ")";
  return absl::OkStatus();
}

absl::Status SupernodeSession::PublishFull(
    const std::map<std::string, FileEntry>& files,
    const std::map<std::string, FileEntry>& partials) {
  std::shared_ptr<Stub> s = stub();
  std::string session;
  {
    absl::MutexLock lock(&mu_);
    session = session_;
  }
  auto it = files.begin();
  bool first = true;
  int count = 0;
  // The first request replaces everything; the rest add to it.
  while (first || it != files.end()) {
    supernode::PublishRequest req;
    req.set_session(session);
    req.set_full(first);
    for (int n = 0; it != files.end() && n < options_.publish_batch; ++it, ++n) {
      *req.add_added() = it->second;
    }
    if (absl::Status signed_ok = SignPublish(&req); !signed_ok.ok()) {
      return signed_ok;
    }
    supernode::PublishResponse resp;
    TrackedCall call(this);  // Cancelled by Stop().
    grpc::ClientContext& ctx = call.ctx;
    grpc::Status st = s->Publish(&ctx, req, &resp);
    if (!st.ok()) return FromGrpcStatus(st);
    count = resp.file_count();
    first = false;
  }
  // The full list cleared the partial entries: announce them again.
  auto p = partials.begin();
  while (p != partials.end()) {
    supernode::PublishRequest req;
    req.set_session(session);
    for (int n = 0; p != partials.end() && n < options_.publish_batch; ++p) {
      if (files.count(p->first)) continue;
      *req.add_partial() = p->second;
      ++n;
    }
    if (req.partial_size() == 0) break;
    if (absl::Status signed_ok = SignPublish(&req); !signed_ok.ok()) {
      return signed_ok;
    }
    supernode::PublishResponse resp;
    TrackedCall call(this);  // Cancelled by Stop().
    grpc::Status st = s->Publish(&call.ctx, req, &resp);
    if (!st.ok()) return FromGrpcStatus(st);
  }
  TROVE_LOG(INFO) << "published " << files.size()
                  << " files in full; the supernode holds " << count
                  << (partials.empty()
                          ? std::string()
                          : absl::StrCat(" (and ", partials.size(),
                                         " partial downloads)"));
  return absl::OkStatus();
}

absl::Status SupernodeSession::PublishDelta(
    const std::map<std::string, FileEntry>& files,
    const std::map<std::string, FileEntry>& partials) {
  std::vector<const FileEntry*> added;
  std::vector<std::string> removed;
  for (const auto& [cid, entry] : files) {
    auto old = published_.find(cid);
    if (old == published_.end() || old->second.name() != entry.name() ||
        old->second.size() != entry.size()) {
      added.push_back(&entry);
    }
  }
  for (const auto& [cid, entry] : published_) {
    if (files.count(cid) == 0) removed.push_back(cid);
  }
  // Partial entries: new or changed ones are announced; ones that ended are
  // withdrawn (a cid now shared in full replaces its partial entry).
  std::vector<const FileEntry*> partial_added;
  for (const auto& [cid, entry] : partials) {
    if (files.count(cid)) continue;
    auto old = published_partials_.find(cid);
    if (old == published_partials_.end() ||
        old->second.name() != entry.name() ||
        old->second.size() != entry.size()) {
      partial_added.push_back(&entry);
    }
  }
  for (const auto& [cid, entry] : published_partials_) {
    if (partials.count(cid) == 0 && files.count(cid) == 0 &&
        published_.count(cid) == 0) {
      removed.push_back(cid);
    }
  }
  if (added.empty() && removed.empty() && partial_added.empty()) {
    return absl::OkStatus();
  }
  std::shared_ptr<Stub> s = stub();
  std::string session;
  {
    absl::MutexLock lock(&mu_);
    session = session_;
  }
  size_t a = 0, r = 0, pa = 0;
  while (a < added.size() || r < removed.size() || pa < partial_added.size()) {
    supernode::PublishRequest req;
    req.set_session(session);
    int n = 0;
    for (; r < removed.size() && n < options_.publish_batch; ++r, ++n) {
      req.add_removed(removed[r]);
    }
    for (; a < added.size() && n < options_.publish_batch; ++a, ++n) {
      *req.add_added() = *added[a];
    }
    for (; pa < partial_added.size() && n < options_.publish_batch; ++pa, ++n) {
      *req.add_partial() = *partial_added[pa];
    }
    if (absl::Status signed_ok = SignPublish(&req); !signed_ok.ok()) {
      return signed_ok;
    }
    supernode::PublishResponse resp;
    TrackedCall call(this);  // Cancelled by Stop().
    grpc::ClientContext& ctx = call.ctx;
    grpc::Status st = s->Publish(&ctx, req, &resp);
    if (!st.ok()) return FromGrpcStatus(st);
  }
  TROVE_LOG(INFO) << "published changes: " << added.size() << " added, "
                  << removed.size() << " removed"
                  << (partial_added.empty()
                          ? std::string()
                          : absl::StrCat(", ", partial_added.size(),
                                         " partial announced"));
  return absl::OkStatus();
}

absl::Status SupernodeSession::Heartbeat() {
  std::shared_ptr<Stub> s = stub();
  supernode::HeartbeatRequest req;
  {
    absl::MutexLock lock(&mu_);
    req.set_session(session_);
  }
  if (!supernode_id_.empty()) {
    Presence presence;
    presence.set_supernode_id(supernode_id_);
    presence.set_valid_until_ms(
        absl::ToUnixMillis(absl::Now() + presence_validity_));
    absl::StatusOr<Signed> signed_presence =
        SignPresence(*identity_, presence);
    if (!signed_presence.ok()) return signed_presence.status();
    req.set_presence(signed_presence->bytes);
    req.set_presence_signature(signed_presence->signature);
  }
  supernode::HeartbeatResponse resp;
  TrackedCall call(this);  // Cancelled by Stop().
  grpc::ClientContext& ctx = call.ctx;
  absl::Status st = FromGrpcStatus(s->Heartbeat(&ctx, req, &resp));
  if (st.ok() && resp.resend_full()) {
    TROVE_LOG(INFO) << "the supernode asks for the full list again";
    need_full_ = true;
  }
  return st;
}

int64_t SupernodeSession::NextSeq() {
  if (last_seq_ == 0 && !options_.seq_path.empty()) {
    absl::StatusOr<std::string> saved = ReadFile(options_.seq_path);
    int64_t value = 0;
    if (saved.ok() &&
        absl::SimpleAtoi(absl::StripAsciiWhitespace(*saved), &value)) {
      last_seq_ = value;
    }
  }
  last_seq_ = std::max(last_seq_ + 1, absl::ToUnixMicros(absl::Now()));
  if (!options_.seq_path.empty()) {
    absl::Status s = WriteFileAtomic(options_.seq_path,
                                     absl::StrCat(last_seq_, "\n"));
    if (!s.ok()) {
      TROVE_LOG(WARNING) << "cannot save the change seq: " << s;
    }
  }
  return last_seq_;
}

absl::Status SupernodeSession::SignPublish(supernode::PublishRequest* req) {
  LeafChange change;
  change.set_supernode_id(supernode_id_);
  change.set_prev_seq(last_seq_);
  change.set_seq(NextSeq());
  change.set_full(req->full());
  change.set_address(options_.listen_address);
  change.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
  change.mutable_added()->Swap(req->mutable_added());
  change.mutable_removed()->Swap(req->mutable_removed());
  change.mutable_partial()->Swap(req->mutable_partial());
  absl::StatusOr<Signed> signed_change =
      SignLeafChange(*identity_, std::move(change));
  if (!signed_change.ok()) return signed_change.status();
  req->set_signed_change(std::move(signed_change->bytes));
  req->set_signature(std::move(signed_change->signature));
  return absl::OkStatus();
}

void SupernodeSession::Leave() {
  std::shared_ptr<Stub> s = stub();
  if (s == nullptr) return;
  supernode::LeaveRequest req;
  std::string address;
  {
    absl::MutexLock lock(&mu_);
    req.set_session(session_);
    address = address_;
  }
  if (!supernode_id_.empty()) {
    LeafChange gone;
    gone.set_supernode_id(supernode_id_);
    gone.set_prev_seq(last_seq_);
    gone.set_seq(NextSeq());
    gone.set_gone(true);
    gone.set_address(options_.listen_address);
    gone.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
    absl::StatusOr<Signed> signed_gone = SignLeafChange(*identity_, gone);
    if (signed_gone.ok()) {
      req.set_signed_change(signed_gone->bytes);
      req.set_signature(signed_gone->signature);
    }
  }
  supernode::LeaveResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(
      absl::ToChronoTime(absl::Now() + std::min(options_.rpc_timeout,
                                                absl::Seconds(2))));
  grpc::Status st = s->Leave(&ctx, req, &resp);
  if (st.ok()) {
    TROVE_LOG(INFO) << "left supernode " << address;
  } else {
    TROVE_LOG(WARNING) << "leaving supernode " << address
                       << " failed: " << st.error_message();
  }
  absl::MutexLock lock(&mu_);
  address_.clear();
  session_.clear();
}

void SupernodeSession::HandleError(const absl::Status& status,
                                   const char* what) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // Cancelled by Stop(): keep the session to leave.
  }
  std::string address = supernode();
  if (IsSessionLost(status)) {
    TROVE_LOG(WARNING) << what << " at " << address
                       << ": session lost (" << status.message()
                       << "); joining again";
    ++rejoins_in_a_row_;
  } else if (absl::IsInvalidArgument(status) ||
             absl::IsResourceExhausted(status) ||
             absl::IsFailedPrecondition(status)) {
    // The supernode refused what we sent; trying elsewhere is the best bet.
    TROVE_LOG(ERROR) << what << " at " << address
                     << " refused: " << status;
    CandidateFailed();
  } else {
    TROVE_LOG(WARNING) << what << " at " << address << " failed: " << status
                       << "; trying another supernode";
    CandidateFailed();
  }
  {
    absl::MutexLock lock(&mu_);
    address_.clear();
    stub_.reset();
    channel_.reset();
  }
  StopWatch();
  if (!IsSessionLost(status)) {
    // Straight to the backup, unless it failed lately too.
    backups_.Failed(address);
    const std::string next = backups_.backup();
    if (!next.empty()) PreferCandidate(next);
  }
  SetJoinError(address, status);
  need_full_ = true;
}

void SupernodeSession::StartWatch(const std::string& address,
                                  const supernode::JoinResponse& joined) {
  std::vector<supernode::SupernodeRef> others(joined.others().begin(),
                                              joined.others().end());
  backups_.Joined(address, others);
  for (const supernode::SupernodeRef& ref : others) {
    if (!ValidateAddress(ref.address()).ok()) continue;
    if (ValidateHexId(ref.supernode_id(), "supernode_id").ok()) {
      supernode_ids_[ref.address()] = ref.supernode_id();
    }
    if (std::find(candidates_.begin(), candidates_.end(), ref.address()) ==
        candidates_.end()) {
      candidates_.push_back(ref.address());
    }
  }
  const std::string backup = backups_.backup();
  std::shared_ptr<Stub> s;
  std::string session;
  int64_t generation;
  {
    absl::MutexLock lock(&mu_);
    if (!backup.empty()) backup_ = backup;
    s = stub_;
    session = session_;
    generation = ++watch_generation_;
    watch_end_.reset();
  }
  watch_.reset();
  if (s == nullptr) return;
  watch_ = WatchStream::Open(
      s.get(), session,
      [this](const supernode::SupernodeEvent& event) {
        backups_.Others({event.others().begin(), event.others().end()});
        const std::string next = backups_.backup();
        absl::MutexLock lock(&mu_);
        if (!next.empty()) backup_ = next;
      },
      [this, generation](const absl::Status& end) {
        // An older supernode without Watch: the channel probe remains.
        if (absl::IsUnimplemented(end)) return;
        absl::MutexLock lock(&mu_);
        if (generation != watch_generation_ || stopping_) return;
        watch_end_ = end;
        probe_requested_ = true;  // wakes the session thread
      });
}

void SupernodeSession::StopWatch() {
  {
    absl::MutexLock lock(&mu_);
    ++watch_generation_;
    watch_end_.reset();
  }
  watch_.reset();
}

std::optional<absl::Status> SupernodeSession::TakeWatchEnd() {
  absl::MutexLock lock(&mu_);
  std::optional<absl::Status> end = std::move(watch_end_);
  watch_end_.reset();
  return end;
}

void SupernodeSession::PreferCandidate(const std::string& address) {
  auto it = std::find(candidates_.begin(), candidates_.end(), address);
  if (it == candidates_.end()) {
    candidates_.push_back(address);
    it = candidates_.end() - 1;
  }
  cursor_ = static_cast<size_t>(it - candidates_.begin());
}

void SupernodeSession::Run() {
  absl::Time next_heartbeat = absl::InfinitePast();
  while (true) {
    bool move;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      move = move_requested_;
      move_requested_ = false;
      if (move && !address_.empty()) {
        TROVE_LOG(INFO) << "moving from supernode " << address_
                        << " as the index asks";
        address_.clear();
        stub_.reset();
        channel_.reset();
      }
    }
    if (move) {
      candidates_.clear();
      need_full_ = true;
    }
    if (supernode().empty()) {
      if (rejoins_in_a_row_ > 1) {
        // The supernode keeps dropping the session: slow down.
        if (!Pause(backoff_)) break;
        backoff_ = std::min(backoff_ * 2, options_.max_backoff);
      }
      std::string address = PickCandidate();
      if (address.empty()) {
        TROVE_LOG(WARNING) << "no supernode known; retrying in "
                           << absl::FormatDuration(backoff_);
        {
          absl::MutexLock lock(&mu_);
          if (join_error_.empty()) join_error_ = "no supernode known";
          joining_.clear();
        }
        if (!Pause(backoff_)) break;
        backoff_ = std::min(backoff_ * 2, options_.max_backoff);
        continue;
      }
      absl::Status joined = Join(address);
      if (!joined.ok()) {
        TROVE_LOG(WARNING) << "cannot join supernode " << address << ": "
                           << joined;
        SetJoinError(address, joined);
        if (CandidateFailed()) {
          if (!Pause(backoff_)) break;
          backoff_ = std::min(backoff_ * 2, options_.max_backoff);
        }
        continue;
      }
      if (rejoins_in_a_row_ == 0) backoff_ = options_.min_backoff;
      round_failures_ = 0;
      need_full_ = true;
      next_heartbeat = absl::Now() + HeartbeatInterval();
    }

    if (std::optional<absl::Status> end = TakeWatchEnd()) {
      // The supernode died, stops, or dropped the session.
      HandleError(end->ok() ? absl::UnavailableError("the watch stream ended")
                            : *end,
                  "watch");
      continue;
    }

    std::map<std::string, FileEntry> files;
    std::map<std::string, FileEntry> partials;
    int64_t version;
    bool files_set;
    {
      absl::MutexLock lock(&mu_);
      files = desired_;
      partials = desired_partials_;
      version = desired_version_;
      files_set = files_set_;
    }
    bool publish_needed;
    {
      absl::MutexLock lock(&mu_);
      publish_needed = published_version_ < version;
    }
    // Nothing is published before the first list is known (the first scan
    // may take long; the session already serves searches meanwhile).
    publish_needed = files_set && (publish_needed || need_full_);
    if (publish_needed) {
      absl::Status st = need_full_ ? PublishFull(files, partials)
                                   : PublishDelta(files, partials);
      if (absl::IsFailedPrecondition(st) && !need_full_) {
        // A change of ours went missing on the way: start the chain afresh.
        TROVE_LOG(INFO) << "the supernode asks for the full list: "
                        << st.message();
        need_full_ = true;
        continue;
      }
      if (!st.ok()) {
        HandleError(st, "publish");
        continue;
      }
      need_full_ = false;
      rejoins_in_a_row_ = 0;
      backoff_ = options_.min_backoff;
      published_ = std::move(files);
      published_partials_ = std::move(partials);
      absl::MutexLock lock(&mu_);
      published_version_ = version;
    }

    if (absl::Now() >= next_heartbeat || ProbeNeeded()) {
      absl::Status st = Heartbeat();
      if (!st.ok()) {
        HandleError(st, "heartbeat");
        continue;
      }
      rejoins_in_a_row_ = 0;
      backoff_ = options_.min_backoff;
      next_heartbeat = absl::Now() + HeartbeatInterval();
      if (need_full_) continue;
    }

    // Until the next heartbeat, a new list, or (looked at every probe
    // interval) a connection that dropped.
    absl::MutexLock lock(&mu_);
    auto wake = [this, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return stopping_ || desired_version_ != version || probe_requested_ ||
             move_requested_;
    };
    mu_.AwaitWithDeadline(
        absl::Condition(&wake),
        std::min(next_heartbeat, absl::Now() + options_.probe_interval));
  }
  StopWatch();
  bool leave;
  {
    absl::MutexLock lock(&mu_);
    leave = leave_on_stop_;
  }
  if (leave && !supernode().empty()) Leave();
}

absl::Status SupernodeSession::NotJoined() const {
  std::string why = join_status();
  return absl::UnavailableError(absl::StrCat(
      "not joined to a supernode", why.empty() ? "" : ": " + why));
}

absl::Status SupernodeSession::SupernodeFailure(const absl::Status& st) {
  if (!absl::IsUnavailable(st) && !absl::IsDeadlineExceeded(st)) return st;
  // Not the supernode's answer but its silence: check it now.
  ProbeSoon();
  return absl::Status(
      st.code(), absl::StrCat("the supernode ", supernode(),
                              " is not answering (", Short(st.message()),
                              "); trying another"));
}

absl::StatusOr<supernode::SearchResponse> SupernodeSession::Search(
    const SearchQuery& query) {
  std::shared_ptr<Stub> s = stub();
  if (s == nullptr) return NotJoined();
  supernode::SearchRequest req;
  *req.mutable_query() = query;
  supernode::SearchResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  grpc::Status st = s->Search(&ctx, req, &resp);
  if (!st.ok()) return SupernodeFailure(FromGrpcStatus(st));
  return resp;
}

absl::StatusOr<LocatedSources> SupernodeSession::Locate(
    const std::string& cid) {
  std::shared_ptr<Stub> s = stub();
  if (s == nullptr) return NotJoined();
  supernode::LocateRequest req;
  req.set_cid(cid);
  supernode::LocateResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  grpc::Status st = s->Locate(&ctx, req, &resp);
  if (!st.ok()) return SupernodeFailure(FromGrpcStatus(st));
  LocatedSources out;
  out.size = resp.size();
  out.name = resp.name();
  out.sources.assign(resp.sources().begin(), resp.sources().end());
  return out;
}

void SupernodeSession::ReportBadSource(const std::string& cid,
                                       const std::string& peer_id,
                                       const std::string& reason) {
  std::shared_ptr<Stub> s = stub();
  if (s == nullptr) return;
  supernode::ReportBadSourceRequest req;
  {
    absl::MutexLock lock(&mu_);
    req.set_session(session_);
  }
  req.set_cid(cid);
  req.set_peer_id(peer_id);
  req.set_reason(reason);
  supernode::ReportBadSourceResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline());
  grpc::Status st = s->ReportBadSource(&ctx, req, &resp);
  if (!st.ok()) {
    TROVE_LOG(WARNING) << "cannot report bad source " << peer_id.substr(0, 12)
                       << ": " << st.error_message();
  }
}

}  // namespace trove
