// search_engine_profile: the in-memory catalog alone, without gRPC or
// PostgreSQL: how long a generated catalog takes to load into a
// MemoryCatalog, how much memory it takes, and how long each query shape
// takes on one thread (the same shapes as bench/search_bench).
//
//   bazel run -c opt //bench:search_engine_profile -- --files=1000000
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/catalog_gen.h"
#include "common/search/query.h"
#include "common/search/text.h"
#include "index_server/memory_catalog.h"

ABSL_FLAG(int64_t, files, 1000000, "files in the catalog");
ABSL_FLAG(int64_t, peers, 100000, "peers sharing them");
ABSL_FLAG(int64_t, sources, 2500000, "about this many sources");
ABSL_FLAG(int, queries, 2000, "queries per shape");
ABSL_FLAG(uint64_t, seed, 1, "seed");
ABSL_FLAG(int, repeat, 1, "run each shape's queries this many times");
ABSL_FLAG(std::string, shape, "", "run only this query shape (e.g. \"word\")");
ABSL_FLAG(std::string, text, "",
          "instead of the shapes, run only this query text (--repeat times; "
          "for perf record on one query)");
ABSL_FLAG(int, kind, 0, "with --text: the query's FileKind number");
ABSL_FLAG(int, evict_mib, 0,
          "with --text: before each run, write this many MiB elsewhere so "
          "that the query finds the caches cold, as it does among others");
ABSL_FLAG(int, slowest, 0,
          "also print this many of each shape's slowest queries (CPU time)");

namespace trove {
namespace bench {
namespace {

double RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() >= 2 && f[0] == "VmRSS:") return std::stod(f[1]) / 1024;
  }
  return 0;
}

// CPU time of this thread, in microseconds: unlike wall time, it leaves
// out the time other processes had the CPU.
double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

bool Letters(const std::string& w) {
  return std::all_of(w.begin(), w.end(),
                     [](char c) { return absl::ascii_isalpha(c); });
}

int Main() {
  CatalogOptions co;
  co.files = absl::GetFlag(FLAGS_files);
  co.peers = absl::GetFlag(FLAGS_peers);
  co.sources = absl::GetFlag(FLAGS_sources);
  co.seed = absl::GetFlag(FLAGS_seed);
  CatalogGenerator gen(co);
  Catalog c = gen.Generate();
  const double before = RssMiB();
  absl::Time t = absl::Now();
  const double cpu0 = ThreadCpuMicros();
  index_server::MemoryCatalog m;
  m.BeginLoad();
  std::string cid, peer, sn;
  for (const GenSource& s : c.sources) {
    const GenFile& f = c.files[s.file];
    const GenPeer& p = c.peers[s.peer];
    search::HexToRaw(f.cid, &cid);
    search::HexToRaw(p.id, &peer);
    search::HexToRaw(c.supernodes[p.supernode], &sn);
    m.LoadSource(cid, peer, sn, s.name, f.size, p.address, false,
                 absl::UnixEpoch());
  }
  m.EndLoad();
  const double load = absl::ToDoubleSeconds(absl::Now() - t);
  const double load_cpu = (ThreadCpuMicros() - cpu0) / 1e6;
  const double after = RssMiB();
  index_server::MemoryCatalog::Stats st = m.stats();
  std::printf(
      "loaded %zu sources of %zu files (%zu names, %zu words) in %.2f s "
      "(%.2f s of CPU); memory %.0f MiB (process %.0f MiB before, %.0f "
      "after)\n",
      st.sources, st.cids, st.names, st.words, load, load_cpu, after - before,
      before, after);

  std::mt19937_64 rng(co.seed ^ 0x5eedULL);
  std::vector<std::pair<std::string, std::vector<SearchQuery>>> shapes = {
      {"word", {}}, {"part of a word", {}}, {"misspelling", {}},
      {"two words + kind", {}}};
  const size_t want = absl::GetFlag(FLAGS_text).empty()
                          ? static_cast<size_t>(absl::GetFlag(FLAGS_queries))
                          : 0;
  if (!absl::GetFlag(FLAGS_text).empty()) {
    SearchQuery q;
    q.set_text(absl::GetFlag(FLAGS_text));
    q.set_kind(static_cast<FileKind>(absl::GetFlag(FLAGS_kind)));
    shapes = {{"text", {q}}};
  }
  for (int i = 0; i < 100 * static_cast<int>(want) && shapes[3].second.size() < want; ++i) {
    const GenSource& s = c.sources[rng() % c.sources.size()];
    std::vector<std::string> words;
    for (std::string& w : search::Tokenize(s.name)) {
      if (w.size() >= 3 && Letters(w)) words.push_back(w);
    }
    if (words.empty()) continue;
    const std::string& w = words[rng() % words.size()];
    SearchQuery q;
    if (shapes[0].second.size() < want) {
      q.set_text(w);
      shapes[0].second.push_back(q);
    }
    if (w.size() >= 6 && shapes[1].second.size() < want) {
      q.set_text(w.substr(rng() % 2, 4 + rng() % 2));
      shapes[1].second.push_back(q);
    }
    if (w.size() >= 5 && shapes[2].second.size() < want) {
      std::string typo = w;
      size_t at = rng() % (typo.size() - 1);
      std::swap(typo[at], typo[at + 1]);
      if (typo == w) typo.erase(at, 1);
      q.set_text(typo);
      shapes[2].second.push_back(q);
    }
    if (words.size() >= 2 && shapes[3].second.size() < want &&
        c.files[s.file].kind != FILE_KIND_ANY) {
      q.set_text(absl::StrCat(words[0], " ", words[1 + rng() % (words.size() - 1)]));
      q.set_kind(c.files[s.file].kind);
      shapes[3].second.push_back(q);
    }
  }
  std::printf("per query: wall time | thread CPU time (leaves out time the "
              "machine gave other processes)\n");
  for (const auto& [name, queries] : shapes) {
    if (!absl::GetFlag(FLAGS_shape).empty() && name != absl::GetFlag(FLAGS_shape)) {
      continue;
    }
    std::vector<double> us, cpu;
    // (CPU time, query text and kind, hits) of every query, for --slowest.
    std::vector<std::pair<double, std::string>> each;
    int64_t hits = 0;
    std::vector<char> evict(static_cast<size_t>(absl::GetFlag(FLAGS_evict_mib))
                            << 20);
    for (int r = 0; r < absl::GetFlag(FLAGS_repeat); ++r)
    for (const SearchQuery& q : queries) {
      for (size_t i = 0; i < evict.size(); i += 64) evict[i] += 1;
      absl::StatusOr<search::ParsedQuery> parsed = search::ParseQuery(q, 50, 500);
      if (!parsed.ok()) continue;
      const absl::Time t0 = absl::Now();
      const double c0 = ThreadCpuMicros();
      absl::StatusOr<search::SearchPage> page =
          m.Search(*parsed, absl::InfiniteFuture());
      cpu.push_back(ThreadCpuMicros() - c0);
      us.push_back(absl::ToDoubleMicroseconds(absl::Now() - t0));
      if (page.ok()) hits += static_cast<int64_t>(page->hits.size());
      if (absl::GetFlag(FLAGS_slowest) > 0) {
        each.emplace_back(cpu.back(),
                          absl::StrCat("[", q.text(), "] kind ", q.kind(), ", ",
                                       page.ok() ? page->hits.size() : 0,
                                       " hits"));
      }
    }
    auto stats = [](std::vector<double> v) {
      std::sort(v.begin(), v.end());
      double sum = 0;
      for (double x : v) sum += x;
      return absl::StrFormat("mean %6.0f p50 %6.0f p99 %6.0f max %6.0f us",
                             sum / v.size(), v[v.size() / 2],
                             v[v.size() * 99 / 100], v.back());
    };
    std::printf("%-18s %5zu queries, %4.1f hits: wall %s | cpu %s\n",
                name.c_str(), us.size(),
                static_cast<double>(hits) / us.size(), stats(us).c_str(),
                stats(cpu).c_str());
    std::sort(each.begin(), each.end(), std::greater<>());
    for (size_t i = 0;
         i < each.size() && i < static_cast<size_t>(absl::GetFlag(FLAGS_slowest));
         ++i) {
      std::printf("  slow: %6.0f us cpu %s\n", each[i].first,
                  each[i].second.c_str());
    }
  }
  return 0;
}

}  // namespace
}  // namespace bench
}  // namespace trove

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The in-memory catalog alone: load time, memory, and time per query "
      "shape on one thread.");
  absl::ParseCommandLine(argc, argv);
  return trove::bench::Main();
}
