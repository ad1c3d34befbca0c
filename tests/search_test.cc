// Search over the real binaries: index_server replicas on a real
// PostgreSQL, a supernode, and leaves that join it over gRPC with real
// identities and publish generated catalogs.
//
//   - The index answers exactly what a brute-force reference answers over
//     the published files, and a supernode answering from its own leaves
//     gives the same pages as the index for the same files.
//   - Replicas over one database converge after a burst of changes, one of
//     them killed and restarted in the middle; a replica started afterwards
//     rebuilds the same index from PostgreSQL.
//   - Load never costs data: clients search through a supernode as fast as
//     they can while leases are 10 s long; no lease ends, no source is lost,
//     and every search is answered or refused quickly. It runs for
//     TROVE_SOAK_SECONDS (default 120).
//
// The servers run in plaintext (--insecure): this test is about search;
// tls_test covers the links.

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/search/query.h"
#include "common/search/reference_search.h"
#include "common/search/test_catalog.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/index.grpc.pb.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/process.h"
#include "tests/testing/postgres.h"

namespace trove {
namespace {

using testutil::ChildProcess;
using testutil::RunfilePath;
using testutil::TempDir;
using testutil::TestDatabase;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(d);
}

// A running server and its address.
struct Server {
  std::string name;
  std::unique_ptr<ChildProcess> process;
  std::string address;
};

// A leaf: a real identity that joins a supernode and publishes.
class Leaf {
 public:
  static absl::StatusOr<std::unique_ptr<Leaf>> Join(const std::string& supernode,
                                                    int port) {
    auto leaf = std::unique_ptr<Leaf>(new Leaf());
    absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
    if (!id.ok()) return id.status();
    leaf->identity_ = std::move(*id);
    leaf->stub_ = supernode::SupernodeService::NewStub(MakeChannel(supernode));
    supernode::ChallengeResponse challenge;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(In(absl::Seconds(10)));
      grpc::Status s = leaf->stub_->Challenge(&ctx, supernode::ChallengeRequest(),
                                              &challenge);
      if (!s.ok()) return absl::UnavailableError(s.error_message());
    }
    supernode::JoinRequest join;
    join.set_public_key(leaf->identity_->public_key());
    join.set_nonce(challenge.nonce());
    join.set_listen_address(absl::StrCat("127.0.0.1:", port));
    absl::StatusOr<std::string> sig = leaf->identity_->Sign(
        JoinSignedMessage(challenge.nonce(), join.listen_address()));
    if (!sig.ok()) return sig.status();
    join.set_signature(*sig);
    join.set_work(SolveJoinWork(challenge.nonce(), join.public_key(),
                                challenge.work_bits()));
    supernode::JoinResponse joined;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(10)));
    grpc::Status s = leaf->stub_->Join(&ctx, join, &joined);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    leaf->session_ = joined.session();
    return leaf;
  }

  absl::Status Publish(const std::vector<FileEntry>& files, bool full) {
    supernode::PublishRequest req;
    req.set_session(session_);
    req.set_full(full);
    for (const FileEntry& f : files) *req.add_added() = f;
    supernode::PublishResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(30)));
    grpc::Status s = stub_->Publish(&ctx, req, &resp);
    return s.ok() ? absl::OkStatus() : absl::UnavailableError(s.error_message());
  }

  absl::Status Heartbeat() {
    supernode::HeartbeatRequest req;
    req.set_session(session_);
    supernode::HeartbeatResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(5)));
    grpc::Status s = stub_->Heartbeat(&ctx, req, &resp);
    return s.ok() ? absl::OkStatus() : absl::UnavailableError(s.error_message());
  }

  const std::string& peer_id() const { return identity_->peer_id(); }

 private:
  Leaf() = default;
  std::unique_ptr<Identity> identity_;
  std::unique_ptr<supernode::SupernodeService::Stub> stub_;
  std::string session_;
};

bool SamePage(const index::SearchResponse& a, const index::SearchResponse& b,
              std::string* why) {
  if (a.hits_size() != b.hits_size()) {
    *why = absl::StrCat(a.hits_size(), " hits vs ", b.hits_size());
    return false;
  }
  for (int i = 0; i < a.hits_size(); ++i) {
    const SearchHit& x = a.hits(i);
    const SearchHit& y = b.hits(i);
    if (x.cid() != y.cid() || x.name() != y.name() || x.size() != y.size() ||
        x.source_count() != y.source_count() || x.match() != y.match()) {
      *why = absl::StrCat("hit ", i, ": ", x.ShortDebugString(), " vs ",
                          y.ShortDebugString());
      return false;
    }
  }
  if (a.next_cursor() != b.next_cursor()) {
    *why = "next cursors differ";
    return false;
  }
  return true;
}

class SearchIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
  }

  void TearDown() override {
    if (HasFailure()) {
      for (const std::string& name : logs_) {
        std::string log = testutil::Slurp(name);
        if (log.size() > 4000) log = log.substr(log.size() - 4000);
        std::cerr << "--- " << name << "\n" << log << "\n";
      }
    }
    for (auto& s : servers_) {
      if (s->process) s->process->Stop(absl::Seconds(10));
    }
  }

  // Starts a process and waits for its ready file.
  Server* Start(const std::string& name, std::vector<std::string> argv) {
    auto server = std::make_unique<Server>();
    server->name = name;
    const std::string ready =
        absl::StrCat(work_.path(), "/", name, ".", ++starts_, ".ready");
    const std::string log = absl::StrCat(work_.path(), "/", name, ".log");
    logs_.push_back(log);
    argv.push_back(absl::StrCat("--ready_file=", ready));
    absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(argv, log);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return nullptr;
    server->process = std::move(*p);
    absl::StatusOr<std::string> address =
        testutil::WaitForReadyFile(ready, absl::Seconds(60));
    EXPECT_TRUE(address.ok()) << name << " did not start";
    if (!address.ok()) return nullptr;
    server->address = *address;
    servers_.push_back(std::move(server));
    return servers_.back().get();
  }

  // An index replica, once it answers searches.
  Server* StartIndex(const std::string& name,
                     const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {RunfilePath("index_server/index_server"),
                                     absl::StrCat("--postgres=", db_->dsn()),
                                     "--listen=127.0.0.1:0", "--insecure",
                                     // About search, not trust: this test
                                     // publishes made-up leaves' lists.
                                     "--testonly_unenrolled_supernodes",
                                     "--testonly_unverified_changes",
                                     // Nor about flood control: its
                                     // clients search as fast as they can.
                                     "--peer_search_rate=0",
                                     "--peer_locate_rate=0",
                                     "--publish_rate=0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    Server* s = Start(name, argv);
    if (s == nullptr) return nullptr;
    auto stub = index::IndexService::NewStub(MakeChannel(s->address));
    for (int i = 0; i < 600; ++i) {
      index::SearchRequest req;
      req.mutable_query()->set_text("anything");
      index::SearchResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(In(absl::Seconds(5)));
      grpc::Status st = stub->Search(&ctx, req, &resp);
      if (st.ok()) return s;
      absl::SleepFor(absl::Milliseconds(100));
    }
    ADD_FAILURE() << name << " never answered searches";
    return nullptr;
  }

  Server* StartSupernode(const std::string& index_address,
                         const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {RunfilePath("supernode/supernode"),
                                     absl::StrCat("--index=", index_address),
                                     "--listen=127.0.0.1:0",
                                     "--batch_max_delay_ms=100", "--insecure",
                                     // Hundreds of queries compared, from
                                     // one address: no flood control.
                                     "--leaf_search_rate=0",
                                     "--leaf_locate_rate=0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Start("supernode", argv);
  }

  TempDir work_;
  std::unique_ptr<TestDatabase> db_;
  std::vector<std::unique_ptr<Server>> servers_;
  std::vector<std::string> logs_;
  int starts_ = 0;
};

index::SearchResponse IndexPage(index::IndexService::Stub* stub,
                                const SearchQuery& q) {
  index::SearchRequest req;
  *req.mutable_query() = q;
  index::SearchResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(In(absl::Seconds(10)));
  grpc::Status s = stub->Search(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << s.error_message() << " " << q.ShortDebugString();
  return resp;
}

// The queries the tests ask: every shape of the test catalog under several
// orders and filters.
std::vector<SearchQuery> Queries(const search::TestCatalog& catalog,
                                 int per_shape) {
  std::vector<SearchQuery> out;
  int n = 0;
  for (const search::TestQuery& tq : MakeTestQueries(catalog, 5, per_shape)) {
    SearchQuery q;
    q.set_text(tq.text);
    q.set_limit(7);
    switch (n++ % 5) {
      case 1:
        q.set_sort(SEARCH_SORT_SIZE);
        break;
      case 2:
        q.set_sort(SEARCH_SORT_NAME);
        q.set_reverse(true);
        break;
      case 3:
        q.set_kind(FILE_KIND_AUDIO);
        break;
      case 4:
        q.set_min_size(1000000);
        q.set_sort(SEARCH_SORT_SOURCES);
        break;
      default:
        break;
    }
    out.push_back(q);
  }
  return out;
}

// Up to `pages` pages of `q`.
std::vector<index::SearchResponse> Pages(
    const std::function<index::SearchResponse(const SearchQuery&)>& ask,
    SearchQuery q, int pages) {
  std::vector<index::SearchResponse> out;
  for (int i = 0; i < pages; ++i) {
    out.push_back(ask(q));
    if (out.back().next_cursor().empty()) break;
    q.set_cursor(out.back().next_cursor());
  }
  return out;
}

TEST_F(SearchIntegrationTest, IndexMatchesTheReferenceAndSupernodeMatchesIndex) {
  Server* idx = StartIndex("index");
  ASSERT_NE(idx, nullptr);
  Server* sn = StartSupernode(idx->address);
  ASSERT_NE(sn, nullptr);

  // A few thousand generated names, each held by as many leaves as the
  // catalog says (capped at the number of leaves).
  search::TestCatalog catalog = search::MakeTestCatalog(11, 2500);
  constexpr int kLeaves = 12;
  std::vector<std::unique_ptr<Leaf>> leaves;
  for (int i = 0; i < kLeaves; ++i) {
    absl::StatusOr<std::unique_ptr<Leaf>> leaf = Leaf::Join(sn->address, 9000 + i);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaves.push_back(std::move(*leaf));
  }
  std::vector<std::vector<FileEntry>> lists(kLeaves);
  std::mt19937_64 rng(3);
  for (search::ReferenceFile& f : catalog.files) {
    std::map<std::string, int> published;
    std::vector<int> order(kLeaves);
    for (int i = 0; i < kLeaves; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    size_t next = 0;
    for (const auto& [name, count] : f.names) {
      for (int k = 0; k < count && next < order.size(); ++k) {
        FileEntry e;
        e.set_cid(f.cid);
        e.set_size(f.size);
        e.set_name(name);
        lists[order[next++]].push_back(e);
        ++published[name];
      }
    }
    f.names = published;
  }
  for (int i = 0; i < kLeaves; ++i) {
    ASSERT_TRUE(leaves[i]->Publish(lists[i], /*full=*/true).ok());
  }
  // Wait until the index holds every source.
  auto index_stub = index::IndexService::NewStub(MakeChannel(idx->address));
  bool all = false;
  for (int tries = 0; tries < 300 && !all; ++tries) {
    all = true;
    for (size_t i = 0; i < catalog.files.size(); i += 97) {
      const search::ReferenceFile& f = catalog.files[i];
      int want = 0;
      for (const auto& [name, n] : f.names) want += n;
      index::LocateRequest req;
      req.set_cid(f.cid);
      req.set_limit(100);
      index::LocateResponse resp;
      grpc::ClientContext ctx;
      if (!index_stub->Locate(&ctx, req, &resp).ok() ||
          resp.sources_size() != want) {
        all = false;
        break;
      }
    }
    if (!all) absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(all) << "the index did not receive every source";
  for (auto& leaf : leaves) ASSERT_TRUE(leaf->Heartbeat().ok());

  // The index against the reference, page after page.
  std::vector<SearchQuery> queries = Queries(catalog, 4);
  std::vector<std::vector<index::SearchResponse>> index_pages;
  int compared = 0;
  for (const SearchQuery& q : queries) {
    index_pages.push_back(Pages(
        [&](const SearchQuery& x) { return IndexPage(index_stub.get(), x); }, q, 3));
    SearchQuery rq = q;
    for (const index::SearchResponse& got : index_pages.back()) {
      absl::StatusOr<search::ParsedQuery> parsed = search::ParseQuery(rq, 50, 500);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      search::SearchPage want =
          search::ReferenceSearch(catalog.files, *parsed, search::MatchOptions());
      index::SearchResponse want_page;
      for (const SearchHit& h : want.hits) *want_page.add_hits() = h;
      want_page.set_next_cursor(want.next_cursor);
      std::string why;
      EXPECT_TRUE(SamePage(got, want_page, &why))
          << q.ShortDebugString() << ": " << why;
      compared += got.hits_size();
      rq.set_cursor(got.next_cursor());
    }
  }
  EXPECT_GT(compared, 200);

  // The index goes away: the supernode answers from its own leaves, which
  // hold the same files, and must give the same pages.
  idx->process->Signal(SIGKILL);
  idx->process->Wait(absl::Seconds(10)).IgnoreError();
  auto sn_stub = supernode::SupernodeService::NewStub(MakeChannel(sn->address));
  for (size_t i = 0; i < queries.size(); ++i) {
    std::vector<index::SearchResponse> local = Pages(
        [&](const SearchQuery& x) {
          supernode::SearchRequest req;
          *req.mutable_query() = x;
          supernode::SearchResponse resp;
          grpc::ClientContext ctx;
          ctx.set_deadline(In(absl::Seconds(10)));
          grpc::Status s = sn_stub->Search(&ctx, req, &resp);
          EXPECT_TRUE(s.ok()) << s.error_message();
          EXPECT_TRUE(resp.partial());  // from the leaves alone
          index::SearchResponse out;
          *out.mutable_hits() = resp.hits();
          out.set_next_cursor(resp.next_cursor());
          return out;
        },
        queries[i], 3);
    ASSERT_EQ(local.size(), index_pages[i].size()) << queries[i].ShortDebugString();
    for (size_t p = 0; p < local.size(); ++p) {
      std::string why;
      EXPECT_TRUE(SamePage(local[p], index_pages[i][p], &why))
          << queries[i].ShortDebugString() << " page " << p << ": " << why;
    }
  }
}

// Sends batches for `supernodes` (registered by the caller) to `targets`
// in turns: random adds, removals, full lists and departures of peers.
void Burst(const std::vector<std::string>& supernodes,
           const std::vector<int64_t>& generations,
           const std::function<index::IndexService::Stub*(int)>& target,
           int batches, uint64_t seed, std::atomic<int>* failed) {
  std::mt19937_64 rng(seed);
  std::vector<int64_t> number(supernodes.size(), 0);
  for (int b = 0; b < batches; ++b) {
    const size_t s = rng() % supernodes.size();
    index::PublishDeltasRequest req;
    req.set_supernode_id(supernodes[s]);
    req.set_generation(generations[s]);
    req.set_batch(++number[s]);
    for (int d = 0; d < 5; ++d) {
      index::PeerDelta* delta = req.add_deltas();
      const int peer = static_cast<int>(rng() % 40);
      delta->set_peer_id(absl::StrFormat("%064x", 1000 + peer));
      delta->set_address(absl::StrCat("10.0.0.", peer, ":7000"));
      const int kind = static_cast<int>(rng() % 10);
      if (kind == 0) {
        delta->set_gone(true);
        continue;
      }
      delta->set_full(kind == 1);
      for (int f = 0; f < 6; ++f) {
        const int file = static_cast<int>(rng() % 300);
        FileEntry* e = delta->add_added();
        e->set_cid(absl::StrFormat("%064x", 5000 + file));
        e->set_size(1000 + file);
        e->set_name(absl::StrCat("burst file ", file, rng() % 4 == 0 ? " alt" : "",
                                 ".bin"));
      }
      if (kind >= 8) delta->add_removed(absl::StrFormat("%064x", 5000 + rng() % 300));
    }
    index::PublishDeltasResponse resp;
    for (int attempt = 0; attempt < 600; ++attempt) {
      grpc::ClientContext ctx;
      ctx.set_deadline(In(absl::Seconds(10)));
      grpc::Status st = target(b)->PublishDeltas(&ctx, req, &resp);
      if (st.ok()) break;
      if (attempt == 599) ++*failed;
      // The replica may be restarting: next attempt, next number.
      req.set_batch(++number[s]);
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
}

TEST_F(SearchIntegrationTest, ReplicasConvergeAndARestartRebuildsTheSameIndex) {
  Server* a = StartIndex("index-a", {"--lease_seconds=600"});
  Server* b = StartIndex("index-b", {"--lease_seconds=600"});
  ASSERT_TRUE(a && b);
  auto stub_a = index::IndexService::NewStub(MakeChannel(a->address));
  auto stub_b = index::IndexService::NewStub(MakeChannel(b->address));
  std::vector<std::string> supernodes;
  std::vector<int64_t> generations;
  for (int s = 0; s < 4; ++s) {
    index::RegisterSupernodeRequest reg;
    reg.set_supernode_id(absl::StrFormat("%064x", 77 + s));
    reg.set_address(absl::StrCat("127.0.0.1:", 7100 + s));
    index::LeaseResponse lease;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub_a->RegisterSupernode(&ctx, reg, &lease).ok());
    supernodes.push_back(reg.supernode_id());
    generations.push_back(lease.generation());
  }
  // Two writers, one per replica... except that replica b is killed and
  // started again in the middle, its writer going to a meanwhile.
  std::atomic<int> failed{0};
  absl::Mutex mu;
  index::IndexService::Stub* b_stub = stub_b.get();
  std::vector<std::string> first_two = {supernodes[0], supernodes[1]};
  std::vector<std::string> last_two = {supernodes[2], supernodes[3]};
  std::thread to_a([&] {
    Burst(first_two, {generations[0], generations[1]},
          [&](int) { return stub_a.get(); }, 150, 1, &failed);
  });
  std::thread to_b([&] {
    Burst(last_two, {generations[2], generations[3]},
          [&](int) {
            absl::MutexLock lock(&mu);
            return b_stub;
          },
          150, 2, &failed);
  });
  absl::SleepFor(absl::Seconds(2));
  b->process->Signal(SIGKILL);
  b->process->Wait(absl::Seconds(10)).IgnoreError();
  Server* b2 = StartIndex("index-b2", {"--lease_seconds=600"});
  ASSERT_NE(b2, nullptr);
  auto stub_b2 = index::IndexService::NewStub(MakeChannel(b2->address));
  {
    absl::MutexLock lock(&mu);
    b_stub = stub_b2.get();
  }
  to_a.join();
  to_b.join();
  EXPECT_EQ(failed.load(), 0);

  // A replica started now loads what PostgreSQL holds.
  Server* c = StartIndex("index-c", {"--lease_seconds=600"});
  ASSERT_NE(c, nullptr);
  auto stub_c = index::IndexService::NewStub(MakeChannel(c->address));

  std::vector<SearchQuery> queries;
  for (const char* text : {"burst", "file 1", "alt", "burst -alt", "fil",
                           "brust", "\"file 12\""}) {
    for (SearchSort sort : {SEARCH_SORT_RELEVANCE, SEARCH_SORT_NAME}) {
      SearchQuery q;
      q.set_text(text);
      q.set_sort(sort);
      q.set_limit(50);
      queries.push_back(q);
    }
  }
  auto all_pages = [&](index::IndexService::Stub* stub) {
    std::vector<index::SearchResponse> out;
    for (const SearchQuery& q : queries) {
      for (index::SearchResponse& p :
           Pages([&](const SearchQuery& x) { return IndexPage(stub, x); }, q, 20)) {
        out.push_back(std::move(p));
      }
    }
    return out;
  };
  // Followers apply what others wrote within moments.
  std::vector<index::SearchResponse> pa, pb, pc;
  bool same = false;
  std::string why;
  for (int tries = 0; tries < 50 && !same; ++tries) {
    pa = all_pages(stub_a.get());
    pb = all_pages(stub_b2.get());
    pc = all_pages(stub_c.get());
    same = pa.size() == pb.size() && pa.size() == pc.size();
    for (size_t i = 0; same && i < pa.size(); ++i) {
      same = SamePage(pa[i], pb[i], &why) && SamePage(pa[i], pc[i], &why);
    }
    if (!same) absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(same) << why;
  int hits = 0;
  for (const index::SearchResponse& p : pa) hits += p.hits_size();
  EXPECT_GT(hits, 100);
}

TEST_F(SearchIntegrationTest, SearchLoadNeverCostsLeasesOrSources) {
  int seconds = 120;
  if (const char* env = std::getenv("TROVE_SOAK_SECONDS")) {
    seconds = std::max(5, std::atoi(env));
  }
  Server* idx = StartIndex(
      "index", {"--lease_seconds=10", "--renew_every_seconds=3",
                "--expire_interval_ms=1000"});
  ASSERT_NE(idx, nullptr);
  Server* sn = StartSupernode(idx->address,
                              {"--index_search_timeout_ms=1500",
                               "--session_timeout_ms=60000"});
  ASSERT_NE(sn, nullptr);

  // Leaves and their files.
  search::TestCatalog catalog = search::MakeTestCatalog(21, 4000);
  constexpr int kLeaves = 8;
  std::vector<std::unique_ptr<Leaf>> leaves;
  std::vector<std::vector<FileEntry>> lists(kLeaves);
  for (int i = 0; i < kLeaves; ++i) {
    absl::StatusOr<std::unique_ptr<Leaf>> leaf = Leaf::Join(sn->address, 9100 + i);
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    leaves.push_back(std::move(*leaf));
  }
  std::map<std::string, int> holders;  // cid -> leaves holding it
  for (size_t i = 0; i < catalog.files.size(); ++i) {
    const search::ReferenceFile& f = catalog.files[i];
    const int copies = 1 + static_cast<int>(i % 3);
    for (int k = 0; k < copies; ++k) {
      FileEntry e;
      e.set_cid(f.cid);
      e.set_size(f.size);
      e.set_name(f.names.begin()->first);
      lists[(i + k) % kLeaves].push_back(e);
    }
    holders[f.cid] = copies;
  }
  for (int i = 0; i < kLeaves; ++i) {
    ASSERT_TRUE(leaves[i]->Publish(lists[i], true).ok());
  }
  auto index_stub = index::IndexService::NewStub(MakeChannel(idx->address));
  auto all_there = [&]() {
    for (const auto& [cid, n] : holders) {
      index::LocateRequest req;
      req.set_cid(cid);
      index::LocateResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(In(absl::Seconds(5)));
      if (!index_stub->Locate(&ctx, req, &resp).ok() ||
          resp.sources_size() != n) {
        return cid;
      }
    }
    return std::string();
  };
  std::string missing;
  for (int tries = 0; tries < 300; ++tries) {
    missing = all_there();
    if (missing.empty()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(missing.empty()) << "not at the index before the load: " << missing;

  // Searchers as fast as they can, through the supernode; leaves keep
  // heartbeating and one keeps publishing.
  std::vector<search::TestQuery> texts = search::MakeTestQueries(catalog, 9, 20);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> answered{0}, partial{0}, refused{0}, other{0};
  std::atomic<int64_t> slowest_ms{0};
  std::vector<std::thread> searchers;
  constexpr int kSearchers = 8;
  for (int t = 0; t < kSearchers; ++t) {
    searchers.emplace_back([&, t] {
      auto stub = supernode::SupernodeService::NewStub(MakeChannel(sn->address));
      for (int64_t i = t; !stop.load(); i += kSearchers) {
        supernode::SearchRequest req;
        req.mutable_query()->set_text(texts[i % texts.size()].text);
        supernode::SearchResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(In(absl::Seconds(3)));
        const absl::Time t0 = absl::Now();
        grpc::Status s = stub->Search(&ctx, req, &resp);
        const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - t0);
        int64_t prev = slowest_ms.load();
        while (ms > prev && !slowest_ms.compare_exchange_weak(prev, ms)) {
        }
        if (s.ok()) {
          ++(resp.partial() ? partial : answered);
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
                   s.error_code() == grpc::StatusCode::UNAVAILABLE) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  std::thread churn([&] {
    int n = 0;
    while (!stop.load()) {
      for (auto& leaf : leaves) leaf->Heartbeat().IgnoreError();
      FileEntry e;
      e.set_cid(absl::StrFormat("%064x", 900000 + n));
      e.set_size(n);
      e.set_name(absl::StrCat("soak extra ", n, ".txt"));
      // `holders` is read again only after this thread is joined.
      if (leaves[0]->Publish({e}, false).ok()) {
        holders[e.cid()] = 1;
        ++n;
      }
      absl::SleepFor(absl::Milliseconds(500));
    }
  });
  // The supernode's lease must hold throughout: Bootstrap lists it.
  int lease_gaps = 0;
  const absl::Time end = absl::Now() + absl::Seconds(seconds);
  while (absl::Now() < end) {
    index::BootstrapResponse boot;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(5)));
    grpc::Status s = index_stub->Bootstrap(&ctx, index::BootstrapRequest(), &boot);
    if (!s.ok() || boot.supernodes_size() != 1) ++lease_gaps;
    absl::SleepFor(absl::Seconds(1));
  }
  stop = true;
  for (std::thread& t : searchers) t.join();
  churn.join();

  EXPECT_EQ(lease_gaps, 0);
  EXPECT_GT(answered.load() + partial.load(), 100);
  EXPECT_EQ(other.load(), 0);
  // Answered or refused quickly: well within the caller's 3 s.
  EXPECT_LT(slowest_ms.load(), 2500);
  std::cerr << "searches: " << answered << " answered, " << partial
            << " answered from the supernode alone, " << refused
            << " refused; slowest " << slowest_ms << " ms\n";
  // No source lost: everything published is still at the index.
  missing.clear();
  for (int tries = 0; tries < 50; ++tries) {
    missing = all_there();
    if (missing.empty()) break;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_TRUE(missing.empty()) << "lost: " << missing;
  // And the index never dropped a lease.
  EXPECT_THAT(testutil::Slurp(logs_.front()),
              ::testing::Not(::testing::HasSubstr("leases ended")));
}

}  // namespace
}  // namespace trove
