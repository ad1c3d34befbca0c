// SearchIndex: the in-memory search index that the index server and every
// supernode keep over the files they know, so that a query gives the same
// hits whoever answers it (the rules are those of matcher.h; the order and
// pages those of query.h).
//
// What it holds: for each cid, its size and the names its complete sources
// use, each with how many sources use it ("holders") and how many of those
// are established (their peer has been known to the community for a while;
// see Standing). A hit is one cid: its size, the name it shows, its number
// of sources, and how well its best name matched. Every name of a cid
// matches a query; only the shown name is voted on.
//
// The shown name (ShownNameBefore): the name most established sources use;
// when no source is established, the name most sources use; ties go to the
// first name in CompareNames order. Newcomers vote only when no established
// source does, so sources of peers new to the community cannot outvote (or
// tip a tie against) one established source however many they are, yet
// with only newcomers nothing is hidden. A source counts the same once
// established however old it gets, so old sources never become unmovable:
// enough sources that stay become established too and outvote them.
//
// How it answers: the words of all names form a vocabulary with, per word,
// the names holding it; beside it, a trigram index (parts of words) and an
// index of one-character deletions (misspellings), so a query word finds
// its matching words without looking at others. The cids are also kept in
// three orders (most sources, largest, by name). A query picks, per match
// quality, the cheaper of two plans: walk the names holding the rarest
// query word, or walk the cids in the order asked for and stop once the
// page is full (what makes common words cheap).
//
// Thread-compatible: const methods may run concurrently; the owner locks
// around Add and Remove. Not movable (its orders point back at it).
#ifndef TROVE_COMMON_SEARCH_SEARCH_INDEX_H_
#define TROVE_COMMON_SEARCH_SEARCH_INDEX_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/functional/function_ref.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/search/chunked_vector.h"
#include "common/search/matcher.h"
#include "common/search/query.h"

namespace trove {
namespace search {

class SearchIndex {
 public:
  // A (cid, name) pair held by one or more sources.
  using DocId = uint32_t;
  // A cid held by at least one source. Stable while it is held; reused
  // after.
  using CidId = uint32_t;

  struct Options {
    MatchOptions match;
  };

  // Whether a source's peer has been known to the community long enough
  // for its vote on the shown name to count against newcomers'.
  enum class Standing : uint8_t { kNewcomer = 0, kEstablished = 1 };

  // What the index knows of one cid.
  struct CidView {
    int64_t size = 0;
    std::string name;
    int sources = 0;
  };

  struct Stats {
    size_t cids = 0;
    size_t names = 0;
    size_t words = 0;
    size_t holders = 0;
  };

  SearchIndex() : SearchIndex(Options()) {}
  explicit SearchIndex(Options options);
  ~SearchIndex();
  SearchIndex(const SearchIndex&) = delete;
  SearchIndex& operator=(const SearchIndex&) = delete;

  // Records one more source of `cid` (32 raw bytes) using `name`, of
  // `standing`. `size` counts only when the cid is new to the index (a cid
  // binds its size). Returns the (cid, name) document, for Remove.
  // REQUIRES: cid.size() == 32; name valid (ValidateFileName).
  DocId Add(absl::string_view cid, int64_t size, absl::string_view name,
            Standing standing);

  // One source of `doc` fewer, of `standing`; the document, and the cid, go
  // when none is left. Returns true when the cid went. REQUIRES: `doc` came
  // from Add and has a source of that standing left.
  bool Remove(DocId doc, Standing standing);

  // One source of `doc` moves from `from` to the other standing (its peer
  // became established, or, rarely, turned out newer than thought). May
  // change the name its cid shows. REQUIRES: `doc` has a source of `from`.
  void Restand(DocId doc, Standing from);

  // Between these, Add does not keep the three orders of cids current;
  // EndBulkLoad builds them at once (faster when loading a whole catalog).
  // Search and Remove are not allowed in between.
  void BeginBulkLoad();
  void EndBulkLoad();

  // Between these, Add, Remove and Restand take the cids they touch out of
  // the three orders and leave them out; EndBatch sorts them and puts them
  // back at once (for applying many changes together). Search is not
  // allowed in between.
  void BeginBatch();
  void EndBatch();

  // The cid of 32 raw bytes, when some source holds it.
  std::optional<CidId> FindCid(absl::string_view cid) const;
  // Asks for the memory that finding or adding `cid` (32 raw bytes) reads,
  // ahead of it, so that the look-up of one cid overlaps with other work.
  void PrefetchCid(absl::string_view cid) const { cid_index_.prefetch(cid); }
  // Facts of a held cid or document.
  CidId CidOfDoc(DocId doc) const { return docs_[doc].cid; }
  int64_t SizeOfCid(CidId cid) const { return cids_[cid].size; }
  // 32 raw bytes.
  absl::string_view KeyOfCid(CidId cid) const {
    return absl::string_view(cids_[cid].key, 32);
  }

  // The page `query` asks for. DEADLINE_EXCEEDED when `deadline` passes
  // first.
  absl::StatusOr<SearchPage> Search(
      const ParsedQuery& query,
      absl::Time deadline = absl::InfiniteFuture()) const;

  // The cid (32 raw bytes), or nullopt when no source holds it.
  std::optional<CidView> Lookup(absl::string_view cid) const;

  // The name of a live document.
  absl::string_view NameOf(DocId doc) const;

  Stats stats() const;

 private:
  using WordId = uint32_t;
  static constexpr uint32_t kNone = ~uint32_t{0};

  struct CidRec {
    char key[32];
    int64_t size = 0;
    // Sources over all its names; 0 for a free slot.
    uint32_t sources = 0;
    DocId first_doc = kNone;
    // The document whose name is shown.
    DocId display = kNone;
    // The union of its documents' signatures and trigram bits: what an
    // order walk checks before looking closer.
    uint64_t signature = 0;
    uint64_t trigrams = 0;
    // NamePrefixKey of the shown name.
    uint64_t name_key = 0;
  };

  // What ranking a found cid reads (its sources and its shown name's
  // prefix key), packed per cid slot, a quarter of a cache line each, and
  // written wherever the cid's record changes them (SyncRank): a walk over
  // a term's postings ranks up to tens of thousands of cids, and these
  // 16 MiB per million cids stay in the cache far better than the records.
  struct CidRank {
    uint64_t name_key = 0;
    // 0 for a free slot.
    uint32_t sources = 0;
    uint32_t unused = 0;
  };

  struct DocRec {
    CidId cid = kNone;
    // Sources using this name; 0 for a free slot.
    uint32_t refs = 0;
    // Of those, the established ones.
    uint32_t established = 0;
    DocId next = kNone;
    uint32_t ext = 0;
    uint16_t name_len = 0;
    uint8_t word_count = 0;
    // FileKind of its extension.
    uint8_t kind = 0;
    // Two bits per word in the low 56 bits, one bit for its kind in the top
    // 8.
    uint64_t signature = 0;
    // One bit per trigram of its words (TrigramBit).
    uint64_t trigrams = 0;
    // word_count WordIds (in name order, repeats kept), then the name
    // (padded to 4 bytes), then word_count slots: where each word's posting
    // of this document sits in the word's list (kNone for a repeat, which
    // has no posting of its own).
    std::unique_ptr<uint32_t[]> data;
    const WordId* words() const { return data.get(); }
    absl::string_view name() const {
      return absl::string_view(
          reinterpret_cast<const char*>(data.get() + word_count), name_len);
    }
    uint32_t* slots() const {
      return data.get() + word_count + (name_len + 3) / 4;
    }
  };

  // What a word's list of documents keeps of each, so that a walk over it
  // can pass over most documents without looking at them.
  struct Posting {
    CidId cid;
    // One bit per word of the document in the low 24 bits (WordBit), one
    // bit for its kind in the top 8.
    uint32_t signature;
  };

  struct WordRec {
    std::string text;
    int chars = 0;
    // One bit per trigram of the word (TrigramBit).
    uint64_t trigrams = 0;
    // Documents holding the word, one posting each, in no particular order:
    // appended when a document comes, the last moved into the gap when one
    // goes (DocRec::slots says where each is). A list, not a hash map: a
    // new posting is written at the end instead of at a random place of a
    // table that rehashes as it grows, and walks read it straight through.
    std::vector<std::pair<DocId, Posting>> docs;
  };

  struct ExtRec {
    std::string text;
    uint32_t refs = 0;
  };

  // A cid in one of the three orders. `primary` sorts first (ascending):
  // ~sources, ~size, or 0 for the name order; then the display name, then
  // the cid's bytes.
  struct OrderEntry {
    uint64_t primary;
    uint64_t name_key;
    // The display name's next 8 bytes as name_key holds its first: most
    // names sharing a beginning are told apart without reading them.
    uint64_t name_key2;
    // Copies of the cid's signature and trigram bits; not part of the
    // order, so they are updated in place.
    mutable uint64_t signature;
    mutable uint64_t trigrams;
    CidId cid;
    // Bytes 16 to 19 of the display name, likewise (in what was padding).
    uint32_t name_key3;
  };
  // Where a cursor points in an order.
  struct OrderProbe {
    uint64_t primary;
    uint64_t name_key;
    absl::string_view name;
    absl::string_view cid_key;  // 32 raw bytes
  };
  struct OrderLess {
    using is_transparent = void;
    const SearchIndex* index;
    bool operator()(const OrderEntry& a, const OrderEntry& b) const;
    bool operator()(const OrderEntry& a, const OrderProbe& b) const;
    bool operator()(const OrderProbe& a, const OrderEntry& b) const;
  };
  // The orders' B-trees take nodes of about 1 KiB (absl::btree_set's 256
  // bytes hold five entries): half as many levels, each a cache miss, for
  // every insert and erase of a changing catalog.
  using Order = absl::container_internal::btree_set_container<
      absl::container_internal::btree<absl::container_internal::set_params<
          OrderEntry, OrderLess, std::allocator<OrderEntry>,
          /*TargetNodeSize=*/1024, /*IsMulti=*/false>>>;
  enum OrderKind { kBySources = 0, kBySize = 1, kByName = 2 };

  struct CidHash {
    using is_transparent = void;
    const ChunkedVector<CidRec>* cids;
    size_t operator()(CidId id) const;
    size_t operator()(absl::string_view key) const;
  };
  struct CidEq {
    using is_transparent = void;
    const ChunkedVector<CidRec>* cids;
    bool operator()(CidId a, CidId b) const { return a == b; }
    bool operator()(CidId a, absl::string_view b) const;
    bool operator()(absl::string_view a, CidId b) const { return (*this)(b, a); }
  };

  // How one query word matches the vocabulary.
  struct TermMatch {
    absl::flat_hash_map<WordId, SearchMatch> words;
    // The same when there are at most kFew (else empty): a document's
    // words are compared with these directly, without hashing.
    static constexpr size_t kFew = 8;
    absl::InlinedVector<std::pair<WordId, SearchMatch>, kFew> few;
    // Documents (with repeats over words) per match quality.
    size_t docs[3] = {0, 0, 0};
    SearchMatch best = SEARCH_MATCH_MISSPELLED;
    // False when it holds only the word itself (ExactTerm).
    bool complete = false;
    // Left holding only the word itself by ExpandTerms, because another
    // term's complete matches are far fewer than this one's exact ones
    // (that term leads every walk): its other matches are found per word
    // of the documents looked at (MatchWord), not in the vocabulary.
    bool lazy = false;
    size_t DocsUpTo(SearchMatch m) const;
  };

  // A query prepared against the vocabulary.
  struct Plan;
  // What an order walk checks first for one term.
  struct TermFilter;
  // One hit being assembled, with what orders it.
  struct Candidate {
    CidId cid;
    SearchMatch match;
    // Sources or size, as the query orders; and the name's prefix key.
    int64_t value = 0;
    uint64_t name_key = 0;
  };

  // --- updates
  CidId AcquireCid(absl::string_view key, int64_t size);
  DocId AcquireDoc(CidId cid, absl::string_view name);
  void ReleaseDoc(DocId doc);
  // Forgets a cid whose last source went; its slot is reused.
  void ReleaseCid(CidId cid);
  // Copies what ranking reads of the cid's record into cid_ranks_.
  void SyncRank(CidId cid);
  WordId AcquireWord(absl::string_view text);
  void ReleaseWord(WordId id);
  uint32_t AcquireExt(const std::string& ext);
  void ReleaseExt(uint32_t ext);
  // The document whose name a cid shows (see the class comment).
  DocId BestDisplay(const CidRec& cid) const;
  // Whether document `a` wins the vote for the shown name over `b`.
  bool ShownNameBefore(DocId a, DocId b) const;
  // A cid's signature, from its documents'.
  void RefreshSignature(CidRec& cid);
  // Copies a cid's signature into its order entries.
  void UpdateEntries(CidId cid);
  OrderEntry EntryFor(CidId cid, OrderKind kind) const;
  // ForEachOrderSorted's arrays.
  struct OrderScratch {
    std::vector<OrderEntry> by_name;
    std::vector<std::pair<uint64_t, uint32_t>> keys;
    std::vector<OrderEntry> by_key;
  };
  // Hands `use` the entries of `ids` for each order, sorted as that order
  // sorts them (by name first; then by sources, by size).
  void ForEachOrderSorted(
      const std::vector<CidId>& ids, OrderScratch* scratch,
      absl::FunctionRef<void(OrderKind, const std::vector<OrderEntry>&)> use)
      const;
  // In a batch, for a cid new to the orders: marks it to enter them at
  // EndBatch (with its state then) and returns true, so the caller leaves
  // the orders alone. A cid already in the orders, or any cid outside a
  // batch: false.
  bool Defer(CidId cid);
  // Remove of a cid waiting in a batch.
  bool RemoveDeferred(DocId doc, Standing standing);

  // --- search
  TermMatch MatchTerm(const QueryTerm& term) const;
  // The term's word alone, when it is in the vocabulary (else nothing).
  TermMatch ExactTerm(const QueryTerm& term) const;
  // Completes the plan's terms that hold only their word.
  void ExpandTerms(const Plan& plan) const;
  std::optional<SearchMatch> DocMatch(const Plan& plan, DocId doc) const;
  // Best match over the cid's documents that pass the filters, capped at
  // `worst` (nullopt when none is at most that).
  std::optional<SearchMatch> CidMatch(const Plan& plan, CidId cid,
                                      SearchMatch worst) const;
  HitKey KeyOf(const Plan& plan, const Candidate& c) const;
  // The share of the postings of term `driver`'s words up to `hi` that
  // pass their signature (MayMatchDoc), from its first postings; -1 when
  // it has none.
  double SamplePass(const Plan& plan, size_t driver, SearchMatch hi) const;
  // The words of `tm` matching at most as `hi`, in `out` (cleared first).
  static void WordsUpTo(const TermMatch& tm, SearchMatch hi,
                        std::vector<std::pair<WordId, SearchMatch>>* out);
  // For a walk over the postings of `words` in turn, at the k-th: asks for
  // the record of a word a few ahead, and the first postings of a nearer
  // one, from memory (most words have a few postings, each list a cache
  // miss of its own: waited for one word after the other, these were
  // most of a walk over a part of a word's hundreds of words).
  void PrefetchPostings(
      const std::vector<std::pair<WordId, SearchMatch>>& words, size_t k) const;
  // Whether CollectByWords pairs the postings of the plan's two terms
  // instead of reading the documents of the driver's; `pass` as
  // SamplePass gives it.
  static bool Paired(const Plan& plan, size_t driver, SearchMatch hi,
                     double pass);
  // Whether a cid with `signature` and `trigrams`, or a document with
  // posting signature `doc_signature`, may match what the plan's filters
  // were made for (false: certainly not).
  static bool MayMatch(const Plan& plan, uint64_t signature, uint64_t trigrams);
  static bool MayMatchDoc(const Plan& plan, uint32_t doc_signature);
  SearchHit HitOf(const Candidate& c) const;
  // Cids whose best match is in [lo, hi], found from the documents of the
  // rarest term; in result order, after the cursor, at most `want`.
  absl::Status CollectByWords(const Plan& plan, SearchMatch lo, SearchMatch hi,
                              size_t want, std::vector<Candidate>* out) const;
  // The same by walking an order; false when `budget` steps were not enough.
  absl::StatusOr<bool> CollectByOrder(const Plan& plan, SearchMatch lo,
                                      SearchMatch hi, size_t want,
                                      size_t budget,
                                      std::vector<Candidate>* out) const;
  // Hits of quality `lo`..`hi` in result order (the best `want`). For a
  // relevance order and one quality (lo == hi), it may also gather the
  // qualities up to `rest` when that costs little more; `*covered` says
  // how far it went.
  absl::Status Collect(const Plan& plan, SearchMatch lo, SearchMatch hi,
                       SearchMatch rest, size_t want,
                       std::vector<Candidate>* out, SearchMatch* covered) const;

  const Options options_;

  // The records of cids and documents grow by blocks that never move (a
  // catalog of millions would otherwise copy them whole each time they
  // double, while a change is applied).
  ChunkedVector<CidRec> cids_;
  // One per slot of cids_ (see CidRank).
  std::vector<CidRank> cid_ranks_;
  std::vector<CidId> free_cids_;
  absl::flat_hash_set<CidId, CidHash, CidEq> cid_index_;

  ChunkedVector<DocRec> docs_;
  std::vector<DocId> free_docs_;

  std::vector<WordRec> words_;
  std::vector<WordId> free_words_;
  // WordRec::trigrams of every word slot, packed: the part-of-a-word scan
  // reads these before it looks at a word's text.
  std::vector<uint64_t> word_trigrams_;
  // The text of every word slot of up to 15 bytes, packed (16 bytes each,
  // `len` 255 for a longer word, read from its record): what the
  // part-of-a-word scan compares, without a cache miss per word record.
  struct WordText {
    char text[15];
    uint8_t len;
  };
  static constexpr uint8_t kLongWord = 255;
  std::vector<WordText> word_texts_;
  // Every word, for exact look-ups; and the same sorted, for beginnings.
  absl::flat_hash_map<std::string, WordId> word_ids_;
  absl::btree_map<std::string, WordId, std::less<>> vocabulary_;
  // Hash of a trigram -> words holding it.
  absl::flat_hash_map<uint64_t, std::vector<WordId>> trigrams_;
  // Hash of a word with one character deleted -> words it came from.
  absl::flat_hash_map<uint64_t, absl::InlinedVector<WordId, 1>> deletions_;

  std::vector<ExtRec> exts_;
  std::vector<uint32_t> free_exts_;
  absl::flat_hash_map<std::string, uint32_t> ext_ids_;

  Order orders_[3];
  size_t holders_ = 0;
  // Documents per FileKind, for estimating how selective a kind filter is.
  size_t docs_of_kind_[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  bool bulk_ = false;
  // Between BeginBatch and EndBatch: the cids out of the orders, and a mark
  // per cid slot for those.
  bool batch_ = false;
  std::vector<CidId> batched_;
  std::vector<uint8_t> in_batch_;
  // EndBatch's arrays, kept from batch to batch while no larger than
  // kKeptScratch entries.
  static constexpr size_t kKeptScratch = size_t{1} << 16;
  std::vector<CidId> batch_ids_;
  OrderScratch batch_scratch_;
};

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_SEARCH_INDEX_H_
