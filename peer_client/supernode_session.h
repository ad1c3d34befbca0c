// A leaf's session with its supernode: proves the peer's identity
// (Challenge, then Join signing "trove-join-v1" || nonce || listen_address),
// publishes the full share list, then deltas as the list changes, and
// heartbeats at the interval the supernode asks for. When the session is
// lost (NOT_FOUND / UNAUTHENTICATED) it joins again and republishes in full;
// when the supernode is unreachable it moves to the backup supernode (named
// by Join, or the second one Bootstrap listed), re-asking the index for
// supernodes when all known ones fail, with exponential backoff. Leaves on
// Stop(). It is also the downloader's SourceDirectory, and forwards searches.
//
// Every Publish and the Leave carry the change signed by the peer
// (LeafChange, see types.proto), bound to the supernode it joined and
// numbered: seq grows with every change (from the larger of the saved seq
// and the time in microseconds), prev_seq names the change before. When
// the supernode or the index finds a gap (FAILED_PRECONDITION, or
// HeartbeatResponse.resend_full) the session publishes its full list
// again. Heartbeats carry a signed Presence, which the index needs to keep
// the peer's sources.
//
// A supernode that dies is noticed at once, not at the next heartbeat: the
// session holds the supernode's Watch stream (supernode_watch.h), whose
// break moves it to its backup (the first other supernode the joined one
// named that has not failed lately), where it publishes its full list
// again; the new supernode's Join answer and Watch events name the next
// backup. It also watches the channel and heartbeats at once when the
// connection drops (or a search or locate through it fails). While not joined, join_status() says why
// and when it tries again.
//
// Thread-safe. One background thread runs the session.
#ifndef TROVE_PEER_CLIENT_SUPERNODE_SESSION_H_
#define TROVE_PEER_CLIENT_SUPERNODE_SESSION_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/identity.h"
#include "common/tls_credentials.h"
#include "peer_client/supernode_watch.h"
#include "peer_client/transfer/downloader.h"
#include "peer_client/transfer/source_directory.h"
#include "protos/supernode.grpc.pb.h"
#include "protos/types.pb.h"

namespace trove {

class SupernodeSession : public SourceDirectory {
 public:
  struct Options {
    // Supernodes to join, first one first. May be empty when
    // `index_address` is set.
    std::vector<std::string> supernodes;
    // The index to ask (Bootstrap) for supernodes when none is known or all
    // known ones failed. Empty: none.
    std::string index_address;
    // host:port of this peer's PeerService, announced in Join.
    std::string listen_address;
    // Reported in Join (uptime is filled in).
    Capacity capacity;
    // Deadline of every call.
    absl::Duration rpc_timeout = absl::Seconds(10);
    // Backoff between rounds of failed attempts.
    absl::Duration min_backoff = absl::Milliseconds(500);
    absl::Duration max_backoff = absl::Seconds(30);
    // Most entries in one Publish (a bigger full list goes as a full
    // Publish followed by deltas).
    int publish_batch = 5000;
    // Where the last signed seq is kept across restarts ("": not kept; the
    // clock alone then keeps seq growing).
    std::string seq_path;
    // How long each signed presence is valid.
    absl::Duration presence_validity = absl::Seconds(180);
    // TLS to the index and supernodes (checked as the community's index,
    // and as an enrolled supernode with the id Bootstrap named, when it
    // named one). Null: the process's default (common/server_util
    // DefaultTls()).
    std::shared_ptr<const TlsContext> tls;
    // How often the connection to the supernode is looked at between
    // heartbeats (a dropped one is probed at once).
    absl::Duration probe_interval = absl::Milliseconds(250);
  };

  // `identity` must outlive the session.
  SupernodeSession(const Identity* identity, Options options);
  ~SupernodeSession() override;
  SupernodeSession(const SupernodeSession&) = delete;
  SupernodeSession& operator=(const SupernodeSession&) = delete;

  // Starts the background thread. Call once.
  void Start();
  // Leaves the supernode (best effort) and stops the thread. Idempotent.
  void Stop();
  // Stops the thread without leaving, as a peer that dies does: the
  // supernode learns of it only from its connections closing (once the
  // session is destroyed) and its session running out. Idempotent; a
  // later Stop() does not leave either.
  void Abandon();

  // The list to share from now on; the session publishes the difference.
  // Nothing is published before the first call.
  void SetFiles(const std::vector<FileEntry>& files);

  // The downloads in progress to announce as partial sources (each holds
  // some verified chunks); the session publishes the difference. Published
  // with the files, so only once SetFiles was called.
  void SetPartials(const std::vector<FileEntry>& partials);

  // Waits until the latest SetFiles list is published, up to `timeout`.
  // True when it is.
  bool WaitPublished(absl::Duration timeout);

  // Searches through the supernode. UNAVAILABLE when not joined; the
  // supernode's error otherwise.
  absl::StatusOr<supernode::SearchResponse> Search(const SearchQuery& query);

  // SourceDirectory.
  absl::StatusOr<LocatedSources> Locate(const std::string& cid) override;
  void ReportBadSource(const std::string& cid, const std::string& peer_id,
                       const std::string& reason) override;

  // The supernode joined now ("" when none) and the known backup.
  std::string supernode() const;
  // While not joined: why, and when the next attempt is ("no supernode
  // reachable (127.0.0.1:7401: connection refused); retrying in 4s",
  // "refused by 127.0.0.1:7401: ...", "joining 127.0.0.1:7401"). "" when
  // joined.
  std::string join_status() const;
  // Asks the session to check the supernode now (a call through it
  // failed).
  void ProbeSoon();
  // Asks the session to leave its supernode for one the index offers now
  // (the index demoted it). The leaf's full list goes to the new one,
  // which takes the peer over at the index; nothing is withdrawn between.
  void MoveSoon();
  std::string backup() const;
  // How many times a Join succeeded.
  int join_count() const;

 private:
  using Stub = supernode::SupernodeService::StubInterface;
  class TrackedCall;

  void Run();
  // One join attempt at `address`.
  absl::Status Join(const std::string& address);
  absl::Status PublishFull(const std::map<std::string, FileEntry>& files,
                           const std::map<std::string, FileEntry>& partials);
  absl::Status PublishDelta(const std::map<std::string, FileEntry>& files,
                            const std::map<std::string, FileEntry>& partials);
  absl::Status Heartbeat();
  // Signs `req` as the next change of this peer's chain (the plain fields
  // move into the signed change).
  absl::Status SignPublish(supernode::PublishRequest* req);
  // The next seq, saved to options_.seq_path.
  int64_t NextSeq();
  void Leave();
  // Reacts to a failed call: rejoin, or move to another supernode.
  void HandleError(const absl::Status& status, const char* what);
  // The supernode to try next ("" when none is known).
  std::string PickCandidate();
  // Marks the current candidate failed; true when a whole round failed.
  bool CandidateFailed();
  void Bootstrap();
  // Sleeps up to `d` unless stopping; false when stopping. Sets the retry
  // time shown by join_status().
  bool Pause(absl::Duration d);
  // UNAVAILABLE "not joined to a supernode: WHY".
  absl::Status NotJoined() const;
  // A failed call through the supernode: when it did not answer, asks for
  // a probe and says so.
  absl::Status SupernodeFailure(const absl::Status& status);
  // Records why joining failed, for join_status().
  void SetJoinError(const std::string& address, const absl::Status& status);
  // Whether the connection to the joined supernode looks lost (its channel
  // is no longer ready), or a probe was asked for.
  bool ProbeNeeded();
  std::shared_ptr<Stub> stub() const;
  absl::Duration HeartbeatInterval() const;
  std::shared_ptr<grpc::ChannelInterface> Channel(const std::string& address,
                                                  const Expected& expected);
  std::chrono::system_clock::time_point Deadline() const;

  // The Watch stream and the backup (session thread only).
  void StartWatch(const std::string& address,
                  const supernode::JoinResponse& joined);
  void StopWatch();
  // How the Watch stream ended, once, when it broke since the last call.
  std::optional<absl::Status> TakeWatchEnd();
  // Makes `address` the next candidate to try.
  void PreferCandidate(const std::string& address);

  const Identity* const identity_;
  const Options options_;
  const absl::Time started_;
  std::thread thread_;

  // Only the session thread touches these.
  std::map<std::string, FileEntry> published_;
  std::map<std::string, FileEntry> published_partials_;
  bool need_full_ = true;
  // The seq of the last change signed, and the supernode joined now.
  int64_t last_seq_ = 0;
  std::string supernode_id_;
  absl::Duration presence_validity_;
  absl::Duration backoff_;
  std::vector<std::string> candidates_;
  // Supernode ids by address, as Bootstrap named them.
  std::map<std::string, std::string> supernode_ids_;
  size_t cursor_ = 0;
  size_t round_failures_ = 0;
  int rejoins_in_a_row_ = 0;

  mutable absl::Mutex mu_;
  bool started_thread_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool leave_on_stop_ ABSL_GUARDED_BY(mu_) = true;
  std::map<std::string, FileEntry> desired_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, FileEntry> desired_partials_ ABSL_GUARDED_BY(mu_);
  bool files_set_ ABSL_GUARDED_BY(mu_) = false;
  int64_t desired_version_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t published_version_ ABSL_GUARDED_BY(mu_) = -1;
  std::string address_ ABSL_GUARDED_BY(mu_);  // "" when not joined.
  std::string session_ ABSL_GUARDED_BY(mu_);
  std::string backup_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Stub> stub_ ABSL_GUARDED_BY(mu_);
  // The channel of stub_, watched for a dropped connection.
  std::shared_ptr<grpc::ChannelInterface> channel_ ABSL_GUARDED_BY(mu_);
  bool probe_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool move_requested_ ABSL_GUARDED_BY(mu_) = false;
  // Why the last attempt to join failed, and when the next one is.
  std::string join_error_ ABSL_GUARDED_BY(mu_);
  std::string joining_ ABSL_GUARDED_BY(mu_);
  absl::Time retry_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration heartbeat_interval_ ABSL_GUARDED_BY(mu_);
  int join_count_ ABSL_GUARDED_BY(mu_) = 0;
  // Calls of the session thread in progress.
  std::set<grpc::ClientContext*> calls_ ABSL_GUARDED_BY(mu_);

  // The joined supernode's Watch stream (session thread only), the backup
  // choice, and how the stream of the current generation ended.
  std::unique_ptr<WatchStream> watch_;
  BackupChooser backups_{Clock::Real(), absl::Seconds(60)};
  int64_t watch_generation_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> watch_end_ ABSL_GUARDED_BY(mu_);
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_SUPERNODE_SESSION_H_
