#include "peer_client/transfer/download.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/grpc_status.h"
#include "common/server_util.h"

namespace trove {

// ---- Sources

void Download::SourceMain(SourceState* s) {
  absl::Status st = SourceBody(s);
  bool report = false;
  bool log_failure = false;
  std::string reason;
  {
    absl::MutexLock lock(&mu_);
    if (!st.ok() && fatal_.ok() && !end_) {
      FailSourceLocked(s, st, s->bad);
    }
    if (s->added && scheduler_) {
      scheduler_->RemoveSource(s->id);
      s->added = false;
      work_cv_.SignalAll();
    }
    s->phase = Phase::kDone;
    s->failed_at = Now();
    --live_;
    main_cv_.SignalAll();
    if (s->failed && !s->failure.ok()) {
      log_failure = true;
      report = s->bad;
      reason = std::string(s->failure.message());
    }
  }
  if (log_failure) {
    TROVE_LOG(WARNING) << "download " << request_.cid.substr(0, 12)
                       << ": dropping " << Describe(s->source) << ": "
                       << reason;
  }
  if (report) {
    owner_->directory_->ReportBadSource(request_.cid, s->source.peer_id(),
                                        reason);
  }
}

absl::StatusOr<CheckedManifest> Download::FetchManifest(SourceState* s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.manifest_timeout));
  absl::StatusOr<std::string> nonce = NewManifestNonce();
  if (!nonce.ok()) return nonce.status();
  if (!TrackCall(&ctx)) return absl::CancelledError("download ended");
  peer::GetManifestRequest req;
  req.set_cid(request_.cid);
  req.set_nonce(*nonce);
  peer::Manifest m;
  grpc::Status rpc = s->stub->GetManifest(&ctx, req, &m);
  UntrackCall(&ctx);
  if (!rpc.ok()) return FromGrpcStatus(rpc);
  absl::StatusOr<CheckedManifest> checked =
      CheckManifest(m, request_.cid, s->source.peer_id(), *nonce);
  if (!checked.ok()) {
    absl::MutexLock lock(&mu_);
    s->bad = true;
  }
  return checked;
}

absl::StatusOr<Download::SlotAnswer> Download::RequestSlot(SourceState* s) {
  SlotAnswer out;
  if (options_.own_peer_id.empty()) return out;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.manifest_timeout));
  if (!TrackCall(&ctx)) return absl::CancelledError("download ended");
  peer::SlotRequest req;
  req.set_requester_id(options_.own_peer_id);
  req.set_cid(request_.cid);
  peer::SlotResponse resp;
  grpc::Status rpc = s->stub->RequestSlot(&ctx, req, &resp);
  UntrackCall(&ctx);
  if (rpc.error_code() == grpc::StatusCode::UNIMPLEMENTED) return out;
  if (!rpc.ok()) return FromGrpcStatus(rpc);
  out.granted = resp.granted();
  out.queue_position = std::max(0, resp.queue_position());
  out.retry_after = resp.retry_after_ms() > 0
                        ? absl::Milliseconds(resp.retry_after_ms())
                        : absl::Seconds(1);
  out.retry_after = std::clamp(out.retry_after, absl::Milliseconds(10),
                               options_.max_slot_retry);
  return out;
}

absl::Status Download::SourceBody(SourceState* s) {
  absl::StatusOr<CheckedManifest> m = FetchManifest(s);
  if (!m.ok()) return m.status();
  absl::Status st = EnsurePrepared(*m);
  if (!st.ok()) {
    absl::MutexLock lock(&mu_);
    SetFatalLocked(st);
    return absl::OkStatus();  // Not the source's fault.
  }
  {
    absl::MutexLock lock(&mu_);
    if (!same_file_.empty()) return absl::OkStatus();
    if (m->size != manifest_.size || m->hashes != manifest_.hashes) {
      s->bad = true;
      return absl::DataLossError("manifest differs from the file's");
    }
    if (end_ || s->failed) return absl::OkStatus();
    scheduler_->AddSource(s->id, m->have);
    s->added = true;
    s->partial = !m->have.empty();
    s->was_partial = s->partial;
    s->watch_stop = false;
    work_cv_.SignalAll();
  }
  // Learn what it holds as that changes, while its chunks are fetched.
  std::thread watcher(&Download::WatchLoop, this, s);
  st = SlotLoop(s);
  {
    absl::MutexLock lock(&mu_);
    s->watch_stop = true;
    if (s->watch_ctx != nullptr) s->watch_ctx->TryCancel();
    main_cv_.SignalAll();
  }
  watcher.join();
  return st;
}

absl::Status Download::SlotLoop(SourceState* s) {
  absl::Duration backoff = absl::Milliseconds(250);
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (end_ || s->failed) return absl::OkStatus();
    }
    absl::StatusOr<SlotAnswer> slot = RequestSlot(s);
    if (!slot.ok()) {
      absl::MutexLock lock(&mu_);
      if (end_) return absl::OkStatus();
      return slot.status();
    }
    if (!slot->granted) {
      absl::MutexLock lock(&mu_);
      s->phase = Phase::kQueued;
      s->queue_position = slot->queue_position;
      const absl::Time until = absl::Now() + slot->retry_after;
      while (!end_ && !s->failed && absl::Now() < until) {
        main_cv_.WaitWithTimeout(&mu_, until - absl::Now());
      }
      continue;
    }
    std::vector<std::thread> streams;
    {
      absl::MutexLock lock(&mu_);
      if (end_ || s->failed) return absl::OkStatus();
      s->phase = Phase::kActive;
      s->queue_position = 0;
      s->slot_lost = false;
      s->chunks_this_slot = 0;
      s->streams_running = options_.streams_per_source;
    }
    for (int i = 0; i < options_.streams_per_source; ++i) {
      streams.emplace_back(&Download::StreamLoop, this, s, i);
    }
    AwaitStreams(s);
    for (std::thread& t : streams) t.join();
    absl::MutexLock lock(&mu_);
    if (end_ || s->failed || !s->slot_lost) return absl::OkStatus();
    // The source took the slot back: queue again, slower if it keeps
    // refusing without sending anything.
    s->phase = Phase::kQueued;
    if (s->chunks_this_slot > 0) {
      backoff = absl::Milliseconds(250);
    } else {
      const absl::Time until = absl::Now() + backoff;
      while (!end_ && !s->failed && absl::Now() < until) {
        main_cv_.WaitWithTimeout(&mu_, until - absl::Now());
      }
      backoff = std::min(backoff * 2, options_.max_slot_retry);
    }
  }
}

void Download::AwaitStreams(SourceState* s) {
  while (true) {
    bool refresh;
    {
      absl::MutexLock lock(&mu_);
      const absl::Time until = absl::Now() + options_.relocate_interval;
      while (s->streams_running > 0 && absl::Now() < until) {
        main_cv_.WaitWithTimeout(&mu_, until - absl::Now());
      }
      if (s->streams_running == 0) return;
      refresh = s->partial && !s->watch_supported && !end_ && !s->failed;
    }
    if (!refresh) continue;
    // A partial source that does not answer WatchHaves holds more as time
    // goes: ask what it holds now.
    absl::StatusOr<CheckedManifest> m = FetchManifest(s);
    absl::MutexLock lock(&mu_);
    if (m.ok() && s->added && !end_ && m->hashes == manifest_.hashes) {
      scheduler_->AddSource(s->id, m->have);
      s->partial = !m->have.empty();
      work_cv_.SignalAll();
    }
  }
}

void Download::StreamLoop(SourceState* s, int stream) {
  RawChunkStub* raw = s->raw[stream % s->raw.size()].get();
  while (true) {
    std::vector<uint32_t> batch;
    bool counted = false;
    {
      absl::MutexLock lock(&mu_);
      while (!StreamsShouldStopLocked(s)) {
        // Requests to a seed in initial seeding (a chunk or two at a time,
        // waiting on its upload cap) cost no CPU here: they do not count
        // against the download's cap, which is for fast sources.
        const bool seeding = scheduler_->restricted(s->id);
        if (seeding || requests_ < std::max(1, options_.max_requests)) {
          const int window = scheduler_->window(s->id);
          const int n = std::clamp(window / options_.streams_per_source, 1,
                                   options_.chunks_per_request);
          batch = scheduler_->Assign(s->id, n);
          if (!batch.empty()) {
            counted = !seeding;
            if (counted) ++requests_;
            break;
          }
        }
        work_cv_.WaitWithTimeout(&mu_, options_.progress_interval);
      }
      if (batch.empty()) {
        --s->streams_running;
        main_cv_.SignalAll();
        return;
      }
    }
    RunRequest(s, raw, std::move(batch), counted);
  }
}

void Download::RunRequest(SourceState* s, RawChunkStub* raw,
                          std::vector<uint32_t> batch, bool counted) {
  grpc::ClientContext ctx;
  Stream stream;
  stream.source = s;
  stream.batch = batch;
  {
    absl::MutexLock lock(&mu_);
    stream.last_activity = Now();
    streams_[&ctx] = &stream;
    // Dropped since the batch was assigned: do not wait on it.
    if (StreamsShouldStopLocked(s)) {
      stream.cancelled_by_us = true;
      ctx.TryCancel();
    }
  }
  peer::GetChunksRequest req;
  req.set_cid(request_.cid);
  req.set_requester_id(options_.own_peer_id);
  for (uint32_t i : batch) req.add_indexes(i);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader =
      raw->GetChunks(&ctx, req);
  grpc::ByteBuffer buffer;
  RawChunk chunk;
  size_t got = 0;
  absl::Status bad;
  absl::Status local;
  bool stopped = false;
  std::shared_ptr<RateLimiter> limiter;
  if (options_.limiter != nullptr) {
    // Taken even while unlimited: limits may be set while this runs.
    limiter = options_.limiter->ForPeer(s->source.peer_id());
  }
  bool ended = false;  // The source ended the stream.
  while (got < batch.size()) {
    if (!reader->Read(&buffer)) {
      ended = true;
      break;
    }
    chunks_fetched_.fetch_add(1);
    const uint32_t index = batch[got];
    const int64_t length = ChunkLength(manifest_.size, index);
    absl::Status parsed = chunk.Parse(&buffer);
    if (!parsed.ok()) {
      bad = absl::DataLossError(parsed.message());
    } else if (chunk.index() != index) {
      bad = absl::DataLossError(absl::StrCat("sent chunk ", chunk.index(),
                                             " when ", index, " was next"));
    } else if (static_cast<int64_t>(chunk.size()) != length) {
      bad = absl::DataLossError(absl::StrCat(
          "chunk ", index, " has ", chunk.size(), " bytes, expected ", length));
    }
    if (!bad.ok()) break;
    if (limiter != nullptr && !limiter->unlimited()) {
      {
        absl::MutexLock lock(&mu_);
        stream.throttled = true;
      }
      absl::Status waited = limiter->Acquire(
          length, absl::InfiniteFuture(), [this, s] {
            absl::MutexLock lock(&mu_);
            return end_ || s->failed;
          });
      absl::MutexLock lock(&mu_);
      stream.throttled = false;
      if (!waited.ok()) {
        stopped = true;
        break;
      }
    }
    bool needed;
    {
      absl::MutexLock lock(&mu_);
      stream.last_activity = Now();
      s->tick_bytes += length;
      needed = scheduler_->IsInFlight(s->id, index);
    }
    if (needed) {
      // Verify and write outside the lock, straight from the receive
      // buffers.
      if (chunk.DataSha256() != manifest_.hashes[index]) {
        bad = absl::DataLossError(
            absl::StrCat("chunk ", index, " failed verification"));
        break;
      }
      local = part_->WriteAt(static_cast<int64_t>(index) * kChunkSize,
                             absl::MakeConstSpan(chunk.pieces()));
      if (!local.ok()) break;
      bool first_chunk = false;
      bool accepted = false;
      {
        absl::MutexLock lock(&mu_);
        ChunkScheduler::Arrival a = scheduler_->MarkDone(s->id, index);
        if (a.accepted) {
          done_bytes_ += length;
          s->bytes += length;
          accepted = true;
          ++s->chunks_this_slot;
          first_chunk = have_->count() == 0;
          have_->Set(index);
          if (journal_) journal_->Add(index);
          if (!a.cancelled.empty()) CancelFinishedStreamsLocked(a.cancelled);
          // The chunk left this source's window, which may let a waiting
          // stream ask for more; but while every request of the download
          // is taken no stream can, and the end of a request wakes them
          // (below). Waking them all on every chunk regardless cost many
          // context switches with several sources (more streams than
          // requests).
          if (requests_ < std::max(1, options_.max_requests) ||
              scheduler_->complete()) {
            work_cv_.SignalAll();
          }
          if (scheduler_->complete()) main_cv_.SignalAll();
        }
      }
      if (first_chunk) owner_->PartialsChanged();
      if (accepted && options_.ledger != nullptr) {
        options_.ledger->AddReceived(s->source.peer_id(), request_.cid, length);
      }
    }
    ++got;
    absl::MutexLock lock(&mu_);
    stream.next = got;
  }
  // Stopped reading early: end the call (its status is then CANCELLED).
  if (got < batch.size() && !ended) ctx.TryCancel();
  grpc::Status finish = reader->Finish();
  absl::MutexLock lock(&mu_);
  streams_.erase(&ctx);
  if (counted) --requests_;
  for (size_t i = got; i < batch.size(); ++i) {
    scheduler_->MarkFailed(s->id, batch[i]);
  }
  work_cv_.SignalAll();
  if (!local.ok()) {
    SetFatalLocked(local);
  } else if (!bad.ok()) {
    FailSourceLocked(s, bad, true);
  } else if (got < batch.size() && !stream.cancelled_by_us && !stopped &&
             !end_) {
    if (finish.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      s->slot_lost = true;
      work_cv_.SignalAll();
    } else if (finish.error_code() == grpc::StatusCode::ABORTED) {
      // Initial seeding: refused before the first chunk, these went to
      // other downloaders (get them from the peers, and ask this source for
      // its unsent chunks only); after some, the rest is left to others.
      if (got == 0) {
        for (uint32_t index : batch) scheduler_->DropUnsent(s->id, index);
      }
      ++refusals_;
      work_cv_.SignalAll();
    } else {
      FailSourceLocked(
          s,
          finish.ok() ? absl::DataLossError(absl::StrCat(
                            "stream ended after ", got, " of ", batch.size(),
                            " chunks"))
                      : FromGrpcStatus(finish),
          false);
    }
  }
}

}  // namespace trove
