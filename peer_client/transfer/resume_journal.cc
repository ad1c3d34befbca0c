#include "peer_client/transfer/resume_journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/validation.h"

namespace trove {
namespace {

constexpr char kMagic[4] = {'T', 'R', 'J', '1'};
constexpr size_t kHeaderBytes = 8;     // Magic + payload length.
constexpr size_t kChecksumBytes = 8;
constexpr size_t kStampBytes = 8 + 8 + 8;
// Far more than any batch; a bigger length is garbage.
constexpr uint32_t kMaxPayloadBytes = 64u << 20;

void Put32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

void Put64(std::string* out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

std::string Checksum(absl::string_view bytes) {
  Hash h = Sha256(bytes);
  return std::string(reinterpret_cast<const char*>(h.data()), kChecksumBytes);
}

void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// Removes a folder and the files in it (no subfolders are expected).
absl::Status RemoveFolder(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoToStatus(errno, absl::StrCat("open ", dir));
  }
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    ::unlink(absl::StrCat(dir, "/", n).c_str());
  }
  ::closedir(d);
  if (::rmdir(dir.c_str()) != 0 && errno != ENOENT) {
    return ErrnoToStatus(errno, absl::StrCat("remove ", dir));
  }
  return absl::OkStatus();
}

std::string EncodeMeta(const TransferMeta& m) {
  std::string out = absl::StrCat(
      "trove-transfer 1\n", "out_dir=", absl::CEscape(m.out_dir), "\n",
      "name=", absl::CEscape(m.name), "\n", "part=", absl::CEscape(m.part_path),
      "\n");
  if (m.expected_size >= 0) {
    absl::StrAppend(&out, "expected_size=", m.expected_size, "\n");
  }
  if (!m.expected_name.empty()) {
    absl::StrAppend(&out, "expected_name=", absl::CEscape(m.expected_name),
                    "\n");
  }
  if (m.paused) absl::StrAppend(&out, "paused=1\n");
  return out;
}

absl::StatusOr<TransferMeta> DecodeMeta(absl::string_view text) {
  TransferMeta m;
  bool header = false, out_dir = false, name = false, part = false;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line == "trove-transfer 1") {
      header = true;
      continue;
    }
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits('=', 1));
    std::string value;
    if (!absl::CUnescape(kv.second, &value)) {
      return absl::DataLossError(absl::StrCat("bad meta line: ", line));
    }
    if (kv.first == "out_dir") {
      m.out_dir = value;
      out_dir = true;
    } else if (kv.first == "name") {
      m.name = value;
      name = true;
    } else if (kv.first == "part") {
      m.part_path = value;
      part = true;
    } else if (kv.first == "expected_size") {
      if (!absl::SimpleAtoi(value, &m.expected_size)) {
        return absl::DataLossError(absl::StrCat("bad meta line: ", line));
      }
    } else if (kv.first == "expected_name") {
      m.expected_name = value;
    } else if (kv.first == "paused") {
      m.paused = value == "1";
    }
  }
  if (!header || !out_dir || !name || !part) {
    return absl::DataLossError("meta is incomplete");
  }
  return m;
}

}  // namespace

std::string EncodeJournalRecord(const JournalRecord& record) {
  std::string out(kMagic, sizeof(kMagic));
  const uint32_t payload =
      static_cast<uint32_t>(kStampBytes + 4 + 4 * record.chunks.size());
  Put32(&out, payload);
  Put64(&out, static_cast<uint64_t>(record.stamp.size));
  Put64(&out, static_cast<uint64_t>(record.stamp.mtime_ns));
  Put64(&out, record.stamp.inode);
  Put32(&out, static_cast<uint32_t>(record.chunks.size()));
  for (uint32_t c : record.chunks) Put32(&out, c);
  out += Checksum(out);
  return out;
}

std::vector<JournalRecord> DecodeJournal(absl::string_view bytes,
                                         size_t* valid_bytes) {
  std::vector<JournalRecord> out;
  size_t pos = 0;
  while (bytes.size() - pos >= kHeaderBytes) {
    const char* p = bytes.data() + pos;
    if (std::memcmp(p, kMagic, sizeof(kMagic)) != 0) break;
    const uint32_t payload = Get32(p + 4);
    if (payload < kStampBytes + 4 || payload > kMaxPayloadBytes ||
        (payload - kStampBytes - 4) % 4 != 0) {
      break;
    }
    const size_t total = kHeaderBytes + payload + kChecksumBytes;
    if (bytes.size() - pos < total) break;
    if (Checksum(absl::string_view(p, kHeaderBytes + payload)) !=
        absl::string_view(p + kHeaderBytes + payload, kChecksumBytes)) {
      break;
    }
    const char* q = p + kHeaderBytes;
    JournalRecord r;
    r.stamp.size = static_cast<int64_t>(Get64(q));
    r.stamp.mtime_ns = static_cast<int64_t>(Get64(q + 8));
    r.stamp.inode = Get64(q + 16);
    const uint32_t count = Get32(q + kStampBytes);
    if (count != (payload - kStampBytes - 4) / 4) break;
    r.chunks.reserve(count);
    for (uint32_t i = 0; i < count; ++i) {
      r.chunks.push_back(Get32(q + kStampBytes + 4 + 4 * i));
    }
    out.push_back(std::move(r));
    pos += total;
  }
  if (valid_bytes != nullptr) *valid_bytes = pos;
  return out;
}

// ---- JournalWriter

JournalWriter::JournalWriter(SyncableFile* data, JournalSink* journal,
                             Options options)
    : data_(data), journal_(journal), options_(options) {
  if (options_.background) thread_ = std::thread(&JournalWriter::Loop, this);
}

JournalWriter::~JournalWriter() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void JournalWriter::Add(uint32_t index) {
  absl::MutexLock lock(&mu_);
  if (pending_.empty()) oldest_ = absl::Now();
  pending_.push_back(index);
  if (static_cast<int>(pending_.size()) >= options_.batch_chunks) {
    wake_.Signal();
  }
}

absl::Status JournalWriter::Flush() {
  absl::MutexLock flush_lock(&flush_mu_);
  std::vector<uint32_t> batch;
  {
    absl::MutexLock lock(&mu_);
    if (!status_.ok()) return status_;
    batch.swap(pending_);
  }
  if (batch.empty()) return absl::OkStatus();
  // Every chunk in `batch` was written before it was added, so before this
  // sync starts: the sync covers them all.
  absl::Status st = data_->SyncData();
  JournalRecord record;
  if (st.ok()) {
    absl::StatusOr<FileStamp> stamp = data_->Stamp();
    if (stamp.ok()) {
      record.stamp = *stamp;
    } else {
      st = stamp.status();
    }
  }
  if (st.ok()) {
    std::sort(batch.begin(), batch.end());
    batch.erase(std::unique(batch.begin(), batch.end()), batch.end());
    record.chunks = std::move(batch);
    st = journal_->Append(EncodeJournalRecord(record));
  }
  absl::MutexLock lock(&mu_);
  if (!st.ok()) {
    if (status_.ok()) status_ = st;
    return st;
  }
  recorded_ += static_cast<int64_t>(record.chunks.size());
  return absl::OkStatus();
}

absl::Status JournalWriter::Close() {
  absl::Status st = Flush();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    wake_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
  absl::Status synced = journal_->Sync();
  return st.ok() ? synced : st;
}

absl::Status JournalWriter::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

int64_t JournalWriter::recorded_count() const {
  absl::MutexLock lock(&mu_);
  return recorded_;
}

void JournalWriter::Loop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      while (!stopping_) {
        if (static_cast<int>(pending_.size()) >= options_.batch_chunks) break;
        if (!pending_.empty() &&
            absl::Now() - oldest_ >= options_.max_delay) {
          break;
        }
        absl::Duration wait = pending_.empty()
                                  ? options_.max_delay
                                  : options_.max_delay - (absl::Now() - oldest_);
        wake_.WaitWithTimeout(&mu_, std::max(wait, absl::Milliseconds(1)));
      }
      if (stopping_) return;
    }
    if (!Flush().ok()) {
      // status() holds the error; nothing more is recorded.
      absl::MutexLock lock(&mu_);
      while (!stopping_) wake_.Wait(&mu_);
      return;
    }
  }
}

// ---- JournalFile

JournalFile::~JournalFile() { ::close(fd_); }

absl::Status JournalFile::Append(absl::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd_, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return ErrnoToStatus(errno, absl::StrCat("append to ", path_));
    done += static_cast<size_t>(w);
  }
  return absl::OkStatus();
}

absl::Status JournalFile::Sync() {
  if (::fdatasync(fd_) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("fdatasync ", path_));
  }
  return absl::OkStatus();
}

// ---- TransferStore

std::string TransferStore::Dir(const std::string& cid) const {
  return absl::StrCat(root_, "/", cid);
}

std::vector<std::string> TransferStore::List() const {
  std::vector<std::string> out;
  DIR* d = ::opendir(root_.c_str());
  if (d == nullptr) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (ValidateHexId(n, "cid").ok()) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

absl::StatusOr<std::unique_ptr<JournalFile>> TransferStore::Create(
    const std::string& cid, const peer::Manifest& manifest,
    const TransferMeta& meta) {
  absl::Status st = MakeDirs(root_, 0700);
  if (!st.ok()) return st;
  const std::string dir = Dir(cid);
  st = RemoveFolder(dir);
  if (!st.ok()) return st;
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("create ", dir));
  }
  SyncDir(root_);
  st = WriteFileAtomic(absl::StrCat(dir, "/manifest"),
                       manifest.SerializeAsString(), 0600);
  if (!st.ok()) return st;
  st = WriteFileAtomic(absl::StrCat(dir, "/meta"), EncodeMeta(meta), 0600);
  if (!st.ok()) return st;
  const std::string path = absl::StrCat(dir, "/journal");
  int fd = ::open(path.c_str(),
                  O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("create ", path));
  SyncDir(dir);
  return std::unique_ptr<JournalFile>(new JournalFile(path, fd));
}

absl::StatusOr<SavedTransfer> TransferStore::Load(const std::string& cid) const {
  const std::string dir = Dir(cid);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("no saved download of ", cid));
  }
  SavedTransfer out;
  out.cid = cid;
  absl::StatusOr<std::string> manifest = ReadFile(absl::StrCat(dir, "/manifest"));
  if (manifest.ok()) {
    if (!out.manifest.ParseFromString(*manifest)) {
      return absl::DataLossError(
          absl::StrCat("saved download ", cid, " has no readable manifest"));
    }
    out.has_manifest = true;
  } else if (!absl::IsNotFound(manifest.status())) {
    return absl::DataLossError(absl::StrCat("saved download ", cid,
                                            ": cannot read its manifest: ",
                                            manifest.status().message()));
  }
  absl::StatusOr<std::string> meta_text = ReadFile(absl::StrCat(dir, "/meta"));
  if (!meta_text.ok()) {
    return absl::DataLossError(
        absl::StrCat("saved download ", cid, " has no readable meta"));
  }
  absl::StatusOr<TransferMeta> meta = DecodeMeta(*meta_text);
  if (!meta.ok()) {
    return absl::DataLossError(absl::StrCat("saved download ", cid, ": ",
                                            meta.status().message()));
  }
  out.meta = std::move(*meta);
  absl::StatusOr<std::string> journal = ReadFile(absl::StrCat(dir, "/journal"));
  std::string bytes = journal.ok() ? std::move(*journal) : std::string();
  std::vector<JournalRecord> records = DecodeJournal(bytes, &out.valid_bytes);
  out.torn_tail = out.valid_bytes < bytes.size();
  std::set<uint32_t> chunks;
  for (const JournalRecord& r : records) {
    chunks.insert(r.chunks.begin(), r.chunks.end());
  }
  out.chunks.assign(chunks.begin(), chunks.end());
  if (!records.empty()) out.last_stamp = records.back().stamp;
  return out;
}

absl::Status TransferStore::SaveMeta(const std::string& cid,
                                     const TransferMeta& meta) {
  absl::Status st = MakeDirs(root_, 0700);
  if (!st.ok()) return st;
  const std::string dir = Dir(cid);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoToStatus(errno, absl::StrCat("create ", dir));
  }
  SyncDir(root_);
  return WriteFileAtomic(absl::StrCat(dir, "/meta"), EncodeMeta(meta), 0600);
}

absl::StatusOr<std::unique_ptr<JournalFile>> TransferStore::Rewrite(
    const std::string& cid, const JournalRecord& compacted) {
  const std::string path = absl::StrCat(Dir(cid), "/journal");
  absl::Status st =
      WriteFileAtomic(path, EncodeJournalRecord(compacted), 0600);
  if (!st.ok()) return st;
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("open ", path));
  return std::unique_ptr<JournalFile>(new JournalFile(path, fd));
}

absl::Status TransferStore::Remove(const std::string& cid) {
  absl::Status st = RemoveFolder(Dir(cid));
  if (st.ok()) SyncDir(root_);
  return st;
}

// ---- ReverifyChunks

std::vector<uint32_t> ReverifyChunks(PartFile* part,
                                     const std::vector<Hash>& hashes,
                                     int64_t size,
                                     const std::vector<uint32_t>& chunks,
                                     int threads) {
  std::vector<char> good(chunks.size(), 0);
  auto work = [&](size_t first, size_t step) {
    for (size_t i = first; i < chunks.size(); i += step) {
      const uint32_t index = chunks[i];
      if (index >= hashes.size()) continue;
      absl::StatusOr<std::string> data = part->ReadAt(
          static_cast<int64_t>(index) * kChunkSize, ChunkLength(size, index));
      good[i] = data.ok() && Sha256(*data) == hashes[index];
    }
  };
  const size_t n = static_cast<size_t>(std::max(1, threads));
  std::vector<std::thread> pool;
  for (size_t t = 1; t < n; ++t) pool.emplace_back(work, t, n);
  work(0, n);
  for (std::thread& t : pool) t.join();
  std::vector<uint32_t> out;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (good[i]) out.push_back(chunks[i]);
  }
  return out;
}

}  // namespace trove
