// An in-memory search index over the files that a supernode's leaves share.
//
// Entries are (peer id, FileEntry) pairs: a peer shares at most one entry per
// cid (adding again replaces its name and size). Names are cut into words
// (see text_match.h); the index keeps word -> names holding it and
// trigram -> words, so a query looks only at the words and names that can
// match, never at all files.
//
// A query matches a name when every query word matches some word of the name
// (AND): the same word, part of a word ("rhaps" -> "rhapsody") or a close
// misspelling ("rapsody", "bohemain"). Results have one hit per cid, with the
// number of distinct peers holding it and the name most of them use, ranked
// by that count, then by how well the name matched.
//
// Thread-compatible: const methods may run concurrently; the owner locks
// around mutations.
#ifndef TROVE_SUPERNODE_INVERTED_INDEX_H_
#define TROVE_SUPERNODE_INVERTED_INDEX_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/node_hash_map.h"
#include "absl/strings/string_view.h"
#include "protos/types.pb.h"
#include "supernode/text_match.h"

namespace trove {
namespace supernode {

class InvertedIndex {
 public:
  struct Options {
    // Results when the query's limit is 0.
    int default_limit = 100;
    // Upper bound on any query's limit.
    int max_limit = 1000;
    // Word matching rules.
    MatchOptions match;
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

  // Hits for `query`, best first, at most its limit (default and cap from
  // Options). REQUIRES: the query is valid (ValidateSearchQuery).
  std::vector<SearchHit> Search(const SearchQuery& query) const;

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
  size_t cid_count() const { return cids_.size(); }
  // Distinct words in all names.
  size_t word_count() const { return vocabulary_.size(); }

 private:
  using WordId = uint32_t;
  using DocId = uint32_t;

  // A distinct word of the names.
  struct Word {
    std::string text;
    int chars = 0;
    // Distinct padded trigrams.
    int trigram_count = 0;
    // Names holding the word.
    absl::flat_hash_set<DocId> docs;
  };

  // What is known of a cid over all its holders.
  struct CidInfo {
    absl::flat_hash_set<std::string> peers;
    std::map<std::string, int> names;
    std::map<int64_t, int> sizes;
    // Kept current by Refresh(): the size most holders announce and the
    // most common name (ties: smaller size, first name in byte order).
    int64_t size = 0;
    const std::string* name = nullptr;
    void Refresh();
  };

  // A distinct (cid, name) pair, shared by every peer using that name.
  struct Doc {
    std::string cid;
    std::string name;
    std::string extension;
    // Distinct words of the name.
    std::vector<WordId> words;
    // The cid's record (node_hash_map values do not move).
    const CidInfo* info = nullptr;
    // How many peers' entries use it.
    int refs = 0;
  };

  // A peer's entry.
  struct Entry {
    DocId doc;
    int64_t size;
  };

  DocId AcquireDoc(const std::string& cid, const std::string& name);
  void ReleaseDoc(DocId id);
  WordId AcquireWord(const std::string& text);
  void ReleaseWordDoc(WordId id, DocId doc);
  void RemoveEntry(const std::string& peer_id, const std::string& cid,
                   const Entry& entry);

  // Words of the vocabulary that `token` matches, with the match quality.
  absl::flat_hash_map<WordId, double> MatchingWords(
      const std::string& token) const;

  Options options_;

  std::vector<Word> words_;
  std::vector<WordId> free_words_;
  // Sorted, so that word beginnings can be found by range.
  std::map<std::string, WordId, std::less<>> vocabulary_;
  // Padded trigram -> words containing it.
  absl::flat_hash_map<std::string, absl::flat_hash_set<WordId>> trigrams_;

  std::vector<Doc> docs_;
  std::vector<DocId> free_docs_;
  // cid + '\0' + name -> doc.
  absl::flat_hash_map<std::string, DocId> doc_ids_;

  absl::node_hash_map<std::string, CidInfo> cids_;
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, Entry>>
      peers_;
  size_t entry_count_ = 0;
};

}  // namespace supernode
}  // namespace trove

#endif  // TROVE_SUPERNODE_INVERTED_INDEX_H_
