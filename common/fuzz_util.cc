#include "common/fuzz_util.h"

#include <memory>

#include "common/text.h"

namespace trove {
namespace fuzz {
namespace {

// Fixed keys for fuzzing only: they sign nothing outside these targets.
constexpr const char* kPems[2] = {
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJkIinCgFEnGMPpcheKXx6AMyWOJaA7Lp+br4j87EJO3\n"
    "-----END PRIVATE KEY-----\n",
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIPgBIaIHrApsmcjnXaUVRYjdIP9MbRet2G5sjynEu1xb\n"
    "-----END PRIVATE KEY-----\n",
};

}  // namespace

void CheckRefusal(const absl::Status& status,
                  std::initializer_list<absl::string_view> fields) {
  TROVE_FUZZ_CHECK(!status.ok());
  const absl::string_view message = status.message();
  TROVE_FUZZ_CHECK(!message.empty());
  if (FindUnsafeText(message) != absl::string_view::npos) {
    std::fprintf(stderr, "refusal message holds unsafe text: %s\n",
                 EscapeText(message).c_str());
    std::abort();
  }
  if (fields.size() == 0) return;
  for (absl::string_view field : fields) {
    if (message.find(field) != absl::string_view::npos) return;
  }
  std::fprintf(stderr, "refusal names no field: %s\n",
               EscapeText(message).c_str());
  std::abort();
}

const Identity& FixedIdentity(int which) {
  static const Identity* const keys[2] = {
      Identity::FromPem(kPems[0])->release(),
      Identity::FromPem(kPems[1])->release(),
  };
  TROVE_FUZZ_CHECK(which == 0 || which == 1);
  return *keys[which];
}

std::string SignOrDie(const Identity& identity, absl::string_view message) {
  absl::StatusOr<std::string> signature = identity.Sign(message);
  TROVE_FUZZ_CHECK(signature.ok());
  return *std::move(signature);
}

bool SplitInput(const uint8_t* data, size_t size, uint8_t* selector,
                absl::string_view* rest) {
  if (size == 0) return false;
  *selector = data[0];
  *rest = absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1);
  return true;
}

}  // namespace fuzz
}  // namespace trove
