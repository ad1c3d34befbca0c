// The JSON shapes of the command line's --json output and of the web
// page's API, in one place so that both say the same (documented in
// peer_client/README.md). Pure functions, thread-safe.
#ifndef TROVE_PEER_CLIENT_JSON_FORMAT_H_
#define TROVE_PEER_CLIENT_JSON_FORMAT_H_

#include <string>

#include "absl/status/status.h"
#include "nlohmann/json.hpp"
#include "protos/control.pb.h"
#include "protos/types.pb.h"

namespace trove {

// One download: {"cid","name","state","detail","out_dir","done_bytes",
// "size","sources","bytes_per_second","eta_seconds","queue_position",
// "chunks_fetched","chunks_resumed","bad_sources","received":[...]}, and
// "path" and "already_there" once done. eta_seconds is null when unknown.
nlohmann::json DownloadJson(const control::GetProgress& p);

// One search hit, numbered from 1: {"number","cid","name","size",
// "source_count","link"}.
nlohmann::json HitJson(const SearchHit& hit, int number);

// `status --json` (see README).
nlohmann::json StatusJson(const control::StatusResponse& r);

// {"max_upload_rate",...,"max_uploads"}.
nlohmann::json LimitsJson(const control::Limits& l);

// An error: {"event":"error","code":"NOT_FOUND","message":"..."}.
nlohmann::json ErrorJson(const absl::Status& status);

// One line of JSON (invalid UTF-8 replaced).
std::string JsonLine(const nlohmann::json& j);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_JSON_FORMAT_H_
