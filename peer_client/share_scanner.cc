#include "peer_client/share_scanner.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/validation.h"

namespace trove {
namespace {

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
         st.st_mtim.tv_nsec;
}

bool IsHiddenOrTemp(absl::string_view name) {
  if (absl::StartsWith(name, ".")) return true;
  static const char* const kTempSuffixes[] = {"~",     ".tmp", ".part",
                                              ".crdownload", ".swp"};
  for (const char* suffix : kTempSuffixes) {
    if (absl::EndsWith(name, suffix)) return true;
  }
  return false;
}

std::string JoinPath(const std::string& dir, absl::string_view name) {
  if (!dir.empty() && dir.back() == '/') return absl::StrCat(dir, name);
  return absl::StrCat(dir, "/", name);
}

}  // namespace

FileHasher DefaultFileHasher() {
  return [](const std::string& path,
            const std::function<void(int64_t, int64_t)>& progress) {
    return HashFile(path, progress);
  };
}

ShareScanner::ShareScanner(Options options, HashCache* cache)
    : options_(std::move(options)), cache_(cache) {}

bool ShareScanner::WarnOnce(const std::string& path) {
  absl::MutexLock lock(&mu_);
  return warned_.insert(path).second;
}

void ShareScanner::Walk(const std::string& dir,
                        std::set<std::pair<uint64_t, uint64_t>>* seen,
                        std::vector<std::shared_ptr<SharedFile>>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (WarnOnce(dir)) {
      TROVE_LOG(WARNING) << "cannot read folder " << dir << ": "
                         << std::strerror(errno);
    }
    return;
  }
  int dfd = ::dirfd(d);
  struct stat dst;
  if (::fstat(dfd, &dst) != 0 ||
      !seen->insert({static_cast<uint64_t>(dst.st_dev),
                     static_cast<uint64_t>(dst.st_ino)})
           .second) {
    ::closedir(d);  // Already walked (a folder shared twice, or nested roots).
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* ent = ::readdir(d)) {
    absl::string_view name(ent->d_name);
    if (name == "." || name == "..") continue;
    names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<std::string> subdirs;
  for (const std::string& name : names) {
    if (IsHiddenOrTemp(name)) continue;
    struct stat st;
    if (::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    std::string path = JoinPath(dir, name);
    if (S_ISLNK(st.st_mode)) continue;  // Never follow links out of a share.
    if (S_ISDIR(st.st_mode)) {
      subdirs.push_back(path);
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;
    absl::Status valid = ValidateFileName(name);
    if (valid.ok()) valid = ValidateFileSize(st.st_size);
    if (!valid.ok()) {
      if (WarnOnce(path)) {
        TROVE_LOG(WARNING) << "not sharing " << path << ": " << valid.message();
      }
      continue;
    }
    auto file = std::make_shared<SharedFile>();
    file->path = std::move(path);
    file->name = name;
    file->size = st.st_size;
    file->mtime_ns = MtimeNs(st);
    out->push_back(std::move(file));
  }
  ::closedir(d);
  for (const std::string& sub : subdirs) Walk(sub, seen, out);
}

bool ShareScanner::FillHashes(const FileMap& previous, SharedFile* file,
                              int* hashed) {
  auto prev = previous.find(file->path);
  if (prev != previous.end() && prev->second->size == file->size &&
      prev->second->mtime_ns == file->mtime_ns) {
    file->cid = prev->second->cid;
    file->chunk_hashes = prev->second->chunk_hashes;
    return true;
  }
  if (cache_ != nullptr) {
    std::optional<FileHashes> cached =
        cache_->Lookup(file->path, file->size, file->mtime_ns);
    if (cached.has_value()) {
      file->cid = std::move(cached->cid);
      file->chunk_hashes = std::move(cached->chunk_hashes);
      return true;
    }
  }
  const bool verbose = file->size >= options_.progress_log_bytes;
  int last_decile = 0;
  std::function<void(int64_t, int64_t)> progress;
  if (verbose) {
    TROVE_LOG(INFO) << "hashing " << file->path << " (" << file->size
                    << " bytes)";
    progress = [&](int64_t done, int64_t size) {
      int decile = size > 0 ? static_cast<int>(done * 10 / size) : 10;
      if (decile > last_decile && decile < 10) {
        last_decile = decile;
        TROVE_LOG(INFO) << "hashing " << file->name << ": " << decile * 10
                        << "%";
      }
    };
  }
  const FileHasher& hasher =
      options_.hasher ? options_.hasher : DefaultFileHasher();
  absl::StatusOr<FileHashes> h = hasher(file->path, progress);
  ++*hashed;
  if (!h.ok()) {
    if (WarnOnce(file->path)) {
      TROVE_LOG(WARNING) << "cannot hash " << file->path << ": " << h.status();
    }
    return false;
  }
  struct stat st;
  if (::lstat(file->path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size != file->size || MtimeNs(st) != file->mtime_ns ||
      h->size != file->size) {
    TROVE_LOG(INFO) << file->path
                    << " changed while it was hashed; trying at the next scan";
    return false;
  }
  if (verbose) TROVE_LOG(INFO) << "hashed " << file->name << ": " << h->cid;
  file->cid = h->cid;
  file->chunk_hashes = std::move(h->chunk_hashes);
  if (cache_ != nullptr) {
    FileHashes record;
    record.size = file->size;
    record.cid = file->cid;
    record.chunk_hashes = file->chunk_hashes;
    cache_->Put(file->path, file->size, file->mtime_ns, record);
  }
  return true;
}

ScanResult ShareScanner::Scan() {
  absl::MutexLock scan_lock(&scan_mu_);
  scanning_ = true;
  FileMap previous_by_path, previous_by_cid;
  {
    absl::MutexLock lock(&mu_);
    previous_by_path = by_path_;
    previous_by_cid = by_cid_;
  }

  std::vector<std::shared_ptr<SharedFile>> found;
  std::set<std::pair<uint64_t, uint64_t>> seen;
  for (const std::string& root : options_.roots) {
    char real[PATH_MAX];
    if (::realpath(root.c_str(), real) == nullptr) {
      if (WarnOnce(root)) {
        TROVE_LOG(WARNING) << "shared folder " << root
                           << " is not there: " << std::strerror(errno);
      }
      continue;
    }
    Walk(real, &seen, &found);
  }

  ScanResult result;
  FileMap by_path, by_cid;
  int64_t total = 0;
  for (std::shared_ptr<SharedFile>& file : found) {
    if (by_path.count(file->path) != 0) continue;
    if (!FillHashes(previous_by_path, file.get(), &result.hashed)) continue;
    std::shared_ptr<const SharedFile> shared = std::move(file);
    by_path[shared->path] = shared;
    if (by_cid.emplace(shared->cid, shared).second) total += shared->size;
  }

  for (const auto& [cid, file] : by_cid) {
    auto prev = previous_by_cid.find(cid);
    if (prev == previous_by_cid.end() || prev->second->name != file->name) {
      FileEntry entry;
      entry.set_cid(cid);
      entry.set_size(file->size);
      entry.set_name(file->name);
      result.added.push_back(std::move(entry));
    }
  }
  for (const auto& [cid, file] : previous_by_cid) {
    if (by_cid.count(cid) == 0) result.removed.push_back(cid);
  }
  result.file_count = static_cast<int64_t>(by_cid.size());
  result.total_bytes = total;

  if (cache_ != nullptr) {
    std::set<std::string> keep;
    for (const auto& [path, file] : by_path) keep.insert(path);
    cache_->RetainOnly(keep);
    absl::Status saved = cache_->Save();
    if (!saved.ok()) {
      TROVE_LOG(WARNING) << "cannot save the hash cache: " << saved;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    // Files shared by AddVerifiedFile while this scan ran stay shared.
    for (const auto& [path, file] : added_) {
      if (by_path.count(path) != 0) continue;
      struct stat st;
      if (::stat(path.c_str(), &st) != 0 || st.st_size != file->size ||
          MtimeNs(st) != file->mtime_ns) {
        continue;
      }
      by_path[path] = file;
      if (by_cid.emplace(file->cid, file).second) {
        total += file->size;
        result.file_count = static_cast<int64_t>(by_cid.size());
        result.total_bytes = total;
      }
    }
    added_.clear();
    by_path_ = std::move(by_path);
    by_cid_ = std::move(by_cid);
    total_bytes_ = total;
    ++scans_completed_;
  }
  scanning_ = false;
  return result;
}

absl::StatusOr<FileEntry> ShareScanner::AddVerifiedFile(
    const std::string& path, const FileHashes& hashes) {
  char real[PATH_MAX];
  if (::realpath(path.c_str(), real) == nullptr) {
    return absl::NotFoundError(absl::StrCat("cannot share ", path, ": ",
                                            std::strerror(errno)));
  }
  const std::string real_path = real;
  bool inside = false;
  for (const std::string& root : options_.roots) {
    char real_root[PATH_MAX];
    if (::realpath(root.c_str(), real_root) == nullptr) continue;
    const std::string prefix = JoinPath(real_root, "");
    if (absl::StartsWith(real_path, prefix)) inside = true;
  }
  if (!inside) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " is not inside a shared folder"));
  }
  const std::string name = real_path.substr(real_path.rfind('/') + 1);
  if (IsHiddenOrTemp(name) || !ValidateFileName(name).ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, " has a name that is not shared"));
  }
  struct stat st;
  if (::lstat(real_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat(path, " is not a regular file"));
  }
  if (st.st_size != hashes.size) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, " has ", st.st_size, " bytes, its hashes ", hashes.size));
  }
  auto file = std::make_shared<SharedFile>();
  file->cid = hashes.cid;
  file->path = real_path;
  file->name = name;
  file->size = hashes.size;
  file->mtime_ns = MtimeNs(st);
  file->chunk_hashes = hashes.chunk_hashes;
  if (cache_ != nullptr) {
    cache_->Put(real_path, file->size, file->mtime_ns, hashes);
    absl::Status saved = cache_->Save();
    if (!saved.ok()) {
      TROVE_LOG(WARNING) << "cannot save the hash cache: " << saved;
    }
  }
  FileEntry entry;
  entry.set_cid(file->cid);
  entry.set_size(file->size);
  entry.set_name(file->name);
  std::shared_ptr<const SharedFile> shared = std::move(file);
  absl::MutexLock lock(&mu_);
  if (scanning_) added_[real_path] = shared;
  by_path_[real_path] = shared;
  if (by_cid_.emplace(shared->cid, shared).second) {
    total_bytes_ += shared->size;
  }
  return entry;
}

std::shared_ptr<const SharedFile> ShareScanner::FindByCid(
    absl::string_view cid) const {
  absl::MutexLock lock(&mu_);
  auto it = by_cid_.find(std::string(cid));
  return it == by_cid_.end() ? nullptr : it->second;
}

std::vector<FileEntry> ShareScanner::Files() const {
  absl::MutexLock lock(&mu_);
  std::vector<FileEntry> out;
  out.reserve(by_cid_.size());
  for (const auto& [cid, file] : by_cid_) {
    FileEntry entry;
    entry.set_cid(cid);
    entry.set_size(file->size);
    entry.set_name(file->name);
    out.push_back(std::move(entry));
  }
  return out;
}

int64_t ShareScanner::file_count() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(by_cid_.size());
}

int64_t ShareScanner::total_bytes() const {
  absl::MutexLock lock(&mu_);
  return total_bytes_;
}

int64_t ShareScanner::scans_completed() const {
  absl::MutexLock lock(&mu_);
  return scans_completed_;
}

}  // namespace trove
