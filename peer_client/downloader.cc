#include "peer_client/downloader.h"

#include <deque>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/file_util.h"
#include "common/grpc_status.h"
#include "common/log.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "common/validation.h"
#include "peer_client/chunk_scheduler.h"
#include "peer_client/part_file.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace {

using trove::peer::Chunk;
using trove::peer::GetChunksRequest;
using trove::peer::GetManifestRequest;
using trove::peer::Manifest;
using trove::peer::PeerService;

// A manifest that passed every check.
struct CheckedManifest {
  int64_t size = 0;
  std::string name;
  std::vector<Hash> hashes;
  std::string have;
};

// Checks a manifest that `peer_id` sent for `cid`. DATA_LOSS (or
// INVALID_ARGUMENT / UNAUTHENTICATED) names what was wrong.
absl::StatusOr<CheckedManifest> CheckManifest(const Manifest& m,
                                              const std::string& cid,
                                              const std::string& peer_id) {
  if (m.cid() != cid) {
    return absl::DataLossError(
        absl::StrCat("manifest is for cid ", m.cid(), ", not ", cid));
  }
  if (m.peer_id() != peer_id) {
    return absl::UnauthenticatedError(absl::StrCat(
        "source answered as peer ", m.peer_id(), ", expected ", peer_id));
  }
  if (m.chunk_size() != kChunkSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "manifest chunk size ", m.chunk_size(), ", expected ", kChunkSize));
  }
  absl::Status st = ValidateFileSize(m.size());
  if (!st.ok()) return absl::InvalidArgumentError(st.message());
  CheckedManifest out;
  out.size = m.size();
  out.hashes.reserve(m.chunk_hashes_size());
  for (const std::string& b : m.chunk_hashes()) {
    absl::StatusOr<Hash> h = HashFromBytes(b);
    if (!h.ok()) return h.status();
    out.hashes.push_back(*h);
  }
  st = VerifyManifest(cid, m.size(), out.hashes);
  if (!st.ok()) return st;
  st = ValidateFileName(m.name());
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("manifest has an unsafe file name: ", st.message()));
  }
  out.name = m.name();
  if (!m.have().empty() &&
      static_cast<int64_t>(m.have().size()) != (ChunkCount(m.size()) + 7) / 8) {
    return absl::InvalidArgumentError("manifest 'have' bitmap has the wrong size");
  }
  out.have = m.have();
  return out;
}

std::string Describe(const Source& s) {
  return absl::StrCat("peer ", s.peer_id().substr(0, 12), " at ", s.address());
}

}  // namespace

// One Fetch call.
class Download {
 public:
  Download(Downloader* owner, const DownloadRequest& request,
           const std::function<void(const DownloadProgress&)>& progress,
           const std::function<bool()>& cancelled)
      : owner_(owner),
        options_(owner->options_),
        request_(request),
        progress_(progress),
        cancelled_(cancelled) {
    absl::MutexLock lock(&owner_->mu_);
    id_ = owner_->next_id_++;
    DownloadProgress p;
    p.cid = request.cid;
    p.name = request.name;
    owner_->transfers_[id_] = p;
  }

  ~Download() {
    absl::MutexLock lock(&owner_->mu_);
    owner_->transfers_.erase(id_);
    if (!reserved_part_.empty()) owner_->active_parts_.erase(reserved_part_);
  }

  absl::StatusOr<std::string> Run();

 private:
  struct SourceState {
    int id = 0;
    Source source;
    std::unique_ptr<PeerService::StubInterface> stub;
    int running = 0;         // Worker threads still going.
    bool failed = false;     // Dropped; workers stop.
    bool bad = false;        // Dropped for sending bad data.
    absl::Status failure;    // Why it was dropped.
  };
  struct Stream {
    SourceState* source;
    absl::Time last_activity;
  };

  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }

  // Gets and checks the manifest of `s`; on the first good one, prepares the
  // scheduler and the part file.
  absl::Status Prepare(SourceState* s);
  void Worker(SourceState* s);
  // Streams from `s` until it has nothing more to give or fails.
  void RunSource(SourceState* s);
  void FailSource(SourceState* s, absl::Status why, bool bad)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelAllLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reports progress, checks for cancellation and stalled streams.
  void Tick(bool final_message);
  DownloadProgress Snapshot() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Downloader* const owner_;
  const Downloader::Options& options_;
  const DownloadRequest request_;
  const std::function<void(const DownloadProgress&)>& progress_;
  const std::function<bool()>& cancelled_;
  int id_ = 0;
  std::string reserved_part_;
  absl::Time started_ = Now();
  bool announced_ = false;  // The first progress message went out.

  // Set once by Prepare() before any worker starts; read-only afterwards.
  bool prepared_ = false;
  CheckedManifest manifest_;
  std::string name_;
  std::unique_ptr<PartFile> part_;

  absl::Mutex mu_;
  std::unique_ptr<ChunkScheduler> scheduler_ ABSL_GUARDED_BY(mu_);
  int64_t done_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int active_sources_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fatal_ ABSL_GUARDED_BY(mu_);  // Ends the whole download.
  std::map<grpc::ClientContext*, Stream> streams_ ABSL_GUARDED_BY(mu_);
  std::deque<std::pair<absl::Time, int64_t>> samples_ ABSL_GUARDED_BY(mu_);
};

DownloadProgress Download::Snapshot() {
  DownloadProgress p;
  p.cid = request_.cid;
  p.name = name_;
  p.size = manifest_.size;
  p.done_bytes = done_bytes_;
  p.sources = active_sources_;
  absl::Time now = Now();
  samples_.emplace_back(now, done_bytes_);
  while (samples_.size() > 2 && now - samples_.front().first > absl::Seconds(5)) {
    samples_.pop_front();
  }
  double secs = absl::ToDoubleSeconds(now - samples_.front().first);
  if (secs > 0) {
    p.bytes_per_second = (done_bytes_ - samples_.front().second) / secs;
  }
  return p;
}

void Download::Tick(bool final_message) {
  DownloadProgress p;
  {
    absl::MutexLock lock(&mu_);
    if (!final_message) {
      if (cancelled_ && cancelled_() && fatal_.ok()) {
        fatal_ = absl::CancelledError("download cancelled");
        CancelAllLocked();
      }
      absl::Time now = Now();
      for (auto& [ctx, stream] : streams_) {
        if (now - stream.last_activity <= options_.stall_timeout) continue;
        ctx->TryCancel();
        FailSource(stream.source,
                   absl::DeadlineExceededError(absl::StrCat(
                       "sent nothing for ",
                       absl::FormatDuration(options_.stall_timeout))),
                   false);
      }
    }
    p = Snapshot();
  }
  {
    absl::MutexLock lock(&owner_->mu_);
    owner_->transfers_[id_] = p;
  }
  if (progress_ && !final_message) progress_(p);
}

void Download::CancelAllLocked() {
  for (auto& [ctx, stream] : streams_) ctx->TryCancel();
}

void Download::FailSource(SourceState* s, absl::Status why, bool bad) {
  if (s->failed) return;
  s->failed = true;
  s->bad = bad;
  s->failure = std::move(why);
  if (scheduler_) scheduler_->RemoveSource(s->id);
  for (auto& [ctx, stream] : streams_) {
    if (stream.source == s) ctx->TryCancel();
  }
}

absl::Status Download::Prepare(SourceState* s) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.manifest_timeout));
  GetManifestRequest req;
  req.set_cid(request_.cid);
  Manifest m;
  grpc::Status rpc = s->stub->GetManifest(&ctx, req, &m);
  if (!rpc.ok()) {
    s->failure = FromGrpcStatus(rpc);
    return s->failure;
  }
  absl::StatusOr<CheckedManifest> checked =
      CheckManifest(m, request_.cid, s->source.peer_id());
  if (!checked.ok()) {
    s->failure = checked.status();
    s->bad = true;
    return s->failure;
  }
  if (prepared_) {
    absl::MutexLock lock(&mu_);
    scheduler_->AddSource(s->id, checked->have);
    return absl::OkStatus();
  }
  // The first good manifest fixes the file.
  manifest_ = std::move(*checked);
  name_ = request_.name.empty() ? manifest_.name : request_.name;
  std::string part_path = PartFile::PartPath(request_.out_dir, name_);
  {
    absl::MutexLock lock(&owner_->mu_);
    if (!owner_->active_parts_.insert(part_path).second) {
      return absl::AlreadyExistsError(absl::StrCat(
          name_, " is already being downloaded into ", request_.out_dir));
    }
    reserved_part_ = part_path;
  }
  absl::StatusOr<std::unique_ptr<PartFile>> part =
      PartFile::Create(request_.out_dir, name_, manifest_.size);
  if (!part.ok()) return part.status();
  part_ = std::move(*part);
  if (options_.keep_partial_on_failure) part_->Keep();
  prepared_ = true;
  ChunkScheduler::Options so;
  so.initial_window = so.max_window =
      options_.chunks_per_request * options_.streams_per_source;
  absl::MutexLock lock(&mu_);
  scheduler_ = std::make_unique<ChunkScheduler>(ChunkCount(manifest_.size), so);
  scheduler_->AddSource(s->id, manifest_.have);
  return absl::OkStatus();
}

void Download::Worker(SourceState* s) {
  while (true) {
    std::vector<uint32_t> batch;
    {
      absl::MutexLock lock(&mu_);
      if (!fatal_.ok() || s->failed) break;
      batch = scheduler_->Assign(s->id, options_.chunks_per_request);
    }
    if (batch.empty()) break;
    grpc::ClientContext ctx;
    {
      absl::MutexLock lock(&mu_);
      streams_[&ctx] = Stream{s, Now()};
      // Dropped since the batch was assigned: do not wait on it.
      if (s->failed || !fatal_.ok()) ctx.TryCancel();
    }
    GetChunksRequest req;
    req.set_cid(request_.cid);
    for (uint32_t i : batch) req.add_indexes(i);
    std::unique_ptr<grpc::ClientReaderInterface<Chunk>> reader =
        s->stub->GetChunks(&ctx, req);
    Chunk chunk;
    size_t got = 0;
    absl::Status bad;
    absl::Status local;
    while (got < batch.size() && reader->Read(&chunk)) {
      const uint32_t index = batch[got];
      {
        absl::MutexLock lock(&mu_);
        streams_[&ctx].last_activity = Now();
      }
      const int64_t length = ChunkLength(manifest_.size, index);
      if (chunk.index() != index) {
        bad = absl::DataLossError(absl::StrCat("sent chunk ", chunk.index(),
                                               " when ", index, " was next"));
      } else if (static_cast<int64_t>(chunk.data().size()) != length) {
        bad = absl::DataLossError(
            absl::StrCat("chunk ", index, " has ", chunk.data().size(),
                         " bytes, expected ", length));
      } else if (Sha256(chunk.data()) != manifest_.hashes[index]) {
        bad = absl::DataLossError(
            absl::StrCat("chunk ", index, " failed verification"));
      }
      if (!bad.ok()) break;
      local = part_->WriteAt(static_cast<int64_t>(index) * kChunkSize,
                             chunk.data());
      if (!local.ok()) break;
      {
        absl::MutexLock lock(&mu_);
        if (scheduler_->MarkDone(s->id, index).accepted) done_bytes_ += length;
      }
      ++got;
    }
    if (got < batch.size()) ctx.TryCancel();
    grpc::Status finish = reader->Finish();
    absl::MutexLock lock(&mu_);
    streams_.erase(&ctx);
    if (!local.ok()) {
      if (fatal_.ok()) fatal_ = local;
      CancelAllLocked();
      break;
    }
    if (!bad.ok()) {
      FailSource(s, bad, true);
      break;
    }
    if (got < batch.size()) {
      FailSource(s,
                 finish.ok() ? absl::DataLossError(absl::StrCat(
                                   "stream ended after ", got, " of ",
                                   batch.size(), " chunks"))
                             : FromGrpcStatus(finish),
                 false);
      break;
    }
  }
  absl::MutexLock lock(&mu_);
  --s->running;
}

void Download::RunSource(SourceState* s) {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    s->running = options_.streams_per_source;
    ++active_sources_;
  }
  if (!announced_) {
    announced_ = true;
    Tick(false);  // Name and size are known now: say so at once.
  }
  for (int i = 0; i < options_.streams_per_source; ++i) {
    threads.emplace_back(&Download::Worker, this, s);
  }
  while (true) {
    bool finished;
    {
      absl::MutexLock lock(&mu_);
      finished = mu_.AwaitWithTimeout(
          absl::Condition(
              +[](SourceState* s) { return s->running == 0; }, s),
          options_.progress_interval);
    }
    if (finished) break;
    Tick(false);
  }
  for (std::thread& t : threads) t.join();
  absl::MutexLock lock(&mu_);
  --active_sources_;
}

absl::StatusOr<std::string> Download::Run() {
  const std::string& cid = request_.cid;
  absl::StatusOr<LocatedSources> located = owner_->directory_->Locate(cid);
  if (!located.ok()) {
    if (absl::IsNotFound(located.status())) {
      return absl::NotFoundError(absl::StrCat("no peer shares ", cid));
    }
    return absl::Status(
        located.status().code(),
        absl::StrCat("cannot locate ", cid, ": ", located.status().message()));
  }
  std::vector<Source> candidates;
  std::set<std::string> seen;
  bool only_self = false;
  for (const Source& s : located->sources) {
    if (s.peer_id() == options_.own_peer_id) {
      only_self = true;
      continue;
    }
    if (!ValidateHexId(s.peer_id(), "peer_id").ok() ||
        !ValidateAddress(s.address()).ok() ||
        !seen.insert(s.peer_id()).second) {
      continue;
    }
    candidates.push_back(s);
  }
  if (candidates.empty()) {
    return absl::NotFoundError(
        only_self ? absl::StrCat("no other peer shares ", cid,
                                 " (this peer has it already)")
                  : absl::StrCat("no peer shares ", cid));
  }

  std::vector<std::string> failures;
  int bad_sources = 0;
  int tried = 0;
  std::vector<std::unique_ptr<SourceState>> states;
  for (const Source& source : candidates) {
    if (tried >= options_.max_sources_tried) break;
    {
      absl::MutexLock lock(&mu_);
      if (scheduler_ && scheduler_->complete()) break;
    }
    if (cancelled_ && cancelled_()) {
      return absl::CancelledError("download cancelled");
    }
    ++tried;
    auto s = std::make_unique<SourceState>();
    s->id = static_cast<int>(states.size());
    s->source = source;
    ChannelFactory factory = options_.channel_factory
                                 ? options_.channel_factory
                                 : ChannelFactory(MakeChannel);
    s->stub = PeerService::NewStub(factory(source.address()));
    SourceState* state = s.get();
    states.push_back(std::move(s));
    absl::Status prepared = Prepare(state);
    // A local problem (folder, disk, duplicate download) ends it all; a
    // source's problem (recorded in its failure) moves on to the next one.
    if (!prepared.ok() && state->failure.ok()) return prepared;
    if (prepared.ok()) RunSource(state);
    {
      absl::MutexLock lock(&mu_);
      if (!fatal_.ok()) return fatal_;
    }
    if (!state->failure.ok()) {
      std::string line =
          absl::StrCat(Describe(source), ": ", state->failure.message());
      TROVE_LOG(WARNING) << "download " << cid.substr(0, 12) << ": dropping "
                         << line;
      failures.push_back(line);
      if (state->bad) {
        ++bad_sources;
        owner_->directory_->ReportBadSource(cid, source.peer_id(),
                                            std::string(state->failure.message()));
      }
    }
  }

  bool complete;
  {
    absl::MutexLock lock(&mu_);
    complete = scheduler_ && scheduler_->complete();
  }
  if (!complete) {
    std::string why = absl::StrCat(
        "could not download ", cid, ": tried ", tried, " source",
        tried == 1 ? "" : "s",
        failures.empty() ? "" : absl::StrCat(": ", absl::StrJoin(failures, "; ")));
    if (failures.empty()) {
      why += " (none held every chunk)";
    }
    return bad_sources == tried ? absl::DataLossError(why)
                                : absl::UnavailableError(why);
  }
  absl::StatusOr<std::string> path = part_->Commit();
  if (!path.ok()) return path.status();
  TROVE_LOG(INFO) << "downloaded " << cid.substr(0, 12) << " to " << *path;
  DownloadProgress p;
  {
    absl::MutexLock lock(&mu_);
    p = Snapshot();
  }
  p.done = true;
  p.path = *path;
  p.sources = 0;
  // The final rate is the average over the whole download.
  double secs = absl::ToDoubleSeconds(Now() - started_);
  p.bytes_per_second = secs > 0 ? p.done_bytes / secs : 0;
  if (progress_) progress_(p);
  return *path;
}

Downloader::Downloader(SourceDirectory* directory, Options options)
    : directory_(directory), options_(std::move(options)) {}

absl::StatusOr<std::string> Downloader::Fetch(
    const DownloadRequest& request,
    const std::function<void(const DownloadProgress&)>& progress,
    const std::function<bool()>& cancelled) {
  absl::Status st = ValidateHexId(request.cid, "cid");
  if (!st.ok()) return st;
  if (request.out_dir.empty() || request.out_dir[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat(
        "output folder must be an absolute path, got '", request.out_dir, "'"));
  }
  if (!request.name.empty()) {
    st = ValidateFileName(request.name);
    if (!st.ok()) return st;
  }
  st = MakeDirs(request.out_dir);
  if (!st.ok()) return st;
  Download download(this, request, progress, cancelled);
  return download.Run();
}

std::vector<DownloadProgress> Downloader::Transfers() const {
  absl::MutexLock lock(&mu_);
  std::vector<DownloadProgress> out;
  for (const auto& [id, p] : transfers_) out.push_back(p);
  return out;
}

}  // namespace trove
