#include "peer_client/transfer/upload_slots.h"

#include <algorithm>
#include <utility>


namespace trove {
namespace {

// A requester waiting for a slot and its credit.
struct Waiting {
  const std::string* requester;
  int64_t credit;
};

// Most credit first; among equals, in arrival order.
std::vector<std::string> SortedByCredit(std::vector<Waiting> waiting) {
  std::stable_sort(waiting.begin(), waiting.end(),
                   [](const Waiting& a, const Waiting& b) {
                     return a.credit > b.credit;
                   });
  std::vector<std::string> out;
  out.reserve(waiting.size());
  for (const Waiting& w : waiting) out.push_back(*w.requester);
  return out;
}

}  // namespace

UploadSlots::UploadSlots(Options options, Clock* clock, CreditFunction credit)
    : options_(options),
      clock_(clock != nullptr ? clock : Clock::Real()),
      credit_(std::move(credit)),
      max_slots_(options.max_slots) {}

void UploadSlots::SetMaxSlots(int max_slots) {
  absl::MutexLock lock(&mu_);
  max_slots_ = std::max(0, max_slots);
}

int UploadSlots::max_slots() {
  absl::MutexLock lock(&mu_);
  return max_slots_;
}

std::vector<std::string> UploadSlots::RankLocked(const std::string& newcomer,
                                                 std::string* optimistic) {
  std::vector<Waiting> waiting;
  waiting.reserve(queue_.size() + 1);
  for (const Waiter& w : queue_) waiting.push_back({&w.requester, 0});
  if (!newcomer.empty()) waiting.push_back({&newcomer, 0});
  if (credit_) {
    for (Waiting& w : waiting) w.credit = credit_(*w.requester);
  }
  optimistic->clear();
  bool optimistic_free = options_.optimistic_slot && max_slots_ >= 2;
  for (const auto& [requester, h] : holders_) {
    if (h.optimistic) optimistic_free = false;
  }
  std::vector<std::string> order;
  order.reserve(waiting.size());
  if (optimistic_free) {
    // The longest-waiting one that gave nothing yet.
    auto pick = std::find_if(waiting.begin(), waiting.end(),
                             [](const Waiting& w) { return w.credit == 0; });
    if (pick == waiting.end()) return SortedByCredit(std::move(waiting));
    *optimistic = *pick->requester;
    order.push_back(*pick->requester);
    waiting.erase(pick);
  }
  for (std::string& r : SortedByCredit(std::move(waiting))) {
    order.push_back(std::move(r));
  }
  return order;
}

void UploadSlots::ExpireLocked(absl::Time now) {
  for (auto it = holders_.begin(); it != holders_.end();) {
    if (it->second.in_use == 0 &&
        now - it->second.last_active >= options_.slot_idle) {
      it = holders_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = suspended_.begin(); it != suspended_.end();) {
    it = now >= it->second ? suspended_.erase(it) : std::next(it);
  }
  for (auto it = queue_.begin(); it != queue_.end();) {
    if (now - it->last_seen >= options_.queue_stale) {
      waiting_.erase(it->requester);
      it = queue_.erase(it);
    } else {
      ++it;
    }
  }
}

UploadSlots::Decision UploadSlots::RequestLocked(const std::string& requester,
                                                 bool use) {
  const absl::Time now = clock_->Now();
  ExpireLocked(now);
  Decision d;
  auto suspended = suspended_.find(requester);
  if (suspended != suspended_.end()) {
    d.suspended = true;
    d.retry_after = suspended->second - now;
    return d;
  }
  auto held = holders_.find(requester);
  if (held != holders_.end() && options_.turn > absl::ZeroDuration() &&
      now - held->second.granted_at >= options_.turn && !queue_.empty()) {
    // Its turn is over and others wait: to the back of the queue (its
    // streams still running go on).
    holders_.erase(held);
    held = holders_.end();
  }
  if (held != holders_.end()) {
    // Only taking data keeps a slot: asking again does not.
    if (use) {
      held->second.last_active = now;
      ++held->second.in_use;
    }
    d.granted = true;
    return d;
  }
  const int free_slots = max_slots_ - static_cast<int>(holders_.size());
  auto waiting = waiting_.find(requester);
  std::string optimistic;
  std::vector<std::string> order = RankLocked(
      waiting != waiting_.end() ? std::string() : requester, &optimistic);
  int position = static_cast<int>(
      std::find(order.begin(), order.end(), requester) - order.begin() + 1);
  if (position <= free_slots) {
    if (waiting != waiting_.end()) {
      queue_.erase(waiting->second);
      waiting_.erase(waiting);
    }
    Holder& h = holders_[requester];
    h.granted_at = now;
    h.last_active = now;
    h.in_use = use ? 1 : 0;
    h.optimistic = requester == optimistic;
    d.granted = true;
    return d;
  }
  d.retry_after = options_.retry_after;
  if (waiting != waiting_.end()) {
    waiting->second->last_seen = now;
  } else if (static_cast<int>(queue_.size()) < options_.max_queue) {
    queue_.push_back(Waiter{requester, now});
    waiting_[requester] = std::prev(queue_.end());
  } else {
    position = 0;  // Queue full: not queued.
  }
  d.queue_position = position;
  return d;
}

UploadSlots::Decision UploadSlots::Request(const std::string& requester) {
  absl::MutexLock lock(&mu_);
  return RequestLocked(requester, /*use=*/false);
}

UploadSlots::Decision UploadSlots::Acquire(const std::string& requester) {
  absl::MutexLock lock(&mu_);
  return RequestLocked(requester, /*use=*/true);
}

void UploadSlots::Suspend(const std::string& requester,
                          absl::Duration duration) {
  absl::MutexLock lock(&mu_);
  holders_.erase(requester);
  auto waiting = waiting_.find(requester);
  if (waiting != waiting_.end()) {
    queue_.erase(waiting->second);
    waiting_.erase(waiting);
  }
  suspended_[requester] = clock_->Now() + duration;
}

void UploadSlots::Release(const std::string& requester) {
  absl::MutexLock lock(&mu_);
  auto it = holders_.find(requester);
  if (it == holders_.end()) return;
  if (it->second.in_use > 0) --it->second.in_use;
  it->second.last_active = clock_->Now();
}

int UploadSlots::active() {
  absl::MutexLock lock(&mu_);
  ExpireLocked(clock_->Now());
  return static_cast<int>(holders_.size());
}

int UploadSlots::queued() {
  absl::MutexLock lock(&mu_);
  ExpireLocked(clock_->Now());
  return static_cast<int>(queue_.size());
}

}  // namespace trove
