// An in-memory search index over the files that a supernode's leaves share.
//
// Entries are (peer id, FileEntry) pairs: a peer shares at most one entry per
// cid (adding again replaces its name and size). Searching follows the rules
// every Trove search follows (common/search/matcher.h: words, parts of
// words, misspellings, phrases, exclusions, filters, orders and pages),
// with the same SearchIndex the index server runs, so a query gives the
// same hits from a supernode as from the index for the same files.
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
#include "common/search/query.h"
#include "common/search/search_index.h"
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

  Options options_;
  search::SearchIndex index_;
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, Entry>>
      peers_;
  // cid -> peers holding it.
  absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>> holders_;
  size_t entry_count_ = 0;
};

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_INVERTED_INDEX_H_
