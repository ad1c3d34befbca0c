#include "common/tls_credentials.h"

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <atomic>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace trove {
namespace {

using grpc::experimental::CertificateVerifier;
using grpc::experimental::ExternalCertificateVerifier;
using grpc::experimental::IdentityKeyCertPair;
using grpc::experimental::StaticDataCertificateProvider;
using grpc::experimental::TlsChannelCredentialsOptions;
using grpc::experimental::TlsCustomVerificationCheckRequest;
using grpc::experimental::TlsServerCredentialsOptions;

// Peers make a new self-signed certificate at every start; its dates are
// not checked (the key is the identity).
constexpr absl::Duration kPeerCertValidity = absl::Hours(24 * 365 * 10);

absl::string_view View(grpc::string_ref s) {
  return absl::string_view(s.data(), s.size());
}

// Runs a check on the peer's certificate during the handshake.
class CheckVerifier : public ExternalCertificateVerifier {
 public:
  explicit CheckVerifier(ServerCertCheck check) : check_(std::move(check)) {}

  bool Verify(TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    absl::Status s = check_(View(request->peer_cert()),
                            View(request->peer_cert_full_chain()));
    *sync_status = s.ok() ? grpc::Status::OK
                          : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         std::string(s.message()));
    return true;  // Decided synchronously.
  }

  void Cancel(TlsCustomVerificationCheckRequest*) override {}

 private:
  const ServerCertCheck check_;
};

std::shared_ptr<CertificateVerifier> MakeVerifier(ServerCertCheck check) {
  return ExternalCertificateVerifier::Create<CheckVerifier>(std::move(check));
}

absl::Status Refuse(absl::string_view what, const absl::Status& why) {
  return absl::UnauthenticatedError(absl::StrCat(what, ": ", why.message()));
}

}  // namespace

std::string Expected::Describe() const {
  switch (kind) {
    case Kind::kIndex:
      return "the community's index";
    case Kind::kSupernode:
      return id.empty() ? "an enrolled supernode"
                        : absl::StrCat("supernode ", id.substr(0, 16));
    case Kind::kPeer:
      return absl::StrCat("peer ", id.substr(0, 16));
    case Kind::kAnyServer:
      return "a Trove server";
  }
  return "";
}

std::shared_ptr<const TlsContext> TlsContext::Insecure() {
  static const std::shared_ptr<const TlsContext> kInsecure(new TlsContext());
  return kInsecure;
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Create(
    std::string key_pem, std::string cert_pem, std::string ca_pem) {
  ASSIGN_OR_RETURN(std::unique_ptr<Identity> key, Identity::FromPem(key_pem));
  absl::StatusOr<CertInfo> own = InspectCertificate(cert_pem);
  if (!own.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("own certificate: ", own.status().message()));
  }
  if (own->public_key != key->public_key()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the certificate is for key ", own->id.substr(0, 16),
        "..., not for this private key (", key->peer_id().substr(0, 16),
        "...)"));
  }
  if (!ca_pem.empty()) {
    absl::StatusOr<CertInfo> ca = InspectCertificate(ca_pem);
    if (!ca.ok() || ca->role != CertRole::kCa) {
      return absl::InvalidArgumentError(
          "the trusted CA file does not hold a Trove community CA certificate");
    }
  }
  std::shared_ptr<TlsContext> ctx(new TlsContext());
  ctx->insecure_ = false;
  ctx->key_pem_ = std::move(key_pem);
  ctx->cert_pem_ = std::move(cert_pem);
  ctx->ca_pem_ = std::move(ca_pem);
  ctx->own_ = *own;
  return std::shared_ptr<const TlsContext>(std::move(ctx));
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::ForIdentity(
    const Identity& identity, std::string ca_pem) {
  ASSIGN_OR_RETURN(std::string key_pem, identity.PrivateKeyPem());
  ASSIGN_OR_RETURN(std::string cert,
                   SelfSignedCertificate(identity, kPeerCertValidity));
  return Create(std::move(key_pem), std::move(cert), std::move(ca_pem));
}

absl::StatusOr<std::shared_ptr<const TlsContext>> TlsContext::Ephemeral(
    std::string ca_pem) {
  ASSIGN_OR_RETURN(std::unique_ptr<Identity> identity, Identity::Generate());
  return ForIdentity(*identity, std::move(ca_pem));
}

absl::Status TlsContext::CheckClient(absl::string_view leaf_pem) const {
  ASSIGN_OR_RETURN(CertInfo info, InspectCertificate(leaf_pem));
  switch (info.role) {
    case CertRole::kPeer: {
      if (!info.self_signed) {
        return absl::UnauthenticatedError(
            "a peer's certificate must be self-signed");
      }
      return VerifySelfSigned(leaf_pem);
    }
    case CertRole::kIndex:
    case CertRole::kSupernode: {
      if (ca_pem_.empty()) {
        return absl::UnauthenticatedError(absl::StrCat(
            "a ", CertRoleName(info.role),
            " certificate, but this server trusts no community CA"));
      }
      absl::Status s = VerifyIssuedBy(leaf_pem, ca_pem_, absl::Now());
      if (!s.ok()) return Refuse(CertRoleName(info.role), s);
      return absl::OkStatus();
    }
    case CertRole::kCa:
      break;
  }
  return absl::UnauthenticatedError("a CA certificate cannot be a client's");
}

absl::Status TlsContext::CheckServer(absl::string_view leaf_pem,
                                     const Expected& expected) const {
  ASSIGN_OR_RETURN(CertInfo info, InspectCertificate(leaf_pem));
  const std::string who = expected.Describe();
  switch (expected.kind) {
    case Expected::Kind::kPeer:
      if (info.id != expected.id) {
        return absl::UnauthenticatedError(absl::StrCat(
            "expected ", who, "..., but the server's key is ",
            info.id.substr(0, 16), "..."));
      }
      return CheckClient(leaf_pem);
    case Expected::Kind::kIndex:
    case Expected::Kind::kSupernode: {
      const CertRole want = expected.kind == Expected::Kind::kIndex
                                ? CertRole::kIndex
                                : CertRole::kSupernode;
      // A supernode the election promoted serves with its peer key's own
      // certificate; the index named it by id, so that key is the proof.
      if (expected.kind == Expected::Kind::kSupernode &&
          info.role == CertRole::kPeer && !expected.id.empty() &&
          info.id == expected.id) {
        return CheckClient(leaf_pem);
      }
      if (info.role != want) {
        return absl::UnauthenticatedError(
            absl::StrCat("expected ", who, ", but the server's certificate is a ",
                         CertRoleName(info.role), "'s"));
      }
      if (ca_pem_.empty()) {
        return absl::UnauthenticatedError(absl::StrCat(
            "cannot check ", who, ": no community CA is known (give --join or "
            "--tls_ca)"));
      }
      absl::Status s = VerifyIssuedBy(leaf_pem, ca_pem_, absl::Now());
      if (!s.ok()) return Refuse(who, s);
      if (!expected.id.empty() && info.id != expected.id) {
        return absl::UnauthenticatedError(absl::StrCat(
            "expected ", who, "..., but the server's key is ",
            info.id.substr(0, 16), "..."));
      }
      return absl::OkStatus();
    }
    case Expected::Kind::kAnyServer:
      return CheckClient(leaf_pem);
  }
  return absl::InternalError("unknown expectation");
}

std::shared_ptr<grpc::ServerCredentials> TlsContext::ServerCredentials() const {
  if (insecure_) return grpc::InsecureServerCredentials();
  auto provider = std::make_shared<StaticDataCertificateProvider>(
      std::vector<IdentityKeyCertPair>{{key_pem_, cert_pem_}});
  TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  // The context outlives nothing here: copy what the check needs.
  std::shared_ptr<const TlsContext> self(new TlsContext(*this));
  options.set_certificate_verifier(MakeVerifier(
      [self](absl::string_view leaf, absl::string_view) {
        absl::Status s = self->CheckClient(leaf);
        // The client only sees its connection fail: the reason goes to
        // this server's log (at most one line a second, so that a flood of
        // handshakes cannot flood the log).
        static std::atomic<int64_t> last_logged_ms{0};
        const int64_t now_ms = absl::ToUnixMillis(absl::Now());
        int64_t last = last_logged_ms.load();
        if (!s.ok() && now_ms - last >= 1000 &&
            last_logged_ms.compare_exchange_strong(last, now_ms)) {
          TROVE_LOG(WARNING) << "refused a client's TLS certificate: "
                             << s.message();
        }
        return s;
      }));
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ChannelCredentials> TlsContext::ChannelCredentials(
    const Expected& expected) const {
  if (insecure_) return grpc::InsecureChannelCredentials();
  std::shared_ptr<const TlsContext> self(new TlsContext(*this));
  return ChannelCredentialsWithCheck(
      [self, expected](absl::string_view leaf, absl::string_view) {
        return self->CheckServer(leaf, expected);
      });
}

std::shared_ptr<grpc::Channel> TlsContext::MakeChannel(
    const std::string& address, const Expected& expected,
    grpc::ChannelArguments args) const {
  if (insecure_ || absl::StartsWith(address, "unix:")) {
    return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                     args);
  }
  args.SetSslTargetNameOverride(kTlsServerName);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(address, ChannelCredentials(expected), args);
}

std::shared_ptr<grpc::ChannelCredentials>
TlsContext::ChannelCredentialsWithCheck(ServerCertCheck check) const {
  if (insecure_) return grpc::InsecureChannelCredentials();
  // Roots are not used (the check decides), but without any gRPC would
  // look for the system's.
  auto provider = std::make_shared<StaticDataCertificateProvider>(
      ca_pem_.empty() ? cert_pem_ : ca_pem_,
      std::vector<IdentityKeyCertPair>{{key_pem_, cert_pem_}});
  TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(false);
  options.set_check_call_host(false);
  options.set_certificate_verifier(MakeVerifier(std::move(check)));
  return grpc::experimental::TlsCredentials(options);
}

namespace {

// Client certificates already read, by their PEM text: a connection
// presents the same certificate on every call, and reading it (an X.509
// parse) would otherwise be paid on every Search and Locate. Bounded: when
// full it starts over.
class CallerCache {
 public:
  std::optional<CallerInfo> Find(absl::string_view pem) {
    absl::MutexLock lock(&mu_);
    auto it = callers_.find(pem);
    if (it == callers_.end()) return std::nullopt;
    return it->second;
  }
  void Put(absl::string_view pem, const CallerInfo& caller) {
    absl::MutexLock lock(&mu_);
    if (callers_.size() >= kMaxCallers) callers_.clear();
    callers_.emplace(std::string(pem), caller);
  }

 private:
  static constexpr size_t kMaxCallers = 1024;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, CallerInfo> callers_ ABSL_GUARDED_BY(mu_);
};

CallerCache& Callers() {
  static CallerCache* cache = new CallerCache;
  return *cache;
}

}  // namespace

absl::StatusOr<CallerInfo> Caller(const grpc::ServerContextBase* context) {
  std::shared_ptr<const grpc::AuthContext> auth = context->auth_context();
  std::vector<grpc::string_ref> pem =
      auth == nullptr ? std::vector<grpc::string_ref>()
                      : auth->FindPropertyValues("x509_pem_cert");
  if (pem.empty()) {
    return absl::UnauthenticatedError(
        "the connection carries no client certificate");
  }
  const absl::string_view text = View(pem.front());
  if (std::optional<CallerInfo> known = Callers().Find(text)) return *known;
  // The handshake's verifier (CheckClient) accepted it, so its role holds.
  absl::StatusOr<CertInfo> info = InspectCertificate(text);
  if (!info.ok()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "unreadable client certificate: ", info.status().message()));
  }
  CallerInfo out;
  out.id = info->id;
  out.role = info->role;
  out.public_key = info->public_key;
  Callers().Put(text, out);
  return out;
}

absl::StatusOr<std::string> CallerId(const grpc::ServerContextBase* context) {
  ASSIGN_OR_RETURN(CallerInfo caller, Caller(context));
  return caller.id;
}

}  // namespace trove
