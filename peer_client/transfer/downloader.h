// The download engine: fetches files by cid from every peer that holds them
// at once, verifying every chunk before it is written, and resuming after a
// crash without fetching verified chunks again.
//
// One download (a transfer) runs on its own threads:
// - Sources: Locate names them; Locate is asked again (every second at
//   first, then every relocate_interval) and new sources, other
//   downloaders among them, join in. Each source gets its manifest
//   checked (against the cid, its peer id, a safe name; a source whose
//   manifest differs from the file's is dropped), then asks the source for
//   an upload slot (RequestSlot; while queued it asks again when told and
//   its queue place is shown; UNIMPLEMENTED counts as granted), then runs
//   streams_per_source GetChunks calls at once, each for several chunks, so
//   that one source keeps its link full, and is followed with WatchHaves
//   (what it holds as it verifies more; a seed's initial seeding hints).
//   The ChunkScheduler decides which chunks each source is asked for
//   (rarest first, extents in a random order per download among equals, a
//   window per source that follows its rate, only unsent chunks of a seed
//   in initial seeding, an endgame with duplicates).
// - Chunks are received without a copy (raw_chunk.h), hashed on the
//   receiving thread, checked against the manifest and written at their
//   offset into OUT_DIR/.NAME.trove-part, never under the engine's lock. A
//   source that sends a bad chunk or manifest is dropped for this download
//   and reported (SourceDirectory::ReportBadSource); its chunks, like those
//   of a source that fails or stalls, go back to the others.
// - Resume: with Options::state_dir set, the download is saved there
//   (resume_journal.h) and every verified chunk is journaled once durable.
//   ResumeSaved() restarts saved downloads (after a restart or a crash)
//   without hashing the part file again unless it changed while the daemon
//   was down.
// - Sharing: while it runs, the verified chunks are served to other peers:
//   the Downloader is a FileCatalog of its downloads in progress (partial
//   entries, see file_catalog.h), and PartialFiles() lists them for the
//   supernode.
// - When every chunk is verified the part file is fsynced and renamed to
//   OUT_DIR/NAME (or "NAME (1)"..., never replacing a file), and the
//   completed listener is told (before the partial entry is withdrawn).
// - Bytes received are counted per source (DownloadProgress::received) and,
//   with Options::ledger, per peer for the upload slots' credit.
//
// Downloads belong to the downloader, not to whoever asked for them: Add
// starts one and returns; any number of callers Watch it (and stop watching)
// without changing it; Pause, Resume and Cancel are the only ways to stop
// it. Nothing ends a download by itself but its completion or a local
// error (a file that cannot be written: state kFailed, data kept, Resume
// tries again): when its sources are gone, lie or lack what is still needed
// it waits for sources (kWaitingForSources), looking them up again with
// backoff, and keeps every verified chunk; before the network can be asked
// it waits for it (kWaitingForNetwork). Paused downloads stay paused across
// restarts (ResumeSaved); only Cancel removes a download's part file and
// saved state.
//
// A download that finds the same file (same cid) at its name in its folder,
// or at "NAME (n)", is done at once (already_there) instead of making
// another copy.
//
// Thread-safe.
#ifndef TROVE_PEER_CLIENT_TRANSFER_DOWNLOADER_H_
#define TROVE_PEER_CLIENT_TRANSFER_DOWNLOADER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/tls_credentials.h"
#include "peer_client/file_catalog.h"
#include "peer_client/transfer/download_types.h"
#include "peer_client/transfer/rate_limiter.h"
#include "peer_client/transfer/source_directory.h"
#include "peer_client/transfer/transfer_ledger.h"
#include "protos/types.pb.h"

namespace trove {

class Download;
class DownloadEntry;

class Downloader : public FileCatalog {
 public:
  struct Options {
    // This peer's id: sources with it are skipped; sent as requester_id in
    // RequestSlot and GetChunks.
    std::string own_peer_id;
    // TLS to sources: each connection is accepted only from the peer whose
    // key hashes to the source's peer id. Null: the process's default
    // (common/server_util DefaultTls()).
    std::shared_ptr<const TlsContext> tls;
    // Most chunks asked in one GetChunks call.
    int chunks_per_request = 8;
    // GetChunks calls in flight per source. The most chunks in flight at
    // one source is chunks_per_request * streams_per_source.
    int streams_per_source = 4;
    // Connections per source the streams are spread over. Over TLS each
    // connection's records are encrypted and decrypted by one thread at a
    // time at each end; more than one lets more cores do it where the
    // cores are not all busy already (bench/RESULTS.md, TLS profile).
    int connections_per_source = 1;
    // GetChunks calls in flight per download, over all its sources (more
    // concurrent streams only cost CPU once the link is full).
    int max_requests = 8;
    // Fewest chunks in flight at a source, and how many seconds of a
    // source's measured rate its window of chunks in flight covers.
    int min_window = 2;
    double window_seconds = 0.5;
    // Chunks per extent: among equally rare chunks, each download takes
    // extents of this many consecutive chunks in its own random order
    // (chunk_scheduler.h).
    int extent_chunks = 4;
    // Seeds that order; empty: a fresh random seed per download.
    std::optional<uint64_t> scheduler_seed;
    // Most sources used at once by one download.
    int max_sources = 16;
    // Time allowed for a manifest or a slot request.
    absl::Duration manifest_timeout = absl::Seconds(10);
    // A source that sends nothing for this long is dropped.
    absl::Duration stall_timeout = absl::Seconds(30);
    // How often progress is reported.
    absl::Duration progress_interval = absl::Milliseconds(250);
    // How often sources are located again while downloading (and partial
    // sources' manifests asked again, for peers that do not answer
    // WatchHaves); the first `fast_relocates` times, and while no source is
    // left, every fast_relocate_interval instead.
    absl::Duration relocate_interval = absl::Seconds(5);
    int fast_relocates = 10;
    absl::Duration fast_relocate_interval = absl::Seconds(1);
    // A source that failed (not one that lied) is tried again after this,
    // if it is still listed.
    absl::Duration source_retry = absl::Seconds(30);
    // While no source is usable, sources are looked up again after
    // fast_relocate_interval, then twice as long each time, up to this.
    absl::Duration max_relocate_backoff = absl::Seconds(30);
    // Longest wait between two slot requests while queued.
    absl::Duration max_slot_retry = absl::Seconds(30);
    // Where a request without a folder goes (absolute; empty: such
    // requests are refused).
    std::string default_out_dir;
    // Finished downloads kept in List (the oldest are forgotten first).
    int max_finished = 100;
    // Where downloads are saved for resuming (STATE/transfers); empty: not
    // saved.
    std::string state_dir;
    // Group commit of the resume journal: a record every this many chunks,
    // or after this delay.
    int journal_batch_chunks = 16;
    absl::Duration journal_max_delay = absl::Milliseconds(500);
    // Threads hashing journaled chunks again when a part file changed.
    int verify_threads = 2;
    // Download bandwidth limits (total and per source); null: unlimited.
    // Not owned; must outlive the downloader.
    PeerRateLimiter* limiter = nullptr;
    // Counts the bytes received per peer; null: not counted. Not owned;
    // must outlive the downloader.
    TransferLedger* ledger = nullptr;
    // The clock for rates, stalls and timeouts; null: Clock::Real(). Must
    // outlive the downloader.
    Clock* clock = nullptr;
  };

  // `directory` must outlive the downloader.
  Downloader(SourceDirectory* directory, Options options);
  // Shutdown().
  ~Downloader() override;
  Downloader(const Downloader&) = delete;
  Downloader& operator=(const Downloader&) = delete;

  // Adds the download of `request.cid`, or finds the one of that cid
  // already known (resuming it when paused or failed, unless
  // request.paused), and returns its progress now (`existing` tells which).
  // A cid that is done already, with its file still in the folder asked
  // for (or any folder when none is asked for), is returned as done with
  // already_there set.
  // Errors: INVALID_ARGUMENT for a malformed cid, folder or name, or when
  // the network's size or name of the file disagrees with the link's
  // (expected_size, expected_name); NOT_FOUND when the network is reachable
  // and no other peer holds the cid (nothing is added then);
  // FAILED_PRECONDITION when the cid is being downloaded into another
  // folder or under another name than asked for; UNAVAILABLE while
  // shutting down; file system errors for the output folder.
  struct AddResult {
    DownloadProgress progress;
    bool existing = false;
  };
  absl::StatusOr<AddResult> Add(const DownloadRequest& request);

  // Follows the download of `cid`, calling `progress` from the calling
  // thread every progress interval while it changes and once at the end,
  // until it is done (returns the final path), failed (its error) or
  // cancelled (CANCELLED), or until `cancelled` (may be empty; polled)
  // returns true: then CANCELLED, and the download goes on. NOT_FOUND when
  // the downloader knows no download of `cid`.
  absl::StatusOr<std::string> Watch(
      const std::string& cid,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled);

  // Add, then Watch.
  absl::StatusOr<std::string> Fetch(
      const DownloadRequest& request,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled);

  // Stops the download of `cid`, keeping its data and saved state, and
  // marks it paused (also in the saved state, so it stays paused after a
  // restart). Returns its progress once stopped. NOT_FOUND for an unknown
  // cid; FAILED_PRECONDITION when it is done.
  absl::StatusOr<DownloadProgress> Pause(const std::string& cid);

  // Starts a paused or failed download again. Returns its progress.
  // NOT_FOUND for an unknown cid; FAILED_PRECONDITION when it is done.
  absl::StatusOr<DownloadProgress> Resume(const std::string& cid);

  // Stops the download of `cid` and removes its part file and saved state
  // (a finished download is only forgotten: its file stays). Returns its
  // last progress (state kCancelled). NOT_FOUND for an unknown cid.
  absl::StatusOr<DownloadProgress> Cancel(const std::string& cid);

  // Adds every saved download not known yet (after a restart): paused ones
  // stay paused, the others start. Returns how many were started. Saved
  // state that cannot be used (a part file gone, an unreadable manifest)
  // is logged and removed.
  int ResumeSaved();

  // Stops every download, keeping their saved state (and part files) for
  // ResumeSaved; waits for their threads. Later Add calls fail with
  // UNAVAILABLE. Idempotent.
  void Shutdown();

  // Every download known, in the order they were added: running, paused,
  // failed, and the last finished ones (Options::max_finished).
  std::vector<DownloadProgress> List() const;

  // The downloads not finished (running, paused or failed).
  std::vector<DownloadProgress> Transfers() const;

  // Downloads in progress that hold at least one verified chunk, for the
  // supernode (PublishRequest.partial).
  std::vector<FileEntry> PartialFiles() const;

  // Called (from any thread, without locks held) whenever PartialFiles()
  // changes. Set before the first download.
  void SetPartialFilesListener(std::function<void()> listener);

  // Called on a download's thread, without the downloader's locks, when a
  // download completed, before its partial entry is withdrawn (so that a
  // listener that shares the file leaves no moment when it is not served).
  // Set before the first download.
  void SetCompletedListener(
      std::function<void(const CompletedDownload&)> listener);

  // FileCatalog: the partial entry of a download in progress that holds at
  // least one verified chunk.
  std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const override;

  const Options& options() const { return options_; }

 private:
  friend class Download;

  // Starts a run of `entry` (from its saved state when `resume`), shown in
  // `state` until the run says more.
  void StartRunLocked(const std::shared_ptr<DownloadEntry>& entry, bool resume,
                      DownloadState state = DownloadState::kLocating,
                      const std::string& detail = "")
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called by a run's thread at its very end.
  void RunEnded(Download* run);
  // Stops the run of `entry` for `why` and waits until it ended.
  void StopRun(const std::shared_ptr<DownloadEntry>& entry, int why)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<DownloadEntry> FindLocked(const std::string& cid) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the oldest finished entries beyond max_finished.
  void TrimFinishedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether a saved download of `cid` has its manifest (it can resume).
  bool HasSavedManifest(const std::string& cid) const;
  // Saves entry's meta (with `paused`) when downloads are saved.
  void SaveMeta(const DownloadEntry& entry, bool paused);
  void SetPartial(const std::string& cid, std::shared_ptr<const SharedFile> f);
  void PartialsChanged();
  void NotifyCompleted(const CompletedDownload& done);
  void JoinFinishedThreads();

  SourceDirectory* const directory_;
  const Options options_;

  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Every download known, by cid.
  std::map<std::string, std::shared_ptr<DownloadEntry>> entries_
      ABSL_GUARDED_BY(mu_);
  int64_t next_order_ ABSL_GUARDED_BY(mu_) = 0;
  // Part files being written, so two downloads never share one.
  std::set<std::string> active_parts_ ABSL_GUARDED_BY(mu_);
  // Partial entries of downloads in progress, by cid.
  std::map<std::string, std::shared_ptr<const SharedFile>> partials_
      ABSL_GUARDED_BY(mu_);
  // Threads of runs that ended, to join.
  std::vector<std::thread> finished_threads_ ABSL_GUARDED_BY(mu_);
  std::function<void()> partials_listener_ ABSL_GUARDED_BY(mu_);
  std::function<void(const CompletedDownload&)> completed_listener_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_DOWNLOADER_H_
