// join_work_bench: what the join proof of work (common/join_work.h) costs
// one core, per number of bits, side by side in one run: the time an honest
// leaf spends once per join, and what a thousand made-up identities cost.
//
//   bazel run -c opt //bench:join_work_bench -- [--joins=200] [--bits=12,14,16,18]
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/join_work.h"

ABSL_FLAG(int, joins, 200, "joins solved per number of bits");
ABSL_FLAG(std::string, bits, "12,14,16,18", "comma-separated bits to measure");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "join_work_bench: the join proof of work's cost on one core, per "
      "number of bits.\n"
      "  bazel run -c opt //bench:join_work_bench -- [--joins=200] "
      "[--bits=12,14,16,18]");
  absl::ParseCommandLine(argc, argv);
  const int joins = absl::GetFlag(FLAGS_joins);
  if (joins < 1) {
    std::cerr << "join_work_bench: --joins must be positive\n";
    return 2;
  }
  const std::string key(32, 'k');
  for (absl::string_view b :
       absl::StrSplit(absl::GetFlag(FLAGS_bits), ',', absl::SkipEmpty())) {
    int bits = 0;
    if (!absl::SimpleAtoi(b, &bits) || bits < 0 ||
        bits > trove::kMaxJoinWorkBits) {
      std::cerr << "join_work_bench: bad --bits entry " << b << "\n";
      return 2;
    }
    const absl::Time start = absl::Now();
    int checked = 0;
    for (int i = 0; i < joins; ++i) {
      const std::string nonce = absl::StrCat("nonce-", bits, "-", i);
      const std::string work = trove::SolveJoinWork(nonce, key, bits);
      checked += trove::JoinWorkMeets(nonce, key, work, bits);
    }
    const double ms =
        absl::ToDoubleMilliseconds(absl::Now() - start) / joins;
    std::cout << absl::StrFormat(
        "%2d bits: %8.2f ms per join (mean of %d, %d verified); 1,000 "
        "identities: %.1f s of one core\n",
        bits, ms, joins, checked, ms);
    if (checked != joins) return 1;
  }
  return 0;
}
