#include "supernode/moderation.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace trove {
namespace supernode {

std::vector<std::string> Moderation::Update(const index::LeaseResponse& lease) {
  absl::flat_hash_set<std::string> banned(lease.banned_peers().begin(),
                                          lease.banned_peers().end());
  absl::flat_hash_set<std::string> down(lease.taken_down().begin(),
                                        lease.taken_down().end());
  std::vector<std::string> fresh;
  absl::MutexLock lock(&mu_);
  for (const std::string& p : banned) {
    if (!banned_.contains(p)) fresh.push_back(p);
  }
  banned_ = std::move(banned);
  taken_down_ = std::move(down);
  return fresh;
}

absl::Status Moderation::CheckPeer(const std::string& peer_id) const {
  absl::MutexLock lock(&mu_);
  if (!banned_.contains(peer_id)) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "peer banned: ", peer_id.substr(0, 16),
      "... is banned by the community's operator"));
}

bool Moderation::IsTakenDown(const std::string& cid) const {
  absl::MutexLock lock(&mu_);
  return taken_down_.contains(cid);
}

void Moderation::FilterHits(std::vector<SearchHit>* hits) const {
  absl::MutexLock lock(&mu_);
  if (taken_down_.empty()) return;
  hits->erase(std::remove_if(hits->begin(), hits->end(),
                             [this](const SearchHit& h)
                                 ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                   return taken_down_.contains(h.cid());
                                 }),
              hits->end());
}

}  // namespace supernode
}  // namespace trove
