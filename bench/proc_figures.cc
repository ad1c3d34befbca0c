#include "bench/proc_figures.h"

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace trove {
namespace {

// The fields of /proc/PID/stat after "pid (comm) ": state is [0], ppid
// [1], utime [11], stime [12], cutime [13], cstime [14] (clock ticks).
// Empty when it cannot be read.
std::vector<std::string> StatFields(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return {};
  std::vector<std::string> f =
      absl::StrSplit(text.substr(paren + 2), ' ', absl::SkipEmpty());
  if (f.size() < 15) return {};
  return f;
}

std::vector<std::string> StatFields(pid_t pid) {
  return StatFields(absl::StrCat("/proc/", pid, "/stat"));
}

double Ticks(const std::string& field) { return std::stod(field); }

double TickSeconds() { return static_cast<double>(::sysconf(_SC_CLK_TCK)); }

}  // namespace

ProcFigures ReadProcFigures(pid_t pid) {
  ProcFigures f;
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    std::istringstream in(line);
    std::string key;
    in >> key;
    if (key == "VmRSS:") in >> f.rss_kib;
    if (key == "VmHWM:") in >> f.hwm_kib;
    if (key == "Threads:") in >> f.threads;
  }
  std::vector<std::string> stat = StatFields(pid);
  if (!stat.empty()) {
    f.cpu_seconds = (Ticks(stat[11]) + Ticks(stat[12])) / TickSeconds();
  }
  return f;
}

double TreeCpuSeconds(pid_t root) {
  std::vector<std::string> own = StatFields(root);
  if (own.empty()) return 0;
  double ticks =
      Ticks(own[11]) + Ticks(own[12]) + Ticks(own[13]) + Ticks(own[14]);
  const std::string parent = absl::StrCat(root);
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) {
      continue;
    }
    std::vector<std::string> f = StatFields(entry.path().string() + "/stat");
    if (!f.empty() && f[1] == parent) ticks += Ticks(f[11]) + Ticks(f[12]);
  }
  return ticks / TickSeconds();
}

pid_t ParentPid(pid_t pid) {
  std::vector<std::string> f = StatFields(pid);
  return f.empty() ? 0 : static_cast<pid_t>(std::stol(f[1]));
}

}  // namespace trove
