#include "common/search/search_index.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/match.h"
#include "common/search/kinds.h"
#include "common/search/text.h"
#include "common/validation.h"

namespace trove {
namespace search {
namespace {

// Below this many documents to look at, a query always walks the documents
// of its rarest word.
constexpr size_t kSmallWalk = 1024;
// How often (in steps) a search looks at the clock.
constexpr size_t kStepsPerClockCheck = 4096;

uint64_t HashOf(absl::string_view s) { return absl::Hash<absl::string_view>()(s); }

// Whether ids[0..n) holds `phrase` as consecutive ids.
bool HoldsIds(const uint32_t* ids, size_t n, const std::vector<uint32_t>& phrase) {
  if (phrase.empty() || phrase.size() > n) return false;
  for (size_t start = 0; start + phrase.size() <= n; ++start) {
    if (std::equal(phrase.begin(), phrase.end(), ids + start)) return true;
  }
  return false;
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
  e.name_key = NamePrefixKey(docs_[c.display].name());
  e.cid = id;
  return e;
}

SearchIndex::CidId SearchIndex::AcquireCid(absl::string_view key,
                                           int64_t size) {
  auto it = cid_index_.find(key);
  if (it != cid_index_.end()) return *it;
  CidId id;
  if (!free_cids_.empty()) {
    id = free_cids_.back();
    free_cids_.pop_back();
  } else {
    id = static_cast<CidId>(cids_.size());
    cids_.emplace_back();
  }
  CidRec& c = cids_[id];
  std::memcpy(c.key, key.data(), 32);
  c.size = size;
  c.sources = 0;
  c.first_doc = kNone;
  c.display = kNone;
  cid_index_.insert(id);
  return id;
}

uint32_t SearchIndex::AcquireExt(const std::string& ext) {
  auto it = ext_ids_.find(ext);
  if (it != ext_ids_.end()) {
    ++exts_[it->second].refs;
    return it->second;
  }
  uint32_t id;
  if (!free_exts_.empty()) {
    id = free_exts_.back();
    free_exts_.pop_back();
  } else {
    id = static_cast<uint32_t>(exts_.size());
    exts_.emplace_back();
  }
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

SearchIndex::WordId SearchIndex::AcquireWord(const std::string& text) {
  auto it = vocabulary_.find(text);
  if (it != vocabulary_.end()) return it->second;
  WordId id;
  if (!free_words_.empty()) {
    id = free_words_.back();
    free_words_.pop_back();
  } else {
    id = static_cast<WordId>(words_.size());
    words_.emplace_back();
  }
  WordRec& w = words_[id];
  w.text = text;
  w.chars = CharCount(text);
  w.docs.clear();
  vocabulary_.emplace(text, id);
  for (const std::string& t : InnerTrigrams(text)) {
    trigrams_[HashOf(t)].push_back(id);
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
  w.text.clear();
  w.docs = absl::flat_hash_set<DocId>();
  free_words_.push_back(id);
}

SearchIndex::DocId SearchIndex::AcquireDoc(CidId cid, absl::string_view name) {
  for (DocId d = cids_[cid].first_doc; d != kNone; d = docs_[d].next) {
    if (docs_[d].name() == name) return d;
  }
  std::vector<std::string> tokens = Tokenize(name);
  if (tokens.size() > 255) tokens.resize(255);
  std::vector<WordId> ids;
  ids.reserve(tokens.size());
  for (const std::string& t : tokens) ids.push_back(AcquireWord(t));
  const uint32_t ext = AcquireExt(FileExtension(name));

  DocId id;
  if (!free_docs_.empty()) {
    id = free_docs_.back();
    free_docs_.pop_back();
  } else {
    id = static_cast<DocId>(docs_.size());
    docs_.emplace_back();
  }
  DocRec& doc = docs_[id];
  doc.cid = cid;
  doc.refs = 0;
  doc.ext = ext;
  doc.word_count = static_cast<uint8_t>(ids.size());
  doc.name_len = static_cast<uint16_t>(name.size());
  doc.data.reset(new uint32_t[ids.size() + (name.size() + 3) / 4]);
  std::copy(ids.begin(), ids.end(), doc.data.get());
  std::memcpy(doc.data.get() + ids.size(), name.data(), name.size());
  doc.next = cids_[cid].first_doc;
  cids_[cid].first_doc = id;
  for (WordId w : ids) words_[w].docs.insert(id);
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
  for (uint8_t i = 0; i < doc.word_count; ++i) {
    WordId w = doc.words()[i];
    WordRec& word = words_[w];
    if (word.docs.erase(id) > 0 && word.docs.empty()) ReleaseWord(w);
  }
  ReleaseExt(doc.ext);
  doc.data.reset();
  doc.cid = kNone;
  doc.next = kNone;
  doc.word_count = 0;
  doc.name_len = 0;
  free_docs_.push_back(id);
}

SearchIndex::DocId SearchIndex::BestDisplay(const CidRec& c) const {
  DocId best = kNone;
  for (DocId d = c.first_doc; d != kNone; d = docs_[d].next) {
    if (docs_[d].refs == 0) continue;
    if (best == kNone || docs_[d].refs > docs_[best].refs ||
        (docs_[d].refs == docs_[best].refs &&
         CompareNames(docs_[d].name(), docs_[best].name()) < 0)) {
      best = d;
    }
  }
  return best;
}

SearchIndex::DocId SearchIndex::Add(absl::string_view cid, int64_t size,
                                    absl::string_view name) {
  const CidId id = AcquireCid(cid, size);
  const bool listed = !bulk_ && cids_[id].sources > 0;
  const DocId old_display = cids_[id].display;
  if (listed) orders_[kBySources].erase(EntryFor(id, kBySources));
  const DocId doc = AcquireDoc(id, name);
  ++docs_[doc].refs;
  ++cids_[id].sources;
  ++holders_;
  const DocId display = BestDisplay(cids_[id]);
  if (bulk_) {
    cids_[id].display = display;
    return doc;
  }
  if (listed && display != old_display) {
    orders_[kBySize].erase(EntryFor(id, kBySize));
    orders_[kByName].erase(EntryFor(id, kByName));
  }
  cids_[id].display = display;
  orders_[kBySources].insert(EntryFor(id, kBySources));
  if (!listed || display != old_display) {
    orders_[kBySize].insert(EntryFor(id, kBySize));
    orders_[kByName].insert(EntryFor(id, kByName));
  }
  return doc;
}

bool SearchIndex::Remove(DocId doc) {
  const CidId id = docs_[doc].cid;
  const DocId old_display = cids_[id].display;
  orders_[kBySources].erase(EntryFor(id, kBySources));
  --docs_[doc].refs;
  --cids_[id].sources;
  --holders_;
  if (cids_[id].sources == 0) {
    orders_[kBySize].erase(EntryFor(id, kBySize));
    orders_[kByName].erase(EntryFor(id, kByName));
    ReleaseDoc(doc);
    CidRec& c = cids_[id];
    cid_index_.erase(id);
    c.display = kNone;
    c.first_doc = kNone;
    free_cids_.push_back(id);
    return true;
  }
  const DocId display = BestDisplay(cids_[id]);
  if (display != old_display) {
    // Erased under the old name while it still exists.
    orders_[kBySize].erase(EntryFor(id, kBySize));
    orders_[kByName].erase(EntryFor(id, kByName));
    cids_[id].display = display;
    orders_[kBySize].insert(EntryFor(id, kBySize));
    orders_[kByName].insert(EntryFor(id, kByName));
  }
  if (docs_[doc].refs == 0) ReleaseDoc(doc);
  orders_[kBySources].insert(EntryFor(id, kBySources));
  return false;
}

void SearchIndex::BeginBulkLoad() { bulk_ = true; }

void SearchIndex::EndBulkLoad() {
  bulk_ = false;
  for (OrderKind kind : {kBySources, kBySize, kByName}) {
    std::vector<OrderEntry> entries;
    entries.reserve(cid_index_.size());
    for (CidId id : cid_index_) entries.push_back(EntryFor(id, kind));
    OrderLess less{this};
    std::sort(entries.begin(), entries.end(), less);
    orders_[kind] = Order(entries.begin(), entries.end(), less);
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

struct SearchIndex::Plan {
  const ParsedQuery* query = nullptr;
  std::vector<TermMatch> terms;
  std::vector<WordId> excluded;
  std::vector<std::vector<WordId>> phrases;
  std::vector<std::vector<WordId>> excluded_phrases;
  absl::flat_hash_set<uint32_t> exts;
  absl::Time deadline;
  mutable size_t steps = 0;

  // Counts one step of work; DEADLINE_EXCEEDED now and then when late.
  absl::Status Step() const {
    if (++steps % kStepsPerClockCheck == 0 && absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          "search did not finish before its deadline");
    }
    return absl::OkStatus();
  }
};

SearchIndex::TermMatch SearchIndex::MatchTerm(const QueryTerm& term) const {
  TermMatch tm;
  const MatchOptions& mo = options_.match;
  auto consider = [&](WordId w) {
    if (tm.words.contains(w)) return;
    std::optional<SearchMatch> m =
        MatchWord(term.word, words_[w].text, term.exact_only, mo);
    if (m.has_value()) tm.words.emplace(w, *m);
  };
  if (term.exact_only) {
    auto it = vocabulary_.find(term.word);
    if (it != vocabulary_.end()) tm.words.emplace(it->second, SEARCH_MATCH_EXACT);
  } else {
    const int chars = CharCount(term.word);
    // The word itself and the words it begins.
    for (auto it = vocabulary_.lower_bound(term.word);
         it != vocabulary_.end() && absl::StartsWith(it->first, term.word);
         ++it) {
      tm.words.emplace(it->second, it->first == term.word
                                       ? SEARCH_MATCH_EXACT
                                       : SEARCH_MATCH_PARTIAL);
    }
    // Words holding it inside: all of them hold its rarest trigram.
    if (chars >= mo.min_infix_chars) {
      const std::vector<WordId>* rarest = nullptr;
      for (const std::string& t : InnerTrigrams(term.word)) {
        auto it = trigrams_.find(HashOf(t));
        if (it == trigrams_.end()) {
          rarest = nullptr;
          break;
        }
        if (rarest == nullptr || it->second.size() < rarest->size()) {
          rarest = &it->second;
        }
      }
      if (rarest != nullptr) {
        for (WordId w : *rarest) consider(w);
      }
    }
    // Words one edit away: they are a deletion of the term, or share a
    // deletion with it, or the term is a deletion of them.
    if (chars >= mo.min_fuzzy_chars && chars <= mo.max_fuzzy_chars &&
        !HasDigit(term.word)) {
      auto from_deletions = [&](absl::string_view s) {
        auto it = deletions_.find(HashOf(s));
        if (it == deletions_.end()) return;
        for (WordId w : it->second) consider(w);
      };
      from_deletions(term.word);
      for (const std::string& d : OneDeletions(term.word)) {
        auto it = vocabulary_.find(d);
        if (it != vocabulary_.end()) consider(it->second);
        from_deletions(d);
      }
    }
  }
  for (const auto& [w, m] : tm.words) {
    tm.docs[m] += words_[w].docs.size();
    tm.best = std::min(tm.best, m);
  }
  return tm;
}

std::optional<SearchMatch> SearchIndex::DocMatch(const Plan& plan,
                                                 DocId id) const {
  const DocRec& doc = docs_[id];
  if (plan.query->has_type_filter() && !plan.exts.contains(doc.ext)) {
    return std::nullopt;
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
  SearchMatch worst = SEARCH_MATCH_EXACT;
  for (const TermMatch& tm : plan.terms) {
    int best = 3;
    for (size_t i = 0; i < n && best > 0; ++i) {
      auto it = tm.words.find(words[i]);
      if (it != tm.words.end()) best = std::min<int>(best, it->second);
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
  hit.set_cid(RawToHex(absl::string_view(c.key, 32)));
  hit.set_size(c.size);
  hit.set_name(std::string(docs_[c.display].name()));
  hit.set_source_count(static_cast<int32_t>(c.sources));
  hit.set_match(cand.match);
  return hit;
}

absl::Status SearchIndex::CollectByWords(const Plan& plan, SearchMatch lo,
                                         SearchMatch hi, size_t want,
                                         std::vector<Candidate>* out) const {
  const ParsedQuery& q = *plan.query;
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
    const CidRec& ca = cids_[a.cid];
    const CidRec& cb = cids_[b.cid];
    int c = 0;
    if (q.sort == SEARCH_SORT_RELEVANCE && a.match != b.match) {
      c = a.match < b.match ? -1 : 1;
    } else if (q.sort != SEARCH_SORT_NAME &&
               (by_size ? ca.size != cb.size : ca.sources != cb.sources)) {
      c = (by_size ? ca.size > cb.size : ca.sources > cb.sources) ? -1 : 1;
    } else {
      absl::string_view na = docs_[ca.display].name();
      absl::string_view nb = docs_[cb.display].name();
      uint64_t ka = NamePrefixKey(na), kb = NamePrefixKey(nb);
      if (ka != kb) {
        c = ka < kb ? -1 : 1;
      } else {
        c = CompareNames(na, nb);
        if (c == 0) c = std::memcmp(ca.key, cb.key, 32) < 0 ? -1 : 1;
        if (a.cid == b.cid) c = 0;
      }
    }
    return q.reverse ? -c : c;
  };
  auto after_cursor = [&](const Candidate& a) {
    if (!q.after.has_value()) return true;
    const HitKey& k = *q.after;
    const CidRec& ca = cids_[a.cid];
    int c = 0;
    const int64_t value = by_size ? ca.size : static_cast<int64_t>(ca.sources);
    if (q.sort == SEARCH_SORT_RELEVANCE && a.match != k.match) {
      c = a.match < k.match ? -1 : 1;
    } else if (q.sort != SEARCH_SORT_NAME && value != k.value) {
      c = value > k.value ? -1 : 1;
    } else {
      absl::string_view na = docs_[ca.display].name();
      uint64_t ka = NamePrefixKey(na);
      if (ka != after_name_key) {
        c = ka < after_name_key ? -1 : 1;
      } else {
        c = CompareNames(na, k.name);
        if (c == 0) {
          int m = absl::string_view(ca.key, 32).compare(after_cid);
          c = m < 0 ? -1 : (m > 0 ? 1 : 0);
        }
      }
    }
    if (q.reverse) c = -c;
    return c > 0;
  };

  std::vector<Candidate> found;
  absl::flat_hash_set<CidId> evaluated;
  const TermMatch& tm = plan.terms[driver];
  evaluated.reserve(std::min<size_t>(tm.DocsUpTo(hi), 1 << 14));
  for (const auto& [w, m] : tm.words) {
    if (m > hi) continue;
    for (DocId d : words_[w].docs) {
      absl::Status s = plan.Step();
      if (!s.ok()) return s;
      const CidId cid = docs_[d].cid;
      if (!evaluated.insert(cid).second) continue;
      std::optional<SearchMatch> best = CidMatch(plan, cid, hi);
      if (!best.has_value() || *best < lo) continue;
      Candidate cand{cid, *best};
      if (!after_cursor(cand)) continue;
      found.push_back(cand);
    }
  }
  auto less = [&](const Candidate& a, const Candidate& b) {
    return compare(a, b) < 0;
  };
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
  size_t steps = 0;
  auto visit = [&](CidId cid) -> absl::StatusOr<bool> {
    absl::Status s = plan.Step();
    if (!s.ok()) return s;
    std::optional<SearchMatch> best = CidMatch(plan, cid, hi);
    if (best.has_value() && *best >= lo) out->push_back({cid, *best});
    return out->size() - start_size >= want;
  };
  if (!q.reverse) {
    auto it = seek ? order.upper_bound(probe) : order.begin();
    for (; it != order.end(); ++it) {
      if (++steps > budget) {
        out->resize(start_size);
        return false;
      }
      absl::StatusOr<bool> full = visit(it->cid);
      if (!full.ok()) return full.status();
      if (*full) return true;
    }
  } else {
    auto it = seek ? order.lower_bound(probe) : order.end();
    while (it != order.begin()) {
      --it;
      if (++steps > budget) {
        out->resize(start_size);
        return false;
      }
      absl::StatusOr<bool> full = visit(it->cid);
      if (!full.ok()) return full.status();
      if (*full) return true;
    }
  }
  return true;
}

absl::Status SearchIndex::Collect(const Plan& plan, SearchMatch lo,
                                  SearchMatch hi, size_t want,
                                  std::vector<Candidate>* out) const {
  size_t walk = ~size_t{0};
  for (const TermMatch& tm : plan.terms) walk = std::min(walk, tm.DocsUpTo(hi));
  if (walk > kSmallWalk) {
    // Walking the order finds a hit about every cids/walk steps when the
    // hits are spread evenly.
    const double live = static_cast<double>(cid_index_.size());
    const double expected =
        static_cast<double>(want) * live / static_cast<double>(walk);
    if (expected * 2 < static_cast<double>(walk)) {
      absl::StatusOr<bool> done =
          CollectByOrder(plan, lo, hi, want, walk / 2 + want, out);
      if (!done.ok()) return done.status();
      if (*done) return absl::OkStatus();
    }
  }
  return CollectByWords(plan, lo, hi, want, out);
}

absl::StatusOr<SearchPage> SearchIndex::Search(const ParsedQuery& query,
                                               absl::Time deadline) const {
  SearchPage page;
  Plan plan;
  plan.query = &query;
  plan.deadline = deadline;
  SearchMatch floor = SEARCH_MATCH_EXACT;
  for (const QueryTerm& term : query.terms) {
    plan.terms.push_back(MatchTerm(term));
    if (plan.terms.back().words.empty()) return page;
    floor = std::max(floor, plan.terms.back().best);
  }
  for (const std::string& w : query.excluded_words) {
    auto it = vocabulary_.find(w);
    if (it != vocabulary_.end()) plan.excluded.push_back(it->second);
  }
  auto phrase_ids = [&](const std::vector<std::string>& phrase,
                        std::vector<WordId>* ids) {
    for (const std::string& w : phrase) {
      auto it = vocabulary_.find(w);
      if (it == vocabulary_.end()) return false;
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
  }

  const size_t need = static_cast<size_t>(query.limit) + 1;
  std::vector<Candidate> hits;
  if (query.sort == SEARCH_SORT_RELEVANCE) {
    // Each match quality in turn (worst first when reversed).
    std::vector<SearchMatch> tiers;
    for (int t = floor; t <= SEARCH_MATCH_MISSPELLED; ++t) {
      tiers.push_back(static_cast<SearchMatch>(t));
    }
    if (query.reverse) std::reverse(tiers.begin(), tiers.end());
    for (SearchMatch t : tiers) {
      if (query.after.has_value() &&
          (query.reverse ? t > query.after->match : t < query.after->match)) {
        continue;
      }
      absl::Status s = Collect(plan, t, t, need - hits.size(), &hits);
      if (!s.ok()) return s;
      if (hits.size() >= need) break;
    }
  } else {
    absl::Status s =
        Collect(plan, SEARCH_MATCH_EXACT, SEARCH_MATCH_MISSPELLED, need, &hits);
    if (!s.ok()) return s;
  }
  const size_t shown = std::min(hits.size(), static_cast<size_t>(query.limit));
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
