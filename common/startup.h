// What every Trove binary does right after absl::ParseCommandLine: apply
// its config file under the command line, answer --dump_config, and set up
// logging.
//
//   absl::ParseCommandLine(argc, argv);
//   if (std::optional<int> exit = trove::Startup(argc, argv, options)) return *exit;
#ifndef TROVE_COMMON_STARTUP_H_
#define TROVE_COMMON_STARTUP_H_

#include <optional>
#include <string>

#include "common/config.h"

namespace trove {

struct StartupOptions {
  // "index_server", "supernode", "peer": the log role and the program named
  // in messages.
  std::string role;
  // The flags that belong to the binary (see FlagFilter).
  FlagFilter owns_flag;
  // Config file read when --config is not given and it exists.
  std::string default_config;
};

// Loads the config file (see common/config.h), then: with --dump_config
// prints the effective settings to stdout and returns 0; on a bad config
// file or logging flag prints the error to stderr and returns 2; otherwise
// sets up logging (role, --log_format, --log_level, --log_file) and returns
// nullopt: the program goes on.
std::optional<int> Startup(int argc, char* const* argv,
                           const StartupOptions& options);

}  // namespace trove

#endif  // TROVE_COMMON_STARTUP_H_
