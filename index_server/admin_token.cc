#include "index_server/admin_token.h"

#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/merkle.h"

namespace trove {
namespace index_server {
namespace {

constexpr absl::string_view kPrefix = "trove-admin-";
constexpr size_t kSecretBytes = 32;
constexpr size_t kIdBytes = 8;

absl::StatusOr<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&out[0]),
                 static_cast<int>(n)) != 1) {
    return absl::InternalError("the random generator failed");
  }
  return out;
}

}  // namespace

const char* AdminRoleName(AdminRole role) {
  switch (role) {
    case AdminRole::kAdmin:
      return "admin";
    case AdminRole::kModerator:
      return "moderator";
    case AdminRole::kViewer:
      break;
  }
  return "viewer";
}

absl::StatusOr<AdminRole> ParseAdminRole(absl::string_view name) {
  if (name == "admin") return AdminRole::kAdmin;
  if (name == "moderator") return AdminRole::kModerator;
  if (name == "viewer") return AdminRole::kViewer;
  return absl::InvalidArgumentError(absl::StrCat(
      "role must be admin, moderator or viewer, not '",
      absl::CHexEscape(name.substr(0, 40)), "'"));
}

absl::StatusOr<NewAdminToken> MakeAdminToken() {
  absl::StatusOr<std::string> secret = RandomBytes(kSecretBytes);
  if (!secret.ok()) return secret.status();
  absl::StatusOr<std::string> id = RandomBytes(kIdBytes);
  if (!id.ok()) return id.status();
  NewAdminToken t;
  t.token = absl::StrCat(kPrefix, HexEncode(*secret));
  t.hash = AdminTokenHash(t.token);
  t.token_id = HexEncode(*id);
  return t;
}

std::string AdminTokenHash(absl::string_view token) {
  return HexEncode(Sha256(token));
}

absl::Status CheckAdminTokenForm(absl::string_view token) {
  if (!absl::StartsWith(token, kPrefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("an admin token starts with '", kPrefix, "'"));
  }
  absl::string_view hex = token.substr(kPrefix.size());
  if (hex.size() != 2 * kSecretBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an admin token has ", 2 * kSecretBytes, " hex digits after '",
        kPrefix, "', this one ", hex.size()));
  }
  for (char c : hex) {
    if (!absl::ascii_isxdigit(c) || absl::ascii_isupper(c)) {
      return absl::InvalidArgumentError(
          "an admin token has only lowercase hex digits after its prefix");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> BearerToken(absl::string_view authorization) {
  absl::string_view v = absl::StripAsciiWhitespace(authorization);
  if (v.empty()) {
    return absl::UnauthenticatedError(
        "no admin token: send the metadata 'authorization: Bearer TOKEN'");
  }
  constexpr absl::string_view kScheme = "bearer ";
  if (v.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(v.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError(
        "the authorization value must be 'Bearer TOKEN'");
  }
  absl::string_view token =
      absl::StripAsciiWhitespace(v.substr(kScheme.size()));
  absl::Status form = CheckAdminTokenForm(token);
  if (!form.ok()) {
    return absl::UnauthenticatedError(
        absl::StrCat("malformed admin token: ", form.message()));
  }
  return std::string(token);
}

}  // namespace index_server
}  // namespace trove
