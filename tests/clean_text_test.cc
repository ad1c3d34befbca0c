// Clean text at the edge, over the real binaries: addresses and names with
// control or bidi characters are refused with INVALID_ARGUMENT and stored
// nowhere, while dots inside an ordinary name are fine.

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/index.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using testutil::Cluster;
using testutil::PeerHandle;
using testutil::Slurp;
using testutil::WaitUntil;

class CleanTextTest : public testutil::ClusterTest {
 protected:
  void SetUp() override {
    ClusterTest::SetUp();
    ASSERT_NE(cluster_, nullptr);
    ASSERT_TRUE(cluster_->StartIndex().ok());
    ASSERT_TRUE(cluster_->StartSupernode().ok());
  }
};

TEST_F(CleanTextTest, DotsInsideANameAreSharedAndBidiNamesAreNot) {
  const std::string work = cluster_->work_dir();
  ASSERT_EQ(::mkdir((work + "/a-share").c_str(), 0755), 0);
  std::ofstream(work + "/a-share/AC-DC - T.N.T..mp3") << "rock and roll";
  std::ofstream(work + "/a-share/evil\xe2\x80\xaegpj.exe") << "not a picture";
  std::ofstream(work + "/a-share/csi\xc2\x9b" "31m.mp3") << "terminal trick";
  absl::StatusOr<PeerHandle*> a = cluster_->StartPeer("a");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<PeerHandle*> b = cluster_->StartPeer("b");
  ASSERT_TRUE(b.ok()) << b.status();

  std::string cid;
  ASSERT_TRUE(WaitUntil([&] {
    cid = cluster_->FindCid(**b, "AC-DC", "AC-DC - T.N.T..mp3");
    return !cid.empty();
  }));
  absl::StatusOr<nlohmann::json> evil = cluster_->Search(**b, "evil");
  ASSERT_TRUE(evil.ok()) << evil.status();
  EXPECT_TRUE((*evil)["hits"].empty()) << evil->dump();
  absl::StatusOr<nlohmann::json> csi = cluster_->Search(**b, "csi");
  ASSERT_TRUE(csi.ok()) << csi.status();
  EXPECT_TRUE((*csi)["hits"].empty()) << csi->dump();
  // The daemon said why it skipped them, escaped.
  std::string log = Slurp((*a)->process->log_path());
  EXPECT_THAT(log, HasSubstr("evil\\u202egpj.exe"));
  EXPECT_THAT(log, HasSubstr("csi\\u009b31m.mp3"));
}

TEST_F(CleanTextTest, IndexRefusesAddressesThatWouldForgeLogLines) {
  auto stub = index::IndexService::NewStub(MakeChannel(cluster_->index_address()));
  for (const std::string& address :
       {std::string("unix:/tmp/x\n2030-01-01T00:00:00.000Z I index_server "
                    "main.cc:1] forged"),
        std::string("127.0.0.1:7401\x1b[2J"), std::string("h\xc2\x9b:7401"),
        std::string("unix:/tmp/\xe2\x80\xaex")}) {
    index::RegisterSupernodeRequest request;
    request.set_supernode_id(std::string(64, 'a'));
    request.set_address(address);
    index::LeaseResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = stub->RegisterSupernode(&ctx, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << address;
    EXPECT_THAT(s.error_message(), HasSubstr("address"));
  }
  // Nothing was registered under that id, and no line was forged.
  index::BootstrapRequest bootstrap;
  index::BootstrapResponse supernodes;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ASSERT_TRUE(stub->Bootstrap(&ctx, bootstrap, &supernodes).ok());
  for (const auto& sn : supernodes.supernodes()) {
    EXPECT_NE(sn.supernode_id(), std::string(64, 'a'));
  }
  EXPECT_THAT(Slurp(cluster_->index()->log_path()),
              ::testing::Not(HasSubstr("\n2030-01-01")));
}

}  // namespace
}  // namespace trove
