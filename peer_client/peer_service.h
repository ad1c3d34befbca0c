// PeerService: serves the manifests and chunks of the files in a FileCatalog,
// by cid only. Nothing reaches the disk except through the catalog's paths,
// so nothing outside a shared folder can be read. A file whose size or mtime
// no longer match what was hashed is not served (NOT_FOUND) until it is
// hashed again.
//
// Uploads go through UploadSlots: a requester is served only while it holds
// a slot; the others are queued and told their place (RequestSlot, or
// RESOURCE_EXHAUSTED from GetChunks); when slots are short, peers that
// uploaded to this one are served first (their credit is what the ledger
// counts as received from them). Who the requester is: over TLS, the peer
// id its client certificate proves (common/tls_credentials.h Caller), and
// the requester_id in the message is ignored, so made-up ids get nothing;
// on a plaintext server, the requester_id it sends (a malformed one is
// INVALID_ARGUMENT; a GetChunks without one is keyed by its connection).
// Chunks sent are paced by an optional PeerRateLimiter (total and per
// requester).
//
// No requester holds a slot without taking the data (UploadStreams): at
// most max_streams_per_peer GetChunks streams run per requester, and a
// stream blocked in a write for upload_stall while its requester took
// nothing is cancelled, its requester's slot taken and the requester
// refused for upload_stall (UploadSlots::Suspend).
//
// GetChunks is the hot path: per request it opens the file once, checks it
// against its hashing once at the start and once more before the last chunk,
// and hints readahead. Each Chunk message is encoded by hand into one gRPC
// buffer: the few header bytes, then the chunk preaded straight behind them,
// so the bytes are copied once (page cache to that buffer) before the
// socket, not again by protobuf serialization.
//
// Initial seeding (transfer/initial_seeding.h): for a file held in full,
// while a crowd downloads it and not every chunk has gone out once, a chunk
// already sent to another downloader is refused (ABORTED), and WatchHaves
// tells the downloaders which chunks are still unsent.
//
// WatchHaves streams what this peer holds of a file: the have-map of a
// download in progress as it grows, and the initial seeding hints of a file
// held in full.
//
// Bytes sent are counted per requester and file in a TransferLedger.
//
// GetManifest proves who serves: when the request carries a nonce, the
// manifest carries this peer's public key and its Identity's signature of
// ManifestProofMessage(nonce, cid, peer_id), so a downloader can check that
// the peer holds the key of the id the supernode named.
//
// Thread-safe (gRPC calls it from many threads).
#ifndef TROVE_PEER_CLIENT_PEER_SERVICE_H_
#define TROVE_PEER_CLIENT_PEER_SERVICE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/identity.h"
#include "peer_client/file_catalog.h"
#include "peer_client/transfer/initial_seeding.h"
#include "peer_client/transfer/rate_limiter.h"
#include "peer_client/transfer/transfer_ledger.h"
#include "peer_client/transfer/upload_slots.h"
#include "peer_client/transfer/upload_streams.h"
#include "protos/peer.grpc.pb.h"

namespace trove {

// The checks each request from another peer gets before the service looks
// at its files, its slots or its streams. Pure; failures name the field.

// GetManifest: the nonce (empty, or kMinManifestNonce to kMaxManifestNonce
// bytes) and the cid.
absl::Status ValidateManifestRequest(const trove::peer::GetManifestRequest& r);

// The requester id a message claims, when the connection proves none:
// 64 lowercase hex digits. `what` names the field.
absl::Status ValidateClaimedRequester(const std::string& claimed);

// RequestSlot and WatchHaves: the claimed requester (unless the connection
// proves who calls, `proven`; WatchHaves may leave it empty) and the cid.
absl::Status ValidateSlotRequest(const trove::peer::SlotRequest& r,
                                 bool proven);
absl::Status ValidateWatchHavesRequest(
    const trove::peer::WatchHavesRequest& r, bool proven);

// GetChunks once its file is found: the cid, and 1 to `max_indexes`
// indexes, each below `chunk_count` and, for a file still downloading
// (`have` not null), held.
// INVALID_ARGUMENT, OUT_OF_RANGE or NOT_FOUND naming the chunk.
absl::Status CheckChunkIndexes(const trove::peer::GetChunksRequest& r,
                               int max_indexes, int64_t chunk_count,
                               const ChunkHaveMap* have);

class PeerServiceImpl final : public trove::peer::PeerService::Service {
 public:
  struct Options {
    // Requesters served at once; more are queued.
    int max_uploads = 32;
    // A slot unused for this long is freed.
    absl::Duration slot_idle = absl::Seconds(2);
    // A queue place not asked about for this long is dropped.
    absl::Duration queue_stale = absl::Seconds(3);
    // How soon a queued requester is told to ask again.
    absl::Duration retry_after = absl::Seconds(1);
    // While others wait, a holder keeps its slot this long at most (see
    // upload_slots.h); zero: no limit.
    absl::Duration slot_turn = absl::Seconds(5);
    // Most requesters queued; more get RESOURCE_EXHAUSTED without a place.
    int max_queue = 1000;
    // Most chunk indexes one GetChunks may ask for.
    int max_indexes_per_request = 4096;
    // GetChunks streams served to one requester at once.
    int max_streams_per_peer = 16;
    // A stream whose requester takes nothing for this long while the
    // stream waits to write is cancelled (see above); zero: never.
    absl::Duration upload_stall = absl::Seconds(60);
    // Upload limits (total and per requester); null: unlimited. Not owned;
    // must outlive the service.
    PeerRateLimiter* upload_limiter = nullptr;
    // FOR TESTS ONLY: flip one byte of every chunk sent, to play a hostile
    // source.
    bool testonly_corrupt_chunks = false;
    // Clock for the slots and initial seeding; null: Clock::Real(). Must
    // outlive the service.
    Clock* clock = nullptr;
    // Initial seeding of files held in full (see above).
    bool initial_seeding = true;
    InitialSeeding::Options seeding;
    // WatchHaves streams followed at once; more get RESOURCE_EXHAUSTED.
    int max_watchers = 256;
    // How often a WatchHaves stream checks for a cancelled call or a file
    // no longer held.
    absl::Duration watch_poll = absl::Milliseconds(200);
    // Counts the bytes sent per requester, and gives the credit of upload
    // slots (bytes received from a requester); null: neither. Not owned;
    // must outlive the service.
    TransferLedger* ledger = nullptr;
  };

  // `catalog` and `identity` must outlive the service. The identity's peer
  // id is put in manifests and its key signs their proofs.
  PeerServiceImpl(const FileCatalog* catalog, const Identity* identity,
                  Options options);
  // Ends the WatchHaves streams (StopWatches) and waits briefly for them.
  ~PeerServiceImpl() override;

  grpc::Status GetManifest(grpc::ServerContext* context,
                           const trove::peer::GetManifestRequest* request,
                           trove::peer::Manifest* response) override;

  grpc::Status RequestSlot(grpc::ServerContext* context,
                           const trove::peer::SlotRequest* request,
                           trove::peer::SlotResponse* response) override;

  grpc::Status WatchHaves(
      grpc::ServerContext* context,
      const trove::peer::WatchHavesRequest* request,
      grpc::ServerWriter<trove::peer::HaveUpdate>* writer) override;

  // Ends every WatchHaves stream soon (at shutdown, before the server
  // stops). Later WatchHaves calls end at once.
  void StopWatches();

  // GetChunks, served as a split stream writing raw (pre-encoded) Chunk
  // messages; installed in place of the generated GetChunks handler.
  grpc::Status StreamedGetChunks(
      grpc::ServerContext* context,
      grpc::ServerSplitStreamer<trove::peer::GetChunksRequest,
                                grpc::ByteBuffer>* stream);

  // Changes the number of upload slots now (see UploadSlots::SetMaxSlots).
  void SetMaxUploads(int max_uploads) { slots_.SetMaxSlots(max_uploads); }
  int max_uploads() { return slots_.max_slots(); }
  // Upload slots held and requesters queued now.
  int active_uploads() { return slots_.active(); }
  int queued_uploads() { return slots_.queued(); }
  // GetChunks streams running now.
  int active_streams() const { return active_streams_.load(); }
  // GetChunks streams cancelled because their requester did not read.
  int64_t stalled_streams() const { return streams_.cancelled(); }
  // Chunk bytes sent since start.
  int64_t bytes_served() const { return bytes_served_.load(); }
  // WatchHaves streams running now.
  int watchers() const { return watchers_.load(); }

 private:
  // The file for `cid` if the cid is well-formed and the file is held.
  absl::StatusOr<std::shared_ptr<const SharedFile>> Find(
      const std::string& cid) const;
  // Who is asking (see above): the proven id over TLS, else `claimed`
  // (validated; when empty and `connection_if_empty`, the connection).
  absl::StatusOr<std::string> Requester(grpc::ServerContext* context,
                                        const std::string& claimed,
                                        bool connection_if_empty) const;
  // Streams the chunks of `file` to `requester` (its slot key); `request`
  // was validated; `handle` is the stream's in streams_.
  absl::Status StreamChunks(grpc::ServerContext* context,
                            const trove::peer::GetChunksRequest& request,
                            const std::string& requester, int64_t handle,
                            const SharedFile& file,
                            grpc::ServerSplitStreamer<
                                trove::peer::GetChunksRequest,
                                grpc::ByteBuffer>* stream);

  // Follows a download in progress (`file.have` set) until it completes
  // or the file is no longer held.
  absl::Status WatchPartial(grpc::ServerContext* context,
                            const std::string& requester,
                            std::shared_ptr<const SharedFile> file,
                            grpc::ServerWriter<trove::peer::HaveUpdate>* writer);
  // Sends the initial seeding hints of a file held in full as they change.
  absl::Status WatchComplete(grpc::ServerContext* context,
                             const std::string& requester,
                             std::shared_ptr<const SharedFile> file,
                             grpc::ServerWriter<trove::peer::HaveUpdate>* writer);
  // Whether a WatchHaves stream should end: cancelled or stopping.
  bool WatchOver(grpc::ServerContext* context) const;

  const FileCatalog* const catalog_;
  const Identity* const identity_;
  const Options options_;
  UploadSlots slots_;
  UploadStreams streams_;
  InitialSeeding seeding_;
  std::atomic<int> active_streams_{0};
  std::atomic<int64_t> bytes_served_{0};
  std::atomic<int> watchers_{0};
  std::atomic<bool> stop_watches_{false};
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_PEER_SERVICE_H_
