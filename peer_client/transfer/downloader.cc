#include "peer_client/transfer/downloader.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/log.h"
#include "common/validation.h"
#include "peer_client/transfer/download.h"
#include "peer_client/transfer/resume_journal.h"

namespace trove {

// ---- Downloader

Downloader::Downloader(SourceDirectory* directory, Options options)
    : directory_(directory), options_(std::move(options)) {}

Downloader::~Downloader() { Shutdown(); }

void Downloader::StartLocked(std::shared_ptr<Download> d) {
  transfers_[d->cid()] = d;
  d->Start();
}

void Downloader::Finished(Download* d) {
  absl::MutexLock lock(&mu_);
  auto it = transfers_.find(d->cid());
  if (it != transfers_.end() && it->second.get() == d) transfers_.erase(it);
  finished_threads_.push_back(d->TakeThread());
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

absl::StatusOr<std::string> Downloader::Fetch(
    const DownloadRequest& request,
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  absl::Status st = ValidateHexId(request.cid, "cid");
  if (!st.ok()) return st;
  if (request.out_dir.empty() || request.out_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "output folder must be an absolute path, got '", request.out_dir, "'"));
  }
  if (!request.name.empty()) {
    st = ValidateFileName(request.name);
    if (!st.ok()) return st;
  }
  st = MakeDirs(request.out_dir);
  if (!st.ok()) return st;
  JoinFinishedThreads();
  bool saved = false;
  if (!options_.state_dir.empty()) {
    TransferStore store(options_.state_dir);
    saved = store.Load(request.cid).ok();
  }
  std::shared_ptr<Download> d;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      return absl::UnavailableError("the peer daemon is shutting down");
    }
    auto it = transfers_.find(request.cid);
    if (it != transfers_.end()) {
      d = it->second;
      TROVE_LOG(INFO) << "download " << request.cid.substr(0, 12)
                      << " is running already: following it";
    } else {
      d = std::make_shared<Download>(this, request, /*resume=*/saved,
                                     /*background=*/false);
      StartLocked(d);
    }
    d->AddWatcher();
  }
  return d->Watch(progress, cancelled);
}

int Downloader::ResumeSaved() {
  if (options_.state_dir.empty()) return 0;
  JoinFinishedThreads();
  TransferStore store(options_.state_dir);
  int started = 0;
  for (const std::string& cid : store.List()) {
    absl::MutexLock lock(&mu_);
    if (shut_down_) break;
    if (transfers_.count(cid)) continue;
    DownloadRequest request;
    request.cid = cid;
    StartLocked(std::make_shared<Download>(this, request, /*resume=*/true,
                                           /*background=*/true));
    ++started;
  }
  return started;
}

void Downloader::Shutdown() {
  std::vector<std::shared_ptr<Download>> running;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    for (const auto& [cid, d] : transfers_) running.push_back(d);
  }
  for (const auto& d : running) d->RequestStop(Download::Stop::kShutdown);
  {
    absl::MutexLock lock(&mu_);
    auto none = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return transfers_.empty();
    };
    mu_.Await(absl::Condition(&none));
  }
  JoinFinishedThreads();
}

std::vector<DownloadProgress> Downloader::Transfers() const {
  std::vector<std::shared_ptr<Download>> running;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [cid, d] : transfers_) running.push_back(d);
  }
  std::vector<DownloadProgress> out;
  for (const auto& d : running) out.push_back(d->Latest());
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
