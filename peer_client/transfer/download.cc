#include "peer_client/transfer/download.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/server_util.h"
#include "common/validation.h"

namespace trove {

std::string Download::Describe(const Source& s) {
  return absl::StrCat("peer ", s.peer_id().substr(0, 12), " at ", s.address());
}

// ---- Stopping

void Download::RequestStop(Stop why) {
  absl::MutexLock lock(&mu_);
  if (stop_ == Stop::kNone) stop_ = why;
  EndLocked();
}

void Download::EndLocked() {
  end_ = true;
  for (auto& [ctx, stream] : streams_) {
    stream->cancelled_by_us = true;
    ctx->TryCancel();
  }
  for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
  for (const auto& s : sources_) {
    if (s->watch_ctx != nullptr) s->watch_ctx->TryCancel();
  }
  work_cv_.SignalAll();
  main_cv_.SignalAll();
}

void Download::Publish(const DownloadProgress& p) { entry_->Update(p); }

bool Download::TrackCall(grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  if (end_) return false;
  calls_.insert(ctx);
  return true;
}

void Download::UntrackCall(grpc::ClientContext* ctx) {
  absl::MutexLock lock(&mu_);
  calls_.erase(ctx);
}

// ---- The download's own thread

void Download::Run() {
  absl::Status st = Execute();
  Finish(st);
}

absl::Status Download::Execute() {
  if (resume_) {
    absl::Status st = PrepareFromSaved();
    if (!st.ok()) return st;
    absl::MutexLock lock(&mu_);
    if (scheduler_->complete()) return absl::OkStatus();
  }
  {
    absl::MutexLock lock(&mu_);
    relocate_backoff_ = options_.fast_relocate_interval;
  }
  Tick();
  LocateOnce();
  locator_ = std::thread(&Download::LocatorLoop, this);
  return MainLoop();
}

void Download::LocateOnce() {
  absl::StatusOr<LocatedSources> located =
      owner_->directory_->Locate(request_.cid);
  absl::MutexLock lock(&mu_);
  ++locate_passes_;
  if (end_) return;
  int added = 0;
  if (located.ok()) {
    last_locate_ = absl::OkStatus();
    located_once_ = true;
    bool only_self;
    added = AddSourcesLocked(located->sources, &only_self);
  } else {
    last_locate_ = located.status();
    if (absl::IsNotFound(last_locate_)) located_once_ = true;
  }
  // While no source is usable, look again later and later.
  if (added > 0) {
    relocate_backoff_ = options_.fast_relocate_interval;
  } else if (live_ == 0) {
    if (locate_passes_ > 1) {
      relocate_backoff_ =
          std::min(relocate_backoff_ * 2,
                   std::max(options_.max_relocate_backoff,
                            options_.fast_relocate_interval));
    }
  }
  main_cv_.SignalAll();
}

void Download::LocatorLoop() {
  absl::MutexLock lock(&mu_);
  absl::Time last = absl::Now();
  while (!end_) {
    // Early on (other downloaders of a new file announce themselves as
    // partial sources within a second or two) look again soon; without any
    // source, with backoff.
    const bool early = locate_passes_ <= options_.fast_relocates;
    absl::Duration every =
        live_ == 0 ? relocate_backoff_
        : early    ? std::min(options_.relocate_interval,
                              options_.fast_relocate_interval)
                   : options_.relocate_interval;
    absl::Time due = last + every;
    next_locate_ = due;
    while (!end_ && !relocate_now_ && absl::Now() < due) {
      main_cv_.WaitWithTimeout(&mu_, due - absl::Now());
      // A source that ended may make the wait shorter.
      if (live_ == 0 && last + relocate_backoff_ < due) {
        due = last + relocate_backoff_;
        next_locate_ = due;
      }
    }
    if (end_) break;
    relocate_now_ = false;
    mu_.Unlock();
    LocateOnce();
    mu_.Lock();
    last = absl::Now();
  }
}

int Download::AddSourcesLocked(const std::vector<Source>& sources,
                               bool* only_self) {
  *only_self = false;
  int added = 0;
  const absl::Time now = Now();
  for (const Source& source : sources) {
    if (end_) break;
    if (source.peer_id() == options_.own_peer_id) {
      *only_self = true;
      continue;
    }
    if (!ValidateHexId(source.peer_id(), "peer_id").ok() ||
        !ValidateAddress(source.address()).ok()) {
      continue;
    }
    auto known = by_peer_.find(source.peer_id());
    if (known != by_peer_.end()) {
      const SourceState* k = known->second;
      if (k->phase != Phase::kDone || k->bad ||
          now - k->failed_at < options_.source_retry) {
        continue;
      }
    }
    if (live_ >= options_.max_sources) break;
    auto s = std::make_unique<SourceState>();
    s->id = static_cast<int>(sources_.size());
    s->source = source;
    s->retry = known != by_peer_.end();
    // Only the peer the directory named may answer at this address.
    std::shared_ptr<grpc::Channel> channel =
        MakeChannel(source.address(), Expected::Peer(source.peer_id()),
                    options_.tls.get());
    s->stub = peer::PeerService::NewStub(channel);
    s->raw.push_back(std::make_unique<RawChunkStub>(channel));
    for (int c = 1; c < options_.connections_per_source; ++c) {
      s->raw.push_back(std::make_unique<RawChunkStub>(
          MakeChannel(source.address(), Expected::Peer(source.peer_id()),
                      options_.tls.get(), c)));
    }
    SourceState* state = s.get();
    by_peer_[source.peer_id()] = state;
    sources_.push_back(std::move(s));
    ++live_;
    ++added;
    state->thread = std::thread(&Download::SourceMain, this, state);
  }
  return added;
}

absl::Status Download::MainLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto event = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return end_ || !fatal_.ok() || announce_ ||
               (scheduler_ && scheduler_->complete());
      };
      mu_.AwaitWithTimeout(absl::Condition(&event), options_.progress_interval);
      switch (stop_) {
        case Stop::kCancel:
          return absl::CancelledError("the download was cancelled");
        case Stop::kPause:
          return absl::AbortedError("the download was paused");
        case Stop::kShutdown:
          return absl::UnavailableError(
              "the peer daemon is shutting down; the download resumes when "
              "it starts again");
        case Stop::kNone:
          break;
      }
      if (!fatal_.ok()) return fatal_;
      if (!same_file_.empty()) return absl::OkStatus();
      if (scheduler_ && scheduler_->complete()) return absl::OkStatus();
    }
    Tick();
  }
}

std::string Download::SourcesSummaryLocked() const {
  int tried = 0;
  std::vector<std::string> failures;
  for (const auto& s : sources_) {
    ++tried;
    if (!s->failure.ok()) {
      failures.push_back(
          absl::StrCat(Describe(s->source), ": ", s->failure.message()));
    }
  }
  if (tried == 0) {
    if (!last_locate_.ok() && !absl::IsNotFound(last_locate_)) {
      return absl::StrCat("cannot look up sources: ", last_locate_.message());
    }
    return "no peer shares it now";
  }
  int usable = 0;
  for (const auto& s : sources_) {
    if (!s->failed && s->phase != Phase::kDone) ++usable;
  }
  if (scheduler_ && usable > 0) {
    return absl::StrCat("no source holds the ", scheduler_->wanted_count(),
                        " chunks still needed");
  }
  std::string why = absl::StrCat("tried ", tried, " source",
                                 tried == 1 ? "" : "s");
  if (failures.empty()) return why + "; none holds every chunk";
  // The latest failures say the most.
  const size_t shown = std::min<size_t>(failures.size(), 3);
  std::vector<std::string> last(failures.end() - shown, failures.end());
  return absl::StrCat(why, ": ", absl::StrJoin(last, "; "));
}

DownloadState Download::StateLocked(std::string* detail) const {
  detail->clear();
  int active = 0, queued = 0, connecting = 0;
  for (const auto& s : sources_) {
    if (s->failed || s->phase == Phase::kDone) continue;
    if (s->phase == Phase::kActive) ++active;
    if (s->phase == Phase::kQueued) ++queued;
    // A source tried again after it failed does not make a download that
    // waits for sources look busy.
    if (s->phase == Phase::kManifest && !s->retry) ++connecting;
  }
  const bool stuck = scheduler_ && scheduler_->in_flight_count() == 0 &&
                     scheduler_->wanted_count() > 0 &&
                     scheduler_->UnavailableCount() == scheduler_->wanted_count();
  const absl::Duration wait =
      std::max(absl::ZeroDuration(), next_locate_ - absl::Now());
  const std::string again =
      next_locate_ == absl::InfinitePast()
          ? std::string()
          : absl::StrCat("; looking again in ",
                         absl::FormatDuration(absl::Seconds(
                             std::ceil(absl::ToDoubleSeconds(wait)))));
  if (active > 0 && !stuck) return DownloadState::kDownloading;
  if (queued > 0 && !stuck) return DownloadState::kQueued;
  if (connecting > 0) {
    *detail = absl::StrCat("asking ", connecting, " source",
                           connecting == 1 ? "" : "s", " for the file");
    return DownloadState::kLocating;
  }
  if (locate_passes_ == 0) {
    if (hint_state_ == DownloadState::kWaitingForNetwork) {
      *detail = hint_detail_;
      return hint_state_;
    }
    return DownloadState::kLocating;
  }
  if (!located_once_ && !last_locate_.ok()) {
    *detail = absl::StrCat(last_locate_.message(), again);
    return DownloadState::kWaitingForNetwork;
  }
  *detail = SourcesSummaryLocked() + again;
  return DownloadState::kWaitingForSources;
}

std::vector<SourceBytes> Download::ReceivedLocked() const {
  std::map<std::string, SourceBytes> by_peer;
  for (const auto& s : sources_) {
    if (s->bytes == 0 && !s->added) continue;
    SourceBytes& b = by_peer[s->source.peer_id()];
    b.peer_id = s->source.peer_id();
    b.address = s->source.address();
    b.bytes += s->bytes;
    b.partial |= s->was_partial;
  }
  std::vector<SourceBytes> out;
  for (auto& [peer, b] : by_peer) out.push_back(std::move(b));
  std::stable_sort(out.begin(), out.end(),
                   [](const SourceBytes& a, const SourceBytes& b) {
                     return a.bytes > b.bytes;
                   });
  return out;
}

DownloadProgress Download::SnapshotLocked() {
  DownloadProgress p;
  p.cid = request_.cid;
  p.state = StateLocked(&p.detail);
  p.out_dir = request_.out_dir;
  p.name = !shown_name_.empty()  ? shown_name_
           : !request_.name.empty() ? request_.name
                                    : hint_name_;
  p.size = size_ > 0 ? size_ : hint_size_;
  p.done_bytes = done_bytes_;
  p.chunks_fetched = chunks_fetched_.load();
  p.chunks_resumed = chunks_resumed_;
  p.chunks_rehashed = chunks_rehashed_;
  p.bad_sources = bad_sources_;
  p.received = ReceivedLocked();
  for (const auto& s : sources_) {
    if (s->phase == Phase::kActive) ++p.sources;
    if (s->phase == Phase::kQueued && s->queue_position > 0 &&
        (p.queue_position == 0 || s->queue_position < p.queue_position)) {
      p.queue_position = s->queue_position;
    }
  }
  const absl::Time now = Now();
  samples_.emplace_back(now, done_bytes_);
  while (samples_.size() > 2 &&
         now - samples_.front().first > absl::Seconds(5)) {
    samples_.pop_front();
  }
  double secs = absl::ToDoubleSeconds(now - samples_.front().first);
  if (secs > 0) {
    p.bytes_per_second = (done_bytes_ - samples_.front().second) / secs;
  }
  return p;
}

void Download::Tick() {
  DownloadProgress p;
  {
    absl::MutexLock lock(&mu_);
    announce_ = false;
    const absl::Time now = Now();
    // Each source's window follows its rate.
    const double secs = absl::ToDoubleSeconds(now - last_tick_);
    if (last_tick_ != absl::InfinitePast() && secs > 0 && scheduler_) {
      for (const auto& s : sources_) {
        if (!s->added || s->phase != Phase::kActive) continue;
        const double rate = s->tick_bytes / secs;
        s->rate = s->rate == 0 ? rate : 0.5 * s->rate + 0.5 * rate;
        s->tick_bytes = 0;
        scheduler_->SetRate(s->id, s->rate / kChunkSize);
      }
    }
    last_tick_ = now;
    // Stalled streams.
    for (auto& [ctx, stream] : streams_) {
      if (stream->throttled ||
          now - stream->last_activity <= options_.stall_timeout) {
        continue;
      }
      FailSourceLocked(stream->source,
                       absl::DeadlineExceededError(absl::StrCat(
                           "sent nothing for ",
                           absl::FormatDuration(options_.stall_timeout))),
                       false);
    }
    p = SnapshotLocked();
  }
  Publish(p);
}

void Download::SetFatalLocked(absl::Status st) {
  if (fatal_.ok()) fatal_ = std::move(st);
  EndLocked();
}

void Download::FailSourceLocked(SourceState* s, absl::Status why, bool bad) {
  if (s->failed) return;
  s->failed = true;
  s->bad = bad;
  s->failure = std::move(why);
  if (bad) ++bad_sources_;
  if (s->added && scheduler_) {
    scheduler_->RemoveSource(s->id);
    s->added = false;
  }
  for (auto& [ctx, stream] : streams_) {
    if (stream->source != s) continue;
    stream->cancelled_by_us = true;
    ctx->TryCancel();
  }
  work_cv_.SignalAll();
  main_cv_.SignalAll();
}

void Download::CancelFinishedStreamsLocked(const std::vector<int>& sources) {
  for (auto& [ctx, stream] : streams_) {
    if (stream->cancelled_by_us ||
        std::find(sources.begin(), sources.end(), stream->source->id) ==
            sources.end()) {
      continue;
    }
    bool needed = false;
    for (size_t i = stream->next; i < stream->batch.size() && !needed; ++i) {
      needed = scheduler_->IsInFlight(stream->source->id, stream->batch[i]);
    }
    if (!needed) {
      // Everything it still has to send arrived from elsewhere.
      stream->cancelled_by_us = true;
      ctx->TryCancel();
    }
  }
}

void Download::StopAll() {
  {
    absl::MutexLock lock(&mu_);
    EndLocked();
  }
  if (locator_.joinable()) locator_.join();
  std::vector<SourceState*> sources;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& s : sources_) sources.push_back(s.get());
  }
  for (SourceState* s : sources) {
    if (s->thread.joinable()) s->thread.join();
  }
}

absl::StatusOr<std::string> Download::Commit() {
  journal_.reset();  // The rename below makes the journal moot.
  absl::StatusOr<std::string> path = part_->Commit();
  if (!path.ok()) return path.status();
  if (store_) {
    absl::Status st = store_->Remove(request_.cid);
    if (!st.ok()) {
      TROVE_LOG(WARNING) << "cannot remove the saved state of "
                         << request_.cid.substr(0, 12) << ": " << st;
    }
  }
  return path;
}

void Download::Finish(absl::Status status) {
  StopAll();
  const std::string& cid = request_.cid;
  Stop stop;
  {
    absl::MutexLock lock(&mu_);
    stop = stop_;
  }
  if (dropped_) stop = Stop::kCancel;
  absl::StatusOr<std::string> result;
  if (!status.ok()) {
    result = status;
  } else if (!same_file_.empty()) {
    result = same_file_;
  } else {
    result = Commit();
  }
  if (status.ok() && result.ok() && same_file_.empty()) {
    TROVE_LOG(INFO) << "downloaded " << cid.substr(0, 12) << " to " << *result;
    CompletedDownload done;
    done.path = *result;
    done.hashes.cid = cid;
    done.hashes.size = manifest_.size;
    done.hashes.chunk_hashes = manifest_.hashes;
    owner_->NotifyCompleted(done);
  }
  if (!same_file_.empty()) {
    TROVE_LOG(INFO) << "download " << cid.substr(0, 12) << ": "
                    << same_file_ << " is that file already";
  }
  if (result.ok() || stop == Stop::kCancel) {
    // Done (its saved state is moot), or cancelled: nothing is left.
    journal_.reset();
    if (store_) store_->Remove(cid);
    part_ = nullptr;  // Removes the part file unless committed.
  } else if (part_ != nullptr) {
    // Paused, shutting down, or a local error: everything verified is kept
    // for a resume.
    if (journal_) {
      absl::Status st = journal_->Close();
      if (!st.ok()) {
        TROVE_LOG(WARNING) << "download " << cid.substr(0, 12)
                           << ": cannot flush its journal: " << st;
      }
    }
    part_->Keep();
  }
  if (!result.ok() && stop == Stop::kNone) {
    TROVE_LOG(WARNING) << "download " << cid.substr(0, 12)
                       << " stopped: " << result.status();
  }
  journal_.reset();
  if (prepared_) {
    owner_->SetPartial(cid, nullptr);
    owner_->PartialsChanged();
  }
  part_.reset();
  journal_file_.reset();
  DownloadProgress final_progress;
  {
    absl::MutexLock lock(&mu_);
    final_progress = SnapshotLocked();
  }
  if (result.ok()) {
    final_progress.done = true;
    final_progress.path = *result;
    final_progress.already_there = !same_file_.empty();
    final_progress.sources = 0;
    final_progress.queue_position = 0;
    if (final_progress.already_there) final_progress.done_bytes = final_progress.size;
    // The final rate is the average over what this run fetched.
    double secs = absl::ToDoubleSeconds(Now() - started_);
    int64_t fetched;
    {
      absl::MutexLock lock(&mu_);
      fetched = done_bytes_ - resumed_bytes_;
    }
    final_progress.bytes_per_second =
        secs > 0 && same_file_.empty() ? fetched / secs : 0;
  }
  {
    absl::MutexLock lock(&owner_->mu_);
    if (!reserved_part_.empty()) owner_->active_parts_.erase(reserved_part_);
  }
  outcome_.stop = stop;
  outcome_.result = std::move(result);
  outcome_.progress = std::move(final_progress);
  outcome_.request = request_;
  if (!name_.empty()) outcome_.request.name = name_;
  owner_->RunEnded(this);
}

}  // namespace trove
