#include "common/search/search_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/hash/hash.h"
#include "absl/numeric/bits.h"
#include "absl/strings/match.h"
#include "common/search/kinds.h"
#include "common/search/text.h"
#include "common/validation.h"

namespace trove {
namespace search {
namespace {

// How often (in steps) a search looks at the clock.
constexpr size_t kStepsPerClockCheck = 4096;

uint64_t HashOf(absl::string_view s) { return absl::Hash<absl::string_view>()(s); }

// The two bits a word sets in a signature (within the low 56).
uint64_t WordBits(uint32_t word) {
  const uint64_t mix = (static_cast<uint64_t>(word) + 1) * 0x9E3779B97F4A7C15ull;
  return (uint64_t{1} << ((mix >> 58) % 56)) |
         (uint64_t{1} << (((mix >> 52) & 63) % 56));
}

// The bit a document's kind sets in a signature (the top 8 bits).
uint64_t KindBit(int kind) { return uint64_t{1} << (56 + (kind & 7)); }

// The bit a word sets in a posting's 32-bit signature (within the low 24).
uint32_t WordBit(uint32_t word) {
  const uint64_t mix = (static_cast<uint64_t>(word) + 1) * 0x9E3779B97F4A7C15ull;
  return uint32_t{1} << ((mix >> 40) % 24);
}

// Share of a posting signature's word bits a typical document sets.
constexpr double kPostingDensity = 0.25;

// The bit a trigram sets in a trigram signature.
uint64_t TrigramBit(absl::string_view trigram) {
  return uint64_t{1} << (absl::Hash<absl::string_view>()(trigram) % 64);
}

// Share of trigram bits a typical cid sets.
constexpr double kTrigramDensity = 0.4;

// Documents matched by look-ups in the terms' hash maps before a query
// builds arrays over all word ids instead.
constexpr size_t kDenseAfter = 512;
// ... or sooner, once this many times the documents matched exceed the
// words of those terms (see DocMatch).
constexpr size_t kHashedLookUpCost = 16;

// Per-thread scratch for a walk: the best match seen per cid, stamped with
// the walk's number so that nothing needs clearing between walks.
class CidMarks {
 public:
  // Starts a walk over cids below `count`.
  void Begin(size_t count) {
    if (marks_.size() < count) marks_.resize(count, 0);
    if (++epoch_ >= (1u << 14)) {
      std::fill(marks_.begin(), marks_.end(), 0);
      epoch_ = 1;
    }
  }
  // Records `match` for `cid`; true the first time the cid is seen.
  bool Note(uint32_t cid, int match) {
    uint16_t& m = marks_[cid];
    if ((m >> 2) != epoch_) {
      m = static_cast<uint16_t>(epoch_ << 2 | match);
      return true;
    }
    if ((m & 3) > match) m = static_cast<uint16_t>(epoch_ << 2 | match);
    return false;
  }
  int Best(uint32_t cid) const { return marks_[cid] & 3; }
  // Asks for `cid`'s mark from memory ahead of Note or Best.
  void Prefetch(uint32_t cid) const { __builtin_prefetch(&marks_[cid]); }

 private:
  std::vector<uint16_t> marks_;
  uint32_t epoch_ = 0;
};

// A free slot of `slots` (reused from `free`, or a new one at the end).
template <typename Slots, typename Id>
Id TakeSlot(Slots& slots, std::vector<Id>& free) {
  if (!free.empty()) {
    Id id = free.back();
    free.pop_back();
    return id;
  }
  slots.emplace_back();
  return static_cast<Id>(slots.size() - 1);
}

// Bytes [from, from + count) of `name` (count <= 8) as NamePrefixKey
// takes bytes 0 to 7 (ASCII letters folded, zeros past the end), so that
// comparing the keys of consecutive ranges in turn orders names as
// CompareNames does up to the last byte they cover. Names of one artist or
// series often share their first 16 bytes; each tie left reads both names
// through their cids' records and documents (three cache misses a side).
uint64_t NameBytesKey(absl::string_view name, size_t from, size_t count) {
  uint64_t key = 0;
  for (size_t i = from; i < from + count; ++i) {
    key <<= 8;
    if (i < name.size()) {
      const unsigned char c = static_cast<unsigned char>(name[i]);
      key |= (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
    }
  }
  return key;
}

// Per-thread arrays over the word ids, one per query term, each kept
// between searches at its resting value everywhere, so that a search sets
// and resets only its terms' words instead of allocating and filling an
// array as long as the vocabulary.
class WordTiers {
 public:
  explicit WordTiers(uint8_t rest) : rest_(rest) {}
  // Term `t`'s array over `word_slots` ids.
  uint8_t* Get(size_t t, size_t word_slots) {
    if (slots_.size() <= t) slots_.resize(t + 1);
    Slot& s = slots_[t];
    if (s.tiers.size() < word_slots) s.tiers.resize(word_slots, rest_);
    return s.tiers.data();
  }
  // Records that term `t`'s array was written at `w`.
  void Wrote(size_t t, uint32_t w) { slots_[t].set.push_back(w); }
  // Term `t`'s array over `word_slots` ids, holding `matches` and the
  // resting value elsewhere.
  const uint8_t* Fill(
      size_t t, size_t word_slots,
      const absl::flat_hash_map<uint32_t, SearchMatch>& matches) {
    uint8_t* tiers = Get(t, word_slots);
    Reset(slots_[t]);
    for (const auto& [w, m] : matches) {
      tiers[w] = static_cast<uint8_t>(m);
      Wrote(t, w);
    }
    return tiers;
  }
  // Every array back to the resting value everywhere.
  void Clear() {
    for (Slot& s : slots_) Reset(s);
  }

 private:
  struct Slot {
    std::vector<uint8_t> tiers;
    std::vector<uint32_t> set;
  };
  void Reset(Slot& s) const {
    for (uint32_t w : s.set) s.tiers[w] = rest_;
    s.set.clear();
  }
  const uint8_t rest_;
  std::vector<Slot> slots_;
};

// The match of each word of a term's expansion (3: none).
WordTiers& ThreadDense() {
  thread_local WordTiers dense(3);
  return dense;
}

// For terms matched per document word (TermMatch::lazy): 0 while a word is
// not looked at yet, else 1 + its match (4: none).
WordTiers& ThreadLazy() {
  thread_local WordTiers lazy(0);
  return lazy;
}

// Per-thread marks over documents: the best match (0 to 2) of one term's
// words each holds, two bits per document, for pairing two terms'
// postings. Cleared after each use by resetting only what was set.
class DocTiers {
 public:
  void Begin(size_t count) {
    const size_t bytes = (count + 3) / 4;
    if (bits_.size() < bytes) bits_.resize(bytes, 0);
  }
  // `doc` holds a word matching as `match`.
  void Note(uint32_t doc, int match) {
    uint8_t& b = bits_[doc >> 2];
    const int shift = (doc & 3) * 2;
    const int cur = (b >> shift) & 3;
    if (cur == 0) set_.push_back(doc);
    if (cur == 0 || cur > match + 1) {
      b = static_cast<uint8_t>((b & ~(3 << shift)) | ((match + 1) << shift));
    }
  }
  // The best match noted for `doc`; -1 when none.
  int Get(uint32_t doc) const {
    return ((bits_[doc >> 2] >> ((doc & 3) * 2)) & 3) - 1;
  }
  void End() {
    for (uint32_t d : set_) bits_[d >> 2] = 0;
    set_.clear();
    if (set_.capacity() > (size_t{1} << 20)) set_ = std::vector<uint32_t>();
  }

 private:
  std::vector<uint8_t> bits_;
  std::vector<uint32_t> set_;
};

DocTiers& ThreadDocTiers() {
  thread_local DocTiers tiers;
  return tiers;
}

CidMarks& ThreadMarks() {
  thread_local CidMarks marks;
  return marks;
}

// Cost of looking at one order entry, and at one posting, relative to
// examining one cid.
constexpr double kEntryCost = 0.02;
constexpr double kPostingCost = 0.05;
// Cost of ranking one cid a walk over one plain term's postings found
// (its record only), relative to examining one cid in an order walk (its
// record, its names' records and their words).
constexpr double kRankCost = 0.25;
// Two plain terms are paired by their postings (CollectByWords) when the
// other term has at most this many times the driver's.
constexpr double kPairedWalk = 8;
// Cost of marking or checking one posting when two terms are paired.
constexpr double kPairedPostingCost = 0.02;
// ... or at most this many times the driver's postings that would be
// looked at closer: marking a posting costs about as much as this share
// of a closer look at a document.
constexpr double kPairedGain = 24;
// A term is left lazy (TermMatch::lazy) when its exact matches alone have
// more than this many times the postings of a complete term: more than
// Paired ever pairs, so its expansion would serve only as a filter, and
// a common word's costs more than the documents it would filter.
constexpr double kLazyAfter = kPairedGain;
// Postings a plan samples to estimate how many pass their signature.
constexpr size_t kPassSample = 128;
// Share of signature bits a typical cid sets (two bits for each of its
// words, about seven).
constexpr double kSignatureDensity = 0.2;

// Per-thread scratch for the documents a walk over postings looks at
// closer; kept between searches so that a search allocates nothing for it.
std::vector<std::pair<uint32_t, uint32_t>>& ThreadScratch() {
  thread_local std::vector<std::pair<uint32_t, uint32_t>> scratch;
  if (scratch.capacity() > (size_t{1} << 20)) {
    scratch = std::vector<std::pair<uint32_t, uint32_t>>();
  }
  return scratch;
}

// How many documents a walk asks for from memory at once.
constexpr size_t kCloserBatch = 32;
// A walk over postings word after word asks for the postings of the word
// this many ahead (the first kPostingBytesAhead bytes), and for the record
// of the word twice as far.
constexpr size_t kWordsPipelined = 4;
constexpr size_t kPostingBytesAhead = 256;
// How many words ahead a scan of the vocabulary asks for their records.
constexpr size_t kWordsAhead = 16;

// Whether ids[0..n) holds `phrase` as consecutive ids.
bool HoldsIds(const uint32_t* ids, size_t n, const std::vector<uint32_t>& phrase) {
  if (phrase.empty() || phrase.size() > n) return false;
  for (size_t start = 0; start + phrase.size() <= n; ++start) {
    if (std::equal(phrase.begin(), phrase.end(), ids + start)) return true;
  }
  return false;
}

// Whether `text` holds `part` (not empty): a scan for its first byte and
// a compare, inline, for the short words of a vocabulary (the library's
// substring search cost more getting started than searching).
bool HoldsPart(absl::string_view text, absl::string_view part) {
  if (part.empty() || part.size() > text.size()) return part.empty();
  const char first = part[0];
  const size_t last = text.size() - part.size();
  for (size_t i = 0; i <= last; ++i) {
    if (text[i] == first && std::memcmp(text.data() + i + 1, part.data() + 1,
                                        part.size() - 1) == 0) {
      return true;
    }
  }
  return false;
}

bool IsAscii(absl::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

template <typename T>
void EraseOne(T& v, uint32_t id) {
  auto it = std::find(v.begin(), v.end(), id);
  if (it == v.end()) return;
  *it = v.back();
  v.pop_back();
}

}  // namespace

// ---------------------------------------------------------------------------
// Hashing and ordering helpers

size_t SearchIndex::CidHash::operator()(CidId id) const {
  return (*this)(absl::string_view((*cids)[id].key, 32));
}

size_t SearchIndex::CidHash::operator()(absl::string_view key) const {
  return absl::Hash<absl::string_view>()(key);
}

bool SearchIndex::CidEq::operator()(CidId a, absl::string_view b) const {
  return absl::string_view((*cids)[a].key, 32) == b;
}

bool SearchIndex::OrderLess::operator()(const OrderEntry& a,
                                        const OrderEntry& b) const {
  if (a.primary != b.primary) return a.primary < b.primary;
  if (a.name_key != b.name_key) return a.name_key < b.name_key;
  if (a.name_key2 != b.name_key2) return a.name_key2 < b.name_key2;
  if (a.name_key3 != b.name_key3) return a.name_key3 < b.name_key3;
  if (a.cid == b.cid) return false;
  const CidRec& ca = index->cids_[a.cid];
  const CidRec& cb = index->cids_[b.cid];
  int c = CompareNames(index->docs_[ca.display].name(),
                       index->docs_[cb.display].name());
  if (c != 0) return c < 0;
  return std::memcmp(ca.key, cb.key, 32) < 0;
}

bool SearchIndex::OrderLess::operator()(const OrderEntry& a,
                                        const OrderProbe& b) const {
  if (a.primary != b.primary) return a.primary < b.primary;
  if (a.name_key != b.name_key) return a.name_key < b.name_key;
  const CidRec& ca = index->cids_[a.cid];
  int c = CompareNames(index->docs_[ca.display].name(), b.name);
  if (c != 0) return c < 0;
  return absl::string_view(ca.key, 32) < b.cid_key;
}

bool SearchIndex::OrderLess::operator()(const OrderProbe& a,
                                        const OrderEntry& b) const {
  if (a.primary != b.primary) return a.primary < b.primary;
  if (a.name_key != b.name_key) return a.name_key < b.name_key;
  const CidRec& cb = index->cids_[b.cid];
  int c = CompareNames(a.name, index->docs_[cb.display].name());
  if (c != 0) return c < 0;
  return a.cid_key < absl::string_view(cb.key, 32);
}

size_t SearchIndex::TermMatch::DocsUpTo(SearchMatch m) const {
  size_t n = 0;
  for (int t = 0; t <= static_cast<int>(m); ++t) n += docs[t];
  return n;
}

// ---------------------------------------------------------------------------
// Updates

SearchIndex::SearchIndex(Options options)
    : options_(std::move(options)),
      cid_index_(0, CidHash{&cids_}, CidEq{&cids_}),
      orders_{Order(OrderLess{this}), Order(OrderLess{this}),
              Order(OrderLess{this})} {}

SearchIndex::~SearchIndex() = default;

SearchIndex::OrderEntry SearchIndex::EntryFor(CidId id, OrderKind kind) const {
  const CidRec& c = cids_[id];
  OrderEntry e;
  switch (kind) {
    case kBySources:
      e.primary = ~static_cast<uint64_t>(c.sources);
      break;
    case kBySize:
      e.primary = ~static_cast<uint64_t>(c.size);
      break;
    case kByName:
      e.primary = 0;
      break;
  }
  e.name_key = c.name_key;
  const absl::string_view name = docs_[c.display].name();
  e.name_key2 = NameBytesKey(name, 8, 8);
  e.name_key3 = static_cast<uint32_t>(NameBytesKey(name, 16, 4));
  e.signature = c.signature;
  e.trigrams = c.trigrams;
  e.cid = id;
  return e;
}

void SearchIndex::RefreshSignature(CidRec& c) {
  uint64_t signature = 0;
  uint64_t trigrams = 0;
  for (DocId d = c.first_doc; d != kNone; d = docs_[d].next) {
    if (docs_[d].refs == 0) continue;
    signature |= docs_[d].signature;
    trigrams |= docs_[d].trigrams;
  }
  c.signature = signature;
  c.trigrams = trigrams;
}

void SearchIndex::UpdateEntries(CidId id) {
  const CidRec& c = cids_[id];
  for (OrderKind kind : {kBySize, kByName}) {
    auto it = orders_[kind].find(EntryFor(id, kind));
    if (it == orders_[kind].end()) continue;
    it->signature = c.signature;
    it->trigrams = c.trigrams;
  }
}

SearchIndex::CidId SearchIndex::AcquireCid(absl::string_view key,
                                           int64_t size) {
  // One probe of the set whether the cid is new or not.
  auto it = cid_index_.lazy_emplace(key, [&](const auto& construct) {
    const CidId id = TakeSlot(cids_, free_cids_);
    CidRec& c = cids_[id];
    std::memcpy(c.key, key.data(), 32);
    c.size = size;
    c.sources = 0;
    c.first_doc = kNone;
    c.display = kNone;
    construct(id);
  });
  return *it;
}

uint32_t SearchIndex::AcquireExt(const std::string& ext) {
  auto it = ext_ids_.find(ext);
  if (it != ext_ids_.end()) {
    ++exts_[it->second].refs;
    return it->second;
  }
  const uint32_t id = TakeSlot(exts_, free_exts_);
  exts_[id].text = ext;
  exts_[id].refs = 1;
  ext_ids_.emplace(ext, id);
  return id;
}

void SearchIndex::ReleaseExt(uint32_t id) {
  if (--exts_[id].refs > 0) return;
  ext_ids_.erase(exts_[id].text);
  exts_[id].text.clear();
  free_exts_.push_back(id);
}

SearchIndex::WordId SearchIndex::AcquireWord(absl::string_view text) {
  auto it = word_ids_.find(text);
  if (it != word_ids_.end()) return it->second;
  const WordId id = TakeSlot(words_, free_words_);
  WordRec& w = words_[id];
  w.text = std::string(text);
  w.chars = CharCount(text);
  w.docs.clear();
  vocabulary_.emplace(w.text, id);
  word_ids_.emplace(w.text, id);
  w.trigrams = 0;
  for (const std::string& t : InnerTrigrams(text)) {
    trigrams_[HashOf(t)].push_back(id);
    w.trigrams |= TrigramBit(t);
  }
  if (word_trigrams_.size() < words_.size()) word_trigrams_.resize(words_.size());
  word_trigrams_[id] = w.trigrams;
  if (word_texts_.size() < words_.size()) word_texts_.resize(words_.capacity());
  WordText& packed = word_texts_[id];
  if (text.size() <= sizeof(packed.text)) {
    std::memcpy(packed.text, text.data(), text.size());
    packed.len = static_cast<uint8_t>(text.size());
  } else {
    packed.len = kLongWord;
  }
  const MatchOptions& mo = options_.match;
  if (w.chars >= mo.min_fuzzy_chars && w.chars <= mo.max_fuzzy_chars &&
      !HasDigit(text)) {
    for (const std::string& d : OneDeletions(text)) {
      deletions_[HashOf(d)].push_back(id);
    }
  }
  return id;
}

void SearchIndex::ReleaseWord(WordId id) {
  WordRec& w = words_[id];
  for (const std::string& t : InnerTrigrams(w.text)) {
    auto it = trigrams_.find(HashOf(t));
    if (it == trigrams_.end()) continue;
    EraseOne(it->second, id);
    if (it->second.empty()) trigrams_.erase(it);
  }
  const MatchOptions& mo = options_.match;
  if (w.chars >= mo.min_fuzzy_chars && w.chars <= mo.max_fuzzy_chars &&
      !HasDigit(w.text)) {
    for (const std::string& d : OneDeletions(w.text)) {
      auto it = deletions_.find(HashOf(d));
      if (it == deletions_.end()) continue;
      EraseOne(it->second, id);
      if (it->second.empty()) deletions_.erase(it);
    }
  }
  vocabulary_.erase(w.text);
  word_ids_.erase(w.text);
  w.text.clear();
  word_trigrams_[id] = 0;
  word_texts_[id].len = 0;
  w.docs = std::vector<std::pair<DocId, Posting>>();
  free_words_.push_back(id);
}

SearchIndex::DocId SearchIndex::AcquireDoc(CidId cid, absl::string_view name) {
  for (DocId d = cids_[cid].first_doc; d != kNone; d = docs_[d].next) {
    if (docs_[d].name() == name) return d;
  }
  // The words of the name (as Tokenize cuts them), as views into one
  // lowercased copy of it.
  thread_local std::string lower;
  lower.assign(name.data(), name.size());
  for (char& c : lower) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  absl::InlinedVector<absl::string_view, 16> texts;
  for (size_t i = 0; i < lower.size() && texts.size() < 255;) {
    if (!IsWordByte(static_cast<unsigned char>(lower[i]))) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < lower.size() && IsWordByte(static_cast<unsigned char>(lower[j]))) {
      ++j;
    }
    texts.push_back(absl::string_view(lower).substr(i, j - i));
    i = j;
  }
  // Each step below asks for what the next one reads for all the words at
  // once, so that their cache misses (the vocabulary's slots, the words'
  // records, the ends of their posting lists) overlap instead of coming
  // one after the other.
  for (absl::string_view t : texts) word_ids_.prefetch(t);
  absl::InlinedVector<WordId, 16> ids;
  ids.reserve(texts.size());
  for (absl::string_view t : texts) {
    ids.push_back(AcquireWord(t));
    __builtin_prefetch(&words_[ids.back()].docs);
  }
  std::string extension;
  const size_t dot = name.rfind('.');
  if (dot != absl::string_view::npos && dot != 0 && dot + 1 < name.size()) {
    extension.assign(lower, dot + 1, std::string::npos);
  }
  const uint32_t ext = AcquireExt(extension);
  const uint8_t kind = static_cast<uint8_t>(KindOfExtension(extension));
  ++docs_of_kind_[kind & 7];
  for (WordId w : ids) {
    const auto& list = words_[w].docs;
    if (list.size() < list.capacity()) {
      __builtin_prefetch(list.data() + list.size(), /*rw=*/1);
    }
  }

  const DocId id = TakeSlot(docs_, free_docs_);
  DocRec& doc = docs_[id];
  doc.cid = cid;
  doc.refs = 0;
  doc.established = 0;
  doc.ext = ext;
  doc.kind = kind;
  doc.word_count = static_cast<uint8_t>(ids.size());
  doc.name_len = static_cast<uint16_t>(name.size());
  doc.data.reset(new uint32_t[2 * ids.size() + (name.size() + 3) / 4]);
  std::copy(ids.begin(), ids.end(), doc.data.get());
  std::memcpy(doc.data.get() + ids.size(), name.data(), name.size());
  uint64_t signature = KindBit(kind);
  uint64_t trigrams = 0;
  uint32_t posting_signature = uint32_t{1} << (24 + (kind & 7));
  for (WordId w : ids) {
    signature |= WordBits(w);
    trigrams |= word_trigrams_[w];
    posting_signature |= WordBit(w);
  }
  doc.signature = signature;
  doc.trigrams = trigrams;
  doc.next = cids_[cid].first_doc;
  cids_[cid].first_doc = id;
  const Posting posting{cid, posting_signature};
  uint32_t* slots = doc.slots();
  for (size_t i = 0; i < ids.size(); ++i) {
    // A repeated word has one posting, at its first place in the name.
    if (std::find(ids.begin(), ids.begin() + i, ids[i]) != ids.begin() + i) {
      slots[i] = kNone;
      continue;
    }
    auto& list = words_[ids[i]].docs;
    slots[i] = static_cast<uint32_t>(list.size());
    list.emplace_back(id, posting);
  }
  return id;
}

void SearchIndex::ReleaseDoc(DocId id) {
  DocRec& doc = docs_[id];
  CidRec& c = cids_[doc.cid];
  if (c.first_doc == id) {
    c.first_doc = doc.next;
  } else {
    for (DocId d = c.first_doc; d != kNone; d = docs_[d].next) {
      if (docs_[d].next == id) {
        docs_[d].next = doc.next;
        break;
      }
    }
  }
  const uint32_t* slots = doc.slots();
  for (uint8_t i = 0; i < doc.word_count; ++i) {
    if (slots[i] == kNone) continue;
    const WordId w = doc.words()[i];
    auto& list = words_[w].docs;
    const uint32_t at = slots[i];
    if (at + 1 != list.size()) {
      // The last posting fills the gap; its document learns where it went.
      list[at] = list.back();
      const DocRec& moved = docs_[list[at].first];
      const WordId* moved_words = moved.words();
      uint32_t* moved_slots = moved.slots();
      for (uint8_t j = 0; j < moved.word_count; ++j) {
        if (moved_words[j] == w && moved_slots[j] != kNone) {
          moved_slots[j] = at;
          break;
        }
      }
    }
    list.pop_back();
    if (list.empty()) {
      ReleaseWord(w);
    } else if (list.capacity() > 64 && list.size() < list.capacity() / 4) {
      list.shrink_to_fit();
    }
  }
  ReleaseExt(doc.ext);
  --docs_of_kind_[doc.kind & 7];
  doc.data.reset();
  doc.cid = kNone;
  doc.next = kNone;
  doc.word_count = 0;
  doc.name_len = 0;
  free_docs_.push_back(id);
}

bool SearchIndex::ShownNameBefore(DocId a, DocId b) const {
  const DocRec& x = docs_[a];
  const DocRec& y = docs_[b];
  if (x.established != y.established) return x.established > y.established;
  // Newcomers vote only where no established source does.
  if (x.established == 0 && x.refs != y.refs) return x.refs > y.refs;
  return CompareNames(x.name(), y.name()) < 0;
}

SearchIndex::DocId SearchIndex::BestDisplay(const CidRec& c) const {
  DocId best = kNone;
  for (DocId d = c.first_doc; d != kNone; d = docs_[d].next) {
    if (docs_[d].refs == 0) continue;
    if (best == kNone || ShownNameBefore(d, best)) best = d;
  }
  return best;
}

void SearchIndex::Restand(DocId doc, Standing from) {
  DocRec& d = docs_[doc];
  if (from == Standing::kNewcomer) {
    ++d.established;
  } else {
    --d.established;
  }
  const CidId id = d.cid;
  const DocId old_display = cids_[id].display;
  const DocId display = BestDisplay(cids_[id]);
  if (display == old_display) return;
  if (bulk_ || Defer(id)) {
    cids_[id].display = display;
    cids_[id].name_key = NamePrefixKey(docs_[display].name());
    SyncRank(id);
    return;
  }
  // Every order ties on the shown name, so each entry moves.
  for (OrderKind kind : {kBySources, kBySize, kByName}) {
    orders_[kind].erase(EntryFor(id, kind));
  }
  cids_[id].display = display;
  cids_[id].name_key = NamePrefixKey(docs_[display].name());
  SyncRank(id);
  for (OrderKind kind : {kBySources, kBySize, kByName}) {
    orders_[kind].insert(EntryFor(id, kind));
  }
}

SearchIndex::DocId SearchIndex::Add(absl::string_view cid, int64_t size,
                                    absl::string_view name, Standing standing) {
  const CidId id = AcquireCid(cid, size);
  const bool deferred = bulk_ || Defer(id);
  const bool listed = !deferred && cids_[id].sources > 0;
  const DocId old_display = cids_[id].display;
  if (listed) orders_[kBySources].erase(EntryFor(id, kBySources));
  const DocId doc = AcquireDoc(id, name);
  const bool new_doc = docs_[doc].refs == 0;
  ++docs_[doc].refs;
  if (standing == Standing::kEstablished) ++docs_[doc].established;
  ++cids_[id].sources;
  ++holders_;
  const DocId display = BestDisplay(cids_[id]);
  if (deferred) {
    cids_[id].display = display;
    cids_[id].name_key = NamePrefixKey(docs_[display].name());
    SyncRank(id);
    return doc;
  }
  if (listed && display != old_display) {
    orders_[kBySize].erase(EntryFor(id, kBySize));
    orders_[kByName].erase(EntryFor(id, kByName));
  }
  cids_[id].display = display;
  cids_[id].name_key = NamePrefixKey(docs_[display].name());
  SyncRank(id);
  if (new_doc) RefreshSignature(cids_[id]);
  orders_[kBySources].insert(EntryFor(id, kBySources));
  if (!listed || display != old_display) {
    orders_[kBySize].insert(EntryFor(id, kBySize));
    orders_[kByName].insert(EntryFor(id, kByName));
  } else if (new_doc) {
    UpdateEntries(id);
  }
  return doc;
}

bool SearchIndex::Remove(DocId doc, Standing standing) {
  const CidId id = docs_[doc].cid;
  if (Defer(id)) return RemoveDeferred(doc, standing);
  const DocId old_display = cids_[id].display;
  orders_[kBySources].erase(EntryFor(id, kBySources));
  --docs_[doc].refs;
  if (standing == Standing::kEstablished) --docs_[doc].established;
  --cids_[id].sources;
  --holders_;
  if (cids_[id].sources == 0) {
    orders_[kBySize].erase(EntryFor(id, kBySize));
    orders_[kByName].erase(EntryFor(id, kByName));
    ReleaseDoc(doc);
    ReleaseCid(id);
    return true;
  }
  const DocId display = BestDisplay(cids_[id]);
  if (display != old_display) {
    // Erased under the old name while it still exists.
    orders_[kBySize].erase(EntryFor(id, kBySize));
    orders_[kByName].erase(EntryFor(id, kByName));
  }
  cids_[id].display = display;
  cids_[id].name_key = NamePrefixKey(docs_[display].name());
  SyncRank(id);
  const bool doc_gone = docs_[doc].refs == 0;
  if (doc_gone) {
    ReleaseDoc(doc);
    RefreshSignature(cids_[id]);
  }
  orders_[kBySources].insert(EntryFor(id, kBySources));
  if (display != old_display) {
    orders_[kBySize].insert(EntryFor(id, kBySize));
    orders_[kByName].insert(EntryFor(id, kByName));
  } else if (doc_gone) {
    UpdateEntries(id);
  }
  return false;
}

void SearchIndex::ReleaseCid(CidId id) {
  CidRec& c = cids_[id];
  cid_index_.erase(id);
  c.display = kNone;
  c.first_doc = kNone;
  c.signature = 0;
  c.trigrams = 0;
  SyncRank(id);
  free_cids_.push_back(id);
}

void SearchIndex::SyncRank(CidId id) {
  if (cid_ranks_.size() < cids_.size()) cid_ranks_.resize(cids_.capacity());
  const CidRec& c = cids_[id];
  CidRank& r = cid_ranks_[id];
  r.name_key = c.name_key;
  r.sources = c.sources;
}

bool SearchIndex::Defer(CidId id) {
  if (!batch_) return false;
  if (id < in_batch_.size() && in_batch_[id] != 0) return true;
  // A cid in the orders stays there and is kept current one change at a
  // time; only cids new to the orders wait for EndBatch.
  if (cids_[id].sources > 0) return false;
  if (in_batch_.size() < cids_.size()) in_batch_.resize(cids_.size(), 0);
  in_batch_[id] = 1;
  batched_.push_back(id);
  return true;
}

bool SearchIndex::RemoveDeferred(DocId doc, Standing standing) {
  const CidId id = docs_[doc].cid;
  --docs_[doc].refs;
  if (standing == Standing::kEstablished) --docs_[doc].established;
  --cids_[id].sources;
  --holders_;
  const bool doc_gone = docs_[doc].refs == 0;
  if (doc_gone) ReleaseDoc(doc);
  CidRec& c = cids_[id];
  if (c.sources == 0) {
    ReleaseCid(id);
    return true;
  }
  c.display = BestDisplay(c);
  c.name_key = NamePrefixKey(docs_[c.display].name());
  SyncRank(id);
  return false;
}

void SearchIndex::BeginBatch() { batch_ = true; }

void SearchIndex::EndBatch() {
  batch_ = false;
  std::vector<CidId> ids = std::move(batch_ids_);
  ids.clear();
  ids.reserve(batched_.size());
  for (CidId id : batched_) {
    in_batch_[id] = 0;
    if (cids_[id].sources == 0) continue;
    RefreshSignature(cids_[id]);
    ids.push_back(id);
  }
  batched_.clear();
  if (ids.empty()) {
    batch_ids_ = std::move(ids);
    return;
  }
  // Sorted, each insert lands next to the one before it, on the part of
  // the tree the last one brought into the cache.
  ForEachOrderSorted(
      ids, &batch_scratch_,
      [&](OrderKind kind, const std::vector<OrderEntry>& sorted) {
        Order& order = orders_[kind];
        auto hint = order.end();
        for (const OrderEntry& e : sorted) {
          hint = std::next(order.insert(hint, e));
        }
      });
  // Kept for the next batch, unless an unusually large one grew them.
  if (batch_scratch_.by_name.capacity() > kKeptScratch) {
    batch_scratch_ = OrderScratch();
  }
  if (ids.capacity() <= kKeptScratch) batch_ids_ = std::move(ids);
}

void SearchIndex::BeginBulkLoad() { bulk_ = true; }

void SearchIndex::EndBulkLoad() {
  bulk_ = false;
  // A catalog just loaded goes on to take changes: room for as many cids
  // again, so that the cid set does not rehash (reading every cid's key
  // again) nor cid_ranks_ copy itself while a change is applied under the
  // owner's lock. The set's table is rebuilt here, once; the ranks' room
  // is only address space until used.
  cid_index_.reserve(2 * cid_index_.size());
  cid_ranks_.reserve(2 * cids_.capacity());
  for (CidId id : cid_index_) RefreshSignature(cids_[id]);
  std::vector<CidId> ids(cid_index_.begin(), cid_index_.end());
  OrderScratch scratch;
  ForEachOrderSorted(
      ids, &scratch,
      [&](OrderKind kind, const std::vector<OrderEntry>& sorted) {
        Order order(OrderLess{this});
        for (const OrderEntry& e : sorted) {
          order.insert(order.end(), e);
        }
        orders_[kind] = std::move(order);
      });
}

void SearchIndex::ForEachOrderSorted(
    const std::vector<CidId>& ids, OrderScratch* scratch,
    absl::FunctionRef<void(OrderKind, const std::vector<OrderEntry>&)> use)
    const {
  // One sort by name (then cid) settles every tie; the other two orders
  // are that one sorted again, stably, by their integer key only.
  std::vector<OrderEntry>& entries = scratch->by_name;
  entries.clear();
  entries.reserve(ids.size());
  for (CidId id : ids) entries.push_back(EntryFor(id, kByName));
  std::sort(entries.begin(), entries.end(), OrderLess{this});
  use(kByName, entries);
  for (OrderKind kind : {kBySources, kBySize}) {
    // Only the integer key changes: read the cid's record, not its name.
    auto key_of = [&](const OrderEntry& e) {
      const CidRec& c = cids_[e.cid];
      return kind == kBySources ? ~static_cast<uint64_t>(c.sources)
                                : ~static_cast<uint64_t>(c.size);
    };
    if (entries.size() > kKeptScratch) {
      // More than a batch's arrays keep (a whole catalog at its load):
      // sorted in place, as the arrays below would be another two thirds
      // of it at once, and would not be kept.
      for (OrderEntry& e : entries) e.primary = key_of(e);
      std::stable_sort(entries.begin(), entries.end(),
                       [](const OrderEntry& a, const OrderEntry& b) {
                         return a.primary < b.primary;
                       });
      use(kind, entries);
      continue;
    }
    // A batch: (key, place in the name order) pairs sort as stably, in
    // arrays kept from batch to batch (stable_sort takes a fresh buffer
    // each time, and fresh memory faults its pages in).
    auto& keys = scratch->keys;
    keys.clear();
    keys.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
      keys.emplace_back(key_of(entries[i]), static_cast<uint32_t>(i));
    }
    std::sort(keys.begin(), keys.end());
    std::vector<OrderEntry>& sorted = scratch->by_key;
    sorted.clear();
    sorted.reserve(keys.size());
    for (const auto& [key, at] : keys) {
      sorted.push_back(entries[at]);
      sorted.back().primary = key;
    }
    use(kind, sorted);
  }
}

std::optional<SearchIndex::CidId> SearchIndex::FindCid(
    absl::string_view cid) const {
  auto it = cid_index_.find(cid);
  if (it == cid_index_.end()) return std::nullopt;
  return *it;
}

std::optional<SearchIndex::CidView> SearchIndex::Lookup(
    absl::string_view cid) const {
  auto it = cid_index_.find(cid);
  if (it == cid_index_.end()) return std::nullopt;
  const CidRec& c = cids_[*it];
  CidView v;
  v.size = c.size;
  v.name = std::string(docs_[c.display].name());
  v.sources = static_cast<int>(c.sources);
  return v;
}

absl::string_view SearchIndex::NameOf(DocId doc) const {
  return docs_[doc].name();
}

SearchIndex::Stats SearchIndex::stats() const {
  Stats s;
  s.cids = cid_index_.size();
  s.names = docs_.size() - free_docs_.size();
  s.words = vocabulary_.size();
  s.holders = holders_;
  return s;
}

// ---------------------------------------------------------------------------
// Search

struct SearchIndex::TermFilter {
  // 0: nothing to check; 1: one of `pairs` fully set; 2: a bit of `mask`.
  int mode = 0;
  uint64_t pairs[4] = {0, 0, 0, 0};
  int count = 0;
  uint64_t mask = 0;
  // Share of cids expected to pass.
  double pass = 1;
};

struct SearchIndex::Plan {
  const ParsedQuery* query = nullptr;
  // Until `expanded`, a term whose word is in the vocabulary holds only
  // that word (its exact matches): enough for hits of quality EXACT, which
  // for a common word often fill the page before its beginnings, parts and
  // misspellings are ever looked up. ExpandTerms completes them.
  mutable std::vector<TermMatch> terms;
  mutable bool expanded = false;
  std::vector<WordId> excluded;
  std::vector<std::vector<WordId>> phrases;
  std::vector<std::vector<WordId>> excluded_phrases;
  absl::flat_hash_set<uint32_t> exts;
  absl::Time deadline;
  mutable size_t steps = 0;
  // Signature checks for matches of quality up to `filter_tier`: on cids,
  // and on documents (each term: one of `doc_masks` fully set, or any of
  // `doc_any`; none when both are empty).
  mutable std::vector<TermFilter> filters;
  mutable std::vector<std::vector<uint32_t>> doc_masks;
  mutable std::vector<uint32_t> doc_any;
  // Trigram bits a cid's names must all hold (0: none), for matches of
  // quality up to PARTIAL only: a misspelling may miss a trigram.
  mutable uint64_t trigram_need = 0;
  // Once many documents were matched: per term, the match of every word
  // id (3: none), for look-ups without hashing (null for terms of few
  // words). The arrays are the thread's (DenseTiers), given back when the
  // plan ends.
  mutable std::vector<const uint8_t*> dense;
  mutable size_t doc_matches = 0;
  // Per lazy term, the thread's memo of its match per word id (LazyTiers);
  // empty until a lazy term's document is looked at.
  mutable std::vector<uint8_t*> lazy;
  mutable int filter_tier = -1;
  // Kinds a name must have (bit per FileKind); 0: any.
  uint8_t kinds = 0;
  // The type filter is a kind alone: a name passes it by its kind.
  bool kind_only = false;
  double kind_share = 1;

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    ClearDense();
    if (!lazy.empty()) ThreadLazy().Clear();
  }
  void ClearDense() const {
    if (!dense.empty()) ThreadDense().Clear();
    dense.clear();
  }

  // Counts one step of work; DEADLINE_EXCEEDED now and then when late.
  absl::Status Step() const {
    if (++steps % kStepsPerClockCheck == 0 && absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          "search did not finish before its deadline");
    }
    return absl::OkStatus();
  }
};

void SearchIndex::WordsUpTo(const TermMatch& tm, SearchMatch hi,
                            std::vector<std::pair<WordId, SearchMatch>>* out) {
  out->clear();
  for (const auto& [w, m] : tm.words) {
    if (m <= hi) out->emplace_back(w, m);
  }
}

// Always inlined: as a call, the compiler takes it for a function without
// effects (prefetches are none) and drops the calls.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void SearchIndex::PrefetchPostings(
    const std::vector<std::pair<WordId, SearchMatch>>& words, size_t k) const {
  if (k + 2 * kWordsPipelined < words.size()) {
    __builtin_prefetch(&words_[words[k + 2 * kWordsPipelined].first].docs);
  }
  if (k + kWordsPipelined < words.size()) {
    const auto& docs = words_[words[k + kWordsPipelined].first].docs;
    const char* p = reinterpret_cast<const char*>(docs.data());
    const size_t bytes =
        std::min(docs.size() * sizeof(docs[0]), kPostingBytesAhead);
    for (size_t at = 0; at < bytes; at += 64) __builtin_prefetch(p + at);
  }
}

double SearchIndex::SamplePass(const Plan& plan, size_t driver,
                               SearchMatch hi) const {
  size_t sampled = 0, passed = 0;
  thread_local std::vector<std::pair<WordId, SearchMatch>> words;
  WordsUpTo(plan.terms[driver], hi, &words);
  for (size_t k = 0; k < words.size(); ++k) {
    PrefetchPostings(words, k);
    for (const auto& [d, posting] : words_[words[k].first].docs) {
      if (sampled == kPassSample) break;
      ++sampled;
      if (MayMatchDoc(plan, posting.signature)) ++passed;
    }
    if (sampled == kPassSample) break;
  }
  if (sampled == 0) return -1;
  return (static_cast<double>(passed) + 0.5) /
         (static_cast<double>(sampled) + 1);
}

bool SearchIndex::Paired(const Plan& plan, size_t driver, SearchMatch hi,
                         double pass) {
  if (plan.terms.size() != 2 || plan.terms[0].lazy || plan.terms[1].lazy ||
      !plan.phrases.empty() || !plan.excluded.empty() ||
      !plan.excluded_phrases.empty() || !plan.query->extensions.empty()) {
    return false;
  }
  const double walk =
      static_cast<double>(std::max<size_t>(1, plan.terms[driver].DocsUpTo(hi)));
  const double other = static_cast<double>(plan.terms[1 - driver].DocsUpTo(hi));
  return other <= walk * std::max(kPairedWalk, kPairedGain * pass);
}

SearchIndex::TermMatch SearchIndex::ExactTerm(const QueryTerm& term) const {
  TermMatch tm;
  auto it = word_ids_.find(term.word);
  if (it == word_ids_.end()) return tm;
  tm.words.emplace(it->second, SEARCH_MATCH_EXACT);
  tm.few.emplace_back(it->second, SEARCH_MATCH_EXACT);
  tm.docs[SEARCH_MATCH_EXACT] = words_[it->second].docs.size();
  tm.best = SEARCH_MATCH_EXACT;
  return tm;
}

void SearchIndex::ExpandTerms(const Plan& plan) const {
  if (plan.expanded) return;
  plan.expanded = true;
  // Fewest postings first (the exact ones of a term not complete yet, a
  // bound below its complete count): once a complete term has far fewer
  // than a later term's exact ones, that term never leads a walk and is
  // left lazy instead of looked up in the vocabulary.
  std::vector<size_t> order(plan.terms.size());
  for (size_t t = 0; t < order.size(); ++t) order[t] = t;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return plan.terms[a].DocsUpTo(SEARCH_MATCH_MISSPELLED) <
           plan.terms[b].DocsUpTo(SEARCH_MATCH_MISSPELLED);
  });
  double least = -1;
  for (size_t t : order) {
    TermMatch& tm = plan.terms[t];
    if (!tm.complete) {
      const double exact = static_cast<double>(tm.docs[SEARCH_MATCH_EXACT]);
      if (least >= 0 && exact > kLazyAfter * std::max(1.0, least)) {
        tm.lazy = true;
        continue;
      }
      tm = MatchTerm(plan.query->terms[t]);
    }
    const double all =
        static_cast<double>(tm.DocsUpTo(SEARCH_MATCH_MISSPELLED));
    if (least < 0 || all < least) least = all;
  }
  // What was derived from the terms' words is derived again.
  plan.filter_tier = -1;
  plan.ClearDense();
  plan.doc_matches = 0;
}

SearchIndex::TermMatch SearchIndex::MatchTerm(const QueryTerm& term) const {
  TermMatch tm;
  tm.complete = true;
  const MatchOptions& mo = options_.match;
  auto consider = [&](WordId w) {
    if (tm.words.contains(w)) return;
    std::optional<SearchMatch> m =
        MatchWord(term.word, words_[w].text, term.exact_only, mo);
    if (m.has_value()) tm.words.emplace(w, *m);
  };
  if (term.exact_only) {
    auto it = word_ids_.find(term.word);
    if (it != word_ids_.end()) tm.words.emplace(it->second, SEARCH_MATCH_EXACT);
  } else {
    const int chars = CharCount(term.word);
    // The word itself and the words it begins. An ASCII term's bytes never
    // fall inside a longer character, so a word beginning with it holds
    // its trigrams, and the scan of the words holding it inside (below)
    // finds those too: then only the word itself is looked up.
    if (chars >= mo.min_infix_chars && IsAscii(term.word)) {
      auto it = word_ids_.find(term.word);
      if (it != word_ids_.end())
        tm.words.emplace(it->second, SEARCH_MATCH_EXACT);
    } else {
      for (auto it = vocabulary_.lower_bound(term.word);
           it != vocabulary_.end() && absl::StartsWith(it->first, term.word);
           ++it) {
        tm.words.emplace(it->second, it->first == term.word
                                         ? SEARCH_MATCH_EXACT
                                         : SEARCH_MATCH_PARTIAL);
      }
    }
    // Words holding it inside: all of them hold its rarest trigram.
    if (chars >= mo.min_infix_chars) {
      const std::vector<WordId>* rarest = nullptr;
      // A word holding the term holds all its trigrams: their bits first
      // (packed), the text only of the words that have them all.
      uint64_t need = 0;
      for (const std::string& t : InnerTrigrams(term.word)) {
        auto it = trigrams_.find(HashOf(t));
        if (it == trigrams_.end()) {
          rarest = nullptr;
          break;
        }
        need |= TrigramBit(t);
        if (rarest == nullptr || it->second.size() < rarest->size()) {
          rarest = &it->second;
        }
      }
      if (rarest != nullptr) {
        // Only the part test here: misspellings come from the deletions.
        // Both passes ask for what they read a few words ahead.
        const uint64_t* bits = word_trigrams_.data();
        const std::vector<WordId>& list = *rarest;
        thread_local std::vector<WordId> have_all;
        have_all.clear();
        for (size_t i = 0; i < list.size(); ++i) {
          if (i + kWordsAhead < list.size()) {
            __builtin_prefetch(&bits[list[i + kWordsAhead]]);
          }
          if ((bits[list[i]] & need) == need) have_all.push_back(list[i]);
        }
        const WordText* texts = word_texts_.data();
        // The words found go into the map together, its room made once
        // (hundreds for a common part).
        thread_local std::vector<WordId> found;
        found.clear();
        for (size_t i = 0; i < have_all.size(); ++i) {
          if (i + kWordsAhead < have_all.size()) {
            __builtin_prefetch(&texts[have_all[i + kWordsAhead]]);
          }
          const WordId w = have_all[i];
          const WordText& packed = texts[w];
          const absl::string_view text =
              packed.len != kLongWord
                  ? absl::string_view(packed.text, packed.len)
                  : absl::string_view(words_[w].text);
          if (HoldsPart(text, term.word)) found.push_back(w);
        }
        tm.words.reserve(tm.words.size() + found.size());
        for (WordId w : found) tm.words.emplace(w, SEARCH_MATCH_PARTIAL);
      }
    }
    // Words one edit away: they are a deletion of the term, or share a
    // deletion with it, or the term is a deletion of them.
    if (chars >= mo.min_fuzzy_chars && chars <= mo.max_fuzzy_chars &&
        !HasDigit(term.word)) {
      // Each look-up below is a cache miss in a large table, and so is
      // each word found: all the look-ups are asked for from memory
      // first, then the words found, then they are compared.
      const std::vector<std::string> deleted = OneDeletions(term.word);
      absl::InlinedVector<uint64_t, 16> keys;
      keys.push_back(HashOf(term.word));
      for (const std::string& d : deleted) keys.push_back(HashOf(d));
      for (uint64_t k : keys) deletions_.prefetch(k);
      for (const std::string& d : deleted) word_ids_.prefetch(d);
      thread_local std::vector<WordId> near;
      near.clear();
      auto from_deletions = [&](uint64_t key) {
        auto it = deletions_.find(key);
        if (it == deletions_.end()) return;
        near.insert(near.end(), it->second.begin(), it->second.end());
      };
      from_deletions(keys[0]);
      for (size_t i = 0; i < deleted.size(); ++i) {
        auto it = word_ids_.find(deleted[i]);
        if (it != word_ids_.end()) near.push_back(it->second);
        from_deletions(keys[i + 1]);
      }
      for (WordId w : near) __builtin_prefetch(&words_[w].text);
      for (WordId w : near) consider(w);
    }
  }
  {
    thread_local std::vector<std::pair<WordId, SearchMatch>> matched;
    matched.assign(tm.words.begin(), tm.words.end());
    for (size_t i = 0; i < matched.size(); ++i) {
      if (i + kWordsAhead < matched.size()) {
        __builtin_prefetch(&words_[matched[i + kWordsAhead].first]);
      }
      const auto [w, m] = matched[i];
      tm.docs[m] += words_[w].docs.size();
      tm.best = std::min(tm.best, m);
    }
  }
  if (tm.words.size() <= TermMatch::kFew) {
    tm.few.assign(tm.words.begin(), tm.words.end());
  }
  return tm;
}

std::optional<SearchMatch> SearchIndex::DocMatch(const Plan& plan,
                                                 DocId id) const {
  const DocRec& doc = docs_[id];
  if (plan.query->has_type_filter()) {
    // Every extension of the filter has one of its kinds; a kind alone
    // admits exactly the extensions of that kind.
    if ((plan.kinds & (1u << (doc.kind & 7))) == 0) return std::nullopt;
    if (!plan.kind_only && !plan.exts.contains(doc.ext)) return std::nullopt;
  }
  const WordId* words = doc.words();
  const size_t n = doc.word_count;
  for (WordId x : plan.excluded) {
    if (std::find(words, words + n, x) != words + n) return std::nullopt;
  }
  for (const auto& p : plan.excluded_phrases) {
    if (HoldsIds(words, n, p)) return std::nullopt;
  }
  for (const auto& p : plan.phrases) {
    if (!HoldsIds(words, n, p)) return std::nullopt;
  }
  bool fill = false;
  if (plan.dense.empty()) {
    // Filling a term's array costs about a write per word of the term; a
    // hashed look-up per word of a document, about sixteen: the arrays
    // are filled once the documents looked at make them cheaper.
    size_t hashed = 0;
    for (const TermMatch& tm : plan.terms) {
      if (tm.few.empty()) hashed += tm.words.size();
    }
    ++plan.doc_matches;
    fill = hashed > 0 && (plan.doc_matches > kDenseAfter ||
                          plan.doc_matches * kHashedLookUpCost > hashed);
  }
  if (fill) {
    plan.dense.assign(plan.terms.size(), nullptr);
    for (size_t t = 0; t < plan.terms.size(); ++t) {
      // Terms of few words are compared directly (below).
      if (!plan.terms[t].few.empty()) continue;
      plan.dense[t] = ThreadDense().Fill(t, words_.size(), plan.terms[t].words);
    }
  }
  SearchMatch worst = SEARCH_MATCH_EXACT;
  for (size_t t = 0; t < plan.terms.size(); ++t) {
    int best = 3;
    if (plan.terms[t].lazy) {
      if (plan.lazy.empty()) plan.lazy.assign(plan.terms.size(), nullptr);
      uint8_t*& memo = plan.lazy[t];
      if (memo == nullptr) memo = ThreadLazy().Get(t, words_.size());
      const QueryTerm& term = plan.query->terms[t];
      for (size_t i = 0; i < n && best > 0; ++i) {
        uint8_t v = memo[words[i]];
        if (v == 0) {
          std::optional<SearchMatch> m =
              MatchWord(term.word, words_[words[i]].text, term.exact_only,
                        options_.match);
          v = m.has_value() ? static_cast<uint8_t>(1 + *m) : 4;
          memo[words[i]] = v;
          ThreadLazy().Wrote(t, words[i]);
        }
        best = std::min<int>(best, v - 1);
      }
    } else if (!plan.terms[t].few.empty()) {
      const auto& few = plan.terms[t].few;
      for (size_t i = 0; i < n && best > 0; ++i) {
        for (const auto& [w, m] : few) {
          if (w == words[i]) best = std::min<int>(best, m);
        }
      }
    } else if (!plan.dense.empty()) {
      const uint8_t* tiers = plan.dense[t];
      for (size_t i = 0; i < n && best > 0; ++i) {
        best = std::min<int>(best, tiers[words[i]]);
      }
    } else {
      const TermMatch& tm = plan.terms[t];
      for (size_t i = 0; i < n && best > 0; ++i) {
        auto it = tm.words.find(words[i]);
        if (it != tm.words.end()) best = std::min<int>(best, it->second);
      }
    }
    if (best == 3) return std::nullopt;
    worst = std::max(worst, static_cast<SearchMatch>(best));
  }
  return worst;
}

std::optional<SearchMatch> SearchIndex::CidMatch(const Plan& plan, CidId id,
                                                 SearchMatch worst) const {
  const CidRec& c = cids_[id];
  if (!SizePasses(*plan.query, c.size)) return std::nullopt;
  std::optional<SearchMatch> best;
  for (DocId d = c.first_doc; d != kNone; d = docs_[d].next) {
    // A name whose own bits rule it out for matches up to `worst` is passed
    // over without reading its words (the filters are those of `worst`).
    if (!MayMatch(plan, docs_[d].signature, docs_[d].trigrams)) continue;
    std::optional<SearchMatch> m = DocMatch(plan, d);
    if (m.has_value() && (!best.has_value() || *m < *best)) {
      best = m;
      if (*best == SEARCH_MATCH_EXACT) break;
    }
  }
  if (!best.has_value() || *best > worst) return std::nullopt;
  return best;
}

HitKey SearchIndex::KeyOf(const Plan& plan, const Candidate& cand) const {
  const CidRec& c = cids_[cand.cid];
  HitKey key;
  key.match = cand.match;
  key.value = plan.query->sort == SEARCH_SORT_SIZE ? c.size : c.sources;
  key.name = std::string(docs_[c.display].name());
  key.cid = RawToHex(absl::string_view(c.key, 32));
  return key;
}

SearchHit SearchIndex::HitOf(const Candidate& cand) const {
  const CidRec& c = cids_[cand.cid];
  SearchHit hit;
  // The hex digits are written in place: no string is built and copied.
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string* hex = hit.mutable_cid();
  hex->resize(64);
  char* out = &(*hex)[0];
  for (size_t i = 0; i < 32; ++i) {
    const unsigned char b = static_cast<unsigned char>(c.key[i]);
    out[2 * i] = kDigits[b >> 4];
    out[2 * i + 1] = kDigits[b & 15];
  }
  hit.set_size(c.size);
  const absl::string_view name = docs_[c.display].name();
  hit.set_name(name.data(), name.size());
  hit.set_source_count(static_cast<int32_t>(c.sources));
  hit.set_match(cand.match);
  return hit;
}

bool SearchIndex::MayMatchDoc(const Plan& plan, uint32_t signature) {
  if (plan.kinds != 0 && ((signature >> 24) & plan.kinds) == 0) return false;
  for (size_t t = 0; t < plan.doc_masks.size(); ++t) {
    const std::vector<uint32_t>& masks = plan.doc_masks[t];
    if (!masks.empty()) {
      bool any = false;
      for (uint32_t m : masks) {
        if ((signature & m) == m) {
          any = true;
          break;
        }
      }
      if (!any) return false;
    } else if (plan.doc_any[t] != 0 && (signature & plan.doc_any[t]) == 0) {
      return false;
    }
  }
  return true;
}

bool SearchIndex::MayMatch(const Plan& plan, uint64_t signature,
                           uint64_t trigrams) {
  if (plan.kinds != 0 && ((signature >> 56) & plan.kinds) == 0) return false;
  if ((trigrams & plan.trigram_need) != plan.trigram_need) return false;
  for (const TermFilter& f : plan.filters) {
    if (f.mode == 1) {
      bool any = false;
      for (int i = 0; i < f.count && !any; ++i) {
        any = (signature & f.pairs[i]) == f.pairs[i];
      }
      if (!any) return false;
    } else if (f.mode == 2 && (signature & f.mask) == 0) {
      return false;
    }
  }
  return true;
}

namespace {

// The signature checks for matches of quality up to `hi`, once per plan
// and tier range.
template <typename Plan, typename TermFilter>
void EnsureFilters(const Plan& plan, int hi) {
  if (plan.filter_tier == hi) return;
  plan.filter_tier = hi;
  plan.filters.clear();
  plan.doc_masks.clear();
  plan.doc_any.clear();
  plan.trigram_need = 0;
  if (hi <= SEARCH_MATCH_PARTIAL) {
    // A word holding the query word holds its trigrams.
    for (const QueryTerm& term : plan.query->terms) {
      for (const std::string& t : InnerTrigrams(term.word)) {
        plan.trigram_need |= TrigramBit(t);
      }
    }
  }
  for (const auto& tm : plan.terms) {
    TermFilter f;
    if (tm.lazy && hi > SEARCH_MATCH_EXACT) {
      // Only its exact words are known: nothing to check.
      plan.doc_masks.emplace_back();
      plan.doc_any.push_back(0);
      plan.filters.push_back(f);
      continue;
    }
    std::vector<uint64_t> bits;
    std::vector<uint32_t> doc_bits;
    uint32_t any = 0;
    for (const auto& [w, m] : tm.words) {
      if (m > hi) continue;
      bits.push_back(WordBits(w));
      doc_bits.push_back(WordBit(w));
      any |= WordBit(w);
      if (bits.size() > 64) break;
    }
    if (doc_bits.size() <= 4) {
      plan.doc_masks.push_back(doc_bits);
      plan.doc_any.push_back(0);
    } else {
      plan.doc_masks.emplace_back();
      // Nearly every document sets one of many bits: no check then.
      plan.doc_any.push_back(doc_bits.size() <= 8 ? any : 0);
    }
    if (bits.size() <= 4) {
      f.mode = 1;
      f.count = static_cast<int>(bits.size());
      for (size_t i = 0; i < bits.size(); ++i) f.pairs[i] = bits[i];
      f.pass = std::min(1.0, static_cast<double>(bits.size()) *
                                 kSignatureDensity * kSignatureDensity);
    } else if (bits.size() <= 64) {
      f.mode = 2;
      for (uint64_t b : bits) f.mask |= b;
      f.pass = 1 - std::pow(1 - kSignatureDensity, absl::popcount(f.mask));
    }
    plan.filters.push_back(f);
  }
}

}  // namespace

absl::Status SearchIndex::CollectByWords(const Plan& plan, SearchMatch lo,
                                         SearchMatch hi, size_t want,
                                         std::vector<Candidate>* out) const {
  const ParsedQuery& q = *plan.query;
  EnsureFilters<Plan, TermFilter>(plan, hi);
  size_t driver = 0;
  for (size_t t = 1; t < plan.terms.size(); ++t) {
    if (plan.terms[t].DocsUpTo(hi) < plan.terms[driver].DocsUpTo(hi)) {
      driver = t;
    }
  }
  // The cursor's key in raw form, for cheap comparisons.
  std::string after_cid;
  uint64_t after_name_key = 0;
  if (q.after.has_value()) {
    HexToRaw(q.after->cid, &after_cid);
    after_name_key = NamePrefixKey(q.after->name);
  }
  const bool by_size = q.sort == SEARCH_SORT_SIZE;
  // Negative when candidate a comes first in the query's order.
  auto compare = [&](const Candidate& a, const Candidate& b) {
    int c = 0;
    if (q.sort == SEARCH_SORT_RELEVANCE && a.match != b.match) {
      c = a.match < b.match ? -1 : 1;
    } else if (q.sort != SEARCH_SORT_NAME && a.value != b.value) {
      c = a.value > b.value ? -1 : 1;
    } else if (a.name_key != b.name_key) {
      c = a.name_key < b.name_key ? -1 : 1;
    } else if (a.cid != b.cid) {
      const CidRec& ca = cids_[a.cid];
      const CidRec& cb = cids_[b.cid];
      c = CompareNames(docs_[ca.display].name(), docs_[cb.display].name());
      if (c == 0) c = std::memcmp(ca.key, cb.key, 32) < 0 ? -1 : 1;
    }
    return q.reverse ? -c : c;
  };
  auto after_cursor = [&](const Candidate& a) {
    if (!q.after.has_value()) return true;
    const HitKey& k = *q.after;
    int c = 0;
    if (q.sort == SEARCH_SORT_RELEVANCE && a.match != k.match) {
      c = a.match < k.match ? -1 : 1;
    } else if (q.sort != SEARCH_SORT_NAME && a.value != k.value) {
      c = a.value > k.value ? -1 : 1;
    } else if (a.name_key != after_name_key) {
      c = a.name_key < after_name_key ? -1 : 1;
    } else {
      const CidRec& ca = cids_[a.cid];
      c = CompareNames(docs_[ca.display].name(), k.name);
      if (c == 0) {
        int m = absl::string_view(ca.key, 32).compare(after_cid);
        c = m < 0 ? -1 : (m > 0 ? 1 : 0);
      }
    }
    if (q.reverse) c = -c;
    return c > 0;
  };

  // A document of a word of the only term matches as well as that word
  // does, unless exclusions, phrases or extensions need a closer look (the
  // signature's kind bit is exact).
  const bool simple = plan.terms.size() == 1 && plan.phrases.empty() &&
                      plan.excluded.empty() && plan.excluded_phrases.empty() &&
                      q.extensions.empty();
  CidMarks& marks = ThreadMarks();
  marks.Begin(cids_.size());
  // Kept between searches, like `closer`, so that a search allocates
  // nothing for them once warm.
  thread_local std::vector<CidId> seen;
  thread_local std::vector<Candidate> found;
  if (seen.capacity() > (size_t{1} << 20)) seen = std::vector<CidId>();
  if (found.capacity() > (size_t{1} << 20)) found = std::vector<Candidate>();
  seen.clear();
  found.clear();
  // Documents that passed their posting's signature, looked at closer in a
  // second pass that fetches their records from memory a few ahead.
  std::vector<std::pair<DocId, CidId>>& closer = ThreadScratch();
  // The words whose postings are walked, in turn.
  thread_local std::vector<std::pair<WordId, SearchMatch>> walked;
  const TermMatch& tm = plan.terms[driver];
  // Two plain terms (no phrase, exclusion or extension): a document's
  // match is the worse of its two terms' best words, which their postings
  // tell without reading the document. The driver's postings (the fewer)
  // are marked first (a few bits per document), then the other term's are
  // checked against the marks, which only reads them; what passes is
  // ranked like a plain term's.
  if (Paired(plan, driver, hi, SamplePass(plan, driver, hi))) {
    DocTiers& tiers = ThreadDocTiers();
    tiers.Begin(docs_.size());
    absl::Status status = absl::OkStatus();
    WordsUpTo(tm, hi, &walked);
    for (size_t k = 0; k < walked.size() && status.ok(); ++k) {
      PrefetchPostings(walked, k);
      const SearchMatch m = walked[k].second;
      for (const auto& [d, posting] : words_[walked[k].first].docs) {
        status = plan.Step();
        if (!status.ok()) break;
        if (plan.kinds != 0 && ((posting.signature >> 24) & plan.kinds) == 0) {
          continue;
        }
        tiers.Note(d, m);
      }
    }
    WordsUpTo(plan.terms[1 - driver], hi, &walked);
    for (size_t k = 0; k < walked.size() && status.ok(); ++k) {
      PrefetchPostings(walked, k);
      const SearchMatch m = walked[k].second;
      for (const auto& [d, posting] : words_[walked[k].first].docs) {
        status = plan.Step();
        if (!status.ok()) break;
        const int mine = tiers.Get(d);
        if (mine < 0) continue;
        if (marks.Note(posting.cid, std::max<int>(m, mine))) {
          seen.push_back(posting.cid);
        }
      }
    }
    tiers.End();
    if (!status.ok()) return status;
  } else {
    WordsUpTo(tm, hi, &walked);
    for (size_t k = 0; k < walked.size(); ++k) {
      PrefetchPostings(walked, k);
      const auto [w, m] = walked[k];
      closer.clear();
      // One plain term: the cids are marked a batch at a time, their marks
      // asked for from memory first (a million cids' marks are 2 MiB, past
      // the nearer caches).
      CidId batch[kCloserBatch];
      size_t batched = 0;
      // A copy: C++17 lambdas cannot capture a structured binding.
      const auto match = m;
      auto mark_batch = [&]() {
        for (size_t i = 0; i < batched; ++i) {
          if (marks.Note(batch[i], match)) seen.push_back(batch[i]);
        }
        batched = 0;
      };
      for (const auto& [d, posting] : words_[w].docs) {
        absl::Status s = plan.Step();
        if (!s.ok()) return s;
        if (!MayMatchDoc(plan, posting.signature)) continue;
        if (simple) {
          marks.Prefetch(posting.cid);
          batch[batched++] = posting.cid;
          if (batched == kCloserBatch) mark_batch();
        } else {
          closer.emplace_back(d, posting.cid);
        }
      }
      mark_batch();
      // In batches: first every record of the batch is asked for, then the
      // words of those that pass their trigrams, then each is examined; the
      // loads of a batch overlap instead of waiting one after the other.
      for (size_t start = 0; start < closer.size(); start += kCloserBatch) {
        const size_t end = std::min(closer.size(), start + kCloserBatch);
        for (size_t i = start; i < end; ++i) {
          __builtin_prefetch(&docs_[closer[i].first]);
        }
        size_t kept = start;
        for (size_t i = start; i < end; ++i) {
          const DocRec& doc = docs_[closer[i].first];
          // Its trigrams first: one look instead of two.
          if ((doc.trigrams & plan.trigram_need) != plan.trigram_need) continue;
          __builtin_prefetch(doc.data.get());
          closer[kept++] = closer[i];
        }
        for (size_t i = start; i < kept; ++i) {
          const auto [d, cid] = closer[i];
          std::optional<SearchMatch> dm = DocMatch(plan, d);
          if (!dm.has_value() || *dm > hi) continue;
          if (marks.Note(cid, *dm)) seen.push_back(cid);
        }
      }
    }
  }
  found.reserve(seen.size());
  // Ranking reads the packed cid_ranks_; the records only when the size
  // matters.
  const bool sized = by_size || q.min_size > 0 || q.max_size > 0;
  for (size_t i = 0; i < seen.size(); ++i) {
    if (i + kCloserBatch < seen.size()) {
      if (sized) __builtin_prefetch(&cids_[seen[i + kCloserBatch]].size);
      __builtin_prefetch(&cid_ranks_[seen[i + kCloserBatch]]);
      marks.Prefetch(seen[i + kCloserBatch]);
    }
    const CidId cid = seen[i];
    const SearchMatch best = static_cast<SearchMatch>(marks.Best(cid));
    if (best < lo) continue;
    const CidRank& r = cid_ranks_[cid];
    int64_t value = r.sources;
    if (sized) {
      const int64_t size = cids_[cid].size;
      if (!SizePasses(q, size)) continue;
      if (by_size) value = size;
    }
    Candidate cand{cid, best, value, r.name_key};
    if (!after_cursor(cand)) continue;
    found.push_back(cand);
  }
  auto less = [&](const Candidate& a, const Candidate& b) {
    return compare(a, b) < 0;
  };
  // What `compare` looks at before the names, packed in 64 bits so that a
  // smaller head comes first: match, sources and the name key's top 30
  // bits for relevance; sources; size; or the name key.
  auto head = [&](const Candidate& c) -> uint64_t {
    uint64_t h = 0;
    switch (q.sort) {
      case SEARCH_SORT_SIZE:
        h = ~static_cast<uint64_t>(c.value);
        break;
      case SEARCH_SORT_NAME:
        h = c.name_key;
        break;
      case SEARCH_SORT_SOURCES:
        h = ~static_cast<uint64_t>(c.value);
        break;
      default:
        h = static_cast<uint64_t>(c.match) << 62 |
            (uint64_t{0xFFFFFFFF} - static_cast<uint64_t>(c.value)) << 30 |
            c.name_key >> 34;
        break;
    }
    return q.reverse ? ~h : h;
  };
  if (found.size() > want && want > 0) {
    // The best `want` by head alone first (plain integers, no names read),
    // then only the candidates tied with the last of them stay to be told
    // apart by the full order.
    thread_local std::vector<uint64_t> heads;
    heads.clear();
    heads.reserve(found.size());
    for (const Candidate& c : found) heads.push_back(head(c));
    std::nth_element(heads.begin(), heads.begin() + (want - 1), heads.end());
    const uint64_t last = heads[want - 1];
    size_t kept = 0;
    for (const Candidate& c : found) {
      if (head(c) <= last) found[kept++] = c;
    }
    found.resize(kept);
    if (heads.capacity() > (size_t{1} << 20)) heads = std::vector<uint64_t>();
  }
  if (found.size() > want) {
    std::nth_element(found.begin(), found.begin() + want, found.end(), less);
    found.resize(want);
  }
  std::sort(found.begin(), found.end(), less);
  out->insert(out->end(), found.begin(), found.end());
  return absl::OkStatus();
}

absl::StatusOr<bool> SearchIndex::CollectByOrder(
    const Plan& plan, SearchMatch lo, SearchMatch hi, size_t want,
    size_t budget, std::vector<Candidate>* out) const {
  const ParsedQuery& q = *plan.query;
  const OrderKind kind = q.sort == SEARCH_SORT_SIZE   ? kBySize
                         : q.sort == SEARCH_SORT_NAME ? kByName
                                                      : kBySources;
  const Order& order = orders_[kind];
  // Start after the cursor when it falls inside what is collected here.
  bool seek = q.after.has_value() &&
              (q.sort != SEARCH_SORT_RELEVANCE ||
               (lo == hi && q.after->match == lo));
  std::string cid_key;
  OrderProbe probe{};
  if (seek) {
    HexToRaw(q.after->cid, &cid_key);
    switch (kind) {
      case kBySources:
      case kBySize:
        probe.primary = ~static_cast<uint64_t>(q.after->value);
        break;
      case kByName:
        probe.primary = 0;
        break;
    }
    probe.name_key = NamePrefixKey(q.after->name);
    probe.name = q.after->name;
    probe.cid_key = cid_key;
  }
  const size_t start_size = out->size();
  // `budget` counts cids examined; entries passed over cost far less and
  // get a budget of their own.
  size_t touched = 0;
  size_t entries = 0;
  const size_t entry_budget =
      static_cast<size_t>(static_cast<double>(budget) / kEntryCost);
  // Cids that passed their entry's bits wait here, a few at a time, so that
  // their records and their first names' words are asked for from memory
  // together rather than one after the other. They are examined in order.
  constexpr size_t kBatch = 16;
  CidId pending[kBatch];
  size_t pending_count = 0;
  // Examines the waiting cids; true once the page is full.
  auto flush = [&]() -> bool {
    const size_t n = pending_count;
    pending_count = 0;
    for (size_t i = 0; i < n; ++i) {
      const DocId d = cids_[pending[i]].first_doc;
      if (d != kNone) __builtin_prefetch(&docs_[d]);
    }
    for (size_t i = 0; i < n; ++i) {
      const DocId d = cids_[pending[i]].first_doc;
      if (d == kNone) continue;
      const DocRec& doc = docs_[d];
      if (MayMatch(plan, doc.signature, doc.trigrams)) {
        __builtin_prefetch(doc.data.get());
      }
    }
    for (size_t i = 0; i < n; ++i) {
      std::optional<SearchMatch> best = CidMatch(plan, pending[i], hi);
      if (best.has_value() && *best >= lo) {
        const CidRec& c = cids_[pending[i]];
        out->push_back({pending[i], *best,
                        kind == kBySize ? c.size : static_cast<int64_t>(c.sources),
                        c.name_key});
        if (out->size() - start_size >= want) return true;
      }
    }
    return false;
  };
  // Whether, at the rate hits came so far, filling the page would take
  // more than twice the budget (`spent` of `limit`). Asked once a quarter
  // of it is spent: the estimates take words as independent, and where
  // they are not a walk finds far fewer hits than expected; it gives up
  // then rather than spend the rest of its budget before the other plan
  // runs anyway.
  auto hopeless = [&](size_t spent, size_t limit) {
    if (spent * 4 < limit) return false;
    const size_t hits = out->size() - start_size;
    return static_cast<double>(want) * static_cast<double>(spent) >
           2.0 * static_cast<double>(limit) * static_cast<double>(hits + 1);
  };
  // 1: the page is full; 0: go on; -1: over budget.
  auto visit = [&](const OrderEntry& e) -> absl::StatusOr<int> {
    if (++entries > entry_budget) return flush() ? 1 : -1;
    if (entries % 1024 == 0 && hopeless(entries, entry_budget)) {
      return flush() ? 1 : -1;
    }
    if (!MayMatch(plan, e.signature, e.trigrams)) return 0;
    if (++touched > budget) return flush() ? 1 : -1;
    absl::Status s = plan.Step();
    if (!s.ok()) return s;
    pending[pending_count++] = e.cid;
    __builtin_prefetch(&cids_[e.cid]);
    if (pending_count == kBatch) {
      if (flush()) return 1;
      return hopeless(touched, budget) ? -1 : 0;
    }
    return 0;
  };
  if (!q.reverse) {
    auto it = seek ? order.upper_bound(probe) : order.begin();
    for (; it != order.end(); ++it) {
      absl::StatusOr<int> r = visit(*it);
      if (!r.ok()) return r.status();
      if (*r < 0) {
        out->resize(start_size);
        return false;
      }
      if (*r > 0) return true;
    }
  } else {
    auto it = seek ? order.lower_bound(probe) : order.end();
    while (it != order.begin()) {
      --it;
      absl::StatusOr<int> r = visit(*it);
      if (!r.ok()) return r.status();
      if (*r < 0) {
        out->resize(start_size);
        return false;
      }
      if (*r > 0) return true;
    }
  }
  flush();
  return true;
}

absl::Status SearchIndex::Collect(const Plan& plan, SearchMatch lo,
                                  SearchMatch hi, SearchMatch rest, size_t want,
                                  std::vector<Candidate>* out,
                                  SearchMatch* covered) const {
  *covered = hi;
  const bool relevance = plan.query->sort == SEARCH_SORT_RELEVANCE;
  if (hi != SEARCH_MATCH_EXACT) ExpandTerms(plan);
  EnsureFilters<Plan, TermFilter>(plan, hi);
  size_t walk = ~size_t{0};
  size_t driver = 0;
  for (size_t t = 0; t < plan.terms.size(); ++t) {
    if (plan.terms[t].DocsUpTo(hi) < walk) {
      walk = plan.terms[t].DocsUpTo(hi);
      driver = t;
    }
  }
  // The share of the walk's postings that pass their signature (the kind
  // and the other terms' bits), from its first postings: words and kinds
  // go together ("pack" and archives, "flac" and audio), so the share of
  // a kind over the whole catalog says little of it.
  const double sampled_pass = SamplePass(plan, driver, hi);
  // Walking the words costs about a look at each of their documents'
  // postings, most passed over by signature. Walking an order finds a hit
  // about every cids/matches entries when the hits are spread evenly; of
  // those entries, the signature lets through about `pass` to be examined.
  const double live = static_cast<double>(cid_index_.size());
  const double matches = std::max(
      1.0, static_cast<double>(walk) *
               (sampled_pass >= 0 ? sampled_pass : plan.kind_share));
  const double entries = static_cast<double>(want) * live / matches;
  double pass = plan.kind_share;
  for (const TermFilter& f : plan.filters) pass *= f.pass;
  pass = std::min(pass, plan.kind_share * std::pow(kTrigramDensity,
                                                   absl::popcount(plan.trigram_need)));
  const double examined =
      entries * std::min(1.0, pass) + static_cast<double>(want);
  const double by_order = entries * kEntryCost + examined;
  double doc_pass = plan.kind_share;
  for (size_t t = 0; t < plan.doc_masks.size(); ++t) {
    if (plan.doc_masks[t].empty()) continue;
    doc_pass *= std::min(1.0, static_cast<double>(plan.doc_masks[t].size()) *
                                  kPostingDensity);
  }
  // Ranking what a walk over the words finds costs a look at each cid;
  // for one plain term, only at its record (no name is read), a fraction
  // of what the order walk spends examining one.
  const bool plain = plan.terms.size() == 1 && plan.phrases.empty() &&
                     plan.excluded.empty() && plan.excluded_phrases.empty() &&
                     plan.query->extensions.empty();
  // Each posting that passes its signature is looked at closer (or, for
  // one plain term, its cid ranked).
  const double closer =
      sampled_pass >= 0 ? static_cast<double>(walk) * sampled_pass
                        : matches * std::min(1.0, doc_pass);
  // Two plain terms paired by their postings: the other term's are read
  // too, and nothing else (CollectByWords).
  const size_t other =
      plan.terms.size() == 2 ? plan.terms[1 - driver].DocsUpTo(hi) : 0;
  const bool paired = Paired(plan, driver, hi, sampled_pass);
  const double by_words =
      paired ? static_cast<double>(walk + other) * kPairedPostingCost +
                   closer * kRankCost
             : static_cast<double>(walk) * kPostingCost +
                   closer * (plain ? kRankCost : 1.0);
  // The estimates take the query's words as independent, which they often
  // are not: so the order is tried first, with a budget of a part of the
  // other plan's cost unless it looks clearly better. A walk over an order
  // that finds too little costs more per unit than either estimate (most
  // of what it examines fails): when the words look cheaper, it is not
  // tried.
  const double budget =
      2 * by_order < by_words ? std::max(by_words / 2, 2 * examined)
      : by_order < by_words   ? by_words / 8
                              : 0;
  if (budget >= 1) {
    absl::StatusOr<bool> done = CollectByOrder(
        plan, lo, hi, want, static_cast<size_t>(budget), out);
    if (!done.ok()) return done.status();
    if (*done) return absl::OkStatus();
  }
  // The later qualities too, when their words add little to the walk.
  if (relevance && rest != hi) {
    ExpandTerms(plan);
    const SearchMatch far = std::max(hi, rest);
    size_t more = ~size_t{0};
    for (const TermMatch& tm : plan.terms) more = std::min(more, tm.DocsUpTo(far));
    if (more <= 2 * walk + 1000) {
      *covered = rest;
      auto r = CollectByWords(plan, std::min(lo, rest), far, want, out);
      return r;
    }
  }
  auto r = CollectByWords(plan, lo, hi, want, out);
  return r;
}

absl::StatusOr<SearchPage> SearchIndex::Search(const ParsedQuery& query,
                                               absl::Time deadline) const {
  SearchPage page;
  Plan plan;
  plan.query = &query;
  plan.deadline = deadline;
  SearchMatch floor = SEARCH_MATCH_EXACT;
  for (const QueryTerm& term : query.terms) {
    // The word alone first (see Plan::terms); all of it when the word is
    // not in the vocabulary or when only exact matches count anyway.
    plan.terms.push_back(ExactTerm(term));
    if (plan.terms.back().words.empty() || term.exact_only) {
      plan.terms.back() = MatchTerm(term);
    }
    if (plan.terms.back().words.empty()) return page;
    floor = std::max(floor, plan.terms.back().best);
  }
  for (const std::string& w : query.excluded_words) {
    auto it = word_ids_.find(w);
    if (it != word_ids_.end()) plan.excluded.push_back(it->second);
  }
  auto phrase_ids = [&](const std::vector<std::string>& phrase,
                        std::vector<WordId>* ids) {
    for (const std::string& w : phrase) {
      auto it = word_ids_.find(w);
      if (it == word_ids_.end()) return false;
      ids->push_back(it->second);
    }
    return true;
  };
  for (const auto& p : query.phrases) {
    std::vector<WordId> ids;
    if (!phrase_ids(p, &ids)) return page;
    plan.phrases.push_back(std::move(ids));
  }
  for (const auto& p : query.excluded_phrases) {
    std::vector<WordId> ids;
    if (phrase_ids(p, &ids)) plan.excluded_phrases.push_back(std::move(ids));
  }
  if (query.has_type_filter()) {
    for (const std::string& e : query.extensions) {
      auto it = ext_ids_.find(e);
      if (it != ext_ids_.end()) plan.exts.insert(it->second);
    }
    for (const std::string& e : ExtensionsOfKind(query.kind)) {
      auto it = ext_ids_.find(e);
      if (it != ext_ids_.end()) plan.exts.insert(it->second);
    }
    if (plan.exts.empty()) return page;
    if (query.kind != FILE_KIND_ANY) plan.kinds |= 1u << query.kind;
    plan.kind_only = query.extensions.empty();
    for (const std::string& e : query.extensions) {
      plan.kinds |= 1u << KindOfExtension(e);
    }
    size_t of_kinds = 0, all = 0;
    for (int k = 0; k < 8; ++k) {
      all += docs_of_kind_[k];
      if (plan.kinds & (1u << k)) of_kinds += docs_of_kind_[k];
    }
    plan.kind_share =
        all == 0 ? 1.0 : static_cast<double>(of_kinds) / static_cast<double>(all);
  }

  const size_t need = static_cast<size_t>(query.limit) + 1;
  std::vector<Candidate> hits;
  if (query.sort == SEARCH_SORT_RELEVANCE) {
    // The best match quality first (the worst when reversed); when it
    // does not fill the page, the others in one walk.
    std::vector<SearchMatch> tiers;
    for (int t = floor; t <= SEARCH_MATCH_MISSPELLED; ++t) {
      tiers.push_back(static_cast<SearchMatch>(t));
    }
    if (query.reverse) std::reverse(tiers.begin(), tiers.end());
    for (size_t k = 0; k < tiers.size(); ++k) {
      const SearchMatch t = tiers[k];
      if (query.after.has_value() &&
          (query.reverse ? t > query.after->match : t < query.after->match)) {
        continue;
      }
      SearchMatch covered = t;
      absl::Status s = Collect(plan, t, t, tiers.back(), need - hits.size(),
                               &hits, &covered);
      if (!s.ok()) return s;
      if (hits.size() >= need || covered != t) break;
    }
  } else {
    SearchMatch covered;
    absl::Status s = Collect(plan, SEARCH_MATCH_EXACT, SEARCH_MATCH_MISSPELLED,
                             SEARCH_MATCH_MISSPELLED, need, &hits, &covered);
    if (!s.ok()) return s;
  }
  const size_t shown = std::min(hits.size(), static_cast<size_t>(query.limit));
  // A hit reads its cid's record, then its shown name's record, then the
  // name: three loads, each waiting for the one before. Asked for from
  // memory one stage at a time for the whole page, they overlap instead
  // (one after the other, they were a fifth of a search's time).
  for (size_t i = 0; i < shown; ++i) {
    const CidRec& c = cids_[hits[i].cid];
    __builtin_prefetch(&c.key[0]);
    __builtin_prefetch(&c.display);
  }
  for (size_t i = 0; i < shown; ++i) {
    const DocRec& d = docs_[cids_[hits[i].cid].display];
    __builtin_prefetch(&d.name_len);
    __builtin_prefetch(&d.data);
  }
  for (size_t i = 0; i < shown; ++i) {
    const DocRec& d = docs_[cids_[hits[i].cid].display];
    const char* name =
        reinterpret_cast<const char*>(d.data.get() + d.word_count);
    __builtin_prefetch(name);
    if (d.name_len > 0) __builtin_prefetch(name + d.name_len - 1);
  }
  page.hits.reserve(shown);
  for (size_t i = 0; i < shown; ++i) page.hits.push_back(HitOf(hits[i]));
  if (hits.size() > shown && shown > 0) {
    page.next_cursor =
        EncodeCursor(KeyOf(plan, hits[shown - 1]), query.sort, query.reverse);
  }
  return page;
}

}  // namespace search
}  // namespace trove
