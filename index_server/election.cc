#include "index_server/election.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_cat.h"

namespace trove {
namespace index_server {
namespace {

// floor(log2(bytes per second)) + 1; 0 for unknown.
int BandwidthClass(int64_t bytes_per_second) {
  int c = 0;
  while (bytes_per_second > 0) {
    ++c;
    bytes_per_second >>= 1;
  }
  return c;
}

absl::Duration UptimeAt(const PeerReport& p, absl::Time now) {
  absl::Duration since = now - p.reported_at;
  if (since < absl::ZeroDuration()) since = absl::ZeroDuration();
  return p.uptime + since;
}

bool Fresh(const PeerReport& p, absl::Time now, const ElectionParams& params) {
  return p.reported_at != absl::InfinitePast() &&
         now - p.reported_at <= params.report_ttl;
}

}  // namespace

absl::Status ValidateElectionParams(const ElectionParams& p) {
  if (p.target_leaves_per_supernode < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("target_leaves_per_supernode must be at least 1, got ",
                     p.target_leaves_per_supernode));
  }
  if (p.min_supernodes < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "min_supernodes must not be negative, got ", p.min_supernodes));
  }
  if (!(p.demote_load_fraction > 0 && p.demote_load_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("demote_load_fraction must be between 0 and 1, got ",
                     p.demote_load_fraction));
  }
  if (p.min_uptime < absl::ZeroDuration() ||
      p.bootstrap_min_uptime < absl::ZeroDuration() ||
      p.min_tenure < absl::ZeroDuration() ||
      p.drain < absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "min_uptime, min_tenure and drain must not be negative");
  }
  if (p.report_ttl <= absl::ZeroDuration() ||
      p.registration_grace <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "report_ttl and registration_grace must be positive");
  }
  if (p.max_promotions_per_round < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_promotions_per_round must be at least 1, got ",
                     p.max_promotions_per_round));
  }
  if (p.min_free_memory_bytes < 0) {
    return absl::InvalidArgumentError(
        "min_free_memory_bytes must not be negative");
  }
  return absl::OkStatus();
}

bool Eligible(const PeerReport& peer, absl::Time now,
              const ElectionParams& params) {
  if (!Fresh(peer, now, params) || peer.banned || !peer.reachable) return false;
  if (UptimeAt(peer, now) < params.min_uptime) return false;
  if (peer.free_memory_bytes > 0 &&
      peer.free_memory_bytes < params.min_free_memory_bytes) {
    return false;
  }
  return true;
}

bool BetterCandidate(const PeerReport& a, const PeerReport& b, absl::Time now) {
  const int ca = BandwidthClass(a.upload_bytes_per_second);
  const int cb = BandwidthClass(b.upload_bytes_per_second);
  if (ca != cb) return ca > cb;
  // Whole seconds, so that two replicas a few microseconds apart agree.
  const int64_t ua = absl::ToInt64Seconds(UptimeAt(a, now));
  const int64_t ub = absl::ToInt64Seconds(UptimeAt(b, now));
  if (ua != ub) return ua > ub;
  if (a.free_memory_bytes != b.free_memory_bytes) {
    return a.free_memory_bytes > b.free_memory_bytes;
  }
  return a.peer_id < b.peer_id;
}

ElectionDecision Elect(const ElectionInput& input,
                       const ElectionParams& params) {
  const absl::Time now = input.now;
  ElectionDecision d;

  // Supernodes: retire what is over, count what serves.
  std::set<std::string> keyed;
  std::vector<const SupernodeRecord*> demotable;
  for (const SupernodeRecord& s : input.supernodes) {
    keyed.insert(s.supernode_id);
    if (s.permanent) {
      if (s.live && !s.draining()) ++d.serving;
      continue;
    }
    if (s.draining()) {
      if (now - s.draining_since >= params.drain) {
        d.retire.push_back(s.supernode_id);
      }
      continue;
    }
    if (!s.live) {
      if (now - s.since >= params.registration_grace) {
        d.retire.push_back(s.supernode_id);
      } else {
        ++d.serving;  // Just promoted: give it time to come up.
      }
      continue;
    }
    ++d.serving;
    if (now - s.since >= params.min_tenure) demotable.push_back(&s);
  }

  // Peers: who is there, who could serve.
  ElectionParams eligibility = params;
  if (d.serving == 0) {
    eligibility.min_uptime =
        std::min(params.min_uptime, params.bootstrap_min_uptime);
  }
  std::vector<const PeerReport*> candidates;
  int eligible_total = 0;
  for (const PeerReport& p : input.peers) {
    if (!Fresh(p, now, params)) continue;
    ++d.live_peers;
    if (!Eligible(p, now, eligibility)) continue;
    ++eligible_total;
    if (keyed.count(p.peer_id) == 0) candidates.push_back(&p);
  }
  d.eligible_peers = eligible_total;
  std::sort(d.retire.begin(), d.retire.end());

  const int target = params.target_leaves_per_supernode;
  const int for_load = (d.live_peers + target - 1) / target;
  d.wanted = std::max(for_load, params.min_supernodes);

  if (d.serving < d.wanted) {
    std::sort(candidates.begin(), candidates.end(),
              [now](const PeerReport* a, const PeerReport* b) {
                return BetterCandidate(*a, *b, now);
              });
    const size_t n = std::min<size_t>(
        std::min(d.wanted - d.serving, params.max_promotions_per_round),
        candidates.size());
    for (size_t i = 0; i < n; ++i) d.promote.push_back(candidates[i]->peer_id);
    return d;
  }

  // Demote at most one per round, only when the others would serve the
  // leaves well under the target, never below the minimum.
  const int remaining = d.serving - 1;
  if (demotable.empty() || remaining < params.min_supernodes) return d;
  if (static_cast<double>(d.live_peers) >
      remaining * static_cast<double>(target) * params.demote_load_fraction) {
    return d;
  }
  const SupernodeRecord* idlest = *std::min_element(
      demotable.begin(), demotable.end(),
      [](const SupernodeRecord* a, const SupernodeRecord* b) {
        if (a->leaf_count != b->leaf_count) return a->leaf_count < b->leaf_count;
        return a->supernode_id < b->supernode_id;
      });
  d.demote.push_back(idlest->supernode_id);
  return d;
}

}  // namespace index_server
}  // namespace trove
