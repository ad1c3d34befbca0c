#include "peer_client/transfer/download.h"

#include <algorithm>
#include <utility>

#include <openssl/rand.h>
#include <sys/stat.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace trove {
namespace {

// Copies ("NAME (n)") looked at for the same file before a download starts.
constexpr int kMaxSameFileLookups = 100;

// A seed for the order of a download's extents: different downloaders of
// one file should not pick the same one.
uint64_t RandomSeed() {
  uint64_t seed = 0;
  if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof(seed)) != 1) {
    seed = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  }
  return seed;
}

}  // namespace

// ---- Files

std::string Download::FindSameFile(const CheckedManifest& m) const {
  for (int n = 0; n <= kMaxSameFileLookups; ++n) {
    const std::string path = absl::StrCat(
        request_.out_dir, "/", n == 0 ? name_ : AlternativeName(name_, n));
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0) return "";  // No more copies.
    if (!S_ISREG(st.st_mode) || st.st_size != m.size) continue;
    absl::StatusOr<FileHashes> h = HashFile(path);
    if (h.ok() && h->cid == request_.cid) return path;
  }
  return "";
}

absl::Status Download::EnsurePrepared(const CheckedManifest& m) {
  absl::MutexLock prepare_lock(&prepare_mu_);
  if (prepared_ || !same_file_.empty()) return absl::OkStatus();
  // What a share link said must hold.
  if (request_.expected_size >= 0 && m.size != request_.expected_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the link says the file has ", request_.expected_size, " bytes, but ",
        request_.cid, " has ", m.size, ": the link is wrong or was altered"));
  }
  if (!request_.expected_name.empty() && m.name != request_.expected_name) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the link names the file '", request_.expected_name,
        "', but its source calls ", request_.cid, " '", m.name,
        "': the link is wrong or was altered (give --name to save it under a "
        "name of your choice)"));
  }
  name_ = request_.name.empty() ? m.name : request_.name;
  // The same file in the folder already: nothing to fetch.
  std::string same = FindSameFile(m);
  if (!same.empty()) {
    absl::MutexLock lock(&mu_);
    same_file_ = same;
    shown_name_ = name_;
    size_ = m.size;
    done_bytes_ = m.size;
    EndLocked();
    return absl::OkStatus();
  }
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
    meta.expected_size = request_.expected_size;
    meta.expected_name = request_.expected_name;
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
  so.extent_chunks = std::max(1, options_.extent_chunks);
  so.seed = options_.scheduler_seed.has_value() ? *options_.scheduler_seed
                                                : RandomSeed();
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
    dropped_ = true;
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
    dropped_ = true;
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

}  // namespace trove
