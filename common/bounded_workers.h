#ifndef TROVE_COMMON_BOUNDED_WORKERS_H_
#define TROVE_COMMON_BOUNDED_WORKERS_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace trove {

// A few threads for work that may wait (on PostgreSQL, on another
// server), so that gRPC's callback threads never do; a bounded queue in
// front. Thread-safe.
class BoundedWorkers {
 public:
  BoundedWorkers(int threads, int max_queued);
  // Runs the queued work, then stops the threads.
  ~BoundedWorkers();
  // Queues `work`; false (and `work` is not run) when the queue is full.
  bool Submit(std::function<void()> work);

 private:
  void Loop();

  const size_t max_queued_;
  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace trove

#endif  // TROVE_COMMON_BOUNDED_WORKERS_H_
