// The supernode election, as pure logic: what the index knows of peers and
// supernodes goes in (read from the store's rows, with the time of the
// round), promotions and demotions come out. No I/O, no clock of its own,
// no randomness: every index replica given the same rows and time decides
// the same, ties broken by id. See docs/election.md for the reasoning.
//
//   ElectionInput in;                 // from the store
//   in.now = clock->Now();
//   ElectionDecision d = Elect(in, params);
//   for (id : d.promote) ...          // enrol as promoted keys
//   for (id : d.demote) ...           // start draining
//   for (id : d.retire) ...           // revoke (drained, or never came up)
//
// Thread-compatible (free functions over values).
#ifndef TROVE_INDEX_SERVER_ELECTION_H_
#define TROVE_INDEX_SERVER_ELECTION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace trove {
namespace index_server {

struct ElectionParams {
  // Leaves one supernode should serve at most: more live peers than
  // supernodes × this promotes another. KaZaA's supernodes were measured
  // serving 60-150 leaves.
  int target_leaves_per_supernode = 100;
  // Supernodes kept whenever that many eligible peers exist.
  int min_supernodes = 2;
  // Hysteresis on load: a promoted supernode is demoted only when the
  // remaining ones would serve the leaves at no more than this fraction of
  // the target. With 0.5, a promotion needs the load to double before the
  // demotion it could cause, so roles do not flap around the target.
  double demote_load_fraction = 0.5;
  // A peer must have run this long (its reported uptime, aged by the time
  // since the report) to be promoted.
  absl::Duration min_uptime = absl::Minutes(5);
  // While no supernode serves at all, the uptime asked of the first ones:
  // a new community has no long-running peers, and without a supernode
  // nobody can share anything. Reachability is still required.
  absl::Duration bootstrap_min_uptime = absl::Seconds(10);
  // A peer's report older than this means it is gone.
  absl::Duration report_ttl = absl::Seconds(90);
  // Hysteresis in time: a promoted supernode serves at least this long
  // before it may be demoted for low load.
  absl::Duration min_tenure = absl::Minutes(10);
  // A promoted peer that has not registered as a supernode after this long
  // is given up (its promotion retired) so that another can be chosen.
  absl::Duration registration_grace = absl::Seconds(60);
  // How long a demoted supernode keeps serving while its leaves move.
  absl::Duration drain = absl::Seconds(30);
  // Most promotions in one round (a crowd arriving at once is placed over
  // a few rounds rather than promoting on a guess).
  int max_promotions_per_round = 4;
  // A peer reporting less free memory than this is not promoted (0
  // reported: unknown, accepted).
  int64_t min_free_memory_bytes = int64_t{64} << 20;
};

// INVALID_ARGUMENT naming the first parameter out of range.
absl::Status ValidateElectionParams(const ElectionParams& params);

// A peer as its latest capacity report and the index's own check left it.
struct PeerReport {
  std::string peer_id;
  // Configured or measured, bytes per second (0: unknown).
  int64_t upload_bytes_per_second = 0;
  // Uptime the peer stated at `reported_at`.
  absl::Duration uptime = absl::ZeroDuration();
  // Whether the index reached it at its advertised address as that peer
  // (never the peer's own word).
  bool reachable = false;
  // 0: unknown.
  int64_t free_memory_bytes = 0;
  absl::Time reported_at = absl::InfinitePast();
  // The operator banned it.
  bool banned = false;
};

// A supernode key: an operator's (permanent) or the election's.
struct SupernodeRecord {
  std::string supernode_id;
  // Enrolled by the operator (a standalone supernode): never demoted.
  bool permanent = false;
  // Holds a live lease now.
  bool live = false;
  // Leaves it reported at its last renewal.
  int leaf_count = 0;
  // When it was enrolled or promoted.
  absl::Time since = absl::InfinitePast();
  // Demoted: draining since `draining_since` (InfinitePast: not draining).
  absl::Time draining_since = absl::InfinitePast();

  bool draining() const { return draining_since != absl::InfinitePast(); }
};

struct ElectionInput {
  absl::Time now = absl::InfinitePast();
  // Every peer with a report (stale ones are ignored).
  std::vector<PeerReport> peers;
  // Every supernode key that is not revoked.
  std::vector<SupernodeRecord> supernodes;
};

struct ElectionDecision {
  // Peers to promote, best first.
  std::vector<std::string> promote;
  // Promoted supernodes to demote (drain, then retire).
  std::vector<std::string> demote;
  // Promoted keys to revoke now: drained, or promoted and never registered
  // within the grace period.
  std::vector<std::string> retire;

  // What the round saw, for logs and metrics.
  int live_peers = 0;
  int eligible_peers = 0;
  // Supernodes counted as serving (live or just promoted, not draining).
  int serving = 0;
  // Supernodes the load and the minimum ask for.
  int wanted = 0;
};

// Whether `peer` may be promoted at `now` (fresh report, reachable, old
// enough, enough memory, not banned). Says nothing of whether it already
// is a supernode.
bool Eligible(const PeerReport& peer, absl::Time now,
              const ElectionParams& params);

// True when `a` is a better candidate than `b`: higher bandwidth class
// (powers of two, so small differences do not outweigh uptime), then
// longer uptime at `now`, then more free memory, then the smaller id.
bool BetterCandidate(const PeerReport& a, const PeerReport& b, absl::Time now);

// One round of the election. REQUIRES: ValidateElectionParams(params).ok().
ElectionDecision Elect(const ElectionInput& input,
                       const ElectionParams& params);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_ELECTION_H_
