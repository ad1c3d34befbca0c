// Fuzz target: the community link parser. Besides not crashing, every link
// it accepts must format to a link that parses back to the same address
// and fingerprint, and every refusal must be INVALID_ARGUMENT.
#include <cstdint>
#include <cstdlib>

#include "absl/strings/string_view.h"
#include "common/community_link.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<trove::CommunityLink> link = trove::ParseCommunityLink(text);
  if (!link.ok()) {
    Check(link.status().code() == absl::StatusCode::kInvalidArgument);
    return 0;
  }
  Check(link->port >= 1 && link->port <= 65535);
  Check(link->ca_fingerprint.size() == 64);
  absl::StatusOr<trove::CommunityLink> again =
      trove::ParseCommunityLink(trove::FormatCommunityLink(*link));
  Check(again.ok());
  Check(again->address() == link->address());
  Check(again->ca_fingerprint == link->ca_fingerprint);
  return 0;
}
