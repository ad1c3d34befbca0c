// Which chunk to ask of which source: the download engine's bookkeeping, with
// no sockets, files or clocks, so it can be tested on its own.
//
// Every chunk is wanted, in flight (asked of exactly one source), or done.
// A source gets the lowest-indexed wanted chunks it holds, up to its window
// of chunks in flight. When a source fails, its chunks in flight are wanted
// again, so another source picks them up. Sources may be partial (a bitmap
// of the chunks they hold, as in Manifest.have).
//
// Not thread-safe: the downloader calls it under its own lock.
#ifndef TROVE_PEER_CLIENT_CHUNK_SCHEDULER_H_
#define TROVE_PEER_CLIENT_CHUNK_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace trove {

class ChunkScheduler {
 public:
  using SourceId = int;

  struct Options {
    // Most chunks in flight per source at once.
    int window = 16;
  };

  // A file of `chunk_count` chunks (at least 1), all wanted.
  ChunkScheduler(int64_t chunk_count, Options options);

  // Adds a source. `have` is its bitmap (bit i of byte i/8, least
  // significant first); empty means it holds every chunk. Re-adding a known
  // source replaces its bitmap.
  void AddSource(SourceId source, const std::string& have = "");

  // Forgets a source; its chunks in flight are wanted again and returned.
  std::vector<uint32_t> RemoveSource(SourceId source);

  // Up to `max` chunks to ask `source` for now, lowest index first, within
  // its free window, among wanted chunks it holds; they become in flight for
  // it. Empty when there is nothing for it (or it is unknown).
  std::vector<uint32_t> Assign(SourceId source, int max);

  // Chunk `index` from `source` arrived and was verified. False (and no
  // change) when it was not in flight for that source.
  bool MarkDone(SourceId source, uint32_t index);

  // Chunk `index` asked of `source` did not arrive; it is wanted again.
  // False when it was not in flight for that source.
  bool MarkFailed(SourceId source, uint32_t index);

  int64_t chunk_count() const { return static_cast<int64_t>(state_.size()); }
  int64_t done_count() const { return done_count_; }
  bool complete() const { return done_count_ == chunk_count(); }
  bool IsDone(uint32_t index) const;
  // Chunks neither done nor in flight.
  int64_t wanted_count() const { return static_cast<int64_t>(wanted_.size()); }
  // Chunks in flight for `source` (0 for an unknown source).
  int in_flight(SourceId source) const;
  // Wanted chunks that no known source holds: if any, and nothing is in
  // flight, the download cannot finish with the sources known now.
  int64_t UnavailableCount() const;
  int source_count() const { return static_cast<int>(sources_.size()); }

 private:
  enum class State : uint8_t { kWanted, kInFlight, kDone };
  struct SourceState {
    std::string have;  // Empty: holds everything.
    std::set<uint32_t> in_flight;
  };

  static bool Has(const SourceState& s, uint32_t index);

  const Options options_;
  std::vector<State> state_;
  std::set<uint32_t> wanted_;
  int64_t done_count_ = 0;
  std::map<SourceId, SourceState> sources_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_CHUNK_SCHEDULER_H_
