// ControlService: the local daemon's interface for its command line, on a
// Unix socket in the daemon's state folder. It validates requests and hands
// them to a ControlBackend (the daemon), streaming download progress.
//
// Thread-safe if the backend is.
#ifndef TROVE_PEER_CLIENT_CONTROL_SERVICE_H_
#define TROVE_PEER_CLIENT_CONTROL_SERVICE_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "peer_client/transfer/downloader.h"
#include "protos/control.grpc.pb.h"

namespace trove {

// What the control service (and the web page) ask of the daemon.
// Implementations are thread-safe.
class ControlBackend {
 public:
  virtual ~ControlBackend() = default;

  // The daemon's state now.
  virtual control::StatusResponse Status() = 0;
  // Searches the network. REQUIRES: `query` passed ValidateSearchQuery.
  virtual absl::StatusOr<control::ControlSearchResponse> Search(
      const SearchQuery& query) = 0;
  // Rescans the shares now and publishes the changes.
  virtual control::RescanResponse Rescan() = 0;

  // Adds a download (see Downloader::Add); an empty request.out_dir is the
  // daemon's download folder (or, for a cid being downloaded, its folder).
  // A file with the cid already shared in that folder is returned as done
  // (already_there). REQUIRES: validated request.
  virtual absl::StatusOr<DownloadProgress> AddDownload(
      const DownloadRequest& request) = 0;
  // See Downloader::Watch, List, Pause, Resume, Cancel.
  virtual absl::StatusOr<std::string> WatchDownload(
      const std::string& cid,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled) = 0;
  virtual std::vector<DownloadProgress> ListDownloads() = 0;
  virtual absl::StatusOr<DownloadProgress> PauseDownload(
      const std::string& cid) = 0;
  virtual absl::StatusOr<DownloadProgress> ResumeDownload(
      const std::string& cid) = 0;
  virtual absl::StatusOr<DownloadProgress> CancelDownload(
      const std::string& cid) = 0;

  // Up to `limit` of the shared files, by path.
  struct SharedFileInfo {
    std::string path;
    std::string name;
    std::string cid;
    int64_t size = 0;
  };
  virtual std::vector<SharedFileInfo> SharedFiles(size_t limit) = 0;

  // The effective settings.
  virtual control::ConfigResponse Config() = 0;
  // Changes limits now; returns those in force. INVALID_ARGUMENT for a
  // negative value.
  virtual absl::StatusOr<control::Limits> SetLimits(
      const control::LimitsRequest& request) = 0;
};

// A download's progress on the wire.
control::GetProgress ToProto(const DownloadProgress& p);

// Checks a GetRequest: a well-formed cid, an absolute folder (or none), safe
// names, a size that is not negative. INVALID_ARGUMENT naming the field.
absl::Status ValidateGetRequest(const control::GetRequest& request);

// Watch, Pause, Resume and Cancel: the download's cid.
absl::Status ValidateDownloadRef(const control::DownloadRef& request);

// SetLimits: every limit it sets is not negative.
absl::Status ValidateLimitsRequest(const control::LimitsRequest& request);

// The download a GetRequest asks for.
DownloadRequest FromProto(const control::GetRequest& request);

class ControlServiceImpl final : public control::ControlService::Service {
 public:
  // `backend` must outlive the service.
  explicit ControlServiceImpl(ControlBackend* backend) : backend_(backend) {}

  grpc::Status Status(grpc::ServerContext* context,
                      const control::StatusRequest* request,
                      control::StatusResponse* response) override;
  // INVALID_ARGUMENT for a bad query.
  grpc::Status Search(grpc::ServerContext* context, const SearchQuery* request,
                      control::ControlSearchResponse* response) override;
  // INVALID_ARGUMENT for a malformed cid, a relative folder or a bad name
  // (an empty folder means the daemon's download folder); otherwise the
  // download's own error. Ending the call leaves the download running.
  grpc::Status Get(grpc::ServerContext* context,
                   const control::GetRequest* request,
                   grpc::ServerWriter<control::GetProgress>* writer) override;
  grpc::Status Rescan(grpc::ServerContext* context,
                      const control::RescanRequest* request,
                      control::RescanResponse* response) override;
  grpc::Status Add(grpc::ServerContext* context,
                   const control::GetRequest* request,
                   control::GetProgress* response) override;
  grpc::Status List(grpc::ServerContext* context,
                    const control::ListRequest* request,
                    control::ListResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context,
                     const control::DownloadRef* request,
                     grpc::ServerWriter<control::GetProgress>* writer) override;
  grpc::Status Pause(grpc::ServerContext* context,
                     const control::DownloadRef* request,
                     control::GetProgress* response) override;
  grpc::Status Resume(grpc::ServerContext* context,
                      const control::DownloadRef* request,
                      control::GetProgress* response) override;
  grpc::Status Cancel(grpc::ServerContext* context,
                      const control::DownloadRef* request,
                      control::GetProgress* response) override;
  grpc::Status GetConfig(grpc::ServerContext* context,
                         const control::ConfigRequest* request,
                         control::ConfigResponse* response) override;
  grpc::Status SetLimits(grpc::ServerContext* context,
                         const control::LimitsRequest* request,
                         control::Limits* response) override;

 private:
  // Streams the download of `cid` to `writer` until it ends or the caller
  // goes away.
  grpc::Status Follow(grpc::ServerContext* context, const std::string& cid,
                      grpc::ServerWriter<control::GetProgress>* writer);

  ControlBackend* const backend_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_CONTROL_SERVICE_H_
