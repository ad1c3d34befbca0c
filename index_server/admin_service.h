// The AdminService (protos/admin.proto): AdminCore holds its checks and
// actions, shared by the gRPC service (AdminServiceImpl) and the index's
// web page, so that a token is checked the same way wherever it is used;
// ModerationLists hands the bans and takedowns to supernodes with their
// leases.
#ifndef TROVE_INDEX_SERVER_ADMIN_SERVICE_H_
#define TROVE_INDEX_SERVER_ADMIN_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "index_server/admin_store.h"
#include "index_server/admin_token.h"
#include "index_server/trust_store.h"
#include "protos/admin.grpc.pb.h"
#include "protos/index.pb.h"

namespace trove {
namespace index_server {

// Who made an admin call, once its token was checked.
struct AdminCaller {
  std::string token_id;
  AdminRole role = AdminRole::kViewer;
};

// Makes a token of `role` ("admin", "moderator", "viewer") with `label`,
// stores its hash in `store`, and returns it (the only time the token is
// seen). `created_by` names who made it (a token id, or a command).
// INVALID_ARGUMENT for a bad role or label; the store's errors.
absl::StatusOr<NewAdminToken> CreateAdminToken(AdminStore* store,
                                               const std::string& role,
                                               const std::string& label,
                                               const std::string& created_by);

// The bans and takedowns in force, read from the store at most once per
// `refresh` (supernodes renew often; the lists change seldom). Thread-safe.
class ModerationLists {
 public:
  ModerationLists(AdminStore* store, absl::Duration refresh);

  // Puts the banned peers and taken-down cids into `lease`. When the store
  // cannot be read, the last lists read are used (and the failure logged).
  void Fill(index::LeaseResponse* lease);

  // Makes the next Fill read the store again (after a change here).
  void Invalidate();

 private:
  AdminStore* const store_;
  const absl::Duration refresh_;
  absl::Mutex mu_;
  absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<std::string> banned_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> taken_down_ ABSL_GUARDED_BY(mu_);
};

// The checks and actions of every AdminService call. Each takes the
// caller's `authorization` value ("Bearer TOKEN") and answers as the rpc of
// the same name in admin.proto. Every call that changes something, and
// every refusal, writes one audit row; refusals of unrecognised tokens are
// audited at most `unknown_token_audits_per_minute` times a minute (a
// flood of made-up tokens cannot fill the log; the rest are counted in
// the log line that follows). Thread-safe.
class AdminCore {
 public:
  struct Options {
    // False: the index runs without TLS, and every call is refused with
    // FAILED_PRECONDITION (a bearer token must not cross in plaintext).
    bool tls = true;
    int max_reason_chars = 500;
    int max_label_chars = 200;
    int unknown_token_audits_per_minute = 30;
  };

  // `store` and `trust` must outlive the core; `lists` may be null.
  AdminCore(AdminStore* store, TrustStore* trust, ModerationLists* lists,
            Options options);

  absl::StatusOr<admin::ListSupernodesResponse> ListSupernodes(
      const std::string& authorization, const admin::ListSupernodesRequest& r);
  absl::StatusOr<admin::ListPeersResponse> ListPeers(
      const std::string& authorization, const admin::ListPeersRequest& r);
  absl::StatusOr<admin::StatsResponse> Stats(const std::string& authorization,
                                             const admin::StatsRequest& r);
  absl::StatusOr<admin::EnrolSupernodeResponse> EnrolSupernode(
      const std::string& authorization, const admin::EnrolSupernodeRequest& r);
  absl::StatusOr<admin::RevokeSupernodeResponse> RevokeSupernode(
      const std::string& authorization, const admin::RevokeSupernodeRequest& r);
  absl::StatusOr<admin::BanPeerResponse> BanPeer(
      const std::string& authorization, const admin::BanPeerRequest& r);
  absl::StatusOr<admin::UnbanPeerResponse> UnbanPeer(
      const std::string& authorization, const admin::UnbanPeerRequest& r);
  absl::StatusOr<admin::TakeDownResponse> TakeDown(
      const std::string& authorization, const admin::TakeDownRequest& r);
  absl::StatusOr<admin::RestoreResponse> Restore(
      const std::string& authorization, const admin::RestoreRequest& r);
  absl::StatusOr<admin::ListBansResponse> ListBans(
      const std::string& authorization, const admin::ListBansRequest& r);
  absl::StatusOr<admin::ListTakedownsResponse> ListTakedowns(
      const std::string& authorization, const admin::ListTakedownsRequest& r);
  absl::StatusOr<admin::ReadAuditResponse> ReadAudit(
      const std::string& authorization, const admin::ReadAuditRequest& r);
  absl::StatusOr<admin::CreateTokenResponse> CreateToken(
      const std::string& authorization, const admin::CreateTokenRequest& r);
  absl::StatusOr<admin::RevokeTokenResponse> RevokeToken(
      const std::string& authorization, const admin::RevokeTokenRequest& r);
  absl::StatusOr<admin::ListTokensResponse> ListTokens(
      const std::string& authorization, const admin::ListTokensRequest& r);

  // The token check alone: who `authorization` is, if its role reaches
  // `needed`. UNAUTHENTICATED / PERMISSION_DENIED (audited as `action`).
  absl::StatusOr<AdminCaller> Authorize(const std::string& authorization,
                                        AdminRole needed,
                                        const std::string& action,
                                        const std::string& target);

 private:
  struct Action {
    const char* name;
    AdminRole needed;
    // Audited when it succeeds too.
    bool changes;
    std::string target;
    std::string reason;
  };

  // Authorizes, checks `valid` (INVALID_ARGUMENT), runs `fn`, and audits.
  template <typename Response>
  absl::StatusOr<Response> Run(
      const std::string& authorization, const Action& action,
      const absl::Status& valid,
      const std::function<absl::StatusOr<Response>(const AdminCaller&)>& fn);

  void Audit(const AdminCaller* caller, const Action& action,
             const absl::Status& result);
  // Whether a refusal of an unrecognised token may be audited now.
  bool MayAuditUnknown();

  AdminStore* const store_;
  TrustStore* const trust_;
  ModerationLists* const lists_;
  const Options options_;
  absl::Mutex mu_;
  absl::Time minute_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int unknown_audited_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unknown_skipped_ ABSL_GUARDED_BY(mu_) = 0;
};

// The checks of each admin request's own fields (who calls is Authorize's
// business). Pure; INVALID_ARGUMENT naming the field.
absl::Status ValidateListPeers(const admin::ListPeersRequest& r);
absl::Status ValidateEnrolSupernode(const admin::EnrolSupernodeRequest& r);
absl::Status ValidateRevokeSupernode(const admin::RevokeSupernodeRequest& r,
                                     const AdminCore::Options& options);
absl::Status ValidateBanPeer(const admin::BanPeerRequest& r,
                             const AdminCore::Options& options);
absl::Status ValidateUnbanPeer(const admin::UnbanPeerRequest& r,
                               const AdminCore::Options& options);
absl::Status ValidateTakeDown(const admin::TakeDownRequest& r,
                              const AdminCore::Options& options);
absl::Status ValidateRestore(const admin::RestoreRequest& r,
                             const AdminCore::Options& options);
absl::Status ValidateReadAudit(const admin::ReadAuditRequest& r);
absl::Status ValidateCreateToken(const admin::CreateTokenRequest& r,
                                 const AdminCore::Options& options);
absl::Status ValidateRevokeToken(const admin::RevokeTokenRequest& r);

// A request's target or reason as the audit log keeps it: its first
// `max_bytes` bytes, escaped (EscapeText) so that it is one clean line.
std::string AuditText(absl::string_view text, size_t max_bytes);

// AdminService over gRPC: reads `authorization` from the call's metadata
// and hands each call to the AdminCore. Thread-safe.
class AdminServiceImpl final : public admin::AdminService::Service {
 public:
  // `core` must outlive the service.
  explicit AdminServiceImpl(AdminCore* core) : core_(core) {}

  grpc::Status ListSupernodes(grpc::ServerContext* context,
                              const admin::ListSupernodesRequest* request,
                              admin::ListSupernodesResponse* response) override;
  grpc::Status ListPeers(grpc::ServerContext* context,
                         const admin::ListPeersRequest* request,
                         admin::ListPeersResponse* response) override;
  grpc::Status Stats(grpc::ServerContext* context,
                     const admin::StatsRequest* request,
                     admin::StatsResponse* response) override;
  grpc::Status EnrolSupernode(grpc::ServerContext* context,
                              const admin::EnrolSupernodeRequest* request,
                              admin::EnrolSupernodeResponse* response) override;
  grpc::Status RevokeSupernode(
      grpc::ServerContext* context, const admin::RevokeSupernodeRequest* request,
      admin::RevokeSupernodeResponse* response) override;
  grpc::Status BanPeer(grpc::ServerContext* context,
                       const admin::BanPeerRequest* request,
                       admin::BanPeerResponse* response) override;
  grpc::Status UnbanPeer(grpc::ServerContext* context,
                         const admin::UnbanPeerRequest* request,
                         admin::UnbanPeerResponse* response) override;
  grpc::Status TakeDown(grpc::ServerContext* context,
                        const admin::TakeDownRequest* request,
                        admin::TakeDownResponse* response) override;
  grpc::Status Restore(grpc::ServerContext* context,
                       const admin::RestoreRequest* request,
                       admin::RestoreResponse* response) override;
  grpc::Status ListBans(grpc::ServerContext* context,
                        const admin::ListBansRequest* request,
                        admin::ListBansResponse* response) override;
  grpc::Status ListTakedowns(grpc::ServerContext* context,
                             const admin::ListTakedownsRequest* request,
                             admin::ListTakedownsResponse* response) override;
  grpc::Status ReadAudit(grpc::ServerContext* context,
                         const admin::ReadAuditRequest* request,
                         admin::ReadAuditResponse* response) override;
  grpc::Status CreateToken(grpc::ServerContext* context,
                           const admin::CreateTokenRequest* request,
                           admin::CreateTokenResponse* response) override;
  grpc::Status RevokeToken(grpc::ServerContext* context,
                           const admin::RevokeTokenRequest* request,
                           admin::RevokeTokenResponse* response) override;
  grpc::Status ListTokens(grpc::ServerContext* context,
                          const admin::ListTokensRequest* request,
                          admin::ListTokensResponse* response) override;

 private:
  AdminCore* const core_;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_ADMIN_SERVICE_H_
