#include "supernode/index_client.h"

#include <chrono>
#include <utility>

#include "common/grpc_status.h"

namespace trove {
namespace supernode {
namespace {

class GrpcIndexClient final : public IndexClient {
 public:
  explicit GrpcIndexClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(index::IndexService::NewStub(std::move(channel))) {}

  absl::StatusOr<index::LeaseResponse> RegisterSupernode(
      const index::RegisterSupernodeRequest& request,
      absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::RegisterSupernode, request,
                timeout);
  }
  absl::StatusOr<index::SupernodeChallengeResponse> SupernodeChallenge(
      const index::SupernodeChallengeRequest& request,
      absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::SupernodeChallenge, request,
                timeout);
  }
  absl::StatusOr<index::LeaseResponse> RenewLease(
      const index::RenewLeaseRequest& request,
      absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::RenewLease, request, timeout);
  }
  absl::Status EndLease(const index::EndLeaseRequest& request,
                        absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::EndLease, request, timeout)
        .status();
  }
  absl::StatusOr<index::PublishDeltasResponse> PublishDeltas(
      const index::PublishDeltasRequest& request,
      absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::PublishDeltas, request, timeout);
  }
  absl::StatusOr<index::SearchResponse> Search(
      const index::SearchRequest& request, absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::Search, request, timeout);
  }
  absl::StatusOr<index::LocateResponse> Locate(
      const index::LocateRequest& request, absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::Locate, request, timeout);
  }
  void SearchAsync(const index::SearchRequest& request, absl::Duration timeout,
                   SearchDone done) override {
    CallAsync(&index::IndexService::Stub::async_interface::Search, request,
              timeout, std::move(done));
  }
  void LocateAsync(const index::LocateRequest& request, absl::Duration timeout,
                   LocateDone done) override {
    CallAsync(&index::IndexService::Stub::async_interface::Locate, request,
              timeout, std::move(done));
  }
  absl::StatusOr<index::BootstrapResponse> Bootstrap(
      const index::BootstrapRequest& request,
      absl::Duration timeout) override {
    return Call(&index::IndexService::Stub::Bootstrap, request, timeout);
  }

 private:
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(
      grpc::Status (index::IndexService::Stub::*method)(
          grpc::ClientContext*, const Request&, Response*),
      const Request& request, absl::Duration timeout) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(timeout));
    Response response;
    grpc::Status status = (stub_.get()->*method)(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status);
    return response;
  }

  // One call on gRPC's callback API: what it needs lives until it ends.
  template <typename Request, typename Response>
  struct AsyncCall {
    grpc::ClientContext context;
    Request request;
    Response response;
    std::function<void(absl::StatusOr<Response>)> done;
  };

  template <typename Request, typename Response>
  void CallAsync(void (index::IndexService::Stub::async_interface::*method)(
                     grpc::ClientContext*, const Request*, Response*,
                     std::function<void(grpc::Status)>),
                 const Request& request, absl::Duration timeout,
                 std::function<void(absl::StatusOr<Response>)> done) {
    auto* call = new AsyncCall<Request, Response>;
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoMilliseconds(timeout));
    call->request = request;
    call->done = std::move(done);
    (stub_->async()->*method)(
        &call->context, &call->request, &call->response,
        [call](grpc::Status status) {
          std::unique_ptr<AsyncCall<Request, Response>> owned(call);
          if (status.ok()) {
            owned->done(std::move(owned->response));
          } else {
            owned->done(FromGrpcStatus(status));
          }
        });
  }

  std::unique_ptr<index::IndexService::Stub> stub_;
};

}  // namespace

std::unique_ptr<IndexClient> NewGrpcIndexClient(
    std::shared_ptr<grpc::Channel> channel) {
  return std::make_unique<GrpcIndexClient>(std::move(channel));
}

}  // namespace supernode
}  // namespace trove
