#include "index_server/pg_store.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <set>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include <pqxx/pqxx>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/search/query.h"
#include "common/status_macros.h"
#include "common/validation.h"
#include "common/merkle.h"
#include "index_server/delta_fold.h"
#include "index_server/leaf_chain.h"
#include "index_server/memory_catalog.h"
#include "index_server/migrations.h"
#include "index_server/peer_pages.h"

namespace trove {
namespace index_server {

// ---------------------------------------------------------------------------
// Connection pool

// A pooled connection and the statement_timeout it was last given.
struct PgConnection {
  std::unique_ptr<pqxx::connection> conn;
  int64_t timeout_ms = -1;
};

// Up to `size` open connections, lent one at a time. Connections are made
// lazily and configured with `setup` statements. Borrow and Connect throw
// libpqxx exceptions (PgIndexStore::Run catches them). Thread-safe.
class PgConnectionPool {
 public:
  PgConnectionPool(std::string dsn, int size, std::vector<std::string> setup)
      : dsn_(std::move(dsn)), size_(std::max(1, size)), setup_(std::move(setup)) {}

  // Waits until `deadline` for a free slot; returns an open connection, or
  // nullptr when none was free in time.
  std::unique_ptr<PgConnection> Borrow(absl::Time deadline) {
    {
      absl::MutexLock lock(&mu_);
      if (!mu_.AwaitWithDeadline(
              absl::Condition(this, &PgConnectionPool::HasFreeSlot),
              deadline)) {
        return nullptr;
      }
      ++lent_;
      if (!idle_.empty()) {
        std::unique_ptr<PgConnection> c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    try {
      auto c = std::make_unique<PgConnection>();
      c->conn = Connect();
      return c;
    } catch (...) {
      absl::MutexLock lock(&mu_);
      --lent_;
      throw;
    }
  }

  // Gives a borrowed connection back; nullptr when it was dropped (broken,
  // or in an unknown state after an error).
  void Return(std::unique_ptr<PgConnection> c) {
    absl::MutexLock lock(&mu_);
    --lent_;
    if (c != nullptr) idle_.push_back(std::move(c));
  }

  // A new connection outside the pool.
  std::unique_ptr<pqxx::connection> Connect() {
    auto c = std::make_unique<pqxx::connection>(dsn_);
    pqxx::nontransaction tx(*c);
    for (const std::string& sql : setup_) tx.exec(sql);
    return c;
  }

 private:
  bool HasFreeSlot() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return lent_ < size_;
  }

  const std::string dsn_;
  const int size_;
  const std::vector<std::string> setup_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<PgConnection>> idle_ ABSL_GUARDED_BY(mu_);
  int lent_ ABSL_GUARDED_BY(mu_) = 0;
};

// ---------------------------------------------------------------------------
// Cancelling statements of callers that went away

// Watches calls in flight and cancels the running statement of each whose
// caller went away (CallContext::cancelled). Deadlines need no watching:
// each statement carries them as its statement_timeout. Thread-safe.
class PgCanceller {
 public:
  explicit PgCanceller(absl::Duration poll) : poll_(poll) {
    thread_ = std::thread([this] { Loop(); });
  }

  ~PgCanceller() {
    {
      absl::MutexLock lock(&mu_);
      stopping_ = true;
    }
    thread_.join();
  }

  // Watches `call` while `conn` runs its statements; returns a token for
  // Unwatch. Both must outlive the watch.
  int Watch(pqxx::connection* conn, const CallContext* call) {
    absl::MutexLock lock(&mu_);
    int token = next_token_++;
    watched_.emplace(token, Entry{conn, call, false});
    return token;
  }

  // Ends a watch. After it returns no cancel for it is in flight.
  void Unwatch(int token) {
    absl::MutexLock lock(&mu_);
    watched_.erase(token);
  }

 private:
  struct Entry {
    pqxx::connection* conn;
    const CallContext* call;
    bool fired;
  };

  bool Wake() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !watched_.empty();
  }

  void Loop() {
    absl::MutexLock lock(&mu_);
    while (!stopping_) {
      mu_.Await(absl::Condition(this, &PgCanceller::Wake));
      if (stopping_) break;
      for (auto& [token, e] : watched_) {
        if (e.fired || !e.call->cancelled || !e.call->cancelled()) continue;
        e.fired = true;
        try {
          e.conn->cancel_query();
        } catch (const std::exception&) {
          // The statement ends anyway; its transaction is not committed
          // because the caller is gone (checked before every commit).
        }
      }
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), poll_);
    }
  }

  const absl::Duration poll_;
  absl::Mutex mu_;
  std::map<int, Entry> watched_ ABSL_GUARDED_BY(mu_);
  int next_token_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// ---------------------------------------------------------------------------
// LISTEN

struct PgIndexStore::Listener {
  class Receiver final : public pqxx::notification_receiver {
   public:
    Receiver(pqxx::connection_base& c, const std::string& channel)
        : pqxx::notification_receiver(c, channel) {}
    void operator()(const std::string&, int) override {}
  };
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Receiver> receiver;
};

namespace {

// Advisory lock keys (any constants unique to Trove).
constexpr int64_t kMigrationLockKey = 0x54726f7665000001;  // "Trove" 1
constexpr int64_t kExpiryLockKey = 0x54726f7665000002;     // "Trove" 2
constexpr int64_t kElectionLockKey = 0x54726f7665000004;   // "Trove" 4
// Role changes of supernode keys kept for the supernode map.
constexpr int64_t kElectionEventsKept = 1000;
// Held by every transaction that writes to the change log, from its start
// to its commit: such transactions run one at a time, so the log's order
// is the order in which their changes were made and committed.
constexpr int64_t kCatalogWriterLockKey = 0x54726f7665000003;  // "Trove" 3
constexpr char kChangeChannel[] = "trove_catalog";
// Pages per FETCH when loading a snapshot (up to 2048 sources each; most
// peers' lists are far shorter).
constexpr int kLoadFetchPages = 2000;

// One line of a libpqxx error, without PostgreSQL's "ERROR:  " prefix.
std::string Describe(const std::exception& e) {
  std::string s(absl::StripAsciiWhitespace(e.what()));
  for (absl::string_view prefix : {"ERROR:  ", "FATAL:  "}) {
    if (absl::StartsWith(s, prefix)) s = s.substr(prefix.size());
  }
  size_t newline = s.find('\n');
  if (newline != std::string::npos) s = s.substr(0, newline);
  return s;
}

absl::Status StatusFromSqlState(const std::string& sqlstate,
                                const std::string& message) {
  std::string cls = sqlstate.substr(0, 2);
  if (sqlstate == "57014") return absl::DeadlineExceededError(message);
  if (cls == "08" || cls == "53" || sqlstate == "57P01" ||
      sqlstate == "57P02" || sqlstate == "57P03") {
    return absl::UnavailableError(message);
  }
  if (cls == "40") return absl::AbortedError(message);
  if (cls == "22" || cls == "23") return absl::InvalidArgumentError(message);
  return absl::InternalError(message);
}

// `ms` rounded up to the next of 20, 24, 29, 35, ... (steps of 20%).
int64_t RoundUpTimeout(int64_t ms) {
  double step = 20;
  while (step < static_cast<double>(ms)) step *= 1.2;
  return static_cast<int64_t>(step + 0.5);
}

// Why a call stops: its caller went away or its deadline passed.
absl::Status GaveUpStatus(const CallContext& call) {
  if (call.cancelled && call.cancelled()) {
    return absl::CancelledError("the caller went away; nothing was stored");
  }
  return absl::DeadlineExceededError(
      "the caller's deadline passed; nothing was stored");
}

// Appends `v` to `out` as a quoted element of an array literal.
void AppendArrayElement(absl::string_view v, std::string* out) {
  out->push_back('"');
  // Runs without a quote or backslash (all of most names) in one append.
  size_t from = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '"' || v[i] == '\\') {
      out->append(v.data() + from, i - from);
      out->push_back('\\');
      from = i;
    }
  }
  out->append(v.data() + from, v.size() - from);
  out->push_back('"');
}

// Appends `v` to the text[] literal being built in `out` ("{" so far for
// the first element; the caller closes it with "}").
void AppendToTextArray(absl::string_view v, std::string* out) {
  if (out->size() > 1) out->push_back(',');
  AppendArrayElement(v, out);
}

std::string PgBigintArray(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

// peer_standing.known_since as whole
// milliseconds since the epoch, the form the change log carries: the
// writer and a loading replica read it the same way.
constexpr char kKnownSinceMillis[] =
    "floor(extract(epoch FROM known_since) * 1000)::bigint";

// A duration as whole milliseconds for "now() + $n * interval '1 ms'".
std::string Millis(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Milliseconds(d));
}

// 32 raw bytes of a 64-hex id (ids are validated before they get here).
std::string Raw(absl::string_view hex) {
  std::string raw;
  if (!search::HexToRaw(hex, &raw)) raw.assign(32, '\0');
  return raw;
}

// Takes this transaction's turn among the change log's writers. Must be a
// writer's first statement.
void TakeWriterTurn(pqxx::work& tx) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kCatalogWriterLockKey);
}

// Appends `change` to the log and wakes the followers (at commit). Returns
// its position. REQUIRES: TakeWriterTurn in this transaction.
int64_t AppendToLog(pqxx::work& tx, const CatalogChange& change) {
  const std::string bytes = change.SerializeAsString();
  pqxx::result r = tx.exec_params(
      "WITH h AS (UPDATE catalog_head SET seq = seq + 1 RETURNING seq)"
      " INSERT INTO catalog_log (seq, change) SELECT seq, $1 FROM h"
      " RETURNING seq",
      pqxx::binarystring(bytes));
  tx.exec(absl::StrCat("NOTIFY ", kChangeChannel));
  return r[0][0].as<int64_t>();
}

// 64 lowercase hex digits.
bool IsLowerHexId(absl::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// A session hash as a statement parameter (SQL: NULLIF($n, '')).
const std::string& SessionParam(const std::string& hash) { return hash; }

// Why a supernode's call with a live lease was refused, when it was not
// for want of a lease: PERMISSION_DENIED for a revoked key,
// UNAUTHENTICATED for a wrong session. OK otherwise.
template <typename Tx>
absl::Status RefusedSupernode(Tx& tx, const std::string& supernode_id) {
  if (!tx.exec_params("SELECT 1 FROM supernode_keys WHERE supernode_id = $1"
                      " AND revoked_at IS NOT NULL",
                      supernode_id)
           .empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "supernode ", supernode_id, "'s key was revoked by the operator"));
  }
  if (!tx.exec_params("SELECT 1 FROM supernodes WHERE supernode_id = $1"
                      " AND lease_expires > now()",
                      supernode_id)
           .empty()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the call does not carry supernode ", supernode_id,
        "'s current session; register again"));
  }
  return absl::OkStatus();
}

}  // namespace

std::string PgTextArray(const std::vector<std::string>& values) {
  size_t size = 2;
  for (const std::string& v : values) size += v.size() + 3;
  std::string out;
  out.reserve(size);
  out.push_back('{');
  for (const std::string& v : values) AppendToTextArray(v, &out);
  out.push_back('}');
  return out;
}

// ---------------------------------------------------------------------------
// Peers' pages (migration 0008, peer_pages.h)

namespace {

// A bytea[] literal of raw byte strings.
std::string PgByteaArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    absl::StrAppend(&out, "\"\\\\x", search::RawToHex(values[i]), "\"");
  }
  out += '}';
  return out;
}

// The columns every read of pages selects, in this order.
constexpr char kPageColumns[] =
    "p.peer_id, p.page, p.cids, p.names, p.sizes, p.partial";

// Adds the pages of `rows` (kPageColumns) to `out`, by peer. Throws on a
// page that does not parse (the store layer turns it into INTERNAL).
void CollectPages(const pqxx::result& rows,
                  std::map<std::string, std::vector<PeerPage>>* out) {
  for (const pqxx::row& row : rows) {
    PeerPage page;
    pqxx::binarystring cids(row[2]);
    absl::Status s = ParsePage(
        row[1].as<int>(),
        absl::string_view(reinterpret_cast<const char*>(cids.data()),
                          cids.size()),
        absl::string_view(row[3].c_str(), row[3].size()),
        absl::string_view(row[4].c_str(), row[4].size()),
        absl::string_view(row[5].c_str(), row[5].size()), &page);
    if (!s.ok()) {
      throw std::runtime_error(absl::StrCat("peer ", row[0].c_str(), "'s ",
                                            s.message()));
    }
    (*out)[row[0].as<std::string>()].push_back(std::move(page));
  }
}

// Stores the pages of `edits` (peer id -> edit): writes each page to
// write, in one statement, and deletes each page to remove, in another.
void StorePageEdits(pqxx::work& tx,
                    const std::vector<std::pair<std::string, PageEdit>>& edits) {
  std::vector<std::string> peers;
  std::vector<int64_t> pages, lo, n, sizes;
  int64_t entries = 0;
  for (const auto& [peer, edit] : edits) {
    for (const PeerPage& page : edit.write) entries += page.entries.size();
  }
  // The entries' columns as one array each (names as its literal, built
  // as it goes: a batch's names are most of what is sent).
  std::string cids, names = "{", partial = "{";
  cids.reserve(32 * entries);
  names.reserve(48 * entries);
  partial.reserve(2 * entries + 1);
  sizes.reserve(entries);
  std::vector<std::string> rm_peers;
  std::vector<int64_t> rm_pages;
  for (const auto& [peer, edit] : edits) {
    for (int page : edit.remove) {
      rm_peers.push_back(peer);
      rm_pages.push_back(page);
    }
    for (const PeerPage& page : edit.write) {
      peers.push_back(peer);
      pages.push_back(page.page);
      lo.push_back(static_cast<int64_t>(sizes.size()));
      n.push_back(static_cast<int64_t>(page.entries.size()));
      for (const PageEntry& e : page.entries) {
        cids += e.cid;
        AppendToTextArray(e.name, &names);
        sizes.push_back(e.size);
        if (partial.size() > 1) partial += ',';
        partial += e.partial ? 't' : 'f';
      }
    }
  }
  names += '}';
  partial += '}';
  if (!rm_peers.empty()) {
    tx.exec_params(
        "DELETE FROM peer_pages p"
        " USING unnest($1::text[], $2::int[]) AS u(peer_id, page)"
        " WHERE p.peer_id = u.peer_id AND p.page = u.page",
        PgTextArray(rm_peers), PgBigintArray(rm_pages));
  }
  if (peers.empty()) return;
  // Every page is a slice of one set of arrays, sent once.
  tx.exec_params(
      "INSERT INTO peer_pages (peer_id, page, cids, names, sizes, partial)"
      " SELECT u.peer_id, u.page,"
      "  substring($5::bytea FROM u.lo * 32 + 1 FOR u.n * 32),"
      "  a.names[u.lo + 1 : u.lo + u.n], a.sizes[u.lo + 1 : u.lo + u.n],"
      "  a.partial[u.lo + 1 : u.lo + u.n]"
      " FROM unnest($1::text[], $2::int[], $3::int[], $4::int[])"
      "  AS u(peer_id, page, lo, n),"
      " (SELECT $6::text[] AS names, $7::bigint[] AS sizes,"
      "   $8::boolean[] AS partial) AS a"
      " ON CONFLICT (peer_id, page) DO UPDATE SET cids = EXCLUDED.cids,"
      "  names = EXCLUDED.names, sizes = EXCLUDED.sizes,"
      "  partial = EXCLUDED.partial, updated_at = now()",
      PgTextArray(peers), PgBigintArray(pages), PgBigintArray(lo),
      PgBigintArray(n), pqxx::binarystring(cids), names, PgBigintArray(sizes),
      partial);
}

// Deletes the pages and the peers rows of the peers that `peers_where`
// (a condition on `peers`, with parameters $1, $2) selects. Returns the
// entries and the peers deleted.
template <typename... Args>
std::pair<int64_t, int64_t> DeletePeers(pqxx::work& tx,
                                        const std::string& peers_where,
                                        Args&&... args) {
  pqxx::row r = tx.exec_params1(
      absl::StrCat("WITH g AS (DELETE FROM peers WHERE ", peers_where,
                   " RETURNING peer_id),"
                   " d AS (DELETE FROM peer_pages p USING g"
                   "  WHERE p.peer_id = g.peer_id"
                   "  RETURNING cardinality(p.names) AS n)"
                   " SELECT COALESCE((SELECT sum(n) FROM d), 0)::bigint,"
                   "  (SELECT count(*) FROM g)"),
      std::forward<Args>(args)...);
  return {r[0].as<int64_t>(), r[1].as<int64_t>()};
}

}  // namespace

// ---------------------------------------------------------------------------
// PgIndexStore

PgConnectionPool* PgIndexStore::pool(PoolKind kind) {
  switch (kind) {
    case PoolKind::kLease:
      return lease_pool_.get();
    case PoolKind::kRead:
      return read_pool_.get();
    case PoolKind::kWrite:
      break;
  }
  return write_pool_.get();
}

template <typename Fn>
auto PgIndexStore::Run(PoolKind kind, absl::string_view what,
                       const CallContext& call, Fn&& fn) {
  using Result = std::invoke_result_t<Fn&, pqxx::connection&>;
  absl::Status failure;
  PgConnectionPool* p = pool(kind);
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    if (call.GaveUp()) {
      failure = GaveUpStatus(call);
      break;
    }
    std::unique_ptr<PgConnection> conn;
    bool retry = false;
    int token = -1;
    auto unwatch = [&] {
      if (token >= 0) canceller_->Unwatch(token);
      token = -1;
    };
    try {
      conn = p->Borrow(call.deadline);
      if (conn == nullptr) {
        failure = absl::UnavailableError(
            "every database connection for this kind of call stayed busy "
            "until the caller's deadline");
        break;
      }
      // Each statement ends by the caller's deadline, or a little after it:
      // the limit is rounded up to a step of about 20%, so callers with
      // similar deadlines reuse a connection's setting instead of paying a
      // round trip to change it.
      int64_t timeout_ms = absl::ToInt64Milliseconds(options_.statement_timeout);
      if (call.deadline != absl::InfiniteFuture()) {
        const int64_t left =
            absl::ToInt64Milliseconds(call.deadline - absl::Now());
        if (left <= 0) {
          p->Return(std::move(conn));
          failure = GaveUpStatus(call);
          break;
        }
        timeout_ms = std::min(timeout_ms, RoundUpTimeout(left));
      }
      if (conn->timeout_ms != timeout_ms) {
        pqxx::nontransaction tx(*conn->conn);
        tx.exec(absl::StrCat("SET statement_timeout = ", timeout_ms));
        conn->timeout_ms = timeout_ms;
      }
      if (call.cancelled) token = canceller_->Watch(conn->conn.get(), &call);
      Result result = fn(*conn->conn);
      unwatch();
      p->Return(std::move(conn));
      return result;
    } catch (const pqxx::in_doubt_error& e) {
      failure = absl::UnavailableError(absl::StrCat(
          "lost the database connection while committing (the change may or "
          "may not be stored): ",
          Describe(e)));
    } catch (const pqxx::broken_connection& e) {
      failure = absl::UnavailableError(
          absl::StrCat("database unavailable: ", Describe(e)));
      retry = true;
    } catch (const pqxx::transaction_rollback& e) {
      failure = absl::AbortedError(
          absl::StrCat("concurrent change conflict: ", Describe(e)));
      retry = true;
    } catch (const pqxx::sql_error& e) {
      failure = StatusFromSqlState(e.sqlstate(), Describe(e));
      if (e.sqlstate() == "57014" && call.GaveUp()) failure = GaveUpStatus(call);
    } catch (const std::exception& e) {
      failure = absl::InternalError(Describe(e));
    }
    unwatch();
    // The connection may be mid-transaction or broken: drop it.
    if (conn != nullptr) p->Return(nullptr);
    if (!retry) break;
  }
  return Result(absl::Status(failure.code(),
                             absl::StrCat(what, ": ", failure.message())));
}

PgIndexStore::PgIndexStore(const PgStoreOptions& options) : options_(options) {
  std::vector<std::string> setup = {
      "SET client_min_messages = warning",
      absl::StrCat("SET statement_timeout = ",
                   absl::ToInt64Milliseconds(options.statement_timeout)),
  };
  write_pool_ = std::make_unique<PgConnectionPool>(options.dsn,
                                                   options.pool_size, setup);
  lease_pool_ = std::make_unique<PgConnectionPool>(
      options.dsn, options.lease_pool_size, setup);
  read_pool_ = std::make_unique<PgConnectionPool>(
      options.dsn, options.read_pool_size, setup);
  canceller_ = std::make_unique<PgCanceller>(options.cancel_poll);
}

PgIndexStore::~PgIndexStore() = default;

absl::StatusOr<std::unique_ptr<PgIndexStore>> PgIndexStore::Connect(
    const PgStoreOptions& options) {
  auto store = absl::WrapUnique(new PgIndexStore(options));
  absl::Status reachable =
      store->Run(PoolKind::kRead, "connect", CallContext(),
                 [](pqxx::connection&) { return absl::OkStatus(); });
  if (!reachable.ok()) return reachable;
  return store;
}

void PgIndexStore::SetChangeSink(ChangeSink sink) { sink_ = std::move(sink); }

void PgIndexStore::SetPendingSink(PendingSink sink) {
  pending_sink_ = std::move(sink);
}

void PgIndexStore::Committed(int64_t seq,
                             std::shared_ptr<const CatalogChange> change) {
  if (sink_) sink_(seq, std::move(change));
}

absl::StatusOr<int> PgIndexStore::Migrate() {
  ASSIGN_OR_RETURN(std::vector<Migration> migrations,
                   OrderMigrations(EmbeddedMigrationFiles()));
  return Run(PoolKind::kWrite, "migrate", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<int> {
    // Session-level lock: held across the transactions below, released by
    // the unlock or, on any failure, by dropping the connection.
    {
      pqxx::nontransaction tx(c);
      tx.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
    }
    {
      pqxx::work tx(c);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations ("
          "  version integer PRIMARY KEY,"
          "  name text NOT NULL,"
          "  applied_at timestamptz NOT NULL DEFAULT now())");
      tx.commit();
    }
    std::map<int, std::string> applied;
    {
      pqxx::work tx(c);
      for (const pqxx::row& row :
           tx.exec("SELECT version, name FROM schema_migrations")) {
        applied[row[0].as<int>()] = row[1].as<std::string>();
      }
      tx.commit();
    }
    int count = 0;
    for (const Migration& m : migrations) {
      auto it = applied.find(m.version);
      if (it != applied.end()) {
        if (it->second != m.name) {
          TROVE_LOG(WARNING) << "schema migration " << m.version
                             << " is recorded as " << it->second
                             << " but this binary calls it " << m.name;
        }
        continue;
      }
      TROVE_LOG(INFO) << "applying schema migration " << m.name;
      pqxx::work tx(c);
      tx.exec(m.sql);
      tx.exec_params(
          "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
          m.version, m.name);
      tx.commit();
      ++count;
    }
    if (!applied.empty() && applied.rbegin()->first > migrations.back().version) {
      TROVE_LOG(WARNING) << "the database has schema version "
                         << applied.rbegin()->first
                         << ", newer than this binary's "
                         << migrations.back().version;
    }
    {
      pqxx::nontransaction tx(c);
      tx.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    }
    return count;
  });
}

absl::StatusOr<int64_t> PgIndexStore::RegisterSupernode(
    const SupernodeRegistration& reg, absl::Duration lease,
    const CallContext& call) {
  return Run(PoolKind::kWrite, "register supernode", call,
             [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    TakeWriterTurn(tx);
    // Waits for this supernode's batches in flight (they hold the row FOR
    // KEY SHARE).
    tx.exec_params(
        "SELECT 1 FROM supernodes WHERE supernode_id = $1 FOR UPDATE",
        reg.supernode_id);
    // A registration starts the supernode afresh: whatever it published
    // before goes, whether its lease ended or not (a supernode that
    // restarted within its lease no longer has those leaves, or will hear
    // from them again). It sends every leaf's full list after registering.
    DeletePeers(tx, "supernode_id = $1", reg.supernode_id);
    // Its leaves' chains stay; their sources were withdrawn by the index,
    // so each may come back with its last full list (leaf_chain.h).
    tx.exec_params(
        "UPDATE peer_chains SET withdrawn = true WHERE supernode_id = $1",
        reg.supernode_id);
    const Capacity& cap = reg.capacity;
    tx.exec_params(
        "INSERT INTO supernodes (supernode_id, address, lease_expires,"
        "  upload_bytes_per_second, uptime_seconds, reachable,"
        "  free_memory_bytes, session_hash)"
        " VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond',"
        "  $4, $5, $6, $7, NULLIF($8, ''))"
        " ON CONFLICT (supernode_id) DO UPDATE SET"
        "  address = EXCLUDED.address,"
        "  lease_expires = EXCLUDED.lease_expires,"
        "  upload_bytes_per_second = EXCLUDED.upload_bytes_per_second,"
        "  uptime_seconds = EXCLUDED.uptime_seconds,"
        "  reachable = EXCLUDED.reachable,"
        "  free_memory_bytes = EXCLUDED.free_memory_bytes,"
        "  session_hash = EXCLUDED.session_hash,"
        "  renewed_at = now()",
        reg.supernode_id, reg.address, Millis(lease),
        cap.upload_bytes_per_second(), cap.uptime_seconds(), cap.reachable(),
        cap.free_memory_bytes(), SessionParam(reg.session_hash));
    // A new generation: batches of the earlier ones are refused from now.
    const int64_t generation =
        tx.exec_params(
              "INSERT INTO supernode_batches (supernode_id, generation)"
              " VALUES ($1, 1) ON CONFLICT (supernode_id) DO UPDATE SET"
              "  generation = supernode_batches.generation + 1,"
              "  last_batch = 0"
              " RETURNING generation",
              reg.supernode_id)[0][0]
            .as<int64_t>();
    auto change = std::make_shared<CatalogChange>();
    change->mutable_dropped_supernodes()->add_supernode_ids(
        Raw(reg.supernode_id));
    const int64_t seq = AppendToLog(tx, *change);
    if (call.GaveUp()) return GaveUpStatus(call);
    tx.commit();
    Committed(seq, std::move(change));
    return generation;
  });
}

absl::Status PgIndexStore::RenewLease(const std::string& supernode_id,
                                      const std::string& session_hash,
                                      int32_t leaf_count, absl::Duration lease,
                                      const CallContext& call) {
  return Run(PoolKind::kLease, "renew lease", call, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        "UPDATE supernodes SET"
        "  lease_expires = now() + $2::bigint * interval '1 millisecond',"
        "  leaf_count = $3, renewed_at = now()"
        " WHERE supernode_id = $1 AND lease_expires > now()"
        " AND (session_hash IS NULL OR session_hash = $4)",
        supernode_id, Millis(lease), leaf_count, SessionParam(session_hash));
    if (r.affected_rows() == 0) {
      absl::Status why = RefusedSupernode(tx, supernode_id);
      if (!why.ok()) return why;
      return absl::NotFoundError(absl::StrCat(
          "supernode ", supernode_id,
          " holds no live lease; register and publish again"));
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgIndexStore::EndLease(const std::string& supernode_id,
                                   int64_t generation, const CallContext& call) {
  return Run(PoolKind::kLease, "end lease", call, [&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE supernodes SET lease_expires = now()"
        " WHERE supernode_id = $1 AND lease_expires > now()"
        " AND ($2::bigint = 0 OR $2::bigint = (SELECT generation FROM supernode_batches b"
        "                      WHERE b.supernode_id = $1))",
        supernode_id, generation);
    tx.commit();
    return absl::OkStatus();
  });
}

namespace {

// The peers of one batch, from its folded changes minus the peers whose
// changes are stale (see ApplyDeltas).
struct BatchPeers {
  // Peers that left (their pages go when they belong to the sender).
  std::vector<std::string> gone;
  // Peers still here, and their addresses.
  std::vector<std::string> live, live_addresses;
  // Changes that touch pages: full lists (all pages read), and plain
  // deltas with the raw cids they touch (only the pages holding those, and
  // the last page, read).
  std::vector<const PeerChange*> replaced, edited;
  std::vector<std::string> edited_peers, edited_cids;
};

BatchPeers SortBatchPeers(const std::vector<PeerChange>& changes,
                          const std::set<std::string>& stale) {
  BatchPeers out;
  for (const PeerChange& change : changes) {
    if (change.gone) {
      out.gone.push_back(change.peer_id);
      continue;
    }
    if (stale.count(change.peer_id)) continue;
    out.live.push_back(change.peer_id);
    out.live_addresses.push_back(change.address);
    if (change.replace) {
      out.replaced.push_back(&change);
      continue;
    }
    std::string touched;
    for (const std::string& cid : change.removals) touched += Raw(cid);
    for (const auto* list : {&change.upserts, &change.partials}) {
      for (const FileEntry* e : *list) touched += Raw(e->cid());
    }
    if (touched.empty()) continue;
    out.edited.push_back(&change);
    out.edited_peers.push_back(change.peer_id);
    out.edited_cids.push_back(std::move(touched));
  }
  return out;
}

// The change log entry of one batch: what the statements of ApplyDeltas
// do, in their order, for MemoryCatalog to replay. Stored sources are
// listed per peer in peer order, complete ones before partial ones, which
// is the order in which the batch's first announcement of a new cid sets
// its size.
CatalogChange BuildChange(const std::string& supernode_id,
                          const std::vector<PeerChange>& changes,
                          const std::set<std::string>& stale,
                          const std::map<std::string, int64_t>& known_since) {
  CatalogChange change;
  AppliedBatch* b = change.mutable_batch();
  b->set_supernode_id(Raw(supernode_id));
  for (const PeerChange& c : changes) {
    if (c.gone) {
      b->add_gone_peers(Raw(c.peer_id));
      continue;
    }
    if (stale.count(c.peer_id)) continue;
    const std::string peer = Raw(c.peer_id);
    if (c.replace) b->add_replace_peers(peer);
    if (!c.removals.empty()) {
      PeerFiles* removed = b->add_removed();
      removed->set_peer_id(peer);
      std::string* cids = removed->mutable_cids();
      for (const std::string& cid : c.removals) *cids += Raw(cid);
    }
    b->add_moved_peers(peer);
    b->add_moved_addresses(c.address);
    if (c.upserts.empty() && c.partials.empty()) continue;
    PeerFiles* stored = b->add_stored();
    stored->set_peer_id(peer);
    if (auto k = known_since.find(c.peer_id); k != known_since.end()) {
      stored->set_known_since_ms(k->second);
    }
    const int n = static_cast<int>(c.upserts.size() + c.partials.size());
    std::string* cids = stored->mutable_cids();
    cids->reserve(32 * n);
    stored->mutable_names()->Reserve(n);
    stored->mutable_sizes()->Reserve(n);
    stored->mutable_partial()->Reserve(n);
    for (const auto* list : {&c.upserts, &c.partials}) {
      const bool partial = list == &c.partials;
      for (const FileEntry* e : *list) {
        *cids += Raw(e->cid());
        stored->add_names(e->name());
        stored->add_sizes(e->size());
        stored->add_partial(partial);
      }
    }
  }
  return change;
}

// The banned peers among those of `deltas`, with the reasons.
std::map<std::string, std::string> BannedAmong(
    pqxx::work& tx,
    const google::protobuf::RepeatedPtrField<index::PeerDelta>& deltas) {
  std::map<std::string, std::string> banned;
  if (deltas.empty()) return banned;
  std::vector<std::string> peers;
  for (const index::PeerDelta& d : deltas) peers.push_back(d.peer_id());
  for (const pqxx::row& row : tx.exec_params(
           "SELECT peer_id, reason FROM bans WHERE peer_id = ANY($1::text[])",
           PgTextArray(peers))) {
    banned[row[0].as<std::string>()] = row[1].as<std::string>();
  }
  return banned;
}

// FoldDeltas, the changes sorted by peer so that batches lock rows in one
// order.
std::vector<PeerChange> FoldSorted(
    const google::protobuf::RepeatedPtrField<index::PeerDelta>& deltas) {
  std::vector<PeerChange> changes = FoldDeltas(deltas);
  std::sort(changes.begin(), changes.end(),
            [](const PeerChange& a, const PeerChange& b) {
              return a.peer_id < b.peer_id;
            });
  return changes;
}

// Leaves out of `changes` every file whose cid was taken down.
void DropTakenDown(pqxx::work& tx, std::vector<PeerChange>* changes) {
  size_t files = 0;
  for (const PeerChange& c : *changes) {
    files += c.upserts.size() + c.partials.size();
  }
  if (files == 0) return;
  // Most of the time nothing is taken down: one cheap probe then, rather
  // than a batch's cids sent, parsed and joined.
  if (!tx.exec("SELECT EXISTS (SELECT 1 FROM takedowns)")[0][0].as<bool>()) {
    return;
  }
  std::string cids = "{";
  cids.reserve(67 * files + 2);
  for (const PeerChange& c : *changes) {
    for (const auto* list : {&c.upserts, &c.partials}) {
      for (const FileEntry* e : *list) AppendToTextArray(e->cid(), &cids);
    }
  }
  cids += '}';
  std::set<std::string> down;
  for (const pqxx::row& row :
       tx.exec_params("SELECT t.cid FROM takedowns t"
                      " JOIN unnest($1::text[]) AS u(cid) ON u.cid = t.cid",
                      cids)) {
    down.insert(row[0].as<std::string>());
  }
  if (down.empty()) return;
  auto taken = [&down](const FileEntry* e) { return down.count(e->cid()) > 0; };
  for (PeerChange& c : *changes) {
    c.upserts.erase(std::remove_if(c.upserts.begin(), c.upserts.end(), taken),
                    c.upserts.end());
    c.partials.erase(
        std::remove_if(c.partials.begin(), c.partials.end(), taken),
        c.partials.end());
  }
}

}  // namespace

absl::StatusOr<index::PublishDeltasResponse> PgIndexStore::ApplyDeltas(
    const index::PublishDeltasRequest& request, const CallContext& call) {
  const std::string& sn = request.supernode_id();
  const std::string session_hash =
      request.session().empty() ? "" : SessionHash(request.session());
  // Peers with signed changes, whose chains are checked.
  std::vector<std::string> chain_peers;
  for (const index::PeerDelta& d : request.deltas()) {
    if (d.seq() > 0) chain_peers.push_back(d.peer_id());
  }
  std::sort(chain_peers.begin(), chain_peers.end());
  chain_peers.erase(std::unique(chain_peers.begin(), chain_peers.end()),
                    chain_peers.end());

  // Pages hold raw cids, so a malformed one is refused here (the schema
  // checks sizes and names).
  for (const index::PeerDelta& d : request.deltas()) {
    for (const auto* list : {&d.added(), &d.partial()}) {
      for (const FileEntry& e : *list) {
        if (!IsLowerHexId(e.cid())) {
          return absl::InvalidArgumentError(absl::StrCat(
              "publish deltas: cid \"", absl::CHexEscape(e.cid().substr(0, 80)),
              "\" is not 64 lowercase hex digits; nothing was stored"));
        }
      }
    }
  }
  // Folded before the writer turn is taken, which the batches of every
  // supernode wait for: only deltas refused inside it are folded again.
  const std::vector<PeerChange> folded = FoldSorted(request.deltas());
  return Run(PoolKind::kWrite, "publish deltas", call,
             [&](pqxx::connection& c)
                 -> absl::StatusOr<index::PublishDeltasResponse> {
    pqxx::work tx(c);
    TakeWriterTurn(tx);
    // A batch's arrays are megabytes. Planned for their values (a custom
    // plan, PostgreSQL's choice for a statement with parameters), each
    // statement copied them into constants and the plan, page by fresh
    // page; these statements' plans do not depend on the values.
    tx.exec("SET LOCAL plan_cache_mode = force_generic_plan");
    // KEY SHARE: concurrent renewals proceed; expiry and re-registration
    // wait for this batch.
    pqxx::result live =
        tx.exec_params("SELECT session_hash FROM supernodes"
                       " WHERE supernode_id = $1"
                       " AND lease_expires > now() FOR KEY SHARE",
                       sn);
    if (live.empty()) {
      absl::Status why = RefusedSupernode(tx, sn);
      if (why.code() == absl::StatusCode::kPermissionDenied) return why;
      return absl::FailedPreconditionError(absl::StrCat(
          "supernode ", sn, " holds no live lease; register first"));
    }
    if (!live[0][0].is_null() &&
        live[0][0].as<std::string>() != session_hash) {
      return absl::UnauthenticatedError(absl::StrCat(
          "the batch does not carry supernode ", sn,
          "'s current session; register again"));
    }
    if (request.generation() != 0) {
      // Only the newest attempt of the current registration may land.
      if (tx.exec_params("UPDATE supernode_batches SET last_batch = $3"
                         " WHERE supernode_id = $1 AND generation = $2"
                         " AND last_batch < $3",
                         sn, request.generation(), request.batch())
              .affected_rows() == 0) {
        pqxx::result now = tx.exec_params(
            "SELECT generation, last_batch FROM supernode_batches"
            " WHERE supernode_id = $1",
            sn);
        if (now.empty() || now[0][0].as<int64_t>() != request.generation()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "batch ", request.batch(), " belongs to registration ",
              request.generation(),
              ", which is over; register again and send full lists"));
        }
        return absl::AbortedError(absl::StrCat(
            "batch ", request.batch(), " arrived after batch ",
            now[0][1].as<int64_t>(),
            " of the same supernode was applied; not applied"));
      }
    }
    // Each leaf's signed changes apply only in the leaf's order; those out
    // of order are left out and reported, the rest applies.
    index::PublishDeltasResponse response;
    std::map<std::string, ChainState> chains;
    if (!chain_peers.empty()) {
      for (const pqxx::row& row : tx.exec_params(
               "SELECT peer_id, last_seq, full_floor, withdrawn"
               " FROM peer_chains WHERE peer_id = ANY($1::text[])"
               " ORDER BY peer_id FOR UPDATE",
               PgTextArray(chain_peers))) {
        ChainState& state = chains[row[0].as<std::string>()];
        state.last_seq = row[1].as<int64_t>();
        state.full_floor = row[2].as<int64_t>();
        state.withdrawn = row[3].as<bool>();
      }
    }
    std::vector<bool> refused(request.deltas_size(), false);
    // Banned peers' changes are refused, whatever they are.
    const std::map<std::string, std::string> banned =
        BannedAmong(tx, request.deltas());
    std::set<std::string> advanced;
    for (int i = 0; i < request.deltas_size(); ++i) {
      const index::PeerDelta& d = request.deltas(i);
      if (auto ban = banned.find(d.peer_id()); ban != banned.end()) {
        index::RefusedChange* r = response.add_refused();
        r->set_index(i);
        r->set_peer_id(d.peer_id());
        r->set_code(static_cast<int>(absl::StatusCode::kPermissionDenied));
        r->set_message(absl::StrCat("peer banned: ", ban->second));
        refused[i] = true;
        continue;
      }
      if (d.seq() > 0) {
        auto it = chains.find(d.peer_id());
        const ChainState* state = it == chains.end() ? nullptr : &it->second;
        const ChainLink link{d.seq(), d.prev_seq(), d.full(), d.gone()};
        absl::Status ok = CheckLink(state, link);
        if (!ok.ok()) {
          index::RefusedChange* r = response.add_refused();
          r->set_index(i);
          r->set_peer_id(d.peer_id());
          r->set_code(static_cast<int>(ok.code()));
          r->set_message(std::string(ok.message()));
          refused[i] = true;
          continue;
        }
        chains[d.peer_id()] = Advance(state, link);
        advanced.insert(d.peer_id());
      }
    }
    // The deltas not refused, when some are (`changes` points into them).
    google::protobuf::RepeatedPtrField<index::PeerDelta> kept;
    std::vector<PeerChange> changes;
    if (response.refused().empty()) {
      // A copy: a retried transaction starts from the fold again.
      changes = folded;
    } else {
      for (int i = 0; i < request.deltas_size(); ++i) {
        if (!refused[i]) *kept.Add() = request.deltas(i);
      }
      changes = FoldSorted(kept);
    }
    // Taken-down cids are never stored.
    DropTakenDown(tx, &changes);
    // Peers whose changes are plain deltas (no full list): only those may
    // turn out stale.
    std::vector<std::string> delta_peers;
    for (const PeerChange& change : changes) {
      if (!change.gone && !change.replace) {
        delta_peers.push_back(change.peer_id);
      }
    }
    // A peer belongs to the supernode that last sent its full list. Plain
    // deltas from another supernode while that one holds a live lease are
    // stale (sent late by the supernode the peer left) and are skipped, so
    // they cannot pull the peer back.
    std::set<std::string> stale;
    if (!delta_peers.empty()) {
      for (const pqxx::row& row : tx.exec_params(
               "SELECT p.peer_id FROM peers p"
               " JOIN supernodes o ON o.supernode_id = p.supernode_id"
               " WHERE p.peer_id = ANY($1::text[]) AND p.supernode_id <> $2"
               " AND o.lease_expires > now()"
               " ORDER BY p.peer_id FOR UPDATE OF p",
               PgTextArray(delta_peers), sn)) {
        stale.insert(row[0].as<std::string>());
      }
    }
    const BatchPeers batch = SortBatchPeers(changes, stale);
    int64_t removed = 0;
    int64_t added = 0;
    if (!batch.gone.empty()) {
      // Only what this supernode published goes: a peer that moved to
      // another supernode keeps what it published there.
      removed += DeletePeers(tx,
                             "peer_id = ANY($1::text[]) AND supernode_id = $2",
                             PgTextArray(batch.gone), sn)
                     .first;
    }
    if (!batch.live.empty()) {
      // A peer that moved here, or changed address, takes all its sources
      // (they are its pages).
      tx.exec_params(
          "INSERT INTO peers (peer_id, address, supernode_id, last_seen)"
          " SELECT u.peer_id, u.address, $3, now()"
          " FROM unnest($1::text[], $2::text[]) AS u(peer_id, address)"
          " ON CONFLICT (peer_id) DO UPDATE SET address = EXCLUDED.address,"
          "  supernode_id = EXCLUDED.supernode_id,"
          "  last_seen = EXCLUDED.last_seen",
          PgTextArray(batch.live), PgTextArray(batch.live_addresses), sn);
    }
    if (!batch.replaced.empty() || !batch.edited.empty()) {
      std::vector<std::string> replaced_peers;
      for (const PeerChange* c : batch.replaced) {
        replaced_peers.push_back(c->peer_id);
      }
      // A replaced peer's pages, all of them; an edited peer's pages that
      // hold a cid it touches (position() may also match across two cids,
      // which only reads a page more), and its last page, for additions.
      std::map<std::string, std::vector<PeerPage>> stored;
      CollectPages(
          tx.exec_params(
              absl::StrCat(
                  "SELECT ", kPageColumns,
                  " FROM peer_pages p WHERE p.peer_id = ANY($1::text[])"
                  " UNION ALL SELECT ", kPageColumns,
                  " FROM unnest($2::text[], $3::bytea[]) AS u(peer_id, want)"
                  " JOIN peer_pages p ON p.peer_id = u.peer_id"
                  " WHERE p.page = (SELECT max(q.page) FROM peer_pages q"
                  "  WHERE q.peer_id = u.peer_id)"
                  " OR EXISTS (SELECT 1 FROM generate_series(0,"
                  "  length(u.want) / 32 - 1) AS k WHERE position(substring("
                  "  u.want FROM k * 32 + 1 FOR 32) IN p.cids) > 0)"),
              PgTextArray(replaced_peers), PgTextArray(batch.edited_peers),
              PgByteaArray(batch.edited_cids)),
          &stored);
      std::vector<std::pair<std::string, PageEdit>> edits;
      for (const auto* list : {&batch.replaced, &batch.edited}) {
        for (const PeerChange* c : *list) {
          auto it = stored.find(c->peer_id);
          PageEdit edit = EditPeerPages(
              it == stored.end() ? std::vector<PeerPage>()
                                 : std::move(it->second),
              *c);
          removed += edit.removed;
          added += edit.added;
          edits.emplace_back(c->peer_id, std::move(edit));
        }
      }
      StorePageEdits(tx, edits);
    }
    // When each peer that stores sources became known (now, for a
    // newcomer), for the change log: replicas weigh its votes on names by
    // it.
    std::map<std::string, int64_t> known_since;
    {
      std::vector<std::string> storing;
      for (const PeerChange& c : changes) {
        if (c.gone || stale.count(c.peer_id) > 0) continue;
        if (c.upserts.empty() && c.partials.empty()) continue;
        storing.push_back(c.peer_id);
      }
      if (!storing.empty()) {
        tx.exec_params(
            "INSERT INTO peer_standing (peer_id)"
            " SELECT unnest($1::text[]) ON CONFLICT (peer_id) DO NOTHING",
            PgTextArray(storing));
        for (const pqxx::row& row : tx.exec_params(
                 absl::StrCat("SELECT peer_id, ", kKnownSinceMillis,
                              " FROM peer_standing"
                              " WHERE peer_id = ANY($1::text[])"),
                 PgTextArray(storing))) {
          known_since[row[0].as<std::string>()] = row[1].as<int64_t>();
        }
      }
    }
    if (!advanced.empty()) {
      std::vector<std::string> peers, last, floors, withdrawn;
      for (const std::string& peer : advanced) {
        const ChainState& state = chains[peer];
        peers.push_back(peer);
        last.push_back(absl::StrCat(state.last_seq));
        floors.push_back(absl::StrCat(state.full_floor));
        withdrawn.push_back(state.withdrawn ? "true" : "false");
      }
      tx.exec_params(
          "INSERT INTO peer_chains (peer_id, supernode_id, last_seq,"
          "  full_floor, withdrawn, presence_until)"
          " SELECT u.peer_id, $5, u.last_seq, u.full_floor, u.withdrawn,"
          "  now() + $6::bigint * interval '1 millisecond'"
          " FROM unnest($1::text[], $2::bigint[], $3::bigint[],"
          "  $4::boolean[]) AS u(peer_id, last_seq, full_floor, withdrawn)"
          " ON CONFLICT (peer_id) DO UPDATE SET"
          "  supernode_id = EXCLUDED.supernode_id,"
          "  last_seq = EXCLUDED.last_seq,"
          "  full_floor = EXCLUDED.full_floor,"
          "  withdrawn = EXCLUDED.withdrawn,"
          // A change the leaf signed and the index applied shows it alive
          // now: its sources stay for the grace period at least, until its
          // presences vouch for it. Without this, a leaf that comes back
          // (as the same peer) before its last presence ran out would keep
          // that presence's end and be withdrawn before the new session's
          // first presence arrived, and nothing would bring it back.
          "  presence_until = GREATEST(peer_chains.presence_until,"
          "   EXCLUDED.presence_until),"
          "  updated_at = now()",
          PgTextArray(peers), PgTextArray(last), PgTextArray(floors),
          PgTextArray(withdrawn), sn, Millis(options_.presence_grace));
    }
    auto change =
        std::make_shared<CatalogChange>(
        BuildChange(sn, changes, stale, known_since));
    const int64_t seq = AppendToLog(tx, *change);
    // Until the commit is known to have happened, the change is pending;
    // it is withdrawn on every other way out (a refusal, an exception).
    if (pending_sink_) pending_sink_(seq, true);
    bool committed = false;
    auto withdraw = absl::MakeCleanup([&] {
      if (!committed && pending_sink_) pending_sink_(seq, false);
    });
    // Never commit for a caller that gave up: it will send these changes
    // again, merged with what followed.
    if (call.GaveUp()) return GaveUpStatus(call);
    tx.commit();
    committed = true;
    Committed(seq, std::move(change));
    response.set_sources_added(added);
    response.set_sources_removed(removed);
    return response;
  });
}

absl::StatusOr<index::LocateResponse> PgIndexStore::Locate(
    const std::string& cid, int limit, const CallContext& call) {
  return Run(PoolKind::kRead, "locate", call, [&](pqxx::connection& c)
                                              -> absl::StatusOr<index::LocateResponse> {
    // One statement, one round trip.
    pqxx::nontransaction tx(c);
    pqxx::result r = tx.exec_params(
        // Served from memory once the catalog is loaded; before that, this
        // reads every page that may hold the cid.
        "WITH live AS MATERIALIZED ("
        "  SELECT p.peer_id, pe.address, e.partial, e.name, e.size"
        "  FROM peer_pages p JOIN peers pe ON pe.peer_id = p.peer_id"
        "  JOIN supernodes sn ON sn.supernode_id = pe.supernode_id"
        "  CROSS JOIN LATERAL trove_page_entries(p.cids, p.names, p.sizes,"
        "   p.partial) e"
        "  WHERE position($3::bytea IN p.cids) > 0 AND e.cid = $1"
        "  AND sn.lease_expires > now())"
        " SELECT (SELECT mode() WITHIN GROUP (ORDER BY size) FROM live),"
        "  (SELECT name FROM live GROUP BY name"
        "   ORDER BY count(*) FILTER (WHERE NOT partial) DESC, count(*) DESC,"
        "   name LIMIT 1),"
        "  l.peer_id, l.address, l.partial"
        " FROM (SELECT * FROM live ORDER BY partial, peer_id LIMIT $2) l",
        cid, limit, pqxx::binarystring(Raw(cid)));
    if (r.empty()) {
      return absl::NotFoundError(
          absl::StrCat("no live source has cid ", cid));
    }
    index::LocateResponse response;
    response.set_size(r[0][0].as<int64_t>());
    response.set_name(r[0][1].as<std::string>());
    for (const pqxx::row& row : r) {
      Source* source = response.add_sources();
      source->set_peer_id(row[2].as<std::string>());
      source->set_address(row[3].as<std::string>());
      source->set_partial(row[4].as<bool>());
    }
    return response;
  });
}

absl::StatusOr<std::vector<std::string>> PgIndexStore::EndedLeases() {
  return Run(PoolKind::kRead, "list ended leases", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<std::vector<std::string>> {
    pqxx::nontransaction tx(c);
    std::vector<std::string> out;
    for (const pqxx::row& row :
         tx.exec("SELECT supernode_id FROM supernodes WHERE lease_expires <= now()")) {
      out.push_back(Raw(row[0].c_str()));
    }
    return out;
  });
}

absl::StatusOr<std::vector<index::SupernodeInfo>> PgIndexStore::LiveSupernodes(
    int limit, const CallContext& call) {
  return Run(PoolKind::kRead, "list supernodes", call,
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<index::SupernodeInfo>> {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec_params(
        "SELECT supernode_id, address, leaf_count FROM supernodes s"
        " WHERE lease_expires > now() AND NOT EXISTS (SELECT 1 FROM"
        "  supernode_keys k WHERE k.supernode_id = s.supernode_id"
        "  AND k.draining_since IS NOT NULL)"
        " ORDER BY leaf_count, supernode_id LIMIT $1",
        limit);
    std::vector<index::SupernodeInfo> out;
    for (const pqxx::row& row : r) {
      index::SupernodeInfo info;
      info.set_supernode_id(row[0].as<std::string>());
      info.set_address(row[1].as<std::string>());
      info.set_leaf_count(row[2].as<int>());
      out.push_back(std::move(info));
    }
    tx.commit();
    return out;
  });
}

absl::StatusOr<ExpiryStats> PgIndexStore::ExpireDeadSupernodes() {
  absl::StatusOr<ExpiryStats> result =
      Run(PoolKind::kWrite, "expire supernodes", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<ExpiryStats> {
    pqxx::work tx(c);
    ExpiryStats stats;
    // One replica at a time; the others skip this round.
    if (!tx.exec_params("SELECT pg_try_advisory_xact_lock($1)", kExpiryLockKey)[0][0]
             .as<bool>()) {
      return stats;
    }
    stats.ran = true;
    // Nothing to do is the usual case: look before queueing with writers.
    if (tx.exec("SELECT 1 FROM supernodes WHERE lease_expires <= now() LIMIT 1")
            .empty()) {
      tx.commit();
      return stats;
    }
    TakeWriterTurn(tx);
    // Deleting the supernode rows first waits for batches that hold them
    // (FOR KEY SHARE); the deletes below then see those batches' rows.
    pqxx::result dead = tx.exec(
        "DELETE FROM supernodes WHERE lease_expires <= now()"
        " RETURNING supernode_id");
    stats.supernodes = dead.size();
    if (!dead.empty()) {
      std::vector<std::string> ids;
      auto change = std::make_shared<CatalogChange>();
      for (const pqxx::row& row : dead) {
        ids.push_back(row[0].as<std::string>());
        change->mutable_dropped_supernodes()->add_supernode_ids(Raw(ids.back()));
      }
      const std::string array = PgTextArray(ids);
      std::tie(stats.sources, stats.peers) =
          DeletePeers(tx, "supernode_id = ANY($1::text[])", array);
      tx.exec_params(
          "UPDATE peer_chains SET withdrawn = true"
          " WHERE supernode_id = ANY($1::text[])",
          array);
      const int64_t seq = AppendToLog(tx, *change);
      tx.commit();
      Committed(seq, std::move(change));
      return stats;
    }
    tx.commit();
    return stats;
  });
  if (!result.ok() || !result->ran) return result;
  // Leaves whose signed presence ran out: the index withdraws them itself
  // (a supernode cannot withdraw a leaf that signs its changes).
  absl::StatusOr<int64_t> lapsed = Run(
      PoolKind::kWrite, "withdraw lapsed peers", CallContext(),
      [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    if (tx.exec("SELECT 1 FROM peer_chains WHERE NOT withdrawn"
                " AND presence_until <= now() LIMIT 1")
            .empty()) {
      tx.commit();
      return int64_t{0};
    }
    TakeWriterTurn(tx);
    std::map<std::string, std::vector<std::string>> by_supernode;
    for (const pqxx::row& row :
         tx.exec("UPDATE peer_chains SET withdrawn = true"
                 " WHERE NOT withdrawn AND presence_until <= now()"
                 " RETURNING peer_id, supernode_id")) {
      by_supernode[row[1].as<std::string>()].push_back(
          row[0].as<std::string>());
    }
    int64_t removed = 0;
    std::vector<std::pair<int64_t, std::shared_ptr<CatalogChange>>> logged;
    for (const auto& [sn, peers] : by_supernode) {
      removed += DeletePeers(tx,
                             "peer_id = ANY($1::text[]) AND supernode_id = $2",
                             PgTextArray(peers), sn)
                     .first;
      auto change = std::make_shared<CatalogChange>();
      change->mutable_batch()->set_supernode_id(Raw(sn));
      for (const std::string& peer : peers) {
        change->mutable_batch()->add_gone_peers(Raw(peer));
      }
      logged.emplace_back(AppendToLog(tx, *change), change);
    }
    tx.commit();
    for (auto& [seq, change] : logged) Committed(seq, std::move(change));
    return removed;
  });
  if (!lapsed.ok()) return lapsed.status();
  result->sources += *lapsed;
  return result;
}

absl::Status PgIndexStore::RecordPresences(
    const std::string& supernode_id,
    const std::vector<std::pair<std::string, absl::Time>>& presences,
    const CallContext& call) {
  if (presences.empty()) return absl::OkStatus();
  std::vector<std::string> peers, until;
  for (const auto& [peer, time] : presences) {
    peers.push_back(peer);
    until.push_back(absl::StrCat(absl::ToUnixMillis(time)));
  }
  return Run(PoolKind::kLease, "record presences", call,
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE peer_chains p SET presence_until ="
        "  to_timestamp(u.until_ms / 1000.0)"
        " FROM unnest($1::text[], $2::bigint[]) AS u(peer_id, until_ms)"
        " WHERE p.peer_id = u.peer_id AND p.supernode_id = $3"
        // A banned peer's presence is refused.
        " AND NOT EXISTS (SELECT 1 FROM bans b WHERE b.peer_id = p.peer_id)",
        PgTextArray(peers), PgTextArray(until), supernode_id);
    tx.commit();
    return absl::OkStatus();
  });
}

// ---------------------------------------------------------------------------
// Supernode keys

namespace {

constexpr char kKeyColumns[] =
    "supernode_id, public_key, kind, permanent, revoked_at IS NOT NULL,"
    " COALESCE(extract(epoch FROM revoked_at), 0)::float8, enrolled_by,"
    " extract(epoch FROM created_at)::float8";

SupernodeKey KeyFromRow(const pqxx::row& row) {
  SupernodeKey key;
  key.supernode_id = row[0].as<std::string>();
  key.public_key = pqxx::binarystring(row[1]).str();
  key.kind = row[2].as<std::string>();
  key.permanent = row[3].as<bool>();
  key.revoked = row[4].as<bool>();
  if (key.revoked) key.revoked_at = absl::FromUnixMicros(
      static_cast<int64_t>(row[5].as<double>() * 1e6));
  key.enrolled_by = row[6].as<std::string>();
  key.created_at =
      absl::FromUnixMicros(static_cast<int64_t>(row[7].as<double>() * 1e6));
  return key;
}

}  // namespace

absl::StatusOr<SupernodeKey> PgIndexStore::GetSupernodeKey(
    const std::string& supernode_id, const CallContext& call) {
  return Run(PoolKind::kLease, "read supernode key", call,
             [&](pqxx::connection& c) -> absl::StatusOr<SupernodeKey> {
    pqxx::nontransaction tx(c);
    pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", kKeyColumns,
                     " FROM supernode_keys WHERE supernode_id = $1"),
        supernode_id);
    if (r.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "supernode ", supernode_id, " has no enrolled key"));
    }
    return KeyFromRow(r[0]);
  });
}

absl::StatusOr<std::string> PgIndexStore::EnrolSupernodeKey(
    const std::string& public_key, const std::string& kind, bool permanent,
    const std::string& enrolled_by) {
  if (public_key.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a supernode key is 32 bytes, got ", public_key.size()));
  }
  if (kind != "enrolled" && kind != "promoted") {
    return absl::InvalidArgumentError(
        absl::StrCat("key kind must be enrolled or promoted, not ", kind));
  }
  const std::string id = HexEncode(Sha256(public_key));
  absl::Status s = Run(PoolKind::kWrite, "enrol supernode key", CallContext(),
                       [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO supernode_keys (supernode_id, public_key, kind,"
        "  permanent, enrolled_by) VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (supernode_id) DO UPDATE SET kind = EXCLUDED.kind,"
        "  permanent = EXCLUDED.permanent, revoked_at = NULL,"
        "  draining_since = NULL, enrolled_by = EXCLUDED.enrolled_by",
        id, pqxx::binarystring(public_key), kind, permanent, enrolled_by);
    tx.commit();
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return id;
}

absl::Status PgIndexStore::RevokeSupernodeKey(const std::string& supernode_id,
                                              const std::string& revoked_by) {
  return Run(PoolKind::kWrite, "revoke supernode key", CallContext(),
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    TakeWriterTurn(tx);
    pqxx::result was = tx.exec_params(
        "SELECT revoked_at IS NULL FROM supernode_keys WHERE supernode_id = $1"
        " FOR UPDATE",
        supernode_id);
    if (was.empty()) {
      return absl::NotFoundError(absl::StrCat(
          "supernode ", supernode_id, " has no enrolled key"));
    }
    tx.exec_params(
        "UPDATE supernode_keys SET revoked_at = COALESCE(revoked_at,"
        "  now()), enrolled_by = enrolled_by"
        " WHERE supernode_id = $1",
        supernode_id);
    if (was[0][0].as<bool>()) {
      tx.exec_params(
          "INSERT INTO election_events (event, supernode_id) VALUES ($1, $2)",
          revoked_by == "election" ? "retired" : "revoked", supernode_id);
    }
    // Its lease, session and sources go now; its leaves' chains stay, so
    // they may come back through another supernode.
    tx.exec_params("DELETE FROM supernodes WHERE supernode_id = $1",
                   supernode_id);
    DeletePeers(tx, "supernode_id = $1", supernode_id);
    tx.exec_params(
        "UPDATE peer_chains SET withdrawn = true WHERE supernode_id = $1",
        supernode_id);
    auto change = std::make_shared<CatalogChange>();
    change->mutable_dropped_supernodes()->add_supernode_ids(Raw(supernode_id));
    const int64_t seq = AppendToLog(tx, *change);
    tx.commit();
    Committed(seq, std::move(change));
    TROVE_LOG(INFO) << "supernode key " << supernode_id.substr(0, 12)
                    << "... revoked by " << revoked_by;
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<SupernodeKey>> PgIndexStore::ListSupernodeKeys() {
  return Run(PoolKind::kRead, "list supernode keys", CallContext(),
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<SupernodeKey>> {
    pqxx::nontransaction tx(c);
    std::vector<SupernodeKey> out;
    for (const pqxx::row& row :
         tx.exec(absl::StrCat("SELECT ", kKeyColumns,
                              " FROM supernode_keys ORDER BY created_at,"
                              " supernode_id"))) {
      out.push_back(KeyFromRow(row));
    }
    return out;
  });
}

// ---------------------------------------------------------------------------
// The change log

absl::StatusOr<int64_t> PgIndexStore::LoadCatalog(
    MemoryCatalog* catalog,
    const std::function<void(const LoadProgress&)>& progress) {
  try {
    // A connection of its own: the load runs for seconds and must not hold
    // one the service needs.
    pqxx::connection conn(options_.dsn);
    pqxx::transaction<pqxx::isolation_level::repeatable_read,
                      pqxx::readwrite_policy::read_only>
        tx(conn);
    tx.exec("SET LOCAL statement_timeout = 0");
    // Plans for reading everything, not for the first rows fast.
    tx.exec("SET LOCAL cursor_tuple_fraction = 1.0");
    tx.exec("SET LOCAL client_min_messages = warning");
    const int64_t seq = tx.exec("SELECT seq FROM catalog_head")[0][0].as<int64_t>();
    LoadProgress p;
    catalog->BeginLoad();
    // One row per page: each peer's supernode and address once per page
    // instead of once per source.
    tx.exec(absl::StrCat(
        "DECLARE trove_pages NO SCROLL CURSOR FOR"
        " SELECT p.peer_id, pe.supernode_id, pe.address, COALESCE(",
        kKnownSinceMillis,
        ", 0), p.cids, p.names, p.sizes, p.partial"
        " FROM peer_pages p JOIN peers pe ON pe.peer_id = p.peer_id"
        " LEFT JOIN peer_standing k ON k.peer_id = p.peer_id"));
    // This thread fetches; another parses the pages and builds the catalog
    // from them, so that PostgreSQL and the building run side by side.
    absl::Mutex queue_mu;
    std::deque<pqxx::result> queue;
    bool fetched_all = false;
    std::string bad_page;
    std::thread builder([&] {
      std::string peer, sn;
      std::vector<std::string> names;
      std::vector<int64_t> sizes;
      std::vector<bool> partial;
      int64_t next_report = 500000;
      while (true) {
        pqxx::result r;
        {
          absl::MutexLock lock(&queue_mu);
          auto ready = [&]() { return !queue.empty() || fetched_all; };
          queue_mu.Await(absl::Condition(&ready));
          if (queue.empty()) return;
          r = std::move(queue.front());
          queue.pop_front();
        }
        for (const pqxx::row& row : r) {
          if (!search::HexToRaw(row[0].c_str(), &peer) ||
              !search::HexToRaw(row[1].c_str(), &sn)) {
            continue;
          }
          const absl::string_view address(row[2].c_str(), row[2].size());
          const absl::Time known_since =
              absl::FromUnixMillis(row[3].as<int64_t>());
          pqxx::binarystring cids(row[4]);
          absl::Status ok =
              ParsePgTextArray(absl::string_view(row[5].c_str(), row[5].size()),
                               &names);
          if (ok.ok()) {
            ok = ParsePgBigintArray(
                absl::string_view(row[6].c_str(), row[6].size()), &sizes);
          }
          if (ok.ok()) {
            ok = ParsePgBoolArray(
                absl::string_view(row[7].c_str(), row[7].size()), &partial);
          }
          if (!ok.ok() || sizes.size() != names.size() ||
              partial.size() != names.size() ||
              cids.size() != 32 * names.size()) {
            if (bad_page.empty()) {
              bad_page = absl::StrCat("a page of peer ", row[0].c_str(),
                                      " does not parse");
            }
            continue;
          }
          const char* raw = reinterpret_cast<const char*>(cids.data());
          for (size_t i = 0; i < names.size(); ++i) {
            const absl::string_view cid(raw + 32 * i, 32);
            catalog->LoadSource(cid, peer, sn, names[i], sizes[i], address,
                                partial[i], known_since);
            if (partial[i]) catalog->LoadFile(cid, sizes[i]);
          }
          p.sources += static_cast<int64_t>(names.size());
        }
        if (p.sources >= next_report) {
          next_report = p.sources + 500000;
          if (progress) progress(p);
        }
      }
    });
    struct Join {
      std::thread* t;
      absl::Mutex* mu;
      bool* done;
      ~Join() {
        {
          absl::MutexLock lock(mu);
          *done = true;
        }
        if (t->joinable()) t->join();
      }
    } join{&builder, &queue_mu, &fetched_all};
    while (true) {
      pqxx::result r = tx.exec(
          absl::StrCat("FETCH ", kLoadFetchPages, " FROM trove_pages"));
      absl::MutexLock lock(&queue_mu);
      if (r.empty()) {
        fetched_all = true;
        break;
      }
      // At most two batches wait, to bound memory.
      auto room = [&]() { return queue.size() < 2; };
      queue_mu.Await(absl::Condition(&room));
      queue.push_back(std::move(r));
    }
    {
      // Wait for the builder before reading what it found.
      absl::MutexLock lock(&queue_mu);
      fetched_all = true;
    }
    builder.join();
    if (!bad_page.empty()) {
      return absl::DataLossError(absl::StrCat("loading the catalog: ", bad_page));
    }
    tx.commit();
    catalog->EndLoad();
    p.done = true;
    if (progress) progress(p);
    return seq;
  } catch (const pqxx::broken_connection& e) {
    return absl::UnavailableError(
        absl::StrCat("loading the catalog: database unavailable: ", Describe(e)));
  } catch (const pqxx::sql_error& e) {
    absl::Status s = StatusFromSqlState(e.sqlstate(), Describe(e));
    return absl::Status(s.code(),
                        absl::StrCat("loading the catalog: ", s.message()));
  } catch (const std::exception& e) {
    return absl::InternalError(
        absl::StrCat("loading the catalog: ", Describe(e)));
  }
}

absl::StatusOr<std::vector<LoggedChange>> PgIndexStore::ReadChanges(
    int64_t after, int limit) {
  return Run(PoolKind::kRead, "read change log", CallContext(),
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<LoggedChange>> {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec_params(
        "SELECT seq, change FROM catalog_log WHERE seq > $1"
        " ORDER BY seq LIMIT $2",
        after, limit);
    std::vector<LoggedChange> out;
    out.reserve(r.size());
    for (const pqxx::row& row : r) {
      LoggedChange lc;
      lc.seq = row[0].as<int64_t>();
      pqxx::binarystring bytes(row[1]);
      auto change = std::make_shared<CatalogChange>();
      if (!change->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
        return absl::DataLossError(
            absl::StrCat("change log entry ", lc.seq, " does not parse"));
      }
      lc.change = std::move(change);
      out.push_back(std::move(lc));
    }
    tx.commit();
    return out;
  });
}

absl::StatusOr<int64_t> PgIndexStore::LastChange() {
  return Run(PoolKind::kRead, "read change log head", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::read_transaction tx(c);
    int64_t seq = tx.exec("SELECT seq FROM catalog_head")[0][0].as<int64_t>();
    tx.commit();
    return seq;
  });
}

bool PgIndexStore::WaitForChanges(absl::Duration timeout) {
  try {
    if (listener_ == nullptr) {
      auto l = std::make_unique<Listener>();
      l->conn = std::make_unique<pqxx::connection>(options_.dsn);
      l->receiver =
          std::make_unique<Listener::Receiver>(*l->conn, kChangeChannel);
      listener_ = std::move(l);
    }
    const int64_t us = std::max<int64_t>(0, absl::ToInt64Microseconds(timeout));
    return listener_->conn->await_notification(us / 1000000, us % 1000000) > 0;
  } catch (const std::exception& e) {
    // Listen again next time; meanwhile the caller polls.
    listener_.reset();
    absl::SleepFor(timeout);
    return false;
  }
}

absl::StatusOr<int64_t> PgIndexStore::TrimChangeLog(absl::Duration keep) {
  return Run(PoolKind::kWrite, "trim change log", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    int64_t n = tx.exec_params(
                      "DELETE FROM catalog_log"
                      " WHERE logged_at < now() - $1::bigint * interval '1 millisecond'"
                      " AND seq < (SELECT seq FROM catalog_head)",
                      Millis(keep))
                    .affected_rows();
    tx.commit();
    return n;
  });
}

absl::StatusOr<int64_t> PgIndexStore::TrimPeerStanding(
    absl::Duration forget_after) {
  return Run(PoolKind::kWrite, "trim peer standing", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    // In turn with ApplyDeltas, so that a peer storing sources right now
    // keeps its row.
    TakeWriterTurn(tx);
    // Seen: a peers row, a signed change or presence (peer_chains), or the
    // row itself, within forget_after.
    int64_t n = tx.exec_params(
                      "DELETE FROM peer_standing k"
                      " WHERE k.known_since < now() - $1::bigint * interval '1 millisecond'"
                      " AND NOT EXISTS (SELECT 1 FROM peer_pages s WHERE s.peer_id = k.peer_id)"
                      " AND NOT EXISTS (SELECT 1 FROM peers p WHERE p.peer_id = k.peer_id"
                      "  AND p.last_seen >= now() - $1::bigint * interval '1 millisecond')"
                      " AND NOT EXISTS (SELECT 1 FROM peer_chains h WHERE h.peer_id = k.peer_id"
                      "  AND GREATEST(h.updated_at, h.presence_until)"
                      "   >= now() - $1::bigint * interval '1 millisecond')",
                      Millis(forget_after))
                    .affected_rows();
    tx.commit();
    return n;
  });
}

// ---------------------------------------------------------------------------
// Operator control (AdminStore)

namespace {

int64_t MillisOf(const pqxx::field& f) {
  return f.is_null() ? 0 : static_cast<int64_t>(f.as<double>());
}

constexpr char kTokenColumns[] =
    "token_id, role, label, extract(epoch FROM created_at) * 1000,"
    " extract(epoch FROM revoked_at) * 1000";

AdminTokenRecord TokenFromRow(const pqxx::row& row) {
  AdminTokenRecord t;
  t.token_id = row[0].as<std::string>();
  t.role = row[1].as<std::string>();
  t.label = row[2].as<std::string>();
  t.created_at = absl::FromUnixMillis(MillisOf(row[3]));
  t.revoked = !row[4].is_null();
  if (t.revoked) t.revoked_at = absl::FromUnixMillis(MillisOf(row[4]));
  return t;
}

}  // namespace

absl::Status PgIndexStore::AddAdminToken(const std::string& token_id,
                                         const std::string& token_hash,
                                         const std::string& role,
                                         const std::string& label,
                                         const std::string& created_by) {
  return Run(PoolKind::kWrite, "add admin token", CallContext(),
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (tx.exec_params(
              "INSERT INTO admin_tokens (token_id, token_hash, role, label,"
              "  created_by) VALUES ($1, $2, $3, $4, $5)"
              " ON CONFLICT DO NOTHING",
              token_id, token_hash, role, label, created_by)
            .affected_rows() == 0) {
      return absl::AlreadyExistsError(
          "an admin token with this id or hash is stored already");
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<AdminTokenRecord> PgIndexStore::FindAdminToken(
    const std::string& token_hash) {
  return Run(PoolKind::kRead, "find admin token", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<AdminTokenRecord> {
    pqxx::nontransaction tx(c);
    pqxx::result r = tx.exec_params(
        absl::StrCat("SELECT ", kTokenColumns,
                     " FROM admin_tokens WHERE token_hash = $1"),
        token_hash);
    if (r.empty()) return absl::NotFoundError("unknown admin token");
    return TokenFromRow(r[0]);
  });
}

absl::Status PgIndexStore::RevokeAdminToken(const std::string& token_id) {
  return Run(PoolKind::kWrite, "revoke admin token", CallContext(),
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (tx.exec_params("UPDATE admin_tokens SET revoked_at ="
                       " COALESCE(revoked_at, now()) WHERE token_id = $1",
                       token_id)
            .affected_rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("no admin token has id ", token_id));
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<AdminTokenRecord>> PgIndexStore::ListAdminTokens() {
  return Run(PoolKind::kRead, "list admin tokens", CallContext(),
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<AdminTokenRecord>> {
    pqxx::nontransaction tx(c);
    std::vector<AdminTokenRecord> out;
    for (const pqxx::row& row :
         tx.exec(absl::StrCat("SELECT ", kTokenColumns,
                              " FROM admin_tokens ORDER BY created_at,"
                              " token_id"))) {
      out.push_back(TokenFromRow(row));
    }
    return out;
  });
}

absl::Status PgIndexStore::WriteAudit(const AuditRecord& a) {
  return Run(PoolKind::kWrite, "write audit log", CallContext(),
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO audit_log (token_id, role, action, target, reason,"
        "  result) VALUES ($1, $2, $3, $4, $5, $6)",
        a.token_id, a.role, a.action, a.target, a.reason, a.result);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<admin::AuditEntry>> PgIndexStore::ReadAudit(
    int64_t before_id, int limit) {
  return Run(PoolKind::kRead, "read audit log", CallContext(),
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<admin::AuditEntry>> {
    pqxx::nontransaction tx(c);
    std::vector<admin::AuditEntry> out;
    for (const pqxx::row& row : tx.exec_params(
             "SELECT id, extract(epoch FROM at) * 1000, token_id, role,"
             " action, target, reason, result FROM audit_log"
             " WHERE $1::bigint = 0 OR id < $1::bigint"
             " ORDER BY id DESC LIMIT $2",
             before_id, limit)) {
      admin::AuditEntry e;
      e.set_id(row[0].as<int64_t>());
      e.set_time_ms(MillisOf(row[1]));
      e.set_token_id(row[2].as<std::string>());
      e.set_role(row[3].as<std::string>());
      e.set_action(row[4].as<std::string>());
      e.set_target(row[5].as<std::string>());
      e.set_reason(row[6].as<std::string>());
      e.set_result(row[7].as<std::string>());
      out.push_back(std::move(e));
    }
    return out;
  });
}

absl::StatusOr<int64_t> PgIndexStore::BanPeer(const std::string& peer_id,
                                              const std::string& reason,
                                              const std::string& by) {
  return Run(PoolKind::kWrite, "ban peer", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    TakeWriterTurn(tx);
    tx.exec_params(
        "INSERT INTO bans (peer_id, reason, created_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (peer_id) DO UPDATE SET reason = EXCLUDED.reason",
        peer_id, reason, by);
    // Its pages go whatever its peers row says.
    const int64_t removed =
        DeletePeers(tx, "peer_id = $1", peer_id).first +
        tx.exec_params1(
              "WITH d AS (DELETE FROM peer_pages WHERE peer_id = $1"
              " RETURNING cardinality(names) AS n)"
              " SELECT COALESCE(sum(n), 0)::bigint FROM d",
              peer_id)[0]
            .as<int64_t>();
    // Only a new full list (after an unban) brings the peer back.
    tx.exec_params(
        "UPDATE peer_chains SET withdrawn = true WHERE peer_id = $1", peer_id);
    auto change = std::make_shared<CatalogChange>();
    change->mutable_dropped_peers()->add_peer_ids(Raw(peer_id));
    const int64_t seq = AppendToLog(tx, *change);
    tx.commit();
    Committed(seq, std::move(change));
    return removed;
  });
}

absl::Status PgIndexStore::UnbanPeer(const std::string& peer_id) {
  return Run(PoolKind::kWrite, "unban peer", CallContext(),
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (tx.exec_params("DELETE FROM bans WHERE peer_id = $1", peer_id)
            .affected_rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("peer ", peer_id, " is not banned"));
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> PgIndexStore::TakeDown(const std::string& cid,
                                               const std::string& reason,
                                               const std::string& by) {
  return Run(PoolKind::kWrite, "take down", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    TakeWriterTurn(tx);
    tx.exec_params(
        "INSERT INTO takedowns (cid, reason, created_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (cid) DO UPDATE SET reason = EXCLUDED.reason",
        cid, reason, by);
    // No index finds a cid's pages: this reads every page (takedowns are
    // rare; Locate and search are served from memory).
    const std::string raw = Raw(cid);
    std::map<std::string, std::vector<PeerPage>> holding;
    CollectPages(tx.exec_params(absl::StrCat("SELECT ", kPageColumns,
                                             " FROM peer_pages p WHERE"
                                             " position($1::bytea IN p.cids) > 0"),
                                pqxx::binarystring(raw)),
                 &holding);
    int64_t removed = 0;
    std::vector<std::pair<std::string, PageEdit>> edits;
    for (auto& [peer, pages] : holding) {
      PageEdit edit = RemoveCidFromPages(std::move(pages), raw);
      removed += edit.removed;
      edits.emplace_back(peer, std::move(edit));
    }
    StorePageEdits(tx, edits);
    auto change = std::make_shared<CatalogChange>();
    change->mutable_dropped_cids()->set_cids(Raw(cid));
    const int64_t seq = AppendToLog(tx, *change);
    tx.commit();
    Committed(seq, std::move(change));
    return removed;
  });
}

absl::Status PgIndexStore::Restore(const std::string& cid) {
  return Run(PoolKind::kWrite, "restore", CallContext(),
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    if (tx.exec_params("DELETE FROM takedowns WHERE cid = $1", cid)
            .affected_rows() == 0) {
      return absl::NotFoundError(
          absl::StrCat("cid ", cid, " is not taken down"));
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<admin::Ban>> PgIndexStore::ListBans() {
  return Run(PoolKind::kRead, "list bans", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<std::vector<admin::Ban>> {
    pqxx::nontransaction tx(c);
    std::vector<admin::Ban> out;
    for (const pqxx::row& row :
         tx.exec("SELECT peer_id, reason, extract(epoch FROM created_at) * 1000,"
                 " created_by FROM bans ORDER BY created_at DESC, peer_id")) {
      admin::Ban b;
      b.set_peer_id(row[0].as<std::string>());
      b.set_reason(row[1].as<std::string>());
      b.set_created_ms(MillisOf(row[2]));
      b.set_created_by(row[3].as<std::string>());
      out.push_back(std::move(b));
    }
    return out;
  });
}

absl::StatusOr<std::vector<admin::Takedown>> PgIndexStore::ListTakedowns() {
  return Run(PoolKind::kRead, "list takedowns", CallContext(),
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<admin::Takedown>> {
    pqxx::nontransaction tx(c);
    std::vector<admin::Takedown> out;
    for (const pqxx::row& row :
         tx.exec("SELECT cid, reason, extract(epoch FROM created_at) * 1000,"
                 " created_by FROM takedowns ORDER BY created_at DESC, cid")) {
      admin::Takedown t;
      t.set_cid(row[0].as<std::string>());
      t.set_reason(row[1].as<std::string>());
      t.set_created_ms(MillisOf(row[2]));
      t.set_created_by(row[3].as<std::string>());
      out.push_back(std::move(t));
    }
    return out;
  });
}

absl::StatusOr<std::vector<admin::SupernodeStatus>>
PgIndexStore::ListSupernodeStatus() {
  return Run(PoolKind::kRead, "list supernodes", CallContext(),
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<admin::SupernodeStatus>> {
    pqxx::nontransaction tx(c);
    std::vector<admin::SupernodeStatus> out;
    for (const pqxx::row& row : tx.exec(
             "SELECT * FROM ("
             " SELECT s.supernode_id, s.address, s.leaf_count,"
             "  (SELECT count(*) FROM peers p"
             "   WHERE p.supernode_id = s.supernode_id),"
             "  extract(epoch FROM s.lease_expires) * 1000,"
             "  COALESCE(k.kind, ''), COALESCE(k.revoked_at IS NOT NULL, false),"
             "  s.upload_bytes_per_second, s.uptime_seconds, s.reachable,"
             "  s.free_memory_bytes, s.lease_expires > now() AS live"
             " FROM supernodes s"
             " LEFT JOIN supernode_keys k ON k.supernode_id = s.supernode_id"
             " UNION ALL"
             " SELECT k.supernode_id, '', 0, 0, NULL, k.kind,"
             "  k.revoked_at IS NOT NULL, 0, 0, false, 0, false"
             " FROM supernode_keys k WHERE NOT EXISTS"
             "  (SELECT 1 FROM supernodes s"
             "   WHERE s.supernode_id = k.supernode_id)) AS all_supernodes"
             " ORDER BY live DESC, leaf_count, supernode_id")) {
      admin::SupernodeStatus s;
      s.set_supernode_id(row[0].as<std::string>());
      s.set_address(row[1].as<std::string>());
      s.set_leaves(row[2].as<int>());
      s.set_peers(row[3].as<int64_t>());
      s.set_lease_expires_ms(MillisOf(row[4]));
      s.set_kind(row[5].as<std::string>());
      s.set_revoked(row[6].as<bool>());
      s.set_upload_bytes_per_second(row[7].as<int64_t>());
      s.set_uptime_seconds(row[8].as<int64_t>());
      s.set_reachable(row[9].as<bool>());
      s.set_free_memory_bytes(row[10].as<int64_t>());
      out.push_back(std::move(s));
    }
    return out;
  });
}

absl::StatusOr<std::vector<admin::PeerStatus>> PgIndexStore::ListPeerStatus(
    const std::string& id_prefix, int limit) {
  return Run(PoolKind::kRead, "list peers", CallContext(),
             [&](pqxx::connection& c)
                 -> absl::StatusOr<std::vector<admin::PeerStatus>> {
    pqxx::nontransaction tx(c);
    std::vector<admin::PeerStatus> out;
    for (const pqxx::row& row : tx.exec_params(
             "SELECT p.peer_id, p.address, p.supernode_id, n.complete,"
             "  n.partial, extract(epoch FROM p.last_seen) * 1000,"
             "  EXISTS (SELECT 1 FROM bans b WHERE b.peer_id = p.peer_id)"
             " FROM peers p LEFT JOIN LATERAL ("
             "  SELECT count(*) FILTER (WHERE NOT s.partial) AS complete,"
             "   count(*) FILTER (WHERE s.partial) AS partial"
             "  FROM sources s WHERE s.peer_id = p.peer_id) n ON true"
             " WHERE p.peer_id >= $1 AND p.peer_id < $1 || 'g'"
             " ORDER BY p.peer_id LIMIT $2",
             id_prefix, limit)) {
      admin::PeerStatus p;
      p.set_peer_id(row[0].as<std::string>());
      p.set_address(row[1].as<std::string>());
      p.set_supernode_id(row[2].as<std::string>());
      p.set_files(row[3].as<int64_t>());
      p.set_partial_files(row[4].as<int64_t>());
      p.set_last_seen_ms(MillisOf(row[5]));
      p.set_banned(row[6].as<bool>());
      out.push_back(std::move(p));
    }
    return out;
  });
}

absl::StatusOr<admin::StatsResponse> PgIndexStore::AdminStats() {
  return Run(PoolKind::kRead, "stats", CallContext(),
             [&](pqxx::connection& c) -> absl::StatusOr<admin::StatsResponse> {
    pqxx::read_transaction tx(c);
    pqxx::row row = tx.exec1(
        "SELECT (SELECT count(*) FROM supernodes WHERE lease_expires > now()),"
        " (SELECT count(DISTINCT peer_id) FROM sources),"
        " (SELECT count(DISTINCT cid) FROM sources),"
        " (SELECT count(*) FROM sources),"
        " (SELECT count(*) FROM bans), (SELECT count(*) FROM takedowns)");
    admin::StatsResponse s;
    s.set_supernodes(row[0].as<int64_t>());
    s.set_peers(row[1].as<int64_t>());
    s.set_files(row[2].as<int64_t>());
    s.set_sources(row[3].as<int64_t>());
    s.set_bans(row[4].as<int64_t>());
    s.set_takedowns(row[5].as<int64_t>());
    tx.commit();
    return s;
  });
}

namespace {

absl::Time FromMicros(const pqxx::field& f) {
  if (f.is_null()) return absl::InfinitePast();
  return absl::FromUnixMicros(f.as<int64_t>());
}

constexpr char kEpochMicros[] = "(extract(epoch from %s) * 1000000)::bigint";

std::string EpochMicros(absl::string_view column) {
  return absl::StrReplaceAll(kEpochMicros, {{"%s", column}});
}

}  // namespace

absl::StatusOr<PeerStanding> PgIndexStore::RecordPeerReport(
    const CapacityReport& report, absl::Duration reprobe_after,
    absl::Duration drain, const CallContext& call) {
  return Run(PoolKind::kLease, "record peer report", call,
             [&](pqxx::connection& c) -> absl::StatusOr<PeerStanding> {
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO peer_reports (peer_id, public_key, address,"
        "  upload_bytes_per_second, uptime_seconds, free_memory_bytes,"
        "  supernode_id, supernode_address, issued_at_ms)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        " ON CONFLICT (peer_id) DO UPDATE SET public_key = EXCLUDED.public_key,"
        "  address = EXCLUDED.address,"
        "  upload_bytes_per_second = EXCLUDED.upload_bytes_per_second,"
        "  uptime_seconds = EXCLUDED.uptime_seconds,"
        "  free_memory_bytes = EXCLUDED.free_memory_bytes,"
        "  supernode_id = EXCLUDED.supernode_id,"
        "  supernode_address = EXCLUDED.supernode_address,"
        "  issued_at_ms = EXCLUDED.issued_at_ms, reported_at = now()"
        " WHERE peer_reports.issued_at_ms < EXCLUDED.issued_at_ms",
        report.peer_id(), pqxx::binarystring(report.public_key()),
        report.address(), report.capacity().upload_bytes_per_second(),
        report.capacity().uptime_seconds(),
        report.capacity().free_memory_bytes(), report.supernode_id(),
        report.supernode_address(), report.issued_at_ms());
    pqxx::result r = tx.exec_params(
        "SELECT r.reachable AND r.probed_address = r.address,"
        "  r.probed_at IS NULL OR r.probed_address <> r.address"
        "   OR r.probed_at < now() - $2::bigint * interval '1 millisecond',"
        "  k.kind = 'promoted' AND k.revoked_at IS NULL,"
        "  (extract(epoch from now() - k.draining_since) * 1000)::bigint,"
        "  EXISTS (SELECT 1 FROM peers p JOIN supernode_keys j"
        "   ON j.supernode_id = p.supernode_id WHERE p.peer_id = r.peer_id"
        "   AND (j.draining_since IS NOT NULL OR j.revoked_at IS NOT NULL))"
        " FROM peer_reports r LEFT JOIN supernode_keys k"
        "  ON k.supernode_id = r.peer_id WHERE r.peer_id = $1",
        report.peer_id(), Millis(reprobe_after));
    PeerStanding standing;
    if (!r.empty()) {
      const pqxx::row row = r[0];
      standing.reachable = row[0].as<bool>();
      standing.needs_probe = row[1].as<bool>();
      const bool promoted = !row[2].is_null() && row[2].as<bool>();
      if (promoted && row[3].is_null()) {
        standing.promoted = true;
      } else if (promoted) {
        standing.draining = true;
        standing.drain_left = std::max(
            absl::ZeroDuration(),
            drain - absl::Milliseconds(row[3].as<int64_t>()));
      }
      standing.move = row[4].as<bool>();
    }
    tx.commit();
    return standing;
  });
}

absl::Status PgIndexStore::RecordReachability(const std::string& peer_id,
                                              const std::string& address,
                                              bool reachable) {
  return Run(PoolKind::kLease, "record reachability", CallContext(),
             [&](pqxx::connection& c) -> absl::Status {
    pqxx::work tx(c);
    tx.exec_params(
        "UPDATE peer_reports SET reachable = $3, probed_address = $2,"
        "  probed_at = now() WHERE peer_id = $1",
        peer_id, address, reachable);
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<ElectionRound> PgIndexStore::RunElectionRound(
    const std::function<ElectionDecision(const ElectionInput&)>& decide,
    absl::Duration forget_after) {
  absl::StatusOr<ElectionRound> round =
      Run(PoolKind::kWrite, "election round", CallContext(),
          [&](pqxx::connection& c) -> absl::StatusOr<ElectionRound> {
    pqxx::work tx(c);
    ElectionRound out;
    if (!tx.exec_params("SELECT pg_try_advisory_xact_lock($1)",
                        kElectionLockKey)[0][0]
             .as<bool>()) {
      return out;
    }
    out.ran = true;
    tx.exec_params(
        "DELETE FROM peer_reports"
        " WHERE reported_at < now() - $1::bigint * interval '1 millisecond'",
        Millis(forget_after));
    ElectionInput in;
    in.now = FromMicros(tx.exec("SELECT " + EpochMicros("now()"))[0][0]);
    for (const pqxx::row& row : tx.exec(
             "SELECT r.peer_id, r.upload_bytes_per_second, r.uptime_seconds,"
             "  r.reachable AND r.probed_address = r.address,"
             "  r.free_memory_bytes, " + EpochMicros("r.reported_at") + ","
             "  EXISTS (SELECT 1 FROM supernode_keys k"
             "   WHERE k.supernode_id = r.peer_id AND k.kind = 'enrolled'"
             "   AND k.revoked_at IS NOT NULL)"
             "  OR EXISTS (SELECT 1 FROM bans b WHERE b.peer_id = r.peer_id)"
             " FROM peer_reports r")) {
      PeerReport p;
      p.peer_id = row[0].as<std::string>();
      p.upload_bytes_per_second = row[1].as<int64_t>();
      p.uptime = absl::Seconds(row[2].as<int64_t>());
      p.reachable = row[3].as<bool>();
      p.free_memory_bytes = row[4].as<int64_t>();
      p.reported_at = FromMicros(row[5]);
      p.banned = row[6].as<bool>();
      in.peers.push_back(std::move(p));
    }
    for (const pqxx::row& row : tx.exec(
             "SELECT k.supernode_id, k.kind = 'enrolled' OR k.permanent,"
             "  COALESCE(s.lease_expires > now(), false),"
             "  COALESCE(s.leaf_count, 0), " + EpochMicros("k.created_at") + ","
             "  " + EpochMicros("k.draining_since") +
             " FROM supernode_keys k LEFT JOIN supernodes s"
             "  ON s.supernode_id = k.supernode_id"
             " WHERE k.revoked_at IS NULL")) {
      SupernodeRecord sn;
      sn.supernode_id = row[0].as<std::string>();
      sn.permanent = row[1].as<bool>();
      sn.live = row[2].as<bool>();
      sn.leaf_count = row[3].as<int>();
      sn.since = FromMicros(row[4]);
      sn.draining_since = FromMicros(row[5]);
      in.supernodes.push_back(std::move(sn));
    }
    out.decision = decide(in);
    // Each key whose role changed leaves an event for the supernode map.
    if (!out.decision.promote.empty()) {
      tx.exec_params(
          "WITH p AS (INSERT INTO supernode_keys (supernode_id, public_key,"
          "  kind, permanent, enrolled_by)"
          " SELECT peer_id, public_key, 'promoted', false, 'election'"
          "  FROM peer_reports WHERE peer_id = ANY($1::text[])"
          " ON CONFLICT (supernode_id) DO UPDATE SET kind = 'promoted',"
          "  permanent = false, revoked_at = NULL, draining_since = NULL,"
          "  enrolled_by = 'election', created_at = now()"
          " WHERE supernode_keys.kind = 'promoted'"
          " RETURNING supernode_id)"
          " INSERT INTO election_events (event, supernode_id)"
          " SELECT 'promoted', supernode_id FROM p",
          PgTextArray(out.decision.promote));
    }
    if (!out.decision.demote.empty()) {
      tx.exec_params(
          "WITH d AS (UPDATE supernode_keys SET draining_since = now()"
          " WHERE supernode_id = ANY($1::text[]) AND kind = 'promoted'"
          " AND draining_since IS NULL RETURNING supernode_id)"
          " INSERT INTO election_events (event, supernode_id)"
          " SELECT 'demoted', supernode_id FROM d",
          PgTextArray(out.decision.demote));
    }
    tx.exec_params(
        "DELETE FROM election_events WHERE id <="
        " (SELECT max(id) FROM election_events) - $1",
        kElectionEventsKept);
    tx.commit();
    return out;
  });
  if (!round.ok()) return round;
  for (const std::string& id : round->decision.retire) {
    absl::Status s = RevokeSupernodeKey(id, "election");
    if (!s.ok() && !absl::IsNotFound(s)) return s;
  }
  return round;
}

absl::StatusOr<SupernodeMapView> PgIndexStore::ReadSupernodeMap(
    int role_limit, int event_limit, const CallContext& call) {
  return Run(PoolKind::kRead, "read the supernode map", call,
             [&](pqxx::connection& c) -> absl::StatusOr<SupernodeMapView> {
    pqxx::read_transaction tx(c);
    SupernodeMapView out;
    for (const pqxx::row& row : tx.exec_params(
             "SELECT supernode_id,"
             "  CASE WHEN draining_since IS NOT NULL THEN 'draining'"
             "   WHEN kind = 'enrolled' OR permanent THEN 'enrolled'"
             "   ELSE 'promoted' END, " + EpochMicros("created_at") + ", " +
             EpochMicros("draining_since") +
             " FROM supernode_keys WHERE revoked_at IS NULL"
             " ORDER BY created_at DESC, supernode_id LIMIT $1",
             std::max(0, role_limit))) {
      SupernodeRole r;
      r.supernode_id = row[0].as<std::string>();
      r.role = row[1].as<std::string>();
      r.since = FromMicros(row[2]);
      r.draining_since = FromMicros(row[3]);
      out.roles.push_back(std::move(r));
    }
    for (const pqxx::row& row : tx.exec_params(
             "SELECT id, " + EpochMicros("at") + ", event, supernode_id"
             " FROM election_events ORDER BY id DESC LIMIT $1",
             std::max(0, event_limit))) {
      ElectionEvent e;
      e.id = row[0].as<int64_t>();
      e.at = FromMicros(row[1]);
      e.event = row[2].as<std::string>();
      e.supernode_id = row[3].as<std::string>();
      out.events.push_back(std::move(e));
    }
    tx.commit();
    return out;
  });
}

}  // namespace index_server
}  // namespace trove
