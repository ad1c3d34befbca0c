// Config files: every command-line flag of a binary can also be set in a
// file, one setting per line:
//
//   # Comments start with '#', at the start of a line or after a value
//   # (after a space).
//   listen = 0.0.0.0:7400
//   postgres = "host=db user=trove dbname=trove"   # quotes keep spaces and '#'
//   max_uploads = 64
//   reachable = true
//   share = /srv/music,/srv/films
//
// Names are the flags' names without dashes. A value is the rest of the
// line with surrounding spaces removed, or a double-quoted string in which
// \" \\ \n and \t are escapes; "" is the empty value. Blank lines are
// ignored. Each name may appear once. A flag given on the command line
// wins over the file. Unknown names and values the flag does not accept are
// errors that name FILE:LINE.
//
// Thread-compatible: call from main before threads start.
#ifndef TROVE_COMMON_CONFIG_H_
#define TROVE_COMMON_CONFIG_H_

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {

struct ConfigSetting {
  std::string name;
  std::string value;
  int line = 0;  // 1-based line in the file
};

// Parses config text. `source` (a path) prefixes error messages:
// INVALID_ARGUMENT "SOURCE:LINE: ..." for a line without '=', a bad name, a
// bad quoted value, or a name set twice.
absl::StatusOr<std::vector<ConfigSetting>> ParseConfig(absl::string_view text,
                                                       absl::string_view source);

// `value` as it should be written after "name = ": as it is when it reads
// back the same, else quoted and escaped.
std::string FormatConfigValue(absl::string_view value);

// Which flags belong to a binary, by the source file that defines them
// (the same test as absl's --help filter).
using FlagFilter = std::function<bool(absl::string_view filename)>;

// Names of the flags given in argv (before a "--"), "--noNAME" counting as
// NAME for a boolean flag.
std::set<std::string> FlagsOnCommandLine(int argc, char* const* argv);

// Sets the flags named in `settings`, skipping those in `keep` (given on the
// command line, which wins). INVALID_ARGUMENT "SOURCE:LINE: ..." for a name
// that is not a flag of this binary (by `owns_flag`), that cannot be set
// from a file (config, dump_config), or a value the flag refuses. Settings
// before the bad one stay applied.
absl::Status ApplyConfig(const std::vector<ConfigSetting>& settings,
                         absl::string_view source, const FlagFilter& owns_flag,
                         const std::set<std::string>& keep);

// The current value of every flag of this binary as a config file: each
// setting preceded by its help text (and default, when it differs) as
// comments, sorted by name, after a header naming `program`. Parsing the
// result gives back the same values.
std::string DumpConfig(absl::string_view program, const FlagFilter& owns_flag);

// The current value of every flag of this binary that a config file can
// set, as (name, value as a config file writes it), sorted by name.
std::vector<std::pair<std::string, std::string>> EffectiveSettings(
    const FlagFilter& owns_flag);

// A config file to start from: `header` as comments, then the settings in
// `settings` (name -> value, each after its flag's help), then every other
// flag of the binary commented out at its default ("# name = value"), so
// that removing the '#' sets it. Names in `settings` that are not flags of
// the binary are written all the same (parsing will name them).
std::string ConfigTemplate(absl::string_view header, const FlagFilter& owns_flag,
                           const std::vector<std::pair<std::string, std::string>>&
                               settings);

struct ConfigOptions {
  std::string program;  // "index_server", for messages and the dump header
  FlagFilter owns_flag;
  // Read when --config is not given and this file exists (may be empty).
  std::string default_path;
};

// After absl::ParseCommandLine: reads the file of --config (or
// options.default_path when it exists) and applies it under the command
// line's flags. NOT_FOUND when --config names a missing file; the other
// errors as ParseConfig and ApplyConfig, naming the file and line.
absl::Status LoadConfigFromFlags(int argc, char* const* argv,
                                 const ConfigOptions& options);

// True when --dump_config was given.
bool DumpConfigRequested();

}  // namespace trove

#endif  // TROVE_COMMON_CONFIG_H_
