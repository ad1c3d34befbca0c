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
// A Fetch for a cid already being downloaded attaches to that download and
// follows its progress (the first request's folder and name win). A
// download started by Fetch ends, with nothing left at the final name and
// no part file (unless keep_partial_on_failure), when it fails or its last
// watcher cancels. A download resumed by ResumeSaved runs on its own: it
// keeps looking for sources. One resumed from saved state keeps that state
// when it cannot finish (only a cancel removes it). Shutdown() stops every
// download and keeps their saved state.
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
    // A download started by Fetch fails when, for this long, no source
    // holds any of the chunks it still needs.
    absl::Duration stuck_timeout = absl::Seconds(30);
    // Longest wait between two slot requests while queued.
    absl::Duration max_slot_retry = absl::Seconds(30);
    // Leave OUT_DIR/.NAME.trove-part (and its saved state) on disk when a
    // download fails.
    bool keep_partial_on_failure = false;
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

  // Downloads `request.cid` into `request.out_dir`, or attaches to the
  // download of that cid already running (or saved), calling `progress`
  // from the calling thread every progress interval and once at the end
  // (done set), and returns the final path. `cancelled` (may be empty) is
  // polled; when it returns true this call returns CANCELLED, and the
  // download stops unless other calls watch it or it was resumed.
  // Errors: INVALID_ARGUMENT for a malformed cid, folder or name;
  // NOT_FOUND when no other peer holds the cid; ALREADY_EXISTS when another
  // file with the same name is being downloaded into the same folder;
  // UNAVAILABLE when every source failed or the downloader is shutting
  // down; DATA_LOSS when every source that answered sent bad data; file
  // system errors for the output folder.
  absl::StatusOr<std::string> Fetch(
      const DownloadRequest& request,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled);

  // Starts every saved download that is not running (after a restart).
  // Returns how many were started. Saved state that cannot be used (a part
  // file gone, an unreadable manifest) is logged and removed.
  int ResumeSaved();

  // Stops every download, keeping their saved state (and part files) for
  // ResumeSaved; waits for their threads. Later Fetch calls fail with
  // UNAVAILABLE. Idempotent.
  void Shutdown();

  // Downloads in progress.
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

  // Starts `d` and registers it. REQUIRES: mu_ held.
  void StartLocked(std::shared_ptr<Download> d)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Called by a download's thread at its very end.
  void Finished(Download* d);
  void SetPartial(const std::string& cid, std::shared_ptr<const SharedFile> f);
  void PartialsChanged();
  void NotifyCompleted(const CompletedDownload& done);
  void JoinFinishedThreads();

  SourceDirectory* const directory_;
  const Options options_;

  mutable absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Downloads running, by cid.
  std::map<std::string, std::shared_ptr<Download>> transfers_
      ABSL_GUARDED_BY(mu_);
  // Part files being written, so two downloads never share one.
  std::set<std::string> active_parts_ ABSL_GUARDED_BY(mu_);
  // Partial entries of downloads in progress, by cid.
  std::map<std::string, std::shared_ptr<const SharedFile>> partials_
      ABSL_GUARDED_BY(mu_);
  // Threads of downloads that ended, to join.
  std::vector<std::thread> finished_threads_ ABSL_GUARDED_BY(mu_);
  std::function<void()> partials_listener_ ABSL_GUARDED_BY(mu_);
  std::function<void(const CompletedDownload&)> completed_listener_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_DOWNLOADER_H_
