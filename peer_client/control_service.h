// ControlService: the local daemon's interface for its command line, on a
// Unix socket in the daemon's state folder. It validates requests and hands
// them to a ControlBackend (the daemon), streaming download progress.
//
// Thread-safe if the backend is.
#ifndef TROVE_PEER_CLIENT_CONTROL_SERVICE_H_
#define TROVE_PEER_CLIENT_CONTROL_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "peer_client/transfer/downloader.h"
#include "protos/control.grpc.pb.h"

namespace trove {

// What the control service asks of the daemon. Implementations are
// thread-safe.
class ControlBackend {
 public:
  virtual ~ControlBackend() = default;

  // The daemon's state now.
  virtual control::StatusResponse Status() = 0;
  // Searches the network. REQUIRES: `query` passed ValidateSearchQuery.
  virtual absl::StatusOr<control::ControlSearchResponse> Search(
      const SearchQuery& query) = 0;
  // Downloads a file (see Downloader::Fetch); an empty request.out_dir is
  // the daemon's download folder. REQUIRES: validated request.
  virtual absl::StatusOr<std::string> Get(
      const DownloadRequest& request,
      const std::function<void(const DownloadProgress&)>& progress,
      const std::function<bool()>& cancelled) = 0;
  // Rescans the shares now and publishes the changes.
  virtual control::RescanResponse Rescan() = 0;
};

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
  // download's own error.
  grpc::Status Get(grpc::ServerContext* context,
                   const control::GetRequest* request,
                   grpc::ServerWriter<control::GetProgress>* writer) override;
  grpc::Status Rescan(grpc::ServerContext* context,
                      const control::RescanRequest* request,
                      control::RescanResponse* response) override;

 private:
  ControlBackend* const backend_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_CONTROL_SERVICE_H_
