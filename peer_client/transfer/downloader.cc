#include "peer_client/transfer/downloader.h"

#include <sys/stat.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/validation.h"
#include "peer_client/transfer/download.h"
#include "peer_client/transfer/part_file.h"
#include "peer_client/transfer/resume_journal.h"

namespace trove {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// The progress of a saved download that is not running (paused).
DownloadProgress SavedProgress(const SavedTransfer& saved) {
  DownloadProgress p;
  p.cid = saved.cid;
  p.name = saved.meta.name;
  p.out_dir = saved.meta.out_dir;
  if (saved.has_manifest) {
    p.size = saved.manifest.size();
    for (uint32_t c : saved.chunks) {
      if (c < ChunkCount(p.size)) p.done_bytes += ChunkLength(p.size, c);
    }
    if (p.name.empty()) p.name = saved.manifest.name();
  }
  p.chunks_resumed = static_cast<int64_t>(saved.chunks.size());
  return p;
}

}  // namespace

Downloader::Downloader(SourceDirectory* directory, Options options)
    : directory_(directory), options_(std::move(options)) {}

Downloader::~Downloader() { Shutdown(); }

std::shared_ptr<DownloadEntry> Downloader::FindLocked(
    const std::string& cid) const {
  auto it = entries_.find(cid);
  return it == entries_.end() ? nullptr : it->second;
}

void Downloader::StartRunLocked(const std::shared_ptr<DownloadEntry>& entry,
                                bool resume, DownloadState state,
                                const std::string& detail) {
  DownloadProgress p = entry->Latest();
  p.state = state;
  p.detail = detail;
  p.done = false;
  auto run = std::make_shared<Download>(this, entry, entry->request, resume, p);
  entry->run = run;
  entry->Update(p);
  run->Start();
}

bool Downloader::HasSavedManifest(const std::string& cid) const {
  if (options_.state_dir.empty()) return false;
  absl::StatusOr<SavedTransfer> s = TransferStore(options_.state_dir).Load(cid);
  return s.ok() && s->has_manifest;
}

void Downloader::SaveMeta(const DownloadEntry& entry, bool paused) {
  if (options_.state_dir.empty()) return;
  TransferStore store(options_.state_dir);
  absl::StatusOr<SavedTransfer> saved = store.Load(entry.request.cid);
  TransferMeta meta;
  if (saved.ok()) {
    meta = saved->meta;
  } else {
    meta.out_dir = entry.request.out_dir;
    meta.name = entry.request.name;
    meta.expected_size = entry.request.expected_size;
    meta.expected_name = entry.request.expected_name;
  }
  meta.paused = paused;
  absl::Status st = store.SaveMeta(entry.request.cid, meta);
  if (!st.ok()) {
    TROVE_LOG(WARNING) << "cannot save the download of "
                       << entry.request.cid.substr(0, 12) << ": " << st;
  }
}

void Downloader::RunEnded(Download* run) {
  const std::shared_ptr<DownloadEntry>& entry = run->entry();
  const Download::Outcome& out = run->outcome();
  absl::MutexLock lock(&mu_);
  finished_threads_.push_back(run->TakeThread());
  if (entry->run.get() == run) entry->run = nullptr;
  entry->request = out.request;
  DownloadProgress p = out.progress;
  p.sources = 0;
  p.queue_position = 0;
  if (out.result.ok()) {
    p.state = DownloadState::kDone;
    p.detail.clear();
    p.done = true;
    p.path = *out.result;
    entry->End(p, out.result);
    TrimFinishedLocked();
    return;
  }
  p.bytes_per_second = 0;
  switch (out.stop) {
    case Download::Stop::kCancel:
      // Cancelled, or its saved state was unusable: gone.
      p.state = DownloadState::kCancelled;
      p.detail = std::string(out.result.status().message());
      if (FindLocked(entry->request.cid) == entry) {
        entries_.erase(entry->request.cid);
      }
      entry->End(p, out.result);
      return;
    case Download::Stop::kPause:
      p.state = DownloadState::kPaused;
      p.detail.clear();
      entry->Update(p);
      return;
    case Download::Stop::kShutdown:
      // Watchers are told; the state stays as it was for the next start.
      entry->End(p, out.result);
      return;
    case Download::Stop::kNone:
      p.state = DownloadState::kFailed;
      p.detail = std::string(out.result.status().message());
      entry->End(p, out.result);
      return;
  }
}

void Downloader::TrimFinishedLocked() {
  std::vector<std::pair<int64_t, std::string>> finished;
  for (const auto& [cid, e] : entries_) {
    if (e->run == nullptr && e->Latest().state == DownloadState::kDone) {
      finished.emplace_back(e->order, cid);
    }
  }
  if (static_cast<int>(finished.size()) <= options_.max_finished) return;
  std::sort(finished.begin(), finished.end());
  const size_t drop = finished.size() - std::max(0, options_.max_finished);
  for (size_t i = 0; i < drop; ++i) entries_.erase(finished[i].second);
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

absl::StatusOr<Downloader::AddResult> Downloader::Add(
    const DownloadRequest& asked) {
  DownloadRequest request = asked;
  absl::Status st = ValidateHexId(request.cid, "cid");
  if (!st.ok()) return st;
  if (request.out_dir.empty()) request.out_dir = options_.default_out_dir;
  if (!asked.out_dir.empty() && asked.out_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "output folder must be an absolute path, got '", asked.out_dir, "'"));
  }
  for (const std::string* name : {&request.name, &request.expected_name}) {
    if (name->empty()) continue;
    st = ValidateFileName(*name);
    if (!st.ok()) return st;
  }
  JoinFinishedThreads();

  // A download of this cid known already.
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      return absl::UnavailableError("the peer daemon is shutting down");
    }
    std::shared_ptr<DownloadEntry> e = FindLocked(request.cid);
    if (e != nullptr) {
      DownloadProgress p = e->Latest();
      const std::string& dir = e->request.out_dir;
      const std::string name = e->request.name.empty() ? p.name : e->request.name;
      if (p.state == DownloadState::kDone) {
        if (IsFile(p.path) &&
            (asked.out_dir.empty() || DirOf(p.path) == request.out_dir)) {
          p.already_there = true;
          return AddResult{p, true};
        }
        entries_.erase(request.cid);  // Another copy, elsewhere.
      } else {
        if (!asked.out_dir.empty() && dir != request.out_dir) {
          return absl::FailedPreconditionError(absl::StrCat(
              request.cid, " is already being downloaded into ", dir,
              " (", DownloadStateText(p.state),
              "); wait until it is done, or cancel it first to download it "
              "into ", request.out_dir));
        }
        if (!request.name.empty() && !name.empty() && name != request.name) {
          return absl::FailedPreconditionError(absl::StrCat(
              request.cid, " is already being downloaded as ", name,
              " into ", dir, "; wait until it is done, or cancel it first to "
              "download it as ", request.name));
        }
        if (!request.paused && e->run == nullptr) {
          // Asked for again: a paused or failed download goes on.
          SaveMeta(*e, /*paused=*/false);
          StartRunLocked(e, HasSavedManifest(request.cid));
          p = e->Latest();
        }
        return AddResult{p, true};
      }
    }
  }

  if (request.out_dir.empty() || request.out_dir[0] != '/') {
    return absl::InvalidArgumentError(
        "give an absolute output folder (there is no default one)");
  }
  st = MakeDirs(request.out_dir);
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat("cannot make the folder ",
                                                request.out_dir, ": ",
                                                st.message()));
  }
  bool saved = false;
  bool saved_manifest = false;
  if (!options_.state_dir.empty()) {
    absl::StatusOr<SavedTransfer> s =
        TransferStore(options_.state_dir).Load(request.cid);
    saved = s.ok();
    saved_manifest = saved && s->has_manifest;
  }
  // What the network says of the file, shown until a source answers.
  DownloadProgress hint;
  DownloadState first_state = DownloadState::kLocating;
  std::string first_detail;
  if (!saved) {
    // Ask the network first: a cid nobody holds is refused, and a link
    // that disagrees with the network about the file is too.
    absl::StatusOr<LocatedSources> located = directory_->Locate(request.cid);
    if (located.ok()) {
      hint.name = located->name;
      hint.size = located->size;
      bool only_self = false;
      int others = 0;
      for (const Source& s : located->sources) {
        if (s.peer_id() == options_.own_peer_id) {
          only_self = true;
        } else {
          ++others;
        }
      }
      if (others == 0) {
        return absl::NotFoundError(
            only_self ? absl::StrCat("no other peer shares ", request.cid,
                                     " (this peer has it already)")
                      : absl::StrCat("no peer shares ", request.cid));
      }
      if (request.expected_size >= 0 && located->size > 0 &&
          located->size != request.expected_size) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the link says the file has ", request.expected_size,
            " bytes, but ", request.cid, " has ", located->size,
            ": the link is wrong or was altered"));
      }
      if (!request.expected_name.empty() && !located->name.empty()) {
        if (located->name != request.expected_name) {
          return absl::InvalidArgumentError(absl::StrCat(
              "the link names the file '", request.expected_name,
              "', but its sources call ", request.cid, " '", located->name,
              "': the link is wrong or was altered (give --name to save it "
              "under a name of your choice)"));
        }
        request.expected_name.clear();  // Confirmed.
      }
    } else if (absl::IsNotFound(located.status())) {
      return absl::NotFoundError(absl::StrCat("no peer shares ", request.cid));
    } else {
      // The network cannot be asked now: the download waits for it.
      first_state = DownloadState::kWaitingForNetwork;
      first_detail = std::string(located.status().message());
    }
  }
  if (request.name.empty() && !asked.expected_name.empty()) {
    request.name = asked.expected_name;
  }

  absl::MutexLock lock(&mu_);
  if (shut_down_) {
    return absl::UnavailableError("the peer daemon is shutting down");
  }
  if (std::shared_ptr<DownloadEntry> e = FindLocked(request.cid)) {
    return AddResult{e->Latest(), true};  // Added meanwhile.
  }
  auto entry = std::make_shared<DownloadEntry>(request, next_order_++);
  entries_[request.cid] = entry;
  {
    DownloadProgress p = entry->Latest();
    if (p.name.empty()) p.name = hint.name;
    p.size = hint.size;
    entry->Update(p);
  }
  if (!saved) SaveMeta(*entry, request.paused);
  if (request.paused) {
    entry->SetState(DownloadState::kPaused, "");
  } else {
    StartRunLocked(entry, saved_manifest, first_state, first_detail);
  }
  TROVE_LOG(INFO) << "download " << request.cid.substr(0, 12) << " added"
                  << (request.name.empty() ? "" : " as " + request.name)
                  << " into " << request.out_dir
                  << (request.paused ? " (paused)" : "");
  return AddResult{entry->Latest(), false};
}

absl::StatusOr<std::string> Downloader::Watch(
    const std::string& cid,
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  std::shared_ptr<DownloadEntry> entry;
  {
    absl::MutexLock lock(&mu_);
    entry = FindLocked(cid);
  }
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat("no download of ", cid));
  }
  int64_t seen = -1;
  while (true) {
    // Checked before waiting too: a caller gone already is let go at once.
    if (seen >= 0 && cancelled && cancelled()) {
      return absl::CancelledError(
          "stopped following the download; it goes on in the daemon");
    }
    DownloadProgress p;
    bool ended = false;
    absl::StatusOr<std::string> result;
    if (entry->Next(&seen, options_.progress_interval, &p, &ended, &result) &&
        progress) {
      progress(p);
    }
    if (ended) return result;
  }
}

absl::StatusOr<std::string> Downloader::Fetch(
    const DownloadRequest& request,
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  absl::StatusOr<AddResult> added = Add(request);
  if (!added.ok()) return added.status();
  if (added->progress.state == DownloadState::kDone &&
      added->progress.already_there) {
    if (progress) progress(added->progress);
    return added->progress.path;
  }
  return Watch(request.cid, progress, cancelled);
}

void Downloader::StopRun(const std::shared_ptr<DownloadEntry>& entry, int why) {
  std::shared_ptr<Download> run;
  {
    absl::MutexLock lock(&mu_);
    run = entry->run;
  }
  if (run == nullptr) return;
  run->RequestStop(static_cast<Download::Stop>(why));
  absl::MutexLock lock(&mu_);
  auto stopped = [&entry, &run]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return entry->run != run;
  };
  mu_.Await(absl::Condition(&stopped));
}

absl::StatusOr<DownloadProgress> Downloader::Pause(const std::string& cid) {
  std::shared_ptr<DownloadEntry> entry;
  {
    absl::MutexLock lock(&mu_);
    entry = FindLocked(cid);
  }
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat("no download of ", cid));
  }
  if (entry->Latest().state == DownloadState::kDone) {
    return absl::FailedPreconditionError(
        absl::StrCat(cid, " is complete already"));
  }
  StopRun(entry, static_cast<int>(Download::Stop::kPause));
  JoinFinishedThreads();
  absl::MutexLock lock(&mu_);
  if (FindLocked(cid) != entry) {
    return absl::NotFoundError(absl::StrCat("no download of ", cid));
  }
  DownloadProgress p = entry->Latest();
  if (p.state == DownloadState::kDone) return p;  // Finished meanwhile.
  if (entry->run == nullptr) {
    if (p.state != DownloadState::kPaused) {
      entry->SetState(DownloadState::kPaused, "");
    }
    SaveMeta(*entry, /*paused=*/true);
    TROVE_LOG(INFO) << "download " << cid.substr(0, 12) << " paused";
  }
  return entry->Latest();
}

absl::StatusOr<DownloadProgress> Downloader::Resume(const std::string& cid) {
  JoinFinishedThreads();
  absl::MutexLock lock(&mu_);
  if (shut_down_) {
    return absl::UnavailableError("the peer daemon is shutting down");
  }
  std::shared_ptr<DownloadEntry> entry = FindLocked(cid);
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat("no download of ", cid));
  }
  const DownloadState state = entry->Latest().state;
  if (state == DownloadState::kDone) {
    return absl::FailedPreconditionError(
        absl::StrCat(cid, " is complete already"));
  }
  if (entry->run == nullptr) {
    SaveMeta(*entry, /*paused=*/false);
    StartRunLocked(entry, HasSavedManifest(cid));
    TROVE_LOG(INFO) << "download " << cid.substr(0, 12) << " resumed";
  }
  return entry->Latest();
}

absl::StatusOr<DownloadProgress> Downloader::Cancel(const std::string& cid) {
  std::shared_ptr<DownloadEntry> entry;
  {
    absl::MutexLock lock(&mu_);
    entry = FindLocked(cid);
  }
  if (entry == nullptr) {
    return absl::NotFoundError(absl::StrCat("no download of ", cid));
  }
  StopRun(entry, static_cast<int>(Download::Stop::kCancel));
  JoinFinishedThreads();
  absl::MutexLock lock(&mu_);
  DownloadProgress p = entry->Latest();
  if (FindLocked(cid) == entry) {
    // Not running (paused, failed, done): remove what it left.
    if (p.state != DownloadState::kDone && !options_.state_dir.empty()) {
      TransferStore store(options_.state_dir);
      absl::StatusOr<SavedTransfer> saved = store.Load(cid);
      std::string part;
      if (saved.ok() && !saved->meta.part_path.empty()) {
        part = saved->meta.part_path;
      } else if (!entry->request.name.empty()) {
        part = PartFile::PartPath(entry->request.out_dir, entry->request.name);
      }
      if (!part.empty() && active_parts_.count(part) == 0) ::unlink(part.c_str());
      absl::Status st = store.Remove(cid);
      if (!st.ok()) {
        TROVE_LOG(WARNING) << "cannot remove the saved download of "
                           << cid.substr(0, 12) << ": " << st;
      }
    }
    entries_.erase(cid);
    const bool was_done = p.state == DownloadState::kDone;
    p.state = DownloadState::kCancelled;
    p.detail = was_done ? "forgotten (the file stays)" : "cancelled";
    p.sources = 0;
    p.bytes_per_second = 0;
    entry->End(p, absl::CancelledError("the download was cancelled"));
  }
  TROVE_LOG(INFO) << "download " << cid.substr(0, 12) << " cancelled";
  return entry->Latest();
}

int Downloader::ResumeSaved() {
  if (options_.state_dir.empty()) return 0;
  JoinFinishedThreads();
  TransferStore store(options_.state_dir);
  int started = 0;
  for (const std::string& cid : store.List()) {
    absl::StatusOr<SavedTransfer> saved = store.Load(cid);
    absl::MutexLock lock(&mu_);
    if (shut_down_) break;
    if (entries_.count(cid)) continue;
    if (!saved.ok()) {
      TROVE_LOG(WARNING) << "dropping the saved download of "
                         << cid.substr(0, 12) << ": " << saved.status();
      store.Remove(cid);
      continue;
    }
    DownloadRequest request;
    request.cid = cid;
    request.out_dir = saved->meta.out_dir;
    request.name = saved->meta.name;
    request.expected_size = saved->meta.expected_size;
    request.expected_name = saved->meta.expected_name;
    request.paused = saved->meta.paused;
    auto entry = std::make_shared<DownloadEntry>(request, next_order_++);
    entries_[cid] = entry;
    if (saved->meta.paused) {
      DownloadProgress p = SavedProgress(*saved);
      p.state = DownloadState::kPaused;
      entry->Update(p);
      continue;
    }
    StartRunLocked(entry, saved->has_manifest);
    ++started;
  }
  return started;
}

void Downloader::Shutdown() {
  std::vector<std::shared_ptr<Download>> running;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (const auto& [cid, e] : entries_) {
      if (e->run != nullptr) running.push_back(e->run);
    }
  }
  for (const auto& d : running) d->RequestStop(Download::Stop::kShutdown);
  {
    absl::MutexLock lock(&mu_);
    auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const auto& [cid, e] : entries_) {
        if (e->run != nullptr) return false;
      }
      return true;
    };
    mu_.Await(absl::Condition(&none));
    // Watchers of paused or failed downloads are let go too.
    for (const auto& [cid, e] : entries_) {
      DownloadProgress p = e->Latest();
      if (!IsFinalState(p.state)) {
        e->End(p, absl::UnavailableError("the peer daemon is shutting down"));
      }
    }
  }
  JoinFinishedThreads();
}

std::vector<DownloadProgress> Downloader::List() const {
  std::vector<std::shared_ptr<DownloadEntry>> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [cid, e] : entries_) all.push_back(e);
  }
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a->order < b->order; });
  std::vector<DownloadProgress> out;
  for (const auto& e : all) out.push_back(e->Latest());
  return out;
}

std::vector<DownloadProgress> Downloader::Transfers() const {
  std::vector<DownloadProgress> out;
  for (DownloadProgress& p : List()) {
    if (p.state != DownloadState::kDone && p.state != DownloadState::kCancelled) {
      out.push_back(std::move(p));
    }
  }
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

void Downloader::SetCompletedListener(
    std::function<void(const CompletedDownload&)> listener) {
  absl::MutexLock lock(&mu_);
  completed_listener_ = std::move(listener);
}

void Downloader::NotifyCompleted(const CompletedDownload& done) {
  std::function<void(const CompletedDownload&)> listener;
  {
    absl::MutexLock lock(&mu_);
    listener = completed_listener_;
  }
  if (listener) listener(done);
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
