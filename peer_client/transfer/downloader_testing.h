// Test doubles for the download engine: a SourceDirectory answering from a
// list, a PeerService serving one in-memory file with ways to misbehave,
// and a fixture that serves them on loopback and fetches from them.
#ifndef TROVE_PEER_CLIENT_TRANSFER_DOWNLOADER_TESTING_H_
#define TROVE_PEER_CLIENT_TRANSFER_DOWNLOADER_TESTING_H_

#include <dirent.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/identity.h"
#include "common/manifest_auth.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "peer_client/test_util.h"
#include "peer_client/transfer/downloader.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace testing {

using trove::peer::Chunk;
using trove::peer::GetChunksRequest;
using trove::peer::GetManifestRequest;
using trove::peer::Manifest;
using trove::peer::SlotRequest;
using trove::peer::SlotResponse;

// The identity of test peer `c`, made on first use and kept for the run.
const Identity& Key(char c);

// The peer id of test peer `c`.
std::string PeerId(char c);

// A SourceDirectory that answers from a list and records reports.
class FakeDirectory : public SourceDirectory {
 public:
  absl::StatusOr<LocatedSources> Locate(const std::string& cid) override {
    absl::MutexLock lock(&mu_);
    ++locate_calls;
    if (!locate_status.ok()) return locate_status;
    LocatedSources out;
    out.sources = sources;
    out.size = size;
    out.name = name;
    return out;
  }

  void ReportBadSource(const std::string& cid, const std::string& peer_id,
                       const std::string& reason) override {
    absl::MutexLock lock(&mu_);
    reported.push_back(peer_id);
    if (!reported_once.HasBeenNotified()) reported_once.Notify();
  }

  std::vector<std::string> Reported() {
    absl::MutexLock lock(&mu_);
    return reported;
  }

  void AddSource(const std::string& peer_id, const std::string& address) {
    absl::MutexLock lock(&mu_);
    Source s;
    s.set_peer_id(peer_id);
    s.set_address(address);
    sources.push_back(s);
  }

  void SetLocateStatus(absl::Status st) {
    absl::MutexLock lock(&mu_);
    locate_status = std::move(st);
  }

  absl::Mutex mu_;
  absl::Status locate_status;
  std::vector<Source> sources;
  // What Locate says of the file (0 and "": nothing).
  int64_t size = 0;
  std::string name;
  int locate_calls = 0;
  std::vector<std::string> reported;
  absl::Notification reported_once;
};

// A peer serving one in-memory file, with ways to misbehave. It proves its
// identity with `key`.
class FakePeer final : public trove::peer::PeerService::Service {
 public:
  FakePeer(std::string data, const Identity* key)
      : key(key),
        data_(std::move(data)),
        hashes_(HashBuffer(data_)),
        peer_id_(key->peer_id()) {}

  // Knobs, set before use.
  std::string name = "file.bin";
  std::string manifest_peer_id;  // Overrides the id in the manifest.
  const Identity* key;           // Sends this public key, signs with it...
  const Identity* signer = nullptr;  // ...unless this one signs instead.
  int flip_chunk = -1;           // Flips a byte of this chunk.
  bool corrupt_manifest = false; // Sends a hash that does not fit the cid.
  int fail_after_chunks = -1;    // UNAVAILABLE after this many chunks.
  bool stall = false;            // Sends nothing until cancelled.
  int short_chunk = -1;          // Sends this chunk one byte short.
  bool flip_all = false;         // Flips a byte of every chunk.
  std::string have;              // Partial source: 'x' marks chunks held.
  int lose_slot_times = 0;       // GetChunks says RESOURCE_EXHAUSTED so often.

  // After this many chunks, sends nothing more until Release() or the call
  // is cancelled (-1: never holds).
  void HoldAfter(int chunks) {
    absl::MutexLock lock(&mu_);
    hold_after_ = chunks;
  }
  void Release() { HoldAfter(-1); }

  // While denying, RequestSlot answers with queue place `place`, and
  // GetChunks is refused.
  void DenySlots(int place) {
    absl::MutexLock lock(&mu_);
    deny_place_ = place;
  }

  std::vector<std::string> Requesters() {
    absl::MutexLock lock(&mu_);
    return requesters_;
  }

  grpc::Status RequestSlot(grpc::ServerContext*, const SlotRequest* req,
                           SlotResponse* resp) override {
    absl::MutexLock lock(&mu_);
    requesters_.push_back("slot:" + req->requester_id());
    resp->set_granted(deny_place_ == 0);
    resp->set_queue_position(deny_place_);
    resp->set_retry_after_ms(5);
    return grpc::Status::OK;
  }

  grpc::Status GetManifest(grpc::ServerContext*, const GetManifestRequest* req,
                           Manifest* m) override {
    if (req->cid() != hashes_.cid) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "unknown cid");
    }
    m->set_cid(hashes_.cid);
    m->set_size(hashes_.size);
    m->set_chunk_size(kChunkSize);
    m->set_name(name);
    m->set_peer_id(manifest_peer_id.empty() ? peer_id_ : manifest_peer_id);
    if (!req->nonce().empty() && key != nullptr) {
      const Identity* by = signer != nullptr ? signer : key;
      absl::StatusOr<std::string> proof = by->Sign(
          ManifestProofMessage(req->nonce(), hashes_.cid, m->peer_id()));
      if (!proof.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "sign");
      m->set_public_key(key->public_key());
      m->set_proof(*proof);
    }
    for (const Hash& h : hashes_.chunk_hashes) m->add_chunk_hashes(HashToBytes(h));
    if (corrupt_manifest) (*m->mutable_chunk_hashes(0))[0] ^= 1;
    if (!have.empty()) {
      std::string bits((hashes_.chunk_hashes.size() + 7) / 8, '\0');
      for (size_t i = 0; i < have.size(); ++i) {
        if (have[i] == 'x') bits[i / 8] |= static_cast<char>(1 << (i % 8));
      }
      m->set_have(bits);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetChunks(grpc::ServerContext* ctx, const GetChunksRequest* req,
                         grpc::ServerWriter<Chunk>* writer) override {
    ++open_calls_;
    struct Closed {
      std::atomic<int>* n;
      ~Closed() { --*n; }
    } closed{&open_calls_};
    if (stall) {
      while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
      return grpc::Status(grpc::StatusCode::CANCELLED, "stalled");
    }
    {
      absl::MutexLock lock(&mu_);
      requesters_.push_back("chunks:" + req->requester_id());
      chunk_callers_.insert(ctx->peer());
      if (deny_place_ != 0 || lose_slot_times > 0) {
        if (deny_place_ == 0) --lose_slot_times;
        return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "no slot");
      }
    }
    for (uint32_t index : req->indexes()) {
      if (!have.empty() && (index >= have.size() || have[index] != 'x')) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND, "not held");
      }
      // Holds while asked to (polling: the server cannot wait on its
      // context being cancelled).
      while (true) {
        absl::MutexLock lock(&mu_);
        if (hold_after_ < 0 || let_through_ < hold_after_) {
          ++let_through_;
          break;
        }
        if (ctx->IsCancelled()) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "held");
        }
        mu_.AwaitWithTimeout(absl::Condition(
                                 +[](int* h) { return *h < 0; }, &hold_after_),
                             absl::Milliseconds(5));
      }
      if (fail_after_chunks >= 0 && served_.load() >= fail_after_chunks) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "going away");
      }
      Chunk c;
      c.set_index(index);
      std::string data = data_.substr(index * kChunkSize,
                                      ChunkLength(hashes_.size, index));
      if (static_cast<int>(index) == flip_chunk) data[data.size() / 2] ^= 0x20;
      if (static_cast<int>(index) == short_chunk) data.pop_back();
      if (flip_all) data[0] ^= 0x01;
      c.set_data(data);
      if (!writer->Write(c)) break;
      ++served_;
    }
    return grpc::Status::OK;
  }

  const std::string& cid() const { return hashes_.cid; }
  int served() const { return served_.load(); }
  // GetChunks calls not yet returned.
  int open_calls() const { return open_calls_.load(); }
  // The client addresses ("ipv4:127.0.0.1:PORT") GetChunks was called
  // from: one per connection.
  std::set<std::string> chunk_callers() {
    absl::MutexLock lock(&mu_);
    return chunk_callers_;
  }
  // GetChunks calls so far.
  int chunk_calls() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(std::count_if(
        requesters_.begin(), requesters_.end(), [](const std::string& r) {
          return r.rfind("chunks:", 0) == 0;
        }));
  }

 private:
  const std::string data_;
  const FileHashes hashes_;
  const std::string peer_id_;
  std::atomic<int> served_{0};
  std::atomic<int> open_calls_{0};
  absl::Mutex mu_;
  int hold_after_ ABSL_GUARDED_BY(mu_) = -1;
  int let_through_ ABSL_GUARDED_BY(mu_) = 0;  // Chunks past the hold check.
  int deny_place_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> requesters_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> chunk_callers_ ABSL_GUARDED_BY(mu_);
};

// The names of the test peers (Key, PeerId).
inline constexpr char kPeerNames[] = "0123456789abcdefghijklmnopqrstuvwxyz";

class DownloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    out_ = dir_.Sub("out");
    data_ = testing::RandomBytes(2 * kChunkSize + 4321, 99);
    cid_ = HashBuffer(data_).cid;
  }

  void TearDown() override {
    for (RunningServer& s : servers_) s.server->Shutdown();
  }

  // Serves `service` on a free port and lists it in the directory.
  std::string Serve(grpc::Service* service, const std::string& peer_id) {
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {service}, grpc::InsecureServerCredentials());
    EXPECT_TRUE(s.ok()) << s.status();
    std::string address = s->address;
    servers_.push_back(std::move(*s));
    directory_.AddSource(peer_id, address);
    return address;
  }

  // A fake peer with the identity of `peer_id` (made by PeerId), listed
  // under that id.
  FakePeer* AddFake(const std::string& peer_id) {
    for (char c : absl::string_view(kPeerNames)) {
      if (PeerId(c) == peer_id) return AddFakeWith(&Key(c), peer_id);
    }
    ADD_FAILURE() << "no test key for " << peer_id;
    return nullptr;
  }

  // A fake peer proving itself with `key`, listed under `listed_as`.
  FakePeer* AddFakeWith(const Identity* key, const std::string& listed_as) {
    fakes_.push_back(std::make_unique<FakePeer>(data_, key));
    Serve(fakes_.back().get(), listed_as);
    return fakes_.back().get();
  }

  Downloader::Options DefaultOptions() {
    Downloader::Options o;
    o.own_peer_id = PeerId('0');
    o.chunks_per_request = 1;
    o.streams_per_source = 2;
    o.progress_interval = absl::Milliseconds(20);
    o.fast_relocate_interval = absl::Milliseconds(20);
    o.max_relocate_backoff = absl::Milliseconds(100);
    return o;
  }

  // A bigger file: `chunks` full chunks and a short one.
  void UseChunks(int chunks) {
    data_ = testing::RandomBytes(chunks * kChunkSize + 777, 7);
    cid_ = HashBuffer(data_).cid;
  }
  int64_t ChunkTotal() const { return ChunkCount(data_.size()); }

  DownloadRequest Request() const {
    DownloadRequest req;
    req.cid = cid_;
    req.out_dir = out_;
    return req;
  }

  absl::StatusOr<std::string> Fetch(const std::string& name = "") {
    return FetchWith(DefaultOptions(), name);
  }

  absl::StatusOr<std::string> FetchWith(Downloader::Options options,
                                        const std::string& name = "") {
    Downloader downloader(&directory_, options);
    DownloadRequest req;
    req.cid = cid_;
    req.out_dir = out_;
    req.name = name;
    progress_.clear();
    absl::StatusOr<std::string> path = downloader.Fetch(
        req, [this](const DownloadProgress& p) { progress_.push_back(p); },
        nullptr);
    EXPECT_TRUE(downloader.Transfers().empty());
    return path;
  }

  // Follows the download of `request` in `downloader` (adding it) until
  // its state is `state` or 20 s passed, then stops following: the download
  // goes on. Returns the last progress seen (progress_ holds them all).
  DownloadProgress AwaitState(Downloader* downloader, DownloadState state,
                              DownloadRequest request) {
    progress_.clear();
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    DownloadProgress last;
    bool reached = false;
    absl::StatusOr<std::string> r = downloader->Fetch(
        request,
        [&](const DownloadProgress& p) {
          progress_.push_back(p);
          last = p;
          reached = reached || p.state == state;
        },
        [&] { return reached || absl::Now() > deadline; });
    EXPECT_TRUE(reached) << "never " << DownloadStateName(state) << "; last "
                         << DownloadStateName(last.state) << " ("
                         << last.detail << "), " << r.status();
    return last;
  }
  DownloadProgress AwaitState(Downloader* downloader, DownloadState state) {
    return AwaitState(downloader, state, Request());
  }

  // The sources reported as bad, once one was (up to 10 s): reports are
  // made after a source's state changed.
  std::vector<std::string> AwaitReported() {
    directory_.reported_once.WaitForNotificationWithTimeout(absl::Seconds(10));
    return directory_.Reported();
  }

  // Names in the output folder.
  std::vector<std::string> OutFiles() {
    std::vector<std::string> out;
    DIR* d = ::opendir(out_.c_str());
    if (d == nullptr) return out;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") out.push_back(n);
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  testing::TempDir dir_;
  std::string out_;
  std::string data_;
  std::string cid_;
  FakeDirectory directory_;
  std::vector<std::unique_ptr<FakePeer>> fakes_;
  std::vector<RunningServer> servers_;
  std::vector<DownloadProgress> progress_;
};

}  // namespace testing
}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_DOWNLOADER_TESTING_H_
