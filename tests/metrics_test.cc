// Prometheus metrics of the real binaries: each role serves /metrics on
// --metrics_listen, promtool accepts what it serves, and the call counters
// move when peers search and download.

#include <sys/stat.h>

#include <fstream>
#include <regex>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/ops_probe.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using testutil::Cluster;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::SameFile;
using testutil::Slurp;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

// The metrics address a server logged at start ("metrics=HOST:PORT").
std::string MetricsAddress(const std::string& log_path) {
  std::smatch m;
  std::string log = Slurp(log_path);
  static const std::regex re(R"(metrics=(127\.0\.0\.1:[0-9]+))");
  return std::regex_search(log, m, re) ? m[1].str() : "";
}

std::string Scrape(const std::string& address) {
  size_t colon = address.rfind(':');
  httplib::Client client(address.substr(0, colon),
                         std::stoi(address.substr(colon + 1)));
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  httplib::Result res = client.Get("/metrics");
  if (!res || res->status != 200) return "";
  return res->body;
}

// Sum of the samples of `name` whose labels contain every `needles`.
double Sum(const std::string& text, const std::string& name,
           const std::vector<std::string>& needles) {
  double total = 0;
  size_t pos = 0;
  while ((pos = text.find("\n" + name + "{", pos)) != std::string::npos) {
    size_t end = text.find('\n', pos + 1);
    std::string line = text.substr(pos + 1, end - pos - 1);
    pos = end;
    bool all = true;
    for (const std::string& n : needles) all = all && line.find(n) != std::string::npos;
    if (all) total += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return total;
}

// The value of the unlabelled sample `name`, or -1 when there is none.
double Value(const std::string& text, const std::string& name) {
  size_t pos = text.find("\n" + name + " ");
  if (pos == std::string::npos) return -1;
  size_t start = pos + name.size() + 2;
  return std::stod(text.substr(start, text.find('\n', start) - start));
}

class MetricsTest : public testutil::ClusterTest {};

TEST_F(MetricsTest, EveryRoleServesMetricsThatMoveWithSearchesAndDownloads) {
  const std::vector<std::string> flag = {"--metrics_listen=127.0.0.1:0"};
  ASSERT_TRUE(cluster_->StartIndex(flag).ok());
  ASSERT_TRUE(cluster_->StartSupernode(flag).ok());
  absl::StatusOr<PeerHandle*> a = cluster_->StartPeer("a", flag);
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<PeerHandle*> b = cluster_->StartPeer("b", flag);
  ASSERT_TRUE(b.ok()) << b.status();

  const std::string index = MetricsAddress(cluster_->index()->log_path());
  const std::string supernode = MetricsAddress(cluster_->supernode()->log_path());
  const std::string peer = MetricsAddress((*a)->process->log_path());
  const std::string peer_b = MetricsAddress((*b)->process->log_path());
  ASSERT_FALSE(peer_b.empty());
  ASSERT_FALSE(index.empty());
  ASSERT_FALSE(supernode.empty());
  ASSERT_FALSE(peer.empty());

  const std::string file = (*a)->share_dir + "/Counted Song.ogg";
  ASSERT_TRUE(WriteRandomFile(file, 1048576 + 5, 11).ok());
  std::string cid;
  ASSERT_TRUE(WaitUntil([&] {
    cid = cluster_->FindCid(**b, "counted", "Counted Song.ogg");
    return !cid.empty();
  }));

  const std::vector<std::string> search = {"grpc_method=\"Search\"", "grpc_code=\"OK\""};
  const double index_searches = Sum(Scrape(index), "grpc_server_handled_total",
                                    {"trove.index.IndexService", search[0], search[1]});
  const double sn_searches =
      Sum(Scrape(supernode), "grpc_server_handled_total",
          {"trove.supernode.SupernodeService", search[0], search[1]});
  const double chunks_before = Sum(Scrape(peer), "grpc_server_handled_total",
                                   {"trove.peer.PeerService", "GetChunks"});

  // Three searches from b, then a download from a.
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(cluster_->FindCid(**b, "counted", "Counted Song.ogg"), cid);
  }
  const std::string out = cluster_->work_dir() + "/dl";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  CommandResult got = cluster_->Cli(**b, {"get", cid, "-o", out});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  ASSERT_TRUE(SameFile(file, out + "/Counted Song.ogg"));

  const std::string index_text = Scrape(index);
  const std::string sn_text = Scrape(supernode);
  const std::string peer_text = Scrape(peer);
  EXPECT_EQ(Sum(sn_text, "grpc_server_handled_total",
                {"trove.supernode.SupernodeService", search[0], search[1]}),
            sn_searches + 3);
  // The supernode asks the index for its part of each search.
  EXPECT_GE(Sum(index_text, "grpc_server_handled_total",
                {"trove.index.IndexService", search[0], search[1]}),
            index_searches + 3);
  EXPECT_GT(Sum(peer_text, "grpc_server_handled_total",
                {"trove.peer.PeerService", "GetChunks", "grpc_code=\"OK\""}),
            chunks_before);
  EXPECT_GT(Sum(sn_text, "grpc_server_handling_seconds_count",
                {"grpc_method=\"Join\""}),
            0);
  EXPECT_GT(Sum(peer_text, "grpc_server_started_total",
                {"trove.peer.PeerService", "grpc_method=\"GetManifest\""}),
            0);

  // Each role's own state: the catalog at the index, leaves and the queue
  // to the index at the supernode, bytes moved at the peers.
  const double size = 1048576 + 5;
  EXPECT_GE(Sum(peer_text, "trove_peer_bytes_total", {"direction=\"up\""}), size)
      << peer_text;
  const std::string peer_b_text = Scrape(peer_b);
  EXPECT_GE(Sum(peer_b_text, "trove_peer_bytes_total", {"direction=\"down\""}),
            size)
      << peer_b_text;
  EXPECT_EQ(Value(sn_text, "trove_supernode_leaves"), 2) << sn_text;
  EXPECT_GE(Value(sn_text, "trove_supernode_files"), 1);
  EXPECT_EQ(Value(sn_text, "trove_supernode_index_registered"), 1);
  EXPECT_GE(Value(sn_text, "trove_supernode_batches_sent_total"), 1);
  EXPECT_GE(Value(sn_text, "trove_supernode_pending_entries"), 0);
  EXPECT_EQ(Value(index_text, "trove_index_files"), 1) << index_text;
  EXPECT_EQ(Value(index_text, "trove_index_catalog_ready"), 1);
  EXPECT_GE(Value(index_text, "trove_index_peers"), 1);
  EXPECT_EQ(Value(index_text, "trove_index_supernodes"), 1);
  EXPECT_GE(Sum(index_text, "trove_index_ingested_sources_total",
                {"change=\"added\""}),
            1);
  // The copy went to a folder of b's choosing (-o), which b does not share.
  EXPECT_EQ(Sum(index_text, "trove_index_sources", {"state=\"complete\""}), 1)
      << index_text;

  for (const auto& [role, text] :
       {std::make_pair("index", index_text), std::make_pair("supernode", sn_text),
        std::make_pair("peer", peer_text)}) {
    EXPECT_NE(text.find("process_start_time_seconds"), std::string::npos) << role;
    EXPECT_EQ(trove::testing::PromtoolProblems(text), "") << role << ":\n" << text;
  }
}

TEST_F(MetricsTest, UsedMetricsPortIsAClearStartError) {
  ASSERT_TRUE(cluster_->StartIndex({"--metrics_listen=127.0.0.1:0"}).ok());
  const std::string used = MetricsAddress(cluster_->index()->log_path());
  ASSERT_FALSE(used.empty());
  CommandResult r = RunCommand(
      {testutil::RunfilePath("supernode/supernode"),
       "--index=" + cluster_->index_address(), "--listen=127.0.0.1:0",
       "--metrics_listen=" + used, "--insecure"},
      absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, ::testing::HasSubstr("--metrics_listen: " + used +
                                          " is already in use"));
}

}  // namespace
}  // namespace trove
