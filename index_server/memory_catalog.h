// MemoryCatalog: an index replica's in-memory copy of the catalog, for
// Search and Locate. It holds every source (peer, cid, name, supernode,
// complete or partial) and every peer's address: the complete sources'
// names in a SearchIndex, plus the sizes of files no complete source
// holds. It is kept current by replaying the change log
// (catalog_change.proto) in order, exactly as PostgreSQL applied those
// changes. Two catalogs that loaded the same snapshot and replayed the
// same entries hold the same.
//
// Partial sources (downloads in progress) neither match nor count in
// search; Locate lists them after the complete ones.
//
// Each peer carries when the index first stored a source of it (the
// change log and the snapshot carry it from peer_standing); its sources
// vote on the names their cids show as established once that is
// `establish_after` ago by `clock` (search_index.h). Peers that come of age
// are settled before the next search or change.
//
// Thread-safe: Search and the accessors may run while a change is applied
// (a large batch is applied in slices, so searches can run between them
// and may see part of it). Apply and the Load* calls must not run
// concurrently with each other.
#ifndef TROVE_INDEX_SERVER_MEMORY_CATALOG_H_
#define TROVE_INDEX_SERVER_MEMORY_CATALOG_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/search/chunked_vector.h"
#include "common/search/query.h"
#include "common/search/search_index.h"
#include "common/search/seniority.h"
#include "index_server/catalog_change.pb.h"
#include "protos/index.pb.h"

namespace trove {
namespace index_server {

class MemoryCatalog {
 public:
  struct Options {
    search::SearchIndex::Options search;
    // Source changes applied between two chances for searches to run.
    int apply_slice = 2000;
    // A change's new files enter the index's orders together when its
    // batch ends (SearchIndex::BeginBatch), and the more of them at once,
    // the less each costs. So a slice ends the batch and lets searches in
    // only when some search or look-up waits for the catalog, or after
    // this many slices without one.
    int batch_slices = 16;
    // How long a peer must have been known before its sources' votes on
    // names count against newcomers' (0: at once).
    absl::Duration establish_after = absl::Hours(1);
    // The clock of that; null: the real clock.
    Clock* clock = nullptr;
  };

  struct Stats {
    // Complete sources, and partial ones.
    size_t sources = 0;
    size_t partial_sources = 0;
    size_t cids = 0;
    size_t names = 0;
    size_t words = 0;
    size_t peers = 0;
    size_t supernodes = 0;
    // Files that only partial sources hold.
    size_t other_files = 0;
    // Peers not yet established.
    size_t newcomers = 0;
  };

  MemoryCatalog() : MemoryCatalog(Options()) {}
  explicit MemoryCatalog(Options options);
  MemoryCatalog(const MemoryCatalog&) = delete;
  MemoryCatalog& operator=(const MemoryCatalog&) = delete;

  // Loading a snapshot: BeginLoad, then every source, and the size of
  // every file that only partial sources hold (LoadFile; calls for other
  // files are ignored), then EndLoad. Ids are 32 raw bytes; `size` is the
  // size the source announced (a file's size is the first one stored);
  // `known_since` when the index first stored a source of the peer. A file
  // is held while some source holds it, and goes with its last source.
  void BeginLoad();
  void LoadSource(absl::string_view cid, absl::string_view peer,
                  absl::string_view supernode, absl::string_view name,
                  int64_t size, absl::string_view address, bool partial,
                  absl::Time known_since);
  void LoadFile(absl::string_view cid, int64_t size);
  void EndLoad();

  // Replays one committed change.
  void Apply(const CatalogChange& change);

  // See IndexStore::Search.
  absl::StatusOr<search::SearchPage> Search(const search::ParsedQuery& query,
                                            absl::Time deadline) const;

  // See CatalogStore::Locate: the size the file was first stored with, the name
  // most complete sources use (else most partial ones), and up to `limit`
  // sources, complete ones first, each group by peer id; sources held
  // through a supernode in `dead` (32-byte ids whose lease ended) are left
  // out. NOT_FOUND when no source is left. `cid` is 64 hex digits.
  absl::StatusOr<index::LocateResponse> Locate(
      const std::string& cid, int limit,
      const absl::flat_hash_set<std::string>& dead) const;

  // When the index first stored a source of `peer_id` (64 hex digits), as
  // the change log carried it; nullopt when the peer holds no source here
  // or its time is not known.
  std::optional<absl::Time> KnownSince(const std::string& peer_id) const;

  Stats stats() const;

  // A digest of everything held: equal for two catalogs exactly when they
  // hold the same sources (with supernode and name), sizes, files and
  // peers' known-since times (barring hash collisions). Slow; for tests and
  // checks.
  std::string Digest() const;

 private:
  using PeerId = uint32_t;
  using SnId = uint32_t;
  using CidId = search::SearchIndex::CidId;
  using DocId = search::SearchIndex::DocId;

  struct SourceRec {
    DocId doc;
    SnId sn;
  };
  struct PartialRec {
    std::string name;
    SnId sn;
  };
  struct PeerRec {
    std::string key;
    std::string address;
    // When the index first stored a source of it (set once known).
    absl::Time known_since = absl::InfinitePast();
    bool known = false;
    // Its sources' standing in the vote on names.
    search::SearchIndex::Standing standing =
        search::SearchIndex::Standing::kNewcomer;
    // Complete sources by cid.
    absl::flat_hash_map<CidId, SourceRec> sources;
    // Partial sources by cid (32 raw bytes).
    absl::flat_hash_map<std::string, PartialRec> partials;
    // Supernodes whose peer sets list this peer.
    absl::InlinedVector<SnId, 2> sns;
  };
  struct SnRec {
    std::string key;
    // Peers that have (or had) sources through this supernode.
    absl::flat_hash_set<PeerId> peers;
  };

  PeerId InternPeer(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  PeerRec* FindPeer(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaybeFreePeer(PeerId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  SnId InternSn(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LinkPeerToSn(PeerId peer, SnId sn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records when `peer` became known, moving its sources' standing if that
  // changes it.
  void SetKnownSince(PeerId peer, absl::Time since)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the sources of peers that came of age by now to established.
  void SettleStanding() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The same, taking the lock, when some peer came of age; without a lock
  // when none did (next_due_ns_).
  void SettleIfDue() const ABSL_LOCKS_EXCLUDED(mu_);
  // Copies seniority_'s next due time into next_due_ns_, after a change.
  void NoteNextDue() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves every complete source of `peer` to `standing`.
  void RestandPeer(PeerId peer, search::SearchIndex::Standing standing)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The size `cid` (held as `id`, when it is) was first stored with, or
  // `announced` when it has no row.
  int64_t ResolveSize(std::optional<CidId> id, absl::string_view cid,
                      int64_t announced)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // holders_'s entry of `cid`, made when missing.
  absl::InlinedVector<PeerId, 2>& HoldersOf(CidId cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemoveSource(PeerId peer, CidId cid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RemovePartial(PeerId peer, absl::string_view cid)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes every source of `peer` (complete and partial) that `drop`
  // says to, given its supernode and cid (32 raw bytes).
  void RemoveSourcesIf(
      PeerId peer,
      const std::function<bool(SnId, absl::string_view)>& drop)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void StoreSource(PeerId peer, SnId sn, absl::string_view cid,
                   absl::string_view name, int64_t size, bool partial)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Gives searches a chance to run every apply_slice calls, when some
  // wait (see Options::batch_slices).
  void Breathe() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void ApplyBatch(const AppliedBatch& batch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropSupernode(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes every source of `cid` (32 raw bytes), complete or partial.
  void DropCid(absl::string_view cid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  Clock* const clock_;
  mutable absl::Mutex mu_;
  search::SearchIndex index_ ABSL_GUARDED_BY(mu_);
  // Peers not yet established, by when they will be.
  search::Seniority<PeerId> seniority_ ABSL_GUARDED_BY(mu_);
  // seniority_.NextDue() in Unix nanoseconds, readable without mu_: a
  // search takes no lock to learn that no peer came of age. Never later
  // than the true time (it is set under mu_ after every change).
  std::atomic<int64_t> next_due_ns_{std::numeric_limits<int64_t>::max()};
  std::vector<PeerRec> peers_ ABSL_GUARDED_BY(mu_);
  std::vector<PeerId> free_peers_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, PeerId> peer_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<SnRec> sns_ ABSL_GUARDED_BY(mu_);
  std::vector<SnId> free_sns_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, SnId> sn_ids_ ABSL_GUARDED_BY(mu_);
  // Files that only partial sources hold: cid -> size.
  absl::flat_hash_map<std::string, int64_t> other_files_ ABSL_GUARDED_BY(mu_);
  // Complete sources of each cid, by CidId (the index's slots are dense
  // and reused, so a new file's entry is at the end, not at a random
  // place of a hash table); empty for a free slot.
  // Blocks that never move: growing does not move every entry.
  search::ChunkedVector<absl::InlinedVector<PeerId, 2>> holders_
      ABSL_GUARDED_BY(mu_);
  // Partial sources of each cid (32 raw bytes).
  absl::flat_hash_map<std::string, absl::InlinedVector<PeerId, 1>>
      partial_holders_ ABSL_GUARDED_BY(mu_);
  size_t sources_ ABSL_GUARDED_BY(mu_) = 0;
  size_t partials_ ABSL_GUARDED_BY(mu_) = 0;
  int slice_ ABSL_GUARDED_BY(mu_) = 0;
  // Slices of the batch so far.
  int batch_slices_ ABSL_GUARDED_BY(mu_) = 0;
  // Callers waiting for mu_ (or holding it to read): Breathe ends the
  // batch for them.
  mutable std::atomic<int> waiting_{0};
};

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_MEMORY_CATALOG_H_
