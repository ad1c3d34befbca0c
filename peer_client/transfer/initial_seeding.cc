#include "peer_client/transfer/initial_seeding.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace trove {
namespace {

void Erase(std::vector<int>* v, int id) {
  v->erase(std::remove(v->begin(), v->end(), id), v->end());
}

}  // namespace

InitialSeeding::InitialSeeding(Options options, Clock* clock)
    : options_(options), clock_(clock != nullptr ? clock : Clock::Real()) {}

InitialSeeding::File* InitialSeeding::FindOrAddLocked(const std::string& cid,
                                                      int64_t chunk_count,
                                                      absl::Time now) {
  chunk_count = std::max<int64_t>(chunk_count, 1);
  auto it = files_.find(cid);
  if (it != files_.end() &&
      static_cast<int64_t>(it->second.chunks.size()) != chunk_count) {
    files_.erase(it);
    it = files_.end();
  }
  if (it == files_.end()) {
    while (!files_.empty() &&
           static_cast<int>(files_.size()) >= std::max(1, options_.max_files)) {
      auto oldest = std::min_element(
          files_.begin(), files_.end(), [](const auto& a, const auto& b) {
            return a.second.last_asked < b.second.last_asked;
          });
      files_.erase(oldest);
    }
    it = files_.emplace(cid, File()).first;
    it->second.chunks.resize(static_cast<size_t>(chunk_count));
    it->second.version = ++next_version_;
  }
  it->second.last_asked = now;
  return &it->second;
}

int InitialSeeding::IdLocked(File* f, const std::string& requester,
                             absl::Time now) {
  auto [it, added] = f->ids.try_emplace(requester, static_cast<int>(f->ids.size()));
  if (added) f->last_seen.push_back(now);
  f->last_seen[it->second] = now;
  return it->second;
}

void InitialSeeding::ExpireLocked(absl::Time now) {
  for (auto it = files_.begin(); it != files_.end();) {
    File& f = it->second;
    if (now - f.last_asked >= options_.forget_after) {
      it = files_.erase(it);
      continue;
    }
    bool changed = false;
    for (size_t id = 0; id < f.last_seen.size(); ++id) {
      if (f.last_seen[id] == absl::InfinitePast() ||
          now - f.last_seen[id] < options_.downloader_idle) {
        continue;
      }
      // Gone quiet: what it was sent may never reach the others.
      f.last_seen[id] = absl::InfinitePast();
      const int gone = static_cast<int>(id);
      for (Chunk& c : f.chunks) {
        if (c.sent_to == gone) {
          c.sent_to = -1;
          --f.sent_count;
        }
        Erase(&c.reserved_by, gone);
      }
      changed = true;
    }
    if (changed) f.version = ++next_version_;
    UpdateLocked(&f, now);
    ++it;
  }
}

void InitialSeeding::UpdateLocked(File* f, absl::Time now) {
  int downloaders = 0;
  for (absl::Time seen : f->last_seen) {
    if (seen != absl::InfinitePast() && now - seen < options_.downloader_idle) {
      ++downloaders;
    }
  }
  const bool active =
      downloaders >= options_.min_downloaders &&
      f->sent_count < static_cast<int64_t>(f->chunks.size());
  if (active != f->active) {
    f->active = active;
    f->version = ++next_version_;
  }
}

void InitialSeeding::Seen(const std::string& cid, int64_t chunk_count,
                          const std::string& requester) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  File* f = FindOrAddLocked(cid, chunk_count, now);
  IdLocked(f, requester, now);
  ExpireLocked(now);
}

absl::Status InitialSeeding::Reserve(const std::string& cid,
                                     int64_t chunk_count,
                                     const std::string& requester,
                                     const std::vector<uint32_t>& indexes) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  File* f = FindOrAddLocked(cid, chunk_count, now);
  const int id = IdLocked(f, requester, now);
  ExpireLocked(now);
  f = &files_.at(cid);  // Still there: just asked.
  if (f->active) {
    for (uint32_t index : indexes) {
      if (index >= f->chunks.size()) continue;
      const Chunk& c = f->chunks[index];
      const bool other_reserved =
          std::any_of(c.reserved_by.begin(), c.reserved_by.end(),
                      [id](int r) { return r != id; });
      if ((c.sent_to >= 0 && c.sent_to != id) || other_reserved) {
        return absl::AbortedError(absl::StrCat(
            "initial seeding: chunk ", index,
            " went to another downloader already; get it from the peers and "
            "ask this one only for the chunks it lists as unsent"));
      }
    }
  }
  for (uint32_t index : indexes) {
    if (index >= f->chunks.size()) continue;
    std::vector<int>& r = f->chunks[index].reserved_by;
    if (std::find(r.begin(), r.end(), id) == r.end()) r.push_back(id);
  }
  f->version = ++next_version_;
  return absl::OkStatus();
}

void InitialSeeding::Sent(const std::string& cid, const std::string& requester,
                          uint32_t index) {
  absl::MutexLock lock(&mu_);
  auto it = files_.find(cid);
  if (it == files_.end()) return;
  File& f = it->second;
  auto id = f.ids.find(requester);
  if (id == f.ids.end() || index >= f.chunks.size()) return;
  Chunk& c = f.chunks[index];
  Erase(&c.reserved_by, id->second);
  if (c.sent_to < 0) {
    c.sent_to = id->second;
    ++f.sent_count;
  }
  f.version = ++next_version_;
  UpdateLocked(&f, clock_->Now());
}

void InitialSeeding::Release(const std::string& cid,
                             const std::string& requester,
                             const std::vector<uint32_t>& indexes) {
  absl::MutexLock lock(&mu_);
  auto it = files_.find(cid);
  if (it == files_.end()) return;
  File& f = it->second;
  auto id = f.ids.find(requester);
  if (id == f.ids.end()) return;
  bool changed = false;
  for (uint32_t index : indexes) {
    if (index >= f.chunks.size()) continue;
    std::vector<int>& r = f.chunks[index].reserved_by;
    const size_t before = r.size();
    Erase(&r, id->second);
    changed |= r.size() != before;
  }
  if (changed) f.version = ++next_version_;
}

bool InitialSeeding::ShouldYield(const std::string& cid,
                                 const std::string& requester, int remaining) {
  absl::MutexLock lock(&mu_);
  const int share = std::max(1, options_.fair_share);
  if (remaining <= share) return false;
  auto it = files_.find(cid);
  if (it == files_.end() || !it->second.active) return false;
  const File& f = it->second;
  auto id = f.ids.find(requester);
  if (id == f.ids.end()) return false;
  std::vector<int> reserved(f.last_seen.size(), 0);
  for (const Chunk& c : f.chunks) {
    for (int r : c.reserved_by) ++reserved[r];
  }
  if (reserved[id->second] <= share) return false;
  const absl::Time now = clock_->Now();
  for (size_t other = 0; other < f.last_seen.size(); ++other) {
    if (static_cast<int>(other) == id->second ||
        f.last_seen[other] == absl::InfinitePast() ||
        now - f.last_seen[other] >= options_.downloader_idle) {
      continue;
    }
    if (reserved[other] < share) return true;
  }
  return false;
}

InitialSeeding::Hint InitialSeeding::HintLocked(const File& f) const {
  Hint h;
  h.active = f.active;
  h.version = f.version;
  if (!f.active) return h;
  h.unsent.assign((f.chunks.size() + 7) / 8, '\0');
  for (size_t i = 0; i < f.chunks.size(); ++i) {
    const Chunk& c = f.chunks[i];
    if (c.sent_to < 0 && c.reserved_by.empty()) {
      h.unsent[i / 8] = static_cast<char>(static_cast<uint8_t>(h.unsent[i / 8]) |
                                          (1u << (i % 8)));
    }
  }
  return h;
}

InitialSeeding::Hint InitialSeeding::Current(const std::string& cid) {
  absl::MutexLock lock(&mu_);
  ExpireLocked(clock_->Now());
  auto it = files_.find(cid);
  return it == files_.end() ? Hint() : HintLocked(it->second);
}

InitialSeeding::Hint InitialSeeding::WaitForChange(const std::string& cid,
                                                   int64_t version,
                                                   absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  ExpireLocked(clock_->Now());
  auto changed = [this, &cid, version]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = files_.find(cid);
    return (it == files_.end() ? 0 : it->second.version) != version;
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  auto it = files_.find(cid);
  return it == files_.end() ? Hint() : HintLocked(it->second);
}

int InitialSeeding::file_count() {
  absl::MutexLock lock(&mu_);
  ExpireLocked(clock_->Now());
  return static_cast<int>(files_.size());
}

}  // namespace trove
