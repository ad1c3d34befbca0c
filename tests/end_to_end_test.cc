// End-to-end tests over the real binaries: index_server on a real
// PostgreSQL, a supernode, and peer daemons driven through their CLI.

#include <signal.h>
#include <sys/stat.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "protos/index.grpc.pb.h"
#include "tests/harness/cluster.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using testutil::Cluster;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::SameFile;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartIndex().ok());
    absl::Status s = cluster_->StartSupernode();
    ASSERT_TRUE(s.ok()) << s;
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->LogTails();
  }

  PeerHandle* StartPeer(const std::string& name) {
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeer(name);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : nullptr;
  }

  // Waits until `query` from `peer` lists a file named `name`; its cid.
  std::string WaitForCid(const PeerHandle& peer, const std::string& query,
                         const std::string& name) {
    std::string cid;
    WaitUntil([&] {
      cid = cluster_->FindCid(peer, query, name);
      return !cid.empty();
    });
    return cid;
  }

  // Searches the index directly over gRPC (not through a supernode).
  absl::StatusOr<index::SearchResponse> IndexSearch(const std::string& text) {
    auto stub = index::IndexService::NewStub(
        MakeChannel(cluster_->index_address(), Expected::Index(),
                    cluster_->client_tls().get()));
    index::SearchRequest request;
    request.mutable_query()->set_text(text);
    index::SearchResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    grpc::Status s = stub->Search(&ctx, request, &response);
    if (!s.ok()) return absl::UnavailableError(s.error_message());
    return response;
  }

  std::unique_ptr<Cluster> cluster_;
};

TEST_F(EndToEndTest, ShareSearchByWordPartAndMisspellingThenGet) {
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(a && b);
  const std::string song = a->share_dir + "/Bohemian_Rhapsody-Queen.mp3";
  ASSERT_TRUE(WriteRandomFile(song, 3 * 1048576 + 4321, 1).ok());
  ASSERT_TRUE(WriteRandomFile(a->share_dir + "/Another One Bites.flac",
                              1048576, 2).ok());
  ASSERT_TRUE(WriteRandomFile(a->share_dir + "/empty.dat", 0, 3).ok());

  // By a whole word.
  std::string cid = WaitForCid(*b, "rhapsody", "Bohemian_Rhapsody-Queen.mp3");
  ASSERT_FALSE(cid.empty()) << "never found by word";
  EXPECT_EQ(cid.size(), 64u);
  // By part of a word, and by misspellings.
  EXPECT_EQ(cluster_->FindCid(*b, "rhaps", "Bohemian_Rhapsody-Queen.mp3"), cid);
  EXPECT_EQ(cluster_->FindCid(*b, "rapsody", "Bohemian_Rhapsody-Queen.mp3"), cid);
  EXPECT_EQ(cluster_->FindCid(*b, "bohemain", "Bohemian_Rhapsody-Queen.mp3"),
            cid);
  // A word that is in no name finds nothing of it.
  EXPECT_EQ(cluster_->FindCid(*b, "zebra", "Bohemian_Rhapsody-Queen.mp3"), "");

  const std::string out = cluster_->work_dir() + "/downloads";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  CommandResult got = cluster_->Cli(*b, {"get", cid, "-o", out, "--json"});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_THAT(got.out, HasSubstr("\"done\""));
  EXPECT_TRUE(SameFile(song, out + "/Bohemian_Rhapsody-Queen.mp3"));

  // The empty file travels too.
  std::string empty_cid = WaitForCid(*b, "empty", "empty.dat");
  ASSERT_FALSE(empty_cid.empty());
  got = cluster_->Cli(*b, {"get", empty_cid, "-o", out});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  struct stat st;
  ASSERT_EQ(::stat((out + "/empty.dat").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
}

TEST_F(EndToEndTest, StoppedPeerLeavesSearchAfterHeartbeatTimeout) {
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(WriteRandomFile(a->share_dir + "/vanishing_track.ogg", 200000, 4)
                  .ok());
  ASSERT_FALSE(WaitForCid(*b, "vanishing", "vanishing_track.ogg").empty());

  // No goodbye: the supernode notices only by the missing heartbeats.
  a->process->Signal(SIGKILL);
  ASSERT_TRUE(a->process->Wait(absl::Seconds(10)).ok());
  EXPECT_TRUE(WaitUntil(
      [&] { return cluster_->FindCid(*b, "vanishing", "vanishing_track.ogg")
                       .empty(); },
      absl::Seconds(30)))
      << "the file stayed in search after its only source died";
  // And the index no longer lists it either.
  absl::StatusOr<index::SearchResponse> direct = IndexSearch("vanishing");
  ASSERT_TRUE(direct.ok()) << direct.status();
  EXPECT_EQ(direct->hits_size(), 0);
}

TEST_F(EndToEndTest, IndexKilledAndRestartedKeepsTheCatalog) {
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(a && b);
  const std::string file = a->share_dir + "/Sintel.2010.720p.mkv";
  ASSERT_TRUE(WriteRandomFile(file, 2 * 1048576 + 17, 5).ok());
  std::string cid = WaitForCid(*b, "sintel", "Sintel.2010.720p.mkv");
  ASSERT_FALSE(cid.empty());
  // Wait until the index itself has it (the supernode forwards in batches).
  ASSERT_TRUE(WaitUntil([&] {
    absl::StatusOr<index::SearchResponse> r = IndexSearch("sintel");
    return r.ok() && r->hits_size() == 1;
  }));

  const std::string address = cluster_->index_address();
  cluster_->index()->Signal(SIGKILL);
  ASSERT_TRUE(cluster_->index()->Wait(absl::Seconds(10)).ok());
  absl::Status restarted = cluster_->StartIndex({}, address);
  ASSERT_TRUE(restarted.ok()) << restarted;

  // The catalog is read back from PostgreSQL: the index answers at once.
  absl::StatusOr<index::SearchResponse> r = IndexSearch("sintel");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->hits_size(), 1);
  EXPECT_EQ(r->hits(0).cid(), cid);
  EXPECT_EQ(r->hits(0).size(), 2 * 1048576 + 17);
  EXPECT_EQ(r->hits(0).source_count(), 1);

  // And the whole path still works.
  EXPECT_EQ(cluster_->FindCid(*b, "sintl", "Sintel.2010.720p.mkv"), cid);
  const std::string out = cluster_->work_dir() + "/dl";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  CommandResult got = cluster_->Cli(*b, {"get", cid, "-o", out});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_TRUE(SameFile(file, out + "/Sintel.2010.720p.mkv"));
}

TEST_F(EndToEndTest, FileAddedWhileRunningIsFound) {
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(a && b);
  EXPECT_EQ(cluster_->FindCid(*b, "latecomer", "latecomer.txt"), "");
  // Written under another name and renamed in, as a careful program would.
  ASSERT_TRUE(WriteRandomFile(a->share_dir + "/.incoming", 5000, 6).ok());
  ASSERT_EQ(::rename((a->share_dir + "/.incoming").c_str(),
                     (a->share_dir + "/latecomer.txt").c_str()),
            0);
  EXPECT_FALSE(WaitForCid(*b, "latecomer", "latecomer.txt").empty());
}

TEST_F(EndToEndTest, CliRefusesBadInputClearly) {
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(b);
  CommandResult r = cluster_->Cli(*b, {"get", "not-a-cid", "-o", "/tmp"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("cid"));
  // A well-formed cid that nobody has.
  r = cluster_->Cli(*b, {"get", std::string(64, 'a'), "-o", "/tmp"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("no peer shares"));
  r = cluster_->Cli(*b, {"search", std::string(300, 'x')});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("limit"));
  // The daemon is still there.
  r = cluster_->Cli(*b, {"status", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace trove
