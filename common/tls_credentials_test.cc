#include "common/tls_credentials.h"

#include <grpcpp/grpcpp.h>

#include "absl/time/clock.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace {

constexpr absl::Duration kYear = absl::Hours(24 * 365);

// Answers GetManifest with the caller's proven id (or the reason there is
// none) in `peer_id` / `name`.
class WhoCalls final : public peer::PeerService::Service {
 public:
  grpc::Status GetManifest(grpc::ServerContext* context,
                           const peer::GetManifestRequest*,
                           peer::Manifest* response) override {
    absl::StatusOr<CallerInfo> caller = Caller(context);
    if (!caller.ok()) {
      response->set_name(std::string(caller.status().message()));
      return grpc::Status::OK;
    }
    response->set_peer_id(caller->id);
    response->set_name(std::string(CertRoleName(caller->role)));
    return grpc::Status::OK;
  }
};

class TlsCredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<KeyAndCert> ca = MakeCommunityCa("Test CA", kYear);
    ASSERT_TRUE(ca.ok());
    ca_ = *ca;
  }

  // A context for a fresh key with a certificate the CA issued for `role`.
  std::shared_ptr<const TlsContext> Issued(CertRole role, const KeyAndCert& ca,
                                           std::string* id = nullptr) {
    std::unique_ptr<Identity> key = *Identity::Generate();
    std::string cert = *IssueCertificate(ca, key->public_key(), role, kYear);
    if (id != nullptr) *id = key->peer_id();
    absl::StatusOr<std::shared_ptr<const TlsContext>> ctx =
        TlsContext::Create(*key->PrivateKeyPem(), cert + ca.cert_pem,
                           ca_.cert_pem);
    EXPECT_TRUE(ctx.ok()) << ctx.status();
    return *ctx;
  }

  std::shared_ptr<const TlsContext> Peer(std::string* id = nullptr) {
    std::unique_ptr<Identity> key = *Identity::Generate();
    if (id != nullptr) *id = key->peer_id();
    return *TlsContext::ForIdentity(*key, ca_.cert_pem);
  }

  void Serve(const TlsContext& ctx) {
    absl::StatusOr<RunningServer> s =
        StartServer("127.0.0.1:0", {&service_}, ctx.ServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }

  // Calls GetManifest with `creds`; the call's status and answer.
  grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> creds,
                    peer::Manifest* out) {
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(kTlsServerName);
    auto stub = peer::PeerService::NewStub(
        grpc::CreateCustomChannel(server_.address, creds, args));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub->GetManifest(&ctx, peer::GetManifestRequest(), out);
  }

  KeyAndCert ca_;
  WhoCalls service_;
  RunningServer server_;
};

TEST_F(TlsCredentialsTest, PeerToPeerProvesBothIds) {
  std::string server_id, client_id;
  auto server = Peer(&server_id);
  auto client = Peer(&client_id);
  Serve(*server);
  peer::Manifest m;
  grpc::Status st = Call(client->ChannelCredentials(Expected::Peer(server_id)), &m);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(m.peer_id(), client_id);
  EXPECT_EQ(m.name(), "peer");
}

TEST_F(TlsCredentialsTest, PeerUnderAnotherIdIsRefused) {
  std::string server_id, other_id;
  auto server = Peer(&server_id);
  Peer(&other_id);
  Serve(*server);
  peer::Manifest m;
  grpc::Status st = Call(Peer()->ChannelCredentials(Expected::Peer(other_id)), &m);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(m.peer_id().empty());
}

TEST_F(TlsCredentialsTest, IndexAndSupernodeByRoleAndId) {
  auto index = Issued(CertRole::kIndex, ca_);
  Serve(*index);
  peer::Manifest m;
  auto client = Peer();
  EXPECT_TRUE(Call(client->ChannelCredentials(Expected::Index()), &m).ok());
  // The index is not a supernode.
  EXPECT_EQ(Call(client->ChannelCredentials(Expected::Supernode()), &m).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  server_.server->Shutdown();

  std::string sn_id;
  auto supernode = Issued(CertRole::kSupernode, ca_, &sn_id);
  Serve(*supernode);
  EXPECT_TRUE(Call(client->ChannelCredentials(Expected::Supernode()), &m).ok());
  EXPECT_TRUE(Call(client->ChannelCredentials(Expected::Supernode(sn_id)), &m).ok());
  std::string wrong(64, 'a');
  EXPECT_EQ(Call(client->ChannelCredentials(Expected::Supernode(wrong)), &m)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // A supernode's certificate does not pass for the index's.
  EXPECT_EQ(Call(client->ChannelCredentials(Expected::Index()), &m).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, SupernodeClientIsKnownByRole) {
  Serve(*Issued(CertRole::kIndex, ca_));
  std::string sn_id;
  auto supernode = Issued(CertRole::kSupernode, ca_, &sn_id);
  peer::Manifest m;
  grpc::Status st = Call(supernode->ChannelCredentials(Expected::Index()), &m);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(m.peer_id(), sn_id);
  EXPECT_EQ(m.name(), "supernode");
}

TEST_F(TlsCredentialsTest, ServerFromAnotherCommunityIsRefused) {
  KeyAndCert other = *MakeCommunityCa("Test CA", kYear);
  // Issued by another CA under the same name; this test's CA is trusted.
  Serve(*Issued(CertRole::kIndex, other));
  peer::Manifest m;
  EXPECT_EQ(Call(Peer()->ChannelCredentials(Expected::Index()), &m).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, ClientWithWrongCertificateIsRefused) {
  std::string server_id;
  auto server = Peer(&server_id);
  Serve(*server);
  // A "supernode" certificate from another CA: the server refuses it.
  KeyAndCert other = *MakeCommunityCa("Test CA", kYear);
  auto forged = Issued(CertRole::kSupernode, other);
  peer::Manifest m;
  grpc::Status st = Call(forged->ChannelCredentials(Expected::Peer(server_id)), &m);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_TRUE(m.peer_id().empty());
  // The check itself says why.
  absl::Status why = server->CheckClient(*IssueCertificate(
      other, std::string(32, 'x'), CertRole::kSupernode, kYear));
  EXPECT_EQ(why.code(), absl::StatusCode::kUnauthenticated) << why;
}

TEST_F(TlsCredentialsTest, ClientWithoutCertificateIsRefused) {
  std::string server_id;
  auto server = Peer(&server_id);
  Serve(*server);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_.cert_pem;  // Any; the handshake fails first.
  peer::Manifest m;
  EXPECT_EQ(Call(grpc::SslCredentials(ssl), &m).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsCredentialsTest, PlaintextAgainstTlsFailsBothWays) {
  std::string server_id;
  auto server = Peer(&server_id);
  Serve(*server);
  peer::Manifest m;
  EXPECT_EQ(Call(grpc::InsecureChannelCredentials(), &m).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  server_.server->Shutdown();

  Serve(*TlsContext::Insecure());
  EXPECT_EQ(Call(Peer()->ChannelCredentials(Expected::Peer(server_id)), &m)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // Plaintext to plaintext works, and knows no caller.
  ASSERT_TRUE(Call(grpc::InsecureChannelCredentials(), &m).ok());
  EXPECT_TRUE(m.peer_id().empty());
  EXPECT_NE(m.name().find("no client certificate"), std::string::npos);
}

TEST_F(TlsCredentialsTest, CreateRefusesMismatchedKey) {
  std::unique_ptr<Identity> a = *Identity::Generate();
  std::unique_ptr<Identity> b = *Identity::Generate();
  std::string cert = *SelfSignedCertificate(*a, kYear);
  EXPECT_EQ(TlsContext::Create(*b->PrivateKeyPem(), cert, "").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(TlsContext::Create(*a->PrivateKeyPem(), cert, cert).status().code(),
            absl::StatusCode::kInvalidArgument);  // Not a CA.
  EXPECT_TRUE(TlsContext::Create(*a->PrivateKeyPem(), cert, "").ok());
}

TEST_F(TlsCredentialsTest, CheckServerWithoutCaRefusesIndex) {
  std::unique_ptr<Identity> key = *Identity::Generate();
  auto no_ca = *TlsContext::ForIdentity(*key, "");
  std::string cert = *IssueCertificate(ca_, key->public_key(), CertRole::kIndex, kYear);
  absl::Status s = no_ca->CheckServer(cert, Expected::Index());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("no community CA"), absl::string_view::npos) << s;
}

}  // namespace
}  // namespace trove
