#include "common/config.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/text.h"

ABSL_FLAG(std::string, config, "",
          "read settings from this file: `name = value` lines, '#' "
          "comments; a flag on the command line wins");
ABSL_FLAG(bool, dump_config, false,
          "print the effective settings (after --config and the command "
          "line) as a commented config file, and exit");

namespace trove {
namespace {

constexpr absl::string_view kSpaces = " \t";

absl::string_view Trim(absl::string_view s) {
  size_t b = s.find_first_not_of(kSpaces);
  if (b == absl::string_view::npos) return "";
  size_t e = s.find_last_not_of(kSpaces);
  return s.substr(b, e - b + 1);
}

absl::Status LineError(absl::string_view source, int line,
                       absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(EscapeText(source), ":", line, ": ", message));
}

bool IsNameChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

// Settings that only make sense on the command line.
bool CommandLineOnly(absl::string_view name) {
  return name == "config" || name == "dump_config";
}

// Parses the value part of a line (after '='). On error returns a message.
absl::StatusOr<std::string> ParseValue(absl::string_view v) {
  v = Trim(v);
  if (!absl::StartsWith(v, "\"")) {
    // Unquoted: '#' at the start or after a space or tab begins a comment.
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '#' && (i == 0 || v[i - 1] == ' ' || v[i - 1] == '\t')) {
        v = v.substr(0, i);
        break;
      }
    }
    return std::string(Trim(v));
  }
  std::string out;
  size_t i = 1;
  for (; i < v.size(); ++i) {
    char c = v[i];
    if (c == '"') break;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (++i == v.size()) break;
    switch (v[i]) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown escape \\", EscapeText(v.substr(i, 1)),
            " in a quoted value (use \\\" \\\\ \\n \\t or \\r)"));
    }
  }
  if (i >= v.size()) {
    return absl::InvalidArgumentError("quoted value has no closing quote");
  }
  absl::string_view rest = Trim(v.substr(i + 1));
  if (!rest.empty() && rest[0] != '#') {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected text after the closing quote: ", EscapeText(rest)));
  }
  return out;
}

// Wraps `text` into "# " comment lines of at most ~78 columns.
void AppendComment(absl::string_view text, std::string* out) {
  for (absl::string_view para : absl::StrSplit(text, '\n')) {
    std::string line = "#";
    for (absl::string_view word : absl::StrSplit(para, ' ', absl::SkipEmpty())) {
      if (line.size() > 1 && line.size() + 1 + word.size() > 78) {
        absl::StrAppend(out, line, "\n");
        line = "#";
      }
      absl::StrAppend(&line, " ", EscapeText(word));
    }
    absl::StrAppend(out, line, "\n");
  }
}

}  // namespace

absl::StatusOr<std::vector<ConfigSetting>> ParseConfig(absl::string_view text,
                                                       absl::string_view source) {
  std::vector<ConfigSetting> settings;
  std::map<std::string, int> seen;
  int number = 0;
  for (absl::string_view raw : absl::StrSplit(text, '\n')) {
    ++number;
    absl::string_view line = Trim(absl::StripSuffix(raw, "\r"));
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return LineError(source, number,
                       absl::StrCat("expected `name = value`, got \"",
                                    EscapeText(line.substr(0, 80)), "\""));
    }
    absl::string_view name = Trim(line.substr(0, eq));
    if (name.empty()) return LineError(source, number, "no name before '='");
    if (name[0] == '-') {
      return LineError(source, number,
                       absl::StrCat("write setting names without dashes: \"",
                                    EscapeText(name), "\""));
    }
    if (!std::all_of(name.begin(), name.end(), IsNameChar)) {
      return LineError(source, number,
                       absl::StrCat("bad setting name \"", EscapeText(name),
                                    "\" (letters, digits and _ only)"));
    }
    absl::StatusOr<std::string> value = ParseValue(line.substr(eq + 1));
    if (!value.ok()) {
      return LineError(source, number,
                       absl::StrCat(name, ": ", value.status().message()));
    }
    auto [it, inserted] = seen.emplace(std::string(name), number);
    if (!inserted) {
      return LineError(source, number,
                       absl::StrCat(name, " is already set on line ", it->second));
    }
    settings.push_back({std::string(name), *std::move(value), number});
  }
  return settings;
}

std::string FormatConfigValue(absl::string_view value) {
  bool plain = !value.empty() && Trim(value) == value && value[0] != '"' &&
               value.find_first_of("#\n\r") == absl::string_view::npos;
  if (plain) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
  out += '"';
  return out;
}

std::set<std::string> FlagsOnCommandLine(int argc, char* const* argv) {
  std::set<std::string> names;
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (a == "--") break;
    if (!absl::ConsumePrefix(&a, "-")) continue;
    absl::ConsumePrefix(&a, "-");
    absl::string_view name = a.substr(0, a.find('='));
    if (name.empty()) continue;
    if (absl::FindCommandLineFlag(name) != nullptr) {
      names.emplace(name);
      continue;
    }
    absl::string_view negated = name;
    if (absl::ConsumePrefix(&negated, "no")) {
      absl::CommandLineFlag* f = absl::FindCommandLineFlag(negated);
      if (f != nullptr && f->IsOfType<bool>()) names.emplace(negated);
    }
  }
  return names;
}

absl::Status ApplyConfig(const std::vector<ConfigSetting>& settings,
                         absl::string_view source, const FlagFilter& owns_flag,
                         const std::set<std::string>& keep) {
  for (const ConfigSetting& s : settings) {
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(s.name);
    if (flag == nullptr || !owns_flag(flag->Filename())) {
      return LineError(source, s.line,
                       absl::StrCat("unknown setting \"", s.name,
                                    "\" (see --help for the settings)"));
    }
    if (CommandLineOnly(s.name)) {
      return LineError(source, s.line,
                       absl::StrCat(s.name, " can only be given on the command line"));
    }
    if (keep.count(s.name) > 0) continue;
    std::string error;
    if (!flag->ParseFrom(s.value, &error)) {
      return LineError(source, s.line,
                       absl::StrCat("bad value for ", s.name, ": ", error));
    }
  }
  return absl::OkStatus();
}

namespace {

// The flags of the binary that a file may set, by name.
std::vector<absl::CommandLineFlag*> FileFlags(const FlagFilter& owns_flag) {
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (owns_flag(flag->Filename()) && !CommandLineOnly(flag->Name())) {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](absl::CommandLineFlag* a, absl::CommandLineFlag* b) {
              return a->Name() < b->Name();
            });
  return flags;
}

}  // namespace

std::string DumpConfig(absl::string_view program, const FlagFilter& owns_flag) {
  std::string out;
  AppendComment(
      absl::StrCat("Settings of ", program,
                   " as they are now in effect. Use this file with --config=FILE; "
                   "each line is `name = value`, lines starting with # are "
                   "comments, and a flag given on the command line wins over "
                   "the file."),
      &out);
  for (absl::CommandLineFlag* flag : FileFlags(owns_flag)) {
    out += "\n";
    AppendComment(flag->Help(), &out);
    std::string current = flag->CurrentValue();
    std::string def = flag->DefaultValue();
    if (current != def) {
      absl::StrAppend(&out, "# default: ", EscapeText(FormatConfigValue(def)), "\n");
    }
    absl::StrAppend(&out, flag->Name(), " = ", FormatConfigValue(current), "\n");
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> EffectiveSettings(
    const FlagFilter& owns_flag) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (owns_flag(flag->Filename()) && !CommandLineOnly(flag->Name())) {
      out.emplace_back(std::string(flag->Name()),
                       FormatConfigValue(flag->CurrentValue()));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string ConfigTemplate(
    absl::string_view header, const FlagFilter& owns_flag,
    const std::vector<std::pair<std::string, std::string>>& settings) {
  std::string out;
  AppendComment(header, &out);
  std::vector<absl::CommandLineFlag*> flags = FileFlags(owns_flag);
  std::set<std::string> set;
  for (const auto& [name, value] : settings) {
    set.insert(name);
    out += "\n";
    for (absl::CommandLineFlag* flag : flags) {
      if (flag->Name() == name) AppendComment(flag->Help(), &out);
    }
    absl::StrAppend(&out, name, " = ", FormatConfigValue(value), "\n");
  }
  out += "\n";
  AppendComment(
      "Everything else, at its default: remove the '#' before a setting to "
      "change it.",
      &out);
  for (absl::CommandLineFlag* flag : flags) {
    if (set.count(std::string(flag->Name())) > 0) continue;
    out += "\n";
    AppendComment(flag->Help(), &out);
    absl::StrAppend(&out, "# ", flag->Name(), " = ",
                    EscapeText(FormatConfigValue(flag->DefaultValue())), "\n");
  }
  return out;
}

absl::Status LoadConfigFromFlags(int argc, char* const* argv,
                                 const ConfigOptions& options) {
  std::string path = absl::GetFlag(FLAGS_config);
  if (path.empty()) {
    struct stat st;
    if (options.default_path.empty() ||
        ::stat(options.default_path.c_str(), &st) != 0) {
      return absl::OkStatus();
    }
    path = options.default_path;
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot read config file ", EscapeText(path),
                                     ": ", text.status().message()));
  }
  absl::StatusOr<std::vector<ConfigSetting>> settings = ParseConfig(*text, path);
  if (!settings.ok()) return settings.status();
  return ApplyConfig(*settings, path, options.owns_flag,
                     FlagsOnCommandLine(argc, argv));
}

bool DumpConfigRequested() { return absl::GetFlag(FLAGS_dump_config); }

}  // namespace trove
