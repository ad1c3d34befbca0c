// IndexServiceImpl: the gRPC IndexService over an IndexStore. Validates
// every request at the edge (common/validation plus the limits below)
// before the store sees it; a refused request stores nothing.
#ifndef TROVE_INDEX_SERVER_SERVICE_H_
#define TROVE_INDEX_SERVER_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <deque>
#include <thread>
#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "index_server/challenge.h"
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "index_server/election_store.h"
#include "index_server/store.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "common/bounded_workers.h"
#include "common/rate_limit.h"
#include "common/search/query.h"
#include "index_server/trust_store.h"
#include "protos/index.grpc.pb.h"

namespace trove {
namespace index_server {

struct IndexServiceOptions {
  // Lease granted to a supernode at registration and at each renewal.
  absl::Duration lease = absl::Seconds(60);
  // How often supernodes are told to renew.
  absl::Duration renew_every = absl::Seconds(20);
  // Most deltas in one PublishDeltas batch.
  int max_deltas_per_batch = 1000;
  // Most added files, most partial files, and most removed cids, in one
  // delta.
  int max_files_per_delta = 100000;
  // Most bytes in a delta's signature.
  int max_signature_bytes = 1024;
  // Search hits when the query says 0, and the most it may ask for.
  int search_default_limit = 50;
  int search_max_limit = 500;
  // Sources Locate returns when the request says 0, and the most.
  int locate_default_limit = 50;
  int locate_max_limit = 500;
  // Most cids in one LocateMany call.
  int locate_many_max_cids = 1000;
  // Most supernodes Bootstrap returns.
  int bootstrap_limit = 20;
  // Searches answered at once; one more is refused at once with
  // RESOURCE_EXHAUSTED rather than queued.
  int max_concurrent_searches = 32;
  // Locate calls that must wait on PostgreSQL (while the catalog loads)
  // run on this many threads, with at most this many waiting; one more is
  // refused at once with RESOURCE_EXHAUSTED.
  int database_threads = 4;
  int max_queued_database_calls = 64;
  // RegisterSupernode needs an enrolled key, proved by a signed nonce, and
  // later calls the session it grants. Off only in tests of other things.
  bool require_supernode_keys = true;
  // PublishDeltas takes only leaves' signed changes, verified, in each
  // leaf's order. Off only in tests and benchmarks of other things.
  bool verify_leaf_changes = true;
  // Signed changes of one batch are verified on up to this many threads.
  int verify_threads = 4;
  // The furthest ahead a leaf's presence is believed.
  absl::Duration max_presence = absl::Minutes(10);
  // How long a SupernodeChallenge nonce is good for (one to two of these).
  absl::Duration challenge_window = absl::Seconds(30);
  // Adds what supernodes learn with every lease (the banned peers and
  // taken-down cids: ModerationLists::Fill). May be empty.
  std::function<void(index::LeaseResponse*)> lease_extras;

  // The election (ReportPeer): how often peers report, how far a report's
  // time may be from the index's clock, how old a reachability check may
  // be before a peer is dialled again, and how long a demoted supernode
  // serves while its leaves move.
  absl::Duration report_every = absl::Seconds(15);
  absl::Duration max_report_skew = absl::Minutes(5);
  absl::Duration reprobe_after = absl::Minutes(10);
  absl::Duration drain = absl::Seconds(30);
  // Flood control (common/rate_limit.h), per caller: a peer (or an address
  // not proven by a certificate) and a supernode (which searches for all
  // its leaves) have limits of their own. A rate of 0 is no limit.
  RateLimitOptions peer_search_rate;
  RateLimitOptions supernode_search_rate;
  RateLimitOptions peer_locate_rate;
  RateLimitOptions supernode_locate_rate;
  // PublishDeltas batches per supernode.
  RateLimitOptions publish_rate;
  // Bootstrap and SupernodeChallenge, the first steps of a join: per
  // caller (its proven id, or its address), and in all per address (many
  // fresh identities from one host). Supernodes are not limited here.
  RateLimitOptions join_rate;
  RateLimitOptions join_rate_per_address;
};

// Where the election's side of the service goes: the store of reports,
// and a way to ask for a peer to be dialled back (peer id, address).
struct ElectionHooks {
  ElectionStore* store = nullptr;
  std::function<void(const std::string&, const std::string&)> probe;
};

// Replaces each delta of `request` by what its signed change says
// (VerifyLeafChange), checks that every change names the sending
// supernode, and copies seq / prev_seq into the deltas for the store.
// INVALID_ARGUMENT for a delta without a signed change or one that does
// not parse; UNAUTHENTICATED for a bad signature; PERMISSION_DENIED for a
// change bound to another supernode. Uses up to `threads` threads.
// With `verify` false (a test-only setting), deltas carrying a signed
// change are only decoded (no signature or binding check) and the others
// are kept as they are.
absl::Status VerifySignedDeltas(index::PublishDeltasRequest* request,
                                int threads, bool verify = true);

// What a gRPC caller allows a store call: its deadline, and whether it went
// away.
CallContext CallOf(grpc::ServerContextBase* context);

// Check of one PublishDeltas request against `options`: OK, or
// INVALID_ARGUMENT naming the first bad delta and entry
// ("deltas[3] (peer 1a2b...): added[7]: file name contains ...").
absl::Status ValidatePublishDeltas(const index::PublishDeltasRequest& request,
                                   const IndexServiceOptions& options);

// The checks each request gets before the service touches its store,
// trust store or rate limits. Pure; failures name the field.

// RegisterSupernode's fields: supernode_id, address, capacity.
absl::Status ValidateRegisterSupernode(
    const index::RegisterSupernodeRequest& request);

// That a registration proves its key: a raw 32-byte Ed25519 public_key
// whose id is supernode_id, and a signature by it over
// RegistrationPayload(nonce, supernode_id, address). Whether the key is
// enrolled and the nonce is live are the trust store's and the challenge
// window's business.
absl::Status CheckRegistrationProof(
    const index::RegisterSupernodeRequest& request);

absl::Status ValidateRenewLease(const index::RenewLeaseRequest& request);

// The leaves' presences a renewal carries that verify and that the leaf
// signed for the renewing supernode: (peer id, valid until, at most
// `latest`). `refused` (may be null) counts the others.
std::vector<std::pair<std::string, absl::Time>> VerifiedPresences(
    const index::RenewLeaseRequest& request, absl::Time latest,
    int* refused);

absl::Status ValidateEndLease(const index::EndLeaseRequest& request);

absl::Status ValidateLocate(const index::LocateRequest& request);
// Each cid and the limit of a LocateMany, and the count of cids against
// `max_cids`. INVALID_ARGUMENT naming the first bad cid.
absl::Status ValidateLocateMany(const index::LocateManyRequest& request,
                                int max_cids);

// A search's query, validated (ValidateSearchQuery) and parsed
// (search::ParseQuery, with its cursor) with the service's limits.
absl::StatusOr<search::ParsedQuery> ParseSearchRequest(
    const index::SearchRequest& request, const IndexServiceOptions& options);

// A peer's capacity report: size and signature, then the signed report's
// addresses, supernode id and capacity. The report's time is checked
// against the clock by the caller.
absl::StatusOr<CapacityReport> CheckPeerReport(
    const index::ReportPeerRequest& request);

// A PublishDeltas batch as the store receives it, after the signed
// changes are verified (when `options` asks for it or a delta carries
// one) and the batch validated (ValidatePublishDeltas): `&request` itself,
// or `verified`, filled from the signed changes.
absl::StatusOr<const index::PublishDeltasRequest*> CheckPublishDeltas(
    const index::PublishDeltasRequest& request,
    const IndexServiceOptions& options,
    index::PublishDeltasRequest* verified);

// Search and Locate use gRPC's callback API: they answer from memory on
// the thread that received the call, without the synchronous server's
// hand-off to a worker thread. The other calls wait on PostgreSQL and stay
// synchronous.
using IndexServiceBase = index::IndexService::WithCallbackMethod_Search<
    index::IndexService::WithCallbackMethod_Locate<
        index::IndexService::WithCallbackMethod_LocateMany<
            index::IndexService::Service>>>;

// Thread-safe (the store is; the service keeps only counters).
class IndexServiceImpl final : public IndexServiceBase {
 public:
  // `store` and `trust` must outlive the service; `trust` may be null
  // only when options.require_supernode_keys is false.
  IndexServiceImpl(IndexStore* store, TrustStore* trust,
                   const IndexServiceOptions& options);

  grpc::Status SupernodeChallenge(
      grpc::ServerContext* context,
      const index::SupernodeChallengeRequest* request,
      index::SupernodeChallengeResponse* response) override;
  grpc::Status RegisterSupernode(grpc::ServerContext* context,
                                 const index::RegisterSupernodeRequest* request,
                                 index::LeaseResponse* response) override;
  grpc::Status EndLease(grpc::ServerContext* context,
                        const index::EndLeaseRequest* request,
                        index::EndLeaseResponse* response) override;
  grpc::Status RenewLease(grpc::ServerContext* context,
                          const index::RenewLeaseRequest* request,
                          index::LeaseResponse* response) override;
  grpc::Status PublishDeltas(grpc::ServerContext* context,
                             const index::PublishDeltasRequest* request,
                             index::PublishDeltasResponse* response) override;
  grpc::ServerUnaryReactor* Search(grpc::CallbackServerContext* context,
                                   const index::SearchRequest* request,
                                   index::SearchResponse* response) override;
  grpc::ServerUnaryReactor* Locate(grpc::CallbackServerContext* context,
                                   const index::LocateRequest* request,
                                   index::LocateResponse* response) override;
  grpc::ServerUnaryReactor* LocateMany(
      grpc::CallbackServerContext* context,
      const index::LocateManyRequest* request,
      index::LocateManyResponse* response) override;
  // Finishes a Locate or LocateMany with `answer()`: at once when the store
  // answers from memory, else on the bounded database pool (not on gRPC's
  // thread), refusing with RESOURCE_EXHAUSTED when that pool is full.
  template <typename Answer>
  grpc::ServerUnaryReactor* FinishLookup(grpc::CallbackServerContext* context,
                                         Answer answer);
  // What Search, Locate and LocateMany answer, on the calling thread.
  grpc::Status AnswerSearch(grpc::ServerContextBase* context,
                            const index::SearchRequest& request,
                            index::SearchResponse* response);
  grpc::Status AnswerLocate(grpc::ServerContextBase* context,
                            const index::LocateRequest& request,
                            index::LocateResponse* response);
  grpc::Status AnswerLocateMany(grpc::ServerContextBase* context,
                                const index::LocateManyRequest& request,
                                index::LocateManyResponse* response);
  grpc::Status Bootstrap(grpc::ServerContext* context,
                         const index::BootstrapRequest* request,
                         index::BootstrapResponse* response) override;
  grpc::Status ReportPeer(grpc::ServerContext* context,
                          const index::ReportPeerRequest* request,
                          index::ReportPeerResponse* response) override;

  // Turns the election on (ReportPeer answers FAILED_PRECONDITION
  // before). REQUIRES: called before serving; `hooks.store` outlives the
  // service.
  void EnableElection(ElectionHooks hooks) { election_ = std::move(hooks); }

 private:
  void FillLease(index::LeaseResponse* response) const;

  // The checks of a signed registration; OK when the key may register.
  absl::Status CheckRegistration(const index::RegisterSupernodeRequest& r,
                                 grpc::ServerContext* context);

  IndexStore* const store_;
  TrustStore* const trust_;
  const IndexServiceOptions options_;
  // OK when the caller may make one more call of a kind now: `for_peers`
  // or `for_supernodes` by the role its certificate proves.
  absl::Status Admit(grpc::ServerContextBase* context,
                     CallRateLimiter* for_peers,
                     CallRateLimiter* for_supernodes, double cost = 1);

  // Remembers `id` as a supernode that holds a lease (so its searches are
  // limited as a supernode's, also when its certificate is a promoted
  // peer's own).
  void NoteSupernode(const std::string& id);
  bool IsKnownSupernode(const std::string& id) const;

  ChallengeIssuer challenges_;
  ElectionHooks election_;
  mutable absl::Mutex supernodes_mu_;
  absl::flat_hash_set<std::string> known_supernodes_
      ABSL_GUARDED_BY(supernodes_mu_);
  CallRateLimiter peer_searches_;
  CallRateLimiter supernode_searches_;
  CallRateLimiter peer_locates_;
  CallRateLimiter supernode_locates_;
  CallRateLimiter publishes_;
  CallRateLimiter joins_;
  CallRateLimiter address_joins_;

  // The join limits (join_rate, join_rate_per_address) for one call.
  absl::Status AdmitJoin(grpc::ServerContext* context);
  std::atomic<int> searches_in_flight_{0};
  // Locate while the catalog loads (it asks PostgreSQL). Last, so that it
  // stops first.
  BoundedWorkers database_work_;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_SERVICE_H_
