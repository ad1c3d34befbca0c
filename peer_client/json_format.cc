#include "peer_client/json_format.h"

#include <string>
#include <vector>

#include "peer_client/cli_format.h"

namespace trove {

using nlohmann::json;

namespace {

json Received(
    const google::protobuf::RepeatedPtrField<control::SourceTraffic>& r) {
  json out = json::array();
  for (const control::SourceTraffic& t : r) {
    out.push_back({{"peer_id", t.peer_id()},
                   {"address", t.address()},
                   {"bytes", t.bytes()},
                   {"partial", t.partial()}});
  }
  return out;
}

}  // namespace

json DownloadJson(const control::GetProgress& p) {
  json j = {{"cid", p.cid()},
            {"name", p.name()},
            {"state", p.state()},
            {"detail", p.detail()},
            {"out_dir", p.out_dir()},
            {"done_bytes", p.done_bytes()},
            {"size", p.size()},
            {"sources", p.sources()},
            {"bytes_per_second", p.bytes_per_second()},
            {"queue_position", p.queue_position()},
            {"chunks_fetched", p.chunks_fetched()},
            {"chunks_resumed", p.chunks_resumed()},
            {"bad_sources", p.bad_sources()},
            {"received", Received(p.received())}};
  if (p.bytes_per_second() > 0 && p.size() >= p.done_bytes() && !p.done()) {
    j["eta_seconds"] = static_cast<double>(p.size() - p.done_bytes()) /
                       p.bytes_per_second();
  } else {
    j["eta_seconds"] = nullptr;
  }
  if (p.done()) {
    j["path"] = p.path();
    j["already_there"] = p.already_there();
  }
  return j;
}

json HitJson(const SearchHit& h, int number) {
  return {{"number", number},
          {"cid", h.cid()},
          {"name", h.name()},
          {"size", h.size()},
          {"source_count", h.source_count()},
          {"link", MakeTroveLink(h.cid(), h.name(), h.size())}};
}

json StatusJson(const control::StatusResponse& r) {
  json transfers = json::array();
  for (const control::Transfer& t : r.transfers()) {
    transfers.push_back({{"cid", t.cid()},
                         {"name", t.name()},
                         {"state", t.state()},
                         {"detail", t.detail()},
                         {"done_bytes", t.done_bytes()},
                         {"size", t.size()},
                         {"sources", t.sources()},
                         {"queue_position", t.queue_position()},
                         {"received", Received(t.received())}});
  }
  json uploads = json::array();
  for (const control::UploadTraffic& u : r.uploads()) {
    uploads.push_back({{"peer_id", u.peer_id()},
                       {"cid", u.cid()},
                       {"bytes_sent", u.bytes_sent()}});
  }
  return {{"peer_id", r.peer_id()},
          {"supernode", r.supernode()},
          {"backup", r.backup()},
          {"join_status", r.join_status()},
          {"role", r.role()},
          {"hosted_supernode", r.hosted_supernode()},
          {"hosted_leaves", r.hosted_leaves()},
          {"reachable", r.reachable()},
          {"listen_address", r.listen_address()},
          {"shares",
           std::vector<std::string>(r.shares().begin(), r.shares().end())},
          {"shared_files", r.shared_files()},
          {"shared_bytes", r.shared_bytes()},
          {"hashing", r.hashing()},
          {"uploads_active", r.uploads_active()},
          {"uploads_queued", r.uploads_queued()},
          {"uploads", uploads},
          {"download_dir", r.download_dir()},
          {"downloads_shared", r.downloads_shared()},
          {"web", r.web_address()},
          {"transfers", transfers}};
}

json LimitsJson(const control::Limits& l) {
  return {{"max_upload_rate", l.max_upload_rate()},
          {"max_upload_rate_per_peer", l.max_upload_rate_per_peer()},
          {"max_download_rate", l.max_download_rate()},
          {"max_download_rate_per_peer", l.max_download_rate_per_peer()},
          {"max_uploads", l.max_uploads()}};
}

json ErrorJson(const absl::Status& status) {
  return {{"event", "error"},
          {"code", absl::StatusCodeToString(status.code())},
          {"message", std::string(status.message())}};
}

std::string JsonLine(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace trove
