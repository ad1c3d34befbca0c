// Minimal logging to stderr, one line per call, with a UTC timestamp:
//   TROVE_LOG(INFO) << "joined " << address;
// Thread-safe (each line is written with one write call).
#ifndef TROVE_COMMON_LOG_H_
#define TROVE_COMMON_LOG_H_

#include <sstream>
#include <string>

namespace trove {

enum class LogSeverity { kInfo, kWarning, kError };

// Builds one line and writes it to stderr when destroyed.
class LogLine {
 public:
  LogLine(LogSeverity severity, const char* file, int line);
  ~LogLine();
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;

  template <typename T>
  LogLine& operator<<(const T& value) {
    stream_ << value;
    return *this;
  }

 private:
  std::ostringstream stream_;
};

// Sets the word put before every line ("index_server", "peer"...).
void SetLogTag(const std::string& tag);

}  // namespace trove

#define TROVE_LOG_INFO ::trove::LogSeverity::kInfo
#define TROVE_LOG_WARNING ::trove::LogSeverity::kWarning
#define TROVE_LOG_ERROR ::trove::LogSeverity::kError
#define TROVE_LOG(severity) \
  ::trove::LogLine(TROVE_LOG_##severity, __FILE__, __LINE__)

#endif  // TROVE_COMMON_LOG_H_
