// IndexedStore: the IndexStore of a running index server. Everything
// stored goes to PostgreSQL (PgIndexStore); Search and Locate are answered
// from this replica's MemoryCatalog, which a CatalogFollower keeps current
// with the change log (Locate asks PostgreSQL while the catalog loads). A write returns once this replica's memory shows it (or a
// short wait ran out; it is durable either way), so a client that
// published sees its files in the next search.
//
// Thread-safe.
#ifndef TROVE_INDEX_SERVER_INDEXED_STORE_H_
#define TROVE_INDEX_SERVER_INDEXED_STORE_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "index_server/catalog_follower.h"
#include "index_server/pg_store.h"
#include "index_server/store.h"

namespace trove {
namespace index_server {

class IndexedStore final : public IndexStore {
 public:
  struct Options {
    CatalogFollower::Options follower;
    // Longest a write waits for this replica's memory to show it.
    absl::Duration apply_wait = absl::Seconds(2);
    // How often Locate learns which leases ended (their sources are left
    // out until the expiry pass drops them).
    absl::Duration lease_check = absl::Seconds(1);
  };

  // `pg` must outlive the store. Sets pg's change sink.
  IndexedStore(PgIndexStore* pg, Options options);
  ~IndexedStore() override;

  // Starts loading the catalog into memory and following the change log
  // (in the background: see ready()).
  void Start();
  // Stops following. Idempotent.
  void Stop();

  // True once the catalog is loaded and current; Search answers UNAVAILABLE
  // before.
  bool ready() const { return follower_.ready(); }
  CatalogFollower* follower() { return &follower_; }
  PgIndexStore* pg() { return pg_; }

  absl::StatusOr<int64_t> RegisterSupernode(const SupernodeRegistration& reg,
                                            absl::Duration lease,
                                            const CallContext& call) override;
  absl::Status RenewLease(const std::string& supernode_id,
                          const std::string& session_hash, int32_t leaf_count,
                          absl::Duration lease,
                          const CallContext& call) override;
  absl::Status EndLease(const std::string& supernode_id, int64_t generation,
                        const CallContext& call) override;
  absl::StatusOr<index::PublishDeltasResponse> ApplyDeltas(
      const index::PublishDeltasRequest& request,
      const CallContext& call) override;
  absl::StatusOr<index::LocateResponse> Locate(const std::string& cid,
                                               int limit,
                                               const CallContext& call) override;
  // True once the catalog is loaded and the ended leases are known.
  bool LocatesInMemory() const override;
  absl::StatusOr<std::vector<index::SupernodeInfo>> LiveSupernodes(
      int limit, const CallContext& call) override;
  absl::StatusOr<ExpiryStats> ExpireDeadSupernodes() override;
  absl::StatusOr<search::SearchPage> Search(const search::ParsedQuery& query,
                                            const CallContext& call) override;

 private:
  // Waits (bounded) until this replica applied what this thread just
  // committed.
  void AwaitOwnCommit(const CallContext& call);
  // Adds to `response` the known-since time of each peer whose full list
  // `request` carried and this replica now holds (PeerStanding).
  void AddStanding(const index::PublishDeltasRequest& request,
                   index::PublishDeltasResponse* response);
  // Supernodes whose lease ended, as of at most lease_check ago (plus the
  // time the query takes): a background thread asks PostgreSQL, so that
  // Locate, answered on gRPC's own threads, never waits on the database.
  std::shared_ptr<const absl::flat_hash_set<std::string>> EndedLeases();
  // Asks PostgreSQL which leases ended and keeps the answer.
  void RefreshEndedLeases();
  // The background thread: RefreshEndedLeases every lease_check until
  // Stop, once a look-up has asked the first time.
  void RefreshEndedLeasesLoop();

  PgIndexStore* const pg_;
  const Options options_;
  PgChangeFeed feed_;
  CatalogFollower follower_;

  mutable absl::Mutex ended_mu_;
  std::shared_ptr<const absl::flat_hash_set<std::string>> ended_
      ABSL_GUARDED_BY(ended_mu_);
  bool ended_stopping_ ABSL_GUARDED_BY(ended_mu_) = false;
  std::thread ended_refresher_;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_INDEXED_STORE_H_
