// gRPC credentials for Trove's links, on gRPC's TLS API with Trove's own
// certificate checks (see tls.h for the certificates):
//
// - Every server asks every client for a certificate and accepts a
//   peer's self-signed one (any Ed25519 key: TLS proves the caller holds
//   it) or one the community CA issued to the index or a supernode. A
//   handler learns who called with Caller() / CallerId().
// - A client says whom it expects (Expected): the index (CA-issued, role
//   index), a supernode (CA-issued, role supernode, and the id it was
//   told when it knows one), or a peer (whose key hashes to the peer id
//   the supernode or index named). Anything else fails the handshake, so
//   no call is made.
// - Host names are not checked: who is at the other end is decided by the
//   certificate's key and role, not by the address used to reach it.
//
// TlsContext is immutable and thread-safe. Each credentials object gets
// fresh gRPC options (gRPC aborts when one is shared).
#ifndef TROVE_COMMON_TLS_CREDENTIALS_H_
#define TROVE_COMMON_TLS_CREDENTIALS_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/identity.h"
#include "common/tls.h"

namespace trove {

// Whom a client accepts at the other end of a connection.
struct Expected {
  enum class Kind { kIndex, kSupernode, kPeer, kAnyServer };

  // The community's index.
  static Expected Index() { return {Kind::kIndex, ""}; }
  // A supernode enrolled in the community; with `id`, that one only, and
  // then also a promoted peer serving with its own key whose hash is `id`.
  static Expected Supernode(std::string id = "") {
    return {Kind::kSupernode, std::move(id)};
  }
  // The peer whose key hashes to `id`.
  static Expected Peer(std::string id) { return {Kind::kPeer, std::move(id)}; }
  // Any server with a valid Trove certificate (a peer, or one the
  // community CA issued). For diagnostics such as health probes, where who
  // answers does not matter.
  static Expected AnyServer() { return {Kind::kAnyServer, ""}; }

  // "the index", "supernode 3fa4...", ...
  std::string Describe() const;

  Kind kind = Kind::kAnyServer;
  std::string id;
};

// Checks a server's certificate during the handshake: `leaf_pem` is its
// certificate, `chain_pem` all it sent (leaf first). Not OK fails the
// handshake.
using ServerCertCheck = std::function<absl::Status(absl::string_view leaf_pem,
                                                   absl::string_view chain_pem)>;

class TlsContext {
 public:
  // Plaintext: every credentials object it makes is insecure.
  static std::shared_ptr<const TlsContext> Insecure();

  // `key_pem`: this process's Ed25519 private key; `cert_pem`: its
  // certificate (self-signed or CA-issued), optionally followed by the CA
  // certificate (the whole chain is sent); `ca_pem`: the community CA
  // (may be empty: then only peers can be verified). INVALID_ARGUMENT when
  // the key and certificate do not belong together or do not parse, or the
  // CA is not a community CA.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Create(
      std::string key_pem, std::string cert_pem, std::string ca_pem);

  // A peer's context: a self-signed certificate made now from `identity`.
  static absl::StatusOr<std::shared_ptr<const TlsContext>> ForIdentity(
      const Identity& identity, std::string ca_pem);

  // A context with a fresh key made for this process only (a tool or a
  // test that needs a client certificate but no lasting identity).
  static absl::StatusOr<std::shared_ptr<const TlsContext>> Ephemeral(
      std::string ca_pem);

  bool insecure() const { return insecure_; }
  // The community CA (PEM), or "".
  const std::string& ca_pem() const { return ca_pem_; }
  // This process's own certificate (role, id, ...). Empty when insecure.
  const CertInfo& own() const { return own_; }

  // Server credentials: this process's certificate, every client asked for
  // one and checked by CheckClient.
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;

  // Channel credentials presenting this process's certificate and
  // accepting only a server that passes CheckServer(expected).
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(
      const Expected& expected) const;

  // A channel to `address` with ChannelCredentials(expected) and `args`
  // (plus the TLS server name and a subchannel pool of its own, so that a
  // connection checked for one expectation never serves another).
  // "unix:PATH" addresses are plaintext.
  std::shared_ptr<grpc::Channel> MakeChannel(
      const std::string& address, const Expected& expected,
      grpc::ChannelArguments args = grpc::ChannelArguments()) const;

  // Channel credentials with a check of the caller's own (e.g. to learn
  // the CA from the index's chain, see community_link.h).
  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentialsWithCheck(
      ServerCertCheck check) const;

  // What a server accepts from a client (see above). UNAUTHENTICATED with
  // the reason; INVALID_ARGUMENT for a certificate that is not Trove's.
  absl::Status CheckClient(absl::string_view leaf_pem) const;

  // What a client accepts from a server it expects as `expected`.
  absl::Status CheckServer(absl::string_view leaf_pem,
                           const Expected& expected) const;

 private:
  TlsContext() = default;

  bool insecure_ = true;
  std::string key_pem_;
  std::string cert_pem_;
  std::string ca_pem_;
  CertInfo own_;
};

// Who called, as proven by the client certificate of the call's TLS
// connection.
struct CallerInfo {
  // Hex SHA-256 of the caller's Ed25519 key: its peer id (or supernode id).
  std::string id;
  // kPeer for a self-signed certificate; kIndex / kSupernode for one the
  // community CA issued.
  CertRole role = CertRole::kPeer;
  // Raw 32-byte Ed25519 key.
  std::string public_key;
};

// The caller of a call served with TlsContext::ServerCredentials().
// UNAUTHENTICATED when the connection has no client certificate (a
// plaintext server).
absl::StatusOr<CallerInfo> Caller(const grpc::ServerContextBase* context);

// Caller(context)->id.
absl::StatusOr<std::string> CallerId(const grpc::ServerContextBase* context);

}  // namespace trove

#endif  // TROVE_COMMON_TLS_CREDENTIALS_H_
