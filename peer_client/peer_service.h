// PeerService: serves the manifests and chunks of the files in a FileCatalog,
// by cid only. Nothing reaches the disk except through the catalog's paths,
// so nothing outside a shared folder can be read. A file whose size or mtime
// no longer match what was hashed is not served (NOT_FOUND) until it is
// hashed again.
//
// Thread-safe (gRPC calls it from many threads).
#ifndef TROVE_PEER_CLIENT_PEER_SERVICE_H_
#define TROVE_PEER_CLIENT_PEER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "peer_client/file_catalog.h"
#include "protos/peer.grpc.pb.h"

namespace trove {

class PeerServiceImpl final : public trove::peer::PeerService::Service {
 public:
  struct Options {
    // GetChunks streams served at once; more get RESOURCE_EXHAUSTED.
    int max_uploads = 32;
    // Most chunk indexes one GetChunks may ask for.
    int max_indexes_per_request = 4096;
  };

  // `catalog` must outlive the service. `peer_id` is put in manifests.
  PeerServiceImpl(const FileCatalog* catalog, std::string peer_id,
                  Options options);

  grpc::Status GetManifest(grpc::ServerContext* context,
                           const trove::peer::GetManifestRequest* request,
                           trove::peer::Manifest* response) override;

  grpc::Status GetChunks(
      grpc::ServerContext* context,
      const trove::peer::GetChunksRequest* request,
      grpc::ServerWriter<trove::peer::Chunk>* writer) override;

  // Uploads running now and bytes served since start.
  int active_uploads() const { return active_uploads_.load(); }
  int64_t bytes_served() const { return bytes_served_.load(); }

 private:
  // The file for `cid` if the cid is well-formed and the file is held.
  absl::StatusOr<std::shared_ptr<const SharedFile>> Find(
      const std::string& cid) const;

  const FileCatalog* const catalog_;
  const std::string peer_id_;
  const Options options_;
  std::atomic<int> active_uploads_{0};
  std::atomic<int64_t> bytes_served_{0};
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_PEER_SERVICE_H_
