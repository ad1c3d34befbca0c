// The peer daemon: shares folders (scanner + hash cache), serves them
// (PeerService on --listen), keeps a supernode session, downloads on
// request, and answers its command line (ControlService on the Unix socket
// STATE/daemon.sock). One daemon per state folder (STATE/daemon.lock).
//
// Thread-safe.
#ifndef TROVE_PEER_CLIENT_DAEMON_H_
#define TROVE_PEER_CLIENT_DAEMON_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identity.h"
#include "common/server_util.h"
#include "common/tls_credentials.h"
#include "peer_client/control_service.h"
#include "peer_client/on_complete.h"
#include "peer_client/web_ui.h"
#include "peer_client/transfer/downloader.h"
#include "peer_client/file_catalog.h"
#include "peer_client/hash_cache.h"
#include "peer_client/peer_service.h"
#include "peer_client/transfer/rate_limiter.h"
#include "peer_client/transfer/transfer_ledger.h"
#include "peer_client/share_scanner.h"
#include "peer_client/supernode_host.h"
#include "peer_client/supernode_session.h"

namespace trove {

struct DaemonOptions {
  // State folder: identity.pem, hashcache, daemon.sock, daemon.lock, and
  // transfers/ (downloads saved for resuming).
  std::string state_dir;
  // Shared folders.
  std::vector<std::string> shares;
  // Where downloads are saved unless a `get` names a folder (made when
  // missing); empty: STATE/downloads. Shared (added to `shares`) unless
  // share_downloads is false. A completed download inside a shared folder
  // is shared at once, without waiting for a rescan.
  std::string download_dir;
  bool share_downloads = true;
  // Where the PeerService listens ("127.0.0.1:0": a free port) and the
  // address to announce instead of the bound one (empty: the bound one).
  std::string listen = "127.0.0.1:0";
  std::string advertise;
  // TLS on every link but the control socket: the PeerService serves with
  // a self-signed certificate made from the identity and knows each caller
  // by its certificate; the index and supernodes are checked against
  // `tls_ca_pem` (the community CA), other peers by key. False: plaintext.
  bool use_tls = false;
  std::string tls_ca_pem;
  // How often the shares are rescanned.
  absl::Duration rescan_interval = absl::Seconds(5);
  // How long to wait for the first publish before Start returns.
  absl::Duration first_publish_wait = absl::Seconds(10);
  // Files this big get hashing progress in the log.
  int64_t hash_progress_bytes = int64_t{256} << 20;
  // Upload slots and queue, chunk request limits, test-only corruption.
  // upload_limiter is filled in (from `rates`).
  PeerServiceImpl::Options peer;
  // Bandwidth limits, up and down (bytes/s, 0: unlimited).
  RateLimiters::Options rates;
  // own_peer_id, state_dir (STATE/transfers) and limiter (from `rates`)
  // are filled in.
  Downloader::Options download;
  // listen_address is filled in; supernodes / index_address say where to
  // join.
  SupernodeSession::Options session;
  // With an index to ask (session.index_address), take part in the
  // supernode election: report capacity and, when promoted, run a
  // supernode in-process. `host` says where it listens and its timings
  // (index address, key, TLS and capacity are filled in).
  bool election = true;
  SupernodeHost::Options host;
  // A program to run when a download completes (see on_complete.h); empty:
  // none.
  std::string on_complete;
  // host:port of the local web page (see web_ui.h); empty: off.
  std::string web_listen;
  // The effective settings, for `peer_client config` (empty: none known).
  std::function<control::ConfigResponse()> config;
  // Told when limits changed at run time (to keep `config` in step).
  std::function<void(const control::Limits&)> limits_changed;
};

class PeerDaemon : public ControlBackend {
 public:
  // Makes the state folder (0700), takes its lock, loads or makes the
  // identity, starts the PeerService and the ControlService, scans the
  // shares once, joins a supernode (in the background) and waits up to
  // first_publish_wait for the first publish. NOT_FOUND (or
  // FAILED_PRECONDITION) when a shared folder is missing (or not a
  // folder); FAILED_PRECONDITION when another daemon holds the state
  // folder; UNAVAILABLE when an address cannot be bound; INVALID_ARGUMENT
  // for a bad on_complete command; file system errors for the state folder.
  static absl::StatusOr<std::unique_ptr<PeerDaemon>> Start(
      DaemonOptions options);

  // Leaves the supernode and stops everything. Idempotent.
  void Shutdown(absl::Duration deadline);
  ~PeerDaemon() override;

  // host:port announced for the PeerService.
  const std::string& listen_address() const { return listen_address_; }
  // unix:PATH of the ControlService.
  const std::string& control_address() const { return control_address_; }
  const std::string& peer_id() const { return identity_->peer_id(); }
  // The bandwidth limits: uploads (PeerService) and downloads (Downloader).
  RateLimiters* rate_limiters() { return rate_limiters_.get(); }

  // The downloads running (resumed at start or asked for).
  Downloader* downloader() { return downloader_.get(); }
  // The folder downloads go to by default (absolute).
  const std::string& download_dir() const { return download_dir_; }

  // The web page's address ("" when off).
  const std::string& web_address() const { return web_address_; }

  // ControlBackend.
  control::StatusResponse Status() override;
  absl::StatusOr<control::ControlSearchResponse> Search(
      const SearchQuery& query) override;
  control::RescanResponse Rescan() override;
  absl::StatusOr<DownloadProgress> AddDownload(
      const DownloadRequest& request) override;
  absl::StatusOr<std::string> WatchDownload(
      const std::string& cid,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled) override;
  std::vector<DownloadProgress> ListDownloads() override;
  absl::StatusOr<DownloadProgress> PauseDownload(
      const std::string& cid) override;
  absl::StatusOr<DownloadProgress> ResumeDownload(
      const std::string& cid) override;
  absl::StatusOr<DownloadProgress> CancelDownload(
      const std::string& cid) override;
  std::vector<SharedFileInfo> SharedFiles(size_t limit) override;
  control::ConfigResponse Config() override;
  absl::StatusOr<control::Limits> SetLimits(
      const control::LimitsRequest& request) override;

 private:
  explicit PeerDaemon(DaemonOptions options) : options_(std::move(options)) {}

  absl::Status Init();
  // Scans and hands the list to the session.
  ScanResult ScanAndPublish();
  // Hands the scanner's list to the session.
  void PublishFiles();
  // Shares a download that completed inside a shared folder, and runs the
  // on_complete program.
  void ShareCompleted(const CompletedDownload& done);
  // Runs the on_complete program for a completed download.
  void RunOnComplete(const CompletedDownload& done);
  // The limits in force.
  control::Limits CurrentLimits() ABSL_EXCLUSIVE_LOCKS_REQUIRED(limits_mu_);
  void RescanLoop();

  DaemonOptions options_;
  int lock_fd_ = -1;
  std::string socket_path_;
  std::unique_ptr<Identity> identity_;
  std::shared_ptr<const TlsContext> tls_;
  std::unique_ptr<HashCache> cache_;
  std::unique_ptr<ShareScanner> scanner_;
  std::unique_ptr<RateLimiters> rate_limiters_;
  // Bytes sent to and received from each peer.
  std::unique_ptr<TransferLedger> ledger_;
  // What the PeerService serves: the shared folders, then the downloads in
  // progress (their verified chunks).
  std::unique_ptr<FileCatalog> downloads_catalog_;
  std::unique_ptr<LayeredCatalog> catalog_;
  std::unique_ptr<PeerServiceImpl> peer_service_;
  std::unique_ptr<SupernodeSession> session_;
  std::unique_ptr<SupernodeHost> host_;
  std::unique_ptr<Downloader> downloader_;
  std::unique_ptr<ControlServiceImpl> control_service_;
  std::unique_ptr<CompletionHook> on_complete_;
  std::unique_ptr<WebUi> web_ui_;
  std::string web_address_;
  RunningServer peer_server_;
  RunningServer control_server_;
  std::string listen_address_;
  std::string control_address_;
  std::thread rescan_thread_;

  std::string download_dir_;
  absl::Mutex scan_mu_;  // Held across ScanAndPublish.
  // Held across reading the scanner's list and handing it to the session,
  // so that the latest list is the one published.
  absl::Mutex publish_mu_;
  // Serializes limit changes.
  absl::Mutex limits_mu_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool rescan_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_DAEMON_H_
