// One download (a transfer) inside the Downloader: its threads, its sources
// and its files. Internal to the download engine; see downloader.h for the
// behaviour and the public API.
//
// The class is defined over several files, one concern each:
// - download.cc: the download's own thread (locating sources, the main
//   loop, progress, failure and the end: commit or cleanup);
// - source_streams.cc: one thread per source (manifest, upload slot,
//   GetChunks streams receiving, verifying and writing chunks);
// - have_watch.cc: following what each source holds (WatchHaves: partial
//   sources' new chunks, seeds' initial seeding hints);
// - download_files.cc: the part file, the resume journal and the scheduler
//   set up for a new download or from saved state.
//
// Thread-safe: mu_ guards the shared state; chunks are hashed and written
// outside it.
#ifndef TROVE_PEER_CLIENT_TRANSFER_DOWNLOAD_H_
#define TROVE_PEER_CLIENT_TRANSFER_DOWNLOAD_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "peer_client/file_catalog.h"
#include "peer_client/transfer/chunk_scheduler.h"
#include "peer_client/transfer/download_types.h"
#include "peer_client/transfer/downloader.h"
#include "peer_client/transfer/manifest_check.h"
#include "peer_client/transfer/part_file.h"
#include "peer_client/transfer/raw_chunk.h"
#include "peer_client/transfer/resume_journal.h"
#include "protos/peer.grpc.pb.h"

namespace trove {

// One download as the Downloader knows it, across its runs (a run ends at a
// pause, a failure or a shutdown; a resume starts another). Watchers follow
// its progress here. `request`, `order` and `run` are guarded by the
// Downloader's mu_; the progress by this entry's own lock.
class DownloadEntry {
 public:
  DownloadEntry(DownloadRequest r, int64_t o) : request(std::move(r)), order(o) {
    latest_.cid = request.cid;
    latest_.name = request.name;
    latest_.out_dir = request.out_dir;
  }

  // What was asked; out_dir and name are filled in once known.
  DownloadRequest request;
  // When it was added, for listing in order.
  const int64_t order;
  // The run in progress (null while paused, failed, done or between runs).
  std::shared_ptr<Download> run;

  // A new snapshot; `final` when nothing more happens by itself (done,
  // failed, cancelled), with the result watchers get.
  void Update(const DownloadProgress& p) {
    absl::MutexLock lock(&mu_);
    latest_ = p;
    ended_ = false;
    ++seq_;
  }
  void End(const DownloadProgress& p, absl::StatusOr<std::string> result) {
    absl::MutexLock lock(&mu_);
    latest_ = p;
    result_ = std::move(result);
    ended_ = true;
    ++seq_;
  }
  // The latest snapshot with `state` (and `detail`) instead.
  void SetState(DownloadState state, const std::string& detail) {
    absl::MutexLock lock(&mu_);
    latest_.state = state;
    latest_.detail = detail;
    latest_.sources = 0;
    latest_.queue_position = 0;
    latest_.bytes_per_second = 0;
    ended_ = IsFinalState(state);
    ++seq_;
  }
  DownloadProgress Latest() const {
    absl::MutexLock lock(&mu_);
    return latest_;
  }

  // Waits up to `timeout` for a snapshot newer than `*seen`. Returns true
  // (and sets *p, *seen) when there is one; *ended and *result tell whether
  // the download has ended and how.
  bool Next(int64_t* seen, absl::Duration timeout, DownloadProgress* p,
            bool* ended, absl::StatusOr<std::string>* result) {
    absl::MutexLock lock(&mu_);
    auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return seq_ != *seen;
    };
    mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
    *ended = ended_;
    if (ended_) *result = result_;
    if (seq_ == *seen) return false;
    *seen = seq_;
    *p = latest_;
    return true;
  }

 private:
  mutable absl::Mutex mu_;
  DownloadProgress latest_ ABSL_GUARDED_BY(mu_);
  int64_t seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  absl::StatusOr<std::string> result_ ABSL_GUARDED_BY(mu_);
};

// One run of a download: from its start (or resume) until it completes,
// fails, or is stopped.
class Download : public std::enable_shared_from_this<Download> {
 public:
  enum class Stop { kNone, kCancel, kPause, kShutdown };

  // A run of `entry`'s download of `request`: new, or (`resume`) from the
  // saved state of request.cid.
  // `hint` (name and size as the network reports them, informational)
  // is shown until the manifest is known, and its state until the first
  // look-up ends.
  Download(Downloader* owner, std::shared_ptr<DownloadEntry> entry,
           DownloadRequest request, bool resume, const DownloadProgress& hint)
      : owner_(owner),
        options_(owner->options_),
        entry_(std::move(entry)),
        request_(std::move(request)),
        resume_(resume),
        hint_name_(hint.name),
        hint_size_(hint.size),
        hint_state_(hint.state),
        hint_detail_(hint.detail),
        started_(Now()) {
    if (!options_.state_dir.empty()) {
      store_ = std::make_unique<TransferStore>(options_.state_dir);
    }
  }

  ~Download() = default;

  const std::string& cid() const { return request_.cid; }
  const std::shared_ptr<DownloadEntry>& entry() const { return entry_; }

  // Starts the run's thread. REQUIRES: owner's mu_ held.
  void Start() {
    std::shared_ptr<Download> self = shared_from_this();
    thread_ = std::thread([self] { self->Run(); });
  }
  std::thread TakeThread() { return std::move(thread_); }

  // Asks the run to stop.
  void RequestStop(Stop why);

  // How the run ended; valid once it called Downloader::RunEnded.
  struct Outcome {
    Stop stop = Stop::kNone;
    // The final path, or why it ended.
    absl::StatusOr<std::string> result;
    DownloadProgress progress;
    // The request as the run left it (folder and name once known).
    DownloadRequest request;
  };
  const Outcome& outcome() const { return outcome_; }

 private:
  enum class Phase { kManifest, kQueued, kActive, kDone };

  struct SourceState {
    int id = 0;
    Source source;
    std::unique_ptr<peer::PeerService::Stub> stub;
    // GetChunks over connections_per_source connections; stream i uses
    // raw[i % raw.size()].
    std::vector<std::unique_ptr<RawChunkStub>> raw;
    std::thread thread;
    // Guarded by the download's mu_.
    Phase phase = Phase::kManifest;
    bool added = false;       // Known to the scheduler.
    bool partial = false;     // Holds only part of the file (now).
    bool was_partial = false; // Held only part of it when it joined.
    bool retry = false;       // Asked again after it failed.
    int64_t bytes = 0;        // Verified bytes received from it.
    // Its WatchHaves call while one runs, and whether it answers them.
    grpc::ClientContext* watch_ctx = nullptr;
    bool watch_stop = false;
    bool watch_supported = true;
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

  // "peer 0123456789ab at host:port", for messages.
  static std::string Describe(const Source& s);

  absl::Time Now() const {
    return options_.clock != nullptr ? options_.clock->Now() : absl::Now();
  }

  void Run();
  // Everything up to a complete download (OK) or the reason it ends.
  absl::Status Execute();
  // A file with the download's cid at its name (or "NAME (n)") in its
  // folder; "" when there is none.
  std::string FindSameFile(const CheckedManifest& m) const;
  absl::Status MainLoop();
  // Stops every thread of the download but the caller's.
  void StopAll();
  void Finish(absl::Status status);
  absl::StatusOr<std::string> Commit();

  void LocatorLoop();
  // Asks the directory for sources and adds the new ones.
  void LocateOnce() ABSL_LOCKS_EXCLUDED(mu_);
  // Starts sources not known yet. Returns how many started; sets
  // `only_self` when this peer was listed.
  int AddSourcesLocked(const std::vector<Source>& sources, bool* only_self)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void SourceMain(SourceState* s);
  absl::Status SourceBody(SourceState* s);
  // Asks for an upload slot and runs the streams while it is held, until
  // the source or the download ends.
  absl::Status SlotLoop(SourceState* s);
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
  // Stream number `stream` of `s`: runs GetChunks calls while there is
  // work for it.
  void StreamLoop(SourceState* s, int stream);
  // One GetChunks call for `batch` on `raw`; `counted`: it counts against
  // max_requests.
  void RunRequest(SourceState* s, RawChunkStub* raw, std::vector<uint32_t> batch,
                  bool counted);
  // Follows what `s` holds (WatchHaves) while the source is in use
  // (have_watch.cc).
  void WatchLoop(SourceState* s);
  void ApplyHaveUpdateLocked(SourceState* s, const peer::HaveUpdate& u)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Aggregates the bytes received per peer for progress.
  std::vector<SourceBytes> ReceivedLocked() const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The first good manifest fixes the file: part file, saved state,
  // scheduler. Later calls return at once.
  absl::Status EnsurePrepared(const CheckedManifest& m);
  absl::Status PrepareFromSaved();
  void InitEngine(const CheckedManifest& m, const std::vector<uint32_t>& done);

  void FailSourceLocked(SourceState* s, absl::Status why, bool bad)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetFatalLocked(absl::Status st) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends the download: every call it made (streams, unary calls, watches)
  // is cancelled and every waiting thread woken.
  void EndLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelFinishedStreamsLocked(const std::vector<int>& sources)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool StreamsShouldStopLocked(const SourceState* s) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return end_ || s->failed || s->slot_lost;
  }
  // Why no source is usable now, for people.
  std::string SourcesSummaryLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The state of the run now, and why.
  DownloadState StateLocked(std::string* detail) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void Tick();
  DownloadProgress SnapshotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Publish(const DownloadProgress& p);

  // Registers a unary call so that StopAll can cancel it. False when the
  // download is ending (the call should not be made).
  bool TrackCall(grpc::ClientContext* ctx);
  void UntrackCall(grpc::ClientContext* ctx);

  Downloader* const owner_;
  const Downloader::Options& options_;
  const std::shared_ptr<DownloadEntry> entry_;
  DownloadRequest request_;
  const bool resume_;
  const std::string hint_name_;
  const int64_t hint_size_;
  // The state shown before the first look-up ended (why the network could
  // not be asked when the download was added).
  const DownloadState hint_state_;
  const std::string hint_detail_;
  const absl::Time started_;
  Outcome outcome_;
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
  // The saved state could not be used and was removed: the download is
  // dropped (as if cancelled).
  bool dropped_ = false;
  // A file with this cid already at the name (or "NAME (n)"): the run ends
  // done without fetching. Written under prepare_mu_ and mu_.
  std::string same_file_;
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
  // GetChunks calls refused by initial seeding.
  int64_t refusals_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t locate_passes_ ABSL_GUARDED_BY(mu_) = 0;
  bool relocate_now_ ABSL_GUARDED_BY(mu_) = false;
  // The last Locate's answer, whether one ever succeeded, and when the
  // next one is due (for the progress' detail).
  absl::Status last_locate_ ABSL_GUARDED_BY(mu_);
  bool located_once_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time next_locate_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The wait before the next Locate while no source is usable.
  absl::Duration relocate_backoff_ ABSL_GUARDED_BY(mu_);
  bool announce_ ABSL_GUARDED_BY(mu_) = false;
  std::map<grpc::ClientContext*, Stream*> streams_ ABSL_GUARDED_BY(mu_);
  std::set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, int64_t>> samples_ ABSL_GUARDED_BY(mu_);
  absl::Time last_tick_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // The file's name once known.
  std::string shown_name_ ABSL_GUARDED_BY(mu_);

};
}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_DOWNLOAD_H_
