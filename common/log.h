// Structured logging, one line per event:
//   TROVE_LOG(INFO) << "joined " << address;
//   TROVE_LOG(WARNING).With("peer", peer_id) << "bad chunk " << index;
//
// Each line carries the time (UTC), the level, the role of the process
// ("index_server", "supernode", "peer"), the source position, the message
// and its fields: the ones given with With() and the process-wide ones set
// with SetLogField() (e.g. the supernode's own id). Two formats:
//
//   text: 2026-11-27T15:20:01.123Z I supernode main.cc:42] joined 127.0.0.1:7401 peer=ab12...
//   json: {"time":"2026-11-27T15:20:01.123Z","level":"info","role":"supernode",
//          "src":"main.cc:42","msg":"joined 127.0.0.1:7401","peer":"ab12..."}
//
// Everything printed is escaped (see common/text.h): a newline, an escape
// sequence, a C1 control or a bidi override in a hostile name or address
// shows as "\n", "\x1b", "\u009b", "\u202e" and can never forge or hide a
// line. Levels: DEBUG < INFO < WARNING < ERROR; lines below the level set
// with --log_level are not even formatted.
//
// Backed by spdlog. Thread-safe: lines from many threads never interleave.
// Until InitLogging() is called, text lines at INFO and above go to stderr.
#ifndef TROVE_COMMON_LOG_H_
#define TROVE_COMMON_LOG_H_

#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace trove {

enum class LogSeverity { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

enum class LogFormat { kText, kJson };

// Builds one line and writes it when destroyed (at the end of the
// statement). Use through TROVE_LOG.
class LogLine {
 public:
  LogLine(LogSeverity severity, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  // Attaches a field to this line. `key` should be a short lowercase word
  // ("peer", "supernode", "cid", "address"); `value` is escaped like the
  // message.
  template <typename T>
  LogLine& With(absl::string_view key, const T& value) {
    if constexpr (std::is_convertible_v<const T&, absl::string_view>) {
      AddField(key, value);
    } else {
      std::ostringstream s;
      s << value;
      AddField(key, s.str());
    }
    return *this;
  }

  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  void AddField(absl::string_view key, absl::string_view value);

  LogSeverity severity_;
  const char* file_;
  int line_;
  std::ostringstream stream_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

// True when lines of `severity` are written.
bool LogEnabled(LogSeverity severity);

// Lets TROVE_LOG be an expression that skips formatting when disabled.
struct LogVoidify {
  void operator&(const LogLine&) {}
};

struct LogOptions {
  LogFormat format = LogFormat::kText;
  LogSeverity min_severity = LogSeverity::kInfo;
  // Append to this file (missing folders are made); empty: stderr.
  std::string file;
};

// Sets where and how lines are written, and routes gRPC's own log lines
// through the same logger. Safe to call again (e.g. in tests).
// UNAVAILABLE (naming the file) when the file cannot be opened; the
// previous settings stay then.
absl::Status InitLogging(const LogOptions& options);

// InitLogging from --log_format, --log_level and --log_file.
// INVALID_ARGUMENT naming the flag when a value is not understood.
absl::Status InitLoggingFromFlags();

// Parses "debug", "info", "warning" (or "warn"), "error"; case-insensitive.
absl::Status ParseLogSeverity(absl::string_view text, LogSeverity* out);

// Sets the role put on every line ("index_server", "peer"...).
void SetLogTag(const std::string& tag);

// Adds (or replaces; an empty value removes) a field put on every line of
// this process, e.g. SetLogField("supernode", id) once the id is known.
void SetLogField(const std::string& key, const std::string& value);

}  // namespace trove

#define TROVE_LOG_DEBUG ::trove::LogSeverity::kDebug
#define TROVE_LOG_INFO ::trove::LogSeverity::kInfo
#define TROVE_LOG_WARNING ::trove::LogSeverity::kWarning
#define TROVE_LOG_ERROR ::trove::LogSeverity::kError
#define TROVE_LOG(severity)                               \
  !::trove::LogEnabled(TROVE_LOG_##severity)              \
      ? (void)0                                           \
      : ::trove::LogVoidify() &                           \
            ::trove::LogLine(TROVE_LOG_##severity, __FILE__, __LINE__)

#endif  // TROVE_COMMON_LOG_H_
