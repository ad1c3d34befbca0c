// Reachability checks for the election: the index dials a peer back at the
// address it reported and counts it reachable only when the peer there
// answers over TLS with the key of its peer id. Checks run on a few
// threads of their own, so a report is answered at once; the result is
// recorded in the ElectionStore and used by the next election rounds.
#ifndef TROVE_INDEX_SERVER_REACHABILITY_H_
#define TROVE_INDEX_SERVER_REACHABILITY_H_

#include <deque>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/tls_credentials.h"
#include "index_server/election_store.h"

namespace trove {
namespace index_server {

// Dials one peer. Thread-safe.
class PeerDialer {
 public:
  virtual ~PeerDialer() = default;
  // OK when the peer with `peer_id` answered at `address` within
  // `timeout` (any answer of its PeerService counts: TLS has proved who it
  // is). UNAVAILABLE or DEADLINE_EXCEEDED otherwise.
  virtual absl::Status Dial(const std::string& address,
                            const std::string& peer_id,
                            absl::Duration timeout) = 0;
};

// Over gRPC with `tls` (accepting only the peer's own key). With an
// insecure context (tests only) nothing proves who answered.
std::unique_ptr<PeerDialer> NewGrpcPeerDialer(
    std::shared_ptr<const TlsContext> tls);

// Thread-safe.
class ReachabilityProber {
 public:
  struct Options {
    int threads = 2;
    absl::Duration timeout = absl::Seconds(3);
    // Checks waiting at most; more are dropped (asked again at the peer's
    // next report).
    size_t max_queue = 1000;
  };

  // `store` and `dialer` must outlive the prober. Starts its threads.
  ReachabilityProber(ElectionStore* store, PeerDialer* dialer,
                     Options options);
  ~ReachabilityProber();

  // Queues a check of `peer_id` at `address` unless one is queued or
  // running for it, or the queue is full.
  void Enqueue(const std::string& peer_id, const std::string& address);

  // Stops the threads (queued checks are dropped). Idempotent.
  void Stop();

  // Checks done so far, and how many found the peer.
  int64_t checks() const;
  int64_t reached() const;

 private:
  void Loop();

  ElectionStore* const store_;
  PeerDialer* const dialer_;
  const Options options_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::pair<std::string, std::string>> queue_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> pending_ ABSL_GUARDED_BY(mu_);
  int64_t checks_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reached_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_REACHABILITY_H_
