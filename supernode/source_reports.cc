#include "supernode/source_reports.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace trove {
namespace supernode {

SourceReports::SourceReports(Options options) : options_(std::move(options)) {}

double SourceReports::WeightOf(absl::Duration age) const {
  if (options_.full_weight_after <= absl::ZeroDuration()) return 1.0;
  return std::clamp(absl::FDivDuration(age, options_.full_weight_after), 0.0,
                    1.0);
}

SourceReports::Standing SourceReports::StandingOfScore(double score) const {
  // A little slack, so that three reports of weight 1/3 reach 1.
  constexpr double kEpsilon = 1e-9;
  if (score + kEpsilon >= options_.exclude_score) return Standing::kLeftOut;
  if (score + kEpsilon >= options_.demote_score) return Standing::kLast;
  return Standing::kGood;
}

double SourceReports::ScoreLocked(const Pair& pair, absl::Time now) const {
  auto it = votes_.find(pair);
  if (it == votes_.end()) return 0;
  double score = 0;
  for (const auto& [reporter, vote] : it->second) {
    if (now - vote.at < options_.window && vote.weight >= options_.min_weight) {
      score += vote.weight;
    }
  }
  return score;
}

void SourceReports::ExpireLocked(absl::Time now) {
  for (auto p = votes_.begin(); p != votes_.end();) {
    auto& by_reporter = p->second;
    for (auto v = by_reporter.begin(); v != by_reporter.end();) {
      if (now - v->second.at >= options_.window) {
        by_reporter.erase(v++);
        --vote_count_;
      } else {
        ++v;
      }
    }
    if (by_reporter.empty()) {
      votes_.erase(p++);
    } else {
      ++p;
    }
  }
  for (auto r = reporters_.begin(); r != reporters_.end();) {
    if (now - r->second.start >= options_.window) {
      reporters_.erase(r++);
    } else {
      ++r;
    }
  }
}

absl::StatusOr<SourceReports::Outcome> SourceReports::Report(
    const std::string& reporter, absl::Duration reporter_age,
    const std::string& source, const std::string& cid, absl::Time now) {
  Outcome out;
  out.weight = WeightOf(reporter_age);
  const Pair pair(source, cid);
  absl::MutexLock lock(&mu_);
  auto seen = votes_.find(pair);
  const bool counts_already =
      seen != votes_.end() && [&] {
        auto v = seen->second.find(reporter);
        return v != seen->second.end() &&
               now - v->second.at < options_.window;
      }();
  if (!counts_already) {
    ReporterWindow& window = reporters_[reporter];
    if (window.reports == 0 || now - window.start >= options_.window) {
      window.start = now;
      window.reports = 0;
    }
    if (window.reports >= options_.max_reports_per_window) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "too many bad-source reports from this peer: at most ",
          options_.max_reports_per_window, " sources per ",
          absl::FormatDuration(options_.window), "; retry in ",
          absl::ToInt64Seconds(absl::Ceil(window.start + options_.window - now,
                                          absl::Seconds(1))),
          " s"));
    }
    if (vote_count_ >= options_.max_entries) ExpireLocked(now);
    if (vote_count_ < options_.max_entries) {
      auto& by_reporter = votes_[pair];
      auto [v, inserted] = by_reporter.insert_or_assign(
          reporter, Vote{now, out.weight});
      (void)v;
      if (inserted) ++vote_count_;
      // The window may have been restarted by the expiry above.
      ReporterWindow& w = reporters_[reporter];
      if (w.reports == 0) w.start = now;
      ++w.reports;
      out.counted = true;
    }
  }
  out.score = ScoreLocked(pair, now);
  out.standing = StandingOfScore(out.score);
  return out;
}

double SourceReports::Score(const std::string& source, const std::string& cid,
                            absl::Time now) const {
  absl::MutexLock lock(&mu_);
  return ScoreLocked(Pair(source, cid), now);
}

SourceReports::Standing SourceReports::StandingOf(const std::string& source,
                                                  const std::string& cid,
                                                  absl::Time now) const {
  return StandingOfScore(Score(source, cid, now));
}

std::vector<SourceReports::Standing> SourceReports::StandingsOf(
    const std::vector<absl::string_view>& sources, absl::string_view cid,
    absl::Time now) const {
  std::vector<Standing> out(sources.size(), Standing::kGood);
  absl::MutexLock lock(&mu_);
  if (votes_.empty()) return out;
  Pair pair;
  pair.second.assign(cid.data(), cid.size());
  for (size_t i = 0; i < sources.size(); ++i) {
    pair.first.assign(sources[i].data(), sources[i].size());
    out[i] = StandingOfScore(ScoreLocked(pair, now));
  }
  return out;
}

int64_t SourceReports::ReportsAgainst(const std::string& source,
                                      absl::Time now) const {
  absl::MutexLock lock(&mu_);
  int64_t n = 0;
  for (const auto& [pair, by_reporter] : votes_) {
    if (pair.first != source) continue;
    for (const auto& [reporter, vote] : by_reporter) {
      if (now - vote.at < options_.window) ++n;
    }
  }
  return n;
}

double SourceReports::WeightAgainst(const std::string& source,
                                    absl::Time now) const {
  absl::MutexLock lock(&mu_);
  double w = 0;
  for (const auto& [pair, by_reporter] : votes_) {
    if (pair.first != source) continue;
    for (const auto& [reporter, vote] : by_reporter) {
      if (now - vote.at < options_.window) w += vote.weight;
    }
  }
  return w;
}

SourceReports::Totals SourceReports::totals(absl::Time now) const {
  absl::MutexLock lock(&mu_);
  Totals t;
  for (const auto& [pair, by_reporter] : votes_) {
    for (const auto& [reporter, vote] : by_reporter) {
      if (now - vote.at < options_.window) ++t.reports;
    }
    switch (StandingOfScore(ScoreLocked(pair, now))) {
      case Standing::kGood:
        break;
      case Standing::kLast:
        ++t.ranked_last;
        break;
      case Standing::kLeftOut:
        ++t.left_out;
        break;
    }
  }
  return t;
}

const char* StandingName(SourceReports::Standing standing) {
  switch (standing) {
    case SourceReports::Standing::kGood:
      return "good";
    case SourceReports::Standing::kLast:
      return "last";
    case SourceReports::Standing::kLeftOut:
      return "left out";
  }
  return "?";
}

}  // namespace supernode
}  // namespace trove
