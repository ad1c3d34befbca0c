// ElectionStore: what the supernode election keeps (peers' capacity
// reports, reachability checks, promoted and draining keys) and one round
// of it run against those rows. PgIndexStore implements it beside
// CatalogStore and TrustStore.
#ifndef TROVE_INDEX_SERVER_ELECTION_STORE_H_
#define TROVE_INDEX_SERVER_ELECTION_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "index_server/election.h"
#include "index_server/store.h"
#include "protos/types.pb.h"

namespace trove {
namespace index_server {

// Where a peer stands after its report.
struct PeerStanding {
  // Its key is promoted (and not draining): it should host a supernode.
  bool promoted = false;
  // Demoted: it should keep serving for `drain_left`, then stop.
  bool draining = false;
  absl::Duration drain_left = absl::ZeroDuration();
  // The supernode it is joined to drains or is gone: it should move.
  bool move = false;
  // Reachable at its current address as last checked.
  bool reachable = false;
  // Its current address has not been checked lately: dial it back.
  bool needs_probe = false;
};

// One round as it ran.
struct ElectionRound {
  // False when another replica was running one (this one did nothing).
  bool ran = false;
  ElectionDecision decision;
};

// A supernode key's role now, for the supernode map.
struct SupernodeRole {
  std::string supernode_id;
  // "enrolled" (an operator's, never demoted), "promoted" (the
  // election's) or "draining" (promoted, then demoted: serving its leaves
  // until they moved).
  std::string role;
  // When it was enrolled or promoted.
  absl::Time since = absl::InfinitePast();
  // When it started draining (InfinitePast: not draining).
  absl::Time draining_since = absl::InfinitePast();
};

// One change of a supernode key's role.
struct ElectionEvent {
  int64_t id = 0;
  absl::Time at = absl::InfinitePast();
  // "promoted", "demoted", "retired" (the election revoked a promoted key)
  // or "revoked" (an operator did).
  std::string event;
  std::string supernode_id;
};

// The supernode map's view of the keys: every key not revoked, and the
// latest role changes.
struct SupernodeMapView {
  std::vector<SupernodeRole> roles;
  // Newest first.
  std::vector<ElectionEvent> events;
};

// Thread-safe.
class ElectionStore {
 public:
  virtual ~ElectionStore() = default;

  // Keeps `report` (verified by the caller) as the peer's latest, unless a
  // newer one is stored (then only the standing is read). A peer whose
  // address changed is reachable again only once checked at the new one;
  // `reprobe_after` says how old a check may be. `drain` is how long a
  // demoted supernode serves.
  virtual absl::StatusOr<PeerStanding> RecordPeerReport(
      const CapacityReport& report, absl::Duration reprobe_after,
      absl::Duration drain, const CallContext& call) = 0;

  // Records what dialling `peer_id` at `address` found.
  virtual absl::Status RecordReachability(const std::string& peer_id,
                                          const std::string& address,
                                          bool reachable) = 0;

  // Under a lock that one replica at a time holds: reads the rows into an
  // ElectionInput (time is the database's), asks `decide`, and applies the
  // decision: promoted peers' keys are enrolled as "promoted", demoted
  // ones start draining, retired ones are revoked (their lease and what
  // is left of their sources go). Forgets reports older than
  // `forget_after`.
  virtual absl::StatusOr<ElectionRound> RunElectionRound(
      const std::function<ElectionDecision(const ElectionInput&)>& decide,
      absl::Duration forget_after) = 0;

  // The role of every key not revoked (at most `role_limit`, newest
  // first) and the newest `event_limit` role changes.
  virtual absl::StatusOr<SupernodeMapView> ReadSupernodeMap(
      int role_limit, int event_limit, const CallContext& call) = 0;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_ELECTION_STORE_H_
