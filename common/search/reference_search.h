// The plain, slow form of search: every name of every file is matched
// against the query with the rules of matcher.h, and the hits sorted with
// CompareHitKeys. SearchIndex must give exactly the same pages; tests hold
// it to that over generated catalogs.
//
// Pure functions; thread-safe.
#ifndef TROVE_COMMON_SEARCH_REFERENCE_SEARCH_H_
#define TROVE_COMMON_SEARCH_REFERENCE_SEARCH_H_

#include <map>
#include <string>
#include <vector>

#include "common/search/matcher.h"
#include "common/search/query.h"

namespace trove {
namespace search {

// One file as the reference sees it.
struct ReferenceFile {
  // 64 lowercase hex digits.
  std::string cid;
  int64_t size = 0;
  // Each name its complete sources use, and how many use it (> 0).
  std::map<std::string, int> names;
  // Of those, how many are established (SearchIndex::Standing); a name
  // not here has none.
  std::map<std::string, int> established;
};

// The name shown for a file: the one most established sources use; with
// none established, the one most sources use (newcomers vote only then);
// among equals, the first in CompareNames order.
std::string DisplayName(const ReferenceFile& file);

// The page `query` asks for over `files`.
SearchPage ReferenceSearch(const std::vector<ReferenceFile>& files,
                           const ParsedQuery& query,
                           const MatchOptions& options);

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_REFERENCE_SEARCH_H_
