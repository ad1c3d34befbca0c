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

// The CPU seconds of `root` and of every process it started, including
// those that have exited (a process's cutime and cstime hold what its
// children used once it reaped them, as PostgreSQL's postmaster does its
// backends'); 0 when `root` cannot be read. Counting only the processes
// alive at the start of a measurement misses those started during it.
double TreeCpuSeconds(pid_t root);

// The parent of `pid`, or 0.
pid_t ParentPid(pid_t pid);

}  // namespace trove

#endif  // TROVE_BENCH_PROC_FIGURES_H_
