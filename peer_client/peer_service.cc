#include "peer_client/peer_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/validation.h"

namespace trove {
namespace {

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
         st.st_mtim.tv_nsec;
}

// NOT_FOUND unless the open file still is what was hashed.
absl::Status CheckUnchanged(int fd, const SharedFile& file) {
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size != file.size || MtimeNs(st) != file.mtime_ns) {
    return absl::NotFoundError(absl::StrCat(
        "file ", file.cid, " changed since it was hashed; not serving it"));
  }
  return absl::OkStatus();
}

// Opens a shared file for reading, refusing a symlink put in its place.
absl::StatusOr<int> OpenShared(const SharedFile& file) {
  int fd = ::open(file.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(
        absl::StrCat("file ", file.cid, " is no longer available"));
  }
  absl::Status st = CheckUnchanged(fd, file);
  if (!st.ok()) {
    ::close(fd);
    return st;
  }
  return fd;
}

// Closes a file descriptor when it goes out of scope.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { ::close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// Counts a running upload while in scope.
class UploadSlot {
 public:
  UploadSlot(std::atomic<int>* counter, int max) : counter_(counter) {
    acquired_ = counter_->fetch_add(1) < max;
  }
  ~UploadSlot() { counter_->fetch_sub(1); }
  UploadSlot(const UploadSlot&) = delete;
  UploadSlot& operator=(const UploadSlot&) = delete;
  bool acquired() const { return acquired_; }

 private:
  std::atomic<int>* counter_;
  bool acquired_;
};

}  // namespace

PeerServiceImpl::PeerServiceImpl(const FileCatalog* catalog,
                                 std::string peer_id, Options options)
    : catalog_(catalog), peer_id_(std::move(peer_id)), options_(options) {}

absl::StatusOr<std::shared_ptr<const SharedFile>> PeerServiceImpl::Find(
    const std::string& cid) const {
  absl::Status valid = ValidateHexId(cid, "cid");
  if (!valid.ok()) return valid;
  std::shared_ptr<const SharedFile> file = catalog_->FindByCid(cid);
  if (file == nullptr) {
    return absl::NotFoundError(absl::StrCat("this peer does not hold ", cid));
  }
  return file;
}

grpc::Status PeerServiceImpl::GetManifest(
    grpc::ServerContext* context, const trove::peer::GetManifestRequest* request,
    trove::peer::Manifest* response) {
  absl::StatusOr<std::shared_ptr<const SharedFile>> file = Find(request->cid());
  if (!file.ok()) return ToGrpcStatus(file.status());
  absl::StatusOr<int> fd = OpenShared(**file);
  if (!fd.ok()) return ToGrpcStatus(fd.status());
  ::close(*fd);
  const SharedFile& f = **file;
  response->set_cid(f.cid);
  response->set_size(f.size);
  response->set_chunk_size(static_cast<int32_t>(kChunkSize));
  response->set_name(f.name);
  response->set_peer_id(peer_id_);
  auto* hashes = response->mutable_chunk_hashes();
  hashes->Reserve(static_cast<int>(f.chunk_hashes.size()));
  for (const Hash& h : f.chunk_hashes) *hashes->Add() = HashToBytes(h);
  return grpc::Status::OK;
}

grpc::Status PeerServiceImpl::GetChunks(
    grpc::ServerContext* context, const trove::peer::GetChunksRequest* request,
    grpc::ServerWriter<trove::peer::Chunk>* writer) {
  absl::StatusOr<std::shared_ptr<const SharedFile>> found =
      Find(request->cid());
  if (!found.ok()) return ToGrpcStatus(found.status());
  const SharedFile& file = **found;
  if (request->indexes_size() == 0) {
    return ToGrpcStatus(absl::InvalidArgumentError("no chunk indexes asked"));
  }
  if (request->indexes_size() > options_.max_indexes_per_request) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("asked for ", request->indexes_size(),
                     " chunks; at most ", options_.max_indexes_per_request,
                     " per request")));
  }
  const int64_t chunk_count = ChunkCount(file.size);
  for (uint32_t index : request->indexes()) {
    if (static_cast<int64_t>(index) >= chunk_count) {
      return ToGrpcStatus(absl::OutOfRangeError(
          absl::StrCat("chunk ", index, " is past the end: ", file.cid,
                       " has ", chunk_count, " chunks")));
    }
  }
  UploadSlot slot(&active_uploads_, options_.max_uploads);
  if (!slot.acquired()) {
    return ToGrpcStatus(
        absl::ResourceExhaustedError("all upload slots are taken; retry later"));
  }
  absl::StatusOr<int> opened = OpenShared(file);
  if (!opened.ok()) return ToGrpcStatus(opened.status());
  const int fd = *opened;
  FdCloser closer(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

  // One message reused for every chunk, so its buffer is allocated once.
  trove::peer::Chunk chunk;
  std::string* data = chunk.mutable_data();
  data->reserve(static_cast<size_t>(kChunkSize));
  for (uint32_t index : request->indexes()) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    }
    const int64_t length = ChunkLength(file.size, index);
    const int64_t offset = static_cast<int64_t>(index) * kChunkSize;
    data->resize(static_cast<size_t>(length));
    int64_t got = 0;
    while (got < length) {
      ssize_t r = ::pread(fd, &(*data)[got], length - got, offset + got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        return ToGrpcStatus(absl::NotFoundError(absl::StrCat(
            "file ", file.cid, " changed or became unreadable while serving")));
      }
      got += r;
    }
    // The bytes read are only the hashed ones if the file did not change.
    absl::Status unchanged = CheckUnchanged(fd, file);
    if (!unchanged.ok()) return ToGrpcStatus(unchanged);
    chunk.set_index(index);
    if (!writer->Write(chunk)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "receiver went away");
    }
    bytes_served_.fetch_add(length);
  }
  return grpc::Status::OK;
}

}  // namespace trove
