// The download engine: fetches one file by cid from the peers that hold it,
// verifying every chunk before it is written.
//
// Fetch: Locate the cid through the SourceDirectory; for each source in turn
// (skipping this peer) get its manifest and check it (cid, size, chunk
// hashes, a safe file name, the peer id the directory named); stream chunks
// with GetChunks, a window of requests per source as the ChunkScheduler
// decides, check each chunk's SHA-256 and pwrite it into
// OUT_DIR/.NAME.trove-part; a source that sends a bad chunk or manifest is
// dropped and reported, one that fails is dropped, and the next source
// continues where it stopped. When every chunk is verified the file is
// fsynced and renamed to OUT_DIR/NAME (or "NAME (1)"..., never replacing a
// file). On failure nothing is left at the final name.
//
// The scheduler already handles many sources at once; today one source is
// used at a time.
//
// Thread-safe: several Fetch calls may run at once (each on its own thread).
#ifndef TROVE_PEER_CLIENT_DOWNLOADER_H_
#define TROVE_PEER_CLIENT_DOWNLOADER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "peer_client/source_directory.h"

namespace trove {

struct DownloadRequest {
  // The content id to fetch.
  std::string cid;
  // Absolute folder to write into; made when missing.
  std::string out_dir;
  // Name to give the file; empty: the name the source uses.
  std::string name;
};

// Where a download stands.
struct DownloadProgress {
  std::string cid;
  // The file's name (empty until a manifest arrived).
  std::string name;
  // Bytes verified and written, and the file size (0 until known).
  int64_t done_bytes = 0;
  int64_t size = 0;
  // Sources in use now.
  int sources = 0;
  // Recent rate, bytes per second.
  double bytes_per_second = 0;
  // Set once the file is complete at `path`.
  bool done = false;
  std::string path;
};

// Makes a channel to a peer's address.
using ChannelFactory =
    std::function<std::shared_ptr<grpc::Channel>(const std::string& address)>;

class Downloader {
 public:
  struct Options {
    // This peer's id: sources with it are skipped.
    std::string own_peer_id;
    // Channels to sources; common/server_util MakeChannel when empty.
    ChannelFactory channel_factory;
    // Chunks asked in one GetChunks call.
    int chunks_per_request = 8;
    // GetChunks calls in flight per source.
    int streams_per_source = 2;
    // Time allowed for a manifest.
    absl::Duration manifest_timeout = absl::Seconds(10);
    // A source that sends nothing for this long is dropped.
    absl::Duration stall_timeout = absl::Seconds(30);
    // How often progress is reported.
    absl::Duration progress_interval = absl::Milliseconds(250);
    // Most sources tried for one download.
    int max_sources_tried = 16;
    // Leave OUT_DIR/.NAME.trove-part on disk when a download fails.
    bool keep_partial_on_failure = false;
    // The clock for rates and stall detection; absl::Now when empty.
    std::function<absl::Time()> now;
  };

  // `directory` must outlive the downloader.
  Downloader(SourceDirectory* directory, Options options);

  // Downloads `request.cid` into `request.out_dir`, calling `progress` from
  // the calling thread every progress interval and once at the end (done
  // set), and returns the final path. `cancelled` (may be empty) is polled;
  // when it returns true the download stops with CANCELLED.
  // Errors: INVALID_ARGUMENT for a malformed cid, folder or name;
  // NOT_FOUND when no other peer holds the cid; ALREADY_EXISTS when the same
  // file is being downloaded into the same folder; UNAVAILABLE when every
  // source failed; DATA_LOSS when every source that answered sent bad data;
  // file system errors for the output folder.
  absl::StatusOr<std::string> Fetch(
      const DownloadRequest& request,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled);

  // Downloads in progress.
  std::vector<DownloadProgress> Transfers() const;

  const Options& options() const { return options_; }

 private:
  friend class Download;

  SourceDirectory* const directory_;
  const Options options_;

  mutable absl::Mutex mu_;
  int next_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, DownloadProgress> transfers_ ABSL_GUARDED_BY(mu_);
  // Part files being written, so two downloads never share one.
  std::set<std::string> active_parts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_DOWNLOADER_H_
