#include "supernode/source_reports.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::HasSubstr;
using Standing = SourceReports::Standing;

const absl::Time kNow = absl::FromUnixSeconds(1700000000);
const absl::Duration kOld = absl::Hours(5);

SourceReports::Options TestOptions() {
  SourceReports::Options o;
  o.window = absl::Minutes(10);
  o.max_reports_per_window = 5;
  o.full_weight_after = absl::Hours(1);
  o.min_weight = 0.5;
  o.demote_score = 3;
  o.exclude_score = 5;
  return o;
}

std::string Reporter(int n) { return absl::StrCat("reporter-", n); }

TEST(SourceReportsTest, WeightGrowsWithAgeUpToOne) {
  SourceReports reports(TestOptions());
  EXPECT_DOUBLE_EQ(reports.WeightOf(absl::ZeroDuration()), 0);
  EXPECT_DOUBLE_EQ(reports.WeightOf(absl::Minutes(30)), 0.5);
  EXPECT_DOUBLE_EQ(reports.WeightOf(absl::Hours(3)), 1);
  EXPECT_DOUBLE_EQ(reports.WeightOf(-absl::Hours(1)), 0);
  SourceReports::Options flat = TestOptions();
  flat.full_weight_after = absl::ZeroDuration();
  EXPECT_DOUBLE_EQ(SourceReports(flat).WeightOf(absl::ZeroDuration()), 1);
}

TEST(SourceReportsTest, OneReporterCountsOncePerPairPerWindow) {
  SourceReports reports(TestOptions());
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<SourceReports::Outcome> o =
        reports.Report(Reporter(1), kOld, "src", "cid", kNow);
    ASSERT_TRUE(o.ok()) << o.status();
    EXPECT_EQ(o->counted, i == 0);
    EXPECT_DOUBLE_EQ(o->score, 1);
  }
  EXPECT_EQ(reports.ReportsAgainst("src", kNow), 1);
  // Another cid of the same source is another pair.
  ASSERT_TRUE(reports.Report(Reporter(1), kOld, "src", "cid2", kNow).ok());
  EXPECT_EQ(reports.ReportsAgainst("src", kNow), 2);
  EXPECT_DOUBLE_EQ(reports.Score("src", "cid", kNow), 1);
  EXPECT_DOUBLE_EQ(reports.Score("src", "cid2", kNow), 1);
}

TEST(SourceReportsTest, DistinctEstablishedReportersRankLastThenLeaveOut) {
  SourceReports reports(TestOptions());
  Standing last_standing = Standing::kGood;
  for (int r = 1; r <= 5; ++r) {
    absl::StatusOr<SourceReports::Outcome> o =
        reports.Report(Reporter(r), kOld, "src", "cid", kNow);
    ASSERT_TRUE(o.ok());
    EXPECT_TRUE(o->counted);
    EXPECT_DOUBLE_EQ(o->score, r);
    last_standing = o->standing;
    if (r < 3) {
      EXPECT_EQ(o->standing, Standing::kGood) << r;
    } else if (r < 5) {
      EXPECT_EQ(o->standing, Standing::kLast) << r;
    }
  }
  EXPECT_EQ(last_standing, Standing::kLeftOut);
  EXPECT_EQ(reports.StandingOf("src", "cid", kNow), Standing::kLeftOut);
  // Only for that cid.
  EXPECT_EQ(reports.StandingOf("src", "other", kNow), Standing::kGood);
  EXPECT_EQ(reports.StandingOf("other", "cid", kNow), Standing::kGood);
  SourceReports::Totals t = reports.totals(kNow);
  EXPECT_EQ(t.reports, 5);
  EXPECT_EQ(t.left_out, 1);
  EXPECT_EQ(t.ranked_last, 0);
}

TEST(SourceReportsTest, PartWeightsAddUp) {
  SourceReports reports(TestOptions());
  // Six reporters known for 30 minutes weigh 0.5 each: 3, ranked last.
  for (int r = 1; r <= 6; ++r) {
    ASSERT_TRUE(
        reports.Report(Reporter(r), absl::Minutes(30), "src", "cid", kNow).ok());
  }
  EXPECT_DOUBLE_EQ(reports.Score("src", "cid", kNow), 3);
  EXPECT_EQ(reports.StandingOf("src", "cid", kNow), Standing::kLast);
  EXPECT_DOUBLE_EQ(reports.WeightAgainst("src", kNow), 3);
}

TEST(SourceReportsTest, StandingsOfManySourcesMatchOneByOne) {
  SourceReports reports(TestOptions());
  EXPECT_EQ(reports.StandingsOf({"a", "b"}, "cid", kNow),
            std::vector<Standing>({Standing::kGood, Standing::kGood}));
  // "last" reported by 6 half-weight reporters, "out" by 5 full ones.
  for (int r = 1; r <= 6; ++r) {
    ASSERT_TRUE(
        reports.Report(Reporter(r), absl::Minutes(30), "last", "cid", kNow).ok());
  }
  for (int r = 11; r <= 15; ++r) {
    ASSERT_TRUE(
        reports.Report(Reporter(r), absl::Hours(2), "out", "cid", kNow).ok());
  }
  const std::vector<absl::string_view> sources = {"good", "last", "out", "last"};
  std::vector<Standing> all = reports.StandingsOf(sources, "cid", kNow);
  ASSERT_EQ(all.size(), sources.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    EXPECT_EQ(all[i], reports.StandingOf(std::string(sources[i]), "cid", kNow))
        << sources[i];
  }
  EXPECT_EQ(all[1], Standing::kLast);
  EXPECT_EQ(all[2], Standing::kLeftOut);
  // Reports count for their cid only.
  EXPECT_EQ(reports.StandingsOf(sources, "other", kNow),
            std::vector<Standing>(4, Standing::kGood));
}

TEST(SourceReportsTest, AFloodOfFreshReportersNeverMovesAnInnocentSource) {
  SourceReports::Options o = TestOptions();
  o.max_entries = 100000;
  SourceReports reports(o);
  // Ten thousand throw-away identities, each joined a minute to 29 minutes
  // ago (weights up to 0.48): all counted, none adds to the score.
  for (int r = 0; r < 10000; ++r) {
    absl::StatusOr<SourceReports::Outcome> out = reports.Report(
        Reporter(r), absl::Minutes(1 + r % 29), "innocent", "cid", kNow);
    ASSERT_TRUE(out.ok());
    EXPECT_TRUE(out->counted);
    ASSERT_EQ(out->standing, Standing::kGood) << r;
  }
  EXPECT_DOUBLE_EQ(reports.Score("innocent", "cid", kNow), 0);
  EXPECT_EQ(reports.ReportsAgainst("innocent", kNow), 10000);
  EXPECT_GT(reports.WeightAgainst("innocent", kNow), 100);
  // Two established reporters on top still leave it good.
  ASSERT_TRUE(reports.Report(Reporter(-1), kOld, "innocent", "cid", kNow).ok());
  ASSERT_TRUE(reports.Report(Reporter(-2), kOld, "innocent", "cid", kNow).ok());
  EXPECT_EQ(reports.StandingOf("innocent", "cid", kNow), Standing::kGood);
}

TEST(SourceReportsTest, ScoresDecayWithTheWindow) {
  SourceReports reports(TestOptions());
  for (int r = 1; r <= 5; ++r) {
    ASSERT_TRUE(reports.Report(Reporter(r), kOld, "src", "cid",
                               kNow + absl::Minutes(r))
                    .ok());
  }
  const absl::Time t5 = kNow + absl::Minutes(5);
  EXPECT_EQ(reports.StandingOf("src", "cid", t5), Standing::kLeftOut);
  // Reports 1 and 2 age out: 3 left, ranked last.
  const absl::Time t12 = kNow + absl::Minutes(12);
  EXPECT_DOUBLE_EQ(reports.Score("src", "cid", t12), 3);
  EXPECT_EQ(reports.StandingOf("src", "cid", t12), Standing::kLast);
  // All gone a window after the last.
  const absl::Time t15 = kNow + absl::Minutes(15);
  EXPECT_DOUBLE_EQ(reports.Score("src", "cid", t15), 0);
  EXPECT_EQ(reports.StandingOf("src", "cid", t15), Standing::kGood);
  EXPECT_EQ(reports.ReportsAgainst("src", t15), 0);
  // A reporter whose report aged out counts again.
  absl::StatusOr<SourceReports::Outcome> again =
      reports.Report(Reporter(1), kOld, "src", "cid", t15);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->counted);
  EXPECT_DOUBLE_EQ(again->score, 1);
}

TEST(SourceReportsTest, ReportsPerReporterAreLimitedPerWindow) {
  SourceReports reports(TestOptions());
  for (int s = 0; s < 5; ++s) {
    ASSERT_TRUE(reports
                    .Report(Reporter(1), kOld, absl::StrCat("src", s), "cid",
                            kNow)
                    .ok());
  }
  absl::StatusOr<SourceReports::Outcome> over =
      reports.Report(Reporter(1), kOld, "src9", "cid", kNow + absl::Minutes(4));
  EXPECT_EQ(over.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.status().message(), HasSubstr("at most 5 sources per 10m"));
  EXPECT_THAT(over.status().message(), HasSubstr("retry in 360 s"));
  // Repeating a counted report is not a new one.
  EXPECT_TRUE(reports.Report(Reporter(1), kOld, "src0", "cid", kNow).ok());
  // Another reporter is not held back.
  EXPECT_TRUE(reports.Report(Reporter(2), kOld, "src9", "cid", kNow).ok());
  // The next window.
  EXPECT_TRUE(reports
                  .Report(Reporter(1), kOld, "src9", "cid",
                          kNow + absl::Minutes(10))
                  .ok());
}

TEST(SourceReportsTest, MemoryIsBounded) {
  SourceReports::Options o = TestOptions();
  o.max_entries = 3;
  o.max_reports_per_window = 100;
  SourceReports reports(o);
  for (int r = 0; r < 3; ++r) {
    ASSERT_TRUE(reports.Report(Reporter(r), kOld, "src", "cid", kNow)->counted);
  }
  absl::StatusOr<SourceReports::Outcome> full =
      reports.Report(Reporter(9), kOld, "src", "cid", kNow);
  ASSERT_TRUE(full.ok());
  EXPECT_FALSE(full->counted);
  EXPECT_EQ(reports.ReportsAgainst("src", kNow), 3);
  // Once the old ones expire there is room again.
  const absl::Time later = kNow + absl::Minutes(11);
  absl::StatusOr<SourceReports::Outcome> room =
      reports.Report(Reporter(9), kOld, "src", "cid", later);
  ASSERT_TRUE(room.ok());
  EXPECT_TRUE(room->counted);
  EXPECT_EQ(reports.ReportsAgainst("src", later), 1);
}

TEST(SourceReportsTest, StandingNames) {
  EXPECT_STREQ(StandingName(Standing::kGood), "good");
  EXPECT_STREQ(StandingName(Standing::kLast), "last");
  EXPECT_STREQ(StandingName(Standing::kLeftOut), "left out");
}

}  // namespace
}  // namespace supernode
}  // namespace trove
