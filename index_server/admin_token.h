// Admin tokens and roles of the AdminService (protos/admin.proto).
//
// A token is "trove-admin-" followed by 64 hex digits of a fresh 256-bit
// random secret. The index keeps only the hex SHA-256 of the whole token
// (AdminTokenHash) and a short random id that names the token in the audit
// log and in RevokeToken. Roles are ordered: viewer < moderator < admin;
// a call needs a role at least as high as its own.
//
// Thread-safe (no state).
#ifndef TROVE_INDEX_SERVER_ADMIN_TOKEN_H_
#define TROVE_INDEX_SERVER_ADMIN_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {
namespace index_server {

enum class AdminRole { kViewer = 1, kModerator = 2, kAdmin = 3 };

// "admin", "moderator", "viewer".
const char* AdminRoleName(AdminRole role);

// The role named `name` (lowercase). INVALID_ARGUMENT otherwise.
absl::StatusOr<AdminRole> ParseAdminRole(absl::string_view name);

// True when `held` may make a call that needs `needed`.
inline bool RoleAllows(AdminRole held, AdminRole needed) {
  return static_cast<int>(held) >= static_cast<int>(needed);
}

// A new token, before it is stored.
struct NewAdminToken {
  // What the operator keeps and sends (shown once).
  std::string token;
  // What the index stores: AdminTokenHash(token).
  std::string hash;
  // Names the token in the audit log: 16 hex digits, random.
  std::string token_id;
};

// A fresh token from OpenSSL's random generator. INTERNAL when it fails.
absl::StatusOr<NewAdminToken> MakeAdminToken();

// Hex SHA-256 of `token`, as stored.
std::string AdminTokenHash(absl::string_view token);

// Whether `token` has the form MakeAdminToken makes (so that a typo is told
// apart from an unknown token). OK or INVALID_ARGUMENT saying what is wrong.
absl::Status CheckAdminTokenForm(absl::string_view token);

// The token in an HTTP/gRPC `authorization` value "Bearer TOKEN" (scheme
// case-insensitive, surrounding blanks ignored). UNAUTHENTICATED saying
// what is wrong when the value is empty or has another form.
absl::StatusOr<std::string> BearerToken(absl::string_view authorization);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_ADMIN_TOKEN_H_
