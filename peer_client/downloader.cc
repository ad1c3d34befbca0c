#include "peer_client/downloader.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <utility>

#include <openssl/rand.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/grpc_status.h"
#include "common/identity.h"
#include "common/log.h"
#include "common/manifest_auth.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "common/validation.h"
#include "peer_client/chunk_scheduler.h"
#include "peer_client/part_file.h"
#include "peer_client/raw_chunk.h"
#include "peer_client/resume_journal.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace {

using trove::peer::GetChunksRequest;
using trove::peer::GetManifestRequest;
using trove::peer::Manifest;
using trove::peer::PeerService;

// A manifest that passed every check.
struct CheckedManifest {
  int64_t size = 0;
  std::string name;
  std::vector<Hash> hashes;
  std::string have;
};

// Bytes of the nonce sent with each GetManifest.
constexpr int kManifestNonceBytes = 32;

// A fresh random nonce for a GetManifest.
absl::StatusOr<std::string> NewManifestNonce() {
  std::string nonce(kManifestNonceBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(nonce.data()),
                 kManifestNonceBytes) != 1) {
    return absl::InternalError("RAND_bytes failed making a manifest nonce");
  }
  return nonce;
}

// OK when the manifest proves its sender holds the key of `peer_id`: its
// public key hashes to `peer_id` and signs the proof over `nonce`, `cid` and
// `peer_id`. UNAUTHENTICATED (or INVALID_ARGUMENT for a key or signature of
// the wrong length) otherwise.
absl::Status CheckProof(const Manifest& m, const std::string& cid,
                        const std::string& peer_id, absl::string_view nonce) {
  if (m.public_key().empty() || m.proof().empty()) {
    return absl::UnauthenticatedError(
        "source sent no proof of its identity with the manifest");
  }
  if (PeerIdFromPublicKey(m.public_key()) != peer_id) {
    return absl::UnauthenticatedError(absl::StrCat(
        "source's public key is not that of peer ", peer_id));
  }
  absl::Status st = VerifySignature(
      m.public_key(), ManifestProofMessage(nonce, cid, peer_id), m.proof());
  if (!st.ok()) {
    return absl::Status(st.code(),
                        absl::StrCat("source's identity proof does not verify: ",
                                     st.message()));
  }
  return absl::OkStatus();
}

// Checks a manifest for `cid`; `peer_id`, when set, is the id the source
// must answer as, and then the manifest must prove it (CheckProof) over
// `nonce`, the one sent. DATA_LOSS, INVALID_ARGUMENT or UNAUTHENTICATED name
// what was wrong.
absl::StatusOr<CheckedManifest> CheckManifest(
    const Manifest& m, const std::string& cid,
    const std::optional<std::string>& peer_id, absl::string_view nonce = "") {
  if (m.cid() != cid) {
    return absl::DataLossError(
        absl::StrCat("manifest is for cid ", m.cid(), ", not ", cid));
  }
  if (peer_id.has_value()) {
    if (m.peer_id() != *peer_id) {
      return absl::UnauthenticatedError(absl::StrCat(
          "source answered as peer ", m.peer_id(), ", expected ", *peer_id));
    }
    absl::Status proof = CheckProof(m, cid, *peer_id, nonce);
    if (!proof.ok()) return proof;
  }
  if (m.chunk_size() != kChunkSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest chunk size ", m.chunk_size(), ", expected ", kChunkSize));
  }
  absl::Status st = ValidateFileSize(m.size());
  if (!st.ok()) return absl::InvalidArgumentError(st.message());
  CheckedManifest out;
  out.size = m.size();
  out.hashes.reserve(m.chunk_hashes_size());
  for (const std::string& b : m.chunk_hashes()) {
    absl::StatusOr<Hash> h = HashFromBytes(b);
    if (!h.ok()) return h.status();
    out.hashes.push_back(*h);
  }
  st = VerifyManifest(cid, m.size(), out.hashes);
  if (!st.ok()) return st;
  st = ValidateFileName(m.name());
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest has an unsafe file name: ", st.message()));
  }
  out.name = m.name();
  if (!m.have().empty() &&
      static_cast<int64_t>(m.have().size()) != (ChunkCount(m.size()) + 7) / 8) {
    return absl::InvalidArgumentError(
        "manifest 'have' bitmap has the wrong size");
  }
  out.have = m.have();
  return out;
}

// The manifest as saved for resuming (no source-specific fields).
Manifest ToSavedManifest(const CheckedManifest& m, const std::string& cid) {
  Manifest out;
  out.set_cid(cid);
  out.set_size(m.size);
  out.set_chunk_size(static_cast<int32_t>(kChunkSize));
  out.set_name(m.name);
  for (const Hash& h : m.hashes) out.add_chunk_hashes(HashToBytes(h));
  return out;
}

std::string Describe(const Source& s) {
  return absl::StrCat("peer ", s.peer_id().substr(0, 12), " at ", s.address());
}

}  // namespace

// One download: its threads, its sources and its files. See downloader.h.
class Download : public std::enable_shared_from_this<Download> {
 public:
  enum class Stop { kNone, kCancel, kShutdown };

  // A new download of `request`, or (`resume`) the saved download of
  // request.cid. A `background` download has no watcher to fail to.
  Download(Downloader* owner, DownloadRequest request, bool resume,
           bool background)
      : owner_(owner),
        options_(owner->options_),
        request_(std::move(request)),
        resume_(resume),
        background_(background),
        started_(Now()) {
    if (!options_.state_dir.empty()) {
      store_ = std::make_unique<TransferStore>(options_.state_dir);
    }
    latest_.cid = request_.cid;
    latest_.name = request_.name;
  }

  ~Download() = default;

  const std::string& cid() const { return request_.cid; }

  // Starts the download's thread. REQUIRES: owner's mu_ held.
  void Start() {
    std::shared_ptr<Download> self = shared_from_this();
    thread_ = std::thread([self] { self->Run(); });
  }
  std::thread TakeThread() { return std::move(thread_); }

  void AddWatcher() {
    absl::MutexLock lock(&watch_mu_);
    ++watchers_;
  }

  // Follows the download until it ends (see Downloader::Fetch).
  absl::StatusOr<std::string> Watch(
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled);

  // Asks the download to stop.
  void RequestStop(Stop why);

  DownloadProgress Latest() const {
    absl::MutexLock lock(&watch_mu_);
    return latest_;
  }

 private:
  enum class Phase { kManifest, kQueued, kActive, kDone };

  struct SourceState {
    int id = 0;
    Source source;
    std::unique_ptr<PeerService::Stub> stub;
    std::unique_ptr<RawChunkStub> raw;
    std::thread thread;
    // Guarded by the download's mu_.
    Phase phase = Phase::kManifest;
    bool added = false;       // Known to the scheduler.
    bool partial = false;     // Its manifest has a have map.
    bool failed = false;      // Dropped; its threads stop.
    bool bad = false;         // Dropped for sending bad data.
    absl::Status failure;     // Why it was dropped.
    absl::Time failed_at;
    int queue_position = 0;   // While queued.
    bool slot_lost = false;   // GetChunks said RESOURCE_EXHAUSTED.
    int streams_running = 0;
    int64_t chunks_this_slot = 0;
    int64_t tick_bytes = 0;   // Received since the last rate update.
    double rate = 0;          // Bytes per second, smoothed.
  };

  // One GetChunks call.
  struct Stream {
    SourceState* source = nullptr;
    std::vector<uint32_t> batch;
    size_t next = 0;          // Index in batch of the next chunk expected.
    absl::Time last_activity;
    bool throttled = false;   // Waiting for the rate limiter.
    bool cancelled_by_us = false;
  };

  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }

  void Run();
  // Everything up to a complete download (OK) or the reason it ends.
  absl::Status Execute();
  absl::Status MainLoop();
  // Stops every thread of the download but the caller's.
  void StopAll();
  void Finish(absl::Status status);
  absl::StatusOr<std::string> Commit();

  absl::Status InitialLocate();
  void LocatorLoop();
  // Starts sources not known yet. Returns how many started; sets
  // `only_self` when this peer was listed.
  int AddSourcesLocked(const std::vector<Source>& sources, bool* only_self)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void SourceMain(SourceState* s);
  absl::Status SourceBody(SourceState* s);
  absl::StatusOr<CheckedManifest> FetchManifest(SourceState* s);
  struct SlotAnswer {
    bool granted = true;
    int queue_position = 0;
    absl::Duration retry_after;
  };
  absl::StatusOr<SlotAnswer> RequestSlot(SourceState* s);
  // Waits for `s`'s streams to end, asking a partial source for its
  // manifest again now and then.
  void AwaitStreams(SourceState* s);
  void StreamLoop(SourceState* s);
  void RunRequest(SourceState* s, std::vector<uint32_t> batch);

  // The first good manifest fixes the file: part file, saved state,
  // scheduler. Later calls return at once.
  absl::Status EnsurePrepared(const CheckedManifest& m);
  absl::Status PrepareFromSaved();
  void InitEngine(const CheckedManifest& m, const std::vector<uint32_t>& done);

  void FailSourceLocked(SourceState* s, absl::Status why, bool bad)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetFatalLocked(absl::Status st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelFinishedStreamsLocked(const std::vector<int>& sources)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StreamsShouldStopLocked(const SourceState* s) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return end_ || s->failed || s->slot_lost;
  }
  absl::Status FailureLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Tick();
  DownloadProgress SnapshotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Publish(const DownloadProgress& p);

  // Registers a unary call so that StopAll can cancel it. False when the
  // download is ending (the call should not be made).
  bool TrackCall(grpc::ClientContext* ctx);
  void UntrackCall(grpc::ClientContext* ctx);

  Downloader* const owner_;
  const Downloader::Options& options_;
  DownloadRequest request_;
  const bool resume_;
  const bool background_;
  const absl::Time started_;
  std::unique_ptr<TransferStore> store_;
  std::thread thread_;
  std::thread locator_;
  std::atomic<int64_t> chunks_fetched_{0};

  // Set once under prepare_mu_ before any stream starts; read-only after.
  absl::Mutex prepare_mu_;
  bool prepared_ = false;
  CheckedManifest manifest_;
  std::string name_;
  std::string reserved_part_;
  std::unique_ptr<PartFile> part_;
  std::unique_ptr<JournalFile> journal_file_;
  std::unique_ptr<JournalWriter> journal_;
  std::shared_ptr<ChunkHaveMap> have_;

  mutable absl::Mutex mu_;
  absl::CondVar work_cv_;  // Streams wait for chunks to ask for.
  absl::CondVar main_cv_;  // Everything else waits for events.
  bool end_ ABSL_GUARDED_BY(mu_) = false;
  Stop stop_ ABSL_GUARDED_BY(mu_) = Stop::kNone;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ChunkScheduler> scheduler_ ABSL_GUARDED_BY(mu_);
  int64_t size_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t done_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t resumed_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t chunks_resumed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t chunks_rehashed_ ABSL_GUARDED_BY(mu_) = 0;
  int bad_sources_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::unique_ptr<SourceState>> sources_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, SourceState*> by_peer_ ABSL_GUARDED_BY(mu_);
  int live_ ABSL_GUARDED_BY(mu_) = 0;
  int requests_ ABSL_GUARDED_BY(mu_) = 0;  // GetChunks calls running.
  int64_t locate_passes_ ABSL_GUARDED_BY(mu_) = 0;
  bool relocate_now_ ABSL_GUARDED_BY(mu_) = false;
  int64_t zero_pass_ ABSL_GUARDED_BY(mu_) = -1;
  absl::Time stuck_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool announce_ ABSL_GUARDED_BY(mu_) = false;
  std::map<grpc::ClientContext*, Stream*> streams_ ABSL_GUARDED_BY(mu_);
  std::set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, int64_t>> samples_ ABSL_GUARDED_BY(mu_);
  absl::Time last_tick_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The file's name once known.
  std::string shown_name_ ABSL_GUARDED_BY(mu_);

  mutable absl::Mutex watch_mu_;
  int watchers_ ABSL_GUARDED_BY(watch_mu_) = 0;
  DownloadProgress latest_ ABSL_GUARDED_BY(watch_mu_);
  int64_t seq_ ABSL_GUARDED_BY(watch_mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(watch_mu_) = false;
  absl::StatusOr<std::string> result_ ABSL_GUARDED_BY(watch_mu_);
  DownloadProgress final_ ABSL_GUARDED_BY(watch_mu_);
};

// ---- Watching

absl::StatusOr<std::string> Download::Watch(
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  int64_t seen = 0;
  bool detached = false;
  while (true) {
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
  end_ = true;
  for (auto& [ctx, stream] : streams_) {
    stream->cancelled_by_us = true;
    ctx->TryCancel();
  }
  for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
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
    // Without any source, look again sooner.
    absl::Duration every = live_ == 0 ? std::min(options_.relocate_interval,
                                                 absl::Seconds(1))
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
    std::shared_ptr<grpc::Channel> channel =
        options_.channel_factory ? options_.channel_factory(source.address())
                                 : MakeChannel(source.address());
    s->stub = PeerService::NewStub(channel);
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
  end_ = true;
  for (auto& [ctx, stream] : streams_) {
    stream->cancelled_by_us = true;
    ctx->TryCancel();
  }
  for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
  work_cv_.SignalAll();
  main_cv_.SignalAll();
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
  GetManifestRequest req;
  req.set_cid(request_.cid);
  req.set_nonce(*nonce);
  Manifest m;
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
    if (m->size != manifest_.size || m->hashes != manifest_.hashes) {
      s->bad = true;
      return absl::DataLossError("manifest differs from the file's");
    }
    if (end_ || s->failed) return absl::OkStatus();
    scheduler_->AddSource(s->id, m->have);
    s->added = true;
    s->partial = !m->have.empty();
    work_cv_.SignalAll();
  }
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
      streams.emplace_back(&Download::StreamLoop, this, s);
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
      refresh = s->partial && !end_ && !s->failed;
    }
    if (!refresh) continue;
    // A partial source holds more as time goes: ask what it holds now.
    absl::StatusOr<CheckedManifest> m = FetchManifest(s);
    absl::MutexLock lock(&mu_);
    if (m.ok() && s->added && !end_ && m->hashes == manifest_.hashes) {
      scheduler_->AddSource(s->id, m->have);
      s->partial = !m->have.empty();
      work_cv_.SignalAll();
    }
  }
}

void Download::StreamLoop(SourceState* s) {
  while (true) {
    std::vector<uint32_t> batch;
    {
      absl::MutexLock lock(&mu_);
      while (!StreamsShouldStopLocked(s)) {
        if (requests_ < std::max(1, options_.max_requests)) {
          const int window = scheduler_->window(s->id);
          const int n = std::clamp(window / options_.streams_per_source, 1,
                                   options_.chunks_per_request);
          batch = scheduler_->Assign(s->id, n);
          if (!batch.empty()) {
            ++requests_;
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
    RunRequest(s, std::move(batch));
  }
}

void Download::RunRequest(SourceState* s, std::vector<uint32_t> batch) {
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
  GetChunksRequest req;
  req.set_cid(request_.cid);
  req.set_requester_id(options_.own_peer_id);
  for (uint32_t i : batch) req.add_indexes(i);
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> reader =
      s->raw->GetChunks(&ctx, req);
  grpc::ByteBuffer buffer;
  RawChunk chunk;
  size_t got = 0;
  absl::Status bad;
  absl::Status local;
  bool stopped = false;
  std::shared_ptr<RateLimiter> limiter;
  if (options_.limiter != nullptr && !options_.limiter->unlimited()) {
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
    if (limiter != nullptr) {
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
      {
        absl::MutexLock lock(&mu_);
        ChunkScheduler::Arrival a = scheduler_->MarkDone(s->id, index);
        if (a.accepted) {
          done_bytes_ += length;
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
  --requests_;
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

// ---- Files

absl::Status Download::EnsurePrepared(const CheckedManifest& m) {
  absl::MutexLock prepare_lock(&prepare_mu_);
  if (prepared_) return absl::OkStatus();
  name_ = request_.name.empty() ? m.name : request_.name;
  std::string part_path = PartFile::PartPath(request_.out_dir, name_);
  {
    absl::MutexLock lock(&owner_->mu_);
    if (!owner_->active_parts_.insert(part_path).second) {
      return absl::AlreadyExistsError(absl::StrCat(
          name_, " is already being downloaded into ", request_.out_dir));
    }
    reserved_part_ = part_path;
  }
  absl::StatusOr<std::unique_ptr<PartFile>> part =
      PartFile::Create(request_.out_dir, name_, m.size);
  if (!part.ok()) return part.status();
  part_ = std::move(*part);
  if (store_) {
    TransferMeta meta;
    meta.out_dir = request_.out_dir;
    meta.name = name_;
    meta.part_path = part_->path();
    absl::StatusOr<std::unique_ptr<JournalFile>> journal =
        store_->Create(request_.cid, ToSavedManifest(m, request_.cid), meta);
    if (!journal.ok()) {
      return absl::Status(journal.status().code(),
                          absl::StrCat("cannot save the download for resuming: ",
                                       journal.status().message()));
    }
    journal_file_ = std::move(*journal);
  }
  InitEngine(m, {});
  prepared_ = true;
  return absl::OkStatus();
}

void Download::InitEngine(const CheckedManifest& m,
                          const std::vector<uint32_t>& done) {
  manifest_ = m;
  manifest_.have.clear();
  if (journal_file_) {
    JournalWriter::Options jo;
    jo.batch_chunks = options_.journal_batch_chunks;
    jo.max_delay = options_.journal_max_delay;
    journal_ = std::make_unique<JournalWriter>(part_.get(), journal_file_.get(),
                                               jo);
  }
  const int64_t count = ChunkCount(m.size);
  have_ = std::make_shared<ChunkHaveMap>(count);
  auto entry = std::make_shared<SharedFile>();
  entry->cid = request_.cid;
  entry->path = part_->path();
  entry->name = name_;
  entry->size = m.size;
  entry->chunk_hashes = m.hashes;
  entry->have = have_;
  ChunkScheduler::Options so;
  so.max_window = std::max(1, options_.chunks_per_request *
                                  options_.streams_per_source);
  so.initial_window = std::min(so.max_window, 8);
  so.min_window = std::min(options_.min_window, so.max_window);
  so.window_seconds = options_.window_seconds;
  {
    absl::MutexLock lock(&mu_);
    scheduler_ = std::make_unique<ChunkScheduler>(count, so);
    size_ = m.size;
    shown_name_ = name_;
    for (uint32_t c : done) {
      scheduler_->SetDone(c);
      have_->Set(c);
      done_bytes_ += ChunkLength(m.size, c);
    }
    resumed_bytes_ = done_bytes_;
    chunks_resumed_ = static_cast<int64_t>(done.size());
    announce_ = true;
    main_cv_.SignalAll();
  }
  owner_->SetPartial(request_.cid, entry);
  if (!done.empty()) owner_->PartialsChanged();
}

absl::Status Download::PrepareFromSaved() {
  absl::MutexLock prepare_lock(&prepare_mu_);
  const std::string& cid = request_.cid;
  if (!store_) return absl::FailedPreconditionError("no state folder");
  absl::StatusOr<SavedTransfer> saved = store_->Load(cid);
  if (!saved.ok()) return saved.status();
  absl::StatusOr<CheckedManifest> m =
      CheckManifest(saved->manifest, cid, std::nullopt);
  if (!m.ok()) {
    store_->Remove(cid);
    return absl::DataLossError(absl::StrCat(
        "saved download of ", cid, " has a bad manifest: ", m.status().message()));
  }
  request_.out_dir = saved->meta.out_dir;
  name_ = saved->meta.name;
  request_.name = name_;
  {
    absl::MutexLock lock(&owner_->mu_);
    if (!owner_->active_parts_.insert(saved->meta.part_path).second) {
      return absl::AlreadyExistsError(absl::StrCat(
          name_, " is already being downloaded into ", request_.out_dir));
    }
    reserved_part_ = saved->meta.part_path;
  }
  absl::StatusOr<std::unique_ptr<PartFile>> part =
      PartFile::Open(request_.out_dir, name_, saved->meta.part_path);
  if (!part.ok()) {
    // Deleted while the daemon was down: the user gave up on it.
    store_->Remove(cid);
    return absl::Status(part.status().code(),
                        absl::StrCat("cannot resume ", cid, ": ",
                                     part.status().message()));
  }
  part_ = std::move(*part);
  const int64_t count = ChunkCount(m->size);
  std::vector<uint32_t> chunks;
  for (uint32_t c : saved->chunks) {
    if (c < count) chunks.push_back(c);
  }
  absl::StatusOr<FileStamp> stamp = part_->Stamp();
  if (!stamp.ok()) return stamp.status();
  bool changed = !saved->last_stamp.has_value() || *saved->last_stamp != *stamp;
  if (stamp->size != m->size) {
    absl::Status st = part_->Resize(m->size);
    if (!st.ok()) return st;
    changed = true;
  }
  int64_t rehashed = 0;
  if (changed && !chunks.empty()) {
    const size_t before = chunks.size();
    rehashed = static_cast<int64_t>(before);
    chunks = ReverifyChunks(part_.get(), m->hashes, m->size, chunks,
                            options_.verify_threads);
    TROVE_LOG(INFO) << "download " << cid.substr(0, 12) << ": part file "
                    << part_->path() << " changed since its last journal "
                    << "record; hashed " << before << " journaled chunks, "
                    << (before - chunks.size()) << " bad";
  }
  // Start the journal afresh with what is known good now.
  absl::Status st = part_->SyncData();
  if (!st.ok()) return st;
  stamp = part_->Stamp();
  if (!stamp.ok()) return stamp.status();
  JournalRecord compacted;
  compacted.stamp = *stamp;
  compacted.chunks = chunks;
  absl::StatusOr<std::unique_ptr<JournalFile>> journal =
      store_->Rewrite(cid, compacted);
  if (!journal.ok()) return journal.status();
  journal_file_ = std::move(*journal);
  TROVE_LOG(INFO) << "resuming download " << cid.substr(0, 12) << " ("
                  << name_ << " into " << request_.out_dir << "): "
                  << chunks.size() << " of " << count
                  << " chunks already verified";
  InitEngine(*m, chunks);
  {
    absl::MutexLock lock(&mu_);
    chunks_rehashed_ = rehashed;
  }
  prepared_ = true;
  return absl::OkStatus();
}

void Download::StopAll() {
  {
    absl::MutexLock lock(&mu_);
    end_ = true;
    for (auto& [ctx, stream] : streams_) {
      stream->cancelled_by_us = true;
      ctx->TryCancel();
    }
    for (grpc::ClientContext* ctx : calls_) ctx->TryCancel();
    work_cv_.SignalAll();
    main_cv_.SignalAll();
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
  if (status.ok()) {
    if (result.ok()) {
      TROVE_LOG(INFO) << "downloaded " << cid.substr(0, 12) << " to " << *result;
    }
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

// ---- Downloader

Downloader::Downloader(SourceDirectory* directory, Options options)
    : directory_(directory), options_(std::move(options)) {}

Downloader::~Downloader() { Shutdown(); }

void Downloader::StartLocked(std::shared_ptr<Download> d) {
  transfers_[d->cid()] = d;
  d->Start();
}

void Downloader::Finished(Download* d) {
  absl::MutexLock lock(&mu_);
  auto it = transfers_.find(d->cid());
  if (it != transfers_.end() && it->second.get() == d) transfers_.erase(it);
  finished_threads_.push_back(d->TakeThread());
}

void Downloader::JoinFinishedThreads() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    threads.swap(finished_threads_);
  }
  for (std::thread& t : threads) {
    if (t.joinable()) t.join();
  }
}

absl::StatusOr<std::string> Downloader::Fetch(
    const DownloadRequest& request,
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  absl::Status st = ValidateHexId(request.cid, "cid");
  if (!st.ok()) return st;
  if (request.out_dir.empty() || request.out_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "output folder must be an absolute path, got '", request.out_dir, "'"));
  }
  if (!request.name.empty()) {
    st = ValidateFileName(request.name);
    if (!st.ok()) return st;
  }
  st = MakeDirs(request.out_dir);
  if (!st.ok()) return st;
  JoinFinishedThreads();
  bool saved = false;
  if (!options_.state_dir.empty()) {
    TransferStore store(options_.state_dir);
    saved = store.Load(request.cid).ok();
  }
  std::shared_ptr<Download> d;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      return absl::UnavailableError("the peer daemon is shutting down");
    }
    auto it = transfers_.find(request.cid);
    if (it != transfers_.end()) {
      d = it->second;
      TROVE_LOG(INFO) << "download " << request.cid.substr(0, 12)
                      << " is running already: following it";
    } else {
      d = std::make_shared<Download>(this, request, /*resume=*/saved,
                                     /*background=*/false);
      StartLocked(d);
    }
    d->AddWatcher();
  }
  return d->Watch(progress, cancelled);
}

int Downloader::ResumeSaved() {
  if (options_.state_dir.empty()) return 0;
  JoinFinishedThreads();
  TransferStore store(options_.state_dir);
  int started = 0;
  for (const std::string& cid : store.List()) {
    absl::MutexLock lock(&mu_);
    if (shut_down_) break;
    if (transfers_.count(cid)) continue;
    DownloadRequest request;
    request.cid = cid;
    StartLocked(std::make_shared<Download>(this, request, /*resume=*/true,
                                           /*background=*/true));
    ++started;
  }
  return started;
}

void Downloader::Shutdown() {
  std::vector<std::shared_ptr<Download>> running;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (const auto& [cid, d] : transfers_) running.push_back(d);
  }
  for (const auto& d : running) d->RequestStop(Download::Stop::kShutdown);
  {
    absl::MutexLock lock(&mu_);
    auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return transfers_.empty();
    };
    mu_.Await(absl::Condition(&none));
  }
  JoinFinishedThreads();
}

std::vector<DownloadProgress> Downloader::Transfers() const {
  std::vector<std::shared_ptr<Download>> running;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [cid, d] : transfers_) running.push_back(d);
  }
  std::vector<DownloadProgress> out;
  for (const auto& d : running) out.push_back(d->Latest());
  return out;
}

std::vector<FileEntry> Downloader::PartialFiles() const {
  absl::MutexLock lock(&mu_);
  std::vector<FileEntry> out;
  for (const auto& [cid, f] : partials_) {
    if (f->have == nullptr || f->have->count() == 0) continue;
    FileEntry& e = out.emplace_back();
    e.set_cid(cid);
    e.set_size(f->size);
    e.set_name(f->name);
  }
  return out;
}

void Downloader::SetPartialFilesListener(std::function<void()> listener) {
  absl::MutexLock lock(&mu_);
  partials_listener_ = std::move(listener);
}

std::shared_ptr<const SharedFile> Downloader::FindByCid(
    absl::string_view cid) const {
  absl::MutexLock lock(&mu_);
  auto it = partials_.find(std::string(cid));
  if (it == partials_.end() || it->second->have->count() == 0) return nullptr;
  return it->second;
}

void Downloader::SetPartial(const std::string& cid,
                            std::shared_ptr<const SharedFile> f) {
  absl::MutexLock lock(&mu_);
  if (f == nullptr) {
    partials_.erase(cid);
  } else {
    partials_[cid] = std::move(f);
  }
}

void Downloader::PartialsChanged() {
  std::function<void()> listener;
  {
    absl::MutexLock lock(&mu_);
    listener = partials_listener_;
  }
  if (listener) listener();
}

}  // namespace trove
