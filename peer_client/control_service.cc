#include "peer_client/control_service.h"

#include <tuple>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/text.h"
#include "common/validation.h"

namespace trove {

control::GetProgress ToProto(const DownloadProgress& p) {
  control::GetProgress out;
  out.set_cid(p.cid);
  out.set_state(DownloadStateName(p.state));
  out.set_detail(p.detail);
  out.set_out_dir(p.out_dir);
  out.set_already_there(p.already_there);
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

absl::Status ValidateGetRequest(const control::GetRequest& request) {
  absl::Status valid = ValidateHexId(request.cid(), "cid");
  if (valid.ok() && !request.out_dir().empty() &&
      request.out_dir()[0] != '/') {
    valid = absl::InvalidArgumentError(absl::StrCat(
        "out_dir must be an absolute folder (or empty for the daemon's "
        "download folder), got '",
        EscapeText(request.out_dir()), "'"));
  }
  if (valid.ok() && !request.name().empty()) {
    valid = ValidateFileName(request.name());
  }
  if (valid.ok() && !request.expected_name().empty()) {
    valid = ValidateFileName(request.expected_name());
  }
  if (valid.ok() && request.has_expected_size() &&
      (request.expected_size() < 0 || request.expected_size() > kMaxFileSize)) {
    valid = absl::InvalidArgumentError(
        absl::StrCat("expected_size out of range: ", request.expected_size()));
  }
  return valid;
}

absl::Status ValidateDownloadRef(const control::DownloadRef& request) {
  return ValidateHexId(request.cid(), "cid");
}

absl::Status ValidateLimitsRequest(const control::LimitsRequest& request) {
  for (const auto& [set, value, name] :
       {std::make_tuple(request.has_max_upload_rate(),
                        request.max_upload_rate(), "max_upload_rate"),
        std::make_tuple(request.has_max_upload_rate_per_peer(),
                        request.max_upload_rate_per_peer(),
                        "max_upload_rate_per_peer"),
        std::make_tuple(request.has_max_download_rate(),
                        request.max_download_rate(), "max_download_rate"),
        std::make_tuple(request.has_max_download_rate_per_peer(),
                        request.max_download_rate_per_peer(),
                        "max_download_rate_per_peer"),
        std::make_tuple(request.has_max_uploads(),
                        static_cast<int64_t>(request.max_uploads()),
                        "max_uploads")}) {
    if (set && value < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, " must not be negative, got ", value));
    }
  }
  return absl::OkStatus();
}

DownloadRequest FromProto(const control::GetRequest& request) {
  DownloadRequest req;
  req.cid = request.cid();
  req.out_dir = request.out_dir();
  req.name = request.name();
  req.expected_size =
      request.has_expected_size() ? request.expected_size() : int64_t{-1};
  req.expected_name = request.expected_name();
  req.paused = request.paused();
  return req;
}

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

grpc::Status ControlServiceImpl::Follow(
    grpc::ServerContext* context, const std::string& cid,
    grpc::ServerWriter<control::GetProgress>* writer) {
  bool writer_gone = false;
  absl::StatusOr<std::string> path = backend_->WatchDownload(
      cid,
      [&](const DownloadProgress& p) {
        if (!writer_gone && !writer->Write(ToProto(p))) writer_gone = true;
      },
      [&] { return writer_gone || context->IsCancelled(); });
  if (!path.ok()) return ToGrpcStatus(path.status());
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::Get(
    grpc::ServerContext* context, const control::GetRequest* request,
    grpc::ServerWriter<control::GetProgress>* writer) {
  absl::Status valid = ValidateGetRequest(*request);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<DownloadProgress> added =
      backend_->AddDownload(FromProto(*request));
  if (!added.ok()) return ToGrpcStatus(added.status());
  if (added->state == DownloadState::kDone) {
    writer->Write(ToProto(*added));
    return grpc::Status::OK;
  }
  return Follow(context, request->cid(), writer);
}

grpc::Status ControlServiceImpl::Rescan(grpc::ServerContext* context,
                                        const control::RescanRequest* request,
                                        control::RescanResponse* response) {
  *response = backend_->Rescan();
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::Add(grpc::ServerContext* context,
                                     const control::GetRequest* request,
                                     control::GetProgress* response) {
  absl::Status valid = ValidateGetRequest(*request);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<DownloadProgress> added =
      backend_->AddDownload(FromProto(*request));
  if (!added.ok()) return ToGrpcStatus(added.status());
  *response = ToProto(*added);
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::List(grpc::ServerContext* context,
                                      const control::ListRequest* request,
                                      control::ListResponse* response) {
  for (const DownloadProgress& p : backend_->ListDownloads()) {
    *response->add_downloads() = ToProto(p);
  }
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::Watch(
    grpc::ServerContext* context, const control::DownloadRef* request,
    grpc::ServerWriter<control::GetProgress>* writer) {
  absl::Status valid = ValidateDownloadRef(*request);
  if (!valid.ok()) return ToGrpcStatus(valid);
  return Follow(context, request->cid(), writer);
}

namespace {

// One of Pause, Resume, Cancel.
grpc::Status OnDownload(
    const control::DownloadRef& request, control::GetProgress* response,
    const std::function<absl::StatusOr<DownloadProgress>(const std::string&)>&
        action) {
  absl::Status valid = ValidateDownloadRef(request);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<DownloadProgress> p = action(request.cid());
  if (!p.ok()) return ToGrpcStatus(p.status());
  *response = ToProto(*p);
  return grpc::Status::OK;
}

}  // namespace

grpc::Status ControlServiceImpl::Pause(grpc::ServerContext* context,
                                       const control::DownloadRef* request,
                                       control::GetProgress* response) {
  return OnDownload(*request, response, [this](const std::string& cid) {
    return backend_->PauseDownload(cid);
  });
}

grpc::Status ControlServiceImpl::Resume(grpc::ServerContext* context,
                                        const control::DownloadRef* request,
                                        control::GetProgress* response) {
  return OnDownload(*request, response, [this](const std::string& cid) {
    return backend_->ResumeDownload(cid);
  });
}

grpc::Status ControlServiceImpl::Cancel(grpc::ServerContext* context,
                                        const control::DownloadRef* request,
                                        control::GetProgress* response) {
  return OnDownload(*request, response, [this](const std::string& cid) {
    return backend_->CancelDownload(cid);
  });
}

grpc::Status ControlServiceImpl::GetConfig(grpc::ServerContext* context,
                                           const control::ConfigRequest* request,
                                           control::ConfigResponse* response) {
  *response = backend_->Config();
  return grpc::Status::OK;
}

grpc::Status ControlServiceImpl::SetLimits(grpc::ServerContext* context,
                                           const control::LimitsRequest* request,
                                           control::Limits* response) {
  absl::Status valid = ValidateLimitsRequest(*request);
  if (!valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<control::Limits> limits = backend_->SetLimits(*request);
  if (!limits.ok()) return ToGrpcStatus(limits.status());
  *response = *limits;
  return grpc::Status::OK;
}

}  // namespace trove
