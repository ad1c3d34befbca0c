// The GetChunks streams a peer is serving, by requester, so that none can
// hold an upload slot without taking the data:
// - At most `max_per_requester` streams per requester at once; more are
//   refused (Begin fails), so one requester cannot tie up the server's
//   threads with streams it never reads.
// - A requester is stalled from the moment one of its streams waits to
//   write while none of its writes completes, until one does. Ending its
//   streams and opening new ones does not end a stall; only taking data
//   does. A requester stalled for `stall` has its streams cancelled (their
//   cancel functions are called; the caller also takes its slot), which
//   ends them. A slow reader is not stalled: every chunk it takes, on any
//   of its streams, counts.
// A requester's record is forgotten `stall` after its last stream ended.
//
#ifndef TROVE_PEER_CLIENT_TRANSFER_UPLOAD_STREAMS_H_
#define TROVE_PEER_CLIENT_TRANSFER_UPLOAD_STREAMS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace trove {

class UploadStreams {
 public:
  struct Options {
    // Streams served at once to one requester.
    int max_per_requester = 16;
    // How long a stream may wait in a Write with no progress by its
    // requester before it is cancelled; zero: never.
    absl::Duration stall = absl::Seconds(60);
    // How often the thread started by Start() sweeps.
    absl::Duration sweep_every = absl::Seconds(1);
  };

  // `clock`: null for Clock::Real(); must outlive this.
  explicit UploadStreams(Options options, Clock* clock = nullptr);
  // Stop().
  ~UploadStreams();
  UploadStreams(const UploadStreams&) = delete;
  UploadStreams& operator=(const UploadStreams&) = delete;

  // Registers a stream of `requester`; `cancel` ends it (it is called from
  // Sweep, without the lock, at most once). Returns the stream's handle,
  // or RESOURCE_EXHAUSTED when the requester has max_per_requester streams
  // already.
  absl::StatusOr<int64_t> Begin(const std::string& requester,
                                std::function<void()> cancel);
  // Ends a stream (its cancel is not called after this returns).
  void End(int64_t stream);

  // Around each Write of a stream: WriteDone with `progressed` when the
  // message went out (progress for every stream of its requester).
  void WriteStarted(int64_t stream);
  void WriteDone(int64_t stream, bool progressed);

  // Cancels the streams of every requester stalled for `stall` (see
  // above); returns how many.
  int Sweep();

  // Runs Sweep every sweep_every until Stop() (no-op when stall is zero).
  void Start();
  void Stop();

  // Streams registered now, and those of `requester`.
  int active() const;
  int active(const std::string& requester) const;
  // Streams cancelled as stalled since start.
  int64_t cancelled() const;

 private:
  struct Stream {
    std::string requester;
    std::function<void()> cancel;
    bool writing = false;
  };
  struct Requester {
    int streams = 0;
    // Streams in a Write now.
    int writing = 0;
    // Since when it waits with nothing taken; InfiniteFuture: not stalled.
    absl::Time stalled_since = absl::InfiniteFuture();
    // When its last stream ended (while it has none).
    absl::Time left;
  };

  const Options options_;
  Clock* const clock_;

  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, Stream> streams_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Requester> requesters_ ABSL_GUARDED_BY(mu_);
  int64_t cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  // Held by Sweep while it calls cancel functions, so that End waits for
  // them (a cancel must not run on a stream that has gone).
  absl::Mutex cancel_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_UPLOAD_STREAMS_H_
