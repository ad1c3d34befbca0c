// The leaf's end of SupernodeService.Watch, and the choice of a backup.
//
// WatchStream holds the stream open on gRPC's callback API (no thread of
// its own): every event is handed to `on_event`, and the stream's end to
// `on_end` once (UNAVAILABLE when the supernode died or stops, NOT_FOUND
// when it ended the session, CANCELLED after Cancel()). Its break is how a
// leaf learns within a moment that its supernode is gone.
//
// BackupChooser picks the supernode to move to: the first one the joined
// supernode lists that is neither the joined one nor one that failed
// recently (the index lists a dead supernode until its lease ends).
// Pure bookkeeping over an injected clock.
//
// Both are thread-safe.
#ifndef TROVE_PEER_CLIENT_SUPERNODE_WATCH_H_
#define TROVE_PEER_CLIENT_SUPERNODE_WATCH_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "protos/supernode.grpc.pb.h"

namespace trove {

class WatchStream {
 public:
  using OnEvent = std::function<void(const supernode::SupernodeEvent&)>;
  using OnEnd = std::function<void(const absl::Status&)>;

  // Opens the stream for `session` on `stub`. The callbacks run on gRPC's
  // threads and must not block for long.
  static std::unique_ptr<WatchStream> Open(
      supernode::SupernodeService::StubInterface* stub,
      const std::string& session, OnEvent on_event, OnEnd on_end);

  // Cancels the stream and waits until gRPC is done with it.
  ~WatchStream();
  WatchStream(const WatchStream&) = delete;
  WatchStream& operator=(const WatchStream&) = delete;

  // True once the stream ended.
  bool ended() const;

 private:
  class Reactor;
  explicit WatchStream(std::unique_ptr<Reactor> reactor);
  std::unique_ptr<Reactor> reactor_;
};

class BackupChooser {
 public:
  // A supernode that failed is skipped for `forget_after` (`clock` must
  // outlive the chooser).
  BackupChooser(Clock* clock, absl::Duration forget_after)
      : clock_(clock), forget_after_(forget_after) {}

  // The supernode joined now, and the others it named (best first).
  void Joined(const std::string& address,
              const std::vector<supernode::SupernodeRef>& others);
  // A newer list of others from the joined supernode.
  void Others(const std::vector<supernode::SupernodeRef>& others);
  // `address` failed (it stopped answering, or its stream broke).
  void Failed(const std::string& address);

  // The backup: the first other that is not the joined one and did not
  // fail within forget_after; "" when none.
  std::string backup() const;
  // The supernode id the joined supernode named for `address` ("" unknown).
  std::string IdOf(const std::string& address) const;
  // Every other known now, in order (for the candidates to try).
  std::vector<std::string> others() const;

 private:
  bool RecentlyFailedLocked(const std::string& address) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  const absl::Duration forget_after_;
  mutable absl::Mutex mu_;
  std::string joined_ ABSL_GUARDED_BY(mu_);
  std::vector<supernode::SupernodeRef> others_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time> failed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_SUPERNODE_WATCH_H_
