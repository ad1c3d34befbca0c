#include "index_server/peer_pages.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/search/query.h"

namespace trove {
namespace index_server {
namespace {

// Splits the elements of an array literal; `unquote` tells whether an
// element was quoted (so "NULL" in quotes is a string).
absl::Status SplitArray(absl::string_view text,
                        std::vector<std::string>* out) {
  out->clear();
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    return absl::InvalidArgumentError("not an array literal");
  }
  size_t i = 1;
  const size_t end = text.size() - 1;
  if (i == end) return absl::OkStatus();
  while (true) {
    std::string element;
    if (i < end && text[i] == '"') {
      ++i;
      while (true) {
        if (i >= end) return absl::InvalidArgumentError("unterminated quote");
        const char c = text[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= end) return absl::InvalidArgumentError("dangling escape");
          element += text[i++];
        } else {
          element += c;
        }
      }
    } else {
      const size_t start = i;
      while (i < end && text[i] != ',') ++i;
      element = std::string(text.substr(start, i - start));
      if (element.empty() || element == "NULL") {
        return absl::InvalidArgumentError("empty or NULL element");
      }
    }
    out->push_back(std::move(element));
    if (i == end) return absl::OkStatus();
    if (text[i] != ',') return absl::InvalidArgumentError("expected a comma");
    ++i;
  }
}

}  // namespace

absl::Status ParsePgTextArray(absl::string_view text,
                              std::vector<std::string>* out) {
  return SplitArray(text, out);
}

absl::Status ParsePgBigintArray(absl::string_view text,
                                std::vector<int64_t>* out) {
  out->clear();
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    return absl::InvalidArgumentError("not an array literal");
  }
  absl::string_view body = text.substr(1, text.size() - 2);
  while (!body.empty()) {
    const size_t comma = body.find(',');
    int64_t v;
    if (!absl::SimpleAtoi(body.substr(0, comma), &v)) {
      return absl::InvalidArgumentError("not a bigint");
    }
    out->push_back(v);
    if (comma == absl::string_view::npos) break;
    body.remove_prefix(comma + 1);
  }
  return absl::OkStatus();
}

absl::Status ParsePgBoolArray(absl::string_view text, std::vector<bool>* out) {
  out->clear();
  if (text.size() < 2 || text.front() != '{' || text.back() != '}') {
    return absl::InvalidArgumentError("not an array literal");
  }
  for (size_t i = 1; i + 1 < text.size(); i += 2) {
    const char c = text[i];
    if (c != 't' && c != 'f') return absl::InvalidArgumentError("not a bool");
    if (text[i + 1] != ',' && i + 2 != text.size()) {
      return absl::InvalidArgumentError("expected a comma");
    }
    out->push_back(c == 't');
  }
  return absl::OkStatus();
}

absl::Status ParsePage(int page, absl::string_view cids,
                       absl::string_view names, absl::string_view sizes,
                       absl::string_view partial, PeerPage* out) {
  std::vector<std::string> n;
  std::vector<int64_t> s;
  std::vector<bool> p;
  if (absl::Status st = ParsePgTextArray(names, &n); !st.ok()) return st;
  if (absl::Status st = ParsePgBigintArray(sizes, &s); !st.ok()) return st;
  if (absl::Status st = ParsePgBoolArray(partial, &p); !st.ok()) return st;
  if (n.size() != s.size() || n.size() != p.size() ||
      cids.size() != 32 * n.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page ", page, " has arrays of different lengths"));
  }
  out->page = page;
  out->entries.clear();
  out->entries.reserve(n.size());
  for (size_t i = 0; i < n.size(); ++i) {
    PageEntry e;
    e.cid = std::string(cids.substr(32 * i, 32));
    e.name = std::move(n[i]);
    e.size = s[i];
    e.partial = p[i];
    out->entries.push_back(std::move(e));
  }
  return absl::OkStatus();
}

namespace {

// Pages being edited: entries are marked dead rather than erased, so that
// positions stay valid, and pages that changed are written at the end.
class Editor {
 public:
  explicit Editor(std::vector<PeerPage> pages) : pages_(std::move(pages)) {
    std::sort(pages_.begin(), pages_.end(),
              [](const PeerPage& a, const PeerPage& b) { return a.page < b.page; });
    dead_.resize(pages_.size());
    dirty_.assign(pages_.size(), false);
    live_.assign(pages_.size(), 0);
    for (size_t p = 0; p < pages_.size(); ++p) {
      dead_[p].assign(pages_[p].entries.size(), false);
      live_[p] = static_cast<int>(pages_[p].entries.size());
      for (size_t e = 0; e < pages_[p].entries.size(); ++e) {
        at_[pages_[p].entries[e].cid] = {p, e};
      }
    }
  }

  // The raw cids held.
  std::vector<std::string> Held() const {
    std::vector<std::string> out;
    for (const auto& [cid, pos] : at_) out.push_back(cid);
    return out;
  }

  void Remove(const std::string& cid) {
    auto it = at_.find(cid);
    if (it == at_.end()) return;
    const auto [p, e] = it->second;
    at_.erase(it);
    dead_[p][e] = true;
    dirty_[p] = true;
    --live_[p];
    ++edit_.removed;
  }

  void Store(const std::string& cid, const FileEntry& f, bool partial) {
    auto it = at_.find(cid);
    if (it != at_.end()) {
      const auto [p, e] = it->second;
      PageEntry& entry = pages_[p].entries[e];
      if (entry.name != f.name() || entry.partial != partial) {
        ++edit_.added;
      } else if (entry.size == f.size()) {
        return;
      }
      entry.name = f.name();
      entry.partial = partial;
      entry.size = f.size();
      dirty_[p] = true;
      return;
    }
    if (pages_.empty() || pages_.back().entries.size() >= kPageEntries) {
      PeerPage fresh;
      fresh.page = pages_.empty() ? 0 : pages_.back().page + 1;
      pages_.push_back(std::move(fresh));
      dead_.emplace_back();
      dirty_.push_back(false);
      live_.push_back(0);
    }
    const size_t p = pages_.size() - 1;
    PageEntry entry;
    entry.cid = cid;
    entry.name = f.name();
    entry.size = f.size();
    entry.partial = partial;
    at_[cid] = {p, pages_[p].entries.size()};
    pages_[p].entries.push_back(std::move(entry));
    dead_[p].push_back(false);
    dirty_[p] = true;
    ++live_[p];
    ++edit_.added;
  }

  // Every page rewritten densely from 0 (after a replace that left the
  // pages sparse).
  PageEdit Repack() {
    std::vector<PageEntry> all;
    std::vector<int> old;
    for (size_t p = 0; p < pages_.size(); ++p) {
      old.push_back(pages_[p].page);
      for (size_t e = 0; e < pages_[p].entries.size(); ++e) {
        if (!dead_[p][e]) all.push_back(std::move(pages_[p].entries[e]));
      }
    }
    PageEdit out;
    out.removed = edit_.removed;
    out.added = edit_.added;
    int n = 0;
    for (size_t i = 0; i < all.size(); i += kPageEntries, ++n) {
      PeerPage page;
      page.page = n;
      const size_t end = std::min(all.size(), i + kPageEntries);
      page.entries.assign(std::make_move_iterator(all.begin() + i),
                          std::make_move_iterator(all.begin() + end));
      out.write.push_back(std::move(page));
    }
    for (int p : old) {
      if (p >= n) out.remove.push_back(p);
    }
    return out;
  }

  // More pages than a dense packing needs, by more than half.
  bool Sparse() const {
    size_t live = 0;
    for (int l : live_) live += l;
    const size_t dense = (live + kPageEntries - 1) / kPageEntries;
    return pages_.size() > 1 && pages_.size() > dense + dense / 2 + 1;
  }

  PageEdit Finish() {
    PageEdit out;
    out.removed = edit_.removed;
    out.added = edit_.added;
    for (size_t p = 0; p < pages_.size(); ++p) {
      if (!dirty_[p]) continue;
      if (live_[p] == 0) {
        out.remove.push_back(pages_[p].page);
        continue;
      }
      PeerPage page;
      page.page = pages_[p].page;
      for (size_t e = 0; e < pages_[p].entries.size(); ++e) {
        if (!dead_[p][e]) page.entries.push_back(std::move(pages_[p].entries[e]));
      }
      out.write.push_back(std::move(page));
    }
    return out;
  }

 private:
  std::vector<PeerPage> pages_;
  std::vector<std::vector<bool>> dead_;
  std::vector<bool> dirty_;
  std::vector<int> live_;
  absl::flat_hash_map<std::string, std::pair<size_t, size_t>> at_;
  PageEdit edit_;
};

std::string RawCid(const std::string& hex) {
  std::string raw;
  if (!search::HexToRaw(hex, &raw)) raw.assign(32, '\0');
  return raw;
}

// A peer with no stored pages whose change lists its files: they fill
// pages from 0 in the change's order (complete before partial), as Editor
// would place them, without its per-cid bookkeeping.
PageEdit FreshPages(const PeerChange& change) {
  PageEdit out;
  const size_t total = change.upserts.size() + change.partials.size();
  if (total == 0) return out;
  out.write.resize((total + kPageEntries - 1) / kPageEntries);
  for (size_t p = 0; p < out.write.size(); ++p) {
    out.write[p].page = static_cast<int>(p);
    out.write[p].entries.reserve(
        std::min<size_t>(kPageEntries, total - p * kPageEntries));
  }
  size_t i = 0;
  for (const auto* list : {&change.upserts, &change.partials}) {
    const bool partial = list == &change.partials;
    for (const FileEntry* f : *list) {
      PageEntry& e = out.write[i / kPageEntries].entries.emplace_back();
      e.cid = RawCid(f->cid());
      e.name = f->name();
      e.size = f->size();
      e.partial = partial;
      ++i;
    }
  }
  out.added = static_cast<int64_t>(total);
  return out;
}

}  // namespace

PageEdit EditPeerPages(std::vector<PeerPage> pages, const PeerChange& change) {
  // A peer with nothing stored (most of a first publication): every entry
  // is new, one per cid (FoldDeltas), and removals have nothing to remove.
  if (pages.empty()) return FreshPages(change);
  Editor editor(std::move(pages));
  if (change.replace) {
    absl::flat_hash_set<std::string> keep;
    for (const auto* list : {&change.upserts, &change.partials}) {
      for (const FileEntry* f : *list) keep.insert(RawCid(f->cid()));
    }
    for (const std::string& cid : editor.Held()) {
      if (!keep.contains(cid)) editor.Remove(cid);
    }
  }
  for (const std::string& cid : change.removals) editor.Remove(RawCid(cid));
  for (const FileEntry* f : change.upserts) {
    editor.Store(RawCid(f->cid()), *f, false);
  }
  for (const FileEntry* f : change.partials) {
    editor.Store(RawCid(f->cid()), *f, true);
  }
  if (change.replace && editor.Sparse()) return editor.Repack();
  return editor.Finish();
}

PageEdit RemoveCidFromPages(std::vector<PeerPage> pages, absl::string_view cid) {
  Editor editor(std::move(pages));
  editor.Remove(std::string(cid));
  return editor.Finish();
}

}  // namespace index_server
}  // namespace trove
