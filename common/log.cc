#include "common/log.h"

#include <grpc/support/log.h>

#include <atomic>
#include <cstring>
#include <exception>
#include <memory>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/text.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"

ABSL_FLAG(std::string, log_format, "text",
          "log line format: text (one readable line per event) or json (one "
          "JSON object per line)");
ABSL_FLAG(std::string, log_level, "info",
          "least important level logged: debug, info, warning or error");
ABSL_FLAG(std::string, log_file, "",
          "append log lines to this file instead of stderr");

namespace trove {
namespace {

// What every line needs besides its own text; replaced whole on change.
struct LogConfig {
  LogFormat format = LogFormat::kText;
  std::string role = "trove";
  // Process-wide fields, in the order they were first set.
  std::vector<std::pair<std::string, std::string>> fields;
  std::shared_ptr<spdlog::logger> logger;
};

std::atomic<int> min_severity{static_cast<int>(LogSeverity::kInfo)};

absl::Mutex config_mu;
std::shared_ptr<const LogConfig>* config ABSL_GUARDED_BY(config_mu) = nullptr;

constexpr char kTextPattern[] = "%Y-%m-%dT%H:%M:%S.%eZ %L %v";
constexpr char kJsonPattern[] =
    "{\"time\":\"%Y-%m-%dT%H:%M:%S.%eZ\",\"level\":\"%l\",%v}";

std::shared_ptr<spdlog::logger> MakeLogger(spdlog::sink_ptr sink,
                                           LogFormat format) {
  auto logger = std::make_shared<spdlog::logger>("trove", std::move(sink));
  logger->set_pattern(format == LogFormat::kJson ? kJsonPattern : kTextPattern,
                      spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::trace);  // filtered by LogEnabled
  logger->flush_on(spdlog::level::trace);   // no line lost in a crash
  return logger;
}

// The configuration, made on first use. REQUIRES: config_mu held.
std::shared_ptr<const LogConfig>& ConfigLocked()
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(config_mu) {
  if (config == nullptr) {
    auto initial = std::make_shared<LogConfig>();
    initial->logger = MakeLogger(
        std::make_shared<spdlog::sinks::stderr_sink_mt>(), LogFormat::kText);
    config = new std::shared_ptr<const LogConfig>(std::move(initial));
  }
  return *config;
}

std::shared_ptr<const LogConfig> CurrentConfig() ABSL_LOCKS_EXCLUDED(config_mu) {
  absl::MutexLock lock(&config_mu);
  return ConfigLocked();
}

// Applies `change` to a copy of the current configuration and installs it.
template <typename F>
void UpdateConfig(F change) ABSL_LOCKS_EXCLUDED(config_mu) {
  absl::MutexLock lock(&config_mu);
  std::shared_ptr<const LogConfig>& current = ConfigLocked();
  auto next = std::make_shared<LogConfig>(*current);
  change(next.get());
  current = std::move(next);
}

spdlog::level::level_enum ToSpdlog(LogSeverity s) {
  switch (s) {
    case LogSeverity::kDebug:
      return spdlog::level::debug;
    case LogSeverity::kInfo:
      return spdlog::level::info;
    case LogSeverity::kWarning:
      return spdlog::level::warn;
    case LogSeverity::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// A text field value: quoted when it would not read as one word.
void AppendTextValue(absl::string_view value, std::string* out) {
  std::string escaped = EscapeText(value);
  if (!escaped.empty() && escaped.find_first_of(" \"=") == std::string::npos) {
    *out += escaped;
    return;
  }
  *out += '"';
  for (char c : escaped) {
    if (c == '"') *out += '\\';
    *out += c;
  }
  *out += '"';
}

void AppendField(LogFormat format, absl::string_view key,
                 absl::string_view value, std::string* out) {
  if (format == LogFormat::kJson) {
    *out += ",\"";
    AppendJsonEscaped(key, out);
    *out += "\":\"";
    AppendJsonEscaped(value, out);
    *out += '"';
  } else {
    *out += ' ';
    *out += EscapeText(key);
    *out += '=';
    AppendTextValue(value, out);
  }
}

void Write(LogSeverity severity, absl::string_view file, int line,
           absl::string_view message,
           const std::vector<std::pair<std::string, std::string>>& fields) {
  std::shared_ptr<const LogConfig> c = CurrentConfig();
  size_t slash = file.rfind('/');
  if (slash != absl::string_view::npos) file.remove_prefix(slash + 1);
  std::string body;
  body.reserve(message.size() + 96);
  if (c->format == LogFormat::kJson) {
    body += "\"role\":\"";
    AppendJsonEscaped(c->role, &body);
    body += "\",\"src\":\"";
    AppendJsonEscaped(file, &body);
    absl::StrAppend(&body, ":", line, "\",\"msg\":\"");
    AppendJsonEscaped(message, &body);
    body += '"';
  } else {
    absl::StrAppend(&body, EscapeText(c->role), " ", EscapeText(file), ":",
                    line, "] ", EscapeText(message));
  }
  for (const auto& [k, v] : fields) AppendField(c->format, k, v, &body);
  for (const auto& [k, v] : c->fields) {
    bool overridden = false;
    for (const auto& f : fields) overridden = overridden || f.first == k;
    if (!overridden) AppendField(c->format, k, v, &body);
  }
  c->logger->log(ToSpdlog(severity), spdlog::string_view_t(body.data(), body.size()));
}

// gRPC's own log lines (gpr_log) go through the same logger.
void GprLog(gpr_log_func_args* args) {
  // gRPC calls much of what is routine for a server an error ("No match
  // found for server name", a peer that went away): a warning here. Its
  // info lines are debugging detail.
  LogSeverity severity = args->severity == GPR_LOG_SEVERITY_ERROR
                             ? LogSeverity::kWarning
                             : LogSeverity::kDebug;
  if (!LogEnabled(severity)) return;
  Write(severity, args->file != nullptr ? args->file : "grpc", args->line,
        args->message != nullptr ? args->message : "", {{"from", "grpc"}});
}

}  // namespace

LogLine::LogLine(LogSeverity severity, const char* file, int line)
    : severity_(severity), file_(file), line_(line) {}

LogLine::~LogLine() { Write(severity_, file_, line_, stream_.str(), fields_); }

void LogLine::AddField(absl::string_view key, absl::string_view value) {
  fields_.emplace_back(std::string(key), std::string(value));
}

bool LogEnabled(LogSeverity severity) {
  return static_cast<int>(severity) >=
         min_severity.load(std::memory_order_relaxed);
}

absl::Status ParseLogSeverity(absl::string_view text, LogSeverity* out) {
  std::string t = absl::AsciiStrToLower(text);
  if (t == "debug") {
    *out = LogSeverity::kDebug;
  } else if (t == "info") {
    *out = LogSeverity::kInfo;
  } else if (t == "warning" || t == "warn") {
    *out = LogSeverity::kWarning;
  } else if (t == "error") {
    *out = LogSeverity::kError;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        "log level must be debug, info, warning or error, not \"",
        EscapeText(text), "\""));
  }
  return absl::OkStatus();
}

absl::Status InitLogging(const LogOptions& options) {
  spdlog::sink_ptr sink;
  if (options.file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // spdlog reports a file it cannot open by throwing; this is the edge
    // where that becomes a Status.
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file,
                                                                 false);
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(
          "cannot open log file ", EscapeText(options.file), ": ", e.what()));
    }
  }
  std::shared_ptr<spdlog::logger> logger = MakeLogger(sink, options.format);
  UpdateConfig([&](LogConfig* c) {
    c->format = options.format;
    c->logger = logger;
  });
  min_severity.store(static_cast<int>(options.min_severity));
  gpr_set_log_function(GprLog);
  gpr_set_log_verbosity(options.min_severity == LogSeverity::kDebug
                            ? GPR_LOG_SEVERITY_INFO
                            : GPR_LOG_SEVERITY_ERROR);
  return absl::OkStatus();
}

absl::Status InitLoggingFromFlags() {
  LogOptions options;
  std::string format = absl::AsciiStrToLower(absl::GetFlag(FLAGS_log_format));
  if (format == "text") {
    options.format = LogFormat::kText;
  } else if (format == "json") {
    options.format = LogFormat::kJson;
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format must be text or json, not \"",
                     EscapeText(absl::GetFlag(FLAGS_log_format)), "\""));
  }
  absl::Status s =
      ParseLogSeverity(absl::GetFlag(FLAGS_log_level), &options.min_severity);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--log_level: ", s.message()));
  }
  options.file = absl::GetFlag(FLAGS_log_file);
  return InitLogging(options);
}

void SetLogTag(const std::string& tag) {
  UpdateConfig([&](LogConfig* c) { c->role = tag; });
}

void SetLogField(const std::string& key, const std::string& value) {
  UpdateConfig([&](LogConfig* c) {
    for (auto it = c->fields.begin(); it != c->fields.end(); ++it) {
      if (it->first == key) {
        if (value.empty()) {
          c->fields.erase(it);
        } else {
          it->second = value;
        }
        return;
      }
    }
    if (!value.empty()) c->fields.emplace_back(key, value);
  });
}

}  // namespace trove
