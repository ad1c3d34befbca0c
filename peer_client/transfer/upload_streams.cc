#include "peer_client/transfer/upload_streams.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace trove {

UploadStreams::UploadStreams(Options options, Clock* clock)
    : options_(options), clock_(clock != nullptr ? clock : Clock::Real()) {}

UploadStreams::~UploadStreams() { Stop(); }

absl::StatusOr<int64_t> UploadStreams::Begin(const std::string& requester,
                                             std::function<void()> cancel) {
  absl::MutexLock lock(&mu_);
  Requester& r = requesters_[requester];
  if (r.streams >= options_.max_per_requester) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "this peer serves at most ", options_.max_per_requester,
        " chunk streams to one peer at once; finish some first"));
  }
  ++r.streams;
  const int64_t id = next_id_++;
  Stream& s = streams_[id];
  s.requester = requester;
  s.cancel = std::move(cancel);
  return id;
}

void UploadStreams::End(int64_t stream) {
  // Not while Sweep calls this stream's cancel.
  absl::MutexLock cancel_lock(&cancel_mu_);
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return;
  Requester& r = requesters_[it->second.requester];
  if (it->second.writing) --r.writing;
  if (--r.streams == 0) r.left = clock_->Now();
  streams_.erase(it);
}

void UploadStreams::WriteStarted(int64_t stream) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end() || it->second.writing) return;
  it->second.writing = true;
  Requester& r = requesters_[it->second.requester];
  ++r.writing;
  if (r.stalled_since == absl::InfiniteFuture()) r.stalled_since = clock_->Now();
}

void UploadStreams::WriteDone(int64_t stream, bool progressed) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end() || !it->second.writing) return;
  it->second.writing = false;
  Requester& r = requesters_[it->second.requester];
  --r.writing;
  // Data taken: the wait starts again for the writes still going.
  if (progressed) {
    r.stalled_since = r.writing > 0 ? clock_->Now() : absl::InfiniteFuture();
  }
}

int UploadStreams::Sweep() {
  if (options_.stall <= absl::ZeroDuration()) return 0;
  absl::MutexLock cancel_lock(&cancel_mu_);
  std::vector<std::function<void()>> cancels;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time now = clock_->Now();
    for (auto it = requesters_.begin(); it != requesters_.end();) {
      if (it->second.streams == 0 && now - it->second.left >= options_.stall) {
        it = requesters_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& [id, s] : streams_) {
      Requester& r = requesters_[s.requester];
      if (!s.cancel || now - r.stalled_since < options_.stall) continue;
      cancels.push_back(std::move(s.cancel));
      s.cancel = nullptr;  // Once.
      ++cancelled_;
    }
    // Those cancelled start afresh (their streams end; the caller refuses
    // them for a while).
    for (auto& [name, r] : requesters_) {
      if (now - r.stalled_since >= options_.stall) {
        r.stalled_since = absl::InfiniteFuture();
      }
    }
  }
  for (const std::function<void()>& cancel : cancels) cancel();
  return static_cast<int>(cancels.size());
}

void UploadStreams::Start() {
  if (options_.stall <= absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.sweep_every);
        if (stopping_) return;
      }
      Sweep();
    }
  });
}

void UploadStreams::Stop() {
  std::thread t;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    t = std::move(thread_);
  }
  if (t.joinable()) t.join();
}

int UploadStreams::active() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(streams_.size());
}

int UploadStreams::active(const std::string& requester) const {
  absl::MutexLock lock(&mu_);
  auto it = requesters_.find(requester);
  return it == requesters_.end() ? 0 : it->second.streams;
}

int64_t UploadStreams::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace trove
