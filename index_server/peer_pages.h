// Each peer's sources as PostgreSQL stores them: pages of up to
// kPageEntries entries, one `peer_pages` row per page (migration 0008).
// This file holds the pure part: reading PostgreSQL's text form of a
// page's arrays, and working out which pages a peer's change rewrites.
// Pure functions and values; thread-compatible.
#ifndef TROVE_INDEX_SERVER_PEER_PAGES_H_
#define TROVE_INDEX_SERVER_PEER_PAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "index_server/delta_fold.h"

namespace trove {
namespace index_server {

// Entries per page. A page of 2048 entries is about 64 KiB of cids plus
// names: big enough that a batch writes few rows, small enough that a
// delta to one file of a big list rewrites little.
constexpr int kPageEntries = 2048;

struct PageEntry {
  // 32 raw bytes.
  std::string cid;
  std::string name;
  int64_t size = 0;
  bool partial = false;
};

struct PeerPage {
  int page = 0;
  std::vector<PageEntry> entries;
};

// Parses PostgreSQL's text output of a text[] / bigint[] / boolean[]
// (e.g. {a,"b c"}; {1,2}; {t,f}) into `out`. INVALID_ARGUMENT when it is
// not one (NULL elements included).
absl::Status ParsePgTextArray(absl::string_view text,
                              std::vector<std::string>* out);
absl::Status ParsePgBigintArray(absl::string_view text,
                                std::vector<int64_t>* out);
absl::Status ParsePgBoolArray(absl::string_view text, std::vector<bool>* out);

// A page from its columns: `cids` raw (32 bytes per entry), the others in
// PostgreSQL's text form.
absl::Status ParsePage(int page, absl::string_view cids,
                       absl::string_view names, absl::string_view sizes,
                       absl::string_view partial, PeerPage* out);

// What one peer's change does to its stored pages.
struct PageEdit {
  // Pages to write (insert or overwrite), non-empty.
  std::vector<PeerPage> write;
  // Page numbers to delete.
  std::vector<int> remove;
  // Entries withdrawn, and entries new or changed in name or completeness
  // (the counts PublishDeltas reports).
  int64_t removed = 0;
  int64_t added = 0;
};

// Applies `change` (not gone; cids in it are 64 hex digits) to `pages`:
// with `change.replace`, `pages` must be all of the peer's pages and the
// result holds exactly the change's files; otherwise `pages` must hold at
// least every page with one of the change's cids and the peer's highest
// page, and only pages whose entries change are written (new entries go to
// the highest page while it has room, then to new pages after it).
PageEdit EditPeerPages(std::vector<PeerPage> pages, const PeerChange& change);

// The entries with `cid` (raw) left out of `pages`; the same kind of edit
// (removed counts them).
PageEdit RemoveCidFromPages(std::vector<PeerPage> pages, absl::string_view cid);

}  // namespace index_server
}  // namespace trove

#endif  // TROVE_INDEX_SERVER_PEER_PAGES_H_
