// PgIndexStore: the CatalogStore on PostgreSQL (libpqxx), with its schema
// migrations and the change log that index replicas follow. The only
// place in Trove where libpqxx is used and its exceptions are caught:
// every failure leaves here as an absl::Status.
#ifndef TROVE_INDEX_SERVER_PG_STORE_H_
#define TROVE_INDEX_SERVER_PG_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "index_server/admin_store.h"
#include "index_server/catalog_change.pb.h"
#include "index_server/election_store.h"
#include "index_server/store.h"
#include "index_server/trust_store.h"

namespace trove {
namespace index_server {

class PgConnectionPool;
class PgCanceller;
class MemoryCatalog;

struct PgStoreOptions {
  // libpq connection string (keyword=value or postgresql:// URI). Add
  // connect_timeout=N to it to bound each connection attempt.
  std::string dsn;
  // Connections for catalog writes (PublishDeltas, registrations, expiry).
  // Writers take turns on the change log, so more connections only queue.
  int pool_size = 4;
  // Connections for lease renewals only, so that renewals never wait
  // behind anything else.
  int lease_pool_size = 2;
  // How long a leaf's change (its full list, or any change applied) keeps
  // its sources at least before a signed presence must vouch for it.
  absl::Duration presence_grace = absl::Seconds(120);
  // Connections for reads (Locate, Bootstrap, the change log).
  int read_pool_size = 4;
  // Each statement is cancelled after this long (DEADLINE_EXCEEDED), or
  // sooner when the caller's deadline comes first.
  absl::Duration statement_timeout = absl::Seconds(30);
  // A transaction that loses a deadlock or serialization conflict, or finds
  // its pooled connection broken before it started, is retried this many
  // times (while the caller still waits).
  int max_retries = 3;
  // How often calls in flight are checked for callers that went away.
  absl::Duration cancel_poll = absl::Milliseconds(20);
};

// One entry of the change log.
struct LoggedChange {
  int64_t seq = 0;
  std::shared_ptr<const CatalogChange> change;
};

// What a snapshot load has done so far.
struct LoadProgress {
  int64_t sources = 0;
  int64_t files = 0;
  bool done = false;
};

// Thread-safe: methods may be called concurrently from any thread; each
// call borrows one pooled connection for one transaction.
class PgIndexStore final : public CatalogStore,
                           public TrustStore,
                           public AdminStore,
                           public ElectionStore {
 public:
  // Called after each committed change with its log position, in commit
  // order per replica only as far as commits are (see IndexedStore).
  using ChangeSink =
      std::function<void(int64_t seq, std::shared_ptr<const CatalogChange>)>;

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

  // REQUIRES: called before any write; `sink` must be thread-safe.
  void SetChangeSink(ChangeSink sink);

  // Told of a batch's change once it is in the log and before its commit
  // (`pending` true), and, when the commit did not happen or may not have,
  // that it is not coming (`pending` false); a committed change goes to the
  // change sink. REQUIRES: as SetChangeSink.
  using PendingSink = std::function<void(int64_t seq, bool pending)>;
  void SetPendingSink(PendingSink sink);

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
  absl::StatusOr<std::vector<index::SupernodeInfo>> LiveSupernodes(
      int limit, const CallContext& call) override;
  absl::StatusOr<ExpiryStats> ExpireDeadSupernodes() override;

  // TrustStore.
  absl::StatusOr<SupernodeKey> GetSupernodeKey(
      const std::string& supernode_id, const CallContext& call) override;
  absl::StatusOr<std::string> EnrolSupernodeKey(
      const std::string& public_key, const std::string& kind, bool permanent,
      const std::string& enrolled_by) override;
  absl::Status RevokeSupernodeKey(const std::string& supernode_id,
                                  const std::string& revoked_by) override;
  absl::StatusOr<std::vector<SupernodeKey>> ListSupernodeKeys() override;
  absl::Status RecordPresences(
      const std::string& supernode_id,
      const std::vector<std::pair<std::string, absl::Time>>& presences,
      const CallContext& call) override;

  // AdminStore (see the "Operator control" part of pg_store.cc).
  absl::Status AddAdminToken(const std::string& token_id,
                             const std::string& token_hash,
                             const std::string& role, const std::string& label,
                             const std::string& created_by) override;
  absl::StatusOr<AdminTokenRecord> FindAdminToken(
      const std::string& token_hash) override;
  absl::Status RevokeAdminToken(const std::string& token_id) override;
  absl::StatusOr<std::vector<AdminTokenRecord>> ListAdminTokens() override;
  absl::Status WriteAudit(const AuditRecord& record) override;
  absl::StatusOr<std::vector<admin::AuditEntry>> ReadAudit(int64_t before_id,
                                                           int limit) override;
  absl::StatusOr<int64_t> BanPeer(const std::string& peer_id,
                                  const std::string& reason,
                                  const std::string& by) override;
  absl::Status UnbanPeer(const std::string& peer_id) override;
  absl::StatusOr<int64_t> TakeDown(const std::string& cid,
                                   const std::string& reason,
                                   const std::string& by) override;
  absl::Status Restore(const std::string& cid) override;
  absl::StatusOr<std::vector<admin::Ban>> ListBans() override;
  absl::StatusOr<std::vector<admin::Takedown>> ListTakedowns() override;
  absl::StatusOr<std::vector<admin::SupernodeStatus>> ListSupernodeStatus()
      override;
  absl::StatusOr<std::vector<admin::PeerStatus>> ListPeerStatus(
      const std::string& id_prefix, int limit) override;
  absl::StatusOr<admin::StatsResponse> AdminStats() override;
  // ElectionStore.
  absl::StatusOr<PeerStanding> RecordPeerReport(
      const CapacityReport& report, absl::Duration reprobe_after,
      absl::Duration drain, const CallContext& call) override;
  absl::Status RecordReachability(const std::string& peer_id,
                                  const std::string& address,
                                  bool reachable) override;
  absl::StatusOr<ElectionRound> RunElectionRound(
      const std::function<ElectionDecision(const ElectionInput&)>& decide,
      absl::Duration forget_after) override;
  absl::StatusOr<SupernodeMapView> ReadSupernodeMap(
      int role_limit, int event_limit, const CallContext& call) override;

  // The change log.

  // Loads every source and every file no complete source holds
  // into `catalog` (BeginLoad ... EndLoad), from one consistent snapshot,
  // on a connection of its own. Returns the log position the snapshot
  // reflects. `progress` is called now and then, and once at the end.
  absl::StatusOr<int64_t> LoadCatalog(
      MemoryCatalog* catalog,
      const std::function<void(const LoadProgress&)>& progress);

  // Up to `limit` log entries after `after`, in order. The first is not
  // after+1 when the entries between were trimmed.
  absl::StatusOr<std::vector<LoggedChange>> ReadChanges(int64_t after,
                                                        int limit);

  // The position of the last committed change.
  absl::StatusOr<int64_t> LastChange();

  // Blocks until a change may have been committed (NOTIFY), or `timeout`
  // passes; returns true for a NOTIFY. Uses a connection of its own that
  // listens; reconnects as needed. Call from one thread at a time.
  bool WaitForChanges(absl::Duration timeout);

  // Supernodes (32-byte ids) whose lease ended and that the expiry pass has
  // not dropped yet.
  absl::StatusOr<std::vector<std::string>> EndedLeases();

  // Deletes log entries older than `keep` (the newest always stays).
  // Returns how many.
  absl::StatusOr<int64_t> TrimChangeLog(absl::Duration keep);

  // Deletes the known-since rows (peer_standing) of peers that hold no
  // source and were not seen (a peers row, a signed change or presence)
  // for `forget_after`: such a peer coming back starts as a newcomer.
  // Returns how many.
  absl::StatusOr<int64_t> TrimPeerStanding(absl::Duration forget_after);

 private:
  enum class PoolKind { kWrite, kLease, kRead };

  PgIndexStore(const PgStoreOptions& options);

  // Runs `fn(connection)` on a connection of `pool`, with statements bound
  // by the caller's deadline and cancelled when the caller goes away,
  // turning libpqxx exceptions into a status (prefixed by `what`) and
  // retrying what is safe to retry. `fn` returns absl::Status or
  // absl::StatusOr<T> and must be safe to run more than once.
  template <typename Fn>
  auto Run(PoolKind pool, absl::string_view what, const CallContext& call,
           Fn&& fn);

  // Hands a committed change to the sink.
  void Committed(int64_t seq, std::shared_ptr<const CatalogChange> change);

  PgConnectionPool* pool(PoolKind kind);

  const PgStoreOptions options_;
  std::unique_ptr<PgConnectionPool> write_pool_;
  std::unique_ptr<PgConnectionPool> lease_pool_;
  std::unique_ptr<PgConnectionPool> read_pool_;
  std::unique_ptr<PgCanceller> canceller_;
  ChangeSink sink_;
  PendingSink pending_sink_;
  // The LISTEN connection (WaitForChanges only).
  struct Listener;
  std::unique_ptr<Listener> listener_;
};

// A PostgreSQL array literal ({"a","b"}) holding `values`, each quoted and
// escaped; for passing many values as one statement parameter.
std::string PgTextArray(const std::vector<std::string>& values);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_PG_STORE_H_
