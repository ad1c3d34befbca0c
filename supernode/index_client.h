// The supernode's connection to the index, behind an interface so that unit
// tests can use a fake.
#ifndef TROVE_SUPERNODE_INDEX_CLIENT_H_
#define TROVE_SUPERNODE_INDEX_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/index.grpc.pb.h"
#include "protos/index.pb.h"

namespace trove {
namespace supernode {

// Calls IndexService. Each call gives up after `timeout` with
// DEADLINE_EXCEEDED; a failure of the index comes back as its gRPC status
// (UNAVAILABLE when it cannot be reached). Implementations are thread-safe.
class IndexClient {
 public:
  virtual ~IndexClient() = default;

  virtual absl::StatusOr<index::LeaseResponse> RegisterSupernode(
      const index::RegisterSupernodeRequest& request,
      absl::Duration timeout) = 0;
  virtual absl::StatusOr<index::SupernodeChallengeResponse>
  SupernodeChallenge(const index::SupernodeChallengeRequest& request,
                     absl::Duration timeout) = 0;
  virtual absl::StatusOr<index::LeaseResponse> RenewLease(
      const index::RenewLeaseRequest& request, absl::Duration timeout) = 0;
  // Ends this supernode's lease as it stops (see IndexService.EndLease).
  virtual absl::Status EndLease(const index::EndLeaseRequest& request,
                                absl::Duration timeout) {
    (void)request;
    (void)timeout;
    return absl::UnimplementedError("EndLease is not supported");
  }
  virtual absl::StatusOr<index::PublishDeltasResponse> PublishDeltas(
      const index::PublishDeltasRequest& request, absl::Duration timeout) = 0;
  virtual absl::StatusOr<index::SearchResponse> Search(
      const index::SearchRequest& request, absl::Duration timeout) = 0;
  virtual absl::StatusOr<index::LocateResponse> Locate(
      const index::LocateRequest& request, absl::Duration timeout) = 0;

  // Search and Locate without waiting: each returns at once and runs `done`
  // exactly once with what the blocking call would have returned. `done`
  // runs on one of gRPC's threads (or, in implementations without their
  // own asynchronous path, such as this default, on the calling thread
  // before the call returns), so it must not block.
  using SearchDone =
      std::function<void(absl::StatusOr<index::SearchResponse>)>;
  using LocateDone =
      std::function<void(absl::StatusOr<index::LocateResponse>)>;
  virtual void SearchAsync(const index::SearchRequest& request,
                           absl::Duration timeout, SearchDone done) {
    done(Search(request, timeout));
  }
  virtual void LocateAsync(const index::LocateRequest& request,
                           absl::Duration timeout, LocateDone done) {
    done(Locate(request, timeout));
  }
  virtual absl::StatusOr<index::BootstrapResponse> Bootstrap(
      const index::BootstrapRequest& request, absl::Duration timeout) = 0;
};

// An IndexClient over a gRPC channel (see MakeChannel in
// common/server_util.h).
std::unique_ptr<IndexClient> NewGrpcIndexClient(
    std::shared_ptr<grpc::Channel> channel);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_INDEX_CLIENT_H_
