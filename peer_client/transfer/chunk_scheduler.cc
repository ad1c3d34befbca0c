#include "peer_client/transfer/chunk_scheduler.h"

#include <algorithm>
#include <cmath>

namespace trove {

ChunkScheduler::ChunkScheduler(int64_t chunk_count, Options options)
    : options_(options),
      chunks_(static_cast<size_t>(std::max<int64_t>(chunk_count, 1))) {
  for (uint32_t i = 0; i < chunks_.size(); ++i) {
    wanted_.emplace_hint(wanted_.end(), 0, i);
  }
}

bool ChunkScheduler::Has(const SourceState& s, uint32_t index) {
  if (s.have.empty()) return true;
  size_t byte = index / 8;
  if (byte >= s.have.size()) return false;
  return (static_cast<uint8_t>(s.have[byte]) >> (index % 8)) & 1;
}

void ChunkScheduler::AddWanted(uint32_t index) {
  Chunk& c = chunks_[index];
  c.state = State::kWanted;
  wanted_.emplace(c.availability, index);
}

void ChunkScheduler::RemoveWanted(uint32_t index) {
  wanted_.erase({chunks_[index].availability, index});
}

void ChunkScheduler::ChangeAvailability(uint32_t index, int delta) {
  Chunk& c = chunks_[index];
  if (c.state == State::kWanted) {
    RemoveWanted(index);
    c.availability += delta;
    wanted_.emplace(c.availability, index);
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
    const bool after = have.empty() ||
                       (i / 8 < have.size() &&
                        ((static_cast<uint8_t>(have[i / 8]) >> (i % 8)) & 1));
    if (before != after) ChangeAvailability(i, after ? 1 : -1);
  }
  s.have = have;
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
  int room = std::min<int>(max, s.window - static_cast<int>(s.in_flight.size()));
  if (room <= 0) return out;
  // Wanted chunks nobody holds (availability 0) are skipped.
  for (auto w = wanted_.lower_bound({1, 0}); w != wanted_.end() && room > 0;) {
    const uint32_t index = w->second;
    ++w;  // StartRequest erases the current entry.
    if (!Has(s, index)) continue;
    StartRequest(source, s, index);
    out.push_back(index);
    --room;
  }
  if (room == 0 || !InEndgame()) return out;
  // Endgame: the last chunks in flight elsewhere.
  for (auto f = in_flight_.rbegin(); f != in_flight_.rend() && room > 0; ++f) {
    const uint32_t index = *f;
    const Chunk& c = chunks_[index];
    if (static_cast<int>(c.requesters.size()) >=
            options_.max_requests_per_chunk ||
        s.in_flight.count(index) || !Has(s, index)) {
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

int64_t ChunkScheduler::UnavailableCount() const {
  return static_cast<int64_t>(
      std::distance(wanted_.begin(), wanted_.lower_bound({1, 0})));
}

bool ChunkScheduler::InEndgame() const {
  return wanted_.lower_bound({1, 0}) == wanted_.end();
}

}  // namespace trove
