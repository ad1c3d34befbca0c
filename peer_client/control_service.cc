#include "peer_client/control_service.h"

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/validation.h"

namespace trove {
namespace {

control::GetProgress ToProto(const DownloadProgress& p) {
  control::GetProgress out;
  out.set_done_bytes(p.done_bytes);
  out.set_size(p.size);
  out.set_sources(p.sources);
  out.set_bytes_per_second(p.bytes_per_second);
  out.set_done(p.done);
  out.set_path(p.path);
  out.set_name(p.name);
  out.set_queue_position(p.queue_position);
  out.set_chunks_fetched(p.chunks_fetched);
  out.set_chunks_resumed(p.chunks_resumed);
  out.set_bad_sources(p.bad_sources);
  for (const SourceBytes& b : p.received) {
    control::SourceTraffic* t = out.add_received();
    t->set_peer_id(b.peer_id);
    t->set_address(b.address);
    t->set_bytes(b.bytes);
    t->set_partial(b.partial);
  }
  return out;
}

}  // namespace

grpc::Status ControlServiceImpl::Status(grpc::ServerContext* context,
                                        const control::StatusRequest* request,
                                        control::StatusResponse* response) {
  *response = backend_->Status();
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::Search(
    grpc::ServerContext* context, const SearchQuery* request,
    control::ControlSearchResponse* response) {
  absl::Status valid = ValidateSearchQuery(*request);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<control::ControlSearchResponse> result =
      backend_->Search(*request);
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::Get(
    grpc::ServerContext* context, const control::GetRequest* request,
    grpc::ServerWriter<control::GetProgress>* writer) {
  absl::Status valid = ValidateHexId(request->cid(), "cid");
  if (valid.ok() && !request->out_dir().empty() &&
      request->out_dir()[0] != '/') {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "out_dir must be an absolute folder (or empty for the daemon's "
        "download folder), got '",
        request->out_dir(), "'"));
  }
  if (valid.ok() && !request->name().empty()) {
    valid = ValidateFileName(request->name());
  }
  if (!valid.ok()) return ToGrpcStatus(valid);
  DownloadRequest req;
  req.cid = request->cid();
  req.out_dir = request->out_dir();
  req.name = request->name();
  bool writer_gone = false;
  absl::StatusOr<std::string> path = backend_->Get(
      req,
      [&](const DownloadProgress& p) {
        if (!writer_gone && !writer->Write(ToProto(p))) writer_gone = true;
      },
      [&] { return writer_gone || context->IsCancelled(); });
  if (!path.ok()) return ToGrpcStatus(path.status());
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::Rescan(grpc::ServerContext* context,
                                        const control::RescanRequest* request,
                                        control::RescanResponse* response) {
  *response = backend_->Rescan();
  return grpc::Status::OK;
}

}  // namespace trove
