// Who this peer exchanged how many bytes with: per peer and file, the
// chunk bytes sent to it (uploads) and received from it (downloads). The
// status shows it ("who helped"), and upload slots use what a peer gave
// (ReceivedFrom) to serve those that upload back first.
//
// Bounded: past max_entries, the least recently active (peer, file) entries
// are dropped (the per-peer received totals are kept for up to the same
// number of peers). Thread-safe.
#ifndef TROVE_PEER_CLIENT_TRANSFER_TRANSFER_LEDGER_H_
#define TROVE_PEER_CLIENT_TRANSFER_TRANSFER_LEDGER_H_

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace trove {

class TransferLedger {
 public:
  // One (peer, file) pair.
  struct Entry {
    std::string peer_id;
    std::string cid;
    int64_t bytes_sent = 0;
    int64_t bytes_received = 0;
  };

  explicit TransferLedger(int max_entries = 1024);

  // `bytes` of `cid` went to `peer_id`.
  void AddSent(const std::string& peer_id, const std::string& cid,
               int64_t bytes);
  // `bytes` of `cid` (verified) came from `peer_id`.
  void AddReceived(const std::string& peer_id, const std::string& cid,
                   int64_t bytes);

  // Bytes received from `peer_id`, over every file (0 when unknown).
  int64_t ReceivedFrom(const std::string& peer_id) const;

  // The entries with bytes sent, most recently active first.
  std::vector<Entry> Uploads() const;

 private:
  using Key = std::pair<std::string, std::string>;  // (peer_id, cid)
  struct Row {
    Entry entry;
    int64_t touched = 0;
  };
  Row& TouchLocked(const std::string& peer_id, const std::string& cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int max_entries_;
  mutable absl::Mutex mu_;
  std::map<Key, Row> rows_ ABSL_GUARDED_BY(mu_);
  // peer_id -> (bytes received, last touched).
  std::map<std::string, std::pair<int64_t, int64_t>> received_
      ABSL_GUARDED_BY(mu_);
  int64_t clock_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_TRANSFER_LEDGER_H_
