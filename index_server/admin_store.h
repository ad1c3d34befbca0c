// AdminStore: what the AdminService keeps (admin tokens, the audit log,
// bans, takedowns) and the views of the community it reads. PgIndexStore
// implements it beside CatalogStore and TrustStore.
#ifndef TROVE_INDEX_SERVER_ADMIN_STORE_H_
#define TROVE_INDEX_SERVER_ADMIN_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "protos/admin.pb.h"

namespace trove {
namespace index_server {

// A stored admin token (without its secret).
struct AdminTokenRecord {
  std::string token_id;
  // "admin", "moderator" or "viewer".
  std::string role;
  std::string label;
  absl::Time created_at = absl::InfinitePast();
  bool revoked = false;
  absl::Time revoked_at = absl::InfinitePast();
};

// One audit row to write.
struct AuditRecord {
  std::string token_id;
  std::string role;
  std::string action;
  std::string target;
  std::string reason;
  // "ok", or "CODE: message".
  std::string result;
};

// Thread-safe. Errors as CatalogStore's (UNAVAILABLE, INTERNAL, ...) besides
// those named.
class AdminStore {
 public:
  virtual ~AdminStore() = default;

  // Tokens.

  // Stores a token by its hash. ALREADY_EXISTS when the hash or id is
  // stored already.
  virtual absl::Status AddAdminToken(const std::string& token_id,
                                     const std::string& token_hash,
                                     const std::string& role,
                                     const std::string& label,
                                     const std::string& created_by) = 0;
  // The token stored with `token_hash`. NOT_FOUND when none.
  virtual absl::StatusOr<AdminTokenRecord> FindAdminToken(
      const std::string& token_hash) = 0;
  // NOT_FOUND for an unknown id; OK when it was revoked already.
  virtual absl::Status RevokeAdminToken(const std::string& token_id) = 0;
  virtual absl::StatusOr<std::vector<AdminTokenRecord>> ListAdminTokens() = 0;

  // The audit log.
  virtual absl::Status WriteAudit(const AuditRecord& record) = 0;
  // Rows with id < before_id (0: all), newest first, at most `limit`.
  virtual absl::StatusOr<std::vector<admin::AuditEntry>> ReadAudit(
      int64_t before_id, int limit) = 0;

  // Bans and takedowns.

  // Records the ban (or updates its reason), withdraws every source of the
  // peer (PostgreSQL and, through the change log, every replica's memory)
  // and marks its chain so that only a new full list brings it back.
  // Returns how many source rows went.
  virtual absl::StatusOr<int64_t> BanPeer(const std::string& peer_id,
                                          const std::string& reason,
                                          const std::string& by) = 0;
  // NOT_FOUND when not banned.
  virtual absl::Status UnbanPeer(const std::string& peer_id) = 0;
  // Records the takedown and withdraws every source of `cid`. Returns how
  // many source rows went.
  virtual absl::StatusOr<int64_t> TakeDown(const std::string& cid,
                                           const std::string& reason,
                                           const std::string& by) = 0;
  // NOT_FOUND when not taken down.
  virtual absl::Status Restore(const std::string& cid) = 0;
  // Newest first.
  virtual absl::StatusOr<std::vector<admin::Ban>> ListBans() = 0;
  virtual absl::StatusOr<std::vector<admin::Takedown>> ListTakedowns() = 0;

  // Views.
  virtual absl::StatusOr<std::vector<admin::SupernodeStatus>>
  ListSupernodeStatus() = 0;
  virtual absl::StatusOr<std::vector<admin::PeerStatus>> ListPeerStatus(
      const std::string& id_prefix, int limit) = 0;
  virtual absl::StatusOr<admin::StatsResponse> AdminStats() = 0;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_ADMIN_STORE_H_
