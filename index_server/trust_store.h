// TrustStore: the index's records of who may act as a supernode (enrolled
// and promoted keys, revocations) and the sessions of registered
// supernodes. PgIndexStore implements it beside CatalogStore.
#ifndef TROVE_INDEX_SERVER_TRUST_STORE_H_
#define TROVE_INDEX_SERVER_TRUST_STORE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "index_server/store.h"

namespace trove {
namespace index_server {

// One row of supernode_keys.
struct SupernodeKey {
  std::string supernode_id;
  // Raw 32-byte Ed25519 public key.
  std::string public_key;
  // "enrolled" or "promoted".
  std::string kind;
  bool permanent = true;
  bool revoked = false;
  absl::Time revoked_at = absl::InfinitePast();
  std::string enrolled_by;
  absl::Time created_at = absl::InfinitePast();
};

// The hex SHA-256 of a session token, as stored.
std::string SessionHash(const std::string& token);

// Thread-safe.
class TrustStore {
 public:
  virtual ~TrustStore() = default;

  // The key enrolled or promoted for `supernode_id`. NOT_FOUND when none.
  virtual absl::StatusOr<SupernodeKey> GetSupernodeKey(
      const std::string& supernode_id, const CallContext& call) = 0;

  // Accepts `public_key` (raw 32 bytes; its id is its SHA-256) as a
  // supernode's key, of `kind` "enrolled" (by the operator) or "promoted"
  // (by the election: `permanent` false). Enrolling a revoked key again
  // lifts the revocation. INVALID_ARGUMENT for a bad key or kind.
  // Returns the supernode id.
  virtual absl::StatusOr<std::string> EnrolSupernodeKey(
      const std::string& public_key, const std::string& kind, bool permanent,
      const std::string& enrolled_by) = 0;

  // Revokes the key of `supernode_id`: its session ends, its lease is
  // dropped with every source it published (at once, through the change
  // log), and it can no longer register. NOT_FOUND when the key is unknown.
  virtual absl::Status RevokeSupernodeKey(const std::string& supernode_id,
                                          const std::string& revoked_by) = 0;

  // Every key, oldest first.
  virtual absl::StatusOr<std::vector<SupernodeKey>> ListSupernodeKeys() = 0;

  // Records verified presences forwarded by `supernode_id`: each sets the
  // peer's presence_until to `valid_until` (the leaf's latest word), for
  // peers whose chain is held through that supernode (others are ignored).
  virtual absl::Status RecordPresences(
      const std::string& supernode_id,
      const std::vector<std::pair<std::string, absl::Time>>& presences,
      const CallContext& call) = 0;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_TRUST_STORE_H_
