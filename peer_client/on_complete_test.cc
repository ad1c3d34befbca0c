#include "peer_client/on_complete.h"

#include <sys/stat.h>

#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::PathExists;
using testing::ReadTestFile;
using testing::TempDir;
using testing::WriteTestFile;

TEST(SplitCommandTest, SpacesSeparateQuotesGroup) {
  absl::StatusOr<std::vector<std::string>> w =
      SplitCommand("  /usr/bin/notify  --title \"Download done\" 'a b'c ");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*w, (std::vector<std::string>{"/usr/bin/notify", "--title",
                                          "Download done", "a bc"}));
  EXPECT_EQ(SplitCommand("echo \"open").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SplitCommand("   ").status().code(),
            absl::StatusCode::kInvalidArgument);
  // No other shell syntax: these are plain words.
  w = SplitCommand("run $(touch x) ; rm -rf y | z");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->size(), 9u);
}

// Waits up to 10 s for `path` to hold a line ending in "end".
std::string AwaitOutput(const std::string& path) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    std::string s = ReadTestFile(path);
    if (s.find("end\n") != std::string::npos) return s;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return ReadTestFile(path);
}

TEST(CompletionHookTest, RunsTheProgramWithThePathAndNoShell) {
  TempDir dir;
  const std::string out = dir.Sub("out.txt");
  const std::string script = dir.Sub("hook.sh");
  WriteTestFile(script,
                "#!/bin/sh\n"
                "for a in \"$@\"; do printf 'arg=%s\\n' \"$a\"; done > \"$OUT\"\n"
                "env | grep '^TROVE_' | sort >> \"$OUT\"\n"
                "echo end >> \"$OUT\"\n");
  ASSERT_EQ(::chmod(script.c_str(), 0755), 0);
  ::setenv("OUT", out.c_str(), 1);
  absl::StatusOr<std::unique_ptr<CompletionHook>> hook =
      CompletionHook::Create(script + " --from 'trove daemon'");
  ASSERT_TRUE(hook.ok()) << hook.status();
  // A name a shell would run.
  const std::string name = "a $(touch pwned) `touch pwned2`; b.txt";
  const std::string path = dir.Sub(name);
  ASSERT_TRUE((*hook)->Run(path, name, std::string(64, 'c'), 1234).ok());
  const std::string got = AwaitOutput(out);
  std::vector<std::string> lines = absl::StrSplit(got, '\n', absl::SkipEmpty());
  ASSERT_GE(lines.size(), 4u) << got;
  EXPECT_EQ(lines[0], "arg=--from");
  EXPECT_EQ(lines[1], "arg=trove daemon");
  EXPECT_EQ(lines[2], "arg=" + path);
  EXPECT_NE(got.find("TROVE_CID=" + std::string(64, 'c')), std::string::npos);
  EXPECT_NE(got.find("TROVE_NAME=" + name), std::string::npos);
  EXPECT_NE(got.find("TROVE_PATH=" + path), std::string::npos);
  EXPECT_NE(got.find("TROVE_SIZE=1234"), std::string::npos);
  EXPECT_NE(got.find("TROVE_DIR=" + dir.path()), std::string::npos);
  EXPECT_FALSE(PathExists(dir.Sub("pwned")));
  EXPECT_FALSE(PathExists(dir.Sub("pwned2")));
  EXPECT_FALSE(PathExists("pwned"));
}

TEST(CompletionHookTest, MissingProgramIsAnError) {
  absl::StatusOr<std::unique_ptr<CompletionHook>> hook =
      CompletionHook::Create("/nonexistent/trove-hook");
  ASSERT_TRUE(hook.ok());
  absl::Status st = (*hook)->Run("/tmp/x", "x", std::string(64, 'c'), 1);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("/nonexistent/trove-hook"), std::string::npos)
      << st;
}

}  // namespace
}  // namespace trove
