#include "supernode/inverted_index.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "common/validation.h"

namespace trove {
namespace supernode {
namespace {

// A small reward for names with few words besides the query's, so that
// "rhapsody.mp3" ranks before "rhapsody in blue live 1977.mp3".
constexpr double kConcisenessWeight = 0.05;

std::string DocKey(const std::string& cid, const std::string& name) {
  std::string key;
  key.reserve(cid.size() + 1 + name.size());
  key.append(cid);
  key.push_back('\0');
  key.append(name);
  return key;
}

}  // namespace

void InvertedIndex::CidInfo::Refresh() {
  // A cid binds its size, so holders normally all agree on it.
  int best_count = -1;
  for (const auto& [sz, count] : sizes) {
    if (count > best_count) {
      size = sz;
      best_count = count;
    }
  }
  name = nullptr;
  best_count = -1;
  for (const auto& [n, count] : names) {
    if (count > best_count) {
      name = &n;
      best_count = count;
    }
  }
}

InvertedIndex::InvertedIndex(Options options) : options_(std::move(options)) {}

InvertedIndex::WordId InvertedIndex::AcquireWord(const std::string& text) {
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
  Word& word = words_[id];
  word.text = text;
  word.chars = static_cast<int>(Utf8Chars(text).size());
  word.docs.clear();
  vocabulary_.emplace(text, id);
  std::vector<std::string> trigrams = PaddedTrigrams(text);
  word.trigram_count = static_cast<int>(trigrams.size());
  for (std::string& t : trigrams) trigrams_[t].insert(id);
  return id;
}

void InvertedIndex::ReleaseWordDoc(WordId id, DocId doc) {
  Word& word = words_[id];
  word.docs.erase(doc);
  if (!word.docs.empty()) return;
  for (const std::string& t : PaddedTrigrams(word.text)) {
    auto it = trigrams_.find(t);
    if (it == trigrams_.end()) continue;
    it->second.erase(id);
    if (it->second.empty()) trigrams_.erase(it);
  }
  vocabulary_.erase(word.text);
  word.text.clear();
  word.docs = absl::flat_hash_set<DocId>();
  free_words_.push_back(id);
}

InvertedIndex::DocId InvertedIndex::AcquireDoc(const std::string& cid,
                                               const std::string& name) {
  std::string key = DocKey(cid, name);
  auto it = doc_ids_.find(key);
  if (it != doc_ids_.end()) {
    ++docs_[it->second].refs;
    return it->second;
  }
  DocId id;
  if (!free_docs_.empty()) {
    id = free_docs_.back();
    free_docs_.pop_back();
  } else {
    id = static_cast<DocId>(docs_.size());
    docs_.emplace_back();
  }
  Doc& doc = docs_[id];
  doc.cid = cid;
  doc.name = name;
  doc.extension = FileExtension(name);
  doc.refs = 1;
  doc.words.clear();
  std::vector<std::string> tokens = Tokenize(name);
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  for (const std::string& token : tokens) {
    WordId w = AcquireWord(token);
    words_[w].docs.insert(id);
    doc.words.push_back(w);
  }
  doc_ids_.emplace(std::move(key), id);
  return id;
}

void InvertedIndex::ReleaseDoc(DocId id) {
  Doc& doc = docs_[id];
  if (--doc.refs > 0) return;
  for (WordId w : doc.words) ReleaseWordDoc(w, id);
  doc_ids_.erase(DocKey(doc.cid, doc.name));
  doc.cid.clear();
  doc.name.clear();
  doc.extension.clear();
  doc.words.clear();
  doc.info = nullptr;
  free_docs_.push_back(id);
}

void InvertedIndex::Add(const std::string& peer_id, const FileEntry& entry) {
  auto& files = peers_[peer_id];
  auto it = files.find(entry.cid());
  if (it != files.end()) {
    if (docs_[it->second.doc].name == entry.name() &&
        it->second.size == entry.size()) {
      return;
    }
    Entry old = it->second;
    files.erase(it);
    RemoveEntry(peer_id, entry.cid(), old);
  }
  DocId doc = AcquireDoc(entry.cid(), entry.name());
  files.emplace(entry.cid(), Entry{doc, entry.size()});
  CidInfo& info = cids_[entry.cid()];
  docs_[doc].info = &info;
  info.peers.insert(peer_id);
  ++info.names[entry.name()];
  ++info.sizes[entry.size()];
  info.Refresh();
  ++entry_count_;
}

void InvertedIndex::RemoveEntry(const std::string& peer_id,
                                const std::string& cid, const Entry& entry) {
  auto cit = cids_.find(cid);
  if (cit != cids_.end()) {
    CidInfo& info = cit->second;
    info.peers.erase(peer_id);
    const std::string& name = docs_[entry.doc].name;
    auto nit = info.names.find(name);
    if (nit != info.names.end() && --nit->second == 0) info.names.erase(nit);
    auto sit = info.sizes.find(entry.size);
    if (sit != info.sizes.end() && --sit->second == 0) info.sizes.erase(sit);
    if (info.peers.empty()) {
      cids_.erase(cit);
    } else {
      info.Refresh();
    }
  }
  ReleaseDoc(entry.doc);
  --entry_count_;
}

bool InvertedIndex::Remove(const std::string& peer_id, const std::string& cid) {
  auto pit = peers_.find(peer_id);
  if (pit == peers_.end()) return false;
  auto it = pit->second.find(cid);
  if (it == pit->second.end()) return false;
  Entry entry = it->second;
  pit->second.erase(it);
  RemoveEntry(peer_id, cid, entry);
  if (pit->second.empty()) peers_.erase(pit);
  return true;
}

size_t InvertedIndex::RemovePeer(const std::string& peer_id) {
  auto pit = peers_.find(peer_id);
  if (pit == peers_.end()) return 0;
  absl::flat_hash_map<std::string, Entry> files = std::move(pit->second);
  peers_.erase(pit);
  for (const auto& [cid, entry] : files) RemoveEntry(peer_id, cid, entry);
  return files.size();
}

std::optional<InvertedIndex::CidSummary> InvertedIndex::Lookup(
    const std::string& cid) const {
  auto it = cids_.find(cid);
  if (it == cids_.end()) return std::nullopt;
  CidSummary out;
  out.size = it->second.size;
  out.name = *it->second.name;
  out.peers.assign(it->second.peers.begin(), it->second.peers.end());
  std::sort(out.peers.begin(), out.peers.end());
  return out;
}

std::optional<FileEntry> InvertedIndex::Get(const std::string& peer_id,
                                            const std::string& cid) const {
  auto pit = peers_.find(peer_id);
  if (pit == peers_.end()) return std::nullopt;
  auto it = pit->second.find(cid);
  if (it == pit->second.end()) return std::nullopt;
  FileEntry out;
  out.set_cid(cid);
  out.set_size(it->second.size);
  out.set_name(docs_[it->second.doc].name);
  return out;
}

std::vector<FileEntry> InvertedIndex::FilesOf(
    const std::string& peer_id) const {
  std::vector<FileEntry> out;
  auto pit = peers_.find(peer_id);
  if (pit == peers_.end()) return out;
  out.reserve(pit->second.size());
  for (const auto& [cid, entry] : pit->second) {
    FileEntry& e = out.emplace_back();
    e.set_cid(cid);
    e.set_size(entry.size);
    e.set_name(docs_[entry.doc].name);
  }
  std::sort(out.begin(), out.end(),
            [](const FileEntry& a, const FileEntry& b) {
              return a.cid() < b.cid();
            });
  return out;
}

size_t InvertedIndex::FileCountOf(const std::string& peer_id) const {
  auto pit = peers_.find(peer_id);
  return pit == peers_.end() ? 0 : pit->second.size();
}

absl::flat_hash_map<InvertedIndex::WordId, double>
InvertedIndex::MatchingWords(const std::string& token) const {
  absl::flat_hash_map<WordId, double> out;
  // The same word and words beginning with it: a range of the sorted
  // vocabulary.
  for (auto it = vocabulary_.lower_bound(token);
       it != vocabulary_.end() && absl::StartsWith(it->first, token); ++it) {
    out[it->second] = it->first == token ? 1.0 : 0.9;
  }
  const MatchOptions& mo = options_.match;
  const int token_chars = static_cast<int>(Utf8Chars(token).size());
  if (token_chars < mo.min_fuzzy_chars) return out;

  // Part of a word: every trigram of the token is in the word. Walk the
  // rarest trigram's words and check each.
  std::vector<std::string> inner = InnerTrigrams(token);
  const absl::flat_hash_set<WordId>* rarest = nullptr;
  bool all_present = !inner.empty();
  for (const std::string& t : inner) {
    auto it = trigrams_.find(t);
    if (it == trigrams_.end()) {
      all_present = false;
      break;
    }
    if (rarest == nullptr || it->second.size() < rarest->size()) {
      rarest = &it->second;
    }
  }
  if (all_present && rarest != nullptr) {
    for (WordId w : *rarest) {
      if (out.contains(w)) continue;
      if (absl::StrContains(words_[w].text, token)) out[w] = 0.75;
    }
  }

  // Misspellings: words sharing padded trigrams with the token, counted,
  // then checked with MatchWord, which decides by trigram similarity or
  // edit distance. A word can reach the similarity threshold only if its
  // length is near the token's; it can be within the edit limit only if its
  // length differs by at most that limit.
  std::vector<std::string> padded = PaddedTrigrams(token);
  absl::flat_hash_map<WordId, int> shared;
  for (const std::string& t : padded) {
    auto it = trigrams_.find(t);
    if (it == trigrams_.end()) continue;
    for (WordId w : it->second) ++shared[w];
  }
  const int max_edits = MaxEditsFor(token_chars);
  const double nt = static_cast<double>(padded.size());
  for (const auto& [w, count] : shared) {
    if (out.contains(w)) continue;
    const Word& word = words_[w];
    const double nw = static_cast<double>(word.trigram_count);
    bool may_be_similar =
        static_cast<double>(count) / (nt + nw - count) >= mo.min_similarity;
    bool may_be_close = max_edits > 0 && std::abs(word.chars - token_chars) <=
                                             max_edits;
    if (!may_be_similar && !may_be_close) continue;
    WordMatch m = MatchWord(token, word.text, mo);
    if (m.kind != MatchKind::kNone) out[w] = m.quality;
  }
  return out;
}

std::vector<SearchHit> InvertedIndex::Search(const SearchQuery& query) const {
  std::vector<std::string> tokens = Tokenize(query.text());
  std::sort(tokens.begin(), tokens.end());
  tokens.erase(std::unique(tokens.begin(), tokens.end()), tokens.end());
  if (tokens.empty()) return {};

  std::vector<absl::flat_hash_map<WordId, double>> matches;
  matches.reserve(tokens.size());
  size_t driver = 0;
  size_t driver_cost = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    matches.push_back(MatchingWords(tokens[i]));
    if (matches.back().empty()) return {};
    size_t cost = 0;
    for (const auto& [w, q] : matches.back()) cost += words_[w].docs.size();
    if (i == 0 || cost < driver_cost) {
      driver = i;
      driver_cost = cost;
    }
  }

  absl::flat_hash_set<std::string> extensions;
  for (const std::string& ext : query.extensions()) {
    extensions.insert(absl::AsciiStrToLower(ext));
  }

  // Best quality per cid among its matching names.
  absl::flat_hash_map<const CidInfo*, double> best;
  absl::flat_hash_map<const CidInfo*, absl::string_view> cid_of;
  // A name holding several matching words is reached once per word.
  std::vector<bool> seen(docs_.size());
  for (const auto& [w, q] : matches[driver]) {
    for (DocId d : words_[w].docs) {
      if (seen[d]) continue;
      seen[d] = true;
      const Doc& doc = docs_[d];
      if (doc.info == nullptr) continue;
      if (!extensions.empty() && !extensions.contains(doc.extension)) continue;
      const int64_t size = doc.info->size;
      if (query.min_size() > 0 && size < query.min_size()) continue;
      if (query.max_size() > 0 && size > query.max_size()) continue;
      double total = 0;
      bool all = true;
      for (const auto& m : matches) {
        double token_best = 0;
        for (WordId dw : doc.words) {
          auto it = m.find(dw);
          if (it != m.end()) token_best = std::max(token_best, it->second);
        }
        if (token_best == 0) {
          all = false;
          break;
        }
        total += token_best;
      }
      if (!all) continue;
      double quality =
          total / static_cast<double>(matches.size()) +
          kConcisenessWeight * static_cast<double>(matches.size()) /
              static_cast<double>(std::max<size_t>(doc.words.size(), 1));
      auto [it, inserted] = best.try_emplace(doc.info, quality);
      if (inserted) {
        cid_of.emplace(doc.info, doc.cid);
      } else {
        it->second = std::max(it->second, quality);
      }
    }
  }

  struct Ranked {
    const CidInfo* info;
    absl::string_view cid;
    double quality;
  };
  std::vector<Ranked> ranked;
  ranked.reserve(best.size());
  for (const auto& [info, quality] : best) {
    ranked.push_back({info, cid_of.at(info), quality});
  }
  auto better = [](const Ranked& a, const Ranked& b) {
    if (a.info->peers.size() != b.info->peers.size()) {
      return a.info->peers.size() > b.info->peers.size();
    }
    if (a.quality != b.quality) return a.quality > b.quality;
    if (*a.info->name != *b.info->name) return *a.info->name < *b.info->name;
    return a.cid < b.cid;
  };
  int limit = query.limit() > 0 ? query.limit() : options_.default_limit;
  limit = std::min(limit, options_.max_limit);
  const size_t n = std::min(ranked.size(), static_cast<size_t>(limit));
  std::partial_sort(ranked.begin(), ranked.begin() + n, ranked.end(), better);
  std::vector<SearchHit> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    SearchHit& hit = out.emplace_back();
    hit.set_cid(std::string(ranked[i].cid));
    hit.set_size(ranked[i].info->size);
    hit.set_name(*ranked[i].info->name);
    hit.set_source_count(static_cast<int32_t>(ranked[i].info->peers.size()));
  }
  return out;
}

}  // namespace supernode
}  // namespace trove
