#include "peer_client/daemon.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/log.h"

namespace trove {
namespace {

// Memory available to new work (MemAvailable), 0 when unknown.
int64_t FreeMemoryBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return 0;
}

}  // namespace
namespace {

// The downloads in progress as a catalog: empty until the downloader
// exists (the PeerService starts before it).
class DownloadsCatalog : public FileCatalog {
 public:
  void Set(const Downloader* d) { downloader_.store(d); }
  std::shared_ptr<const SharedFile> FindByCid(
      absl::string_view cid) const override {
    const Downloader* d = downloader_.load();
    return d == nullptr ? nullptr : d->FindByCid(cid);
  }

 private:
  std::atomic<const Downloader*> downloader_{nullptr};
};

std::string Absolute(const std::string& path) {
  if (!path.empty() && path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (::getcwd(cwd, sizeof(cwd)) == nullptr) return path;
  return absl::StrCat(cwd, "/", path);
}

}  // namespace

absl::StatusOr<std::unique_ptr<PeerDaemon>> PeerDaemon::Start(
    DaemonOptions options) {
  std::unique_ptr<PeerDaemon> daemon(new PeerDaemon(std::move(options)));
  absl::Status st = daemon->Init();
  if (!st.ok()) {
    daemon->Shutdown(absl::Seconds(1));
    return st;
  }
  return daemon;
}

absl::Status PeerDaemon::Init() {
  // A shared folder that is not there is a mistake to say at once, not a
  // warning in a log.
  for (const std::string& share : options_.shares) {
    const std::string path = Absolute(share);
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return absl::NotFoundError(absl::StrCat(
          "shared folder ", path, " does not exist (", std::strerror(errno),
          "); make it or fix --share"));
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::FailedPreconditionError(
          absl::StrCat("shared folder ", path, " is not a folder"));
    }
  }
  if (!options_.on_complete.empty()) {
    absl::StatusOr<std::unique_ptr<CompletionHook>> hook =
        CompletionHook::Create(options_.on_complete);
    if (!hook.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--on_complete: ", hook.status().message()));
    }
    on_complete_ = std::move(*hook);
  }
  const std::string state = Absolute(options_.state_dir);
  options_.state_dir = state;
  absl::Status st = MakeDirs(state, 0700);
  if (!st.ok()) return st;
  ::chmod(state.c_str(), 0700);

  // One daemon per state folder.
  std::string lock_path = absl::StrCat(state, "/daemon.lock");
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return ErrnoToStatus(errno, absl::StrCat("open ", lock_path));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    ::close(lock_fd_);
    lock_fd_ = -1;
    return absl::FailedPreconditionError(absl::StrCat(
        "another peer daemon is already running with state folder ", state));
  }

  absl::StatusOr<std::unique_ptr<Identity>> identity =
      Identity::LoadOrCreate(absl::StrCat(state, "/identity.pem"));
  if (!identity.ok()) return identity.status();
  identity_ = std::move(*identity);
  TROVE_LOG(INFO) << "peer id " << identity_->peer_id();
  if (options_.use_tls) {
    absl::StatusOr<std::shared_ptr<const TlsContext>> tls =
        TlsContext::ForIdentity(*identity_, options_.tls_ca_pem);
    if (!tls.ok()) return tls.status();
    tls_ = std::move(*tls);
  } else {
    tls_ = TlsContext::Insecure();
  }
  options_.session.tls = tls_;
  options_.download.tls = tls_;

  cache_ = HashCache::Load(absl::StrCat(state, "/hashcache"));
  download_dir_ = options_.download_dir.empty()
                      ? absl::StrCat(state, "/downloads")
                      : Absolute(options_.download_dir);
  st = MakeDirs(download_dir_);
  if (!st.ok()) {
    return absl::Status(st.code(), absl::StrCat("download folder ",
                                                download_dir_, ": ",
                                                st.message()));
  }
  ShareScanner::Options so;
  for (const std::string& share : options_.shares) {
    so.roots.push_back(Absolute(share));
  }
  if (options_.share_downloads &&
      std::find(so.roots.begin(), so.roots.end(), download_dir_) ==
          so.roots.end()) {
    so.roots.push_back(download_dir_);
  }
  so.progress_log_bytes = options_.hash_progress_bytes;
  scanner_ = std::make_unique<ShareScanner>(so, cache_.get());

  rate_limiters_ = std::make_unique<RateLimiters>(options_.rates);
  ledger_ = std::make_unique<TransferLedger>();
  options_.peer.upload_limiter = &rate_limiters_->upload;
  options_.peer.ledger = ledger_.get();
  if (options_.peer.testonly_corrupt_chunks) {
    TROVE_LOG(WARNING) << "--testonly_corrupt_chunks: every chunk served is "
                          "corrupted on purpose (for tests only)";
  }
  auto downloads = std::make_unique<DownloadsCatalog>();
  DownloadsCatalog* downloads_catalog = downloads.get();
  downloads_catalog_ = std::move(downloads);
  catalog_ = std::make_unique<LayeredCatalog>(std::vector<const FileCatalog*>{
      scanner_.get(), downloads_catalog_.get()});
  peer_service_ = std::make_unique<PeerServiceImpl>(
      catalog_.get(), identity_.get(), options_.peer);
  absl::StatusOr<RunningServer> peer_server = StartServer(
      options_.listen, {peer_service_.get()}, tls_->ServerCredentials());
  if (!peer_server.ok()) return peer_server.status();
  peer_server_ = std::move(*peer_server);
  listen_address_ =
      options_.advertise.empty() ? peer_server_.address : options_.advertise;
  TROVE_LOG(INFO) << "serving files on " << peer_server_.address
                  << (options_.advertise.empty()
                          ? std::string()
                          : absl::StrCat(" (announced as ", listen_address_, ")"));

  options_.session.listen_address = listen_address_;
  if (options_.session.seq_path.empty()) {
    options_.session.seq_path = absl::StrCat(state, "/change_seq");
  }
  session_ = std::make_unique<SupernodeSession>(identity_.get(), options_.session);
  options_.download.own_peer_id = identity_->peer_id();
  options_.download.state_dir = absl::StrCat(state, "/transfers");
  options_.download.limiter = &rate_limiters_->download;
  options_.download.ledger = ledger_.get();
  options_.download.default_out_dir = download_dir_;
  downloader_ = std::make_unique<Downloader>(session_.get(), options_.download);
  // Downloads in progress are served, and announced as partial sources.
  downloads_catalog->Set(downloader_.get());
  downloader_->SetPartialFilesListener([this] {
    session_->SetPartials(downloader_->PartialFiles());
  });
  // A completed download is a full source at once.
  downloader_->SetCompletedListener([this](const CompletedDownload& done) {
    ShareCompleted(done);
    RunOnComplete(done);
  });

  // The control socket. The lock above makes an existing socket stale.
  socket_path_ = absl::StrCat(state, "/daemon.sock");
  if (socket_path_.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "state folder path too long for a Unix socket (", socket_path_.size(),
        " bytes; at most ", sizeof(sockaddr_un::sun_path) - 1,
        "): choose a shorter --state"));
  }
  ::unlink(socket_path_.c_str());
  control_service_ = std::make_unique<ControlServiceImpl>(this);
  absl::StatusOr<RunningServer> control_server =
      StartServer(absl::StrCat("unix:", socket_path_), {control_service_.get()},
                  grpc::InsecureServerCredentials());
  if (!control_server.ok()) return control_server.status();
  control_server_ = std::move(*control_server);
  ::chmod(socket_path_.c_str(), 0600);
  control_address_ = control_server_.address;
  TROVE_LOG(INFO) << "control socket " << socket_path_;

  if (!options_.web_listen.empty()) {
    absl::StatusOr<std::string> token =
        LoadOrCreateWebToken(absl::StrCat(state, "/web_token"));
    if (!token.ok()) return token.status();
    absl::StatusOr<std::unique_ptr<WebUi>> web =
        WebUi::Start(this, WebUi::Options{options_.web_listen, *token});
    if (!web.ok()) {
      return absl::Status(web.status().code(),
                          absl::StrCat("--web: ", web.status().message()));
    }
    web_ui_ = std::move(*web);
    web_address_ = web_ui_->url();
    TROVE_LOG(INFO) << "web page at " << web_address_
                    << " (token in " << state << "/web_token)";
  }

  if (scanner_->roots().empty()) {
    TROVE_LOG(INFO) << "sharing nothing (no --share, downloads not shared)";
  } else {
    TROVE_LOG(INFO) << "sharing " << absl::StrJoin(scanner_->roots(), ", ");
  }
  TROVE_LOG(INFO) << "downloads go to " << download_dir_
                  << (options_.share_downloads ? " (shared)" : " (not shared)");
  // Join first, so that searches and downloads work while the first scan
  // hashes; the session publishes once the scan gives it a list.
  session_->Start();
  if (options_.election && !options_.session.index_address.empty()) {
    SupernodeHost::Options& h = options_.host;
    h.index_address = options_.session.index_address;
    h.peer_address = listen_address_;
    h.key_file = absl::StrCat(state, "/identity.pem");
    h.tls = tls_;
    h.rpc_timeout = options_.session.rpc_timeout;
    const int64_t configured = options_.session.capacity.upload_bytes_per_second();
    RateLimiters* rates = rate_limiters_.get();
    h.capacity = [configured, rates]() {
      Capacity c;
      // The configured limit, else what the user said the line gives.
      const int64_t limit = rates->upload.total_rate();
      c.set_upload_bytes_per_second(limit > 0 ? limit : configured);
      c.set_free_memory_bytes(FreeMemoryBytes());
      return c;
    };
    host_ = std::make_unique<SupernodeHost>(identity_.get(), session_.get(), h);
    host_->Start();
  }
  // Downloads that were running when the daemon stopped (or died) go on.
  int resumed = downloader_->ResumeSaved();
  if (resumed > 0) {
    TROVE_LOG(INFO) << "resuming " << resumed << " download"
                    << (resumed == 1 ? "" : "s");
  }
  ScanResult first = ScanAndPublish();
  TROVE_LOG(INFO) << "shares scanned: " << first.file_count << " files, "
                  << first.total_bytes << " bytes (" << first.hashed
                  << " hashed now)";
  if (!session_->WaitPublished(options_.first_publish_wait)) {
    TROVE_LOG(WARNING) << "not published to a supernode yet; will keep trying";
  }
  rescan_thread_ = std::thread(&PeerDaemon::RescanLoop, this);
  return absl::OkStatus();
}

ScanResult PeerDaemon::ScanAndPublish() {
  // Serialized so that lists reach the session in the order they were made.
  absl::MutexLock lock(&scan_mu_);
  ScanResult r = scanner_->Scan();
  if (!r.added.empty() || !r.removed.empty()) {
    TROVE_LOG(INFO) << "shares changed: " << r.added.size() << " added, "
                    << r.removed.size() << " removed";
  }
  PublishFiles();
  return r;
}

void PeerDaemon::PublishFiles() {
  absl::MutexLock lock(&publish_mu_);
  session_->SetFiles(scanner_->Files());
}

void PeerDaemon::ShareCompleted(const CompletedDownload& done) {
  absl::StatusOr<FileEntry> entry =
      scanner_->AddVerifiedFile(done.path, done.hashes);
  if (!entry.ok()) {
    if (!absl::IsFailedPrecondition(entry.status())) {
      TROVE_LOG(WARNING) << "cannot share the download " << done.path << ": "
                         << entry.status();
    }
    return;  // Not in a shared folder: not shared.
  }
  TROVE_LOG(INFO) << "sharing " << done.path << " (downloaded, "
                  << done.hashes.cid.substr(0, 12) << ")";
  PublishFiles();
}

void PeerDaemon::RunOnComplete(const CompletedDownload& done) {
  if (on_complete_ == nullptr) return;
  const size_t slash = done.path.rfind('/');
  absl::Status st = on_complete_->Run(
      done.path,
      slash == std::string::npos ? done.path : done.path.substr(slash + 1),
      done.hashes.cid, done.hashes.size);
  if (!st.ok()) TROVE_LOG(WARNING) << st;
}

void PeerDaemon::RescanLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || rescan_requested_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&wake), options_.rescan_interval);
      if (stopping_) return;
      rescan_requested_ = false;
    }
    ScanAndPublish();
  }
}

void PeerDaemon::Shutdown(absl::Duration deadline) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    stopping_ = true;
  }
  if (rescan_thread_.joinable()) rescan_thread_.join();
  if (web_ui_) web_ui_->Stop();
  // Downloads stop first: they flush their journals and stop announcing.
  if (downloader_) downloader_->Shutdown();
  if (session_) session_->Stop();
  // After leaving: a hosted supernode sends what its leaves left pending.
  if (host_) host_->Stop(deadline);
  if (peer_service_) peer_service_->StopWatches();
  auto when = absl::ToChronoTime(absl::Now() + deadline);
  if (control_server_.server) control_server_.server->Shutdown(when);
  if (peer_server_.server) peer_server_.server->Shutdown(when);
  if (!socket_path_.empty() && control_server_.server) {
    ::unlink(socket_path_.c_str());
  }
  if (lock_fd_ >= 0) {
    ::close(lock_fd_);  // Releases the lock.
    lock_fd_ = -1;
  }
}

PeerDaemon::~PeerDaemon() { Shutdown(absl::Seconds(1)); }

control::StatusResponse PeerDaemon::Status() {
  control::StatusResponse r;
  r.set_peer_id(identity_->peer_id());
  r.set_supernode(session_->supernode());
  r.set_join_status(session_->join_status());
  r.set_backup(session_->backup());
  if (host_ != nullptr) {
    r.set_role(SupernodeHost::RoleName(host_->role()));
    r.set_hosted_supernode(host_->supernode_address());
    r.set_hosted_leaves(host_->supernode_leaves());
    r.set_reachable(host_->reachable());
  } else {
    r.set_role("leaf");
  }
  r.set_web_address(web_address_);
  r.set_listen_address(listen_address_);
  for (const std::string& root : scanner_->roots()) r.add_shares(root);
  r.set_shared_files(static_cast<int32_t>(scanner_->file_count()));
  r.set_shared_bytes(scanner_->total_bytes());
  r.set_hashing(scanner_->scanning());
  r.set_uploads_active(peer_service_->active_uploads());
  r.set_uploads_queued(peer_service_->queued_uploads());
  for (const TransferLedger::Entry& e : ledger_->Uploads()) {
    control::UploadTraffic* u = r.add_uploads();
    u->set_peer_id(e.peer_id);
    u->set_cid(e.cid);
    u->set_bytes_sent(e.bytes_sent);
  }
  r.set_download_dir(download_dir_);
  r.set_downloads_shared(options_.share_downloads);
  for (const DownloadProgress& p : downloader_->Transfers()) {
    control::Transfer* t = r.add_transfers();
    t->set_cid(p.cid);
    t->set_name(p.name);
    t->set_done_bytes(p.done_bytes);
    t->set_size(p.size);
    t->set_sources(p.sources);
    t->set_queue_position(p.queue_position);
    t->set_state(DownloadStateName(p.state));
    t->set_detail(p.detail);
    for (const SourceBytes& b : p.received) {
      control::SourceTraffic* st = t->add_received();
      st->set_peer_id(b.peer_id);
      st->set_address(b.address);
      st->set_bytes(b.bytes);
      st->set_partial(b.partial);
    }
  }
  return r;
}

absl::StatusOr<control::ControlSearchResponse> PeerDaemon::Search(
    const SearchQuery& query) {
  absl::StatusOr<supernode::SearchResponse> r = session_->Search(query);
  if (!r.ok()) return r.status();
  control::ControlSearchResponse out;
  out.mutable_hits()->Swap(r->mutable_hits());
  out.set_partial(r->partial());
  out.set_next_cursor(r->next_cursor());
  return out;
}

absl::StatusOr<DownloadProgress> PeerDaemon::AddDownload(
    const DownloadRequest& request) {
  const std::string dir =
      request.out_dir.empty() ? download_dir_ : request.out_dir;
  // Shared from that folder already: nothing to fetch.
  std::shared_ptr<const SharedFile> mine = scanner_->FindByCid(request.cid);
  const std::string mine_dir =
      mine == nullptr ? "" : mine->path.substr(0, mine->path.rfind('/'));
  if (mine != nullptr && mine_dir == dir &&
      (request.name.empty() || request.name == mine->name)) {
    DownloadProgress p;
    p.cid = request.cid;
    p.state = DownloadState::kDone;
    p.name = mine->name;
    p.out_dir = dir;
    p.size = mine->size;
    p.done_bytes = mine->size;
    p.done = true;
    p.path = mine->path;
    p.already_there = true;
    return p;
  }
  absl::StatusOr<Downloader::AddResult> added = downloader_->Add(request);
  if (!added.ok()) {
    if (absl::IsNotFound(added.status()) && mine != nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "no other peer shares ", request.cid, "; this peer has it at ",
          mine->path));
    }
    TROVE_LOG(INFO) << "download " << request.cid.substr(0, 12)
                    << " refused: " << added.status();
    return added.status();
  }
  return added->progress;
}

absl::StatusOr<std::string> PeerDaemon::WatchDownload(
    const std::string& cid,
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  absl::StatusOr<std::string> path =
      downloader_->Watch(cid, progress, cancelled);
  if (path.ok()) {
    // The file may have landed in a shared folder: look soon.
    absl::MutexLock lock(&mu_);
    rescan_requested_ = true;
  }
  return path;
}

std::vector<DownloadProgress> PeerDaemon::ListDownloads() {
  return downloader_->List();
}

absl::StatusOr<DownloadProgress> PeerDaemon::PauseDownload(
    const std::string& cid) {
  return downloader_->Pause(cid);
}

absl::StatusOr<DownloadProgress> PeerDaemon::ResumeDownload(
    const std::string& cid) {
  return downloader_->Resume(cid);
}

absl::StatusOr<DownloadProgress> PeerDaemon::CancelDownload(
    const std::string& cid) {
  return downloader_->Cancel(cid);
}

std::vector<ControlBackend::SharedFileInfo> PeerDaemon::SharedFiles(
    size_t limit) {
  std::vector<SharedFileInfo> out;
  for (const FileEntry& f : scanner_->Files()) {
    std::shared_ptr<const SharedFile> file = scanner_->FindByCid(f.cid());
    if (file == nullptr) continue;
    out.push_back({file->path, f.name(), f.cid(), f.size()});
  }
  std::sort(out.begin(), out.end(),
            [](const SharedFileInfo& a, const SharedFileInfo& b) {
              return a.path < b.path;
            });
  if (out.size() > limit) out.resize(limit);
  return out;
}

control::ConfigResponse PeerDaemon::Config() {
  if (options_.config) return options_.config();
  return control::ConfigResponse();
}

control::Limits PeerDaemon::CurrentLimits() {
  control::Limits l;
  l.set_max_upload_rate(rate_limiters_->upload.total_rate());
  l.set_max_upload_rate_per_peer(rate_limiters_->upload.per_peer_rate());
  l.set_max_download_rate(rate_limiters_->download.total_rate());
  l.set_max_download_rate_per_peer(rate_limiters_->download.per_peer_rate());
  l.set_max_uploads(peer_service_->max_uploads());
  return l;
}

absl::StatusOr<control::Limits> PeerDaemon::SetLimits(
    const control::LimitsRequest& request) {
  control::Limits l;
  {
    absl::MutexLock lock(&limits_mu_);
    l = CurrentLimits();
    if (request.has_max_upload_rate()) {
      l.set_max_upload_rate(request.max_upload_rate());
    }
    if (request.has_max_upload_rate_per_peer()) {
      l.set_max_upload_rate_per_peer(request.max_upload_rate_per_peer());
    }
    if (request.has_max_download_rate()) {
      l.set_max_download_rate(request.max_download_rate());
    }
    if (request.has_max_download_rate_per_peer()) {
      l.set_max_download_rate_per_peer(request.max_download_rate_per_peer());
    }
    if (request.has_max_uploads()) l.set_max_uploads(request.max_uploads());
    if (l.max_upload_rate() < 0 || l.max_upload_rate_per_peer() < 0 ||
        l.max_download_rate() < 0 || l.max_download_rate_per_peer() < 0 ||
        l.max_uploads() < 0) {
      return absl::InvalidArgumentError("limits must not be negative");
    }
    rate_limiters_->upload.SetLimits(l.max_upload_rate(),
                                     l.max_upload_rate_per_peer());
    rate_limiters_->download.SetLimits(l.max_download_rate(),
                                       l.max_download_rate_per_peer());
    peer_service_->SetMaxUploads(l.max_uploads());
    l = CurrentLimits();
  }
  TROVE_LOG(INFO) << "limits now: upload " << l.max_upload_rate()
                  << " B/s (per peer " << l.max_upload_rate_per_peer()
                  << "), download " << l.max_download_rate()
                  << " B/s (per peer " << l.max_download_rate_per_peer()
                  << "), " << l.max_uploads() << " upload slots";
  if (options_.limits_changed) options_.limits_changed(l);
  return l;
}

control::RescanResponse PeerDaemon::Rescan() {
  ScanResult r = ScanAndPublish();
  session_->WaitPublished(options_.session.rpc_timeout);
  control::RescanResponse out;
  out.set_added(static_cast<int32_t>(r.added.size()));
  out.set_removed(static_cast<int32_t>(r.removed.size()));
  return out;
}

}  // namespace trove
