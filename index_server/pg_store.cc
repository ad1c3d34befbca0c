#include "index_server/pg_store.h"

#include <algorithm>
#include <exception>
#include <map>
#include <set>
#include <tuple>
#include <type_traits>
#include <utility>

#include <pqxx/pqxx>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/validation.h"
#include "index_server/delta_fold.h"
#include "index_server/migrations.h"
#include "index_server/text_norm.h"

namespace trove {
namespace index_server {

// ---------------------------------------------------------------------------
// Connection pool

// Up to `size` open connections, lent one at a time. Connections are made
// lazily and configured with `setup` statements. Borrow and Connect throw
// libpqxx exceptions (PgIndexStore::Run catches them). Thread-safe.
class PgConnectionPool {
 public:
  PgConnectionPool(std::string dsn, int size, std::vector<std::string> setup)
      : dsn_(std::move(dsn)), size_(std::max(1, size)), setup_(std::move(setup)) {}

  // Waits for a free slot and returns an open connection.
  std::unique_ptr<pqxx::connection> Borrow() {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &PgConnectionPool::HasFreeSlot));
      ++lent_;
      if (!idle_.empty()) {
        std::unique_ptr<pqxx::connection> c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
    }
    try {
      return Connect();
    } catch (...) {
      absl::MutexLock lock(&mu_);
      --lent_;
      throw;
    }
  }

  // Gives a borrowed connection back; nullptr when it was dropped (broken,
  // or in an unknown state after an error).
  void Return(std::unique_ptr<pqxx::connection> c) {
    absl::MutexLock lock(&mu_);
    --lent_;
    if (c != nullptr) idle_.push_back(std::move(c));
  }

  // A new connection outside the pool (for the migration lock).
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
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int lent_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace {

// Advisory lock keys (any constants unique to Trove).
constexpr int64_t kMigrationLockKey = 0x54726f7665000001;  // "Trove" 1
constexpr int64_t kExpiryLockKey = 0x54726f7665000002;     // "Trove" 2

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

std::string QuoteArrayElement(absl::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string PgBigintArray(const std::vector<int64_t>& values) {
  return absl::StrCat("{", absl::StrJoin(values, ","), "}");
}

// Statement parameters collected while building SQL: Add returns "$n".
class Params {
 public:
  std::string Add(std::string value) {
    values_.push_back(std::move(value));
    return absl::StrCat("$", values_.size());
  }
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::vector<std::string> values_;
};

// A duration as whole milliseconds for "now() + $n * interval '1 ms'".
std::string Millis(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Milliseconds(d));
}

}  // namespace

std::string PgTextArray(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += QuoteArrayElement(values[i]);
  }
  out += '}';
  return out;
}

// ---------------------------------------------------------------------------
// PgIndexStore

template <typename Fn>
auto PgIndexStore::Run(absl::string_view what, Fn&& fn) {
  using Result = std::invoke_result_t<Fn&, pqxx::connection&>;
  absl::Status failure;
  for (int attempt = 0; attempt <= options_.max_retries; ++attempt) {
    std::unique_ptr<pqxx::connection> conn;
    bool retry = false;
    try {
      conn = pool_->Borrow();
      Result result = fn(*conn);
      pool_->Return(std::move(conn));
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
    } catch (const std::exception& e) {
      failure = absl::InternalError(Describe(e));
    }
    // The connection may be mid-transaction or broken: drop it.
    if (conn != nullptr) pool_->Return(nullptr);
    if (!retry) break;
  }
  return Result(absl::Status(failure.code(),
                             absl::StrCat(what, ": ", failure.message())));
}

PgIndexStore::PgIndexStore(const PgStoreOptions& options,
                           std::unique_ptr<PgConnectionPool> pool)
    : options_(options), pool_(std::move(pool)) {}

PgIndexStore::~PgIndexStore() = default;

absl::StatusOr<std::unique_ptr<PgIndexStore>> PgIndexStore::Connect(
    const PgStoreOptions& options) {
  std::vector<std::string> setup = {
      "SET client_min_messages = warning",
      absl::StrCat("SET statement_timeout = ",
                   absl::ToInt64Milliseconds(options.statement_timeout)),
      // A placeholder until pg_trgm loads in the session, which adopts it.
      absl::StrCat("SET pg_trgm.word_similarity_threshold = ",
                   options.word_similarity_threshold),
  };
  auto pool = std::make_unique<PgConnectionPool>(options.dsn, options.pool_size,
                                                 std::move(setup));
  auto store =
      absl::WrapUnique(new PgIndexStore(options, std::move(pool)));
  absl::Status reachable = store->Run(
      "connect", [](pqxx::connection&) { return absl::OkStatus(); });
  if (!reachable.ok()) return reachable;
  return store;
}

absl::StatusOr<int> PgIndexStore::Migrate() {
  ASSIGN_OR_RETURN(std::vector<Migration> migrations,
                   OrderMigrations(EmbeddedMigrationFiles()));
  return Run("migrate", [&](pqxx::connection& c) -> absl::StatusOr<int> {
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

absl::Status PgIndexStore::RegisterSupernode(const SupernodeRegistration& reg,
                                             absl::Duration lease) {
  return Run("register supernode", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    // Waits for this supernode's batches in flight (they hold the row FOR
    // KEY SHARE).
    tx.exec_params(
        "SELECT 1 FROM supernodes WHERE supernode_id = $1 FOR UPDATE",
        reg.supernode_id);
    // A registration starts the supernode afresh: whatever it published
    // before goes, whether its lease ended or not (a supernode that
    // restarted within its lease no longer has those leaves, or will hear
    // from them again). It sends every leaf's full list after registering.
    tx.exec_params("DELETE FROM sources WHERE supernode_id = $1",
                   reg.supernode_id);
    tx.exec_params("DELETE FROM peers WHERE supernode_id = $1",
                   reg.supernode_id);
    const Capacity& cap = reg.capacity;
    tx.exec_params(
        "INSERT INTO supernodes (supernode_id, address, lease_expires,"
        "  upload_bytes_per_second, uptime_seconds, reachable,"
        "  free_memory_bytes)"
        " VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond',"
        "  $4, $5, $6, $7)"
        " ON CONFLICT (supernode_id) DO UPDATE SET"
        "  address = EXCLUDED.address,"
        "  lease_expires = EXCLUDED.lease_expires,"
        "  upload_bytes_per_second = EXCLUDED.upload_bytes_per_second,"
        "  uptime_seconds = EXCLUDED.uptime_seconds,"
        "  reachable = EXCLUDED.reachable,"
        "  free_memory_bytes = EXCLUDED.free_memory_bytes,"
        "  renewed_at = now()",
        reg.supernode_id, reg.address, Millis(lease),
        cap.upload_bytes_per_second(), cap.uptime_seconds(), cap.reachable(),
        cap.free_memory_bytes());
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status PgIndexStore::RenewLease(const std::string& supernode_id,
                                      int32_t leaf_count, absl::Duration lease) {
  return Run("renew lease", [&](pqxx::connection& c) {
    pqxx::work tx(c);
    pqxx::result r = tx.exec_params(
        "UPDATE supernodes SET"
        "  lease_expires = now() + $2::bigint * interval '1 millisecond',"
        "  leaf_count = $3, renewed_at = now()"
        " WHERE supernode_id = $1 AND lease_expires > now()",
        supernode_id, Millis(lease), leaf_count);
    if (r.affected_rows() == 0) {
      return absl::NotFoundError(absl::StrCat(
          "supernode ", supernode_id,
          " holds no live lease; register and publish again"));
    }
    tx.commit();
    return absl::OkStatus();
  });
}

namespace {

// The statement parameters of one batch, built from its folded changes
// minus the peers whose changes are stale (see ApplyDeltas).
struct BatchArrays {
  // Peers that left (their rows under the sending supernode go).
  std::vector<std::string> gone_peers;
  // Peers whose stored sources are replaced by what the batch announces.
  std::vector<std::string> replace_peers;
  // Peers still here, and their addresses.
  std::vector<std::string> live_peers, live_addresses;
  // (cid, peer) pairs to withdraw.
  std::vector<std::string> rm_cids, rm_peers;
  // Sources to store, sorted by (cid, peer).
  std::vector<std::string> up_cids, up_peers, up_addresses, up_names,
      up_norms, up_exts, up_partial;
  // Files to create or touch, sorted by cid.
  std::vector<std::string> file_cids;
  std::vector<int64_t> file_sizes;
};

BatchArrays BuildBatchArrays(const std::vector<PeerChange>& changes,
                             const std::set<std::string>& stale) {
  BatchArrays out;
  struct Upsert {
    const FileEntry* entry;
    const PeerChange* peer;
    bool partial;
  };
  std::vector<Upsert> upserts;
  std::map<std::string, int64_t> file_sizes;
  for (const PeerChange& change : changes) {
    if (change.gone) {
      out.gone_peers.push_back(change.peer_id);
      continue;
    }
    if (stale.count(change.peer_id)) continue;
    out.live_peers.push_back(change.peer_id);
    out.live_addresses.push_back(change.address);
    if (change.replace) out.replace_peers.push_back(change.peer_id);
    for (const std::string& cid : change.removals) {
      out.rm_peers.push_back(change.peer_id);
      out.rm_cids.push_back(cid);
    }
    for (const FileEntry& entry : change.upserts) {
      upserts.push_back({&entry, &change, false});
      file_sizes.emplace(entry.cid(), entry.size());
    }
    for (const FileEntry& entry : change.partials) {
      upserts.push_back({&entry, &change, true});
      file_sizes.emplace(entry.cid(), entry.size());
    }
  }
  std::sort(upserts.begin(), upserts.end(),
            [](const Upsert& a, const Upsert& b) {
              return std::tie(a.entry->cid(), a.peer->peer_id) <
                     std::tie(b.entry->cid(), b.peer->peer_id);
            });
  for (const Upsert& u : upserts) {
    out.up_cids.push_back(u.entry->cid());
    out.up_peers.push_back(u.peer->peer_id);
    out.up_addresses.push_back(u.peer->address);
    out.up_names.push_back(u.entry->name());
    out.up_norms.push_back(NormalizeName(u.entry->name()));
    out.up_exts.push_back(FileExtension(u.entry->name()));
    out.up_partial.push_back(u.partial ? "true" : "false");
  }
  for (const auto& [cid, size] : file_sizes) {
    out.file_cids.push_back(cid);
    out.file_sizes.push_back(size);
  }
  return out;
}

}  // namespace

absl::StatusOr<index::PublishDeltasResponse> PgIndexStore::ApplyDeltas(
    const index::PublishDeltasRequest& request) {
  std::vector<PeerChange> changes = FoldDeltas(request.deltas());
  // Everything is sorted by key so that concurrent batches lock rows in
  // the same order.
  std::sort(changes.begin(), changes.end(),
            [](const PeerChange& a, const PeerChange& b) {
              return a.peer_id < b.peer_id;
            });
  // Peers whose changes are plain deltas (no full list): only those may
  // turn out stale.
  std::vector<std::string> delta_peers;
  for (const PeerChange& change : changes) {
    if (!change.gone && !change.replace) delta_peers.push_back(change.peer_id);
  }
  const std::string& sn = request.supernode_id();

  return Run("publish deltas", [&](pqxx::connection& c)
                                   -> absl::StatusOr<index::PublishDeltasResponse> {
    pqxx::work tx(c);
    // KEY SHARE: concurrent renewals proceed; expiry and re-registration
    // wait for this batch.
    if (tx.exec_params("SELECT 1 FROM supernodes WHERE supernode_id = $1"
                       " AND lease_expires > now() FOR KEY SHARE",
                       sn)
            .empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "supernode ", sn, " holds no live lease; register first"));
    }
    // A peer belongs to the supernode that last sent its full list. Plain
    // deltas from another supernode while that one holds a live lease are
    // stale (sent late by the supernode the peer left) and are skipped, so
    // they cannot pull the peer back. The peers rows stay locked until
    // commit, so a concurrent takeover is seen here or waits.
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
    const BatchArrays batch = BuildBatchArrays(changes, stale);
    int64_t removed = 0;
    int64_t added = 0;
    if (!batch.gone_peers.empty()) {
      // Only what this supernode published goes: a peer that moved to
      // another supernode keeps what it published there.
      removed += tx.exec_params(
                       "DELETE FROM sources WHERE peer_id = ANY($1::text[])"
                       " AND supernode_id = $2",
                       PgTextArray(batch.gone_peers), sn)
                     .affected_rows();
      tx.exec_params(
          "DELETE FROM peers WHERE peer_id = ANY($1::text[])"
          " AND supernode_id = $2",
          PgTextArray(batch.gone_peers), sn);
    }
    if (!batch.replace_peers.empty()) {
      // Replaced peers keep only what they re-announce, whichever
      // supernode published it before.
      removed += tx.exec_params(
                       "DELETE FROM sources s"
                       " WHERE s.peer_id = ANY($1::text[])"
                       " AND NOT EXISTS (SELECT 1 FROM unnest($2::text[],"
                       "   $3::text[]) AS k(cid, peer_id)"
                       "   WHERE k.cid = s.cid AND k.peer_id = s.peer_id)",
                       PgTextArray(batch.replace_peers),
                       PgTextArray(batch.up_cids), PgTextArray(batch.up_peers))
                     .affected_rows();
    }
    if (!batch.rm_cids.empty()) {
      removed += tx.exec_params(
                       "DELETE FROM sources s"
                       " USING unnest($1::text[], $2::text[]) AS r(cid, peer_id)"
                       " WHERE s.cid = r.cid AND s.peer_id = r.peer_id",
                       PgTextArray(batch.rm_cids),
                       PgTextArray(batch.rm_peers))
                     .affected_rows();
    }
    if (!batch.live_peers.empty()) {
      tx.exec_params(
          "INSERT INTO peers (peer_id, address, supernode_id, last_seen)"
          " SELECT u.peer_id, u.address, $3, now()"
          " FROM unnest($1::text[], $2::text[]) AS u(peer_id, address)"
          " ON CONFLICT (peer_id) DO UPDATE SET address = EXCLUDED.address,"
          "  supernode_id = EXCLUDED.supernode_id,"
          "  last_seen = EXCLUDED.last_seen",
          PgTextArray(batch.live_peers), PgTextArray(batch.live_addresses),
          sn);
      // A peer that moved here, or changed address, takes all its sources.
      tx.exec_params(
          "UPDATE sources s SET supernode_id = $3, address = u.address"
          " FROM unnest($1::text[], $2::text[]) AS u(peer_id, address)"
          " WHERE s.peer_id = u.peer_id"
          " AND (s.supernode_id <> $3 OR s.address <> u.address)",
          PgTextArray(batch.live_peers), PgTextArray(batch.live_addresses),
          sn);
    }
    if (!batch.file_cids.empty()) {
      tx.exec_params(
          "INSERT INTO files (cid, size)"
          " SELECT u.cid, u.size FROM unnest($1::text[], $2::bigint[])"
          "  AS u(cid, size) ORDER BY u.cid"
          " ON CONFLICT (cid) DO UPDATE SET last_seen = now()",
          PgTextArray(batch.file_cids), PgBigintArray(batch.file_sizes));
      added += tx.exec_params(
                     "INSERT INTO sources (cid, peer_id, supernode_id, address,"
                     "  name, norm_name, ext, partial)"
                     " SELECT u.cid, u.peer_id, $7, u.address, u.name,"
                     "  lower(u.norm_name), lower(u.ext), u.partial"
                     " FROM unnest($1::text[], $2::text[], $3::text[],"
                     "  $4::text[], $5::text[], $6::text[], $8::boolean[])"
                     "  AS u(cid, peer_id, address, name, norm_name, ext,"
                     "   partial)"
                     " ON CONFLICT (cid, peer_id) DO UPDATE SET"
                     "  supernode_id = EXCLUDED.supernode_id,"
                     "  address = EXCLUDED.address, name = EXCLUDED.name,"
                     "  norm_name = EXCLUDED.norm_name, ext = EXCLUDED.ext,"
                     "  partial = EXCLUDED.partial, updated_at = now()"
                     " WHERE (sources.name, sources.partial)"
                     "  IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.partial)",
                     PgTextArray(batch.up_cids), PgTextArray(batch.up_peers),
                     PgTextArray(batch.up_addresses),
                     PgTextArray(batch.up_names), PgTextArray(batch.up_norms),
                     PgTextArray(batch.up_exts), sn,
                     absl::StrCat("{", absl::StrJoin(batch.up_partial, ","),
                                  "}"))
                   .affected_rows();
    }
    tx.commit();
    index::PublishDeltasResponse response;
    response.set_sources_added(added);
    response.set_sources_removed(removed);
    return response;
  });
}

absl::StatusOr<std::vector<SearchHit>> PgIndexStore::Search(
    const SearchQuery& query, int limit) {
  std::vector<std::string> words = QueryWords(query.text());
  if (words.empty()) {
    return absl::InvalidArgumentError(
        "search query has no letter or digit to search for");
  }
  if (words.size() > kMaxQueryWords) {
    return absl::InvalidArgumentError(
        absl::StrCat("search query has ", words.size(),
                     " words; the limit is ", kMaxQueryWords));
  }
  Params p;
  const std::string q = p.Add(absl::StrJoin(words, " "));
  std::string match, exact;
  for (const std::string& w : words) {
    const std::string like = p.Add(absl::StrCat("%", w, "%"));
    const std::string prefix = p.Add(absl::StrCat("'", w, "':*"));
    std::string any = absl::StrCat(
        "s.norm_name LIKE lower(", like, ")",
        " OR to_tsvector('simple'::regconfig, s.norm_name) @@"
        " to_tsquery('simple'::regconfig, lower(",
        prefix, "))");
    if (static_cast<int>(w.size()) >= options_.min_fuzzy_word_length) {
      absl::StrAppend(&any, " OR lower(", p.Add(w), ") <% s.norm_name");
    }
    absl::StrAppend(&match, " AND (", any, ")");
    absl::StrAppend(&exact, exact.empty() ? "" : " AND ",
                    "s.norm_name LIKE lower(", like, ")");
  }
  if (query.extensions_size() > 0) {
    std::vector<std::string> exts;
    for (const std::string& e : query.extensions()) {
      exts.push_back(absl::AsciiStrToLower(e));
    }
    absl::StrAppend(&match, " AND s.ext = ANY(lower(", p.Add(PgTextArray(exts)),
                    ")::text[])");
  }
  std::string size_filter;
  if (query.min_size() > 0) {
    absl::StrAppend(&size_filter, " AND f.size >= ",
                    p.Add(absl::StrCat(query.min_size())), "::bigint");
  }
  if (query.max_size() > 0) {
    absl::StrAppend(&size_filter, " AND f.size <= ",
                    p.Add(absl::StrCat(query.max_size())), "::bigint");
  }
  const std::string lim = p.Add(absl::StrCat(limit));
  const std::string sql = absl::StrCat(
      "WITH matched AS ("
      "  SELECT s.cid, s.name, s.norm_name, (", exact, ") AS exact"
      "  FROM sources s JOIN supernodes sn ON sn.supernode_id = s.supernode_id"
      "  WHERE NOT s.partial AND sn.lease_expires > now()", match,
      "), hits AS ("
      "  SELECT m.cid, f.size, bool_or(m.exact) AS exact,"
      "   max(similarity(lower(", q, "), m.norm_name)) AS sim"
      "  FROM matched m JOIN files f ON f.cid = m.cid"
      "  WHERE true", size_filter,
      "  GROUP BY m.cid, f.size"
      "), ranked AS ("
      "  SELECT h.cid, h.size, h.exact, h.sim,"
      "   (SELECT count(*) FROM sources s2 JOIN supernodes sn2"
      "     ON sn2.supernode_id = s2.supernode_id"
      "    WHERE s2.cid = h.cid AND NOT s2.partial"
      "     AND sn2.lease_expires > now()) AS n"
      "  FROM hits h"
      "  ORDER BY h.exact DESC, n DESC, h.sim DESC, h.cid"
      "  LIMIT ", lim, "::bigint"
      ")"
      " SELECT r.cid, r.size, r.n,"
      "  (SELECT m.name FROM matched m WHERE m.cid = r.cid GROUP BY m.name"
      "   ORDER BY count(*) DESC, bool_or(m.exact) DESC, m.name LIMIT 1)"
      " FROM ranked r ORDER BY r.exact DESC, r.n DESC, r.sim DESC, r.cid");
  return Run("search", [&](pqxx::connection& c)
                           -> absl::StatusOr<std::vector<SearchHit>> {
    pqxx::read_transaction tx(c);
    pqxx::result r =
        tx.exec_params(sql, pqxx::prepare::make_dynamic_params(p.values()));
    std::vector<SearchHit> hits;
    hits.reserve(r.size());
    for (const pqxx::row& row : r) {
      SearchHit hit;
      hit.set_cid(row[0].as<std::string>());
      hit.set_size(row[1].as<int64_t>());
      hit.set_source_count(static_cast<int32_t>(row[2].as<int64_t>()));
      hit.set_name(row[3].as<std::string>());
      hits.push_back(std::move(hit));
    }
    tx.commit();
    return hits;
  });
}

absl::StatusOr<index::LocateResponse> PgIndexStore::Locate(
    const std::string& cid, int limit) {
  return Run("locate", [&](pqxx::connection& c)
                           -> absl::StatusOr<index::LocateResponse> {
    pqxx::read_transaction tx(c);
    pqxx::result file =
        tx.exec_params("SELECT size FROM files WHERE cid = $1", cid);
    pqxx::result sources = tx.exec_params(
        "SELECT s.peer_id, s.address, s.partial FROM sources s"
        " JOIN supernodes sn ON sn.supernode_id = s.supernode_id"
        " WHERE s.cid = $1 AND sn.lease_expires > now()"
        " ORDER BY s.partial, s.updated_at DESC, s.peer_id LIMIT $2",
        cid, limit);
    if (file.empty() || sources.empty()) {
      return absl::NotFoundError(
          absl::StrCat("no live source has cid ", cid));
    }
    pqxx::result name = tx.exec_params(
        "SELECT s.name FROM sources s"
        " JOIN supernodes sn ON sn.supernode_id = s.supernode_id"
        " WHERE s.cid = $1 AND sn.lease_expires > now()"
        " GROUP BY s.name"
        " ORDER BY count(*) FILTER (WHERE NOT s.partial) DESC,"
        "  count(*) DESC, s.name LIMIT 1",
        cid);
    index::LocateResponse response;
    response.set_size(file[0][0].as<int64_t>());
    if (!name.empty()) response.set_name(name[0][0].as<std::string>());
    for (const pqxx::row& row : sources) {
      Source* source = response.add_sources();
      source->set_peer_id(row[0].as<std::string>());
      source->set_address(row[1].as<std::string>());
      source->set_partial(row[2].as<bool>());
    }
    tx.commit();
    return response;
  });
}

absl::StatusOr<std::vector<index::SupernodeInfo>> PgIndexStore::LiveSupernodes(
    int limit) {
  return Run("list supernodes", [&](pqxx::connection& c)
                                    -> absl::StatusOr<std::vector<index::SupernodeInfo>> {
    pqxx::read_transaction tx(c);
    pqxx::result r = tx.exec_params(
        "SELECT supernode_id, address, leaf_count FROM supernodes"
        " WHERE lease_expires > now()"
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
  return Run("expire supernodes", [&](pqxx::connection& c)
                                      -> absl::StatusOr<ExpiryStats> {
    pqxx::work tx(c);
    ExpiryStats stats;
    // One replica at a time; the others skip this round.
    if (!tx.exec_params("SELECT pg_try_advisory_xact_lock($1)", kExpiryLockKey)[0][0]
             .as<bool>()) {
      return stats;
    }
    stats.ran = true;
    // Deleting the supernode rows first waits for batches that hold them
    // (FOR KEY SHARE); the deletes below then see those batches' rows.
    pqxx::result dead = tx.exec(
        "DELETE FROM supernodes WHERE lease_expires <= now()"
        " RETURNING supernode_id");
    stats.supernodes = dead.size();
    if (!dead.empty()) {
      std::vector<std::string> ids;
      for (const pqxx::row& row : dead) ids.push_back(row[0].as<std::string>());
      const std::string array = PgTextArray(ids);
      stats.sources = tx.exec_params(
                            "DELETE FROM sources WHERE supernode_id = ANY($1::text[])",
                            array)
                          .affected_rows();
      stats.peers = tx.exec_params(
                          "DELETE FROM peers WHERE supernode_id = ANY($1::text[])",
                          array)
                        .affected_rows();
    }
    tx.commit();
    return stats;
  });
}

absl::StatusOr<int64_t> PgIndexStore::DeleteOrphanFiles(absl::Duration min_age) {
  return Run("delete orphan files", [&](pqxx::connection& c)
                                        -> absl::StatusOr<int64_t> {
    pqxx::work tx(c);
    // last_seen is re-checked on rows a concurrent announcement updated,
    // so a file being announced right now is never deleted.
    int64_t n = tx.exec_params(
                      "DELETE FROM files f"
                      " WHERE f.last_seen < now() - $1::bigint * interval '1 millisecond'"
                      " AND NOT EXISTS (SELECT 1 FROM sources s WHERE s.cid = f.cid)",
                      Millis(min_age))
                    .affected_rows();
    tx.commit();
    return n;
  });
}

}  // namespace index_server
}  // namespace trove
