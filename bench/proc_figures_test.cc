#include "bench/proc_figures.h"

#include <sys/wait.h>
#include <unistd.h>

#include <ctime>

#include "gtest/gtest.h"

namespace trove {
namespace {

// Uses about `seconds` of CPU.
void Spin(double seconds) {
  const std::clock_t end =
      std::clock() + static_cast<std::clock_t>(seconds * CLOCKS_PER_SEC);
  volatile unsigned sink = 0;
  while (std::clock() < end) sink = sink + 1;
}

TEST(ProcFiguresTest, TreeCountsLiveAndReapedChildren) {
  const pid_t self = getpid();
  const double own_before = ReadProcFigures(self).cpu_seconds;
  const double tree_before = TreeCpuSeconds(self);
  EXPECT_GE(tree_before, own_before);

  int go[2];
  ASSERT_EQ(pipe(go), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    Spin(0.4);
    char c;
    close(go[1]);
    (void)!read(go[0], &c, 1);  // until the parent has looked
    _exit(0);
  }
  close(go[0]);
  EXPECT_EQ(ParentPid(child), self);
  // The child's CPU shows while it lives...
  double live = 0;
  for (int i = 0; i < 200 && live < 0.3; ++i) {
    usleep(10000);
    live = TreeCpuSeconds(self) - tree_before;
  }
  EXPECT_GE(live, 0.3);
  // ...and once it has exited and been reaped, in this process's cutime.
  close(go[1]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_GE(TreeCpuSeconds(self) - tree_before, 0.3);
  // This process's own CPU does not include it.
  EXPECT_LT(ReadProcFigures(self).cpu_seconds - own_before, 0.3);
}

TEST(ProcFiguresTest, UnknownProcessReadsAsZero) {
  // Beyond the kernel's pid_max (at most 2^22).
  EXPECT_EQ(TreeCpuSeconds(1 << 23), 0);
  EXPECT_EQ(ParentPid(1 << 23), 0);
  EXPECT_EQ(ReadProcFigures(1 << 23).cpu_seconds, 0);
}

}  // namespace
}  // namespace trove
