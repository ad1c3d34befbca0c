// Fuzz target: validation of everything that arrives from the network
// (names, ids, addresses, search queries, file entries) and the escaping of
// untrusted text. Besides not crashing, it checks what validation promises:
// an accepted name has no separator, no unsafe character and is not a path
// component; escaped text never holds an unsafe character.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "common/text.h"
#include "common/validation.h"
#include "protos/types.pb.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckText(absl::string_view s) {
  if (trove::ValidateFileName(s).ok()) {
    Check(!s.empty() && s.size() <= trove::kMaxNameBytes);
    Check(s.find_first_of("/\\") == absl::string_view::npos);
    Check(s != "." && s != "..");
    Check(trove::FindUnsafeText(s) == absl::string_view::npos);
  }
  if (trove::ValidateText(s, "text").ok()) {
    Check(trove::IsValidUtf8(s));
  }
  if (trove::ValidateAddress(s).ok()) {
    Check(trove::ValidateListenAddress(s).ok());
    Check(trove::FindUnsafeText(s) == absl::string_view::npos);
  }
  if (trove::ValidateHexId(s, "id").ok()) Check(s.size() == 64);
  const std::string escaped = trove::EscapeText(s);
  Check(trove::FindUnsafeText(escaped) == absl::string_view::npos);
  Check(escaped.find('\n') == std::string::npos);
  std::string json;
  trove::AppendJsonEscaped(s, &json);
  Check(trove::FindUnsafeText(json) == absl::string_view::npos);
  (void)trove::FileExtension(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks what the rest is.
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      CheckText(rest);
      break;
    case 1: {
      trove::SearchQuery q;
      if (q.ParseFromArray(rest.data(), static_cast<int>(rest.size())) &&
          trove::ValidateSearchQuery(q).ok()) {
        Check(!q.text().empty() && q.text().size() <= trove::kMaxQueryBytes);
        Check(trove::FindUnsafeText(q.text()) == absl::string_view::npos);
      }
      break;
    }
    case 2: {
      trove::FileEntry e;
      if (e.ParseFromArray(rest.data(), static_cast<int>(rest.size())) &&
          trove::ValidateFileEntry(e).ok()) {
        Check(trove::ValidateFileName(e.name()).ok());
        Check(e.size() >= 0 && e.size() <= trove::kMaxFileSize);
      }
      break;
    }
  }
  return 0;
}
