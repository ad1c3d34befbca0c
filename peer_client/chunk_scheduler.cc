#include "peer_client/chunk_scheduler.h"

#include <algorithm>

namespace trove {

ChunkScheduler::ChunkScheduler(int64_t chunk_count, Options options)
    : options_(options),
      state_(static_cast<size_t>(std::max<int64_t>(chunk_count, 1)),
             State::kWanted) {
  for (uint32_t i = 0; i < state_.size(); ++i) wanted_.insert(wanted_.end(), i);
}

bool ChunkScheduler::Has(const SourceState& s, uint32_t index) {
  if (s.have.empty()) return true;
  size_t byte = index / 8;
  if (byte >= s.have.size()) return false;
  return (static_cast<uint8_t>(s.have[byte]) >> (index % 8)) & 1;
}

void ChunkScheduler::AddSource(SourceId source, const std::string& have) {
  sources_[source].have = have;
}

std::vector<uint32_t> ChunkScheduler::RemoveSource(SourceId source) {
  std::vector<uint32_t> out;
  auto it = sources_.find(source);
  if (it == sources_.end()) return out;
  for (uint32_t index : it->second.in_flight) {
    state_[index] = State::kWanted;
    wanted_.insert(index);
    out.push_back(index);
  }
  sources_.erase(it);
  return out;
}

std::vector<uint32_t> ChunkScheduler::Assign(SourceId source, int max) {
  std::vector<uint32_t> out;
  auto it = sources_.find(source);
  if (it == sources_.end()) return out;
  SourceState& s = it->second;
  int room = std::min<int>(
      max, options_.window - static_cast<int>(s.in_flight.size()));
  for (auto w = wanted_.begin(); w != wanted_.end() && room > 0;) {
    uint32_t index = *w;
    if (!Has(s, index)) {
      ++w;
      continue;
    }
    w = wanted_.erase(w);
    state_[index] = State::kInFlight;
    s.in_flight.insert(index);
    out.push_back(index);
    --room;
  }
  return out;
}

bool ChunkScheduler::MarkDone(SourceId source, uint32_t index) {
  auto it = sources_.find(source);
  if (it == sources_.end() || it->second.in_flight.erase(index) == 0) {
    return false;
  }
  state_[index] = State::kDone;
  ++done_count_;
  return true;
}

bool ChunkScheduler::MarkFailed(SourceId source, uint32_t index) {
  auto it = sources_.find(source);
  if (it == sources_.end() || it->second.in_flight.erase(index) == 0) {
    return false;
  }
  state_[index] = State::kWanted;
  wanted_.insert(index);
  return true;
}

bool ChunkScheduler::IsDone(uint32_t index) const {
  return index < state_.size() && state_[index] == State::kDone;
}

int ChunkScheduler::in_flight(SourceId source) const {
  auto it = sources_.find(source);
  return it == sources_.end() ? 0 : static_cast<int>(it->second.in_flight.size());
}

int64_t ChunkScheduler::UnavailableCount() const {
  int64_t n = 0;
  for (uint32_t index : wanted_) {
    bool held = false;
    for (const auto& [id, s] : sources_) {
      if (Has(s, index)) {
        held = true;
        break;
      }
    }
    if (!held) ++n;
  }
  return n;
}

}  // namespace trove
