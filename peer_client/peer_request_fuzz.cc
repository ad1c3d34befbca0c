// Fuzz target: every request a peer takes from other peers (PeerService:
// GetManifest, RequestSlot, GetChunks, WatchHaves) and from its local
// clients (ControlService: Get / Add, Watch / Pause / Resume / Cancel,
// SetLimits, Search), run through the checks the services make before they
// look at files, slots, streams or downloads (peer_service.h,
// control_service.h).
//
// The first byte picks the request; the rest is the request's bytes (for
// GetChunks, two bytes of the file asked for first: its chunk count and
// which chunks a download in progress holds). Besides not crashing:
// - a refusal says why in clean text, naming the field;
// - an accepted request passes again after a serialise / parse round trip,
//   and what it names (cids, requester ids, file names) is clean;
// - an accepted GetChunks asks only for chunks the file has and, while it
//   downloads, holds.
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/fuzz_util.h"
#include "common/manifest_auth.h"
#include "common/text.h"
#include "common/validation.h"
#include "peer_client/control_service.h"
#include "peer_client/file_catalog.h"
#include "peer_client/peer_service.h"
#include "protos/control.pb.h"
#include "protos/peer.pb.h"

namespace trove {
namespace {

using fuzz::CheckRefusal;
using fuzz::ParseInput;
using fuzz::RoundTrip;

constexpr int kMaxIndexes = 8;

bool Clean(absl::string_view s) {
  return FindUnsafeText(s) == absl::string_view::npos;
}

void Manifest(absl::string_view in) {
  peer::GetManifestRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateManifestRequest(r);
  if (!s.ok()) {
    CheckRefusal(s, {"nonce", "cid"});
    return;
  }
  TROVE_FUZZ_CHECK(ValidateHexId(r.cid(), "cid").ok());
  TROVE_FUZZ_CHECK(r.nonce().empty() ||
                   (r.nonce().size() >= kMinManifestNonce &&
                    r.nonce().size() <= kMaxManifestNonce));
  TROVE_FUZZ_CHECK(ValidateManifestRequest(RoundTrip(r)).ok());
}

void Slot(absl::string_view in, bool proven) {
  peer::SlotRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateSlotRequest(r, proven);
  if (!s.ok()) {
    CheckRefusal(s, {"requester_id", "cid"});
    return;
  }
  // A claimed requester is a clean id: it keys the slot queue and the log.
  if (!proven) TROVE_FUZZ_CHECK(ValidateHexId(r.requester_id(), "id").ok());
  TROVE_FUZZ_CHECK(ValidateSlotRequest(RoundTrip(r), proven).ok());
}

void WatchHaves(absl::string_view in, bool proven) {
  peer::WatchHavesRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateWatchHavesRequest(r, proven);
  if (!s.ok()) {
    CheckRefusal(s, {"requester_id", "cid"});
    return;
  }
  if (!proven && !r.requester_id().empty()) {
    TROVE_FUZZ_CHECK(ValidateHexId(r.requester_id(), "id").ok());
  }
  TROVE_FUZZ_CHECK(ValidateWatchHavesRequest(RoundTrip(r), proven).ok());
}

void Chunks(absl::string_view in) {
  if (in.size() < 2) return;
  // The file: 1 to 256 chunks; a download in progress when the second byte
  // is odd, holding every chunk whose index has a bit in common with it.
  const int64_t chunk_count = 1 + static_cast<uint8_t>(in[0]);
  const uint8_t mask = static_cast<uint8_t>(in[1]);
  ChunkHaveMap have(chunk_count);
  for (int64_t i = 0; i < chunk_count; ++i) {
    if ((i & mask) != 0) have.Set(static_cast<uint32_t>(i));
  }
  const ChunkHaveMap* partial = (mask & 1) != 0 ? &have : nullptr;
  peer::GetChunksRequest r;
  if (!ParseInput(in.substr(2), &r)) return;
  absl::Status s = CheckChunkIndexes(r, kMaxIndexes, chunk_count, partial);
  if (!s.ok()) {
    CheckRefusal(s, {"chunk", "cid"});
    return;
  }
  TROVE_FUZZ_CHECK(r.indexes_size() >= 1 && r.indexes_size() <= kMaxIndexes);
  for (uint32_t index : r.indexes()) {
    TROVE_FUZZ_CHECK(static_cast<int64_t>(index) < chunk_count);
    TROVE_FUZZ_CHECK(partial == nullptr || partial->Has(index));
  }
  TROVE_FUZZ_CHECK(
      CheckChunkIndexes(RoundTrip(r), kMaxIndexes, chunk_count, partial).ok());
}

void Get(absl::string_view in) {
  control::GetRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateGetRequest(r);
  if (!s.ok()) {
    CheckRefusal(s, {"cid", "out_dir", "name", "expected_size"});
    return;
  }
  TROVE_FUZZ_CHECK(ValidateHexId(r.cid(), "cid").ok());
  TROVE_FUZZ_CHECK(r.out_dir().empty() || r.out_dir()[0] == '/');
  for (const std::string* name : {&r.name(), &r.expected_name()}) {
    if (name->empty()) continue;
    TROVE_FUZZ_CHECK(ValidateFileName(*name).ok() && Clean(*name));
    TROVE_FUZZ_CHECK(name->find('/') == std::string::npos);
  }
  const DownloadRequest d = FromProto(r);
  TROVE_FUZZ_CHECK(d.cid == r.cid());
  TROVE_FUZZ_CHECK(d.expected_size == -1 ||
                   (d.expected_size >= 0 && d.expected_size <= kMaxFileSize));
  TROVE_FUZZ_CHECK(ValidateGetRequest(RoundTrip(r)).ok());
}

void Ref(absl::string_view in) {
  control::DownloadRef r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateDownloadRef(r);
  if (!s.ok()) {
    CheckRefusal(s, {"cid"});
  } else {
    TROVE_FUZZ_CHECK(ValidateDownloadRef(RoundTrip(r)).ok());
  }
}

void Limits(absl::string_view in) {
  control::LimitsRequest r;
  if (!ParseInput(in, &r)) return;
  absl::Status s = ValidateLimitsRequest(r);
  if (!s.ok()) {
    CheckRefusal(s, {"max_"});
    return;
  }
  TROVE_FUZZ_CHECK(r.max_upload_rate() >= 0 &&
                   r.max_upload_rate_per_peer() >= 0 &&
                   r.max_download_rate() >= 0 &&
                   r.max_download_rate_per_peer() >= 0 &&
                   r.max_uploads() >= 0);
  TROVE_FUZZ_CHECK(ValidateLimitsRequest(RoundTrip(r)).ok());
}

void Search(absl::string_view in) {
  SearchQuery q;
  if (!ParseInput(in, &q)) return;
  absl::Status s = ValidateSearchQuery(q);
  if (!s.ok()) {
    CheckRefusal(s);
    return;
  }
  TROVE_FUZZ_CHECK(!q.text().empty() && Clean(q.text()));
  TROVE_FUZZ_CHECK(ValidateSearchQuery(RoundTrip(q)).ok());
}

}  // namespace
}  // namespace trove

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trove;  // NOLINT
  uint8_t selector;
  absl::string_view in;
  if (!fuzz::SplitInput(data, size, &selector, &in)) return 0;
  // Whether the connection proves who calls (TLS) or only the message says.
  const bool proven = ((selector / 8) & 1) != 0;
  switch (selector % 8) {
    case 0: Manifest(in); break;
    case 1: Slot(in, proven); break;
    case 2: WatchHaves(in, proven); break;
    case 3: Chunks(in); break;
    case 4: Get(in); break;
    case 5: Ref(in); break;
    case 6: Limits(in); break;
    default: Search(in); break;
  }
  return 0;
}
