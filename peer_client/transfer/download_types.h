// What a download is asked for and what it reports: the types the download
// engine shares with the daemon and the command line.
#ifndef TROVE_PEER_CLIENT_TRANSFER_DOWNLOAD_TYPES_H_
#define TROVE_PEER_CLIENT_TRANSFER_DOWNLOAD_TYPES_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "common/merkle.h"

namespace trove {

struct DownloadRequest {
  // The content id to fetch.
  std::string cid;
  // Absolute folder to write into; made when missing. Empty: the
  // downloader's default folder (and any folder when the cid is being
  // downloaded already).
  std::string out_dir;
  // Name to give the file; empty: the name the source uses.
  std::string name;
  // What a share link said of the file: its size (-1: nothing) and name
  // (empty: nothing). A download whose sources disagree is refused.
  int64_t expected_size = -1;
  std::string expected_name;
  // Added paused: saved, but nothing is fetched until it is resumed.
  bool paused = false;
};

// Where a download is in its life.
enum class DownloadState {
  // Not joined to the network yet (or it cannot be reached): sources are
  // looked up once it is.
  kWaitingForNetwork,
  // Looking up sources, or asking the first ones for the manifest.
  kLocating,
  // No source holds what is still needed: looked up again with backoff.
  // Every verified chunk is kept.
  kWaitingForSources,
  // Every source has this peer in its upload queue.
  kQueued,
  // Receiving chunks.
  kDownloading,
  // Stopped by the user; resumed by the user (across daemon restarts too).
  kPaused,
  // Complete at its path.
  kDone,
  // Stopped by a local error (disk, file name); its data is kept and a
  // resume tries again.
  kFailed,
  // Cancelled by the user: its part file and saved state are gone.
  kCancelled,
};

// "waiting_for_network", "locating", "waiting_for_sources", "queued",
// "downloading", "paused", "done", "failed", "cancelled".
const char* DownloadStateName(DownloadState state);
// The same for people: "waiting for the network", "looking for sources",
// "waiting for sources", ...
const char* DownloadStateText(DownloadState state);
// True for the states in which nothing more happens by itself (done,
// failed, cancelled).
bool IsFinalState(DownloadState state);

// What one peer gave a download.
struct SourceBytes {
  std::string peer_id;
  std::string address;
  // Verified bytes received from it (by this run of the daemon).
  int64_t bytes = 0;
  // It held only part of the file when it joined (another downloader).
  bool partial = false;
};

// Where a download stands.
struct DownloadProgress {
  std::string cid;
  // Where it stands, and why when it waits or failed ("no peer shares it
  // now; looking again in 8s").
  DownloadState state = DownloadState::kLocating;
  std::string detail;
  // The folder it goes into.
  std::string out_dir;
  // The file's name (empty until a manifest arrived).
  std::string name;
  // Bytes verified and written (including those resumed), and the file
  // size (0 until known).
  int64_t done_bytes = 0;
  int64_t size = 0;
  // Sources sending now (holding an upload slot).
  int sources = 0;
  // Recent rate, bytes per second (on the final message: the average).
  double bytes_per_second = 0;
  // Best (lowest) queue place held at a source that has not granted a slot
  // yet; 0 when none is queued.
  int queue_position = 0;
  // Chunks received from the network by this run (verified or not), and
  // chunks found verified in the resume journal at start.
  int64_t chunks_fetched = 0;
  int64_t chunks_resumed = 0;
  // Journaled chunks hashed again at start because the part file changed
  // while the download was stopped.
  int64_t chunks_rehashed = 0;
  // Sources dropped for sending data that failed verification.
  int bad_sources = 0;
  // Bytes received from each peer used so far, most first.
  std::vector<SourceBytes> received;
  // Set once the file is complete at `path`.
  bool done = false;
  std::string path;
  // Done because the same file was in the folder already (nothing was
  // fetched).
  bool already_there = false;
};

// A download that completed.
struct CompletedDownload {
  // Where the file is now, and its size and verified chunk hashes (cid
  // included).
  std::string path;
  FileHashes hashes;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_DOWNLOAD_TYPES_H_
