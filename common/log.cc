#include "common/log.h"

#include <unistd.h>

#include <cstring>
#include <ctime>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace trove {
namespace {

absl::Mutex tag_mu;
std::string* tag ABSL_GUARDED_BY(tag_mu) = new std::string("trove");

}  // namespace

void SetLogTag(const std::string& t) {
  absl::MutexLock lock(&tag_mu);
  *tag = t;
}

LogLine::LogLine(LogSeverity severity, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  std::string t;
  {
    absl::MutexLock lock(&tag_mu);
    t = *tag;
  }
  stream_ << absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                              absl::UTCTimeZone())
          << " " << t << " "
          << (severity == LogSeverity::kInfo
                  ? "I"
                  : severity == LogSeverity::kWarning ? "W" : "E")
          << " " << (base ? base + 1 : file) << ":" << line << "] ";
}

LogLine::~LogLine() {
  stream_ << "\n";
  std::string s = stream_.str();
  ssize_t unused = ::write(2, s.data(), s.size());
  (void)unused;
}

}  // namespace trove
