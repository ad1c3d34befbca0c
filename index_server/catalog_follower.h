// CatalogFollower: keeps an index replica's MemoryCatalog current with the
// change log in PostgreSQL. At start it loads a snapshot of the catalog
// (with progress in the log), then applies every later log entry in order:
// its own replica's commits at once (Offer), the others' when a NOTIFY
// wakes it or its poll comes round. A replica that finds entries it needs
// trimmed from the log (it fell too far behind) loads a fresh snapshot
// while the old one keeps answering.
//
// Thread-safe.
#ifndef TROVE_INDEX_SERVER_CATALOG_FOLLOWER_H_
#define TROVE_INDEX_SERVER_CATALOG_FOLLOWER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "index_server/catalog_change.pb.h"
#include "index_server/memory_catalog.h"
#include "index_server/pg_store.h"

namespace trove {
namespace index_server {

// Where the log and snapshots come from (PostgreSQL; a fake in tests).
class ChangeFeed {
 public:
  virtual ~ChangeFeed() = default;
  // See PgIndexStore::LoadCatalog, ReadChanges and WaitForChanges.
  virtual absl::StatusOr<int64_t> LoadCatalog(
      MemoryCatalog* catalog,
      const std::function<void(const LoadProgress&)>& progress) = 0;
  virtual absl::StatusOr<std::vector<LoggedChange>> ReadChanges(int64_t after,
                                                                int limit) = 0;
  virtual bool WaitForChanges(absl::Duration timeout) = 0;
};

// The ChangeFeed of a PgIndexStore (which must outlive it).
class PgChangeFeed final : public ChangeFeed {
 public:
  explicit PgChangeFeed(PgIndexStore* store) : store_(store) {}
  absl::StatusOr<int64_t> LoadCatalog(
      MemoryCatalog* catalog,
      const std::function<void(const LoadProgress&)>& progress) override {
    return store_->LoadCatalog(catalog, progress);
  }
  absl::StatusOr<std::vector<LoggedChange>> ReadChanges(int64_t after,
                                                        int limit) override {
    return store_->ReadChanges(after, limit);
  }
  bool WaitForChanges(absl::Duration timeout) override {
    return store_->WaitForChanges(timeout);
  }

 private:
  PgIndexStore* const store_;
};

class CatalogFollower {
 public:
  struct Options {
    MemoryCatalog::Options catalog;
    // How long to wait for a NOTIFY before looking at the log anyway.
    absl::Duration poll = absl::Seconds(1);
    // Longest single wait, so that Stop() is prompt.
    absl::Duration listen_slice = absl::Milliseconds(250);
    // Log entries read at a time.
    int read_batch = 16;
    // Wait after a failed load or read.
    absl::Duration retry = absl::Seconds(1);
  };

  struct Stats {
    int64_t loads = 0;
    int64_t applied_offered = 0;
    int64_t applied_read = 0;
  };

  // `feed` must outlive the follower.
  CatalogFollower(ChangeFeed* feed, Options options);
  ~CatalogFollower();
  CatalogFollower(const CatalogFollower&) = delete;
  CatalogFollower& operator=(const CatalogFollower&) = delete;

  // Starts loading, then following, in a background thread.
  void Start();
  // Stops the thread. Idempotent.
  void Stop();

  // A change this replica committed at `seq`: applied now when it is the
  // next one, kept until its turn otherwise.
  void Offer(int64_t seq, std::shared_ptr<const CatalogChange> change);

  // A change this replica is committing at `seq` (appended to the log, not
  // yet committed): it comes by Offer, so the log is not read for it until
  // then, until Withdraw, or for longer than `poll`.
  void Expect(int64_t seq);
  // The change expected at `seq` was not committed, or may not have been:
  // the log is read for it as for any other.
  void Withdraw(int64_t seq);

  // Waits until the change at `seq` is applied or `deadline` passes.
  // Returns whether it was applied.
  bool WaitApplied(int64_t seq, absl::Time deadline) const;

  // True once loaded and caught up with the log (stays true).
  bool ready() const;
  // Waits until ready() or `deadline`; returns ready().
  bool WaitReady(absl::Time deadline) const;
  // Position of the last change applied (0 before loading).
  int64_t applied() const;
  // The catalog being served; nullptr before the first load.
  std::shared_ptr<const MemoryCatalog> catalog() const;
  // catalog() once ready(), else nullptr: what a look-up needs, under one
  // lock (taken on every Search and Locate).
  std::shared_ptr<const MemoryCatalog> ready_catalog() const;
  Stats stats() const;

 private:
  void Loop();
  // Loads a fresh snapshot and swaps it in. False when stopping.
  bool Load();
  // Applies `change` when `seq` is next, then any offered changes that
  // follow. Returns whether `seq` was applied.
  bool ApplyInOrder(int64_t seq, const CatalogChange& change, bool offered);
  void DrainOffers() ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);
  void Publish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_);

  ChangeFeed* const feed_;
  const Options options_;

  // Serializes applies; guards the catalog being written and the offers.
  mutable absl::Mutex apply_mu_ ABSL_ACQUIRED_BEFORE(state_mu_);
  std::shared_ptr<MemoryCatalog> catalog_ ABSL_GUARDED_BY(apply_mu_);
  int64_t applied_ ABSL_GUARDED_BY(apply_mu_) = 0;
  std::map<int64_t, std::shared_ptr<const CatalogChange>> offers_
      ABSL_GUARDED_BY(apply_mu_);
  std::set<int64_t> expected_ ABSL_GUARDED_BY(apply_mu_);

  // What readers see.
  mutable absl::Mutex state_mu_;
  std::shared_ptr<const MemoryCatalog> served_ ABSL_GUARDED_BY(state_mu_);
  int64_t served_applied_ ABSL_GUARDED_BY(state_mu_) = 0;
  bool ready_ ABSL_GUARDED_BY(state_mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(state_mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(state_mu_);

  std::unique_ptr<std::thread> thread_;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_CATALOG_FOLLOWER_H_
