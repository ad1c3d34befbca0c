#include <algorithm>
#include <utility>

#include "absl/time/clock.h"
#include "peer_client/transfer/download.h"

namespace trove {

void Download::WatchLoop(SourceState* s) {
  absl::Duration retry = absl::Milliseconds(250);
  while (true) {
    grpc::ClientContext ctx;
    {
      absl::MutexLock lock(&mu_);
      if (end_ || s->failed || s->watch_stop) return;
      s->watch_ctx = &ctx;
    }
    peer::WatchHavesRequest req;
    req.set_cid(request_.cid);
    req.set_requester_id(options_.own_peer_id);
    std::unique_ptr<grpc::ClientReader<peer::HaveUpdate>> reader =
        s->stub->WatchHaves(&ctx, req);
    peer::HaveUpdate update;
    while (reader->Read(&update)) {
      absl::MutexLock lock(&mu_);
      ApplyHaveUpdateLocked(s, update);
      retry = absl::Milliseconds(250);
    }
    grpc::Status st = reader->Finish();
    absl::MutexLock lock(&mu_);
    s->watch_ctx = nullptr;
    if (end_ || s->failed || s->watch_stop) return;
    if (st.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      // An older peer: its manifest is asked again now and then instead.
      s->watch_supported = false;
      return;
    }
    // The stream ended (a partial source completed, or the call failed):
    // follow it again after a while, for the hints it may give as a seed.
    const absl::Time until = absl::Now() + retry;
    while (!end_ && !s->failed && !s->watch_stop && absl::Now() < until) {
      main_cv_.WaitWithTimeout(&mu_, until - absl::Now());
    }
    retry = std::min(retry * 2, absl::Seconds(5));
  }
}

void Download::ApplyHaveUpdateLocked(SourceState* s,
                                     const peer::HaveUpdate& u) {
  if (!s->added || scheduler_ == nullptr) return;
  const int64_t count = scheduler_->chunk_count();
  const size_t map_bytes = static_cast<size_t>((count + 7) / 8);
  if (u.complete()) {
    if (s->partial) {
      scheduler_->AddSource(s->id, "");
      s->partial = false;
    }
  } else if (!u.have().empty() && u.have().size() == map_bytes) {
    scheduler_->AddSource(s->id, u.have());
    s->partial = true;
  }
  for (uint32_t index : u.added()) {
    if (static_cast<int64_t>(index) < count) scheduler_->AddHave(s->id, index);
  }
  if (u.initial_seeding() && u.unsent().size() == map_bytes) {
    scheduler_->SetUnsent(s->id, u.unsent());
  } else if (!u.initial_seeding()) {
    scheduler_->ClearUnsent(s->id);
  }
  work_cv_.SignalAll();
}

}  // namespace trove
