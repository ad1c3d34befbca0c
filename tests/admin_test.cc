// Operator control over a real community (index, enrolled supernode and
// peers as processes, TLS on, PostgreSQL): trove-admin with the token
// `index_server init` made and with tokens of lower roles; bans, takedowns
// and a supernode's revocation, each checked at the index, at the
// supernode and in the catalog PostgreSQL holds; and the audit log.
#include <grpcpp/grpcpp.h>

#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/identity.h"
#include "common/server_util.h"
#include "common/tls_credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/admin_token.h"
#include "nlohmann/json.hpp"
#include "protos/index.grpc.pb.h"
#include "protos/supernode.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"
#include "tests/harness/process.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

std::chrono::system_clock::time_point Soon() {
  return absl::ToChronoTime(absl::Now() + absl::Seconds(10));
}

class AdminTest : public testutil::ClusterTest {
 protected:
  void SetUp() override {
    testutil::ClusterTest::SetUp();
    // The index accepts the token `init` wrote, as its config file says.
    absl::StatusOr<std::string> token =
        ReadFile(cluster_->community_dir() + "/admin_token");
    ASSERT_TRUE(token.ok()) << token.status();
    admin_token_file_ = cluster_->community_dir() + "/admin_token";
    const std::string hash = index_server::AdminTokenHash(
        absl::StripTrailingAsciiWhitespace(*token));
    ASSERT_TRUE(cluster_
                    ->StartIndex({absl::StrCat("--initial_admin_token_hash=",
                                               hash)})
                    .ok());
    absl::Status s = cluster_->StartSupernode();
    ASSERT_TRUE(s.ok()) << s;
    auto alice = cluster_->StartPeer("alice", {"--max_backoff_ms=1000"});
    ASSERT_TRUE(alice.ok()) << alice.status();
    alice_ = *alice;
    auto bob = cluster_->StartPeer("bob");
    ASSERT_TRUE(bob.ok()) << bob.status();
    bob_ = *bob;
    ASSERT_TRUE(
        WriteRandomFile(alice_->share_dir + "/quiet meadow.ogg", 3000, 7).ok());
    ASSERT_TRUE(
        WriteRandomFile(bob_->share_dir + "/loud river.ogg", 4000, 8).ok());
    // Both files are in the index's catalog (PostgreSQL).
    ASSERT_TRUE(WaitUntil(
        [&] {
          const std::string d = Dump();
          return d.find("quiet meadow.ogg") != std::string::npos &&
                 d.find("loud river.ogg") != std::string::npos;
        },
        absl::Seconds(60)))
        << cluster_->LogTails();
    SetDefaultTls(cluster_->client_tls());
    index_ = index::IndexService::NewStub(
        MakeChannel(cluster_->index_address(), Expected::Index()));
  }

  // Runs trove-admin VERB ARGS with the index, the CA and `token_file`.
  CommandResult Admin(std::vector<std::string> args,
                      const std::string& token_file = "") {
    std::vector<std::string> argv = {
        RunfilePath("admin/trove-admin"),
        absl::StrCat("--index=", cluster_->index_address()),
        absl::StrCat("--ca=", cluster_->community_dir(), "/ca.pem"),
        absl::StrCat("--token_file=",
                     token_file.empty() ? admin_token_file_ : token_file)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, absl::Seconds(60));
  }

  // Every source row: the catalog as PostgreSQL holds it.
  std::string Dump() {
    pqxx::connection c(cluster_->dsn());
    pqxx::nontransaction tx(c);
    std::string out;
    for (const pqxx::row& row :
         tx.exec("SELECT cid, peer_id, supernode_id, address, name, partial"
                 " FROM sources ORDER BY cid, peer_id")) {
      for (const pqxx::field& f : row) absl::StrAppend(&out, f.c_str(), "|");
      out += "\n";
    }
    return out;
  }

  // `dump` without the rows that mention `text`.
  static std::string Without(const std::string& dump, const std::string& text) {
    std::string out;
    for (absl::string_view line : absl::StrSplit(dump, '\n', absl::SkipEmpty())) {
      if (line.find(text) == absl::string_view::npos) {
        absl::StrAppend(&out, line, "\n");
      }
    }
    return out;
  }

  std::string PeerId(const PeerHandle& peer) {
    CommandResult r = cluster_->Cli(peer, {"status", "--json"});
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? "" : j.value("peer_id", "");
  }

  // Cids the index's own search finds for `text`.
  std::vector<std::string> IndexSearch(const std::string& text) {
    index::SearchRequest req;
    req.mutable_query()->set_text(text);
    index::SearchResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = index_->Search(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> out;
    for (const SearchHit& h : resp.hits()) out.push_back(h.cid());
    return out;
  }

  grpc::StatusCode IndexLocate(const std::string& cid) {
    index::LocateRequest req;
    req.set_cid(cid);
    index::LocateResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    return index_->Locate(&ctx, req, &resp).error_code();
  }

  std::unique_ptr<supernode::SupernodeService::Stub> SupernodeStub() {
    return supernode::SupernodeService::NewStub(
        MakeChannel(cluster_->supernode_address(), Expected::Supernode()));
  }

  nlohmann::json AuditJson() {
    CommandResult r = Admin({"audit", "--json", "--limit=100"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

  std::string admin_token_file_;
  PeerHandle* alice_ = nullptr;
  PeerHandle* bob_ = nullptr;
  std::unique_ptr<index::IndexService::Stub> index_;
};

TEST_F(AdminTest, WrongTokensAndLowRolesAreRefusedAndAudited) {
  const std::string before = Dump();
  CommandResult ok = Admin({"stats"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("supernodes 1"));
  EXPECT_THAT(ok.out, HasSubstr("peers      2"));

  // With the community link instead of --index and --ca: the CA is learned
  // from the index and checked against the link's fingerprint.
  CommandResult by_link = RunCommand(
      {RunfilePath("admin/trove-admin"), "stats", "--json",
       absl::StrCat("--join=", cluster_->link()),
       absl::StrCat("--token_file=", admin_token_file_)});
  ASSERT_EQ(by_link.exit_code, 0) << by_link.err;
  EXPECT_THAT(by_link.out, HasSubstr("\"supernodes\": \"1\""));

  // A made-up token.
  const std::string fake = cluster_->work_dir() + "/fake_token";
  ASSERT_TRUE(WriteFileAtomic(fake,
                              "trove-admin-" + std::string(64, '5') + "\n",
                              0600)
                  .ok());
  CommandResult wrong = Admin({"ban", std::string(64, 'a'), "--reason=x"}, fake);
  EXPECT_EQ(wrong.exit_code, 1);
  EXPECT_THAT(wrong.err, HasSubstr("UNAUTHENTICATED"));
  EXPECT_THAT(wrong.err, HasSubstr("unknown admin token"));

  // A viewer token made with `index_server add-admin-token`.
  const std::string viewer = cluster_->work_dir() + "/viewer_token";
  CommandResult made = RunCommand(
      {RunfilePath("index_server/index_server"), "add-admin-token",
       absl::StrCat("--postgres=", cluster_->dsn()), "--role=viewer",
       "--label=the night shift", absl::StrCat("--token_out=", viewer)});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  EXPECT_THAT(made.out, HasSubstr("role viewer"));
  const std::string alice_id = PeerId(*alice_);
  ASSERT_FALSE(alice_id.empty());
  CommandResult low = Admin({"ban", alice_id, "--reason=spam"}, viewer);
  EXPECT_EQ(low.exit_code, 1);
  EXPECT_THAT(low.err, HasSubstr("PERMISSION_DENIED"));
  EXPECT_THAT(low.err, HasSubstr("needs role moderator"));
  CommandResult viewer_reads = Admin({"bans"}, viewer);
  EXPECT_EQ(viewer_reads.exit_code, 0) << viewer_reads.err;
  // Nothing changed.
  EXPECT_EQ(Dump(), before);

  // Usage errors exit 2 without calling anyone.
  EXPECT_EQ(Admin({"ban", alice_id}).exit_code, 2);
  EXPECT_EQ(Admin({"frobnicate"}).exit_code, 2);
  for (const char* verb : {"supernodes", "peers", "stats", "ban", "unban",
                           "takedown", "restore", "enrol", "revoke", "bans",
                           "takedowns", "audit", "token-create",
                           "token-revoke", "tokens"}) {
    CommandResult help =
        RunCommand({RunfilePath("admin/trove-admin"), verb, "--help"});
    EXPECT_EQ(help.exit_code, 0) << verb;
    EXPECT_THAT(help.out, HasSubstr(absl::StrCat("trove-admin ", verb)));
  }

  nlohmann::json audit = AuditJson();
  ASSERT_TRUE(audit.contains("entries"));
  bool saw_unknown = false, saw_low = false;
  for (const auto& e : audit["entries"]) {
    const std::string result = e.value("result", "");
    if (e.value("action", "") == "ban" && e.value("token_id", "") == "" &&
        result.find("UNAUTHENTICATED") != std::string::npos) {
      saw_unknown = true;
    }
    if (e.value("action", "") == "ban" && e.value("role", "") == "viewer" &&
        e.value("target", "") == alice_id &&
        result.find("PERMISSION_DENIED") != std::string::npos) {
      saw_low = true;
    }
  }
  EXPECT_TRUE(saw_unknown) << audit.dump(1);
  EXPECT_TRUE(saw_low) << audit.dump(1);
  // The token is never written to the audit log or the index's log.
  const std::string token = *ReadFile(admin_token_file_);
  EXPECT_EQ(audit.dump().find(token.substr(12, 64)), std::string::npos);
  EXPECT_EQ(testutil::Slurp(cluster_->index()->log_path())
                .find(token.substr(12, 64)),
            std::string::npos);
}

TEST_F(AdminTest, BannedPeerIsRefusedAndItsSourcesLeaveAtOnce) {
  const std::string alice_id = PeerId(*alice_);
  ASSERT_FALSE(alice_id.empty());
  const std::string before = Dump();
  const std::string meadow =
      cluster_->FindCid(*bob_, "meadow", "quiet meadow.ogg");
  ASSERT_FALSE(meadow.empty());

  CommandResult ban = Admin({"ban", alice_id, "--reason=fake files"});
  ASSERT_EQ(ban.exit_code, 0) << ban.err;
  EXPECT_THAT(ban.out, HasSubstr("1 sources left the catalog"));
  // At once, at the index: PostgreSQL and its search.
  EXPECT_EQ(Dump(), Without(before, alice_id));
  EXPECT_TRUE(IndexSearch("meadow").empty());
  EXPECT_EQ(IndexLocate(meadow), grpc::StatusCode::NOT_FOUND);
  // The supernode learns the ban with its next renewal and drops her.
  EXPECT_TRUE(WaitUntil(
      [&] { return cluster_->FindCid(*bob_, "meadow", "quiet meadow.ogg").empty(); },
      absl::Seconds(20)))
      << cluster_->LogTails();
  // Her daemon is told why it cannot join again.
  EXPECT_TRUE(WaitUntil(
      [&] {
        return cluster_->Cli(*alice_, {"status", "--json"}).out.find(
                   "peer banned") != std::string::npos;
      },
      absl::Seconds(20)))
      << cluster_->Cli(*alice_, {"status", "--json"}).out;
  EXPECT_EQ(Dump(), Without(before, alice_id));

  // A banned key joining by hand gets a clear refusal.
  auto mallory = *Identity::Generate();
  ASSERT_EQ(Admin({"ban", mallory->peer_id(), "--reason=known abuser"}).exit_code,
            0);
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto stub = SupernodeStub();
        supernode::JoinRequest join;
        join.set_public_key(mallory->public_key());
        join.set_nonce("n");
        join.set_signature(std::string(64, 's'));
        join.set_listen_address("127.0.0.1:9");
        supernode::JoinResponse resp;
        grpc::ClientContext ctx;
        ctx.set_deadline(Soon());
        grpc::Status s = stub->Join(&ctx, join, &resp);
        return s.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
               s.error_message().find("peer banned") != std::string::npos;
      },
      absl::Seconds(20)));

  CommandResult bans = Admin({"bans", "--json"});
  ASSERT_EQ(bans.exit_code, 0) << bans.err;
  EXPECT_THAT(bans.out, HasSubstr("fake files"));
  EXPECT_THAT(bans.out, HasSubstr("known abuser"));

  // Unbanned, she joins again and her file comes back.
  ASSERT_EQ(Admin({"unban", alice_id}).exit_code, 0);
  EXPECT_TRUE(WaitUntil(
      [&] { return Dump().find("quiet meadow.ogg") != std::string::npos; },
      absl::Seconds(60)))
      << cluster_->LogTails();

  nlohmann::json audit = AuditJson();
  std::vector<std::string> actions;
  for (const auto& e : audit["entries"]) {
    if (e.value("result", "") == "ok") actions.push_back(e.value("action", ""));
  }
  EXPECT_EQ(actions, (std::vector<std::string>{"unban", "ban", "ban"}));
}

TEST_F(AdminTest, TakedownLeavesSearchAndLocateAndIsNotStoredAgain) {
  const std::string river = cluster_->FindCid(*bob_, "river", "loud river.ogg");
  ASSERT_FALSE(river.empty());
  const std::string before = Dump();
  CommandResult down =
      Admin({"takedown", river, "--reason=copyright notice 42"});
  ASSERT_EQ(down.exit_code, 0) << down.err;
  // At once at the index.
  EXPECT_EQ(Dump(), Without(before, river));
  EXPECT_TRUE(IndexSearch("river").empty());
  EXPECT_EQ(IndexLocate(river), grpc::StatusCode::NOT_FOUND);
  // The supernode (which holds bob as a leaf) learns it with its lease.
  EXPECT_TRUE(WaitUntil(
      [&] { return cluster_->FindCid(*alice_, "river", "loud river.ogg").empty(); },
      absl::Seconds(20)));
  {
    auto stub = SupernodeStub();
    supernode::LocateRequest req;
    req.set_cid(river);
    supernode::LocateResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(Soon());
    grpc::Status s = stub->Locate(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_THAT(s.error_message(), HasSubstr("taken down"));
  }
  // Published again under another name, beside a new file: the new file
  // lands, the taken-down one does not.
  absl::StatusOr<std::string> content =
      ReadFile(bob_->share_dir + "/loud river.ogg");
  ASSERT_TRUE(content.ok()) << content.status();
  ASSERT_TRUE(WriteFileAtomic(bob_->share_dir + "/river again.ogg", *content,
                              0644)
                  .ok());
  ASSERT_TRUE(
      WriteRandomFile(bob_->share_dir + "/fresh spring.ogg", 2000, 9).ok());
  ASSERT_TRUE(WaitUntil(
      [&] { return Dump().find("fresh spring.ogg") != std::string::npos; },
      absl::Seconds(60)))
      << cluster_->LogTails();
  EXPECT_EQ(Dump().find(river), std::string::npos);
  EXPECT_TRUE(IndexSearch("river").empty());
  EXPECT_TRUE(cluster_->FindCid(*alice_, "river", "river again.ogg").empty());

  CommandResult listed = Admin({"takedowns"});
  EXPECT_THAT(listed.out, HasSubstr(river));
  EXPECT_THAT(listed.out, HasSubstr("copyright notice 42"));
  nlohmann::json audit = AuditJson();
  ASSERT_FALSE(audit["entries"].empty());
  EXPECT_EQ(audit["entries"][0].value("action", ""), "takedown");
  EXPECT_EQ(audit["entries"][0].value("target", ""), river);
  EXPECT_EQ(audit["entries"][0].value("reason", ""), "copyright notice 42");
  EXPECT_EQ(audit["entries"][0].value("role", ""), "admin");
}

TEST_F(AdminTest, RevokedSupernodeLosesItsSourcesAndCannotRenew) {
  // The leaf count reaches the index with the supernode's next renewal.
  CommandResult sns;
  nlohmann::json j;
  WaitUntil(
      [&] {
        sns = Admin({"supernodes", "--json"});
        if (sns.exit_code != 0) return false;
        j = nlohmann::json::parse(sns.out, nullptr, false);
        return j.is_object() && j["supernodes"].size() == 1 &&
               j["supernodes"][0].value("leaves", 0) == 2;
      },
      absl::Seconds(30));
  ASSERT_EQ(sns.exit_code, 0) << sns.err;
  ASSERT_EQ(j["supernodes"].size(), 1u) << sns.out;
  const std::string id = j["supernodes"][0].value("supernode_id", "");
  EXPECT_EQ(j["supernodes"][0].value("kind", ""), "enrolled");
  EXPECT_EQ(j["supernodes"][0].value("leaves", 0), 2);

  CommandResult revoke = Admin({"revoke", id, "--reason=host compromised"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  EXPECT_EQ(Dump(), "");
  EXPECT_TRUE(IndexSearch("meadow").empty());
  // Its renewals (every second) and registrations are refused: nothing
  // comes back.
  absl::SleepFor(absl::Seconds(4));
  EXPECT_EQ(Dump(), "");
  sns = Admin({"supernodes", "--json"});
  j = nlohmann::json::parse(sns.out);
  ASSERT_EQ(j["supernodes"].size(), 1u) << sns.out;
  EXPECT_TRUE(j["supernodes"][0].value("revoked", false));
  EXPECT_EQ(j["supernodes"][0].value("lease_expires_ms", "1"), "0");
  EXPECT_THAT(testutil::Slurp(cluster_->supernode()->log_path()),
              HasSubstr("revoked"));
  nlohmann::json audit = AuditJson();
  EXPECT_EQ(audit["entries"][0].value("action", ""), "revoke");
  EXPECT_EQ(audit["entries"][0].value("reason", ""), "host compromised");
}

}  // namespace
}  // namespace trove
