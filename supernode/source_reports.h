// Bad-source reports at one supernode, and what follows from them.
//
// A downloader that gets a chunk failing its hash from a source reports that
// source for the cid (SupernodeService.ReportBadSource). Reports are
// weighed, never simply counted:
// - a reporter counts once per (source, cid) per window, for at most
//   max_reports_per_window pairs per window (more is RESOURCE_EXHAUSTED);
// - a report weighs the reporter's age (how long it has been known, at
//   this supernode or at the index) over full_weight_after, at most 1; a
//   report weighing less than min_weight is kept for the log and the
//   counts but adds nothing to the score, so a crowd of throw-away
//   identities cannot add up to one established peer;
// - a report counts for one window after it was made, then is forgotten:
//   scores decay with the window.
// A (source, cid) whose score reaches demote_score is ranked last in this
// supernode's Locate answers for that cid; one that reaches exclude_score
// is left out of them, until enough reports age out of the window.
//
// Memory is bounded by max_entries reports; beyond it, expired reports are
// dropped, and when none is, a new report is not counted.
//
// Thread-safe.
#ifndef TROVE_SUPERNODE_SOURCE_REPORTS_H_
#define TROVE_SUPERNODE_SOURCE_REPORTS_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace trove {
namespace supernode {

class SourceReports {
 public:
  struct Options {
    // How long a report counts.
    absl::Duration window = absl::Minutes(10);
    // Most (source, cid) pairs one reporter may report per window.
    int max_reports_per_window = 20;
    // A reporter known this long reports with weight 1; younger ones with
    // their share of it (0: every report weighs 1).
    absl::Duration full_weight_after = absl::Hours(1);
    // Reports weighing less than this add nothing to a score.
    double min_weight = 0.5;
    // Scores at which a source is ranked last, and left out, for a cid.
    // REQUIRES: 0 < demote_score <= exclude_score.
    double demote_score = 3.0;
    double exclude_score = 6.0;
    // Most reports remembered.
    size_t max_entries = 100000;
  };

  // What the reports make of a source for one cid.
  enum class Standing {
    kGood,
    // Ranked after every good source.
    kLast,
    // Not offered at all.
    kLeftOut,
  };

  // What one report did.
  struct Outcome {
    // False when this reporter's report on the pair counts already in this
    // window, or the memory bound was reached.
    bool counted = false;
    // The report's weight (counted or not).
    double weight = 0;
    // The pair's score and standing after it.
    double score = 0;
    Standing standing = Standing::kGood;
  };

  // Totals over every pair, for metrics.
  struct Totals {
    // Reports counting in the window.
    int64_t reports = 0;
    // (source, cid) pairs ranked last, and left out.
    int64_t ranked_last = 0;
    int64_t left_out = 0;
  };

  explicit SourceReports(Options options);
  SourceReports(const SourceReports&) = delete;
  SourceReports& operator=(const SourceReports&) = delete;

  const Options& options() const { return options_; }

  // The weight of a report by a reporter known for `age`.
  double WeightOf(absl::Duration age) const;

  // Records `reporter`'s report of `source` for `cid` at `now`; the
  // reporter has been known for `reporter_age`. RESOURCE_EXHAUSTED (saying
  // when to retry) when the reporter used up its reports for the window.
  // REQUIRES: reporter != source (the caller refuses that).
  absl::StatusOr<Outcome> Report(const std::string& reporter,
                                 absl::Duration reporter_age,
                                 const std::string& source,
                                 const std::string& cid, absl::Time now);

  // The score and standing of `source` for `cid` at `now`.
  double Score(const std::string& source, const std::string& cid,
               absl::Time now) const;
  Standing StandingOf(const std::string& source, const std::string& cid,
                      absl::Time now) const;
  // The standing of each of `sources` for `cid` at `now`, in their order,
  // under one lock.
  std::vector<Standing> StandingsOf(const std::vector<absl::string_view>& sources,
                                    absl::string_view cid,
                                    absl::Time now) const;

  // Reports against `source` counting at `now`, over all cids, and their
  // summed weight (those under min_weight included).
  int64_t ReportsAgainst(const std::string& source, absl::Time now) const;
  double WeightAgainst(const std::string& source, absl::Time now) const;

  Totals totals(absl::Time now) const;

 private:
  struct Vote {
    absl::Time at;
    double weight = 0;
  };
  using Pair = std::pair<std::string, std::string>;  // source, cid
  struct ReporterWindow {
    absl::Time start;
    int reports = 0;
  };

  double ScoreLocked(const Pair& pair, absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Standing StandingOfScore(double score) const;
  // Drops the reports and reporter windows that ended by `now`.
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  // (source, cid) -> reporter -> its latest counted report.
  absl::flat_hash_map<Pair, absl::flat_hash_map<std::string, Vote>> votes_
      ABSL_GUARDED_BY(mu_);
  size_t vote_count_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, ReporterWindow> reporters_
      ABSL_GUARDED_BY(mu_);
};

// "good", "last" or "left out".
const char* StandingName(SourceReports::Standing standing);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_SOURCE_REPORTS_H_
