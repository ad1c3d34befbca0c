// Which chunk to ask of which source: the download engine's bookkeeping, with
// no sockets, files or clocks, so it can be tested on its own.
//
// Every chunk is wanted, in flight (asked of one source, or of two in the
// endgame), or done. The policy:
//
// - Rarest first. A chunk's availability is how many known sources hold it
//   (sources may be partial: a bitmap of the chunks they hold, as in
//   Manifest.have, growing as they verify more: AddHave). A source is given
//   the wanted chunks it holds, fewest holders first, so that this peer soon
//   holds (and shares) what is scarce and full sources are not spent on
//   what partial ones can give.
// - Among equally rare chunks, extents: the file is cut into extents of
//   extent_chunks consecutive chunks, and each download ranks the extents
//   in its own random order (from Options::seed). Chunks are taken extent by
//   extent in that order, in index order within an extent. Writes stay
//   mostly sequential (a few MiB at a time), while downloaders that start
//   together from one seed ask for different extents and soon hold
//   different chunks to trade (libtorrent's piece_extent_affinity, in
//   spirit). An extent begun stays first in line until it is taken.
// - Initial seeding: a source that says which of its chunks it has not sent
//   to anyone yet (SetUnsent; a seed does that while a crowd downloads a new
//   file) is asked only for those, so its upload is not spent on duplicates
//   that the crowd can trade, and for at most seeding_window of them at a
//   time, so that the seed's chunks are spread over the crowd (each
//   downloader gets some to trade). ClearUnsent lifts it.
// - A window per source: at most window(source) chunks in flight. It starts
//   at initial_window and then follows the rate measured by the caller
//   (SetRate): about window_seconds' worth of chunks, within [min_window,
//   max_window]. A slow source holds few chunks, so it cannot hold back the
//   end of the download; a fast one keeps its pipe full.
// - A source that fails or vanishes gives its chunks in flight back (they are
//   wanted again, first in line by index).
// - Endgame: once no wanted chunk is available from any source (everything
//   that can be asked is in flight), a source with room is also given chunks
//   in flight at another source (the last ones given out first: a source
//   sends its chunks in the order asked, so those come last), at most
//   max_requests_per_chunk sources per chunk. When one copy arrives
//   (MarkDone), the other requests are cancelled: the chunk leaves the other
//   sources' windows, and MarkDone names those sources so that the caller can
//   stop their transfers.
//
// Not thread-safe: the downloader calls it under its own lock.
#ifndef TROVE_PEER_CLIENT_TRANSFER_CHUNK_SCHEDULER_H_
#define TROVE_PEER_CLIENT_TRANSFER_CHUNK_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace trove {

class ChunkScheduler {
 public:
  using SourceId = int;

  struct Options {
    // Chunks in flight per source before its rate is known.
    int initial_window = 8;
    // Bounds of the window once the rate is known.
    int min_window = 2;
    int max_window = 32;
    // The window covers this many seconds of the source's rate.
    double window_seconds = 0.5;
    // Endgame: most sources one chunk is asked of at the same time.
    int max_requests_per_chunk = 2;
    // Chunks per extent (at least 1); one extent covering the file gives
    // plain index order among equally rare chunks.
    int extent_chunks = 4;
    // Seeds the random order of the extents.
    uint64_t seed = 0;
    // Most chunks in flight at a source while it is initial seeding.
    int seeding_window = 2;
  };

  // A file of `chunk_count` chunks (at least 1), all wanted.
  ChunkScheduler(int64_t chunk_count, Options options);

  // Marks chunk `index` done before any source is asked (a resumed
  // download). Ignored for an index past the end or not wanted.
  void SetDone(uint32_t index);

  // Adds a source. `have` is its bitmap (bit i of byte i/8, least
  // significant first); empty means it holds every chunk. Re-adding a known
  // source replaces its bitmap and keeps its chunks in flight.
  void AddSource(SourceId source, const std::string& have = "");

  // Source `source`, partial, now holds chunk `index` too. Ignored for an
  // unknown source, one that holds everything, or an index past the end.
  void AddHave(SourceId source, uint32_t index);

  // Initial seeding: `source` is asked only for the chunks set in `unsent`
  // (a bitmap as in AddSource), until ClearUnsent. Ignored for an unknown
  // source.
  void SetUnsent(SourceId source, const std::string& unsent);
  // Chunk `index` is no longer among `source`'s unsent ones (it refused it:
  // another peer got it first). A source without an unsent set gets one:
  // every chunk but `index`.
  void DropUnsent(SourceId source, uint32_t index);
  // `source` may be asked for any chunk it holds again.
  void ClearUnsent(SourceId source);

  // Forgets a source. Its chunks in flight that no other source is fetching
  // are wanted again; they are returned.
  std::vector<uint32_t> RemoveSource(SourceId source);

  // Tells the measured rate of `source` in chunks per second; its window
  // becomes ceil(rate * window_seconds) within [min_window, max_window].
  void SetRate(SourceId source, double chunks_per_second);

  // Up to `max` chunks to ask `source` for now, within its free window:
  // wanted chunks it holds (only unsent ones when it has an unsent set),
  // rarest first, then by extent rank and index; in the endgame,
  // chunks in flight elsewhere (see the class comment). They become in
  // flight for it. Empty when there is nothing for it (or it is unknown).
  std::vector<uint32_t> Assign(SourceId source, int max);

  // What MarkDone did.
  struct Arrival {
    // False (and nothing changed) when `index` was not in flight for the
    // source: it was done meanwhile by another, or never asked of it.
    bool accepted = false;
    // Other sources the chunk was also asked of (endgame); it is no longer
    // in flight for them.
    std::vector<SourceId> cancelled;
  };

  // Chunk `index` from `source` arrived and was verified.
  Arrival MarkDone(SourceId source, uint32_t index);

  // Chunk `index` asked of `source` did not arrive; unless another source
  // is fetching it, it is wanted again. False when it was not in flight for
  // that source.
  bool MarkFailed(SourceId source, uint32_t index);

  int64_t chunk_count() const { return static_cast<int64_t>(chunks_.size()); }
  int64_t done_count() const { return done_count_; }
  bool complete() const { return done_count_ == chunk_count(); }
  bool IsDone(uint32_t index) const;
  // Whether chunk `index` is in flight for `source`.
  bool IsInFlight(SourceId source, uint32_t index) const;
  // Chunks neither done nor in flight.
  int64_t wanted_count() const { return static_cast<int64_t>(wanted_.size()); }
  // Chunks in flight (each counted once, however many sources fetch it).
  int64_t in_flight_count() const {
    return static_cast<int64_t>(in_flight_.size());
  }
  // Chunks in flight for `source` (0 for an unknown source).
  int in_flight(SourceId source) const;
  // The window of `source` (0 for an unknown source).
  int window(SourceId source) const;
  // Whether `source` has an unsent set (SetUnsent, DropUnsent) now.
  bool restricted(SourceId source) const;
  // Wanted chunks that no known source holds: if any, and nothing is in
  // flight, the download cannot finish with the sources known now.
  int64_t UnavailableCount() const;
  // Whether every wanted chunk that some source holds is in flight.
  bool InEndgame() const;
  int source_count() const { return static_cast<int>(sources_.size()); }
  // How many known sources hold chunk `index` (0 past the end).
  int availability(uint32_t index) const;
  // The rank of the extent of chunk `index` in this download's order (0 is
  // taken first).
  uint32_t extent_rank(uint32_t index) const;

 private:
  enum class State : uint8_t { kWanted, kInFlight, kDone };
  struct Chunk {
    State state = State::kWanted;
    int availability = 0;
    // Sources fetching it (kInFlight only); at most max_requests_per_chunk.
    std::vector<SourceId> requesters;
  };
  struct SourceState {
    std::string have;  // Empty: holds everything.
    std::set<uint32_t> in_flight;
    int window = 0;
    // Initial seeding: only these may be asked (when `restricted`).
    bool restricted = false;
    std::string unsent;
  };
  // Order of the wanted chunks: rarest first, then extent rank, then index.
  struct Key {
    int availability;
    uint32_t rank;
    uint32_t index;
    bool operator<(const Key& o) const {
      if (availability != o.availability) return availability < o.availability;
      if (rank != o.rank) return rank < o.rank;
      return index < o.index;
    }
  };

  static bool Has(const SourceState& s, uint32_t index);
  // Whether `source` may be asked for `index` (holds it, and it is unsent
  // when the source is restricted).
  static bool MayAsk(const SourceState& s, uint32_t index);
  Key KeyOf(uint32_t index) const;
  void AddWanted(uint32_t index);
  void RemoveWanted(uint32_t index);
  // Adds `delta` to the availability of chunk `index`.
  void ChangeAvailability(uint32_t index, int delta);
  // `source` no longer fetches `index`; the chunk is wanted again when
  // nobody else fetches it. True when it became wanted.
  bool DropRequest(SourceId source, uint32_t index);
  void StartRequest(SourceId source, SourceState& s, uint32_t index);

  const Options options_;
  std::vector<Chunk> chunks_;
  // Rank of each extent.
  std::vector<uint32_t> extent_rank_;
  // Wanted chunks in the order they are given out.
  std::set<Key> wanted_;
  // Chunks in flight, by index.
  std::set<uint32_t> in_flight_;
  int64_t done_count_ = 0;
  std::map<SourceId, SourceState> sources_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_CHUNK_SCHEDULER_H_
