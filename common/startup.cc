#include "common/startup.h"

#include <iostream>

#include "common/log.h"

namespace trove {

std::optional<int> Startup(int argc, char* const* argv,
                           const StartupOptions& options) {
  ConfigOptions config;
  config.program = options.role;
  config.owns_flag = options.owns_flag;
  config.default_path = options.default_config;
  absl::Status s = LoadConfigFromFlags(argc, argv, config);
  if (!s.ok()) {
    std::cerr << options.role << ": " << s.message() << "\n";
    return 2;
  }
  if (DumpConfigRequested()) {
    std::cout << DumpConfig(options.role, options.owns_flag);
    std::cout.flush();
    return 0;
  }
  SetLogTag(options.role);
  s = InitLoggingFromFlags();
  if (!s.ok()) {
    std::cerr << options.role << ": " << s.message() << "\n";
    return 2;
  }
  return std::nullopt;
}

}  // namespace trove
