// Where a downloader learns who holds a cid and reports sources that sent
// bad data. The daemon's supernode session implements it; tests use fakes.
#ifndef TROVE_PEER_CLIENT_TRANSFER_SOURCE_DIRECTORY_H_
#define TROVE_PEER_CLIENT_TRANSFER_SOURCE_DIRECTORY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "protos/types.pb.h"

namespace trove {

// What a Locate found.
struct LocatedSources {
  // The file's size and a name a source uses, as the network reports them
  // (informational: the manifest, checked against the cid, is the truth).
  int64_t size = 0;
  std::string name;
  // Live sources, best first.
  std::vector<Source> sources;
};

// Implementations are thread-safe.
class SourceDirectory {
 public:
  virtual ~SourceDirectory() = default;

  // The sources of `cid`. NOT_FOUND when nobody shares it; UNAVAILABLE when
  // the network cannot be asked.
  virtual absl::StatusOr<LocatedSources> Locate(const std::string& cid) = 0;

  // Reports that `peer_id` sent data for `cid` that failed verification.
  // Best effort: failures are logged, not returned.
  virtual void ReportBadSource(const std::string& cid,
                               const std::string& peer_id,
                               const std::string& reason) = 0;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_SOURCE_DIRECTORY_H_
