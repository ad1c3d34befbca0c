// Runs the supernode election every `interval` on one thread: a round
// against the store's rows (ElectionStore::RunElectionRound, one replica
// at a time), logged, and counted on the index's metrics:
//
//   trove_index_election_rounds_total
//   trove_index_election_promotions_total
//   trove_index_election_demotions_total
//   trove_index_election_retirements_total
//   trove_index_election_peers{state="reporting|eligible"}
//   trove_index_election_supernodes{state="serving|wanted"}
//
// Thread-safe.
#ifndef TROVE_INDEX_SERVER_ELECTION_RUNNER_H_
#define TROVE_INDEX_SERVER_ELECTION_RUNNER_H_

#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "index_server/election.h"
#include "index_server/election_store.h"

namespace trove {
namespace index_server {

class ElectionRunner {
 public:
  // `store` must outlive the runner. REQUIRES: valid `params`.
  ElectionRunner(ElectionStore* store, ElectionParams params,
                 absl::Duration interval);
  ~ElectionRunner();

  // One round now (also what the thread runs).
  absl::StatusOr<ElectionRound> RunOnce();

  // Starts the thread. Call once.
  void Start();
  // Stops it. Idempotent.
  void Stop();

 private:
  ElectionStore* const store_;
  const ElectionParams params_;
  const absl::Duration interval_;
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_ELECTION_RUNNER_H_
