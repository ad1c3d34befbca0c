// Initial seeding (BitTorrent's "super-seeding", in spirit): the upload side
// of a seed while a crowd downloads a new file from it. While at least
// `min_downloaders` peers download a file this peer holds in full, and not
// every chunk of it has been sent once, each chunk is sent to one peer only:
// a request for a chunk already sent (or being sent) to another peer is
// refused (ABORTED), and downloaders are told which chunks are still unsent
// (PeerService.WatchHaves), so that they ask this peer only for those and
// trade the rest among themselves. A capped seed's upload then goes into
// chunks the crowd does not have yet. Once every chunk has gone out, or
// fewer downloaders remain, chunks are served to anyone as usual.
//
// A downloader that holds many reservations while another holds few gives
// up the rest of its request (ShouldYield; GetChunks then ends with
// ABORTED after the chunks sent), so that the seed's chunks are spread over
// the crowd.
//
// A downloader not heard of (RequestSlot, GetChunks, WatchHaves) for
// `downloader_idle` no longer counts, and the chunks sent to it count as
// unsent again (it may have left before passing them on). A file no
// downloader asked about for `forget_after` is forgotten.
//
// Pure bookkeeping keyed by cid and requester peer id; the clock is
// injected. Thread-safe.
#ifndef TROVE_PEER_CLIENT_TRANSFER_INITIAL_SEEDING_H_
#define TROVE_PEER_CLIENT_TRANSFER_INITIAL_SEEDING_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace trove {

class InitialSeeding {
 public:
  struct Options {
    // Downloaders of one file at once before initial seeding starts (with
    // one alone there is nobody to trade with).
    int min_downloaders = 2;
    // A downloader silent for this long no longer counts.
    absl::Duration downloader_idle = absl::Seconds(15);
    // A file nobody asked about for this long is forgotten.
    absl::Duration forget_after = absl::Seconds(60);
    // Most files tracked; the least recently asked is forgotten first.
    int max_files = 64;
    // While on, chunks reserved for one downloader beyond this many are
    // given up (ShouldYield) when another downloader has fewer.
    int fair_share = 2;
  };

  // What downloaders are told (HaveUpdate).
  struct Hint {
    // Initial seeding is on: ask only for the chunks in `unsent`.
    bool active = false;
    // While active: chunks neither sent nor being sent, as a have-map.
    std::string unsent;
    // Changes whenever `active` or `unsent` does.
    int64_t version = 0;
  };

  // `clock` (null: Clock::Real()) must outlive this object.
  explicit InitialSeeding(Options options, Clock* clock = nullptr);

  // `requester` downloads `cid`, a file of `chunk_count` chunks this peer
  // holds in full.
  void Seen(const std::string& cid, int64_t chunk_count,
            const std::string& requester);

  // Before sending chunks `indexes` of `cid` to `requester` (Seen is
  // implied). OK: they are reserved for it until Sent or Release. ABORTED,
  // reserving nothing, while initial seeding is on and one of them was sent
  // to, or is reserved for, another downloader. Indexes past the end are
  // ignored (the caller refuses them).
  absl::Status Reserve(const std::string& cid, int64_t chunk_count,
                       const std::string& requester,
                       const std::vector<uint32_t>& indexes);

  // Chunk `index` of `cid` was sent whole to `requester`.
  void Sent(const std::string& cid, const std::string& requester,
            uint32_t index);

  // The reservations of `requester` for `indexes` end (the stream ended);
  // those not sent are unsent again.
  void Release(const std::string& cid, const std::string& requester,
               const std::vector<uint32_t>& indexes);

  // Whether a stream sending `cid` to `requester` should end now and leave
  // its `remaining` chunks to others: initial seeding is on, `remaining` is
  // more than fair_share, this requester holds more than fair_share
  // reservations, and another downloader holds fewer. (A downloader that
  // asked for many chunks before the crowd arrived would otherwise keep
  // the seed to itself.)
  bool ShouldYield(const std::string& cid, const std::string& requester,
                   int remaining);

  // The hint for `cid` now (inactive for an unknown cid).
  Hint Current(const std::string& cid);

  // Blocks until the hint for `cid` differs from `version`, or `timeout`
  // (real time) passes; returns the hint then.
  Hint WaitForChange(const std::string& cid, int64_t version,
                     absl::Duration timeout);

  // Files tracked now.
  int file_count();

 private:
  struct Chunk {
    int sent_to = -1;               // Requester index; -1: not sent.
    std::vector<int> reserved_by;   // Requester indexes.
  };
  struct File {
    std::vector<Chunk> chunks;
    int64_t sent_count = 0;         // Chunks with sent_to set.
    std::map<std::string, int> ids;     // Requester -> index.
    std::vector<absl::Time> last_seen;  // By requester index.
    absl::Time last_asked;
    bool active = false;
    int64_t version = 0;
  };

  File* FindOrAddLocked(const std::string& cid, int64_t chunk_count,
                        absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int IdLocked(File* f, const std::string& requester, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops idle downloaders' claims and forgotten files; recomputes `active`.
  void ExpireLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void UpdateLocked(File* f, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Hint HintLocked(const File& f) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock* const clock_;
  absl::Mutex mu_;
  std::map<std::string, File> files_ ABSL_GUARDED_BY(mu_);
  int64_t next_version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_INITIAL_SEEDING_H_
