#include "peer_client/transfer/upload_slots.h"

#include <utility>


namespace trove {

UploadSlots::UploadSlots(Options options, Clock* clock)
    : options_(options), clock_(clock != nullptr ? clock : Clock::Real()) {}

void UploadSlots::ExpireLocked(absl::Time now) {
  for (auto it = holders_.begin(); it != holders_.end();) {
    if (it->second.in_use == 0 &&
        now - it->second.last_active >= options_.slot_idle) {
      it = holders_.erase(it);
    } else {
      ++it;
    }
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
  auto held = holders_.find(requester);
  if (held != holders_.end()) {
    held->second.last_active = now;
    if (use) ++held->second.in_use;
    d.granted = true;
    return d;
  }
  const int free_slots =
      options_.max_slots - static_cast<int>(holders_.size());
  auto waiting = waiting_.find(requester);
  int position = 0;
  if (waiting != waiting_.end()) {
    position = 1;
    for (auto it = queue_.begin(); it != waiting->second; ++it) ++position;
  } else {
    position = static_cast<int>(queue_.size()) + 1;
  }
  if (position <= free_slots) {
    if (waiting != waiting_.end()) {
      queue_.erase(waiting->second);
      waiting_.erase(waiting);
    }
    Holder& h = holders_[requester];
    h.last_active = now;
    h.in_use = use ? 1 : 0;
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
