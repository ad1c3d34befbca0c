// Crash-safe resume state of downloads: one folder per download,
// STATE/transfers/<cid>/, holding
//   meta      where the file goes (out_dir, name, part file path), what the
//             link said of it, and whether the user paused it; written
//             when the download is added, before any source is known;
//   manifest  the checked manifest (trove.peer.Manifest), written once the
//             first source answered;
//   journal   an append-only list of records, each naming chunks that are
//             verified and durable in the part file.
//
// The invariant: after a crash at any moment (SIGKILL, and power loss on a
// file system that keeps fdatasync's promise) the journal never claims a
// chunk that is not on disk intact. It holds because a chunk is recorded
// only after (1) its bytes were verified against the manifest, (2) written
// into the part file, and (3) made durable by an fdatasync of the part file
// that began after the write returned; the record is appended after that
// sync. A record is checksummed, so a record torn by a crash (or garbage
// after it) is ignored, with everything after it, and cut off before the
// journal is appended to again.
//
// Each record also holds the part file's stamp (size, mtime, inode) taken
// after its sync. On resume, a part file whose stamp differs from the last
// record's was written after that record: by this peer after the last
// flush (the usual case after a crash), or by someone else while the
// daemon was down. Either way only the journaled chunks are hashed again and
// the bad ones dropped (fetched again); when the stamp matches, nothing is
// hashed.
//
// Records are written in batches (group commit): JournalWriter collects
// chunks as they are written and, every batch_chunks chunks or max_delay,
// syncs the part file and appends one record for all of them. After a
// crash, at most the chunks in flight plus one unflushed batch are fetched
// again.
#ifndef TROVE_PEER_CLIENT_TRANSFER_RESUME_JOURNAL_H_
#define TROVE_PEER_CLIENT_TRANSFER_RESUME_JOURNAL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/merkle.h"
#include "peer_client/transfer/part_file.h"
#include "protos/peer.pb.h"

namespace trove {

// One journal record: chunks made durable by one sync of the part file, and
// the part file's stamp right after that sync.
struct JournalRecord {
  FileStamp stamp;
  std::vector<uint32_t> chunks;
};

// The bytes of one record: magic "TRJ1", payload length, payload (stamp,
// count, chunk indexes; little-endian), then the first 8 bytes of the
// SHA-256 of everything before them.
std::string EncodeJournalRecord(const JournalRecord& record);

// The records at the start of `bytes`, up to the first one that is
// incomplete or fails its checksum (a torn tail: it and what follows are
// ignored). `valid_bytes`, when given, is set to the length of the good
// prefix.
std::vector<JournalRecord> DecodeJournal(absl::string_view bytes,
                                         size_t* valid_bytes = nullptr);

// Where records go: an append-only file. An interface so that tests can
// observe the order of syncs and appends.
class JournalSink {
 public:
  virtual ~JournalSink() = default;
  // Appends `bytes` at the end in one write.
  virtual absl::Status Append(absl::string_view bytes) = 0;
  // Makes the appended bytes durable.
  virtual absl::Status Sync() = 0;
};

// Records chunks in batches: the group commit described above. Thread-safe.
class JournalWriter {
 public:
  struct Options {
    // A flush starts once this many chunks wait...
    int batch_chunks = 16;
    // ... or when the oldest waiting chunk has waited this long.
    absl::Duration max_delay = absl::Milliseconds(500);
    // Whether a background thread flushes; without it only Flush() does
    // (tests).
    bool background = true;
  };

  // `data` (the part file) and `journal` must outlive the writer.
  JournalWriter(SyncableFile* data, JournalSink* journal, Options options);
  // Stops the background thread without a last flush (see Close).
  ~JournalWriter();
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Chunk `index` is verified and written. REQUIRES: the write that put its
  // bytes in the part file has returned.
  void Add(uint32_t index);

  // Syncs the part file, then appends one record for every chunk added
  // before this call (none: nothing is written). The first error (of the
  // sync, the stamp or the append) is returned, kept in status(), and
  // stops all later flushes: the chunks concerned are never recorded.
  absl::Status Flush();

  // Flush, stop the background thread, then sync the journal.
  absl::Status Close();

  // The first error met, or OK.
  absl::Status status() const;
  // Chunks recorded so far.
  int64_t recorded_count() const;

 private:
  void Loop();

  SyncableFile* const data_;
  JournalSink* const journal_;
  const Options options_;
  absl::Mutex flush_mu_;  // Serializes flushes; taken before mu_.
  mutable absl::Mutex mu_;
  absl::CondVar wake_;
  std::vector<uint32_t> pending_ ABSL_GUARDED_BY(mu_);
  absl::Time oldest_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  int64_t recorded_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// Where a download's file goes.
struct TransferMeta {
  // Absolute output folder, final file name, and the part file's path
  // (name and part_path are empty until the manifest is known, unless the
  // name was asked for).
  std::string out_dir;
  std::string name;
  std::string part_path;
  // What the share link said: size (-1: nothing) and name (empty: nothing).
  int64_t expected_size = -1;
  std::string expected_name;
  // Paused by the user: not resumed at start.
  bool paused = false;
};

// What a saved download holds.
struct SavedTransfer {
  std::string cid;
  // As saved: the caller checks it against the cid again. Only when
  // has_manifest (a download added while no source had answered yet has
  // none).
  bool has_manifest = false;
  peer::Manifest manifest;
  TransferMeta meta;
  // Chunks the journal records, each once, in order.
  std::vector<uint32_t> chunks;
  // The stamp of the last good record (none: no record).
  std::optional<FileStamp> last_stamp;
  // Bytes of the journal that decoded, and whether bytes after them were
  // ignored (a torn tail).
  size_t valid_bytes = 0;
  bool torn_tail = false;
};

// An open journal file, appended to with O_APPEND.
class JournalFile final : public JournalSink {
 public:
  ~JournalFile() override;
  absl::Status Append(absl::string_view bytes) override;
  absl::Status Sync() override;

 private:
  friend class TransferStore;
  JournalFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  const std::string path_;
  const int fd_;
};

// The saved downloads under one folder (STATE/transfers). Thread-safe
// (each call works on its own files).
class TransferStore {
 public:
  explicit TransferStore(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  // The folder of `cid`'s download.
  std::string Dir(const std::string& cid) const;

  // Cids of the saved downloads (folders named by a valid cid).
  std::vector<std::string> List() const;

  // Saves a new download: its folder with the manifest and meta (written
  // and synced before this returns), and an empty journal opened for
  // appending. Replaces what was saved for the cid before.
  absl::StatusOr<std::unique_ptr<JournalFile>> Create(
      const std::string& cid, const peer::Manifest& manifest,
      const TransferMeta& meta);

  // Saves (or replaces) only the meta of `cid`, making its folder when
  // missing: a download added before its manifest is known, or a change of
  // its paused flag. The manifest and journal, if any, stay.
  absl::Status SaveMeta(const std::string& cid, const TransferMeta& meta);

  // Reads a saved download. NOT_FOUND when there is none; DATA_LOSS when
  // its meta, or a manifest that is there, cannot be read.
  absl::StatusOr<SavedTransfer> Load(const std::string& cid) const;

  // Replaces the journal of `cid` by the one record `compacted` (written
  // to a temporary file, synced and renamed: a crash leaves the old or the
  // new journal) and opens it for appending.
  absl::StatusOr<std::unique_ptr<JournalFile>> Rewrite(
      const std::string& cid, const JournalRecord& compacted);

  // Removes the saved download of `cid` (nothing when there is none).
  absl::Status Remove(const std::string& cid);

 private:
  const std::string root_;
};

// Hashes the chunks `chunks` of `part` again and returns those that match
// `hashes` (a file of `size` bytes), in order. Uses up to `threads` threads.
std::vector<uint32_t> ReverifyChunks(PartFile* part,
                                     const std::vector<Hash>& hashes,
                                     int64_t size,
                                     const std::vector<uint32_t>& chunks,
                                     int threads);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_RESUME_JOURNAL_H_
