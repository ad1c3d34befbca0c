// SupernodeService: the leaf-facing gRPC edge of a supernode. Every request
// is validated here (common/validation.h) before the registry sees it; a bad
// request gets INVALID_ARGUMENT naming what was wrong and nothing of it is
// kept. Searches and source look-ups combine this supernode's leaves with the
// index's answers; when the index cannot be asked in time, the local part is
// still returned; then the other supernodes are asked instead (FanOutSearch),
// and they ask this one with PeerSearch / PeerLocate.
//
// The service runs on gRPC's callback API: a call in progress holds no
// thread. Quick calls are answered on gRPC's own threads; Search, Locate
// and their PeerSearch / PeerLocate siblings, which wait for the index or
// other supernodes, run on a small pool of workers. Each joined leaf holds
// a Watch stream, which costs a reactor and no thread.
//
// Thread-safe.
#ifndef TROVE_SUPERNODE_SERVICE_H_
#define TROVE_SUPERNODE_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "protos/supernode.grpc.pb.h"
#include "common/bounded_workers.h"
#include "common/clock.h"
#include "common/rate_limit.h"
#include "supernode/fan_out.h"
#include "supernode/index_client.h"
#include "supernode/leaf_registry.h"
#include "supernode/moderation.h"
#include "supernode/source_reports.h"

namespace trove {
namespace supernode {

class SupernodeServiceImpl final : public SupernodeService::CallbackService {
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
    // Bad-source reports (source_reports.h): how they are limited and
    // weighed, and the scores at which a source is ranked last in, or left
    // out of, Locate answers for the cid it was reported for. A reporter's
    // age is how long it has been known: since it joined here, or since the
    // index first knew it when the index said so (LeafRegistry).
    SourceReports::Options reports;
    // This supernode's id, told to leaves at Join (they bind their signed
    // changes to it).
    std::string supernode_id;
    // How long leaves' presences should be valid (JoinResponse); empty:
    // not said.
    std::function<absl::Duration()> presence_validity;
    // Bans and takedowns learned from the index: banned peers cannot join,
    // taken-down cids are left out of Search and Locate. May be null; must
    // outlive the service.
    const Moderation* moderation = nullptr;
    // Workers for Search and Locate (which wait for the index or other
    // supernodes), and most such calls waiting for one; one more is refused
    // with RESOURCE_EXHAUSTED.
    int search_workers = 8;
    int max_queued_searches = 1000;
    // Other live supernodes, best backup first, for JoinResponse.others and
    // Watch events; empty: none.
    std::function<std::vector<SupernodeRef>()> others;
    // Asks the other supernodes when the index cannot answer; null: never.
    // Must outlive the service.
    FanOutSearch* fan_out = nullptr;
    // Flood control (common/rate_limit.h). Searches, look-ups and publishes
    // are limited per leaf: its peer id once it has joined (proven by its
    // session, or by its certificate), else its address. Challenge and Join
    // are limited per address. A rate of 0 turns a limit off.
    RateLimitOptions search_rate;
    RateLimitOptions locate_rate;
    RateLimitOptions publish_rate;
    RateLimitOptions join_rate;
    // The clock of the rate limits; null: the real clock. Must outlive the
    // service.
    Clock* clock = nullptr;
  };

  // `registry` must outlive the service. `index` may be null (no index:
  // local answers only) and must outlive the service. `backup_address`, when
  // set, names another supernode for JoinResponse.backup_address ("" when
  // none is known).
  SupernodeServiceImpl(Options options, LeafRegistry* registry,
                       IndexClient* index,
                       std::function<std::string()> backup_address);

  ~SupernodeServiceImpl() override;

  grpc::ServerUnaryReactor* Challenge(grpc::CallbackServerContext* context,
                                      const ChallengeRequest* request,
                                      ChallengeResponse* response) override;
  grpc::ServerUnaryReactor* Join(grpc::CallbackServerContext* context,
                                 const JoinRequest* request,
                                 JoinResponse* response) override;
  grpc::ServerUnaryReactor* Publish(grpc::CallbackServerContext* context,
                                    const PublishRequest* request,
                                    PublishResponse* response) override;
  grpc::ServerUnaryReactor* Heartbeat(grpc::CallbackServerContext* context,
                                      const HeartbeatRequest* request,
                                      HeartbeatResponse* response) override;
  grpc::ServerUnaryReactor* Leave(grpc::CallbackServerContext* context,
                                  const LeaveRequest* request,
                                  LeaveResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const SearchRequest* request,
                                   SearchResponse* response) override;
  grpc::ServerUnaryReactor* Locate(grpc::CallbackServerContext* context,
                                   const LocateRequest* request,
                                   LocateResponse* response) override;
  grpc::ServerUnaryReactor* ReportBadSource(
      grpc::CallbackServerContext* context,
      const ReportBadSourceRequest* request,
      ReportBadSourceResponse* response) override;
  grpc::ServerWriteReactor<SupernodeEvent>* Watch(
      grpc::CallbackServerContext* context,
      const WatchRequest* request) override;
  grpc::ServerUnaryReactor* PeerSearch(grpc::CallbackServerContext* context,
                                       const PeerSearchRequest* request,
                                       SearchResponse* response) override;
  grpc::ServerUnaryReactor* PeerLocate(grpc::CallbackServerContext* context,
                                       const PeerLocateRequest* request,
                                       LocateResponse* response) override;

  // Ends every Watch stream with UNAVAILABLE and refuses new ones (the
  // supernode stops); the leaves move to their backups. Call before the
  // server shuts down. Idempotent.
  void Shutdown();
  // Ends the Watch streams of sessions that ended (expired, left, replaced
  // by a newer Join) with NOT_FOUND. Returns how many.
  int EndStaleWatches();
  // Ends the Watch streams of `session` (a leaf that left).
  void EndWatchesOf(const std::string& session);
  // Sends every Watch stream the current list of other supernodes, when it
  // changed since the last call.
  void PublishOthers();
  // Watch streams open now.
  size_t watch_count() const;

  // The absl::Status cores of the RPCs above, for in-process callers.
  absl::Status DoJoin(const JoinRequest& request, JoinResponse* response);
  absl::Status DoPublish(const PublishRequest& request,
                         PublishResponse* response);
  // The index's part gives up at `deadline` (the caller's) at the latest.
  absl::Status DoSearch(const SearchRequest& request, SearchResponse* response,
                        absl::Time deadline = absl::InfiniteFuture());
  absl::Status DoLocate(const LocateRequest& request,
                        LocateResponse* response,
                        absl::Time deadline = absl::InfiniteFuture());
  // PeerSearch / PeerLocate without the caller check.
  absl::Status DoPeerSearch(const PeerSearchRequest& request,
                            SearchResponse* response, absl::Time deadline);
  absl::Status DoPeerLocate(const PeerLocateRequest& request,
                            LocateResponse* response, absl::Time deadline);
  absl::Status DoReportBadSource(const ReportBadSourceRequest& request);

  // The rate limiters, for tests and metrics.
  const CallRateLimiter& search_limiter() const { return searches_; }
  const CallRateLimiter& join_limiter() const { return joins_; }

  // How many reports against `peer_id` as a bad source count now (one per
  // reporter per cid per window), and their summed weight.
  int64_t bad_source_reports(const std::string& peer_id) const;
  double bad_source_weight(const std::string& peer_id) const;
  // The bad-source reports' totals now, for metrics.
  SourceReports::Totals source_report_totals() const {
    return reports_.totals(Now());
  }

 private:
  class WatchReactor;

  // Runs `work` on a search worker, or returns false when too many wait.
  bool Submit(std::function<void()> work);
  // Runs `work` on a search worker, or finishes `reactor` at once with
  // TooManyWaiting(what) ("searches", "look-ups") when too many wait.
  void OnWorker(grpc::ServerUnaryReactor* reactor, absl::string_view what,
                std::function<void()> work);
  static absl::Status TooManyWaiting(absl::string_view what);
  // Searches with `remote` (the index, or other supernodes) merged into the
  // leaves' hits.
  absl::Status SearchWith(const SearchRequest& request,
                          SearchResponse* response, absl::Time deadline,
                          const FanOut* fan_out);
  absl::Status LocateWith(const std::string& cid, LocateResponse* response,
                          absl::Time deadline, const FanOut* fan_out);

  // A Search or Locate in its three parts: what this supernode's leaves
  // hold (Start*), what the index answered (Take*) or, when it did not,
  // what the other supernodes answer (*Others, which waits for them), and
  // the merged answer (Finish*). SearchWith / LocateWith run the parts in
  // turn on the calling thread; Locate runs the first on gRPC's thread and
  // Search on a worker (StartIndexedSearch: matching leaves' names can be
  // long), then each asks the index without waiting and finishes from its
  // answer.
  struct SearchState;
  struct LocateState;
  absl::StatusOr<std::shared_ptr<SearchState>> StartSearch(
      const SearchQuery& query, absl::Time deadline);
  index::SearchRequest IndexSearchRequest(const SearchState& state) const;
  void TakeIndexSearch(SearchState* state,
                       absl::StatusOr<index::SearchResponse> answer);
  // The fan-out a call asks the other supernodes with: the one it came
  // with, or a new query this supernode has seen.
  FanOut FanOutFor(const FanOut* incoming);
  void SearchOthers(SearchState* state, const FanOut* incoming);
  void StartIndexedSearch(grpc::ServerUnaryReactor* reactor,
                          const SearchRequest& request,
                          SearchResponse* response, absl::Time deadline,
                          absl::Duration left);
  absl::Status FinishSearch(SearchState* state, SearchResponse* response);
  absl::StatusOr<std::shared_ptr<LocateState>> StartLocate(
      const std::string& cid, absl::Time deadline);
  void TakeIndexLocate(LocateState* state,
                       absl::StatusOr<index::LocateResponse> answer);
  void LocateOthers(LocateState* state, const FanOut* incoming);
  absl::Status FinishLocate(LocateState* state, LocateResponse* response);
  // How long the index's part may take: `most`, within the caller's
  // deadline less the margin kept to answer.
  absl::Duration IndexTimeLeft(absl::Duration most, absl::Time deadline) const;
  // Counts one more Search / Locate waiting for the index; false when
  // as many wait as the workers and their queue hold (the bound the
  // supernode had when each such call held a worker).
  bool AcquireIndexCall();
  void ReleaseIndexCall();
  void RemoveWatch(WatchReactor* reactor);
  SupernodeEvent CurrentEvent() const;

  // Logs when the index starts or stops answering searches and look-ups
  // (once per change, not once per call).
  void NoteIndexHealth(const absl::Status& status);

  // Now, on the options' clock.
  absl::Time Now() const;

  // The key a leaf's searches, look-ups and publishes are limited by:
  // "peer:" and its peer id when `session` (may be empty) is live or its
  // certificate proves a joined leaf, else "addr:" and its address.
  std::string LeafKey(const grpc::ServerContextBase* context,
                      const std::string& session);

  const Options options_;
  CallRateLimiter searches_;
  CallRateLimiter locates_;
  CallRateLimiter publishes_;
  CallRateLimiter joins_;
  LeafRegistry* const registry_;
  IndexClient* const index_;
  const std::function<std::string()> backup_address_;

  std::atomic<bool> index_failing_{false};
  // Searches and look-ups waiting for the index's answer.
  std::atomic<int> index_calls_{0};
  SourceReports reports_;

  // Open Watch streams, and the session each watches.
  mutable absl::Mutex watch_mu_;
  std::map<WatchReactor*, std::string> watches_ ABSL_GUARDED_BY(watch_mu_);
  bool shutting_down_ ABSL_GUARDED_BY(watch_mu_) = false;
  std::string last_others_ ABSL_GUARDED_BY(watch_mu_);

  // Search workers and their queue; last, so that they stop before
  // anything their work uses goes.
  BoundedWorkers work_;
};

// Checks a whole PublishRequest: each added and partial FileEntry, each
// removed cid, and the count of entries against `max_entries`.
// INVALID_ARGUMENT naming the first bad entry.
absl::Status ValidatePublish(const PublishRequest& request, int max_entries);

// The checks each leaf or supernode request gets before the service asks
// its registry, its index or its rate limits anything. Pure; failures
// name the field.

// A Join's shape: key and signature lengths, nonce and work sizes, the
// listen address and the capacity. The proof (work and signature) is
// CheckJoinProof's (leaf_registry.h), once the nonce is known to be live.
absl::Status ValidateJoinRequest(const JoinRequest& request);

// A Publish as the registry takes it: `request` itself, or, when it
// carries a signed change, the change the leaf signed (verified; its
// address checked as Join's) in its place. Refers to the request given to
// CheckPublish, which must outlive it.
struct CheckedPublish {
  // The lists and `full` to apply, with the request's session.
  const PublishRequest& request() const {
    return from_signed.has_value() ? *from_signed : *original;
  }
  // The request as sent (an unsigned publish is applied as it is).
  const PublishRequest* original = nullptr;
  // For a signed change: its lists, with the request's session.
  std::optional<PublishRequest> from_signed;
  // Set for a signed change: its header (ids, seq, kind, address); its
  // lists were moved into `from_signed`.
  std::optional<LeafChange> change;
};
absl::StatusOr<CheckedPublish> CheckPublish(const PublishRequest& request,
                                            int max_entries);

// A heartbeat's presence, when it carries one: verified, and bound to
// `supernode_id` (when not empty).
absl::StatusOr<std::optional<Presence>> CheckHeartbeatPresence(
    const HeartbeatRequest& request, const std::string& supernode_id);

// Another supernode's fanned-out search or look-up: the FanOut (hops up
// to `max_hops`) and, for a look-up, the cid.
absl::Status ValidatePeerSearch(const PeerSearchRequest& request,
                                int max_hops);
absl::Status ValidatePeerLocate(const PeerLocateRequest& request,
                                int max_hops);

absl::Status ValidateLocate(const LocateRequest& request);

// A leaf's report of a bad source: a plausible session, the cid and the
// reported peer's id.
absl::Status ValidateReportBadSource(const ReportBadSourceRequest& request);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_SERVICE_H_
