#include "index_server/catalog_follower.h"

#include <algorithm>
#include <utility>

#include "common/log.h"

namespace trove {
namespace index_server {

CatalogFollower::CatalogFollower(ChangeFeed* feed, Options options)
    : feed_(feed), options_(std::move(options)) {}

CatalogFollower::~CatalogFollower() { Stop(); }

void CatalogFollower::Start() {
  thread_ = std::make_unique<std::thread>([this] { Loop(); });
}

void CatalogFollower::Stop() {
  {
    absl::MutexLock lock(&state_mu_);
    stopping_ = true;
  }
  if (thread_ != nullptr) {
    thread_->join();
    thread_.reset();
  }
}

bool CatalogFollower::Load() {
  const absl::Time start = absl::Now();
  for (int attempt = 1;; ++attempt) {
    {
      absl::MutexLock lock(&state_mu_);
      if (stopping_) return false;
    }
    auto fresh = std::make_shared<MemoryCatalog>(options_.catalog);
    TROVE_LOG(INFO) << "loading the catalog into memory";
    absl::StatusOr<int64_t> seq =
        feed_->LoadCatalog(fresh.get(), [&](const LoadProgress& p) {
          if (p.done) return;
          TROVE_LOG(INFO) << "loading the catalog: " << p.sources
                          << " sources so far ("
                          << absl::FormatDuration(absl::Trunc(
                                 absl::Now() - start, absl::Milliseconds(100)))
                          << ")";
        });
    if (!seq.ok()) {
      TROVE_LOG(WARNING) << "loading the catalog failed (attempt " << attempt
                         << "): " << seq.status() << "; retrying";
      absl::MutexLock lock(&state_mu_);
      state_mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.retry);
      continue;
    }
    MemoryCatalog::Stats s = fresh->stats();
    TROVE_LOG(INFO) << "catalog loaded in "
                    << absl::FormatDuration(absl::Trunc(
                           absl::Now() - start, absl::Milliseconds(10)))
                    << ": " << s.sources << " sources of " << s.cids
                    << " files (" << s.names << " names, " << s.words
                    << " words) from " << s.peers << " peers; "
                    << s.other_files
                    << " files without a complete source; following the "
                       "change log from "
                    << *seq;
    absl::MutexLock lock(&apply_mu_);
    catalog_ = std::move(fresh);
    applied_ = *seq;
    offers_.erase(offers_.begin(), offers_.upper_bound(applied_));
    DrainOffers();
    Publish();
    absl::MutexLock state(&state_mu_);
    ++stats_.loads;
    return true;
  }
}

void CatalogFollower::Publish() {
  absl::MutexLock lock(&state_mu_);
  served_ = catalog_;
  served_applied_ = applied_;
}

void CatalogFollower::DrainOffers() {
  while (!offers_.empty()) {
    auto it = offers_.begin();
    if (it->first <= applied_) {
      offers_.erase(it);
      continue;
    }
    if (it->first != applied_ + 1) break;
    catalog_->Apply(*it->second);
    applied_ = it->first;
    offers_.erase(it);
    absl::MutexLock lock(&state_mu_);
    ++stats_.applied_offered;
  }
}

bool CatalogFollower::ApplyInOrder(int64_t seq, const CatalogChange& change,
                                   bool offered) {
  absl::MutexLock lock(&apply_mu_);
  if (offered) expected_.erase(seq);
  if (catalog_ == nullptr || seq != applied_ + 1) return false;
  catalog_->Apply(change);
  applied_ = seq;
  {
    absl::MutexLock state(&state_mu_);
    if (offered) {
      ++stats_.applied_offered;
    } else {
      ++stats_.applied_read;
    }
  }
  DrainOffers();
  Publish();
  return true;
}

void CatalogFollower::Offer(int64_t seq,
                            std::shared_ptr<const CatalogChange> change) {
  if (ApplyInOrder(seq, *change, /*offered=*/true)) return;
  absl::MutexLock lock(&apply_mu_);
  expected_.erase(seq);
  if (catalog_ != nullptr && seq <= applied_) return;
  // Not its turn yet (or still loading): the follower fetches what comes
  // before it, then applies it.
  offers_.emplace(seq, std::move(change));
}

void CatalogFollower::Expect(int64_t seq) {
  absl::MutexLock lock(&apply_mu_);
  expected_.insert(seq);
}

void CatalogFollower::Withdraw(int64_t seq) {
  absl::MutexLock lock(&apply_mu_);
  expected_.erase(seq);
}

void CatalogFollower::Loop() {
  if (!Load()) return;
  bool reported_failure = false;
  while (true) {
    {
      absl::MutexLock lock(&state_mu_);
      if (stopping_) return;
    }
    int64_t after;
    {
      absl::MutexLock lock(&apply_mu_);
      // While the next change is this replica's own, on its way to Offer
      // (the NOTIFY of a commit comes before its apply ends), reading it
      // from the log would fetch and parse megabytes for nothing.
      auto not_own = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(apply_mu_) {
        return expected_.count(applied_ + 1) == 0;
      };
      const absl::Time until = absl::Now() + options_.poll;
      while (!not_own() && absl::Now() < until) {
        apply_mu_.AwaitWithDeadline(
            absl::Condition(&not_own),
            std::min(until, absl::Now() + options_.listen_slice));
        absl::MutexLock state(&state_mu_);
        if (stopping_) return;
      }
      after = applied_;
    }
    absl::StatusOr<std::vector<LoggedChange>> changes =
        feed_->ReadChanges(after, options_.read_batch);
    if (!changes.ok()) {
      if (!reported_failure) {
        TROVE_LOG(WARNING) << "following the change log: " << changes.status()
                           << "; search answers from what is loaded";
        reported_failure = true;
      }
      absl::MutexLock lock(&state_mu_);
      state_mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.retry);
      continue;
    }
    if (reported_failure) {
      TROVE_LOG(INFO) << "following the change log again";
      reported_failure = false;
    }
    if (changes->empty()) {
      {
        absl::MutexLock lock(&state_mu_);
        if (!ready_) {
          ready_ = true;
          TROVE_LOG(INFO) << "catalog in memory is current (change " << after
                          << "); search is ready";
        }
      }
      // Until a NOTIFY, the poll, or Stop().
      const absl::Time until = absl::Now() + options_.poll;
      while (absl::Now() < until) {
        {
          absl::MutexLock lock(&state_mu_);
          if (stopping_) return;
        }
        if (feed_->WaitForChanges(
                std::min(options_.listen_slice, until - absl::Now()))) {
          break;
        }
      }
      continue;
    }
    if (changes->front().seq > after + 1) {
      TROVE_LOG(WARNING) << "the change log no longer holds changes "
                         << after + 1 << " to " << changes->front().seq - 1
                         << " (this replica fell too far behind); loading "
                            "the catalog again";
      if (!Load()) return;
      continue;
    }
    for (const LoggedChange& lc : *changes) {
      ApplyInOrder(lc.seq, *lc.change, /*offered=*/false);
    }
  }
}

bool CatalogFollower::WaitApplied(int64_t seq, absl::Time deadline) const {
  absl::MutexLock lock(&state_mu_);
  auto done = [this, seq]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) {
    return served_applied_ >= seq || stopping_;
  };
  state_mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  return served_applied_ >= seq;
}

bool CatalogFollower::ready() const {
  absl::MutexLock lock(&state_mu_);
  return ready_;
}

bool CatalogFollower::WaitReady(absl::Time deadline) const {
  absl::MutexLock lock(&state_mu_);
  auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_mu_) {
    return ready_ || stopping_;
  };
  state_mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  return ready_;
}

int64_t CatalogFollower::applied() const {
  absl::MutexLock lock(&state_mu_);
  return served_applied_;
}

std::shared_ptr<const MemoryCatalog> CatalogFollower::catalog() const {
  absl::MutexLock lock(&state_mu_);
  return served_;
}

std::shared_ptr<const MemoryCatalog> CatalogFollower::ready_catalog() const {
  absl::MutexLock lock(&state_mu_);
  return ready_ ? served_ : nullptr;
}

CatalogFollower::Stats CatalogFollower::stats() const {
  absl::MutexLock lock(&state_mu_);
  return stats_;
}

}  // namespace index_server
}  // namespace trove
