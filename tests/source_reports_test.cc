// Bad-source reports take effect, weighed by how long the community has
// known each reporter, over the real binaries (index_server, two
// supernodes, peer_client daemons, PostgreSQL, TLS as by default).
//
// Two peer daemons, "bad" and "good", share the same file through the
// first supernode. Three established peers become known to the index
// through that supernode, then move to a second one (which has never seen
// them) and at once report "bad" for the file there: the second supernode
// learns their age from the index's answer to their full lists, weighs
// their reports fully, and leaves "bad" out of its Locate answers for the
// file. Ten throw-away peers that join the second supernode and report
// "good" at once move nothing. The first supernode, where nobody
// reported, still offers both.
//
// Full weight is reached after --report_full_weight_after_seconds on the
// second supernode, short here; the reports all come within a few seconds
// of the reporters joining it, so without the index's record they would
// weigh (almost) nothing.

#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/signed_change.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

using testutil::PeerHandle;
using testutil::WaitUntil;
using ::testing::UnorderedElementsAre;

// Full weight after this long, at the second supernode.
constexpr int kFullWeightAfterSeconds = 10;
// Each supernode's session timeout here: the test's own leaves do not
// send heartbeats.
constexpr char kLongSessions[] = "--session_timeout_ms=120000";

// The /metrics text of the server whose log is at `log_path` (it logs
// "metrics=HOST:PORT" at start); "" when it cannot be read.
std::string ScrapeMetrics(const std::string& log_path) {
  std::smatch m;
  const std::string log = testutil::Slurp(log_path);
  static const std::regex re(R"(metrics=127\.0\.0\.1:([0-9]+))");
  if (!std::regex_search(log, m, re)) return "";
  httplib::Client client("127.0.0.1", std::stoi(m[1].str()));
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Result res = client.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

// A leaf of the test's own: an identity with a TLS context made from it,
// so that supernodes see the caller as that peer.
struct TestLeaf {
  std::unique_ptr<Identity> key;
  std::shared_ptr<const TlsContext> tls;
  std::string session;
  std::string supernode_id;
};

class SourceReportsTest : public testutil::ClusterTest {
 protected:
  std::chrono::system_clock::time_point Soon() {
    return std::chrono::system_clock::now() + std::chrono::seconds(10);
  }

  std::unique_ptr<supernode::SupernodeService::Stub> Stub(
      const TestLeaf& leaf, const std::string& address) {
    return supernode::SupernodeService::NewStub(
        leaf.tls->MakeChannel(address, Expected::Supernode()));
  }

  TestLeaf NewLeaf() {
    TestLeaf leaf;
    leaf.key = *Identity::Generate();
    leaf.tls = *TlsContext::ForIdentity(*leaf.key, cluster_->ca_pem());
    return leaf;
  }

  // Joins `leaf` to the supernode at `address`.
  grpc::Status Join(TestLeaf& leaf, const std::string& address) {
    auto stub = Stub(leaf, address);
    supernode::ChallengeResponse challenge;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(Soon());
      grpc::Status s = stub->Challenge(&ctx, {}, &challenge);
      if (!s.ok()) return s;
    }
    const std::string listen = "127.0.0.1:9";
    supernode::JoinRequest join;
    join.set_public_key(leaf.key->public_key());
    join.set_nonce(challenge.nonce());
    join.set_listen_address(listen);
    join.set_signature(
        *leaf.key->Sign(JoinSignedMessage(challenge.nonce(), listen)));
    join.set_work(SolveJoinWork(challenge.nonce(), join.public_key(),
                                challenge.work_bits()));
    supernode::JoinResponse joined;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = stub->Join(&ctx, join, &joined);
    leaf.session = joined.session();
    leaf.supernode_id = joined.supernode_id();
    return s;
  }

  // Publishes `leaf`'s signed full list (one file of its own) at the
  // supernode it joined last.
  grpc::Status PublishOwnFile(const TestLeaf& leaf, const std::string& address,
                              int n) {
    LeafChange change;
    change.set_supernode_id(leaf.supernode_id);
    change.set_seq(absl::ToUnixMicros(absl::Now()));
    change.set_full(true);
    change.set_address("127.0.0.1:9");
    change.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
    FileEntry* file = change.add_added();
    file->set_cid(absl::StrCat(std::string(56, 'a'), absl::Hex(n, absl::kZeroPad8)));
    file->set_name(absl::StrCat("notes ", n, ".txt"));
    file->set_size(1000 + n);
    Signed s = *SignLeafChange(*leaf.key, change);
    supernode::PublishRequest req;
    req.set_session(leaf.session);
    req.set_full(true);
    req.set_signed_change(s.bytes);
    req.set_signature(s.signature);
    supernode::PublishResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return Stub(leaf, address)->Publish(&ctx, req, &resp);
  }

  grpc::Status Report(const TestLeaf& leaf, const std::string& address,
                      const std::string& cid, const std::string& source) {
    supernode::ReportBadSourceRequest req;
    req.set_session(leaf.session);
    req.set_cid(cid);
    req.set_peer_id(source);
    req.set_reason("chunk 0 does not match its hash");
    supernode::ReportBadSourceResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return Stub(leaf, address)->ReportBadSource(&ctx, req, &resp);
  }

  // The peer ids a Locate of `cid` at `address` offers.
  std::vector<std::string> Sources(const TestLeaf& asker,
                                   const std::string& address,
                                   const std::string& cid) {
    supernode::LocateRequest req;
    req.set_cid(cid);
    supernode::LocateResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = Stub(asker, address)->Locate(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const Source& src : resp.sources()) out.push_back(src.peer_id());
    return out;
  }

  std::string PeerId(const PeerHandle& peer) {
    testutil::CommandResult st = cluster_->Cli(peer, {"status", "--json"});
    nlohmann::json j = nlohmann::json::parse(st.out, nullptr, false);
    return j.is_object() ? j.value("peer_id", "") : "";
  }

  PeerHandle* StartSharing(const std::string& name) {
    const std::string share =
        absl::StrCat(cluster_->work_dir(), "/", name, "-share");
    ::mkdir(share.c_str(), 0755);
    EXPECT_TRUE(
        testutil::WriteRandomFile(absl::StrCat(share, "/lecture.ogg"), 300000, 7)
            .ok());
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeer(name);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : nullptr;
  }
};

TEST_F(SourceReportsTest, EstablishedReportersLeaveASourceOutThrowAwayOnesDoNot) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_->StartSupernode({kLongSessions}).ok());
  const std::string first = cluster_->supernode_address();

  PeerHandle* bad = StartSharing("bad");
  ASSERT_NE(bad, nullptr);
  PeerHandle* good = StartSharing("good");
  ASSERT_NE(good, nullptr);
  const std::string bad_id = PeerId(*bad);
  const std::string good_id = PeerId(*good);
  ASSERT_EQ(bad_id.size(), 64u);
  ASSERT_EQ(good_id.size(), 64u);

  // Three peers become known to the index through the first supernode.
  std::vector<TestLeaf> established;
  for (int i = 0; i < 3; ++i) {
    established.push_back(NewLeaf());
    TestLeaf& leaf = established.back();
    grpc::Status s = Join(leaf, first);
    ASSERT_TRUE(s.ok()) << s.error_message();
    s = PublishOwnFile(leaf, first, i);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const absl::Time known = absl::Now();

  std::string cid;
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<nlohmann::json> j = cluster_->Search(*good, "lecture");
    if (!j.ok() || !j->contains("hits")) return false;
    for (const auto& hit : (*j)["hits"]) {
      if (hit.value("source_count", 0) == 2) {
        cid = hit.value("cid", "");
        return true;
      }
    }
    return false;
  })) << "the index never counted both sources";
  ASSERT_EQ(cid.size(), 64u);
  // The reporters' own files have reached the index.
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<nlohmann::json> j = cluster_->Search(*good, "notes");
    return j.ok() && j->contains("hits") && (*j)["hits"].size() == 3;
  })) << "the index never stored the reporters' files";

  // Established: known to the index for the full-weight time.
  absl::SleepFor(known + absl::Seconds(kFullWeightAfterSeconds + 1) -
                 absl::Now());

  absl::StatusOr<std::string> second = cluster_->StartOtherSupernode(
      "second",
      {kLongSessions,
       absl::StrCat("--report_full_weight_after_seconds=",
                    kFullWeightAfterSeconds),
       "--report_rank_last_score=2", "--report_leave_out_score=3",
       "--metrics_listen=127.0.0.1:0"});
  ASSERT_TRUE(second.ok()) << second.status();
  const std::string second_log =
      cluster_->other_supernode("second")->log_path();

  // The established peers move to the second supernode and send it their
  // lists; the index's answer tells it how long it has known them.
  const absl::Time moved = absl::Now();
  for (int i = 0; i < 3; ++i) {
    TestLeaf& leaf = established[i];
    grpc::Status s = Join(leaf, *second);
    ASSERT_TRUE(s.ok()) << s.error_message();
    s = PublishOwnFile(leaf, *second, i);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_TRUE(WaitUntil(
      [&] {
        const std::string log = testutil::Slurp(second_log);
        int learned = 0;
        for (const TestLeaf& leaf : established) {
          if (absl::StrContains(log, absl::StrCat("leaf ", leaf.key->peer_id(),
                                                  " is known to the index"))) {
            ++learned;
          }
        }
        return learned == 3;
      },
      absl::Seconds(15)))
      << "the second supernode never learned the movers' age";

  // Ten throw-away peers join the second supernode and report "good".
  std::vector<TestLeaf> fresh;
  for (int i = 0; i < 10; ++i) {
    fresh.push_back(NewLeaf());
    grpc::Status s = Join(fresh.back(), *second);
    ASSERT_TRUE(s.ok()) << s.error_message();
    s = Report(fresh.back(), *second, cid, good_id);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  // The established ones report "bad".
  for (const TestLeaf& leaf : established) {
    grpc::Status s = Report(leaf, *second, cid, bad_id);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const absl::Duration since_moved = absl::Now() - moved;

  // "bad" is left out at the second supernode; "good" stays.
  EXPECT_THAT(Sources(fresh[0], *second, cid), UnorderedElementsAre(good_id));
  // Nobody reported at the first one.
  EXPECT_THAT(Sources(fresh[0], first, cid),
              UnorderedElementsAre(good_id, bad_id));
  const std::string log = testutil::Slurp(second_log);
  EXPECT_TRUE(absl::StrContains(log, "(left out in look-ups)")) << log;
  // The operator sees it in the second supernode's metrics: one source
  // left out for one file, thirteen reports counting.
  const std::string metrics = ScrapeMetrics(second_log);
  EXPECT_TRUE(absl::StrContains(
      metrics, "trove_supernode_reported_sources{standing=\"left_out\"} 1\n"))
      << metrics;
  EXPECT_TRUE(absl::StrContains(
      metrics, "trove_supernode_reported_sources{standing=\"last\"} 0\n"))
      << metrics;
  EXPECT_TRUE(
      absl::StrContains(metrics, "\ntrove_supernode_bad_source_reports 13\n"))
      << metrics;

  // The movers' reports came well within the full-weight time of their
  // joining the second supernode: by their time there alone they would
  // have weighed too little to count.
  EXPECT_LT(since_moved, absl::Seconds(kFullWeightAfterSeconds) / 2)
      << "too slow: the movers came of age at the second supernode itself";
}

}  // namespace
}  // namespace trove
