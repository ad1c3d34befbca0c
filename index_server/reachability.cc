#include "index_server/reachability.h"

#include "common/log.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace index_server {
namespace {

class GrpcPeerDialer final : public PeerDialer {
 public:
  explicit GrpcPeerDialer(std::shared_ptr<const TlsContext> tls)
      : tls_(std::move(tls)) {}

  absl::Status Dial(const std::string& address, const std::string& peer_id,
                    absl::Duration timeout) override {
    std::shared_ptr<grpc::Channel> channel =
        tls_->MakeChannel(address, Expected::Peer(peer_id));
    auto stub = peer::PeerService::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    peer::GetManifestRequest request;
    // A cid nobody holds: the answer (NOT_FOUND) is enough.
    request.set_cid(std::string(64, '0'));
    peer::Manifest manifest;
    grpc::Status s = stub->GetManifest(&context, request, &manifest);
    switch (s.error_code()) {
      case grpc::StatusCode::UNAVAILABLE:
      case grpc::StatusCode::DEADLINE_EXCEEDED:
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::CANCELLED:
        return absl::UnavailableError(absl::StrCat(
            "peer ", peer_id.substr(0, 12), "... not reached at ", address,
            ": ", s.error_message()));
      default:
        return absl::OkStatus();
    }
  }

 private:
  const std::shared_ptr<const TlsContext> tls_;
};

}  // namespace

std::unique_ptr<PeerDialer> NewGrpcPeerDialer(
    std::shared_ptr<const TlsContext> tls) {
  return std::make_unique<GrpcPeerDialer>(std::move(tls));
}

ReachabilityProber::ReachabilityProber(ElectionStore* store,
                                       PeerDialer* dialer, Options options)
    : store_(store), dialer_(dialer), options_(options) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { Loop(); });
  }
}

ReachabilityProber::~ReachabilityProber() { Stop(); }

void ReachabilityProber::Enqueue(const std::string& peer_id,
                                 const std::string& address) {
  absl::MutexLock lock(&mu_);
  if (stopping_ || pending_.count(peer_id) > 0 ||
      queue_.size() >= options_.max_queue) {
    return;
  }
  pending_.insert(peer_id);
  queue_.emplace_back(peer_id, address);
}

void ReachabilityProber::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
    queue_.clear();
  }
  for (std::thread& t : threads_) t.join();
}

int64_t ReachabilityProber::checks() const {
  absl::MutexLock lock(&mu_);
  return checks_;
}

int64_t ReachabilityProber::reached() const {
  absl::MutexLock lock(&mu_);
  return reached_;
}

void ReachabilityProber::Loop() {
  for (;;) {
    std::pair<std::string, std::string> job;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return stopping_ || !queue_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    const auto& [peer_id, address] = job;
    absl::Status dialled = dialer_->Dial(address, peer_id, options_.timeout);
    absl::Status s = store_->RecordReachability(peer_id, address, dialled.ok());
    if (!s.ok()) {
      TROVE_LOG(WARNING) << "cannot record reachability of peer "
                         << peer_id.substr(0, 12) << "...: " << s;
    } else if (!dialled.ok()) {
      TROVE_LOG(INFO) << dialled.message();
    }
    absl::MutexLock lock(&mu_);
    pending_.erase(peer_id);
    ++checks_;
    if (dialled.ok()) ++reached_;
  }
}

}  // namespace index_server
}  // namespace trove
