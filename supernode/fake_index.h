// A small in-memory stand-in for the index, for the supernode's unit tests:
// FakeIndexClient behaves like IndexService (leases, atomic batches, a
// catalog per peer with its partial files, a registration dropping what the
// supernode published before, `gone` only withdrawing what the sending
// supernode holds) and can be told to fail; FakeIndexService serves the
// same fake over gRPC. Thread-safe.
#ifndef TROVE_SUPERNODE_FAKE_INDEX_H_
#define TROVE_SUPERNODE_FAKE_INDEX_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/index.grpc.pb.h"
#include "supernode/index_client.h"

namespace trove {
namespace supernode {

class FakeIndexClient : public IndexClient {
 public:
  absl::StatusOr<index::LeaseResponse> RegisterSupernode(
      const index::RegisterSupernodeRequest& request,
      absl::Duration timeout) override;
  absl::StatusOr<index::SupernodeChallengeResponse> SupernodeChallenge(
      const index::SupernodeChallengeRequest& request,
      absl::Duration timeout) override;
  absl::StatusOr<index::LeaseResponse> RenewLease(
      const index::RenewLeaseRequest& request,
      absl::Duration timeout) override;
  // Forgets the supernode when `generation` is its current one (or 0).
  absl::Status EndLease(const index::EndLeaseRequest& request,
                        absl::Duration timeout) override;
  absl::StatusOr<index::PublishDeltasResponse> PublishDeltas(
      const index::PublishDeltasRequest& request,
      absl::Duration timeout) override;
  absl::StatusOr<index::SearchResponse> Search(
      const index::SearchRequest& request, absl::Duration timeout) override;
  absl::StatusOr<index::LocateResponse> Locate(
      const index::LocateRequest& request, absl::Duration timeout) override;
  absl::StatusOr<index::BootstrapResponse> Bootstrap(
      const index::BootstrapRequest& request,
      absl::Duration timeout) override;

  // Every call fails with UNAVAILABLE while set.
  void SetUnavailable(bool unavailable);
  // PublishDeltas fails with `status` while it is not OK.
  void SetPublishStatus(absl::Status status);
  // Forgets every supernode and the catalog, like an index whose leases all
  // ran out.
  void ForgetEverything();

  // Search and Locate wait this long (really, on the calling thread)
  // before they answer; zero at first.
  void SetAnswerDelay(absl::Duration delay);
  // What Search answers.
  void SetSearchHits(std::vector<SearchHit> hits);
  // The next_cursor Search answers with.
  void SetSearchCursor(std::string cursor);
  // The timeout the last Search was given.
  absl::Duration last_search_timeout() const;
  // What Locate answers for `cid` (otherwise NOT_FOUND).
  void SetLocate(const std::string& cid, index::LocateResponse response);
  // What Bootstrap answers.
  void SetSupernodes(std::vector<index::SupernodeInfo> supernodes);
  // PublishDeltas answers that it has known `peer_id` since `since` when it
  // applies a full list of the peer (PublishDeltasResponse.standing).
  void SetKnownSince(const std::string& peer_id, absl::Time since);

  // Calls so far, by rpc name ("RegisterSupernode", ...), failed ones too.
  int calls(const std::string& rpc) const;
  // Successful PublishDeltas requests, in order.
  std::vector<index::PublishDeltasRequest> published() const;
  // The catalog: peer id -> cid -> entry.
  std::map<std::string, std::map<std::string, FileEntry>> catalog() const;
  // Partial files (downloads in progress): peer id -> cid -> entry.
  std::map<std::string, std::map<std::string, FileEntry>> partials() const;
  std::set<std::string> registered() const;
  // The last RegisterSupernode request.
  index::RegisterSupernodeRequest last_register() const;
  // The last Search request.
  index::SearchRequest last_search() const;

 private:
  // Sleeps for answer_delay_.
  void WaitAnswerDelay() const;

  mutable absl::Mutex mu_;
  bool unavailable_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status publish_status_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> registered_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<index::PublishDeltasRequest> published_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, FileEntry>> catalog_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::map<std::string, FileEntry>> partials_
      ABSL_GUARDED_BY(mu_);
  // Peer id -> the supernode that published it.
  std::map<std::string, std::string> owner_ ABSL_GUARDED_BY(mu_);
  absl::Duration answer_delay_ ABSL_GUARDED_BY(mu_);
  std::vector<SearchHit> hits_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, index::LocateResponse> locate_ ABSL_GUARDED_BY(mu_);
  std::vector<index::SupernodeInfo> supernodes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> known_since_ ABSL_GUARDED_BY(mu_);
  absl::Duration last_search_timeout_ ABSL_GUARDED_BY(mu_);
  std::string search_cursor_ ABSL_GUARDED_BY(mu_);
  // Registrations so far, as the generation handed out.
  int64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  index::RegisterSupernodeRequest last_register_ ABSL_GUARDED_BY(mu_);
  index::SearchRequest last_search_ ABSL_GUARDED_BY(mu_);
};

// Serves a FakeIndexClient as IndexService.
class FakeIndexService final : public index::IndexService::Service {
 public:
  explicit FakeIndexService(FakeIndexClient* fake) : fake_(fake) {}

  grpc::Status SupernodeChallenge(
      grpc::ServerContext* context,
      const index::SupernodeChallengeRequest* request,
      index::SupernodeChallengeResponse* response) override;
  grpc::Status RegisterSupernode(grpc::ServerContext* context,
                                 const index::RegisterSupernodeRequest* request,
                                 index::LeaseResponse* response) override;
  grpc::Status RenewLease(grpc::ServerContext* context,
                          const index::RenewLeaseRequest* request,
                          index::LeaseResponse* response) override;
  grpc::Status PublishDeltas(grpc::ServerContext* context,
                             const index::PublishDeltasRequest* request,
                             index::PublishDeltasResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context,
                      const index::SearchRequest* request,
                      index::SearchResponse* response) override;
  grpc::Status Locate(grpc::ServerContext* context,
                      const index::LocateRequest* request,
                      index::LocateResponse* response) override;
  grpc::Status Bootstrap(grpc::ServerContext* context,
                         const index::BootstrapRequest* request,
                         index::BootstrapResponse* response) override;

 private:
  FakeIndexClient* const fake_;
};

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_FAKE_INDEX_H_
