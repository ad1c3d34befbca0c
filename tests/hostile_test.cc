// The hostile-input suite: hand-written clients send what no Trove program
// sends to a running community (PostgreSQL, the index, an enrolled
// supernode and a peer daemon as real processes, TLS on), one row per case,
// over every service: IndexService, SupernodeService, PeerService,
// AdminService and the daemon's ControlService. Each row names the status
// code it must get and words its message must hold (what was wrong); after
// each row the servers still answer a normal call; at the end the catalog
// (a dump of the index's files and sources) is what it was before.
#include <grpcpp/grpcpp.h>

#include <pqxx/pqxx>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/identity.h"
#include "common/join_work.h"
#include "common/join_auth.h"
#include "common/signed_change.h"
#include "common/tls.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/admin_token.h"
#include "nlohmann/json.hpp"
#include "protos/admin.grpc.pb.h"
#include "protos/control.grpc.pb.h"
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
using testutil::WaitUntil;
using testutil::WriteRandomFile;

constexpr char kBidi[] = "\xE2\x80\xAE";  // U+202E RIGHT-TO-LEFT OVERRIDE
constexpr char kCsi[] = "\xC2\x9B";       // U+009B, a C1 control
constexpr char kBadUtf8[] = "\xFF\xFE\xC0";

std::chrono::system_clock::time_point Soon() {
  return absl::ToChronoTime(absl::Now() + absl::Seconds(10));
}

// One hostile case: what it sends, and the status it must get.
struct Case {
  std::string service;
  std::string name;
  std::function<grpc::Status()> call;
  grpc::StatusCode code;
  // Words the status message must hold (what was wrong).
  std::string says;
};

class HostileTest : public testutil::ClusterTest {
 protected:
  void SetUp() override {
    testutil::ClusterTest::SetUp();
    absl::StatusOr<std::string> token =
        ReadFile(cluster_->community_dir() + "/admin_token");
    ASSERT_TRUE(token.ok()) << token.status();
    admin_token_ = std::string(absl::StripTrailingAsciiWhitespace(*token));
    ASSERT_TRUE(cluster_
                    ->StartIndex({"--renew_every_seconds=1",
                                  absl::StrCat("--initial_admin_token_hash=",
                                               index_server::AdminTokenHash(
                                                   admin_token_))})
                    .ok());
    // Small list limits, so that an oversized list is cheap to send; joins
    // from this one address limited loosely enough for the cases' own.
    absl::Status s = cluster_->StartSupernode(
        {"--max_files_per_publish=100", "--leaf_join_rate=200:300"});
    ASSERT_TRUE(s.ok()) << s;
    absl::StatusOr<PeerHandle*> alice = cluster_->StartPeer("alice");
    ASSERT_TRUE(alice.ok()) << alice.status();
    alice_ = *alice;
    ASSERT_TRUE(
        WriteRandomFile(alice_->share_dir + "/quiet meadow.ogg", 3000, 7).ok());
    ASSERT_TRUE(WaitUntil(
        [&] {
          cid_ = cluster_->FindCid(*alice_, "meadow", "quiet meadow.ogg");
          return !cid_.empty();
        },
        absl::Seconds(30)));
    ASSERT_TRUE(WaitUntil([&] { return !Dump().empty(); }, absl::Seconds(30)));
    CommandResult st = cluster_->Cli(*alice_, {"status", "--json"});
    nlohmann::json j = nlohmann::json::parse(st.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << st.out;
    alice_id_ = j.value("peer_id", "");
    ASSERT_EQ(alice_id_.size(), 64u);
    {
      pqxx::connection c(cluster_->dsn());
      pqxx::nontransaction tx(c);
      pqxx::result r = tx.exec("SELECT supernode_id FROM supernodes");
      ASSERT_FALSE(r.empty());
      supernode_id_ = r[0][0].as<std::string>();
    }

    // The hostile client: a peer identity of its own; the well-behaved
    // client: another, used only for the normal calls.
    mallory_ = *Identity::Generate();
    mallory_tls_ = *TlsContext::ForIdentity(*mallory_, cluster_->ca_pem());
    honest_ = *Identity::Generate();
    honest_tls_ = *TlsContext::ForIdentity(*honest_, cluster_->ca_pem());
    index_ = IndexStub(*mallory_tls_);
    admin_ = admin::AdminService::NewStub(mallory_tls_->MakeChannel(
        cluster_->index_address(), Expected::Index()));
    sn_ = SupernodeStub(*mallory_tls_);
    peer_ = PeerStub(*mallory_tls_, alice_->address, alice_id_);
    control_ = control::ControlService::NewStub(grpc::CreateChannel(
        absl::StrCat("unix:", alice_->state_dir, "/daemon.sock"),
        grpc::InsecureChannelCredentials()));
    before_ = Dump();
  }

  std::unique_ptr<index::IndexService::Stub> IndexStub(const TlsContext& tls) {
    return index::IndexService::NewStub(
        tls.MakeChannel(cluster_->index_address(), Expected::Index()));
  }
  std::unique_ptr<supernode::SupernodeService::Stub> SupernodeStub(
      const TlsContext& tls) {
    return supernode::SupernodeService::NewStub(
        tls.MakeChannel(cluster_->supernode_address(), Expected::Supernode()));
  }
  std::unique_ptr<peer::PeerService::Stub> PeerStub(const TlsContext& tls,
                                                    const std::string& address,
                                                    const std::string& id) {
    return peer::PeerService::NewStub(
        tls.MakeChannel(address, Expected::Peer(id)));
  }

  // The catalog as PostgreSQL holds it: every file and every source.
  std::string Dump() {
    pqxx::connection c(cluster_->dsn());
    pqxx::nontransaction tx(c);
    std::string out;
    for (const pqxx::row& row : tx.exec(
             "SELECT cid, peer_id, supernode_id, address, name, partial"
             " FROM sources ORDER BY cid, peer_id")) {
      for (const pqxx::field& f : row) absl::StrAppend(&out, f.c_str(), "|");
      out += "\n";
    }
    for (const pqxx::row& row :
         tx.exec("SELECT cid, size FROM files ORDER BY cid")) {
      for (const pqxx::field& f : row) absl::StrAppend(&out, f.c_str(), "|");
      out += "\n";
    }
    return out;
  }

  // A normal call to each server, from the well-behaved client: empty when
  // all answered as they should, else what did not.
  std::string ServersStillServe() {
    std::string wrong;
    {
      auto stub = IndexStub(*honest_tls_);
      index::SearchRequest req;
      req.mutable_query()->set_text("meadow");
      index::SearchResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(Soon());
      grpc::Status s = stub->Search(&ctx, req, &resp);
      if (!s.ok() || resp.hits_size() != 1 || resp.hits(0).cid() != cid_) {
        absl::StrAppend(&wrong, "index search: ", s.error_message(), " (",
                        resp.hits_size(), " hits); ");
      }
    }
    {
      auto stub = SupernodeStub(*honest_tls_);
      supernode::SearchRequest req;
      req.mutable_query()->set_text("meadow");
      supernode::SearchResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(Soon());
      grpc::Status s = stub->Search(&ctx, req, &resp);
      if (!s.ok() || resp.hits_size() != 1) {
        absl::StrAppend(&wrong, "supernode search: ", s.error_message(), " (",
                        resp.hits_size(), " hits); ");
      }
    }
    {
      auto stub = PeerStub(*honest_tls_, alice_->address, alice_id_);
      peer::GetManifestRequest req;
      req.set_cid(cid_);
      req.set_nonce(std::string(16, 'n'));
      peer::Manifest m;
      grpc::ClientContext ctx;
      ctx.set_deadline(Soon());
      grpc::Status s = stub->GetManifest(&ctx, req, &m);
      if (!s.ok() || m.size() != 3000) {
        absl::StrAppend(&wrong, "peer manifest: ", s.error_message(), "; ");
      }
    }
    {
      control::StatusResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(Soon());
      grpc::Status s = control_->Status(&ctx, control::StatusRequest(), &resp);
      if (!s.ok()) absl::StrAppend(&wrong, "control status: ", s.error_message());
    }
    return wrong;
  }

  // --- IndexService -----------------------------------------------------

  grpc::Status IndexSearch(const SearchQuery& q) {
    index::SearchRequest req;
    *req.mutable_query() = q;
    index::SearchResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return index_->Search(&ctx, req, &resp);
  }
  static SearchQuery Text(const std::string& text) {
    SearchQuery q;
    q.set_text(text);
    return q;
  }
  grpc::Status IndexLocate(const std::string& cid, int limit = 0) {
    index::LocateRequest req;
    req.set_cid(cid);
    req.set_limit(limit);
    index::LocateResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return index_->Locate(&ctx, req, &resp);
  }
  // Registers `key` as a supernode at `address` under `id`, signing the
  // index's challenge with `signer` (the key itself unless forging).
  grpc::Status Register(const Identity& key, const std::string& id,
                        const std::string& address,
                        const Identity* signer = nullptr) {
    auto tls = *TlsContext::ForIdentity(key, cluster_->ca_pem());
    auto stub = IndexStub(*tls);
    index::SupernodeChallengeResponse challenge;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(Soon());
      grpc::Status s = stub->SupernodeChallenge(&ctx, {}, &challenge);
      if (!s.ok()) return s;
    }
    index::RegisterSupernodeRequest reg;
    reg.set_supernode_id(id);
    reg.set_address(address);
    reg.set_public_key(key.public_key());
    reg.set_nonce(challenge.nonce());
    reg.set_signature(*(signer != nullptr ? signer : &key)
                           ->Sign(RegistrationPayload(reg.nonce(), id, address)));
    index::LeaseResponse lease;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return stub->RegisterSupernode(&ctx, reg, &lease);
  }
  grpc::Status ReportPeer(const std::string& bytes, const std::string& sig) {
    index::ReportPeerRequest req;
    req.set_report(bytes);
    req.set_signature(sig);
    index::ReportPeerResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return index_->ReportPeer(&ctx, req, &resp);
  }
  grpc::Status SignedReport(const std::string& address) {
    CapacityReport r;
    r.set_address(address);
    r.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
    Signed s = *SignCapacityReport(*mallory_, r);
    return ReportPeer(s.bytes, s.signature);
  }

  // --- SupernodeService -------------------------------------------------

  grpc::Status SnJoin(const Identity& key, const std::string& address,
                      bool forge = false, std::string* session = nullptr,
                      supernode::SupernodeService::Stub* stub = nullptr) {
    if (stub == nullptr) stub = sn_.get();
    supernode::ChallengeResponse challenge;
    {
      grpc::ClientContext ctx;
      ctx.set_deadline(Soon());
      grpc::Status s = stub->Challenge(&ctx, {}, &challenge);
      if (!s.ok()) return s;
    }
    supernode::JoinRequest join;
    join.set_public_key(key.public_key());
    join.set_nonce(challenge.nonce());
    join.set_listen_address(address);
    std::string sig = *key.Sign(JoinSignedMessage(challenge.nonce(), address));
    if (forge) sig[0] ^= 1;
    join.set_signature(sig);
    join.set_work(SolveJoinWork(challenge.nonce(), join.public_key(),
                                challenge.work_bits()));
    supernode::JoinResponse joined;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = stub->Join(&ctx, join, &joined);
    if (s.ok() && session != nullptr) *session = joined.session();
    return s;
  }
  // Mallory's session with the supernode (joined once, listing nothing).
  const std::string& Session() {
    if (session_.empty()) {
      grpc::Status s = SnJoin(*mallory_, "127.0.0.1:9", false, &session_);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return session_;
  }
  // A signed publish of `files` from Mallory (signature broken with
  // `forge`).
  grpc::Status SnPublish(std::vector<FileEntry> files, bool forge = false,
                         const std::string& address = "127.0.0.1:9") {
    const std::string& session = Session();
    LeafChange change;
    change.set_supernode_id(supernode_id_);
    change.set_seq(++seq_ + absl::ToUnixMicros(absl::Now()));
    change.set_full(true);
    change.set_address(address);
    change.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
    for (FileEntry& f : files) *change.add_added() = std::move(f);
    Signed s = *SignLeafChange(*mallory_, change);
    if (forge) s.signature[5] ^= 1;
    supernode::PublishRequest req;
    req.set_session(session);
    req.set_full(true);
    req.set_signed_change(s.bytes);
    req.set_signature(s.signature);
    supernode::PublishResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return sn_->Publish(&ctx, req, &resp);
  }
  static FileEntry File(const std::string& name, int64_t size = 1000,
                        std::string cid = "") {
    FileEntry f;
    f.set_cid(cid.empty() ? std::string(64, 'a') : cid);
    f.set_size(size);
    f.set_name(name);
    return f;
  }
  grpc::Status SnSearch(const SearchQuery& q) {
    supernode::SearchRequest req;
    *req.mutable_query() = q;
    supernode::SearchResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return sn_->Search(&ctx, req, &resp);
  }

  // --- PeerService ------------------------------------------------------

  grpc::Status Manifest(const std::string& cid,
                        peer::PeerService::Stub* stub = nullptr) {
    peer::GetManifestRequest req;
    req.set_cid(cid);
    req.set_nonce(std::string(16, 'x'));
    peer::Manifest m;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return (stub != nullptr ? stub : peer_.get())->GetManifest(&ctx, req, &m);
  }
  grpc::Status Slot(const std::string& requester, const std::string& cid) {
    peer::SlotRequest req;
    req.set_requester_id(requester);
    req.set_cid(cid);
    peer::SlotResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return peer_->RequestSlot(&ctx, req, &resp);
  }
  // One GetChunks stream read to its end.
  grpc::Status Chunks(const std::string& cid, std::vector<uint32_t> indexes) {
    peer::GetChunksRequest req;
    req.set_cid(cid);
    for (uint32_t i : indexes) req.add_indexes(i);
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    auto reader = peer_->GetChunks(&ctx, req);
    peer::Chunk chunk;
    while (reader->Read(&chunk)) {
    }
    return reader->Finish();
  }

  // --- AdminService -----------------------------------------------------

  template <typename Req, typename Resp, typename Fn>
  grpc::Status Admin(Fn fn, const Req& req, const std::string& token) {
    Resp resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    if (!token.empty()) ctx.AddMetadata("authorization", token);
    return (admin_.get()->*fn)(&ctx, req, &resp);
  }
  std::string Bearer() const { return "Bearer " + admin_token_; }

  PeerHandle* alice_ = nullptr;
  std::string cid_;
  std::string alice_id_;
  std::string supernode_id_;
  std::string admin_token_;
  std::unique_ptr<Identity> mallory_;
  std::unique_ptr<Identity> honest_;
  std::shared_ptr<const TlsContext> mallory_tls_;
  std::shared_ptr<const TlsContext> honest_tls_;
  std::unique_ptr<index::IndexService::Stub> index_;
  std::unique_ptr<admin::AdminService::Stub> admin_;
  std::unique_ptr<supernode::SupernodeService::Stub> sn_;
  std::unique_ptr<peer::PeerService::Stub> peer_;
  std::unique_ptr<control::ControlService::Stub> control_;
  std::string session_;
  int64_t seq_ = 0;
  std::string before_;
};

TEST_F(HostileTest, EveryCaseGetsAClearStatusAndNothingChanges) {
  using grpc::StatusCode;
  const std::string unknown_cid(64, 'e');
  const std::string hex_id(64, 'd');
  std::vector<Case> cases = {
      // ---- IndexService ----
      {"index", "search text that is not UTF-8",
       [&] { return IndexSearch(Text(absl::StrCat("song", kBadUtf8))); },
       StatusCode::INVALID_ARGUMENT, "UTF-8"},
      {"index", "search text with a right-to-left override",
       [&] { return IndexSearch(Text(absl::StrCat("song", kBidi, "gpj.exe"))); },
       StatusCode::INVALID_ARGUMENT, "bidi"},
      {"index", "search text with a C1 control (CSI)",
       [&] { return IndexSearch(Text(absl::StrCat("song", kCsi, "31m"))); },
       StatusCode::INVALID_ARGUMENT, "control"},
      {"index", "search text over the length limit",
       [&] { return IndexSearch(Text(std::string(5000, 'x'))); },
       StatusCode::INVALID_ARGUMENT, "the limit is"},
      {"index", "negative search limit",
       [&] {
         SearchQuery q = Text("meadow");
         q.set_limit(-5);
         return IndexSearch(q);
       },
       StatusCode::INVALID_ARGUMENT, "limit"},
      {"index", "min_size above max_size",
       [&] {
         SearchQuery q = Text("meadow");
         q.set_min_size(100);
         q.set_max_size(10);
         return IndexSearch(q);
       },
       StatusCode::INVALID_ARGUMENT, "min_size 100 is above max_size 10"},
      {"index", "file kind out of the enum's range",
       [&] {
         SearchQuery q = Text("meadow");
         q.set_kind(static_cast<FileKind>(77));
         return IndexSearch(q);
       },
       StatusCode::INVALID_ARGUMENT, "kind"},
      {"index", "sort out of the enum's range",
       [&] {
         SearchQuery q = Text("meadow");
         q.set_sort(static_cast<SearchSort>(-3));
         return IndexSearch(q);
       },
       StatusCode::INVALID_ARGUMENT, "sort"},
      {"index", "5,000 extensions in one query",
       [&] {
         SearchQuery q = Text("meadow");
         for (int i = 0; i < 5000; ++i) q.add_extensions("ogg");
         return IndexSearch(q);
       },
       StatusCode::INVALID_ARGUMENT, "extensions"},
      {"index", "a cursor that is not one",
       [&] {
         SearchQuery q = Text("meadow");
         q.set_cursor("\x01garbage cursor");
         return IndexSearch(q);
       },
       StatusCode::INVALID_ARGUMENT, "cursor"},
      {"index", "locate a cid that is not hex",
       [&] { return IndexLocate("../../etc/passwd"); },
       StatusCode::INVALID_ARGUMENT, "cid"},
      {"index", "locate an unknown cid",
       [&] { return IndexLocate(unknown_cid); },
       StatusCode::NOT_FOUND, "no live source has cid"},
      {"index", "locate with a negative limit",
       [&] { return IndexLocate(cid_, -1); },
       StatusCode::INVALID_ARGUMENT, "limit"},
      {"index", "register an unenrolled supernode key",
       [&] {
         auto key = *Identity::Generate();
         return Register(*key, key->peer_id(), "127.0.0.1:1");
       },
       StatusCode::PERMISSION_DENIED, "not enrolled"},
      {"index", "register under the live supernode's id with another key",
       [&] { return Register(*mallory_, supernode_id_, "127.0.0.1:1"); },
       StatusCode::PERMISSION_DENIED, "not supernode"},
      {"index", "register with a forged challenge signature",
       [&] {
         auto other = *Identity::Generate();
         return Register(*mallory_, mallory_->peer_id(), "127.0.0.1:1",
                         other.get());
       },
       StatusCode::UNAUTHENTICATED, "signature is wrong"},
      {"index", "register an address with a newline",
       [&] {
         return Register(*mallory_, mallory_->peer_id(),
                         "127.0.0.1:1\n2026-01-01 I forged log line");
       },
       StatusCode::INVALID_ARGUMENT, "address"},
      {"index", "renew the real supernode's lease as a peer",
       [&] {
         index::RenewLeaseRequest req;
         req.set_supernode_id(supernode_id_);
         req.set_leaf_count(5000);
         index::LeaseResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return index_->RenewLease(&ctx, req, &resp);
       },
       StatusCode::PERMISSION_DENIED, "not supernode"},
      {"index", "end the real supernode's lease as a peer",
       [&] {
         index::EndLeaseRequest req;
         req.set_supernode_id(supernode_id_);
         req.set_generation(1);
         index::EndLeaseResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return index_->EndLease(&ctx, req, &resp);
       },
       StatusCode::PERMISSION_DENIED, "not supernode"},
      {"index", "publish deltas withdrawing alice's files as a peer",
       [&] {
         index::PublishDeltasRequest req;
         req.set_supernode_id(supernode_id_);
         index::PeerDelta* d = req.add_deltas();
         d->set_peer_id(alice_id_);
         d->set_full(true);
         index::PublishDeltasResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return index_->PublishDeltas(&ctx, req, &resp);
       },
       StatusCode::PERMISSION_DENIED, "not supernode"},
      {"index", "capacity report that is not one",
       [&] { return ReportPeer("\x0a\xff\xff\xff\xff garbage", std::string(64, 's')); },
       StatusCode::INVALID_ARGUMENT, "report"},
      {"index", "capacity report with a forged signature",
       [&] {
         CapacityReport r;
         r.set_address("127.0.0.1:9");
         r.set_issued_at_ms(absl::ToUnixMillis(absl::Now()));
         Signed s = *SignCapacityReport(*mallory_, r);
         s.signature[3] ^= 1;
         return ReportPeer(s.bytes, s.signature);
       },
       StatusCode::UNAUTHENTICATED, "signature"},
      {"index", "capacity report with an escape code in the address",
       [&] { return SignedReport("127.0.0.1:9\x1b[2J"); },
       StatusCode::INVALID_ARGUMENT, "address"},
      {"index", "a flood of searches from one client",
       [&] {
         auto flooder = *TlsContext::Ephemeral(cluster_->ca_pem());
         auto stub = IndexStub(*flooder);
         grpc::Status last;
         for (int i = 0; i < 150; ++i) {
           index::SearchRequest req;
           req.mutable_query()->set_text("meadow");
           index::SearchResponse resp;
           grpc::ClientContext ctx;
           ctx.set_deadline(Soon());
           last = stub->Search(&ctx, req, &resp);
           if (!last.ok()) break;
         }
         return last;
       },
       StatusCode::RESOURCE_EXHAUSTED, "retry"},
      {"index", "a client certificate from another community's CA",
       [&] {
         KeyAndCert other = *MakeCommunityCa("Trove community CA",
                                             absl::Hours(24 * 365));
         auto key = *Identity::Generate();
         std::string forged = *IssueCertificate(
             other, key->public_key(), CertRole::kSupernode,
             absl::Hours(24 * 365));
         auto forger = *TlsContext::Create(*key->PrivateKeyPem(), forged,
                                           cluster_->ca_pem());
         auto stub = IndexStub(*forger);
         index::SearchRequest req;
         req.mutable_query()->set_text("meadow");
         index::SearchResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         grpc::Status s = stub->Search(&ctx, req, &resp);
         // The client sees only its connection fail; the index logs why.
         std::string why;
         WaitUntil(
             [&] {
               std::string log = testutil::Slurp(cluster_->index()->log_path());
               size_t at = log.find("refused a client's TLS certificate");
               if (at == std::string::npos) return false;
               why = log.substr(at, log.find('\n', at) - at);
               return true;
             },
             absl::Seconds(10));
         return grpc::Status(s.error_code(),
                             absl::StrCat(s.error_message(), " | index: ", why));
       },
       StatusCode::UNAVAILABLE, "not issued by the community CA"},

      // ---- SupernodeService ----
      {"supernode", "join with a 31-byte key",
       [&] {
         supernode::JoinRequest join;
         join.set_public_key(std::string(31, 'k'));
         join.set_signature(std::string(64, 's'));
         join.set_nonce("n");
         join.set_listen_address("127.0.0.1:9");
         supernode::JoinResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return sn_->Join(&ctx, join, &resp);
       },
       StatusCode::INVALID_ARGUMENT, "public_key must be 32 bytes"},
      {"supernode", "join with a forged signature",
       [&] { return SnJoin(*mallory_, "127.0.0.1:9", /*forge=*/true); },
       StatusCode::UNAUTHENTICATED, "signature"},
      {"supernode", "join with a nonce it never gave",
       [&] {
         supernode::JoinRequest join;
         join.set_public_key(mallory_->public_key());
         join.set_nonce(std::string(16, 'z'));
         join.set_listen_address("127.0.0.1:9");
         join.set_signature(*mallory_->Sign(
             JoinSignedMessage(join.nonce(), join.listen_address())));
         supernode::JoinResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return sn_->Join(&ctx, join, &resp);
       },
       StatusCode::UNAUTHENTICATED, "nonce"},
      {"supernode", "join with a newline and a forged log line in the address",
       [&] {
         return SnJoin(*mallory_,
                       "unix:/tmp/x\n2026-11-28T00:00:00Z I index forged");
       },
       StatusCode::INVALID_ARGUMENT, "listen_address"},
      {"supernode", "join with a negative capacity",
       [&] {
         supernode::ChallengeResponse challenge;
         {
           grpc::ClientContext ctx;
           ctx.set_deadline(Soon());
           grpc::Status s = sn_->Challenge(&ctx, {}, &challenge);
           if (!s.ok()) return s;
         }
         supernode::JoinRequest join;
         join.set_public_key(mallory_->public_key());
         join.set_nonce(challenge.nonce());
         join.set_listen_address("127.0.0.1:9");
         join.set_signature(*mallory_->Sign(
             JoinSignedMessage(join.nonce(), join.listen_address())));
         join.mutable_capacity()->set_upload_bytes_per_second(-1);
         supernode::JoinResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return sn_->Join(&ctx, join, &resp);
       },
       StatusCode::INVALID_ARGUMENT, "must not be negative"},
      {"supernode", "publish with a made-up session",
       [&] {
         supernode::PublishRequest req;
         req.set_session(std::string(32, 'q'));
         *req.add_added() = File("a.ogg");
         supernode::PublishResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return sn_->Publish(&ctx, req, &resp);
       },
       StatusCode::UNAUTHENTICATED, "session"},
      {"supernode", "publish a name with a right-to-left override",
       [&] { return SnPublish({File(absl::StrCat("holiday", kBidi, "gpj.exe"))}); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"supernode", "publish a name with a C1 control",
       [&] { return SnPublish({File(absl::StrCat("song", kCsi, "2J.ogg"))}); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"supernode", "publish a name that is not UTF-8",
       [&] { return SnPublish({File(absl::StrCat("song", kBadUtf8, ".ogg"))}); },
       StatusCode::INVALID_ARGUMENT, "UTF-8"},
      {"supernode", "publish a name with a path",
       [&] { return SnPublish({File("../../etc/passwd")}); },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"supernode", "publish a negative size",
       [&] { return SnPublish({File("minus.ogg", -4)}); },
       StatusCode::INVALID_ARGUMENT, "size"},
      {"supernode", "publish a cid that is not one",
       [&] { return SnPublish({File("bad cid.ogg", 10, "not-a-cid")}); },
       StatusCode::INVALID_ARGUMENT, "cid"},
      {"supernode", "publish more files than one publish may hold",
       [&] {
         std::vector<FileEntry> files;
         for (int i = 0; i < 101; ++i) {
           std::string cid = absl::StrCat(std::string(60, 'b'), 1000 + i);
           files.push_back(File(absl::StrCat("file ", i, ".ogg"), 10, cid));
         }
         return SnPublish(std::move(files));
       },
       StatusCode::INVALID_ARGUMENT, "100"},
      {"supernode", "publish a change with a forged signature",
       [&] { return SnPublish({File("forged.ogg")}, /*forge=*/true); },
       StatusCode::UNAUTHENTICATED, "signature"},
      {"supernode", "publish with a changed address that has an escape code",
       [&] { return SnPublish({File("addr.ogg")}, false, "127.0.0.1:9\x1b[31m"); },
       StatusCode::INVALID_ARGUMENT, "the change's address"},
      {"supernode", "heartbeat with a forged presence",
       [&] {
         Presence p;
         p.set_supernode_id(supernode_id_);
         p.set_valid_until_ms(absl::ToUnixMillis(absl::Now() + absl::Hours(1)));
         Signed s = *SignPresence(*mallory_, p);
         s.signature[0] ^= 1;
         supernode::HeartbeatRequest req;
         req.set_session(Session());
         req.set_presence(s.bytes);
         req.set_presence_signature(s.signature);
         supernode::HeartbeatResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return sn_->Heartbeat(&ctx, req, &resp);
       },
       StatusCode::UNAUTHENTICATED, "signature"},
      {"supernode", "another leaf's session (alice's is unknown: a made-up one) on Watch",
       [&] {
         supernode::WatchRequest req;
         req.set_session(std::string(32, 'w'));
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         auto reader = sn_->Watch(&ctx, req);
         supernode::SupernodeEvent e;
         while (reader->Read(&e)) {
         }
         return reader->Finish();
       },
       StatusCode::NOT_FOUND, "session"},
      {"supernode", "search text that is not UTF-8",
       [&] { return SnSearch(Text(kBadUtf8)); },
       StatusCode::INVALID_ARGUMENT, "UTF-8"},
      {"supernode", "search with a bidi override",
       [&] { return SnSearch(Text(absl::StrCat("a", kBidi, "b"))); },
       StatusCode::INVALID_ARGUMENT, "bidi"},
      {"supernode", "locate a cid that is not one",
       [&] {
         supernode::LocateRequest req;
         req.set_cid("zz\n");
         supernode::LocateResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return sn_->Locate(&ctx, req, &resp);
       },
       StatusCode::INVALID_ARGUMENT, "cid"},
      {"supernode", "report a bad source with an id that is not one",
       [&] {
         supernode::ReportBadSourceRequest req;
         req.set_session(Session());
         req.set_cid(cid_);
         req.set_peer_id("alice\x1b[0m");
         req.set_reason("bad chunk");
         supernode::ReportBadSourceResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return sn_->ReportBadSource(&ctx, req, &resp);
       },
       StatusCode::INVALID_ARGUMENT, "peer_id"},
      {"supernode", "a flood of challenges from one client",
       [&] {
         grpc::Status last;
         for (int i = 0; i < 400; ++i) {
           supernode::ChallengeResponse challenge;
           grpc::ClientContext ctx;
           ctx.set_deadline(Soon());
           last = sn_->Challenge(&ctx, {}, &challenge);
           if (!last.ok()) break;
         }
         // The flood is slowed, evicted no one else's nonce, and once its
         // retry time has passed others at the address still join.
         absl::SleepFor(absl::Milliseconds(200));
         auto newcomer = *Identity::Generate();
         auto tls = *TlsContext::ForIdentity(*newcomer, cluster_->ca_pem());
         auto stub = SupernodeStub(*tls);
         grpc::Status joined =
             SnJoin(*newcomer, "127.0.0.1:9", false, nullptr, stub.get());
         if (!joined.ok()) {
           return grpc::Status(grpc::StatusCode::INTERNAL,
                               "a newcomer could not join after the flood: " +
                                   joined.error_message());
         }
         return last;
       },
       StatusCode::RESOURCE_EXHAUSTED, "retry"},

      // ---- PeerService ----
      {"peer", "manifest of a cid that is not one",
       [&] { return Manifest("../../../../etc/passwd"); },
       StatusCode::INVALID_ARGUMENT, "cid"},
      {"peer", "manifest of an unknown cid",
       [&] { return Manifest(unknown_cid); },
       StatusCode::NOT_FOUND, "this peer does not hold"},
      {"peer", "slot for a cid that is not one",
       [&] { return Slot(mallory_->peer_id(), "cid\x1b[0m"); },
       StatusCode::INVALID_ARGUMENT, "cid"},
      {"peer", "slot for an unknown cid",
       [&] { return Slot(mallory_->peer_id(), unknown_cid); },
       StatusCode::NOT_FOUND, "this peer does not hold"},
      {"peer", "chunk index past the file's end",
       [&] {
         grpc::Status s = Slot(mallory_->peer_id(), cid_);
         if (!s.ok()) return s;
         return Chunks(cid_, {99999});
       },
       StatusCode::OUT_OF_RANGE, "chunk"},
      {"peer", "100,000 chunk indexes in one request",
       [&] {
         std::vector<uint32_t> many(100000, 0);
         return Chunks(cid_, many);
       },
       StatusCode::INVALID_ARGUMENT, "at most 4096 per request"},
      {"peer", "a peer serving under another peer's id",
       [&] {
         // Alice's address, but the id expected is another's: the handshake
         // fails, no call is made.
         auto stub = PeerStub(*honest_tls_, alice_->address, hex_id);
         return Manifest(cid_, stub.get());
       },
       StatusCode::UNAVAILABLE, "expected peer dddddddddddddddd"},
      {"peer", "many idle streams held open",
       [&] {
         // 60 TLS connections to each server, held open without a call,
         // and 40 WatchHaves streams never read: the servers answer others.
         std::vector<std::shared_ptr<grpc::Channel>> idle;
         for (int i = 0; i < 60; ++i) {
           grpc::ChannelArguments args;
           args.SetInt("trove.hostile.idle", i);  // one connection each
           for (const auto& [address, expected] :
                {std::make_pair(cluster_->index_address(), Expected::Index()),
                 std::make_pair(cluster_->supernode_address(),
                                Expected::Supernode()),
                 std::make_pair(alice_->address, Expected::Peer(alice_id_))}) {
             auto ch = mallory_tls_->MakeChannel(address, expected, args);
             ch->WaitForConnected(Soon());
             idle.push_back(ch);
           }
         }
         std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
         std::vector<std::unique_ptr<grpc::ClientReader<peer::HaveUpdate>>> streams;
         for (int i = 0; i < 40; ++i) {
           contexts.push_back(std::make_unique<grpc::ClientContext>());
           contexts.back()->set_deadline(
               absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
           peer::WatchHavesRequest req;
           req.set_cid(cid_);
           streams.push_back(peer_->WatchHaves(contexts.back().get(), req));
         }
         std::string wrong = ServersStillServe();
         for (auto& c : contexts) c->TryCancel();
         for (auto& s : streams) (void)s->Finish();
         if (!wrong.empty()) return grpc::Status(grpc::StatusCode::INTERNAL, wrong);
         return grpc::Status(grpc::StatusCode::OK, "served while held");
       },
       StatusCode::OK, ""},

      // ---- AdminService ----
      {"admin", "no token",
       [&] {
         return Admin<admin::StatsRequest, admin::StatsResponse>(
             &admin::AdminService::Stub::Stats, {}, "");
       },
       StatusCode::UNAUTHENTICATED, "no admin token"},
      {"admin", "a made-up token",
       [&] {
         return Admin<admin::StatsRequest, admin::StatsResponse>(
             &admin::AdminService::Stub::Stats, {},
             "Bearer trove_admin_0000000000000000000000000000");
       },
       StatusCode::UNAUTHENTICATED, "token"},
      {"admin", "ban a peer id with an escape code and a path",
       [&] {
         admin::BanPeerRequest req;
         req.set_peer_id("../\x1b[2Jalice");
         req.set_reason("spam");
         return Admin<admin::BanPeerRequest, admin::BanPeerResponse>(
             &admin::AdminService::Stub::BanPeer, req, Bearer());
       },
       StatusCode::INVALID_ARGUMENT, "peer_id"},
      {"admin", "a ban reason with a right-to-left override",
       [&] {
         admin::BanPeerRequest req;
         req.set_peer_id(hex_id);
         req.set_reason(absl::StrCat("spam", kBidi, "nimda"));
         return Admin<admin::BanPeerRequest, admin::BanPeerResponse>(
             &admin::AdminService::Stub::BanPeer, req, Bearer());
       },
       StatusCode::INVALID_ARGUMENT, "reason"},
      {"admin", "take down a cid that is not one",
       [&] {
         admin::TakeDownRequest req;
         req.set_cid("*");
         req.set_reason("everything");
         return Admin<admin::TakeDownRequest, admin::TakeDownResponse>(
             &admin::AdminService::Stub::TakeDown, req, Bearer());
       },
       StatusCode::INVALID_ARGUMENT, "cid"},
      {"admin", "a token with a role that does not exist",
       [&] {
         admin::CreateTokenRequest req;
         req.set_role("root");
         return Admin<admin::CreateTokenRequest, admin::CreateTokenResponse>(
             &admin::AdminService::Stub::CreateToken, req, Bearer());
       },
       StatusCode::INVALID_ARGUMENT, "role"},
      {"admin", "audit read with a negative limit",
       [&] {
         admin::ReadAuditRequest req;
         req.set_limit(-10);
         return Admin<admin::ReadAuditRequest, admin::ReadAuditResponse>(
             &admin::AdminService::Stub::ReadAudit, req, Bearer());
       },
       StatusCode::INVALID_ARGUMENT, "limit"},
      {"admin", "enrol a key that is not one",
       [&] {
         admin::EnrolSupernodeRequest req;
         req.set_public_key("not a key");
         return Admin<admin::EnrolSupernodeRequest,
                      admin::EnrolSupernodeResponse>(
             &admin::AdminService::Stub::EnrolSupernode, req, Bearer());
       },
       StatusCode::INVALID_ARGUMENT, "public_key"},
      {"admin", "list peers with a prefix that is not hex",
       [&] {
         admin::ListPeersRequest req;
         req.set_id_prefix("%';--");
         return Admin<admin::ListPeersRequest, admin::ListPeersResponse>(
             &admin::AdminService::Stub::ListPeers, req, Bearer());
       },
       StatusCode::INVALID_ARGUMENT, "prefix"},
      {"admin", "a banned peer joining the supernode",
       [&] {
         // Ban a fresh identity (no sources: the catalog stays), then it
         // joins once the supernode learned the ban.
         auto banned = *Identity::Generate();
         admin::BanPeerRequest req;
         req.set_peer_id(banned->peer_id());
         req.set_reason("hostile suite");
         grpc::Status s = Admin<admin::BanPeerRequest, admin::BanPeerResponse>(
             &admin::AdminService::Stub::BanPeer, req, Bearer());
         if (!s.ok()) return s;
         auto tls = *TlsContext::ForIdentity(*banned, cluster_->ca_pem());
         auto stub = SupernodeStub(*tls);
         grpc::Status joined;
         WaitUntil(
             [&] {
               joined = SnJoin(*banned, "127.0.0.1:9", false, nullptr, stub.get());
               return joined.error_code() == grpc::StatusCode::PERMISSION_DENIED;
             },
             absl::Seconds(20));
         return joined;
       },
       StatusCode::PERMISSION_DENIED, "banned"},

      // ---- ControlService (the daemon's local socket) ----
      {"control", "get a cid that is not one",
       [&] {
         control::GetRequest req;
         req.set_cid("zz");
         control::GetProgress p;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return control_->Add(&ctx, req, &p);
       },
       StatusCode::INVALID_ARGUMENT, "cid"},
      {"control", "get into a relative folder",
       [&] {
         control::GetRequest req;
         req.set_cid(unknown_cid);
         req.set_out_dir("../../etc");
         control::GetProgress p;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return control_->Add(&ctx, req, &p);
       },
       StatusCode::INVALID_ARGUMENT, "out_dir"},
      {"control", "get under a name with a path",
       [&] {
         control::GetRequest req;
         req.set_cid(unknown_cid);
         req.set_name("../.bashrc");
         control::GetProgress p;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return control_->Add(&ctx, req, &p);
       },
       StatusCode::INVALID_ARGUMENT, "name"},
      {"control", "negative upload rate",
       [&] {
         control::LimitsRequest req;
         req.set_max_upload_rate(-100);
         control::Limits resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return control_->SetLimits(&ctx, req, &resp);
       },
       StatusCode::INVALID_ARGUMENT, "max_upload_rate"},
      {"control", "cancel a download that does not exist",
       [&] {
         control::DownloadRef req;
         req.set_cid(unknown_cid);
         control::GetProgress p;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return control_->Cancel(&ctx, req, &p);
       },
       StatusCode::NOT_FOUND, "no download"},
      {"control", "search text that is not UTF-8",
       [&] {
         SearchQuery q = Text(kBadUtf8);
         control::ControlSearchResponse resp;
         grpc::ClientContext ctx;
         ctx.set_deadline(Soon());
         return control_->Search(&ctx, q, &resp);
       },
       StatusCode::INVALID_ARGUMENT, "UTF-8"},
  };
  ASSERT_GE(cases.size(), 40u);
  ASSERT_EQ(ServersStillServe(), "") << "before any case";

  int checked = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.service, ": ", c.name));
    grpc::Status s = c.call();
    std::cout << "CASE " << c.service << " | " << c.name << " | "
              << s.error_code() << " | " << s.error_message() << std::endl;
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr(c.says));
    EXPECT_EQ(ServersStillServe(), "") << "after the case";
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(cases.size()));
  std::cout << "hostile cases: " << cases.size() << std::endl;

  // Nothing stored was changed by any of it.
  EXPECT_EQ(Dump(), before_);
}

}  // namespace
}  // namespace trove
