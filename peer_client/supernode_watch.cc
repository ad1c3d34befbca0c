#include "peer_client/supernode_watch.h"

#include <utility>

#include "common/grpc_status.h"
#include "common/validation.h"

namespace trove {

class WatchStream::Reactor
    : public grpc::ClientReadReactor<supernode::SupernodeEvent> {
 public:
  Reactor(OnEvent on_event, OnEnd on_end)
      : on_event_(std::move(on_event)), on_end_(std::move(on_end)) {}

  void Begin(supernode::SupernodeService::StubInterface* stub,
             const std::string& session) {
    request_.set_session(session);
    stub->async()->Watch(&ctx_, &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows with the status.
    on_event_(event_);
    StartRead(&event_);
  }

  void OnDone(const grpc::Status& status) override {
    on_end_(FromGrpcStatus(status));
    absl::MutexLock lock(&mu_);
    done_ = true;
  }

  void Cancel() { ctx_.TryCancel(); }

  void AwaitDone() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

 private:
  const OnEvent on_event_;
  const OnEnd on_end_;
  grpc::ClientContext ctx_;
  supernode::WatchRequest request_;
  supernode::SupernodeEvent event_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

WatchStream::WatchStream(std::unique_ptr<Reactor> reactor)
    : reactor_(std::move(reactor)) {}

std::unique_ptr<WatchStream> WatchStream::Open(
    supernode::SupernodeService::StubInterface* stub,
    const std::string& session, OnEvent on_event, OnEnd on_end) {
  auto reactor =
      std::make_unique<Reactor>(std::move(on_event), std::move(on_end));
  reactor->Begin(stub, session);
  return std::unique_ptr<WatchStream>(new WatchStream(std::move(reactor)));
}

WatchStream::~WatchStream() {
  reactor_->Cancel();
  reactor_->AwaitDone();
}

bool WatchStream::ended() const { return reactor_->done(); }

void BackupChooser::Joined(const std::string& address,
                           const std::vector<supernode::SupernodeRef>& others) {
  absl::MutexLock lock(&mu_);
  joined_ = address;
  failed_.erase(address);
  others_ = others;
}

void BackupChooser::Others(const std::vector<supernode::SupernodeRef>& others) {
  absl::MutexLock lock(&mu_);
  others_ = others;
}

void BackupChooser::Failed(const std::string& address) {
  absl::MutexLock lock(&mu_);
  failed_[address] = clock_->Now();
}

bool BackupChooser::RecentlyFailedLocked(const std::string& address) const {
  auto it = failed_.find(address);
  return it != failed_.end() && clock_->Now() - it->second < forget_after_;
}

std::string BackupChooser::backup() const {
  absl::MutexLock lock(&mu_);
  for (const supernode::SupernodeRef& ref : others_) {
    if (ref.address() == joined_ || !ValidateAddress(ref.address()).ok()) {
      continue;
    }
    if (RecentlyFailedLocked(ref.address())) continue;
    return ref.address();
  }
  return "";
}

std::string BackupChooser::IdOf(const std::string& address) const {
  absl::MutexLock lock(&mu_);
  for (const supernode::SupernodeRef& ref : others_) {
    if (ref.address() == address) return ref.supernode_id();
  }
  return "";
}

std::vector<std::string> BackupChooser::others() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const supernode::SupernodeRef& ref : others_) {
    if (ref.address() != joined_ && ValidateAddress(ref.address()).ok()) {
      out.push_back(ref.address());
    }
  }
  return out;
}

}  // namespace trove
