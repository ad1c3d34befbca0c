// Fuzz target: the check of a manifest another peer sends (CheckManifest).
// The input is a serialized trove.peer.Manifest. When the input's first
// byte is odd, the expected cid is the one its own hashes and size give, so
// that the checks behind the cid (name, have-map) are reached too. Besides
// not crashing: an accepted manifest has one hash per chunk, a safe name and
// a have-map of the right size, and its saved form passes the same check.
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "common/merkle.h"
#include "common/text.h"
#include "common/validation.h"
#include "peer_client/transfer/manifest_check.h"
#include "protos/peer.pb.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  trove::peer::Manifest m;
  if (!m.ParseFromArray(data + 1, static_cast<int>(size - 1))) return 0;
  std::string cid = m.cid();
  if ((data[0] & 1) != 0 && m.size() >= 0 && m.size() < (int64_t{1} << 40)) {
    std::vector<trove::Hash> hashes;
    bool all_hashes = true;
    for (const std::string& b : m.chunk_hashes()) {
      absl::StatusOr<trove::Hash> h = trove::HashFromBytes(b);
      if (!h.ok()) {
        all_hashes = false;
        break;
      }
      hashes.push_back(*h);
    }
    if (all_hashes && !hashes.empty()) cid = trove::ComputeCid(hashes, m.size());
  }
  // With a peer id expected, a manifest without a valid proof never passes.
  if ((data[0] & 2) != 0) {
    absl::StatusOr<trove::CheckedManifest> as_peer =
        trove::CheckManifest(m, cid, std::string(64, 'a'), "nonce");
    Check(!as_peer.ok());
  }
  absl::StatusOr<trove::CheckedManifest> checked =
      trove::CheckManifest(m, cid, std::nullopt);
  if (!checked.ok()) return 0;
  Check(static_cast<int64_t>(checked->hashes.size()) ==
        trove::ChunkCount(checked->size));
  Check(trove::ValidateFileName(checked->name).ok());
  Check(trove::FindUnsafeText(checked->name) == absl::string_view::npos);
  Check(checked->have.empty() ||
        static_cast<int64_t>(checked->have.size()) ==
            (trove::ChunkCount(checked->size) + 7) / 8);
  const trove::peer::Manifest saved = trove::ToSavedManifest(*checked, cid);
  absl::StatusOr<trove::CheckedManifest> again =
      trove::CheckManifest(saved, cid, std::nullopt);
  Check(again.ok());
  Check(again->size == checked->size && again->name == checked->name &&
        again->hashes == checked->hashes && again->have.empty());
  return 0;
}
