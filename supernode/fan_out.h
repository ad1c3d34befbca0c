// Asking the other supernodes while the index is unreachable.
//
// A supernode that cannot reach the index answers a Search or Locate from
// its own leaves and from the supernodes it learned of from the index
// (IndexForwarder::other_supernodes). The query travels with a random id
// and a hop limit (FanOut in supernode.proto): each supernode answers a
// given id once (later arrivals get an empty answer), asks its own known
// supernodes only while hops are left, asks at most `max_targets` of them
// at once, and gives up on those that have not answered by the caller's
// deadline. What answered is merged; what did not is simply missing (the
// answer is partial, as it already is without the index).
//
// FanOutSearch is the bookkeeping and the merging; the calls go through a
// SupernodeLink (gRPC with the supernodes' certificates in production, a
// fake in unit tests).
//
// Thread-safe.
#ifndef TROVE_SUPERNODE_FAN_OUT_H_
#define TROVE_SUPERNODE_FAN_OUT_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/tls_credentials.h"
#include "protos/supernode.pb.h"

namespace trove {
namespace supernode {

// Calls another supernode's PeerSearch / PeerLocate. Implementations are
// thread-safe; each call gives up at `deadline`.
class SupernodeLink {
 public:
  virtual ~SupernodeLink() = default;
  virtual absl::StatusOr<SearchResponse> PeerSearch(
      const SupernodeRef& target, const PeerSearchRequest& request,
      absl::Time deadline) = 0;
  virtual absl::StatusOr<LocateResponse> PeerLocate(
      const SupernodeRef& target, const PeerLocateRequest& request,
      absl::Time deadline) = 0;
};

// A SupernodeLink over gRPC, accepting at each address only the supernode
// enrolled with the id it was named with (TLS with `tls`; channels kept per
// address).
std::unique_ptr<SupernodeLink> NewGrpcSupernodeLink(
    std::shared_ptr<const TlsContext> tls);

class FanOutSearch {
 public:
  struct Options {
    // Hops a query this supernode starts may travel (1: only the
    // supernodes it knows itself).
    int hops = 2;
    // Most supernodes asked at once by one query.
    int max_targets = 8;
    // How long a query id is remembered, and how many at most.
    absl::Duration remember = absl::Seconds(60);
    size_t max_remembered = 20000;
  };

  // `link` and `clock` must outlive the FanOut. `known` lists the other
  // supernodes to ask (called at each query).
  FanOutSearch(Options options, SupernodeLink* link, Clock* clock,
               std::function<std::vector<SupernodeRef>()> known);

  // A fresh fan-out state for a query this supernode starts: a new random
  // id, options.hops.
  FanOut NewQuery() const;
  const Options& options() const { return options_; }

  // Records `query_id`; false when it was seen within `remember` (the
  // caller then answers with nothing).
  bool FirstSight(const std::string& query_id);

  // Asks the known supernodes (at most max_targets) for `query` with one
  // hop less than `from` (REQUIRES: from.hops_left() > 0), in parallel,
  // until `deadline`. Returns the hits of those that answered.
  std::vector<SearchHit> Search(const SearchQuery& query,
                                const FanOut& from,
                                absl::Time deadline);
  // The same for the sources of `cid`; the answers' sources, in order of
  // answer, and the size and name from the first that knew the file.
  struct Located {
    int64_t size = 0;
    std::string name;
    std::vector<Source> sources;
  };
  Located Locate(const std::string& cid, const FanOut& from,
                 absl::Time deadline);

  // How many supernodes were asked, over all queries (for tests and logs).
  int64_t calls() const;

 private:
  std::vector<SupernodeRef> Targets() const;

  const Options options_;
  SupernodeLink* const link_;
  Clock* const clock_;
  const std::function<std::vector<SupernodeRef>()> known_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, absl::Time> seen_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, std::string>> seen_order_
      ABSL_GUARDED_BY(mu_);
  int64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// Checks a FanOut from another supernode: query id of 8 to 64 bytes, hops
// from 0 to `max_hops`. INVALID_ARGUMENT naming what is wrong.
absl::Status ValidateFanOut(const FanOut& fan_out, int max_hops);

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_FAN_OUT_H_
