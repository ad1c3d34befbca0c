// Flood control at the index and at a supernode, over the real binaries
// with TLS: a client that floods searches is slowed, then cut off, while
// another client keeps being answered; joins are limited per address; bad
// limits are start errors.
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/server_util.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/index.grpc.pb.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/cluster.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

// What 300 calls of a flooder brought, with an honest client calling every
// 30th round (10 calls, within any limit of 5 a second with a burst of 10).
struct FloodTally {
  int answered = 0, slowed = 0, cut_off = 0, honest_answered = 0;
  std::string slowed_message, cut_message;
  double seconds = 0;
};

FloodTally Flood(const std::function<grpc::Status()>& flooder,
                 const std::function<grpc::Status()>& honest) {
  FloodTally t;
  const absl::Time start = absl::Now();
  for (int i = 0; i < 300; ++i) {
    grpc::Status s = flooder();
    if (s.ok()) {
      ++t.answered;
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << s.error_message();
      if (absl::StrContains(s.error_message(), "cut off")) {
        ++t.cut_off;
        t.cut_message = s.error_message();
      } else {
        ++t.slowed;
        t.slowed_message = s.error_message();
      }
    }
    if (i % 30 == 0) {
      grpc::Status h = honest();
      EXPECT_TRUE(h.ok()) << h.error_message();
      t.honest_answered += h.ok();
    }
  }
  t.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return t;
}

using ::testing::HasSubstr;
using testutil::Cluster;

class FloodTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->LogTails();
  }

  // A client of the index with a certificate (and so a peer id) of its own.
  std::unique_ptr<index::IndexService::Stub> NewClient() {
    absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
        TlsContext::Ephemeral(cluster_->ca_pem());
    EXPECT_TRUE(tls.ok()) << tls.status();
    if (!tls.ok()) return nullptr;
    contexts_.push_back(*tls);
    return index::IndexService::NewStub(MakeChannel(
        cluster_->index_address(), Expected::Index(), tls->get()));
  }

  static grpc::Status Search(index::IndexService::Stub* stub) {
    index::SearchRequest request;
    request.mutable_query()->set_text("anything");
    index::SearchResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub->Search(&ctx, request, &response);
  }

  std::unique_ptr<Cluster> cluster_;
  std::vector<std::shared_ptr<const TlsContext>> contexts_;
};

TEST_F(FloodTest, SearchFloodIsSlowedThenCutOffWhileOthersAreServed) {
  ASSERT_TRUE(cluster_
                  ->StartIndex({"--peer_search_rate=5:10", "--cut_off_after=20",
                                "--cut_off_seconds=30"})
                  .ok());
  auto flooder = NewClient();
  auto honest = NewClient();
  ASSERT_TRUE(flooder && honest);

  // The honest client searches now and then, within its own limit.
  const FloodTally t = Flood([&] { return Search(flooder.get()); },
                             [&] { return Search(honest.get()); });
  // The burst of 10 and at most 5 a second after it were answered.
  EXPECT_GE(t.answered, 10);
  EXPECT_LE(t.answered, 10 + 5 * t.seconds + 1) << t.seconds << " s";
  EXPECT_GE(t.slowed, 1);
  EXPECT_THAT(t.slowed_message, HasSubstr("too many searches from id:"));
  EXPECT_THAT(t.slowed_message, HasSubstr("retry in"));
  EXPECT_GE(t.cut_off, 1);
  EXPECT_THAT(t.cut_message, HasSubstr("refused for"));
  EXPECT_EQ(t.honest_answered, 10);

  // Cut off: still refused after its bucket has refilled.
  absl::SleepFor(absl::Seconds(2.5));
  grpc::Status after = Search(flooder.get());
  EXPECT_EQ(after.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(after.error_message(), HasSubstr("cut off"));
  // The honest client, and a new one, are served.
  EXPECT_TRUE(Search(honest.get()).ok());
  auto newcomer = NewClient();
  ASSERT_TRUE(newcomer);
  EXPECT_TRUE(Search(newcomer.get()).ok());
}

TEST_F(FloodTest, JoinsAreLimitedPerIdentityAndPerAddress) {
  ASSERT_TRUE(cluster_
                  ->StartIndex({"--join_rate=2:4", "--join_rate_per_address=3:8",
                                "--cut_off_after=0"})
                  .ok());
  auto bootstrap = [](index::IndexService::Stub* stub) {
    index::BootstrapRequest request;
    index::BootstrapResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub->Bootstrap(&ctx, request, &response);
  };
  // One identity asking again and again: its own limit.
  auto one = NewClient();
  ASSERT_TRUE(one);
  int ok = 0;
  std::string message;
  for (int i = 0; i < 10; ++i) {
    grpc::Status s = bootstrap(one.get());
    if (s.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      message = s.error_message();
    }
  }
  EXPECT_GE(ok, 4);
  EXPECT_LT(ok, 10);
  EXPECT_THAT(message, HasSubstr("too many join requests from id:"));

  // Fresh identities from one address: the address's limit.
  absl::SleepFor(absl::Seconds(3));  // both buckets refill
  ok = 0;
  message.clear();
  for (int i = 0; i < 20; ++i) {
    auto client = NewClient();
    ASSERT_TRUE(client);
    grpc::Status s = bootstrap(client.get());
    if (s.ok()) {
      ++ok;
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      message = s.error_message();
    }
  }
  EXPECT_GE(ok, 8);
  EXPECT_LT(ok, 20);
  EXPECT_THAT(message, HasSubstr("too many join requests from addr:127.0.0.1"));
  // Waiting as told is enough.
  absl::SleepFor(absl::Seconds(1.5));
  auto patient = NewClient();
  ASSERT_TRUE(patient);
  EXPECT_TRUE(bootstrap(patient.get()).ok());
}

// A leaf of the cluster's supernode: its identity, and a stub whose TLS
// certificate is made from that identity.
struct Leaf {
  std::unique_ptr<Identity> identity;
  std::shared_ptr<const TlsContext> tls;
  std::unique_ptr<supernode::SupernodeService::Stub> stub;
};

Leaf NewLeaf(const Cluster& cluster) {
  Leaf leaf;
  leaf.identity = Identity::Generate().value();
  leaf.tls = TlsContext::ForIdentity(*leaf.identity, cluster.ca_pem()).value();
  leaf.stub = supernode::SupernodeService::NewStub(MakeChannel(
      cluster.supernode_address(), Expected::Supernode(), leaf.tls.get()));
  return leaf;
}

std::chrono::system_clock::time_point Soon() {
  return std::chrono::system_clock::now() + std::chrono::seconds(10);
}

grpc::Status Challenge(const Leaf& leaf, std::string* nonce,
                       int* work_bits = nullptr) {
  supernode::ChallengeResponse challenge;
  grpc::ClientContext ctx;
  ctx.set_deadline(Soon());
  grpc::Status s = leaf.stub->Challenge(&ctx, {}, &challenge);
  *nonce = challenge.nonce();
  if (work_bits != nullptr) *work_bits = challenge.work_bits();
  return s;
}

grpc::Status Join(const Leaf& leaf) {
  std::string nonce;
  int work_bits = 0;
  grpc::Status s = Challenge(leaf, &nonce, &work_bits);
  if (!s.ok()) return s;
  supernode::JoinRequest req;
  req.set_public_key(leaf.identity->public_key());
  req.set_nonce(nonce);
  req.set_listen_address("127.0.0.1:9");
  req.set_work(
      SolveJoinWork(nonce, leaf.identity->public_key(), work_bits));
  req.set_signature(
      leaf.identity->Sign(JoinSignedMessage(nonce, "127.0.0.1:9")).value());
  supernode::JoinResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(Soon());
  return leaf.stub->Join(&ctx, req, &resp);
}

grpc::Status LeafSearch(const Leaf& leaf) {
  supernode::SearchRequest request;
  request.mutable_query()->set_text("anything");
  supernode::SearchResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(Soon());
  return leaf.stub->Search(&ctx, request, &response);
}

TEST_F(FloodTest, ASupernodeSlowsThenCutsOffAFloodingLeafWhileOthersAreServed) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  ASSERT_TRUE(cluster_
                  ->StartSupernode({"--session_timeout_ms=60000",
                                    "--heartbeat_interval_ms=20000",
                                    "--leaf_search_rate=5:10",
                                    "--leaf_join_rate=4:8",
                                    "--cut_off_after=20",
                                    "--cut_off_seconds=30"})
                  .ok());
  Leaf flooder = NewLeaf(*cluster_);
  Leaf honest = NewLeaf(*cluster_);
  ASSERT_TRUE(Join(flooder).ok());
  ASSERT_TRUE(Join(honest).ok());

  const FloodTally t = Flood([&] { return LeafSearch(flooder); },
                             [&] { return LeafSearch(honest); });
  EXPECT_GE(t.answered, 10);
  EXPECT_LE(t.answered, 10 + 5 * t.seconds + 1) << t.seconds << " s";
  EXPECT_GE(t.slowed, 1);
  // Keyed by the leaf's proven peer id, not by the address both share.
  EXPECT_THAT(t.slowed_message,
              HasSubstr(absl::StrCat("too many searches from peer:",
                                     flooder.identity->peer_id())));
  EXPECT_THAT(t.slowed_message, HasSubstr("retry in"));
  EXPECT_GE(t.cut_off, 1);
  EXPECT_THAT(t.cut_message, HasSubstr("refused for"));
  EXPECT_EQ(t.honest_answered, 10);
  absl::SleepFor(absl::Seconds(2.5));
  grpc::Status after = LeafSearch(flooder);
  EXPECT_EQ(after.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(after.error_message(), HasSubstr("cut off"));
  EXPECT_TRUE(LeafSearch(honest).ok());

  // Challenges from one address: its limit, whatever key asks.
  int challenged = 0;
  std::string message;
  for (int i = 0; i < 20; ++i) {
    Leaf newcomer = NewLeaf(*cluster_);
    std::string nonce;
    grpc::Status s = Challenge(newcomer, &nonce);
    if (s.ok()) {
      ++challenged;
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
      message = s.error_message();
    }
  }
  EXPECT_LT(challenged, 20);
  EXPECT_THAT(message, HasSubstr("too many join requests from addr:127.0.0.1"));
  // Waiting as told is enough.
  absl::SleepFor(absl::Seconds(1.5));
  Leaf patient = NewLeaf(*cluster_);
  EXPECT_TRUE(Join(patient).ok());
}

TEST_F(FloodTest, BadLimitIsAStartError) {
  testutil::CommandResult r = testutil::RunCommand(
      {testutil::RunfilePath("index_server/index_server"),
       "--postgres=host=/nonexistent", "--insecure",
       "--peer_search_rate=lots"},
      absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--peer_search_rate=lots"));
  r = testutil::RunCommand({testutil::RunfilePath("supernode/supernode"),
                            "--index=127.0.0.1:1", "--insecure",
                            "--leaf_search_rate=lots"},
                           absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--leaf_search_rate=lots"));
}

}  // namespace
}  // namespace trove
