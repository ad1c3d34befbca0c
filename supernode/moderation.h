// Moderation: the bans and takedowns a supernode learned from the index
// with its last lease (LeaseResponse.banned_peers / taken_down). The
// service refuses a banned peer's Join and leaves taken-down cids out of
// its search and Locate answers; the supernode drops a banned leaf that is
// joined. Thread-safe.
#ifndef TROVE_SUPERNODE_MODERATION_H_
#define TROVE_SUPERNODE_MODERATION_H_

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "protos/index.pb.h"
#include "protos/types.pb.h"

namespace trove {
namespace supernode {

class Moderation {
 public:
  // Replaces the lists by those of `lease`. Returns the peers banned now
  // that were not before.
  std::vector<std::string> Update(const index::LeaseResponse& lease);

  // PERMISSION_DENIED ("peer ... banned ...") when `peer_id` is banned.
  absl::Status CheckPeer(const std::string& peer_id) const;
  bool IsTakenDown(const std::string& cid) const;

  // Removes the hits of taken-down cids.
  void FilterHits(std::vector<SearchHit>* hits) const;

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> banned_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::string> taken_down_ ABSL_GUARDED_BY(mu_);
};

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_MODERATION_H_
