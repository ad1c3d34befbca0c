#include "peer_client/transfer/transfer_ledger.h"

#include <algorithm>

#include "common/metrics.h"

namespace trove {
namespace {

// Drops the least recently touched element of `m` (whose values have a
// `touched` counter reachable through `touched`).
template <typename Map, typename Touched>
void DropOldest(Map* m, Touched touched) {
  auto oldest = std::min_element(
      m->begin(), m->end(),
      [&](const auto& a, const auto& b) { return touched(a) < touched(b); });
  if (oldest != m->end()) m->erase(oldest);
}

}  // namespace

TransferLedger::TransferLedger(int max_entries)
    : max_entries_(std::max(1, max_entries)) {}

TransferLedger::Row& TransferLedger::TouchLocked(const std::string& peer_id,
                                                 const std::string& cid) {
  Key key(peer_id, cid);
  auto it = rows_.find(key);
  if (it == rows_.end()) {
    if (static_cast<int>(rows_.size()) >= max_entries_) {
      DropOldest(&rows_, [](const auto& kv) { return kv.second.touched; });
    }
    it = rows_.emplace(key, Row()).first;
    it->second.entry.peer_id = peer_id;
    it->second.entry.cid = cid;
  }
  it->second.touched = ++clock_;
  return it->second;
}

namespace {

// Every byte of file data this process moved, for --metrics_listen.
prometheus::Counter& BytesCounter(const char* direction) {
  return metrics::Counter("trove_peer_bytes_total",
                          "Verified file data sent to (up) or received from "
                          "(down) other peers, bytes",
                          {{"direction", direction}});
}

}  // namespace

void TransferLedger::AddSent(const std::string& peer_id,
                             const std::string& cid, int64_t bytes) {
  static prometheus::Counter& up = BytesCounter("up");
  up.Increment(static_cast<double>(bytes));
  absl::MutexLock lock(&mu_);
  TouchLocked(peer_id, cid).entry.bytes_sent += bytes;
}

void TransferLedger::AddReceived(const std::string& peer_id,
                                 const std::string& cid, int64_t bytes) {
  static prometheus::Counter& down = BytesCounter("down");
  down.Increment(static_cast<double>(bytes));
  absl::MutexLock lock(&mu_);
  TouchLocked(peer_id, cid).entry.bytes_received += bytes;
  auto it = received_.find(peer_id);
  if (it == received_.end()) {
    if (static_cast<int>(received_.size()) >= max_entries_) {
      DropOldest(&received_, [](const auto& kv) { return kv.second.second; });
    }
    it = received_.emplace(peer_id, std::make_pair(int64_t{0}, int64_t{0}))
             .first;
  }
  it->second.first += bytes;
  it->second.second = clock_;
}

int64_t TransferLedger::ReceivedFrom(const std::string& peer_id) const {
  absl::MutexLock lock(&mu_);
  auto it = received_.find(peer_id);
  return it == received_.end() ? 0 : it->second.first;
}

std::vector<TransferLedger::Entry> TransferLedger::Uploads() const {
  std::vector<std::pair<int64_t, Entry>> rows;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, row] : rows_) {
      if (row.entry.bytes_sent > 0) rows.emplace_back(row.touched, row.entry);
    }
  }
  std::sort(rows.begin(), rows.end(),
            [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<Entry> out;
  out.reserve(rows.size());
  for (auto& r : rows) out.push_back(std::move(r.second));
  return out;
}

}  // namespace trove
