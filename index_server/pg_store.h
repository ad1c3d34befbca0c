// PgIndexStore: the IndexStore on PostgreSQL (libpqxx), with its schema
// migrations. The only place in Trove where libpqxx is used and its
// exceptions are caught: every failure leaves here as an absl::Status.
#ifndef TROVE_INDEX_SERVER_PG_STORE_H_
#define TROVE_INDEX_SERVER_PG_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "index_server/store.h"

namespace trove {
namespace index_server {

class PgConnectionPool;

struct PgStoreOptions {
  // libpq connection string (keyword=value or postgresql:// URI). Add
  // connect_timeout=N to it to bound each connection attempt.
  std::string dsn;
  // At most this many connections are open at once; callers beyond that
  // wait for one to be free.
  int pool_size = 4;
  // pg_trgm word similarity at or above which a query word matches a name
  // as a misspelling ("bohemain" vs "bohemian" is 0.56).
  double word_similarity_threshold = 0.5;
  // Query words shorter than this (in bytes) must occur exactly; longer ones
  // may also match by misspelling ("mp3" must not find "mp4").
  int min_fuzzy_word_length = 4;
  // Each statement is cancelled after this long (DEADLINE_EXCEEDED).
  absl::Duration statement_timeout = absl::Seconds(30);
  // A transaction that loses a deadlock or serialization conflict, or finds
  // its pooled connection broken before it started, is retried this many
  // times.
  int max_retries = 3;
};

// Thread-safe: methods may be called concurrently from any thread; each
// call borrows one pooled connection for one transaction.
class PgIndexStore final : public IndexStore {
 public:
  // Opens one connection to check that the database is reachable.
  // UNAVAILABLE (with libpq's message) when it is not.
  static absl::StatusOr<std::unique_ptr<PgIndexStore>> Connect(
      const PgStoreOptions& options);

  ~PgIndexStore() override;

  // Applies, in version order and each in its own transaction, the embedded
  // migrations (migrations.h) that the database's schema_migrations table
  // does not list. Holds a PostgreSQL advisory lock meanwhile, so replicas
  // starting together apply each migration once. Idempotent. Returns how
  // many migrations were applied now.
  absl::StatusOr<int> Migrate();

  absl::Status RegisterSupernode(const SupernodeRegistration& reg,
                                 absl::Duration lease) override;
  absl::Status RenewLease(const std::string& supernode_id, int32_t leaf_count,
                          absl::Duration lease) override;
  absl::StatusOr<index::PublishDeltasResponse> ApplyDeltas(
      const index::PublishDeltasRequest& request) override;
  absl::StatusOr<std::vector<SearchHit>> Search(const SearchQuery& query,
                                               int limit) override;
  absl::StatusOr<index::LocateResponse> Locate(const std::string& cid,
                                               int limit) override;
  absl::StatusOr<std::vector<index::SupernodeInfo>> LiveSupernodes(
      int limit) override;
  absl::StatusOr<ExpiryStats> ExpireDeadSupernodes() override;
  absl::StatusOr<int64_t> DeleteOrphanFiles(absl::Duration min_age) override;

 private:
  PgIndexStore(const PgStoreOptions& options,
               std::unique_ptr<PgConnectionPool> pool);

  // Runs `fn` on a borrowed connection, turning libpqxx exceptions into a
  // status (its message prefixed by `what`) and retrying what is safe to
  // retry. `fn` returns absl::Status or
  // absl::StatusOr<T> and must be safe to run more than once.
  template <typename Fn>
  auto Run(absl::string_view what, Fn&& fn);

  const PgStoreOptions options_;
  const std::unique_ptr<PgConnectionPool> pool_;
};

// A PostgreSQL array literal ({"a","b"}) holding `values`, each quoted and
// escaped; for passing many values as one statement parameter.
std::string PgTextArray(const std::vector<std::string>& values);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_PG_STORE_H_
