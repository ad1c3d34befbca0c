#include "peer_client/supernode_host.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/net_util.h"
#include "common/server_util.h"
#include "common/signed_change.h"

namespace trove {
namespace {

constexpr char kRoleHelp[] =
    "1 for this peer's role in the supernode election";

void ExportRole(SupernodeHost::Role role) {
  for (SupernodeHost::Role r :
       {SupernodeHost::Role::kLeaf, SupernodeHost::Role::kSupernode,
        SupernodeHost::Role::kDraining}) {
    metrics::Gauge("trove_peer_role", kRoleHelp,
                   {{"role", SupernodeHost::RoleName(r)}})
        .Set(r == role ? 1 : 0);
  }
}

// The host part of "host:port" ("[::1]:80" gives "[::1]").
std::string HostOf(const std::string& address) {
  const size_t colon = address.rfind(':');
  return colon == std::string::npos ? address : address.substr(0, colon);
}

}  // namespace

SupernodeHost::SupernodeHost(const Identity* identity,
                             SupernodeSession* session, Options options)
    : identity_(identity),
      session_(session),
      options_(std::move(options)),
      started_(absl::Now()) {
  if (options_.tls != nullptr) {
    index_ = index::IndexService::NewStub(
        options_.tls->MakeChannel(options_.index_address, Expected::Index()));
  }
  absl::MutexLock lock(&mu_);
  report_every_ = options_.report_every;
  ExportRole(Role::kLeaf);
}

SupernodeHost::~SupernodeHost() { Stop(absl::Seconds(5)); }

const char* SupernodeHost::RoleName(Role role) {
  switch (role) {
    case Role::kSupernode:
      return "supernode";
    case Role::kDraining:
      return "draining";
    case Role::kLeaf:
      break;
  }
  return "leaf";
}

void SupernodeHost::Start() {
  absl::MutexLock lock(&mu_);
  if (started_thread_) return;
  started_thread_ = true;
  thread_ = std::thread([this] { Run(); });
}

void SupernodeHost::Stop(absl::Duration timeout) {
  std::shared_ptr<supernode::Supernode> sn;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    sn = std::move(supernode_);
  }
  if (thread_.joinable()) thread_.join();
  if (sn != nullptr) sn->Stop(timeout);
}

SupernodeHost::Role SupernodeHost::role() const {
  absl::MutexLock lock(&mu_);
  return role_;
}

std::string SupernodeHost::supernode_address() const {
  absl::MutexLock lock(&mu_);
  return supernode_ != nullptr ? supernode_->address() : "";
}

int SupernodeHost::supernode_leaves() const {
  absl::MutexLock lock(&mu_);
  return supernode_ != nullptr ? supernode_->registry()->leaf_count() : 0;
}

bool SupernodeHost::reachable() const {
  absl::MutexLock lock(&mu_);
  return reachable_;
}

std::string SupernodeHost::report_error() const {
  absl::MutexLock lock(&mu_);
  return report_error_;
}

absl::Status SupernodeHost::StartSupernode() {
  supernode::SupernodeOptions o = options_.supernode;
  o.index_address = options_.index_address;
  o.listen_address = options_.listen.empty()
                         ? absl::StrCat(HostOf(options_.peer_address), ":0")
                         : options_.listen;
  o.advertise_address = options_.advertise;
  o.key_file = options_.key_file;
  o.state_dir.clear();
  o.supernode_id.clear();
  o.tls = options_.tls;
  if (options_.capacity) o.capacity = options_.capacity();
  absl::StatusOr<std::unique_ptr<supernode::Supernode>> sn =
      supernode::Supernode::Create(o);
  if (!sn.ok()) return sn.status();
  absl::Status s = (*sn)->Start();
  if (!s.ok()) return s;
  TROVE_LOG(INFO) << "promoted by the index: serving as supernode "
                  << (*sn)->supernode_id().substr(0, 12) << "... on "
                  << (*sn)->address();
  absl::MutexLock lock(&mu_);
  supernode_ = std::shared_ptr<supernode::Supernode>(std::move(*sn));
  return absl::OkStatus();
}

void SupernodeHost::StopSupernode(const char* why) {
  std::shared_ptr<supernode::Supernode> sn;
  {
    absl::MutexLock lock(&mu_);
    sn = std::move(supernode_);
    drain_until_ = absl::InfiniteFuture();
  }
  if (sn == nullptr) return;
  TROVE_LOG(INFO) << "stopping the supernode on " << sn->address() << ": "
                  << why;
  sn->Stop(absl::Seconds(5));
}

absl::Status SupernodeHost::ReportOnce() {
  if (index_ == nullptr) {
    return absl::FailedPreconditionError("no TLS context to reach the index");
  }
  CapacityReport report;
  report.set_address(options_.peer_address);
  if (options_.capacity) *report.mutable_capacity() = options_.capacity();
  report.mutable_capacity()->set_uptime_seconds(
      absl::ToInt64Seconds(absl::Now() - started_));
  report.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
  report.set_supernode_address(supernode_address());
  absl::StatusOr<Signed> signed_report =
      SignCapacityReport(*identity_, std::move(report));
  if (!signed_report.ok()) return signed_report.status();
  index::ReportPeerRequest req;
  req.set_report(signed_report->bytes);
  req.set_signature(signed_report->signature);
  index::ReportPeerResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.rpc_timeout));
  grpc::Status st = index_->ReportPeer(&ctx, req, &resp);
  if (!st.ok()) {
    absl::Status s = FromGrpcStatus(st);
    absl::MutexLock lock(&mu_);
    report_error_ = std::string(s.message());
    return s;
  }
  bool running;
  {
    absl::MutexLock lock(&mu_);
    report_error_.clear();
    reachable_ = resp.reachable();
    if (resp.report_every_seconds() > 0) {
      report_every_ = absl::Seconds(resp.report_every_seconds());
    }
    running = supernode_ != nullptr;
  }
  Role role = Role::kLeaf;
  switch (resp.role()) {
    case index::PEER_ROLE_SUPERNODE:
      role = Role::kSupernode;
      if (!running) {
        absl::Status s = StartSupernode();
        if (!s.ok()) {
          TROVE_LOG(ERROR) << "promoted, but cannot run the supernode: " << s;
          role = Role::kLeaf;
        }
      }
      break;
    case index::PEER_ROLE_DRAINING: {
      role = Role::kDraining;
      absl::MutexLock lock(&mu_);
      if (drain_until_ == absl::InfiniteFuture() && supernode_ != nullptr) {
        drain_until_ = absl::Now() + absl::Seconds(resp.drain_seconds());
        TROVE_LOG(INFO) << "demoted by the index: serving leaves "
                        << resp.drain_seconds() << "s more while they move";
      }
      break;
    }
    default:
      if (running) StopSupernode("no longer a supernode");
      break;
  }
  if (resp.move() && session_ != nullptr) session_->MoveSoon();
  {
    absl::MutexLock lock(&mu_);
    role_ = role;
  }
  ExportRole(role);
  return absl::OkStatus();
}

void SupernodeHost::Run() {
  while (true) {
    absl::Status s = ReportOnce();
    if (!s.ok()) {
      TROVE_LOG(WARNING) << "capacity report to the index failed: " << s;
    }
    bool drained;
    {
      absl::MutexLock lock(&mu_);
      // A draining supernode stops on time, whatever the report interval.
      const absl::Time next =
          std::min(absl::Now() + report_every_, drain_until_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_;
      };
      if (mu_.AwaitWithDeadline(absl::Condition(&stopping), next)) return;
      drained = absl::Now() >= drain_until_;
    }
    if (drained) StopSupernode("drained: its leaves had time to move");
  }
}

}  // namespace trove
