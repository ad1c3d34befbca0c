// What /proc says of a running process, for benchmarks that measure a
// server's cost from outside.
#ifndef TROVE_BENCH_PROC_FIGURES_H_
#define TROVE_BENCH_PROC_FIGURES_H_

#include <sys/types.h>

#include <cstdint>

namespace trove {

struct ProcFigures {
  int64_t rss_kib = 0;  // VmRSS
  int64_t hwm_kib = 0;  // VmHWM: the peak of VmRSS
  int threads = 0;
  double cpu_seconds = 0;  // user + system time so far
};

// The figures of `pid` now (zeros for what cannot be read).
ProcFigures ReadProcFigures(pid_t pid);

}  // namespace trove

#endif  // TROVE_BENCH_PROC_FIGURES_H_
