// An in-memory search index over the files that a supernode's leaves share.
//
// Entries are (peer id, FileEntry) pairs: a peer shares at most one entry per
// cid (adding again replaces its name and size). Searching follows the rules
// every Trove search follows (common/search/matcher.h: words, parts of
// words, misspellings, phrases, exclusions, filters, orders and pages),
// with the same SearchIndex the index server runs, so a query gives the
// same hits from a supernode as from the index for the same files.
//
// Each peer's entries vote on the name their cid shows as newcomers until
// the peer has been known (SetKnownSince) for establish_after, then as
// established (common/search/search_index.h); the owner calls Settle to
// count the votes of peers that came of age.
//
// Thread-compatible: const methods may run concurrently; the owner locks
// around mutations.
#ifndef TROVE_SUPERNODE_INVERTED_INDEX_H_
#define TROVE_SUPERNODE_INVERTED_INDEX_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/search/query.h"
#include "common/search/search_index.h"
#include "common/search/seniority.h"
#include "protos/types.pb.h"

namespace trove {
namespace supernode {

class InvertedIndex {
 public:
  struct Options {
    // Results when the query's limit is 0.
    int default_limit = 100;
    // Upper bound on any query's limit.
    int max_limit = 1000;
    // How long a peer must have been known before its entries' votes on
    // names count against newcomers' (0: at once).
    absl::Duration establish_after = absl::Hours(1);
  };

  // What the index knows of one cid.
  struct CidSummary {
    int64_t size = 0;
    // The name most of its holders use.
    std::string name;
    // Peers holding it, sorted.
    std::vector<std::string> peers;
  };

  InvertedIndex() : InvertedIndex(Options()) {}
  explicit InvertedIndex(Options options);
  InvertedIndex(const InvertedIndex&) = delete;
  InvertedIndex& operator=(const InvertedIndex&) = delete;

  // Records that `peer_id` shares `entry`, replacing its earlier entry for
  // the same cid. REQUIRES: the entry is valid (ValidateFileEntry).
  void Add(const std::string& peer_id, const FileEntry& entry);

  // Forgets `peer_id`'s entry for `cid`. Returns false when there was none.
  bool Remove(const std::string& peer_id, const std::string& cid);

  // Forgets every entry of `peer_id`. Returns how many there were.
  size_t RemovePeer(const std::string& peer_id);

  // Records that `peer_id` has been known since `since` (its entries, now
  // and later, vote by that); `now` is the current time.
  void SetKnownSince(const std::string& peer_id, absl::Time since,
                     absl::Time now);
  // Forgets when `peer_id` became known (it left); later entries of it
  // vote as a newcomer's.
  void ForgetPeer(const std::string& peer_id);
  // Whether some peer came of age by `now` and Settle has work.
  bool AnyDue(absl::Time now) const { return seniority_.AnyDue(now); }
  // Counts the votes of the peers that came of age by `now` as
  // established.
  void Settle(absl::Time now);
  // Peers not yet established.
  size_t newcomer_count() const { return seniority_.watched(); }

  // The page `query` asks for (limit default and cap from Options).
  // INVALID_ARGUMENT for a query ParseQuery refuses. REQUIRES: the query is
  // valid (ValidateSearchQuery).
  absl::StatusOr<search::SearchPage> Search(const SearchQuery& query) const;

  // The page of a parsed query (its limit as given).
  absl::StatusOr<search::SearchPage> Search(
      const search::ParsedQuery& query) const;

  // The holders of `cid` and its most common name; nullopt when none.
  std::optional<CidSummary> Lookup(const std::string& cid) const;

  // `peer_id`'s entry for `cid`, or nullopt.
  std::optional<FileEntry> Get(const std::string& peer_id,
                               const std::string& cid) const;

  // All entries of `peer_id`, sorted by cid.
  std::vector<FileEntry> FilesOf(const std::string& peer_id) const;

  // How many entries `peer_id` has.
  size_t FileCountOf(const std::string& peer_id) const;

  // Entries over all peers.
  size_t entry_count() const { return entry_count_; }
  // Distinct cids.
  size_t cid_count() const { return index_.stats().cids; }
  // Distinct words in all names.
  size_t word_count() const { return index_.stats().words; }

 private:
  // A peer's entry: the document in the search index, and the size the
  // peer announced.
  struct Entry {
    search::SearchIndex::DocId doc;
    int64_t size;
  };

  void RemoveEntry(const std::string& peer_id, const std::string& cid,
                   const Entry& entry);
  // The standing `peer_id`'s entries vote with.
  search::SearchIndex::Standing StandingOf(const std::string& peer_id) const;
  // Moves every entry of `peer_id` to `to`, and records it.
  void Restand(const std::string& peer_id, search::SearchIndex::Standing to);

  Options options_;
  search::SearchIndex index_;
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, Entry>>
      peers_;
  // cid -> peers holding it.
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> holders_;
  size_t entry_count_ = 0;
  // Peers known to be established (others vote as newcomers), and the
  // newcomers by when they come of age.
  absl::flat_hash_set<std::string> established_;
  search::Seniority<std::string> seniority_;
};

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_INVERTED_INDEX_H_
