// Fuzz target: the config file parser. Besides not crashing, each value it
// accepts must survive FormatConfigValue and a second parse unchanged (what
// --dump_config relies on), and every error must name the source and line.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/config.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<trove::ConfigSetting>> settings =
      trove::ParseConfig(text, "fuzz.conf");
  if (!settings.ok()) {
    Check(absl::StartsWith(settings.status().message(), "fuzz.conf:"));
    return 0;
  }
  std::string dumped;
  for (const trove::ConfigSetting& s : *settings) {
    Check(!s.name.empty() && s.line >= 1);
    dumped += s.name + " = " + trove::FormatConfigValue(s.value) + "\n";
  }
  absl::StatusOr<std::vector<trove::ConfigSetting>> again =
      trove::ParseConfig(dumped, "dump");
  Check(again.ok());
  Check(again->size() == settings->size());
  for (size_t i = 0; i < again->size(); ++i) {
    Check((*again)[i].name == (*settings)[i].name);
    Check((*again)[i].value == (*settings)[i].value);
  }
  return 0;
}
