// search_bench: Trove's search and ingest against PostgreSQL, in one run,
// on one generated catalog. Run it through bench/search_bench, which starts
// the PostgreSQL it needs and builds the binaries.
//
// In order:
//   1. A catalog (bench/catalog_gen.h) is COPYed into a fresh database with
//      Trove's schema; a copy of that database is kept for the COPY ingest
//      baseline; a third database holds the same sources with the GIN
//      indexes a user would add for pg_trgm and full-text search.
//   2. index_server starts on it: time until it answers searches, memory.
//   3. Each query shape (a word, part of a word, a misspelling, two words
//      with a kind filter) for --seconds with --clients concurrent clients:
//      at the index over gRPC, through a supernode over gRPC, and as SQL
//      straight to PostgreSQL. Queries per second, p50 and p99.
//   4. Locate over gRPC, at the index and through the supernode, against a
//      point lookup by cid in PostgreSQL (on the table of one row per
//      source: Trove's own schema has no index by cid).
// The gRPC clients are driven from one thread on a completion queue (each
// connection with one call in flight); PostgreSQL's from one thread per
// connection (one query in flight each). --phases picks measurements.
//   5. Ingest: new files from new leaves through IndexService (acknowledged
//      = committed in PostgreSQL, which runs with fsync on), against COPY of
//      the same rows into the copy of the database.
//   6. index_server's memory after ingest.
#include <grpcpp/grpcpp.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <pqxx/pqxx>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/catalog_gen.h"
#include "bench/proc_figures.h"
#include "common/search/kinds.h"
#include "common/search/text.h"
#include "common/validation.h"
#include "index_server/pg_store.h"
#include "protos/index.grpc.pb.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/process.h"
#include "tests/testing/postgres.h"

ABSL_FLAG(std::string, pg_dsn, "",
          "superuser DSN of a running PostgreSQL (databases are made there)");
ABSL_FLAG(std::string, work_dir, "", "folder for logs and ready files");
ABSL_FLAG(std::string, index_server, "", "path of the index_server binary");
ABSL_FLAG(std::string, supernode, "", "path of the supernode binary");
ABSL_FLAG(int64_t, files, 1000000, "files in the catalog");
ABSL_FLAG(int64_t, peers, 100000, "peers sharing them");
ABSL_FLAG(int64_t, sources, 2500000, "about this many sources");
ABSL_FLAG(int, supernodes, 100, "supernodes holding the peers");
ABSL_FLAG(int64_t, ingest_files, 1000000, "files ingested afterwards");
ABSL_FLAG(int64_t, ingest_leaves, 10000, "new leaves publishing them");
ABSL_FLAG(int, ingest_supernodes, 8, "supernodes forwarding those leaves");
ABSL_FLAG(int, ingest_batch_files, 25000, "most files per PublishDeltas");
ABSL_FLAG(int, clients, 4, "concurrent clients");
ABSL_FLAG(int, seconds, 10, "seconds per measurement");
ABSL_FLAG(int, queries, 2000, "distinct queries per shape");
ABSL_FLAG(uint64_t, seed, 1, "seed of the generated catalog and queries");
ABSL_FLAG(int, locate_batch, 100,
          "cids per LocateMany call (and per = ANY($1) statement) in the "
          "batched Locate rows; 0 leaves those rows out");
ABSL_FLAG(std::string, phases, "search,locate,ingest",
          "which measurements to run, comma-separated: search, locate, ingest");

namespace trove {
namespace bench {
namespace {

using testutil::ChildProcess;

void Say(const std::string& line) {
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return absl::StrCat(a, " ", b, " ", c);
}

// VmRSS and VmHWM of `pid`, in MiB.
std::pair<double, double> MemoryMiB(pid_t pid) {
  const ProcFigures f = ReadProcFigures(pid);
  return {f.rss_kib / 1024.0, f.hwm_kib / 1024.0};
}

// The CPU that groups of processes used over one measurement, per call.
class CpuPerCall {
 public:
  // `groups`: a label and the processes it sums. A process given as its
  // negative pid stands for its whole tree (TreeCpuSeconds).
  explicit CpuPerCall(std::vector<std::pair<std::string, std::vector<pid_t>>> groups)
      : groups_(std::move(groups)), start_(Now()) {}
  // "CPU per call: index_server 120 us, this client 40 us, ...".
  std::string Line(int64_t calls, absl::string_view per = "call") const {
    std::vector<double> end = Now();
    std::vector<std::string> parts;
    for (size_t g = 0; g < groups_.size(); ++g) {
      parts.push_back(absl::StrFormat(
          "%s %.1f us", groups_[g].first,
          calls > 0 ? (end[g] - start_[g]) * 1e6 / calls : 0.0));
    }
    return absl::StrCat("    CPU per ", per, ": ", absl::StrJoin(parts, ", "));
  }

 private:
  std::vector<double> Now() const {
    std::vector<double> out;
    for (const auto& [label, pids] : groups_) {
      double sum = 0;
      for (pid_t p : pids) {
        sum += p < 0 ? TreeCpuSeconds(-p) : ReadProcFigures(p).cpu_seconds;
      }
      out.push_back(sum);
    }
    return out;
  }
  std::vector<std::pair<std::string, std::vector<pid_t>>> groups_;
  std::vector<double> start_;
};

std::string Dsn(const std::string& admin, const std::string& db) {
  absl::StatusOr<std::string> dsn = testutil::DsnWithDatabase(admin, db);
  if (!dsn.ok()) {
    Say(absl::StrCat("bad --pg_dsn: ", dsn.status().ToString()));
    std::exit(2);
  }
  return *dsn;
}

void Exec(const std::string& dsn, const std::string& sql) {
  pqxx::connection c(dsn);
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

double Seconds(absl::Duration d) { return absl::ToDoubleSeconds(d); }

// ---------------------------------------------------------------------------
// Loading PostgreSQL

// COPYs `c` into a database with Trove's schema. Supernodes get a lease of
// a day.
void CopyCatalog(const std::string& dsn, const Catalog& c) {
  pqxx::connection conn(dsn);
  pqxx::work tx(conn);
  for (const std::string& sn : c.supernodes) {
    tx.exec_params(
        "INSERT INTO supernodes (supernode_id, address, lease_expires)"
        " VALUES ($1, '127.0.0.1:1', now() + interval '1 day')",
        sn);
  }
  {
    pqxx::stream_to s(tx, "peers",
                      std::vector<std::string>{"peer_id", "address", "supernode_id"});
    for (const GenPeer& p : c.peers) {
      s << std::make_tuple(p.id, p.address, c.supernodes[p.supernode]);
    }
    s.complete();
  }
  {
    // Each peer's sources in pages of up to 2048 entries, as index_server
    // stores them (index_server/peer_pages.h).
    constexpr size_t kPage = 2048;
    std::vector<std::vector<const GenSource*>> of_peer(c.peers.size());
    for (const GenSource& src : c.sources) of_peer[src.peer].push_back(&src);
    pqxx::stream_to s(tx, "peer_pages",
                      std::vector<std::string>{"peer_id", "page", "cids",
                                               "names", "sizes", "partial"});
    for (size_t p = 0; p < of_peer.size(); ++p) {
      const std::vector<const GenSource*>& list = of_peer[p];
      for (size_t lo = 0, page = 0; lo < list.size(); lo += kPage, ++page) {
        const size_t hi = std::min(list.size(), lo + kPage);
        std::string cids = "\\x";
        std::vector<std::string> names;
        std::string sizes = "{", partial = "{";
        for (size_t i = lo; i < hi; ++i) {
          const GenFile& f = c.files[list[i]->file];
          cids += f.cid;
          names.push_back(list[i]->name);
          if (i > lo) {
            sizes += ',';
            partial += ',';
          }
          absl::StrAppend(&sizes, f.size);
          partial += 'f';
        }
        sizes += '}';
        partial += '}';
        s << std::make_tuple(c.peers[p].id, static_cast<int>(page), cids,
                             index_server::PgTextArray(names), sizes, partial);
      }
    }
    s.complete();
  }
  tx.commit();
}

// The same sources in one table, with the columns and GIN indexes a user
// would add for pg_trgm and full-text search.
void MakePgSearchTable(const std::string& dsn, const Catalog& c) {
  pqxx::connection conn(dsn);
  {
    pqxx::work tx(conn);
    tx.exec("CREATE EXTENSION IF NOT EXISTS pg_trgm");
    tx.exec(
        "CREATE TABLE pg_sources (cid text NOT NULL, peer_id text NOT NULL,"
        " name text NOT NULL, norm_name text NOT NULL, ext text NOT NULL,"
        " size bigint NOT NULL)");
    pqxx::stream_to s(tx, "pg_sources",
                      std::vector<std::string>{"cid", "peer_id", "name",
                                               "norm_name", "ext", "size"});
    for (const GenSource& src : c.sources) {
      const GenFile& f = c.files[src.file];
      s << std::make_tuple(f.cid, c.peers[src.peer].id, src.name,
                           search::NormalizeName(src.name),
                           FileExtension(src.name), f.size);
    }
    s.complete();
    tx.commit();
  }
  pqxx::nontransaction tx(conn);
  tx.exec("SET maintenance_work_mem = '512MB'");
  tx.exec("CREATE INDEX pg_sources_cid ON pg_sources (cid)");
  tx.exec(
      "CREATE INDEX pg_sources_trgm ON pg_sources USING gin (norm_name "
      "gin_trgm_ops)");
  tx.exec(
      "CREATE INDEX pg_sources_fts ON pg_sources USING gin "
      "(to_tsvector('simple'::regconfig, norm_name))");
  // Vacuumed now: left to autovacuum, its pass over these GIN indexes ran
  // during the ingest measurement and took CPU from it.
  tx.exec("VACUUM ANALYZE pg_sources");
}

// ---------------------------------------------------------------------------
// Queries

struct Query {
  SearchQuery trove;
  // SQL parameters: $1 (and $2, $3 for two words with a kind).
  std::vector<std::string> sql_params;
};

struct Shape {
  std::string name;
  std::string sql;
  std::vector<Query> queries;
};

bool Letters(const std::string& w) {
  return std::all_of(w.begin(), w.end(),
                     [](char c) { return absl::ascii_isalpha(c); });
}

std::string Misspell(const std::string& w, std::mt19937_64& rng) {
  std::string out = w;
  switch (rng() % 4) {
    case 0:
      out.insert(out.begin() + static_cast<long>(rng() % (out.size() + 1)),
                 static_cast<char>('a' + rng() % 26));
      break;
    case 1:
      out.erase(out.begin() + static_cast<long>(rng() % out.size()));
      break;
    case 2: {
      size_t i = rng() % out.size();
      char c;
      do {
        c = static_cast<char>('a' + rng() % 26);
      } while (c == out[i]);
      out[i] = c;
      break;
    }
    default: {
      size_t i = rng() % (out.size() - 1);
      std::swap(out[i], out[i + 1]);
    }
  }
  return out;
}

std::vector<Shape> MakeShapes(const Catalog& c, int count, uint64_t seed) {
  std::mt19937_64 rng(seed ^ 0x5eedULL);
  // Words of a name picked from a random source (popular files more often).
  auto words_of_random_name = [&]() {
    const GenSource& s = c.sources[rng() % c.sources.size()];
    std::vector<std::string> out;
    for (std::string& w : search::Tokenize(s.name)) {
      if (w.size() >= 3 && Letters(w)) out.push_back(std::move(w));
    }
    return std::make_pair(out, c.files[s.file].kind);
  };
  const std::string group =
      " GROUP BY cid ORDER BY count(*) DESC, cid LIMIT 50";
  std::vector<Shape> shapes(4);
  shapes[0].name = "word";
  shapes[0].sql =
      "SELECT cid, min(name), count(*) FROM pg_sources WHERE"
      " to_tsvector('simple'::regconfig, norm_name) @@"
      " to_tsquery('simple'::regconfig, $1)" + group;
  shapes[1].name = "part of a word";
  shapes[1].sql =
      "SELECT cid, min(name), count(*) FROM pg_sources WHERE"
      " norm_name LIKE $1" + group;
  shapes[2].name = "misspelling";
  shapes[2].sql =
      "SELECT cid, min(name), count(*) FROM pg_sources WHERE"
      " $1 <% norm_name" + group;
  shapes[3].name = "two words + kind";
  shapes[3].sql =
      "SELECT cid, min(name), count(*) FROM pg_sources WHERE"
      " to_tsvector('simple'::regconfig, norm_name) @@"
      " to_tsquery('simple'::regconfig, $1 || ' & ' || $2)"
      " AND ext = ANY($3::text[])" + group;
  for (int i = 0; i < 50 * count && shapes[3].queries.size() < static_cast<size_t>(count); ++i) {
    auto [words, kind] = words_of_random_name();
    if (words.empty()) continue;
    const std::string& w = words[rng() % words.size()];
    // Every shape asks for pages of 50, at the index and at the supernode.
    if (shapes[0].queries.size() < static_cast<size_t>(count)) {
      Query q;
      q.trove.set_limit(50);
      q.trove.set_text(w);
      q.sql_params = {w};
      shapes[0].queries.push_back(q);
    }
    if (w.size() >= 6 && shapes[1].queries.size() < static_cast<size_t>(count)) {
      const size_t len = 4 + rng() % 2;
      const size_t start = rng() % 2;
      std::string part = w.substr(start, len);
      Query q;
      q.trove.set_limit(50);
      q.trove.set_text(part);
      q.sql_params = {absl::StrCat("%", part, "%")};
      shapes[1].queries.push_back(q);
    }
    if (w.size() >= 5 && shapes[2].queries.size() < static_cast<size_t>(count)) {
      std::string typo = Misspell(w, rng);
      Query q;
      q.trove.set_limit(50);
      q.trove.set_text(typo);
      q.sql_params = {typo};
      shapes[2].queries.push_back(q);
    }
    if (words.size() >= 2 && kind != FILE_KIND_ANY &&
        shapes[3].queries.size() < static_cast<size_t>(count)) {
      std::string a = words[0], b = words[1 + rng() % (words.size() - 1)];
      if (a == b) continue;
      Query q;
      q.trove.set_limit(50);
      q.trove.set_text(absl::StrCat(a, " ", b));
      q.trove.set_kind(kind);
      std::vector<std::string> exts = search::ExtensionsOfKind(kind);
      q.sql_params = {a, b, index_server::PgTextArray(exts)};
      shapes[3].queries.push_back(q);
    }
  }
  return shapes;
}

// ---------------------------------------------------------------------------
// Measuring

struct Result {
  int64_t ok = 0;
  int64_t refused = 0;
  int64_t failed = 0;
  int64_t hits = 0;
  double seconds = 0;
  std::vector<double> latencies_ms;
  std::string first_error;

  double qps() const { return seconds > 0 ? ok / seconds : 0; }
  double Percentile(double p) const {
    if (latencies_ms.empty()) return 0;
    std::vector<double> v = latencies_ms;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p * v.size()));
    std::nth_element(v.begin(), v.begin() + k, v.end());
    return v[k];
  }
};

// What one call did: OK with this many hits, refused (too busy), or failed.
struct Outcome {
  enum Kind { kOk, kRefused, kFailed } kind = kOk;
  int64_t hits = 0;
  std::string error;
};

// Runs `call(client, i)` from `clients` threads for `duration`.
Result RunClients(int clients, absl::Duration duration,
                  const std::function<Outcome(int, int64_t)>& call) {
  absl::Mutex mu;
  Result total;
  std::vector<std::thread> threads;
  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      Result mine;
      for (int64_t i = c; absl::Now() < end; i += clients) {
        const absl::Time t0 = absl::Now();
        Outcome o = call(c, i);
        const double ms = absl::ToDoubleMilliseconds(absl::Now() - t0);
        switch (o.kind) {
          case Outcome::kOk:
            ++mine.ok;
            mine.hits += o.hits;
            mine.latencies_ms.push_back(ms);
            break;
          case Outcome::kRefused:
            ++mine.refused;
            break;
          case Outcome::kFailed:
            ++mine.failed;
            if (mine.first_error.empty()) mine.first_error = o.error;
            break;
        }
      }
      absl::MutexLock lock(&mu);
      total.ok += mine.ok;
      total.refused += mine.refused;
      total.failed += mine.failed;
      total.hits += mine.hits;
      if (total.first_error.empty()) total.first_error = mine.first_error;
      total.latencies_ms.insert(total.latencies_ms.end(),
                                mine.latencies_ms.begin(),
                                mine.latencies_ms.end());
    });
  }
  for (std::thread& t : threads) t.join();
  total.seconds = Seconds(absl::Now() - start);
  return total;
}

Outcome FromGrpc(const grpc::Status& s, int64_t hits) {
  Outcome o;
  o.hits = hits;
  if (s.ok()) return o;
  o.error = absl::StrCat(s.error_code(), " ", s.error_message());
  o.kind = s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                   s.error_code() == grpc::StatusCode::UNAVAILABLE
               ? Outcome::kRefused
               : Outcome::kFailed;
  return o;
}

// Runs unary gRPC calls from `clients` connections for `duration`, each
// connection with one call in flight at a time (the next one starts when
// the previous one has answered), as RunClients does with one thread per
// client; here one thread drives them all on a completion queue, so the
// measuring side costs the machine less than a blocked thread per client.
// `start(c, i, context, cq)` starts call `i` of client `c`; `judge` reads
// its answer.
template <typename Response>
Result RunAsyncClients(
    int clients, absl::Duration duration,
    const std::function<
        std::unique_ptr<grpc::ClientAsyncResponseReader<Response>>(
            int, int64_t, grpc::ClientContext*, grpc::CompletionQueue*)>& start,
    const std::function<Outcome(const grpc::Status&, const Response&)>& judge) {
  struct Slot {
    int client = 0;
    int64_t i = 0;
    absl::Time t0;
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientAsyncResponseReader<Response>> reader;
    Response response;
    grpc::Status status;
  };
  grpc::CompletionQueue cq;
  std::vector<Slot> slots(clients);
  Result total;
  const absl::Time begin = absl::Now();
  const absl::Time end = begin + duration;
  auto launch = [&](Slot* slot) {
    slot->context = std::make_unique<grpc::ClientContext>();
    slot->context->set_deadline(std::chrono::system_clock::now() +
                                std::chrono::seconds(5));
    slot->response.Clear();
    slot->t0 = absl::Now();
    slot->reader = start(slot->client, slot->i, slot->context.get(), &cq);
    slot->reader->Finish(&slot->response, &slot->status, slot);
  };
  int in_flight = 0;
  for (int c = 0; c < clients; ++c) {
    slots[c].client = c;
    slots[c].i = c;
    launch(&slots[c]);
    ++in_flight;
  }
  void* tag = nullptr;
  bool ok = false;
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    Slot* slot = static_cast<Slot*>(tag);
    const absl::Time now = absl::Now();
    const double ms = absl::ToDoubleMilliseconds(now - slot->t0);
    Outcome o = ok ? judge(slot->status, slot->response)
                   : FromGrpc(grpc::Status(grpc::StatusCode::UNKNOWN,
                                           "the call did not complete"),
                              0);
    switch (o.kind) {
      case Outcome::kOk:
        ++total.ok;
        total.hits += o.hits;
        total.latencies_ms.push_back(ms);
        break;
      case Outcome::kRefused:
        ++total.refused;
        break;
      case Outcome::kFailed:
        ++total.failed;
        if (total.first_error.empty()) total.first_error = o.error;
        break;
    }
    if (now < end) {
      slot->i += clients;
      launch(slot);
    } else {
      --in_flight;
    }
  }
  total.seconds = Seconds(absl::Now() - begin);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return total;
}

// A channel of its own (no shared subchannel), so each client has its own
// connection.
std::shared_ptr<grpc::Channel> OwnChannel(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

std::string Row(const std::string& label, const Result& r) {
  return absl::StrFormat("| %-34s | %9.0f | %8.2f | %8.2f | %8d | %6d | %9.1f |",
                         label, r.qps(), r.Percentile(0.5),
                         r.Percentile(0.99), r.refused, r.failed,
                         r.ok > 0 ? static_cast<double>(r.hits) / r.ok : 0.0);
}

constexpr char kTableHead[] =
    "| measured                           |       q/s |   p50 ms |   p99 ms | "
    "refused | failed | hits/query |\n"
    "|------------------------------------|-----------|----------|----------|"
    "---------|--------|------------|";

// ---------------------------------------------------------------------------

int Main() {
  const std::string admin = absl::GetFlag(FLAGS_pg_dsn);
  const std::string work = absl::GetFlag(FLAGS_work_dir);
  if (admin.empty() || work.empty() || absl::GetFlag(FLAGS_index_server).empty() ||
      absl::GetFlag(FLAGS_supernode).empty()) {
    Say("--pg_dsn, --work_dir, --index_server and --supernode are required; "
        "run bench/search_bench");
    return 2;
  }
  const int clients = absl::GetFlag(FLAGS_clients);
  const absl::Duration each = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const std::set<std::string> phases =
      absl::StrSplit(absl::GetFlag(FLAGS_phases), ',', absl::SkipEmpty());
  for (const std::string& p : phases) {
    if (p != "search" && p != "locate" && p != "ingest") {
      Say(absl::StrCat("--phases: unknown phase '", p,
                       "' (search, locate, ingest)"));
      return 2;
    }
  }
  auto want = [&phases](const char* phase) { return phases.count(phase) > 0; };
  Say(absl::StrCat("load average at start: ", LoadAverage()));

  CatalogOptions co;
  co.seed = absl::GetFlag(FLAGS_seed);
  co.files = absl::GetFlag(FLAGS_files);
  co.peers = absl::GetFlag(FLAGS_peers);
  co.sources = absl::GetFlag(FLAGS_sources);
  co.supernodes = absl::GetFlag(FLAGS_supernodes);
  CatalogGenerator gen(co);
  absl::Time t = absl::Now();
  Catalog catalog = gen.Generate();
  Catalog fresh = gen.GenerateNewLeaves(absl::GetFlag(FLAGS_ingest_files),
                                        absl::GetFlag(FLAGS_ingest_leaves),
                                        absl::GetFlag(FLAGS_ingest_supernodes));
  int64_t max_sources = 0, single = 0;
  {
    std::vector<int64_t> per_file(catalog.files.size());
    for (const GenSource& s : catalog.sources) ++per_file[s.file];
    for (int64_t n : per_file) {
      max_sources = std::max(max_sources, n);
      single += n == 1;
    }
  }
  Say(absl::StrFormat(
      "catalog: %d files, %d peers, %d sources (%.0f%% of files with one "
      "source, most sources on one file %d); generated in %.1f s",
      catalog.files.size(), catalog.peers.size(), catalog.sources.size(),
      100.0 * single / catalog.files.size(), max_sources, Seconds(absl::Now() - t)));

  // 1. PostgreSQL.
  const std::string db = "trove_bench";
  Exec(admin, "DROP DATABASE IF EXISTS trove_bench WITH (FORCE)");
  Exec(admin, "DROP DATABASE IF EXISTS trove_copy WITH (FORCE)");
  Exec(admin, "DROP DATABASE IF EXISTS trove_pgsearch WITH (FORCE)");
  Exec(admin, "CREATE DATABASE trove_bench");
  const std::string dsn = Dsn(admin, db);
  {
    index_server::PgStoreOptions o;
    o.dsn = dsn;
    auto store = index_server::PgIndexStore::Connect(o);
    if (!store.ok() || !(*store)->Migrate().ok()) {
      Say("cannot create Trove's schema");
      return 1;
    }
  }
  t = absl::Now();
  CopyCatalog(dsn, catalog);
  Exec(dsn, "VACUUM ANALYZE");
  Say(absl::StrFormat("initial catalog COPYed into Trove's schema in %.1f s",
                      Seconds(absl::Now() - t)));
  Exec(admin, "CHECKPOINT");
  Exec(admin, "CREATE DATABASE trove_copy TEMPLATE trove_bench");
  Exec(admin, "CREATE DATABASE trove_pgsearch");
  t = absl::Now();
  MakePgSearchTable(Dsn(admin, "trove_pgsearch"), catalog);
  Say(absl::StrFormat(
      "the same sources with pg_trgm and full-text GIN indexes, vacuumed "
      "(no autovacuum of them during the measurements): %.1f s",
      Seconds(absl::Now() - t)));

  // 2. index_server.
  const std::string index_ready = absl::StrCat(work, "/index.ready");
  t = absl::Now();
  absl::StatusOr<std::unique_ptr<ChildProcess>> index = ChildProcess::Start(
      {absl::GetFlag(FLAGS_index_server), absl::StrCat("--postgres=", dsn),
       "--listen=127.0.0.1:0", absl::StrCat("--ready_file=", index_ready),
       // Plaintext: what is measured is the engine, as against PostgreSQL
       // over a local socket.
       "--insecure", "--lease_seconds=600", "--renew_every_seconds=20",
       // Made-up supernodes publishing unsigned lists: the cost of
       // verification is measured by bench/ingest_verify_bench.
       "--testonly_unenrolled_supernodes", "--testonly_unverified_changes",
       // The engine's capacity, not flood control: no per-caller limits.
       "--peer_search_rate=0", "--supernode_search_rate=0",
       "--peer_locate_rate=0", "--supernode_locate_rate=0", "--publish_rate=0"},
      absl::StrCat(work, "/index_server.log"));
  if (!index.ok()) {
    Say(index.status().ToString());
    return 1;
  }
  absl::StatusOr<std::string> index_address =
      testutil::WaitForReadyFile(index_ready, absl::Minutes(2));
  if (!index_address.ok()) {
    Say("index_server did not start; see index_server.log");
    return 1;
  }
  auto index_stub = index::IndexService::NewStub(OwnChannel(*index_address));
  for (int i = 0;; ++i) {
    index::SearchRequest req;
    req.mutable_query()->set_text("love");
    index::SearchResponse resp;
    grpc::ClientContext ctx;
    grpc::Status s = index_stub->Search(&ctx, req, &resp);
    if (s.ok()) break;
    if (s.error_code() != grpc::StatusCode::UNAVAILABLE || i > 6000) {
      Say(absl::StrCat("index_server does not answer searches: ", s.error_message()));
      return 1;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  const double load_seconds = Seconds(absl::Now() - t);
  auto [rss, hwm] = MemoryMiB((*index)->pid());
  std::string loaded_line;
  {
    std::ifstream log(absl::StrCat(work, "/index_server.log"));
    std::string line;
    while (std::getline(log, line)) {
      if (absl::StrContains(line, "catalog loaded in")) loaded_line = line;
    }
  }
  Say(absl::StrFormat(
      "index_server: answering searches %.1f s after start; memory %.0f MiB "
      "(peak %.0f MiB)",
      load_seconds, rss, hwm));
  Say(absl::StrCat("  its log: ", loaded_line));

  // A supernode in front of it.
  const std::string sn_ready = absl::StrCat(work, "/supernode.ready");
  absl::StatusOr<std::unique_ptr<ChildProcess>> supernode = ChildProcess::Start(
      {absl::GetFlag(FLAGS_supernode), absl::StrCat("--index=", *index_address),
       "--listen=127.0.0.1:0", "--insecure",
       // The engine's capacity, not flood control: no per-leaf limits.
       "--leaf_search_rate=0", "--leaf_locate_rate=0",
       absl::StrCat("--ready_file=", sn_ready)},
      absl::StrCat(work, "/supernode.log"));
  absl::StatusOr<std::string> sn_address =
      supernode.ok() ? testutil::WaitForReadyFile(sn_ready, absl::Minutes(1))
                     : supernode.status();
  if (!sn_address.ok()) {
    Say("supernode did not start; see supernode.log");
    return 1;
  }

  // 3. Search.
  std::vector<Shape> shapes =
      MakeShapes(catalog, absl::GetFlag(FLAGS_queries), co.seed);
  std::vector<std::unique_ptr<index::IndexService::Stub>> index_stubs;
  std::vector<std::unique_ptr<supernode::SupernodeService::Stub>> sn_stubs;
  std::vector<std::unique_ptr<pqxx::connection>> pg_conns;
  for (int c = 0; c < clients; ++c) {
    index_stubs.push_back(index::IndexService::NewStub(OwnChannel(*index_address)));
    sn_stubs.push_back(supernode::SupernodeService::NewStub(OwnChannel(*sn_address)));
    pg_conns.push_back(
        std::make_unique<pqxx::connection>(Dsn(admin, "trove_pgsearch")));
    for (size_t s = 0; s < shapes.size(); ++s) {
      pg_conns.back()->prepare(absl::StrCat("shape", s), shapes[s].sql);
    }
  }
  struct ShapeResults {
    Result index, supernode, pg;
  };
  std::vector<ShapeResults> results(shapes.size());
  if (want("search")) {
    Say(absl::StrFormat(
        "\nsearch: %d clients, %d s per row; load average before: %s",
        clients, absl::GetFlag(FLAGS_seconds), LoadAverage()));
    Say(kTableHead);
  }
  for (size_t s = 0; s < shapes.size() && want("search"); ++s) {
    const std::vector<Query>& qs = shapes[s].queries;
    if (qs.empty()) continue;
    results[s].index = RunAsyncClients<index::SearchResponse>(
        clients, each,
        [&](int c, int64_t i, grpc::ClientContext* ctx,
            grpc::CompletionQueue* cq) {
          index::SearchRequest req;
          *req.mutable_query() = qs[i % qs.size()].trove;
          return index_stubs[c]->AsyncSearch(ctx, req, cq);
        },
        [](const grpc::Status& st, const index::SearchResponse& resp) {
          return FromGrpc(st, resp.hits_size());
        });
    Say(Row(absl::StrCat(shapes[s].name, ": index"), results[s].index));
    results[s].supernode = RunAsyncClients<supernode::SearchResponse>(
        clients, each,
        [&](int c, int64_t i, grpc::ClientContext* ctx,
            grpc::CompletionQueue* cq) {
          supernode::SearchRequest req;
          *req.mutable_query() = qs[i % qs.size()].trove;
          return sn_stubs[c]->AsyncSearch(ctx, req, cq);
        },
        [](const grpc::Status& st, const supernode::SearchResponse& resp) {
          Outcome o = FromGrpc(st, resp.hits_size());
          if (o.kind == Outcome::kOk && resp.partial()) {
            o.kind = Outcome::kRefused;  // answered without the index
          }
          return o;
        });
    Say(Row(absl::StrCat(shapes[s].name, ": supernode"), results[s].supernode));
    results[s].pg = RunClients(clients, each, [&](int c, int64_t i) {
      const Query& q = qs[i % qs.size()];
      Outcome o;
      try {
        pqxx::nontransaction tx(*pg_conns[c]);
        pqxx::result r =
            tx.exec_prepared(absl::StrCat("shape", s),
                             pqxx::prepare::make_dynamic_params(q.sql_params));
        o.hits = static_cast<int64_t>(r.size());
      } catch (const std::exception& e) {
        o.kind = Outcome::kFailed;
        o.error = e.what();
      }
      return o;
    });
    Say(Row(absl::StrCat(shapes[s].name, ": PostgreSQL"), results[s].pg));
  }

  // 4. Locate.
  Result locate_index, locate_sn, locate_pg;
  std::string locate_many_line;
  if (want("locate")) {
  Say(absl::StrFormat(
      "\nlocate: %d clients, %d s per row; load average before: %s", clients,
      absl::GetFlag(FLAGS_seconds), LoadAverage()));
  Say(kTableHead);
  std::vector<std::unique_ptr<pqxx::connection>> pg_trove;
  std::vector<pid_t> backends;
  for (int c = 0; c < clients; ++c) {
    // Trove's schema keeps no index by cid (Locate is served from memory):
    // the point lookup runs on the table of one row per source.
    pg_trove.push_back(
        std::make_unique<pqxx::connection>(Dsn(admin, "trove_pgsearch")));
    pg_trove.back()->prepare(
        "locate",
        "SELECT peer_id, size FROM pg_sources WHERE cid = $1 LIMIT 50");
    backends.push_back(pg_trove.back()->backendpid());
  }
  auto cpu = [&] {
    return CpuPerCall({{"index_server", {(*index)->pid()}},
                       {"supernode", {(*supernode)->pid()}},
                       {"this client", {getpid()}},
                       {"PostgreSQL backends", backends}});
  };
  CpuPerCall cpu_index = cpu();
  locate_index = RunAsyncClients<index::LocateResponse>(
      clients, each,
      [&](int c, int64_t i, grpc::ClientContext* ctx,
          grpc::CompletionQueue* cq) {
        index::LocateRequest req;
        req.set_cid(catalog.files[(i * 7919) % catalog.files.size()].cid);
        return index_stubs[c]->AsyncLocate(ctx, req, cq);
      },
      [](const grpc::Status& st, const index::LocateResponse& resp) {
        return FromGrpc(st, resp.sources_size());
      });
  Say(Row("Locate: index", locate_index));
  Say(cpu_index.Line(locate_index.ok));
  CpuPerCall cpu_sn = cpu();
  locate_sn = RunAsyncClients<supernode::LocateResponse>(
      clients, each,
      [&](int c, int64_t i, grpc::ClientContext* ctx,
          grpc::CompletionQueue* cq) {
        supernode::LocateRequest req;
        req.set_cid(catalog.files[(i * 7919) % catalog.files.size()].cid);
        return sn_stubs[c]->AsyncLocate(ctx, req, cq);
      },
      [](const grpc::Status& st, const supernode::LocateResponse& resp) {
        return FromGrpc(st, resp.sources_size());
      });
  Say(Row("Locate: supernode", locate_sn));
  Say(cpu_sn.Line(locate_sn.ok));
  CpuPerCall cpu_pg = cpu();
  locate_pg = RunClients(clients, each, [&](int c, int64_t i) {
    Outcome o;
    try {
      pqxx::nontransaction tx(*pg_trove[c]);
      o.hits = static_cast<int64_t>(
          tx.exec_prepared("locate",
                           catalog.files[(i * 7919) % catalog.files.size()].cid)
              .size());
    } catch (const std::exception& e) {
      o.kind = Outcome::kFailed;
      o.error = e.what();
    }
    return o;
  });
  Say(Row("Locate: PostgreSQL point lookup", locate_pg));
  Say(cpu_pg.Line(locate_pg.ok));
  // A downloader's queue: many cids in one call, LocateMany against the
  // same cids as one statement (= ANY($1)). Rows count calls; the line
  // under each says cids/s.
  const int batch = absl::GetFlag(FLAGS_locate_batch);
  if (batch > 0) {
    auto cids_of = [&](int64_t i) {
      std::vector<std::string> cids;
      cids.reserve(batch);
      for (int k = 0; k < batch; ++k) {
        cids.push_back(catalog.files[((i * batch + k) * 7919) %
                                     catalog.files.size()].cid);
      }
      return cids;
    };
    auto cids_line = [&](const Result& r) {
      return absl::StrFormat("    cids/s: %.0f", r.qps() * batch);
    };
    CpuPerCall cpu_many = cpu();
    Result many_index = RunAsyncClients<index::LocateManyResponse>(
        clients, each,
        [&](int c, int64_t i, grpc::ClientContext* ctx,
            grpc::CompletionQueue* cq) {
          index::LocateManyRequest req;
          for (std::string& cid : cids_of(i)) req.add_cids(std::move(cid));
          return index_stubs[c]->AsyncLocateMany(ctx, req, cq);
        },
        [](const grpc::Status& st, const index::LocateManyResponse& resp) {
          Outcome o = FromGrpc(st, 0);
          for (const index::LocatedFile& f : resp.files()) {
            o.hits += f.sources_size();
          }
          return o;
        });
    Say(Row(absl::StrCat("LocateMany ", batch, " cids: index"), many_index));
    Say(cpu_many.Line(many_index.ok));
    Say(cids_line(many_index));
    for (auto& conn : pg_trove) {
      conn->prepare("locate_many",
                    "SELECT cid, peer_id, size FROM pg_sources "
                    "WHERE cid = ANY($1::text[])");
    }
    CpuPerCall cpu_many_pg = cpu();
    Result many_pg = RunClients(clients, each, [&](int c, int64_t i) {
      Outcome o;
      try {
        std::vector<std::string> cids = cids_of(i);
        std::string array = "{";
        for (size_t k = 0; k < cids.size(); ++k) {
          if (k > 0) array += ',';
          array += cids[k];  // hex: nothing to quote
        }
        array += '}';
        pqxx::nontransaction tx(*pg_trove[c]);
        o.hits = static_cast<int64_t>(
            tx.exec_prepared("locate_many", array).size());
      } catch (const std::exception& e) {
        o.kind = Outcome::kFailed;
        o.error = e.what();
      }
      return o;
    });
    Say(Row(absl::StrCat("= ANY($1) ", batch, " cids: PostgreSQL"), many_pg));
    Say(cpu_many_pg.Line(many_pg.ok));
    Say(cids_line(many_pg));
    locate_many_line = absl::StrFormat(
        "  LocateMany %-4d index %9.0f cids/s | PostgreSQL = ANY %9.0f "
        "cids/s | index/PostgreSQL %6.2fx",
        batch, many_index.qps() * batch, many_pg.qps() * batch,
        many_pg.qps() > 0 ? many_index.qps() / many_pg.qps() : 0.0);
  }
  pg_trove.clear();
  }
  pg_conns.clear();

  // 5. Ingest through IndexService.
  double ingest_rate = 0, copy_rate = 0, rss_after_ingest = 0;
  if (want("ingest")) {
    const int nsn = static_cast<int>(fresh.supernodes.size());
    std::vector<int64_t> generation(nsn);
    for (int s = 0; s < nsn; ++s) {
      index::RegisterSupernodeRequest reg;
      reg.set_supernode_id(fresh.supernodes[s]);
      reg.set_address(absl::StrCat("127.0.0.1:", 20000 + s));
      index::LeaseResponse lease;
      grpc::ClientContext ctx;
      grpc::Status st = index_stub->RegisterSupernode(&ctx, reg, &lease);
      if (!st.ok()) {
        Say(absl::StrCat("register: ", st.error_message()));
        return 1;
      }
      generation[s] = lease.generation();
    }
    // Each supernode's leaves, as full lists, packed into batches.
    std::vector<std::vector<index::PublishDeltasRequest>> batches(nsn);
    {
      std::vector<std::vector<uint32_t>> files_of(fresh.peers.size());
      for (const GenSource& src : fresh.sources) files_of[src.peer].push_back(src.file);
      std::vector<int64_t> next_batch(nsn, 0);
      std::vector<int> in_batch(nsn, 0);
      const int max_files = absl::GetFlag(FLAGS_ingest_batch_files);
      for (size_t p = 0; p < fresh.peers.size(); ++p) {
        const int s = fresh.peers[p].supernode;
        if (batches[s].empty() || in_batch[s] + files_of[p].size() > static_cast<size_t>(max_files) ||
            batches[s].back().deltas_size() >= 1000) {
          batches[s].emplace_back();
          batches[s].back().set_supernode_id(fresh.supernodes[s]);
          batches[s].back().set_generation(generation[s]);
          batches[s].back().set_batch(++next_batch[s]);
          in_batch[s] = 0;
        }
        index::PeerDelta* d = batches[s].back().add_deltas();
        d->set_peer_id(fresh.peers[p].id);
        d->set_address(fresh.peers[p].address);
        d->set_full(true);
        for (uint32_t f : files_of[p]) {
          FileEntry* e = d->add_added();
          e->set_cid(fresh.files[f].cid);
          e->set_size(fresh.files[f].size);
          e->set_name(fresh.files[f].name);
        }
        in_batch[s] += static_cast<int>(files_of[p].size());
      }
    }
    std::atomic<bool> ingesting{true};
    std::thread renewer([&] {
      while (ingesting.load()) {
        for (int s = 0; s < nsn; ++s) {
          index::RenewLeaseRequest r;
          r.set_supernode_id(fresh.supernodes[s]);
          index::LeaseResponse lease;
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          index_stub->RenewLease(&ctx, r, &lease);
        }
        for (int i = 0; i < 50 && ingesting.load(); ++i) {
          absl::SleepFor(absl::Milliseconds(200));
        }
      }
    });
    Say(absl::StrFormat(
        "\ningest: %d files from %d new leaves through %d supernodes, "
        "batches of up to %d files, %d clients; load average before: %s",
        fresh.files.size(), fresh.peers.size(), nsn,
        absl::GetFlag(FLAGS_ingest_batch_files), clients, LoadAverage()));
    // Every PostgreSQL process of the cluster (backends, also those the
    // index connects during the ingest, WAL writer, checkpointer...): what
    // a durable file costs the database. The cluster is the postmaster's
    // tree; this connection's backend is its child.
    pid_t postmaster = 0;
    {
      pqxx::connection c(admin);
      pqxx::nontransaction tx(c);
      postmaster =
          ParentPid(tx.exec("SELECT pg_backend_pid()")[0][0].as<pid_t>());
    }
    CpuPerCall ingest_cpu({{"index_server", {(*index)->pid()}},
                           {"PostgreSQL", {-postmaster}},
                           {"this client", {getpid()}}});
    std::atomic<int64_t> acked{0}, failures{0};
    std::string ingest_error;
    absl::Mutex error_mu;
    t = absl::Now();
    {
      std::vector<std::thread> publishers;
      for (int c = 0; c < clients; ++c) {
        publishers.emplace_back([&, c] {
          auto stub = index::IndexService::NewStub(OwnChannel(*index_address));
          for (int s = c; s < nsn; s += clients) {
            for (const index::PublishDeltasRequest& req : batches[s]) {
              index::PublishDeltasResponse resp;
              grpc::ClientContext ctx;
              ctx.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(120));
              grpc::Status st = stub->PublishDeltas(&ctx, req, &resp);
              if (st.ok()) {
                acked += resp.sources_added();
              } else {
                ++failures;
                absl::MutexLock lock(&error_mu);
                if (ingest_error.empty()) ingest_error = st.error_message();
              }
            }
          }
        });
      }
      for (std::thread& p : publishers) p.join();
    }
    const double ingest_seconds = Seconds(absl::Now() - t);
    const std::string ingest_cpu_line = ingest_cpu.Line(acked.load(), "file");
    ingesting = false;
    renewer.join();
    auto [rss_after, hwm_after] = MemoryMiB((*index)->pid());
    // Every file is searchable now.
    int64_t found = 0;
    for (int i = 0; i < 20; ++i) {
      const GenFile& f = fresh.files[(i * 104729) % fresh.files.size()];
      index::SearchRequest req;
      req.mutable_query()->set_text(absl::StrCat("\"", f.name, "\""));
      req.mutable_query()->set_limit(500);
      index::SearchResponse resp;
      grpc::ClientContext ctx;
      if (!index_stub->Search(&ctx, req, &resp).ok()) continue;
      for (const SearchHit& h : resp.hits()) found += h.cid() == f.cid;
    }
    // The same rows by COPY into the copy of the database.
    t = absl::Now();
    CopyCatalog(Dsn(admin, "trove_copy"), fresh);
    const double copy_seconds = Seconds(absl::Now() - t);
    const double n = static_cast<double>(fresh.files.size());
    Say(absl::StrFormat(
        "| %-34s | %12.0f files/s | %8.1f s | acknowledged %d, failed batches "
        "%d%s |",
        "Trove PublishDeltas (durable)", acked / ingest_seconds, ingest_seconds,
        acked.load(), failures.load(),
        ingest_error.empty() ? "" : absl::StrCat(" (", ingest_error, ")")));
    Say(ingest_cpu_line);
    Say(absl::StrFormat("| %-34s | %12.0f files/s | %8.1f s |",
                        "COPY into the same schema", n / copy_seconds,
                        copy_seconds));
    Say(absl::StrFormat("sampled new files found by search afterwards: %d of 20",
                        found));
    Say(absl::StrFormat(
        "index_server memory after ingest: %.0f MiB (peak %.0f MiB)", rss_after,
        hwm_after));
    ingest_rate = acked / ingest_seconds;
    copy_rate = n / copy_seconds;
    rss_after_ingest = rss_after;
  }

  // Summary.
  Say("\nsummary (index vs PostgreSQL, same run):");
  for (size_t s = 0; s < shapes.size() && want("search"); ++s) {
    const ShapeResults& r = results[s];
    Say(absl::StrFormat(
        "  %-18s index %8.0f q/s p99 %6.2f ms | supernode %8.0f q/s p99 %6.2f "
        "ms | PostgreSQL %7.1f q/s p99 %8.2f ms | index/PostgreSQL %6.1fx",
        shapes[s].name, r.index.qps(), r.index.Percentile(0.99),
        r.supernode.qps(), r.supernode.Percentile(0.99), r.pg.qps(),
        r.pg.Percentile(0.99), r.pg.qps() > 0 ? r.index.qps() / r.pg.qps() : 0));
  }
  if (want("locate")) {
    Say(absl::StrFormat(
        "  %-18s index %8.0f q/s p99 %6.2f ms | supernode %8.0f q/s p99 %6.2f "
        "ms | PostgreSQL %7.1f q/s p99 %8.2f ms | index/PostgreSQL %6.2fx",
        "Locate", locate_index.qps(), locate_index.Percentile(0.99),
        locate_sn.qps(), locate_sn.Percentile(0.99), locate_pg.qps(),
        locate_pg.Percentile(0.99),
        locate_pg.qps() > 0 ? locate_index.qps() / locate_pg.qps() : 0));
    if (!locate_many_line.empty()) Say(locate_many_line);
  }
  if (want("ingest")) {
    Say(absl::StrFormat(
        "  %-18s Trove %8.0f files/s | COPY %8.0f files/s | Trove/COPY %5.2fx",
        "ingest", ingest_rate, copy_rate,
        copy_rate > 0 ? ingest_rate / copy_rate : 0));
  }
  Say(absl::StrFormat(
      "  %-18s load %.1f s, %.0f MiB after load, %.0f MiB after ingest",
      "index_server", load_seconds, rss, rss_after_ingest));
  Say(absl::StrCat("load average at the end: ", LoadAverage()));

  (*supernode)->Stop();
  (*index)->Stop();
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Trove's search and ingest against PostgreSQL on one generated catalog "
      "(run it through bench/search_bench).");
  absl::ParseCommandLine(argc, argv);
  // As in the servers: Abseil's deadlock detection (on in the system's
  // build) would make every lock gRPC takes in this client visit one
  // process-wide graph, and the client would cost the machine more than it
  // should.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  return trove::bench::Main();
}
