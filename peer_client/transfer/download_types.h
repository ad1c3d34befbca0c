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
  // Absolute folder to write into; made when missing.
  std::string out_dir;
  // Name to give the file; empty: the name the source uses.
  std::string name;
};

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
