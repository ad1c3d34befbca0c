// TLS on a real community (index, supernode and peers as processes): the
// community link, and what a connection with the wrong certificate, or
// none, gets.
#include <sys/stat.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/community_files.h"
#include "common/community_link.h"
#include "common/file_util.h"
#include "common/server_util.h"
#include "common/tls.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "protos/index.grpc.pb.h"
#include "protos/peer.grpc.pb.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;
using testutil::SameFile;
using testutil::Slurp;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

constexpr absl::Duration kYear = absl::Hours(24 * 365);

class TlsTest : public testutil::ClusterTest {
 protected:
  void StartServers() {
    ASSERT_TRUE(cluster_->StartIndex().ok());
    absl::Status s = cluster_->StartSupernode();
    ASSERT_TRUE(s.ok()) << s;
  }

  std::string PeerId(const PeerHandle& peer) {
    CommandResult r = cluster_->Cli(peer, {"status", "--json"});
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? "" : j.value("peer_id", "");
  }

  static std::chrono::system_clock::time_point Soon() {
    return absl::ToChronoTime(absl::Now() + absl::Seconds(10));
  }

  // An index Search from a client with `tls`, expecting the index.
  grpc::Status IndexSearch(const TlsContext& tls) {
    auto stub = index::IndexService::NewStub(
        MakeChannel(cluster_->index_address(), Expected::Index(), &tls));
    index::SearchRequest req;
    req.mutable_query()->set_text("anything");
    index::SearchResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return stub->Search(&ctx, req, &resp);
  }

  // GetManifest of `cid` at `address`, accepting only `expected`.
  grpc::Status Manifest(const std::string& address, const Expected& expected,
                        const std::string& cid,
                        const TlsContext* tls = nullptr) {
    auto stub = peer::PeerService::NewStub(MakeChannel(address, expected, tls));
    peer::GetManifestRequest req;
    req.set_cid(cid);
    peer::Manifest resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return stub->GetManifest(&ctx, req, &resp);
  }
};

TEST_F(TlsTest, PeersJoinWithTheLinkAlone) {
  StartServers();
  const std::string link = cluster_->link();
  absl::StatusOr<CommunityLink> parsed = ParseCommunityLink(link);
  ASSERT_TRUE(parsed.ok()) << link;
  EXPECT_EQ(parsed->address(), cluster_->index_address());

  absl::StatusOr<PeerHandle*> a = cluster_->StartPeerWithLink("a");
  ASSERT_TRUE(a.ok()) << a.status();
  absl::StatusOr<PeerHandle*> b = cluster_->StartPeerWithLink("b");
  ASSERT_TRUE(b.ok()) << b.status();
  // Each learned the CA from the index and kept it.
  for (PeerHandle* p : {*a, *b}) {
    std::string kept = Slurp(absl::StrCat(p->state_dir, "/", kCommunityCaFile));
    EXPECT_EQ(*CertificateFingerprint(kept), parsed->ca_fingerprint) << p->name;
  }
  // ... and found the supernode through the index.
  CommandResult status = cluster_->Cli(**b, {"status", "--json"});
  EXPECT_THAT(status.out, HasSubstr(cluster_->supernode_address()));

  const std::string file = (*a)->share_dir + "/Big.Buck.Bunny.mkv";
  ASSERT_TRUE(WriteRandomFile(file, 3 * 1048576 + 5, 11).ok());
  std::string cid;
  ASSERT_TRUE(WaitUntil([&] {
    cid = cluster_->FindCid(**b, "bunny", "Big.Buck.Bunny.mkv");
    return !cid.empty();
  }));
  const std::string out = cluster_->work_dir() + "/dl";
  ASSERT_EQ(::mkdir(out.c_str(), 0755), 0);
  CommandResult got = cluster_->Cli(**b, {"get", cid, "-o", out});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_TRUE(SameFile(file, out + "/Big.Buck.Bunny.mkv"));

  // A restart needs no index to learn the CA again: it was kept.
  (*b)->process->Stop(absl::Seconds(10));
  cluster_->index()->Signal(SIGSTOP);
  absl::StatusOr<PeerHandle*> again = cluster_->StartPeerWithLink(
      "b", {"--join_timeout_ms=500", "--first_publish_wait_ms=100"});
  cluster_->index()->Signal(SIGCONT);
  EXPECT_TRUE(again.ok()) << again.status();
}

TEST_F(TlsTest, BadLinksAreClearErrors) {
  StartServers();
  const std::string state = cluster_->work_dir() + "/x-state";
  CommandResult r = RunCommand({RunfilePath("peer_client/peer_client"), "daemon",
                                "--state=" + state, "--join=trove://nowhere"},
                               absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("bad community link"));

  // The right index, another community's fingerprint: refused, not trusted.
  CommunityLink other = *ParseCommunityLink(cluster_->link());
  other.ca_fingerprint = std::string(64, 'e');
  r = RunCommand({RunfilePath("peer_client/peer_client"), "daemon",
                  "--state=" + state, "--join=" + FormatCommunityLink(other),
                  "--join_timeout_ms=5000"},
                 absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("does not match the link"));
  struct stat st;
  EXPECT_NE(::stat((state + "/" + kCommunityCaFile).c_str(), &st), 0);

  // Without a link or a CA, TLS cannot check the supernode: a usage error.
  r = RunCommand({RunfilePath("peer_client/peer_client"), "daemon",
                  "--state=" + state,
                  "--supernode=" + cluster_->supernode_address()},
                 absl::Seconds(30));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("no community CA known"));
}

TEST_F(TlsTest, APeerServingUnderAnotherPeersIdIsRefused) {
  StartServers();
  absl::StatusOr<PeerHandle*> a = cluster_->StartPeer("a");
  absl::StatusOr<PeerHandle*> b = cluster_->StartPeer("b");
  ASSERT_TRUE(a.ok() && b.ok());
  const std::string file = (*a)->share_dir + "/song.mp3";
  ASSERT_TRUE(WriteRandomFile(file, 1048576, 3).ok());
  std::string cid;
  ASSERT_TRUE(WaitUntil([&] {
    cid = cluster_->FindCid(**b, "song", "song.mp3");
    return !cid.empty();
  }));
  const std::string a_id = PeerId(**a);
  const std::string b_id = PeerId(**b);
  ASSERT_EQ(a_id.size(), 64u);
  ASSERT_EQ(b_id.size(), 64u);

  // At a's address, a's key: served.
  grpc::Status st = Manifest((*a)->address, Expected::Peer(a_id), cid);
  EXPECT_TRUE(st.ok()) << st.error_message();
  // b's address named as a source of a's id (what a lying supernode, or a
  // peer that took over the address, would make a downloader believe):
  // the handshake fails, no manifest is asked for.
  st = Manifest((*b)->address, Expected::Peer(a_id), cid);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // An enrolled supernode expected, a peer found: refused as well.
  st = Manifest((*a)->address, Expected::Supernode(), cid);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, ClientsWithWrongCertificatesOrNoneAreRefused) {
  StartServers();
  absl::StatusOr<PeerHandle*> a = cluster_->StartPeer("a");
  ASSERT_TRUE(a.ok());

  // A plain peer certificate: the index answers it.
  grpc::Status st = IndexSearch(*cluster_->client_tls());
  EXPECT_TRUE(st.ok()) << st.error_message();

  // A "supernode" certificate issued by another community's CA: the index
  // refuses the connection.
  KeyAndCert other = *MakeCommunityCa("Trove community CA", kYear);
  std::unique_ptr<Identity> key = *Identity::Generate();
  std::string forged =
      *IssueCertificate(other, key->public_key(), CertRole::kSupernode, kYear);
  auto forger = *TlsContext::Create(*key->PrivateKeyPem(), forged,
                                    cluster_->ca_pem());
  st = IndexSearch(*forger);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  // ... and so do the supernode and a peer.
  auto sn = supernode::SupernodeService::NewStub(MakeChannel(
      cluster_->supernode_address(), Expected::Supernode(), forger.get()));
  grpc::ClientContext ctx;
  ctx.set_deadline(Soon());
  supernode::ChallengeResponse challenge;
  st = sn->Challenge(&ctx, supernode::ChallengeRequest(), &challenge);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  st = Manifest((*a)->address, Expected::Peer(PeerId(**a)), std::string(64, '0'),
                forger.get());
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  // A supernode started with a certificate from another community: it
  // stops at start, before it serves or registers anything.
  const std::string state = cluster_->work_dir() + "/forged-sn";
  ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
  ASSERT_TRUE(
      WriteFileAtomic(state + "/" + kSupernodeKeyFile, *key->PrivateKeyPem(), 0600)
          .ok());
  ASSERT_TRUE(WriteFileAtomic(state + "/" + kSupernodeCertFile, forged).ok());
  CommandResult r = RunCommand(
      {RunfilePath("supernode/supernode"), "--state_dir=" + state,
       "--join=" + cluster_->link(), "--listen=127.0.0.1:0"},
      absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("does not check against the community CA"));
}

TEST_F(TlsTest, PlaintextToTlsServersIsRefused) {
  StartServers();
  absl::StatusOr<PeerHandle*> a = cluster_->StartPeer("a");
  ASSERT_TRUE(a.ok());
  for (const std::string& address :
       {cluster_->index_address(), cluster_->supernode_address(), (*a)->address}) {
    auto stub = index::IndexService::NewStub(MakeChannel(
        address, Expected::AnyServer(), TlsContext::Insecure().get()));
    index::SearchRequest req;
    req.mutable_query()->set_text("anything");
    index::SearchResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status st = stub->Search(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE)
        << address << ": " << st.error_message();
  }
}

}  // namespace
}  // namespace trove
