#include "common/search/reference_search.h"

#include <algorithm>

#include "common/search/text.h"
#include "common/validation.h"

namespace trove {
namespace search {

std::string DisplayName(const ReferenceFile& file) {
  const std::string* best = nullptr;
  int best_established = 0;
  int best_count = 0;
  for (const auto& [name, count] : file.names) {
    if (count <= 0) continue;
    auto e = file.established.find(name);
    const int established = e == file.established.end() ? 0 : e->second;
    // Newcomers vote only where no established source does.
    const bool count_wins = established == 0 && count != best_count;
    if (best == nullptr || established > best_established ||
        (established == best_established &&
         (count_wins ? count > best_count : CompareNames(name, *best) < 0))) {
      best = &name;
      best_established = established;
      best_count = count;
    }
  }
  return best == nullptr ? "" : *best;
}

SearchPage ReferenceSearch(const std::vector<ReferenceFile>& files,
                           const ParsedQuery& query,
                           const MatchOptions& options) {
  std::vector<SearchHit> hits;
  for (const ReferenceFile& f : files) {
    int sources = 0;
    for (const auto& [name, count] : f.names) sources += std::max(count, 0);
    if (sources == 0 || !SizePasses(query, f.size)) continue;
    std::optional<SearchMatch> best;
    for (const auto& [name, count] : f.names) {
      if (count <= 0 || !TypePasses(query, FileExtension(name))) continue;
      std::optional<SearchMatch> m =
          MatchNameWords(query, Tokenize(name), options);
      if (m.has_value() && (!best.has_value() || *m < *best)) best = m;
    }
    if (!best.has_value()) continue;
    SearchHit hit;
    hit.set_cid(f.cid);
    hit.set_size(f.size);
    hit.set_name(DisplayName(f));
    hit.set_source_count(sources);
    hit.set_match(*best);
    hits.push_back(std::move(hit));
  }
  auto before = [&](const SearchHit& a, const SearchHit& b) {
    return CompareHitKeys(KeyOfHit(a, query.sort), KeyOfHit(b, query.sort),
                          query.sort, query.reverse) < 0;
  };
  std::sort(hits.begin(), hits.end(), before);
  SearchPage page;
  for (const SearchHit& hit : hits) {
    if (query.after.has_value() &&
        CompareHitKeys(KeyOfHit(hit, query.sort), *query.after, query.sort,
                       query.reverse) <= 0) {
      continue;
    }
    if (static_cast<int>(page.hits.size()) == query.limit) {
      page.next_cursor = EncodeCursor(KeyOfHit(page.hits.back(), query.sort),
                                      query.sort, query.reverse);
      break;
    }
    page.hits.push_back(hit);
  }
  return page;
}

}  // namespace search
}  // namespace trove
