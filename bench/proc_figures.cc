#include "bench/proc_figures.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"

namespace trove {

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
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string all((std::istreambuf_iterator<char>(stat)), {});
  const size_t paren = all.rfind(')');
  if (paren == std::string::npos || paren + 2 > all.size()) return f;
  // After the command's closing parenthesis: field 3 (state) onwards;
  // utime and stime are fields 14 and 15, in clock ticks.
  std::istringstream rest(all.substr(paren + 2));
  std::string field;
  int64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) stime = std::stoll(field);
  }
  f.cpu_seconds = static_cast<double>(utime + stime) / ::sysconf(_SC_CLK_TCK);
  return f;
}

}  // namespace trove
