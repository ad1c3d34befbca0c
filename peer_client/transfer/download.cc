#include "peer_client/transfer/download.h"

#include <algorithm>
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

// ---- Watching

absl::StatusOr<std::string> Download::Watch(
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  int64_t seen = 0;
  bool detached = false;
  while (true) {
    // Checked before waiting, so a watcher that is already cancelled does
    // not let a short download finish first.
    if (!detached && cancelled && cancelled()) {
      detached = true;
      bool last;
      {
        absl::MutexLock lock(&watch_mu_);
        last = --watchers_ == 0 && !background_;
      }
      if (!last) return absl::CancelledError("stopped following the download");
      // Nobody else wants it: stop it, and wait until its files are gone.
      RequestStop(Stop::kCancel);
    }
    DownloadProgress p;
    bool report = false;
    {
      absl::MutexLock lock(&watch_mu_);
      auto changed = [this, &seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(watch_mu_) {
        return finished_ || seq_ != seen;
      };
      watch_mu_.AwaitWithTimeout(absl::Condition(&changed),
                                 options_.progress_interval);
      if (finished_) break;
      if (seq_ != seen && !detached) {
        seen = seq_;
        p = latest_;
        report = true;
      }
    }
    if (report && progress) progress(p);
  }
  absl::StatusOr<std::string> result;
  DownloadProgress final_progress;
  {
    absl::MutexLock lock(&watch_mu_);
    result = result_;
    final_progress = final_;
  }
  if (detached) return absl::CancelledError("download cancelled");
  if (result.ok() && progress) progress(final_progress);
  return result;
}

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

void Download::Publish(const DownloadProgress& p) {
  absl::MutexLock lock(&watch_mu_);
  latest_ = p;
  ++seq_;
}

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
  absl::Status st = InitialLocate();
  if (!st.ok()) return st;
  locator_ = std::thread(&Download::LocatorLoop, this);
  return MainLoop();
}

absl::Status Download::InitialLocate() {
  const std::string& cid = request_.cid;
  absl::StatusOr<LocatedSources> located = owner_->directory_->Locate(cid);
  absl::MutexLock lock(&mu_);
  ++locate_passes_;
  if (!located.ok()) {
    if (background_) {
      TROVE_LOG(WARNING) << "download " << cid.substr(0, 12)
                         << ": cannot locate sources yet: "
                         << located.status().message();
      return absl::OkStatus();
    }
    if (absl::IsNotFound(located.status())) {
      return absl::NotFoundError(absl::StrCat("no peer shares ", cid));
    }
    return absl::Status(
        located.status().code(),
        absl::StrCat("cannot locate ", cid, ": ", located.status().message()));
  }
  bool only_self = false;
  int added = AddSourcesLocked(located->sources, &only_self);
  if (added == 0 && !background_) {
    return absl::NotFoundError(
        only_self ? absl::StrCat("no other peer shares ", cid,
                                 " (this peer has it already)")
                  : absl::StrCat("no peer shares ", cid));
  }
  return absl::OkStatus();
}

void Download::LocatorLoop() {
  absl::MutexLock lock(&mu_);
  absl::Time last = absl::Now();
  while (!end_) {
    // Early on (other downloaders of a new file announce themselves as
    // partial sources within a second or two) and without any source, look
    // again sooner.
    const bool early = locate_passes_ <= options_.fast_relocates;
    absl::Duration every =
        live_ == 0 || early
            ? std::min(options_.relocate_interval, options_.fast_relocate_interval)
            : options_.relocate_interval;
    absl::Time due = last + every;
    while (!end_ && !relocate_now_ && absl::Now() < due) {
      main_cv_.WaitWithTimeout(&mu_, due - absl::Now());
    }
    if (end_) break;
    relocate_now_ = false;
    mu_.Unlock();
    absl::StatusOr<LocatedSources> located =
        owner_->directory_->Locate(request_.cid);
    mu_.Lock();
    last = absl::Now();
    if (end_) break;
    if (located.ok()) {
      bool only_self;
      AddSourcesLocked(located->sources, &only_self);
    }
    ++locate_passes_;
    main_cv_.SignalAll();
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
    // Only the peer the directory named may answer at this address.
    std::shared_ptr<grpc::Channel> channel =
        MakeChannel(source.address(), Expected::Peer(source.peer_id()),
                    options_.tls.get());
    s->stub = peer::PeerService::NewStub(channel);
    s->raw = std::make_unique<RawChunkStub>(channel);
    SourceState* state = s.get();
    by_peer_[source.peer_id()] = state;
    sources_.push_back(std::move(s));
    ++live_;
    ++added;
    zero_pass_ = -1;
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
      if (stop_ == Stop::kCancel) {
        return absl::CancelledError("download cancelled");
      }
      if (stop_ == Stop::kShutdown) {
        return absl::UnavailableError(
            "the peer daemon is shutting down; the download resumes when it "
            "starts again");
      }
      if (!fatal_.ok()) return fatal_;
      if (scheduler_ && scheduler_->complete()) return absl::OkStatus();
    }
    Tick();
    if (background_) continue;
    absl::MutexLock lock(&mu_);
    if (live_ == 0) {
      // Every source is gone: ask for sources once more, then give up.
      if (zero_pass_ < 0) {
        zero_pass_ = locate_passes_;
        relocate_now_ = true;
        main_cv_.SignalAll();
      } else if (locate_passes_ > zero_pass_) {
        return FailureLocked();
      }
      continue;
    }
    bool queued = false;
    for (const auto& s : sources_) queued |= s->phase == Phase::kQueued;
    if (scheduler_ && !queued && scheduler_->in_flight_count() == 0 &&
        scheduler_->UnavailableCount() == scheduler_->wanted_count()) {
      if (stuck_since_ == absl::InfiniteFuture()) stuck_since_ = Now();
      if (Now() - stuck_since_ >= options_.stuck_timeout) {
        absl::Status why = FailureLocked();
        return absl::UnavailableError(absl::StrCat(
            why.message(), "; no source holds the ",
            scheduler_->wanted_count(), " chunks still needed"));
      }
    } else {
      stuck_since_ = absl::InfiniteFuture();
    }
  }
}

absl::Status Download::FailureLocked() {
  const std::string& cid = request_.cid;
  int tried = 0, bad = 0;
  std::vector<std::string> failures;
  for (const auto& s : sources_) {
    ++tried;
    if (s->bad) ++bad;
    if (!s->failure.ok()) {
      failures.push_back(
          absl::StrCat(Describe(s->source), ": ", s->failure.message()));
    }
  }
  if (tried == 0) return absl::NotFoundError(absl::StrCat("no peer shares ", cid));
  std::string why = absl::StrCat(
      "could not download ", cid, ": tried ", tried, " source",
      tried == 1 ? "" : "s",
      failures.empty() ? "" : absl::StrCat(": ", absl::StrJoin(failures, "; ")));
  if (failures.empty()) why += " (none held every chunk)";
  return bad == tried ? absl::DataLossError(why) : absl::UnavailableError(why);
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
  p.name = shown_name_.empty() ? request_.name : shown_name_;
  p.size = size_;
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
  absl::StatusOr<std::string> result =
      status.ok() ? Commit() : absl::StatusOr<std::string>(status);
  if (status.ok() && result.ok()) {
    TROVE_LOG(INFO) << "downloaded " << cid.substr(0, 12) << " to " << *result;
    CompletedDownload done;
    done.path = *result;
    done.hashes.cid = cid;
    done.hashes.size = manifest_.size;
    done.hashes.chunk_hashes = manifest_.hashes;
    owner_->NotifyCompleted(done);
  }
  if (!result.ok() && part_ != nullptr) {
    // Shutting down, or a resumed download that cannot go on now: keep it
    // for the next start (or the next get). A new download that failed, or
    // any that was cancelled: nothing is left.
    const bool keep = stop == Stop::kShutdown ||
                      ((background_ || resume_) && stop != Stop::kCancel) ||
                      options_.keep_partial_on_failure;
    if (keep) {
      if (journal_) {
        absl::Status st = journal_->Close();
        if (!st.ok()) {
          TROVE_LOG(WARNING) << "download " << cid.substr(0, 12)
                             << ": cannot flush its journal: " << st;
        }
      }
      part_->Keep();
    } else {
      journal_.reset();
      if (store_) store_->Remove(cid);
      part_ = nullptr;  // Removes the part file.
    }
  }
  if (!result.ok() && stop != Stop::kShutdown) {
    TROVE_LOG(WARNING) << "download " << cid.substr(0, 12)
                       << " ended: " << result.status();
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
    final_progress.sources = 0;
    final_progress.queue_position = 0;
    // The final rate is the average over what this run fetched.
    double secs = absl::ToDoubleSeconds(Now() - started_);
    int64_t fetched;
    {
      absl::MutexLock lock(&mu_);
      fetched = done_bytes_ - resumed_bytes_;
    }
    final_progress.bytes_per_second = secs > 0 ? fetched / secs : 0;
  }
  {
    absl::MutexLock lock(&owner_->mu_);
    if (!reserved_part_.empty()) owner_->active_parts_.erase(reserved_part_);
  }
  // Out of the list first, so that a watcher sees no transfer once it has
  // its result.
  owner_->Finished(this);
  absl::MutexLock lock(&watch_mu_);
  final_ = final_progress;
  result_ = std::move(result);
  finished_ = true;
}

}  // namespace trove
