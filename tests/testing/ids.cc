#include "tests/testing/ids.h"

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "gtest/gtest.h"

namespace trove {
namespace testutil {

std::string Id(char kind, int n) { return absl::StrFormat("%c%063x", kind, n); }

std::unique_ptr<Identity> NewIdentity() {
  absl::StatusOr<std::unique_ptr<Identity>> id = Identity::Generate();
  EXPECT_TRUE(id.ok()) << id.status();
  return id.ok() ? *std::move(id) : nullptr;
}

}  // namespace testutil
}  // namespace trove
