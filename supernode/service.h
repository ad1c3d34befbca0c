// SupernodeService: the leaf-facing gRPC edge of a supernode. Every request
// is validated here (common/validation.h) before the registry sees it; a bad
// request gets INVALID_ARGUMENT naming what was wrong and nothing of it is
// kept. Searches and source look-ups combine this supernode's leaves with the
// index's answers; when the index cannot be asked in time, the local part is
// still returned.
//
// Thread-safe (the sync gRPC API calls it from many threads).
#ifndef TROVE_SUPERNODE_SERVICE_H_
#define TROVE_SUPERNODE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/supernode.grpc.pb.h"
#include "supernode/index_client.h"
#include "supernode/leaf_registry.h"

namespace trove {
namespace supernode {

class SupernodeServiceImpl final : public SupernodeService::Service {
 public:
  struct Options {
    // Most entries (added + removed + partial) in one Publish.
    int max_files_per_publish = 50000;
    // Deadline of the index's part of a Search / Locate.
    absl::Duration index_search_timeout = absl::Milliseconds(1500);
    absl::Duration index_locate_timeout = absl::Milliseconds(1500);
    // Told to leaves at Join.
    absl::Duration heartbeat_interval = absl::Seconds(30);
    absl::Duration session_timeout = absl::Seconds(90);
    // Results of a Search when the query says 0, and the most it may ask.
    int search_default_limit = 100;
    int search_max_limit = 1000;
    // Sources asked of the index per Locate (0: the index's default).
    int locate_limit = 0;
    // Most distinct peers whose bad-source reports are counted.
    size_t max_reported_peers = 100000;
    // This supernode's id, told to leaves at Join (they bind their signed
    // changes to it).
    std::string supernode_id;
    // How long leaves' presences should be valid (JoinResponse); empty:
    // not said.
    std::function<absl::Duration()> presence_validity;
  };

  // `registry` must outlive the service. `index` may be null (no index:
  // local answers only) and must outlive the service. `backup_address`, when
  // set, names another supernode for JoinResponse.backup_address ("" when
  // none is known).
  SupernodeServiceImpl(Options options, LeafRegistry* registry,
                       IndexClient* index,
                       std::function<std::string()> backup_address);

  grpc::Status Challenge(grpc::ServerContext* context,
                         const ChallengeRequest* request,
                         ChallengeResponse* response) override;
  grpc::Status Join(grpc::ServerContext* context, const JoinRequest* request,
                    JoinResponse* response) override;
  grpc::Status Publish(grpc::ServerContext* context,
                       const PublishRequest* request,
                       PublishResponse* response) override;
  grpc::Status Heartbeat(grpc::ServerContext* context,
                         const HeartbeatRequest* request,
                         HeartbeatResponse* response) override;
  grpc::Status Leave(grpc::ServerContext* context, const LeaveRequest* request,
                     LeaveResponse* response) override;
  grpc::Status Search(grpc::ServerContext* context,
                      const SearchRequest* request,
                      SearchResponse* response) override;
  grpc::Status Locate(grpc::ServerContext* context,
                      const LocateRequest* request,
                      LocateResponse* response) override;
  grpc::Status ReportBadSource(grpc::ServerContext* context,
                               const ReportBadSourceRequest* request,
                               ReportBadSourceResponse* response) override;

  // The absl::Status cores of the RPCs above, for in-process callers.
  absl::Status DoJoin(const JoinRequest& request, JoinResponse* response);
  absl::Status DoPublish(const PublishRequest& request,
                         PublishResponse* response);
  // The index's part gives up at `deadline` (the caller's) at the latest.
  absl::Status DoSearch(const SearchRequest& request, SearchResponse* response,
                        absl::Time deadline = absl::InfiniteFuture());
  absl::Status DoLocate(const LocateRequest& request,
                        LocateResponse* response);
  absl::Status DoReportBadSource(const ReportBadSourceRequest& request);

  // How many times `peer_id` was reported as a bad source.
  int64_t bad_source_reports(const std::string& peer_id) const;

 private:
  // Logs when the index starts or stops answering searches and look-ups
  // (once per change, not once per call).
  void NoteIndexHealth(const absl::Status& status);

  const Options options_;
  LeafRegistry* const registry_;
  IndexClient* const index_;
  const std::function<std::string()> backup_address_;

  std::atomic<bool> index_failing_{false};
  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> bad_sources_ ABSL_GUARDED_BY(mu_);
};

// Checks a whole PublishRequest: each added and partial FileEntry, each
// removed cid, and the count of entries against `max_entries`.
// INVALID_ARGUMENT naming the first bad entry.
absl::Status ValidatePublish(const PublishRequest& request, int max_entries);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_SERVICE_H_
