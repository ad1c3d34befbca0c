#include "supernode/inverted_index.h"

#include <algorithm>
#include <utility>

namespace trove {
namespace supernode {
namespace {

// 32 raw bytes of a valid cid (64 lowercase hex digits).
std::string RawCid(const std::string& cid) {
  std::string raw;
  if (!search::HexToRaw(cid, &raw)) raw.assign(32, '\0');
  return raw;
}

}  // namespace

InvertedIndex::InvertedIndex(Options options)
    : options_(std::move(options)), seniority_(options_.establish_after) {}

search::SearchIndex::Standing InvertedIndex::StandingOf(
    const std::string& peer_id) const {
  return established_.contains(peer_id)
             ? search::SearchIndex::Standing::kEstablished
             : search::SearchIndex::Standing::kNewcomer;
}

void InvertedIndex::Restand(const std::string& peer_id,
                            search::SearchIndex::Standing to) {
  const search::SearchIndex::Standing from = StandingOf(peer_id);
  if (from == to) return;
  auto pit = peers_.find(peer_id);
  if (pit != peers_.end()) {
    for (const auto& [cid, entry] : pit->second) index_.Restand(entry.doc, from);
  }
  if (to == search::SearchIndex::Standing::kEstablished) {
    established_.insert(peer_id);
  } else {
    established_.erase(peer_id);
  }
}

void InvertedIndex::SetKnownSince(const std::string& peer_id,
                                  absl::Time since, absl::Time now) {
  Restand(peer_id, seniority_.Track(peer_id, since, now));
}

void InvertedIndex::ForgetPeer(const std::string& peer_id) {
  seniority_.Forget(peer_id);
  Restand(peer_id, search::SearchIndex::Standing::kNewcomer);
}

void InvertedIndex::Settle(absl::Time now) {
  for (const std::string& peer : seniority_.TakeDue(now)) {
    Restand(peer, search::SearchIndex::Standing::kEstablished);
  }
}

void InvertedIndex::Add(const std::string& peer_id, const FileEntry& entry) {
  auto& files = peers_[peer_id];
  auto it = files.find(entry.cid());
  if (it != files.end()) {
    if (index_.NameOf(it->second.doc) == entry.name() &&
        it->second.size == entry.size()) {
      return;
    }
    Entry old = it->second;
    files.erase(it);
    RemoveEntry(peer_id, entry.cid(), old);
  }
  const search::SearchIndex::DocId doc =
      index_.Add(RawCid(entry.cid()), entry.size(), entry.name(),
                 StandingOf(peer_id));
  files.emplace(entry.cid(), Entry{doc, entry.size()});
  holders_[entry.cid()].insert(peer_id);
  ++entry_count_;
}

void InvertedIndex::RemoveEntry(const std::string& peer_id,
                                const std::string& cid, const Entry& entry) {
  index_.Remove(entry.doc, StandingOf(peer_id));
  auto hit = holders_.find(cid);
  if (hit != holders_.end()) {
    hit->second.erase(peer_id);
    if (hit->second.empty()) holders_.erase(hit);
  }
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

absl::StatusOr<search::SearchPage> InvertedIndex::Search(
    const SearchQuery& query) const {
  absl::StatusOr<search::ParsedQuery> parsed = search::ParseQuery(
      query, options_.default_limit, options_.max_limit);
  if (!parsed.ok()) return parsed.status();
  return Search(*parsed);
}

absl::StatusOr<search::SearchPage> InvertedIndex::Search(
    const search::ParsedQuery& query) const {
  return index_.Search(query);
}

std::optional<InvertedIndex::CidSummary> InvertedIndex::Lookup(
    const std::string& cid) const {
  auto hit = holders_.find(cid);
  if (hit == holders_.end()) return std::nullopt;
  std::optional<search::SearchIndex::CidView> view =
      index_.Lookup(RawCid(cid));
  if (!view.has_value()) return std::nullopt;
  CidSummary out;
  out.size = view->size;
  out.name = view->name;
  out.peers.assign(hit->second.begin(), hit->second.end());
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
  out.set_name(std::string(index_.NameOf(it->second.doc)));
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
    e.set_name(std::string(index_.NameOf(entry.doc)));
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

}  // namespace supernode
}  // namespace trove
