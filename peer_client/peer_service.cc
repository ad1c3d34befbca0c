#include "peer_client/peer_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <grpc/slice.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/method_handler.h>
#include <grpcpp/support/slice.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/manifest_auth.h"
#include "common/tls_credentials.h"
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

// An open file descriptor, closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) : fd_(std::exchange(other.fd_, -1)) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Opens a file for reading, refusing a symlink put in its place and a
// complete file that changed since it was hashed. (A partial entry's part
// file is being written: only its held chunks are read, and receivers
// verify them.)
absl::StatusOr<Fd> OpenShared(const SharedFile& file) {
  Fd fd(::open(file.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::NotFoundError(
        absl::StrCat("file ", file.cid, " is no longer available"));
  }
  if (file.have == nullptr) {
    absl::Status st = CheckUnchanged(fd.get(), file);
    if (!st.ok()) return st;
  }
  return fd;
}

// Reads exactly `length` bytes at `offset` into `out`. NOT_FOUND when the
// file got shorter or unreadable.
absl::Status ReadFully(int fd, const SharedFile& file, int64_t offset,
                       int64_t length, char* out) {
  int64_t got = 0;
  while (got < length) {
    ssize_t r = ::pread(fd, out + got, length - got, offset + got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      return absl::NotFoundError(absl::StrCat(
          "file ", file.cid, " changed or became unreadable while serving"));
    }
    got += r;
  }
  return absl::OkStatus();
}

// The most bytes before a Chunk's data: tag + varint index, tag + varint
// length.
constexpr size_t kChunkHeaderMax = 1 + 5 + 1 + 10;

size_t PutVarint(uint64_t v, char* out) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out[n++] = static_cast<char>(v);
  return n;
}

// Writes the wire form of a trove.peer.Chunk up to its data: field 1
// (index, varint) and the tag and length of field 2 (data, bytes). Returns
// its size. The data follows it to make the whole message.
size_t EncodeChunkHeader(uint32_t index, int64_t data_size, char* out) {
  size_t n = 0;
  out[n++] = 0x08;  // Field 1, varint.
  n += PutVarint(index, out + n);
  out[n++] = 0x12;  // Field 2, length-delimited.
  n += PutVarint(static_cast<uint64_t>(data_size), out + n);
  return n;
}

// Marks one use of an upload slot; released when it goes out of scope.
class SlotUse {
 public:
  SlotUse(UploadSlots* slots, std::string requester)
      : slots_(slots), requester_(std::move(requester)) {}
  ~SlotUse() { slots_->Release(requester_); }
  SlotUse(const SlotUse&) = delete;
  SlotUse& operator=(const SlotUse&) = delete;

 private:
  UploadSlots* const slots_;
  const std::string requester_;
};

// Counts a running stream while in scope.
class StreamCount {
 public:
  explicit StreamCount(std::atomic<int>* counter) : counter_(counter) {
    counter_->fetch_add(1);
  }
  ~StreamCount() { counter_->fetch_sub(1); }
  StreamCount(const StreamCount&) = delete;
  StreamCount& operator=(const StreamCount&) = delete;

 private:
  std::atomic<int>* const counter_;
};

absl::Status NoSlot(const UploadSlots::Decision& d, int max_queue) {
  if (d.suspended) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no upload slot: your streams stalled (you did not read the chunks "
        "asked for); ask again in ",
        absl::ToInt64Milliseconds(d.retry_after), " ms"));
  }
  if (d.queue_position == 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "no upload slot and the upload queue is full (", max_queue,
        " waiting); retry in ", absl::ToInt64Milliseconds(d.retry_after),
        " ms"));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "no upload slot: call RequestSlot; you are queued at position ",
      d.queue_position, " (ask again within ",
      absl::ToInt64Milliseconds(d.retry_after), " ms to keep it)"));
}

// Ends a stream's registration in UploadStreams when it goes out of scope.
class StreamEnd {
 public:
  StreamEnd(UploadStreams* streams, int64_t handle)
      : streams_(streams), handle_(handle) {}
  ~StreamEnd() { streams_->End(handle_); }
  StreamEnd(const StreamEnd&) = delete;
  StreamEnd& operator=(const StreamEnd&) = delete;

 private:
  UploadStreams* const streams_;
  const int64_t handle_;
};

UploadStreams::Options StreamOptions(const PeerServiceImpl::Options& o) {
  UploadStreams::Options s;
  s.max_per_requester = std::max(1, o.max_streams_per_peer);
  s.stall = o.upload_stall;
  s.sweep_every = std::clamp(o.upload_stall / 4, absl::Milliseconds(100),
                             absl::Seconds(1));
  return s;
}

UploadSlots::Options SlotOptions(const PeerServiceImpl::Options& o) {
  UploadSlots::Options s;
  s.max_slots = o.max_uploads;
  s.slot_idle = o.slot_idle;
  s.queue_stale = o.queue_stale;
  s.retry_after = o.retry_after;
  s.max_queue = o.max_queue;
  s.turn = o.slot_turn;
  return s;
}

}  // namespace

absl::Status ValidateManifestRequest(const trove::peer::GetManifestRequest& r) {
  const std::string& nonce = r.nonce();
  if (!nonce.empty() && (nonce.size() < kMinManifestNonce ||
                         nonce.size() > kMaxManifestNonce)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "nonce is ", nonce.size(), " bytes; expected ", kMinManifestNonce,
        " to ", kMaxManifestNonce));
  }
  return ValidateHexId(r.cid(), "cid");
}

absl::Status ValidateClaimedRequester(const std::string& claimed) {
  return ValidateHexId(claimed, "requester_id");
}

absl::Status ValidateSlotRequest(const trove::peer::SlotRequest& r,
                                 bool proven) {
  if (!proven) {
    absl::Status valid = ValidateClaimedRequester(r.requester_id());
    if (!valid.ok()) return valid;
  }
  return ValidateHexId(r.cid(), "cid");
}

absl::Status ValidateWatchHavesRequest(const trove::peer::WatchHavesRequest& r,
                                       bool proven) {
  if (!proven && !r.requester_id().empty()) {
    absl::Status valid = ValidateClaimedRequester(r.requester_id());
    if (!valid.ok()) return valid;
  }
  return ValidateHexId(r.cid(), "cid");
}

absl::Status CheckChunkIndexes(const trove::peer::GetChunksRequest& r,
                               int max_indexes, int64_t chunk_count,
                               const ChunkHaveMap* have) {
  // The messages below name the cid: only a well-formed one.
  absl::Status valid = ValidateHexId(r.cid(), "cid");
  if (!valid.ok()) return valid;
  if (r.indexes_size() == 0) {
    return absl::InvalidArgumentError("no chunk indexes asked");
  }
  if (r.indexes_size() > max_indexes) {
    return absl::InvalidArgumentError(
        absl::StrCat("asked for ", r.indexes_size(), " chunks; at most ",
                     max_indexes, " per request"));
  }
  for (uint32_t index : r.indexes()) {
    if (static_cast<int64_t>(index) >= chunk_count) {
      return absl::OutOfRangeError(
          absl::StrCat("chunk ", index, " is past the end: ", r.cid(),
                       " has ", chunk_count, " chunks"));
    }
    // A download in progress serves only its verified chunks (the map only
    // grows, so checking once here is enough).
    if (have != nullptr && !have->Has(index)) {
      return absl::NotFoundError(absl::StrCat("chunk ", index, " of ",
                                              r.cid(), " not held yet"));
    }
  }
  return absl::OkStatus();
}

PeerServiceImpl::PeerServiceImpl(const FileCatalog* catalog,
                                 const Identity* identity, Options options)
    : catalog_(catalog),
      identity_(identity),
      options_(options),
      slots_(SlotOptions(options), options.clock,
             options.ledger == nullptr
                 ? UploadSlots::CreditFunction()
                 : [ledger = options.ledger](const std::string& requester) {
                     return ledger->ReceivedFrom(requester);
                   }),
      streams_(StreamOptions(options), options.clock),
      seeding_(options.seeding, options.clock) {
  streams_.Start();
  // GetChunks is method 2 of PeerService (as in the generated
  // WithSplitStreamingMethod_GetChunks); served with raw messages.
  MarkMethodStreamed(
      2, new grpc::internal::SplitServerStreamingHandler<
             trove::peer::GetChunksRequest, grpc::ByteBuffer>(
             [this](grpc::ServerContext* context,
                    grpc::ServerSplitStreamer<trove::peer::GetChunksRequest,
                                              grpc::ByteBuffer>* stream) {
               return StreamedGetChunks(context, stream);
             }));
}

absl::StatusOr<std::string> PeerServiceImpl::Requester(
    grpc::ServerContext* context, const std::string& claimed,
    bool connection_if_empty) const {
  // Over TLS the certificate says who it is; what the message says is not
  // looked at (made-up ids get nothing).
  absl::StatusOr<std::string> proven = CallerId(context);
  if (proven.ok()) return proven;
  if (claimed.empty() && connection_if_empty) {
    return absl::StrCat("connection ", context->peer());
  }
  absl::Status valid = ValidateClaimedRequester(claimed);
  if (!valid.ok()) return valid;
  return claimed;
}

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
  const std::string& nonce = request->nonce();
  if (absl::Status valid = ValidateManifestRequest(*request); !valid.ok()) {
    return ToGrpcStatus(valid);
  }
  absl::StatusOr<std::shared_ptr<const SharedFile>> file = Find(request->cid());
  if (!file.ok()) return ToGrpcStatus(file.status());
  absl::StatusOr<Fd> fd = OpenShared(**file);
  if (!fd.ok()) return ToGrpcStatus(fd.status());
  const SharedFile& f = **file;
  response->set_cid(f.cid);
  response->set_size(f.size);
  response->set_chunk_size(static_cast<int32_t>(kChunkSize));
  response->set_name(f.name);
  response->set_peer_id(identity_->peer_id());
  if (!nonce.empty()) {
    absl::StatusOr<std::string> proof = identity_->Sign(
        ManifestProofMessage(nonce, f.cid, identity_->peer_id()));
    if (!proof.ok()) return ToGrpcStatus(proof.status());
    response->set_public_key(identity_->public_key());
    response->set_proof(*proof);
  }
  if (f.have != nullptr) response->set_have(f.have->Bitmap());
  auto* hashes = response->mutable_chunk_hashes();
  hashes->Reserve(static_cast<int>(f.chunk_hashes.size()));
  for (const Hash& h : f.chunk_hashes) *hashes->Add() = HashToBytes(h);
  return grpc::Status::OK;
}

grpc::Status PeerServiceImpl::RequestSlot(
    grpc::ServerContext* context, const trove::peer::SlotRequest* request,
    trove::peer::SlotResponse* response) {
  if (absl::Status valid =
          ValidateSlotRequest(*request, CallerId(context).ok());
      !valid.ok()) {
    return ToGrpcStatus(valid);
  }
  absl::StatusOr<std::string> requester =
      Requester(context, request->requester_id(), false);
  if (!requester.ok()) return ToGrpcStatus(requester.status());
  // No place in the queue for a file this peer cannot serve.
  absl::StatusOr<std::shared_ptr<const SharedFile>> file = Find(request->cid());
  if (!file.ok()) return ToGrpcStatus(file.status());
  if (options_.initial_seeding && (*file)->have == nullptr) {
    seeding_.Seen((*file)->cid, ChunkCount((*file)->size), *requester);
  }
  UploadSlots::Decision d = slots_.Request(*requester);
  if (!d.granted && d.queue_position == 0) {
    return ToGrpcStatus(NoSlot(d, options_.max_queue));
  }
  response->set_granted(d.granted);
  if (!d.granted) {
    response->set_queue_position(d.queue_position);
    response->set_retry_after_ms(
        static_cast<int32_t>(absl::ToInt64Milliseconds(d.retry_after)));
  }
  return grpc::Status::OK;
}

grpc::Status PeerServiceImpl::StreamedGetChunks(
    grpc::ServerContext* context,
    grpc::ServerSplitStreamer<trove::peer::GetChunksRequest, grpc::ByteBuffer>*
        stream) {
  trove::peer::GetChunksRequest request_message;
  if (!stream->Read(&request_message)) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        "GetChunks: no request (or one that does not parse)"));
  }
  const trove::peer::GetChunksRequest* request = &request_message;
  absl::StatusOr<std::shared_ptr<const SharedFile>> found =
      Find(request->cid());
  if (!found.ok()) return ToGrpcStatus(found.status());
  absl::StatusOr<std::string> who =
      Requester(context, request->requester_id(), true);
  if (!who.ok()) return ToGrpcStatus(who.status());
  const std::string& requester = *who;
  const SharedFile& file = **found;
  const int64_t chunk_count = ChunkCount(file.size);
  if (absl::Status valid =
          CheckChunkIndexes(*request, options_.max_indexes_per_request,
                            chunk_count, file.have.get());
      !valid.ok()) {
    return ToGrpcStatus(valid);
  }
  // A stream it does not read is cancelled (from UploadStreams' thread)
  // and costs it its slot.
  absl::StatusOr<int64_t> handle = streams_.Begin(
      requester, [this, context, requester] {
        TROVE_LOG(WARNING) << "peer " << requester.substr(0, 16)
                           << " stopped reading a chunk stream for "
                           << absl::FormatDuration(options_.upload_stall)
                           << ": stream cancelled, slot taken";
        slots_.Suspend(requester, options_.upload_stall);
        context->TryCancel();
      });
  if (!handle.ok()) return ToGrpcStatus(handle.status());
  StreamEnd end(&streams_, *handle);
  UploadSlots::Decision slot = slots_.Acquire(requester);
  if (!slot.granted) return ToGrpcStatus(NoSlot(slot, options_.max_queue));
  SlotUse use(&slots_, requester);
  // Initial seeding: each chunk to one downloader while a crowd is around.
  const bool seeding = options_.initial_seeding && file.have == nullptr;
  const std::vector<uint32_t> indexes(request->indexes().begin(),
                                      request->indexes().end());
  if (seeding) {
    absl::Status reserved =
        seeding_.Reserve(file.cid, chunk_count, requester, indexes);
    if (!reserved.ok()) return ToGrpcStatus(reserved);
  }
  StreamCount streams(&active_streams_);
  absl::Status st =
      StreamChunks(context, *request, requester, *handle, file, stream);
  if (seeding) seeding_.Release(file.cid, requester, indexes);
  return ToGrpcStatus(st);
}

absl::Status PeerServiceImpl::StreamChunks(
    grpc::ServerContext* context, const trove::peer::GetChunksRequest& request,
    const std::string& requester, int64_t handle, const SharedFile& file,
    grpc::ServerSplitStreamer<trove::peer::GetChunksRequest, grpc::ByteBuffer>*
        stream) {
  absl::StatusOr<Fd> opened = OpenShared(file);
  if (!opened.ok()) return opened.status();
  const int fd = opened->get();
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // Start reading the whole asked span ahead when it is compact (the usual
  // case: a run of consecutive chunks).
  {
    auto [lo, hi] = std::minmax_element(request.indexes().begin(),
                                        request.indexes().end());
    const int64_t span = (static_cast<int64_t>(*hi) - *lo + 1) * kChunkSize;
    if (span <= 2 * request.indexes_size() * kChunkSize) {
      ::posix_fadvise(fd, static_cast<int64_t>(*lo) * kChunkSize, span,
                      POSIX_FADV_WILLNEED);
    }
  }

  std::shared_ptr<RateLimiter> limiter;
  if (options_.upload_limiter != nullptr) {
    // Taken even while unlimited: limits may be set while this runs.
    limiter = options_.upload_limiter->ForPeer(requester);
  }
  const absl::Time deadline = absl::FromChrono(context->deadline());
  auto cancelled = [context] { return context->IsCancelled(); };

  const int count = request.indexes_size();
  const bool seeding = options_.initial_seeding && file.have == nullptr;
  for (int i = 0; i < count; ++i) {
    const uint32_t index = request.indexes(i);
    if (context->IsCancelled()) return absl::CancelledError("cancelled");
    if (seeding && i > 0 && seeding_.ShouldYield(file.cid, requester, count - i)) {
      return absl::AbortedError(absl::StrCat(
          "initial seeding: other downloaders get the remaining ", count - i,
          " chunks of this request first; ask again for unsent chunks"));
    }
    const int64_t length = ChunkLength(file.size, index);
    if (limiter != nullptr) {
      absl::Status waited = limiter->Acquire(length, deadline, cancelled);
      if (!waited.ok()) return waited;
    }
    // The corrupt test mode sends one byte for an empty chunk.
    const bool corrupt = options_.testonly_corrupt_chunks;
    const int64_t sent = (corrupt && length == 0) ? 1 : length;
    char header[kChunkHeaderMax];
    const size_t header_size = EncodeChunkHeader(index, sent, header);
    // A fresh slice (the transport may still hold the previous ones), owned
    // by `slice` and written through it (small slices live inside it).
    grpc::Slice slice(
        grpc_slice_malloc(header_size + static_cast<size_t>(sent)),
        grpc::Slice::STEAL_REF);
    char* out = reinterpret_cast<char*>(const_cast<uint8_t*>(slice.begin()));
    std::memcpy(out, header, header_size);
    char* data = out + header_size;
    absl::Status read = ReadFully(
        fd, file, static_cast<int64_t>(index) * kChunkSize, length, data);
    if (!read.ok()) return read;
    if (i == count - 1 && file.have == nullptr) {
      // The bytes read are the hashed ones only if the file did not change
      // (checked at open and once more here, not per chunk; receivers verify
      // every chunk anyway).
      absl::Status unchanged = CheckUnchanged(fd, file);
      if (!unchanged.ok()) return unchanged;
    }
    if (corrupt) {
      if (length == 0) {
        data[0] = '\xff';
      } else {
        data[length / 2] ^= 0x5a;
      }
    }
    grpc::ByteBuffer message(&slice, 1);
    streams_.WriteStarted(handle);
    const bool written = stream->Write(message);
    streams_.WriteDone(handle, written);
    if (!written) return absl::CancelledError("receiver went away");
    bytes_served_.fetch_add(length);
    if (seeding) seeding_.Sent(file.cid, requester, index);
    if (options_.ledger != nullptr) {
      options_.ledger->AddSent(requester, file.cid, length);
    }
  }
  return absl::OkStatus();
}

void PeerServiceImpl::StopWatches() { stop_watches_.store(true); }

PeerServiceImpl::~PeerServiceImpl() {
  streams_.Stop();
  // WatchHaves streams run until told: end them before this object goes.
  StopWatches();
  const absl::Time until = absl::Now() + 10 * options_.watch_poll;
  while (watchers_.load() > 0 && absl::Now() < until) {
    absl::SleepFor(absl::Milliseconds(5));
  }
}

bool PeerServiceImpl::WatchOver(grpc::ServerContext* context) const {
  return stop_watches_.load() || context->IsCancelled();
}

grpc::Status PeerServiceImpl::WatchHaves(
    grpc::ServerContext* context, const trove::peer::WatchHavesRequest* request,
    grpc::ServerWriter<trove::peer::HaveUpdate>* writer) {
  if (absl::Status valid =
          ValidateWatchHavesRequest(*request, CallerId(context).ok());
      !valid.ok()) {
    return ToGrpcStatus(valid);
  }
  std::string requester;
  if (!request->requester_id().empty() || CallerId(context).ok()) {
    absl::StatusOr<std::string> who =
        Requester(context, request->requester_id(), false);
    if (!who.ok()) return ToGrpcStatus(who.status());
    requester = *who;
  }
  absl::StatusOr<std::shared_ptr<const SharedFile>> file = Find(request->cid());
  if (!file.ok()) return ToGrpcStatus(file.status());
  StreamCount watching(&watchers_);
  if (watchers_.load() > options_.max_watchers) {
    return ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
        "this peer follows ", options_.max_watchers,
        " WatchHaves streams already; ask again later")));
  }
  absl::Status st = (*file)->have != nullptr
                        ? WatchPartial(context, requester, *file, writer)
                        : WatchComplete(context, requester, *file, writer);
  return ToGrpcStatus(st);
}

absl::Status PeerServiceImpl::WatchPartial(
    grpc::ServerContext* context, const std::string& requester,
    std::shared_ptr<const SharedFile> file,
    grpc::ServerWriter<trove::peer::HaveUpdate>* writer) {
  const ChunkHaveMap& have = *file->have;
  int64_t count = 0;
  std::string bits = have.WaitForMore(-1, absl::ZeroDuration(), &count);
  trove::peer::HaveUpdate first;
  first.set_complete(count == have.chunk_count());
  if (!first.complete()) first.set_have(bits);
  if (!writer->Write(first)) return absl::CancelledError("watcher went away");
  while (count < have.chunk_count()) {
    if (WatchOver(context)) return absl::CancelledError("watch ended");
    int64_t now_count = 0;
    std::string now_bits =
        have.WaitForMore(count, options_.watch_poll, &now_count);
    if (now_count == count) {
      // Nothing new: is the download still there (it may have been
      // cancelled, or completed and become a shared file)?
      std::shared_ptr<const SharedFile> current = catalog_->FindByCid(file->cid);
      if (current == nullptr) {
        return absl::NotFoundError(
            absl::StrCat("this peer no longer holds ", file->cid));
      }
      if (current->have == nullptr) {
        trove::peer::HaveUpdate done;
        done.set_complete(true);
        writer->Write(done);
        return absl::OkStatus();
      }
      continue;
    }
    trove::peer::HaveUpdate update;
    for (size_t byte = 0; byte < now_bits.size(); ++byte) {
      const uint8_t added = static_cast<uint8_t>(now_bits[byte]) &
                            ~static_cast<uint8_t>(bits[byte]);
      for (int bit = 0; bit < 8; ++bit) {
        if ((added >> bit) & 1) {
          update.add_added(static_cast<uint32_t>(byte * 8 + bit));
        }
      }
    }
    bits = std::move(now_bits);
    count = now_count;
    update.set_complete(count == have.chunk_count());
    if (!writer->Write(update)) return absl::CancelledError("watcher went away");
  }
  return absl::OkStatus();
}

absl::Status PeerServiceImpl::WatchComplete(
    grpc::ServerContext* context, const std::string& requester,
    std::shared_ptr<const SharedFile> file,
    grpc::ServerWriter<trove::peer::HaveUpdate>* writer) {
  const int64_t chunk_count = ChunkCount(file->size);
  auto seen = [&] {
    if (options_.initial_seeding && !requester.empty()) {
      seeding_.Seen(file->cid, chunk_count, requester);
    }
  };
  seen();
  InitialSeeding::Hint hint = options_.initial_seeding
                                  ? seeding_.Current(file->cid)
                                  : InitialSeeding::Hint();
  trove::peer::HaveUpdate first;
  first.set_complete(true);
  first.set_initial_seeding(hint.active);
  if (hint.active) first.set_unsent(hint.unsent);
  if (!writer->Write(first)) return absl::CancelledError("watcher went away");
  bool sent_active = hint.active;
  std::string sent_unsent = hint.unsent;
  int64_t version = hint.version;
  while (true) {
    if (WatchOver(context)) return absl::CancelledError("watch ended");
    seen();  // Watching is downloading: keeps this requester counted.
    if (!options_.initial_seeding) {
      absl::SleepFor(options_.watch_poll);
    } else {
      hint = seeding_.WaitForChange(file->cid, version, options_.watch_poll);
      version = hint.version;
    }
    if (catalog_->FindByCid(file->cid) == nullptr) {
      return absl::NotFoundError(
          absl::StrCat("this peer no longer holds ", file->cid));
    }
    if (hint.active == sent_active && hint.unsent == sent_unsent) continue;
    trove::peer::HaveUpdate update;
    update.set_initial_seeding(hint.active);
    if (hint.active) update.set_unsent(hint.unsent);
    if (!writer->Write(update)) return absl::CancelledError("watcher went away");
    sent_active = hint.active;
    sent_unsent = hint.unsent;
  }
}

}  // namespace trove
