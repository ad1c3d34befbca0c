#include "peer_client/transfer/chunk_scheduler.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace trove {
namespace {

bool BitSet(const std::string& bits, uint32_t index) {
  const size_t byte = index / 8;
  if (byte >= bits.size()) return false;
  return (static_cast<uint8_t>(bits[byte]) >> (index % 8)) & 1;
}

}  // namespace

ChunkScheduler::ChunkScheduler(int64_t chunk_count, Options options)
    : options_(options),
      chunks_(static_cast<size_t>(std::max<int64_t>(chunk_count, 1))) {
  const size_t per = static_cast<size_t>(std::max(options_.extent_chunks, 1));
  const size_t extents = (chunks_.size() + per - 1) / per;
  extent_rank_.resize(extents);
  for (size_t e = 0; e < extents; ++e) extent_rank_[e] = static_cast<uint32_t>(e);
  // Fisher-Yates with the standard engine, so that a seed gives the same
  // order on every platform.
  std::mt19937_64 rng(options_.seed);
  for (size_t e = extents; e > 1; --e) {
    const size_t j = static_cast<size_t>(rng() % e);
    std::swap(extent_rank_[e - 1], extent_rank_[j]);
  }
  for (uint32_t i = 0; i < chunks_.size(); ++i) wanted_.insert(KeyOf(i));
}

ChunkScheduler::Key ChunkScheduler::KeyOf(uint32_t index) const {
  return Key{chunks_[index].availability, extent_rank(index), index};
}

uint32_t ChunkScheduler::extent_rank(uint32_t index) const {
  const size_t per = static_cast<size_t>(std::max(options_.extent_chunks, 1));
  const size_t e = index / per;
  return e < extent_rank_.size() ? extent_rank_[e] : 0;
}

int ChunkScheduler::availability(uint32_t index) const {
  return index < chunks_.size() ? chunks_[index].availability : 0;
}

bool ChunkScheduler::Has(const SourceState& s, uint32_t index) {
  return s.have.empty() || BitSet(s.have, index);
}

bool ChunkScheduler::MayAsk(const SourceState& s, uint32_t index) {
  return Has(s, index) && (!s.restricted || BitSet(s.unsent, index));
}

void ChunkScheduler::AddWanted(uint32_t index) {
  chunks_[index].state = State::kWanted;
  wanted_.insert(KeyOf(index));
}

void ChunkScheduler::RemoveWanted(uint32_t index) {
  wanted_.erase(KeyOf(index));
}

void ChunkScheduler::ChangeAvailability(uint32_t index, int delta) {
  Chunk& c = chunks_[index];
  if (c.state == State::kWanted) {
    RemoveWanted(index);
    c.availability += delta;
    wanted_.insert(KeyOf(index));
  } else {
    c.availability += delta;
  }
}

void ChunkScheduler::SetDone(uint32_t index) {
  if (index >= chunks_.size() || chunks_[index].state != State::kWanted) {
    return;
  }
  RemoveWanted(index);
  chunks_[index].state = State::kDone;
  ++done_count_;
}

void ChunkScheduler::AddSource(SourceId source, const std::string& have) {
  auto [it, added] = sources_.try_emplace(source);
  SourceState& s = it->second;
  if (added) {
    s.window = std::min(options_.initial_window, options_.max_window);
  }
  for (uint32_t i = 0; i < chunks_.size(); ++i) {
    const bool before = !added && Has(s, i);
    const bool after = have.empty() || BitSet(have, i);
    if (before != after) ChangeAvailability(i, after ? 1 : -1);
  }
  s.have = have;
}

void ChunkScheduler::AddHave(SourceId source, uint32_t index) {
  auto it = sources_.find(source);
  if (it == sources_.end() || index >= chunks_.size()) return;
  SourceState& s = it->second;
  if (Has(s, index)) return;  // Also: holds everything.
  const size_t byte = index / 8;
  if (s.have.size() <= byte) s.have.resize(byte + 1, '\0');
  s.have[byte] = static_cast<char>(static_cast<uint8_t>(s.have[byte]) |
                                   (1u << (index % 8)));
  ChangeAvailability(index, 1);
}

void ChunkScheduler::SetUnsent(SourceId source, const std::string& unsent) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  it->second.restricted = true;
  it->second.unsent = unsent;
}

void ChunkScheduler::DropUnsent(SourceId source, uint32_t index) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  if (!it->second.restricted) {
    it->second.restricted = true;
    it->second.unsent.assign((chunks_.size() + 7) / 8, '\xff');
  }
  std::string& bits = it->second.unsent;
  const size_t byte = index / 8;
  if (byte < bits.size()) {
    bits[byte] = static_cast<char>(static_cast<uint8_t>(bits[byte]) &
                                   ~(1u << (index % 8)));
  }
}

void ChunkScheduler::ClearUnsent(SourceId source) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  it->second.restricted = false;
  it->second.unsent.clear();
}

bool ChunkScheduler::DropRequest(SourceId source, uint32_t index) {
  Chunk& c = chunks_[index];
  auto r = std::find(c.requesters.begin(), c.requesters.end(), source);
  if (r == c.requesters.end()) return false;
  c.requesters.erase(r);
  if (!c.requesters.empty() || c.state != State::kInFlight) return false;
  in_flight_.erase(index);
  AddWanted(index);
  return true;
}

std::vector<uint32_t> ChunkScheduler::RemoveSource(SourceId source) {
  std::vector<uint32_t> out;
  auto it = sources_.find(source);
  if (it == sources_.end()) return out;
  SourceState& s = it->second;
  for (uint32_t index : s.in_flight) {
    if (DropRequest(source, index)) out.push_back(index);
  }
  for (uint32_t i = 0; i < chunks_.size(); ++i) {
    if (Has(s, i)) ChangeAvailability(i, -1);
  }
  sources_.erase(it);
  return out;
}

void ChunkScheduler::SetRate(SourceId source, double chunks_per_second) {
  auto it = sources_.find(source);
  if (it == sources_.end()) return;
  const double want = std::ceil(std::max(chunks_per_second, 0.0) *
                                options_.window_seconds);
  const int low = std::min(options_.min_window, options_.max_window);
  it->second.window = want >= options_.max_window
                          ? options_.max_window
                          : std::max(low, static_cast<int>(want));
}

void ChunkScheduler::StartRequest(SourceId source, SourceState& s,
                                  uint32_t index) {
  Chunk& c = chunks_[index];
  if (c.state == State::kWanted) {
    RemoveWanted(index);
    c.state = State::kInFlight;
    in_flight_.insert(index);
  }
  c.requesters.push_back(source);
  s.in_flight.insert(index);
}

std::vector<uint32_t> ChunkScheduler::Assign(SourceId source, int max) {
  std::vector<uint32_t> out;
  auto it = sources_.find(source);
  if (it == sources_.end()) return out;
  SourceState& s = it->second;
  const int window =
      s.restricted ? std::min(s.window, std::max(1, options_.seeding_window))
                   : s.window;
  int room = std::min<int>(max, window - static_cast<int>(s.in_flight.size()));
  if (room <= 0) return out;
  // Wanted chunks nobody holds (availability 0) are skipped.
  for (auto w = wanted_.lower_bound(Key{1, 0, 0});
       w != wanted_.end() && room > 0;) {
    const uint32_t index = w->index;
    ++w;  // StartRequest erases the current entry.
    if (!MayAsk(s, index)) continue;
    StartRequest(source, s, index);
    out.push_back(index);
    --room;
  }
  if (room == 0 || !InEndgame()) return out;
  // Endgame: the last chunks in flight elsewhere: the ones given out last
  // (latest extent, then highest index), which a source sends last.
  std::vector<uint32_t> last(in_flight_.begin(), in_flight_.end());
  std::sort(last.begin(), last.end(), [this](uint32_t a, uint32_t b) {
    const uint32_t ra = extent_rank(a), rb = extent_rank(b);
    return ra != rb ? ra > rb : a > b;
  });
  for (auto f = last.begin(); f != last.end() && room > 0; ++f) {
    const uint32_t index = *f;
    const Chunk& c = chunks_[index];
    if (static_cast<int>(c.requesters.size()) >=
            options_.max_requests_per_chunk ||
        s.in_flight.count(index) || !MayAsk(s, index)) {
      continue;
    }
    StartRequest(source, s, index);
    out.push_back(index);
    --room;
  }
  return out;
}

ChunkScheduler::Arrival ChunkScheduler::MarkDone(SourceId source,
                                                 uint32_t index) {
  Arrival out;
  auto it = sources_.find(source);
  if (it == sources_.end() || it->second.in_flight.count(index) == 0) {
    return out;
  }
  out.accepted = true;
  Chunk& c = chunks_[index];
  for (SourceId other : c.requesters) {
    sources_[other].in_flight.erase(index);
    if (other != source) out.cancelled.push_back(other);
  }
  c.requesters.clear();
  c.state = State::kDone;
  in_flight_.erase(index);
  ++done_count_;
  return out;
}

bool ChunkScheduler::MarkFailed(SourceId source, uint32_t index) {
  auto it = sources_.find(source);
  if (it == sources_.end() || it->second.in_flight.erase(index) == 0) {
    return false;
  }
  DropRequest(source, index);
  return true;
}

bool ChunkScheduler::IsDone(uint32_t index) const {
  return index < chunks_.size() && chunks_[index].state == State::kDone;
}

bool ChunkScheduler::IsInFlight(SourceId source, uint32_t index) const {
  auto it = sources_.find(source);
  return it != sources_.end() && it->second.in_flight.count(index) > 0;
}

int ChunkScheduler::in_flight(SourceId source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0
                              : static_cast<int>(it->second.in_flight.size());
}

int ChunkScheduler::window(SourceId source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : it->second.window;
}

bool ChunkScheduler::restricted(SourceId source) const {
  auto it = sources_.find(source);
  return it != sources_.end() && it->second.restricted;
}

int64_t ChunkScheduler::UnavailableCount() const {
  return static_cast<int64_t>(
      std::distance(wanted_.begin(), wanted_.lower_bound(Key{1, 0, 0})));
}

bool ChunkScheduler::InEndgame() const {
  return wanted_.lower_bound(Key{1, 0, 0}) == wanted_.end();
}

}  // namespace trove
