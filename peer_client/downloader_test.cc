#include "peer_client/downloader.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/identity.h"
#include "common/manifest_auth.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "peer_client/peer_service.h"
#include "peer_client/rate_limiter.h"
#include "peer_client/resume_journal.h"
#include "peer_client/share_scanner.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::PathExists;
using testing::ReadTestFile;
using testing::TempDir;
using testing::WriteTestFile;
using trove::peer::Chunk;
using trove::peer::GetChunksRequest;
using trove::peer::GetManifestRequest;
using trove::peer::Manifest;
using trove::peer::SlotRequest;
using trove::peer::SlotResponse;

// The identity of test peer `c`, made on first use and kept for the run.
const Identity& Key(char c) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* keys = new std::map<char, std::unique_ptr<Identity>>();
  absl::MutexLock lock(&mu);
  std::unique_ptr<Identity>& key = (*keys)[c];
  if (key == nullptr) {
    absl::StatusOr<std::unique_ptr<Identity>> made = Identity::Generate();
    if (!made.ok()) std::abort();
    key = std::move(*made);
  }
  return *key;
}

std::string PeerId(char c) { return Key(c).peer_id(); }

// A SourceDirectory that answers from a list and records reports.
class FakeDirectory : public SourceDirectory {
 public:
  absl::StatusOr<LocatedSources> Locate(const std::string& cid) override {
    absl::MutexLock lock(&mu_);
    if (!locate_status.ok()) return locate_status;
    LocatedSources out;
    out.sources = sources;
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

  absl::Mutex mu_;
  absl::Status locate_status;
  std::vector<Source> sources;
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
    if (stall) {
      while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
      return grpc::Status(grpc::StatusCode::CANCELLED, "stalled");
    }
    {
      absl::MutexLock lock(&mu_);
      requesters_.push_back("chunks:" + req->requester_id());
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

 private:
  const std::string data_;
  const FileHashes hashes_;
  const std::string peer_id_;
  std::atomic<int> served_{0};
  absl::Mutex mu_;
  int hold_after_ ABSL_GUARDED_BY(mu_) = -1;
  int let_through_ ABSL_GUARDED_BY(mu_) = 0;  // Chunks past the hold check.
  int deny_place_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> requesters_ ABSL_GUARDED_BY(mu_);
};

// The names of the test peers (Key, PeerId).
constexpr char kPeerNames[] = "0123456789abcdefghijklmnopqrstuvwxyz";

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

  TempDir dir_;
  std::string out_;
  std::string data_;
  std::string cid_;
  FakeDirectory directory_;
  std::vector<std::unique_ptr<FakePeer>> fakes_;
  std::vector<RunningServer> servers_;
  std::vector<DownloadProgress> progress_;
};

TEST_F(DownloaderTest, DownloadsFromARealPeer) {
  std::string share = dir_.Sub("share");
  WriteTestFile(share + "/song.mp3", data_);
  ShareScanner::Options so;
  so.roots = {share};
  ShareScanner scanner(so, nullptr);
  scanner.Scan();
  PeerServiceImpl service(&scanner, &Key('a'), PeerServiceImpl::Options());
  Serve(&service, PeerId('a'));

  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/song.mp3");
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(OutFiles(), std::vector<std::string>{"song.mp3"});  // No part file.
  ASSERT_FALSE(progress_.empty());
  const DownloadProgress& last = progress_.back();
  EXPECT_TRUE(last.done);
  EXPECT_EQ(last.path, *path);
  EXPECT_EQ(last.done_bytes, static_cast<int64_t>(data_.size()));
  EXPECT_EQ(last.size, static_cast<int64_t>(data_.size()));
  EXPECT_EQ(last.name, "song.mp3");
  EXPECT_TRUE(directory_.Reported().empty());
}

TEST_F(DownloaderTest, EmptyFile) {
  data_ = "";
  cid_ = HashBuffer("").cid;
  AddFake(PeerId('a'))->name = "empty.txt";
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/empty.txt");
  EXPECT_TRUE(PathExists(*path));
  EXPECT_EQ(ReadTestFile(*path), "");
}

TEST_F(DownloaderTest, TakenNameGetsANumberAndNothingIsOverwritten) {
  AddFake(PeerId('a'));
  WriteTestFile(out_ + "/file.bin", "mine");
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin (1)");
  EXPECT_EQ(ReadTestFile(out_ + "/file.bin"), "mine");
  EXPECT_EQ(ReadTestFile(*path), data_);
  path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin (2)");
}

TEST_F(DownloaderTest, RequestedNameWins) {
  AddFake(PeerId('a'));
  absl::StatusOr<std::string> path = Fetch("renamed.dat");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/renamed.dat");
}

TEST_F(DownloaderTest, FlippedByteIsDetectedReportedAndNothingIsLeft) {
  FakePeer* bad = AddFake(PeerId('b'));
  bad->flip_chunk = 1;
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss)
      << path.status();
  EXPECT_NE(path.status().message().find("failed verification"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, BadChunkIsNeverWritten) {
  FakePeer* bad = AddFake(PeerId('b'));
  bad->flip_chunk = 1;
  Downloader::Options o = DefaultOptions();
  o.streams_per_source = 1;
  o.keep_partial_on_failure = true;
  absl::StatusOr<std::string> path = FetchWith(o);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(OutFiles(), std::vector<std::string>{".file.bin.trove-part"});
  std::string part = ReadTestFile(out_ + "/.file.bin.trove-part");
  ASSERT_EQ(part.size(), data_.size());
  EXPECT_EQ(part.substr(0, kChunkSize), data_.substr(0, kChunkSize));
  EXPECT_EQ(part.substr(kChunkSize, kChunkSize),
            std::string(kChunkSize, '\0'));  // The bad chunk was not written.
}

TEST_F(DownloaderTest, BadSourceIsDroppedAndTheOtherOneFinishes) {
  AddFake(PeerId('b'))->flip_all = true;
  FakePeer* good = AddFake(PeerId('c'));
  good->HoldAfter(0);  // Until the liar was caught.
  std::thread release([&] {
    directory_.reported_once.WaitForNotification();
    good->Release();
  });
  absl::StatusOr<std::string> path = Fetch();
  release.join();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_GT(good->served(), 0);
}

TEST_F(DownloaderTest, ShortChunkIsBadData) {
  AddFake(PeerId('b'))->short_chunk = 0;
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, ManifestWithAPathForANameIsRejected) {
  AddFake(PeerId('b'))->name = "../../x";
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss)
      << path.status();
  EXPECT_NE(path.status().message().find("unsafe file name"),
            std::string::npos);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_FALSE(PathExists(dir_.Sub("x")));
  EXPECT_FALSE(PathExists(dir_.Sub(".x.trove-part")));
  EXPECT_TRUE(OutFiles().empty());

  // A good source after the hostile one still gets the file.
  AddFake(PeerId('c'));
  path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, out_ + "/file.bin");
}

TEST_F(DownloaderTest, ManifestNotMatchingTheCidIsRejected) {
  AddFake(PeerId('b'))->corrupt_manifest = true;
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("does not match cid"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, ManifestFromTheWrongPeerIsRejected) {
  AddFake(PeerId('b'))->manifest_peer_id = PeerId('e');
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("answered as peer"),
            std::string::npos);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, ProofSignedByAnotherKeyIsRejected) {
  AddFake(PeerId('b'))->signer = &Key('e');
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("proof does not verify"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, SourceClaimingAnotherPeersIdWithItsOwnKeyIsRejected) {
  // Listed as 'b' and answering as 'b', but holding (and signing with) the
  // key of 'e'.
  FakePeer* impostor = AddFakeWith(&Key('e'), PeerId('b'));
  impostor->manifest_peer_id = PeerId('b');
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("public key is not that of peer"),
            std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  EXPECT_EQ(impostor->served(), 0);
}

TEST_F(DownloaderTest, ImpostorIsDroppedAndTheRealPeerFinishes) {
  FakePeer* impostor = AddFakeWith(&Key('e'), PeerId('b'));
  impostor->manifest_peer_id = PeerId('b');
  FakePeer* real = AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_EQ(impostor->served(), 0);
  EXPECT_GT(real->served(), 0);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, SourceWithoutAProofIsRejected) {
  FakePeer* old = AddFake(PeerId('b'));
  old->key = nullptr;  // Answers like a peer that predates the proof.
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(path.status().message().find("no proof"), std::string::npos)
      << path.status();
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
}

TEST_F(DownloaderTest, FailingSourceHandsOverToTheNext) {
  FakePeer* flaky = AddFake(PeerId('b'));
  flaky->fail_after_chunks = 1;
  AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
  EXPECT_TRUE(directory_.Reported().empty());  // Failing is not lying.
}

TEST_F(DownloaderTest, StalledSourceIsDropped) {
  AddFake(PeerId('b'))->stall = true;
  AddFake(PeerId('c'));
  Downloader::Options o = DefaultOptions();
  o.stall_timeout = absl::Milliseconds(100);
  absl::StatusOr<std::string> path = FetchWith(o);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(ReadTestFile(*path), data_);
}

TEST_F(DownloaderTest, OnlyFailingSourcesIsUnavailable) {
  AddFake(PeerId('b'))->fail_after_chunks = 0;
  directory_.AddSource(PeerId('c'), "127.0.0.1:1");  // Nobody listens there.
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kUnavailable)
      << path.status();
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, NoSourcesIsNotFound) {
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kNotFound);
  directory_.locate_status = absl::NotFoundError("unknown cid");
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DownloaderTest, OwnPeerIsSkipped) {
  AddFake(PeerId('0'));  // This peer itself.
  absl::StatusOr<std::string> path = Fetch();
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(path.status().message().find("no other peer"), std::string::npos);
}

TEST_F(DownloaderTest, LocateFailureIsPassedOn) {
  directory_.locate_status = absl::UnavailableError("no supernode");
  EXPECT_EQ(Fetch().status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(DownloaderTest, BadRequestsAreInvalidArgument) {
  Downloader downloader(&directory_, DefaultOptions());
  DownloadRequest req;
  req.cid = "xyz";
  req.out_dir = out_;
  EXPECT_EQ(downloader.Fetch(req, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  req.cid = cid_;
  req.out_dir = "relative/dir";
  EXPECT_EQ(downloader.Fetch(req, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
  req.out_dir = out_;
  req.name = "../escape";
  EXPECT_EQ(downloader.Fetch(req, nullptr, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(DownloaderTest, CancelledDownloadStops) {
  AddFake(PeerId('a'));
  Downloader downloader(&directory_, DefaultOptions());
  DownloadRequest req;
  req.cid = cid_;
  req.out_dir = out_;
  absl::StatusOr<std::string> path =
      downloader.Fetch(req, nullptr, [] { return true; });
  EXPECT_EQ(path.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(OutFiles().empty());
}


// ---- Swarming

TEST_F(DownloaderTest, ManySourcesAtOnceTheLiarIsDroppedAndReported) {
  UseChunks(12);
  FakePeer* a = AddFake(PeerId('a'));
  FakePeer* liar = AddFake(PeerId('b'));
  liar->flip_all = true;
  FakePeer* c = AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(directory_.Reported(), std::vector<std::string>{PeerId('b')});
  ASSERT_FALSE(progress_.empty());
  EXPECT_EQ(progress_.back().bad_sources, 1);
  EXPECT_GE(a->served() + c->served(), ChunkTotal());
  EXPECT_EQ(progress_.back().chunks_resumed, 0);
  EXPECT_GE(progress_.back().chunks_fetched, ChunkTotal());
}

TEST_F(DownloaderTest, SourceDyingMidTransferLeavesItsChunksToTheOthers) {
  UseChunks(10);
  FakePeer* dying = AddFake(PeerId('a'));
  dying->fail_after_chunks = 2;
  AddFake(PeerId('b'));
  AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_TRUE(directory_.Reported().empty());  // Dying is not lying.
  EXPECT_EQ(progress_.back().bad_sources, 0);
}

TEST_F(DownloaderTest, SourcesListedLaterJoinTheRunningDownload) {
  UseChunks(6);
  FakePeer* stuck = AddFake(PeerId('a'));
  stuck->HoldAfter(0);  // Sends nothing: only a newcomer can finish.
  fakes_.push_back(std::make_unique<FakePeer>(data_, &Key('b')));
  FakePeer* late = fakes_.back().get();
  Downloader::Options o = DefaultOptions();
  o.relocate_interval = absl::Milliseconds(20);
  Downloader downloader(&directory_, o);
  bool listed = false;
  absl::StatusOr<std::string> path = downloader.Fetch(
      Request(),
      [&](const DownloadProgress& p) {
        if (!listed && p.size > 0) {
          listed = true;
          Serve(late, PeerId('b'));  // Located at the next look.
        }
      },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(late->served(), ChunkTotal());  // Including the endgame's.
  stuck->Release();
}

TEST_F(DownloaderTest, PartialSourcesAreAskedOnlyForWhatTheyHold) {
  UseChunks(9);  // 10 chunks.
  FakePeer* even = AddFake(PeerId('a'));
  even->have = "x.x.x.x.x.";
  FakePeer* odd = AddFake(PeerId('b'));
  odd->have = ".x.x.x.x.x";
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();  // A NOT_FOUND would drop one.
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(even->served(), 5);
  EXPECT_EQ(odd->served(), 5);
}

TEST_F(DownloaderTest, NoSourceHoldingTheRestFailsAfterTheStuckTimeout) {
  UseChunks(3);
  AddFake(PeerId('a'))->have = "xx..";
  Downloader::Options o = DefaultOptions();
  o.stuck_timeout = absl::Milliseconds(100);
  absl::StatusOr<std::string> path = FetchWith(o);
  EXPECT_EQ(path.status().code(), absl::StatusCode::kUnavailable)
      << path.status();
  EXPECT_NE(path.status().message().find("no source holds the 2 chunks"),
            std::string::npos)
      << path.status();
  EXPECT_TRUE(OutFiles().empty());
}

TEST_F(DownloaderTest, QueuedSourceShowsItsPlaceThenServes) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->DenySlots(3);
  Downloader downloader(&directory_, DefaultOptions());
  int best_place = 0;
  absl::StatusOr<std::string> path = downloader.Fetch(
      Request(),
      [&](const DownloadProgress& p) {
        if (p.queue_position > 0) {
          best_place = p.queue_position;
          EXPECT_EQ(p.sources, 0);
          peer->DenySlots(0);  // Our turn.
        }
      },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(best_place, 3);
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  // Our own id goes with every slot and chunk request.
  for (const std::string& r : peer->Requesters()) {
    EXPECT_TRUE(r == "slot:" + PeerId('0') || r == "chunks:" + PeerId('0'))
        << r;
  }
}

TEST_F(DownloaderTest, LostSlotIsAskedForAgain) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->lose_slot_times = 3;
  absl::StatusOr<std::string> path = Fetch();
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_TRUE(directory_.Reported().empty());
}

// A clock that only moves when a rate limiter sleeps.
class FakeLimiterClock {
 public:
  LimiterClock clock() {
    LimiterClock c;
    c.now = [this] {
      absl::MutexLock lock(&mu_);
      return now_;
    };
    c.sleep = [this](absl::Duration d) {
      absl::MutexLock lock(&mu_);
      now_ += d;
    };
    return c;
  }
  absl::Duration elapsed() {
    absl::MutexLock lock(&mu_);
    return now_ - absl::UnixEpoch();
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ = absl::UnixEpoch();
};

TEST_F(DownloaderTest, DownloadLimitIsTakenForEveryChunk) {
  UseChunks(4);  // 4 MiB and a bit.
  AddFake(PeerId('a'));
  FakeLimiterClock fake;
  PeerRateLimiter::Options lo;
  lo.total_bytes_per_second = kChunkSize;  // 1 MiB/s, 1 MiB burst.
  PeerRateLimiter limiter(lo, fake.clock());
  Downloader::Options o = DefaultOptions();
  o.limiter = &limiter;
  absl::StatusOr<std::string> path = FetchWith(o);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  // Past the burst, every byte waited its turn: about 3 seconds.
  EXPECT_GE(fake.elapsed(), absl::Seconds(3));
}

// ---- Resume, attach, partial sharing

class ResumeTest : public DownloaderTest {
 protected:
  void SetUp() override {
    DownloaderTest::SetUp();
    UseChunks(11);  // 12 chunks.
    state_ = dir_.Sub("state/transfers");
  }

  Downloader::Options Options() {
    Downloader::Options o = DefaultOptions();
    o.state_dir = state_;
    o.journal_batch_chunks = 2;
    return o;
  }

  // Starts fetching on another thread; `held` is notified once `chunks`
  // chunks are verified.
  void StartFetch(Downloader* d, int chunks) {
    fetch_thread_ = std::thread([this, d, chunks] {
      fetch_result_ = d->Fetch(
          Request(),
          [this, chunks](const DownloadProgress& p) {
            if (p.done_bytes >= chunks * kChunkSize && !held_.HasBeenNotified()) {
              held_.Notify();
            }
          },
          nullptr);
    });
  }

  void JoinFetch() {
    if (fetch_thread_.joinable()) fetch_thread_.join();
  }

  void TearDown() override {
    JoinFetch();
    DownloaderTest::TearDown();
  }

  // Stops a download after `chunks` chunks by shutting its downloader down.
  void DownloadPartlyThenShutDown(FakePeer* peer, int chunks) {
    peer->HoldAfter(chunks);
    Downloader first(&directory_, Options());
    StartFetch(&first, chunks);
    held_.WaitForNotification();
    first.Shutdown();
    JoinFetch();
    EXPECT_EQ(fetch_result_.status().code(), absl::StatusCode::kUnavailable)
        << fetch_result_.status();
    peer->Release();
  }

  std::string part_path() const { return out_ + "/.file.bin.trove-part"; }

  std::string state_;
  std::thread fetch_thread_;
  absl::Notification held_;
  absl::StatusOr<std::string> fetch_result_;
};

TEST_F(ResumeTest, StoppedHalfWayResumesWithoutFetchingOrHashingAgain) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 5);
  EXPECT_TRUE(PathExists(part_path()));
  EXPECT_TRUE(PathExists(state_ + "/" + cid_ + "/journal"));

  Downloader second(&directory_, Options());
  progress_.clear();
  absl::StatusOr<std::string> path = second.Fetch(
      Request(), [this](const DownloadProgress& p) { progress_.push_back(p); },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  const DownloadProgress& done = progress_.back();
  EXPECT_EQ(done.chunks_resumed, 5);
  EXPECT_EQ(done.chunks_rehashed, 0);  // Unchanged part file: trusted.
  EXPECT_EQ(done.chunks_fetched, ChunkTotal() - 5);
  EXPECT_EQ(done.done_bytes, static_cast<int64_t>(data_.size()));
  // Done: nothing saved any more, no part file.
  EXPECT_FALSE(PathExists(state_ + "/" + cid_));
  EXPECT_EQ(OutFiles(), std::vector<std::string>{"file.bin"});
}

TEST_F(ResumeTest, PartFileTamperedWithWhileStoppedIsCaught) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 5);
  // Someone writes into chunk 1 while the download is stopped.
  {
    int fd = ::open(part_path().c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "!", 1, kChunkSize + 10), 1);
    ::close(fd);
  }
  Downloader second(&directory_, Options());
  EXPECT_EQ(second.ResumeSaved(), 1);  // Goes on by itself...
  progress_.clear();
  absl::StatusOr<std::string> path = second.Fetch(  // ... and can be followed.
      Request(), [this](const DownloadProgress& p) { progress_.push_back(p); },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  const DownloadProgress& done = progress_.back();
  EXPECT_EQ(done.chunks_rehashed, 5);
  EXPECT_EQ(done.chunks_resumed, 4);  // Chunk 1 was dropped...
  EXPECT_EQ(done.chunks_fetched, ChunkTotal() - 4);  // ... and fetched again.
}

TEST_F(ResumeTest, TornJournalTailCostsOnlyItsChunks) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 6);
  // A crash tore the journal's last record.
  const std::string journal = state_ + "/" + cid_ + "/journal";
  std::string bytes = ReadTestFile(journal);
  size_t valid = 0;
  std::vector<JournalRecord> records = DecodeJournal(bytes, &valid);
  ASSERT_GE(records.size(), 2u);
  ASSERT_EQ(valid, bytes.size());
  const size_t last = EncodeJournalRecord(records.back()).size();
  WriteTestFile(journal, bytes.substr(0, bytes.size() - last / 2));
  int64_t kept = 0;
  for (size_t i = 0; i + 1 < records.size(); ++i) {
    kept += static_cast<int64_t>(records[i].chunks.size());
  }

  Downloader second(&directory_, Options());
  progress_.clear();
  absl::StatusOr<std::string> path = second.Fetch(
      Request(), [this](const DownloadProgress& p) { progress_.push_back(p); },
      nullptr);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_TRUE(ReadTestFile(*path) == data_);
  EXPECT_EQ(progress_.back().chunks_resumed, kept);
  EXPECT_EQ(progress_.back().chunks_fetched, ChunkTotal() - kept);
}

TEST_F(ResumeTest, SecondFetchAttachesAndThePartialFileIsServed) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(3);
  Downloader downloader(&directory_, Options());
  std::atomic<int> announced{0};
  downloader.SetPartialFilesListener([&] { ++announced; });
  StartFetch(&downloader, 3);
  held_.WaitForNotification();

  // While it runs, the verified chunks are served and announced.
  std::shared_ptr<const SharedFile> partial = downloader.FindByCid(cid_);
  ASSERT_NE(partial, nullptr);
  EXPECT_EQ(partial->path, part_path());
  EXPECT_EQ(partial->size, static_cast<int64_t>(data_.size()));
  ASSERT_NE(partial->have, nullptr);
  EXPECT_EQ(partial->have->count(), 3);
  EXPECT_TRUE(partial->have->Has(0));
  std::vector<FileEntry> files = downloader.PartialFiles();
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].cid(), cid_);
  EXPECT_EQ(files[0].name(), "file.bin");
  EXPECT_GE(announced.load(), 1);
  ASSERT_EQ(downloader.Transfers().size(), 1u);
  EXPECT_EQ(downloader.Transfers()[0].cid, cid_);

  // Another Fetch of the same cid (elsewhere) follows the same download.
  DownloadRequest again = Request();
  again.out_dir = dir_.Sub("elsewhere");
  std::vector<DownloadProgress> followed;
  absl::Notification attached;
  std::thread second([&] {
    absl::StatusOr<std::string> p = downloader.Fetch(
        again,
        [&](const DownloadProgress& p) {
          followed.push_back(p);
          if (!attached.HasBeenNotified()) attached.Notify();
        },
        nullptr);
    EXPECT_TRUE(p.ok()) << p.status();
    if (p.ok()) EXPECT_EQ(*p, out_ + "/file.bin");
  });
  attached.WaitForNotification();
  peer->Release();
  second.join();
  JoinFetch();
  ASSERT_TRUE(fetch_result_.ok()) << fetch_result_.status();
  EXPECT_EQ(*fetch_result_, out_ + "/file.bin");
  EXPECT_TRUE(ReadTestFile(*fetch_result_) == data_);
  ASSERT_FALSE(followed.empty());
  EXPECT_TRUE(followed.back().done);
  EXPECT_FALSE(PathExists(dir_.Sub("elsewhere/file.bin")));
  // Done: no longer partial, no longer announced.
  EXPECT_EQ(downloader.FindByCid(cid_), nullptr);
  EXPECT_TRUE(downloader.PartialFiles().empty());
  EXPECT_TRUE(downloader.Transfers().empty());
}

TEST_F(ResumeTest, CancelledDownloadLeavesNoStateBehind) {
  FakePeer* peer = AddFake(PeerId('a'));
  peer->HoldAfter(2);
  Downloader downloader(&directory_, Options());
  std::atomic<bool> cancel{false};
  absl::StatusOr<std::string> path = downloader.Fetch(
      Request(),
      [&](const DownloadProgress& p) {
        if (p.done_bytes >= 2 * kChunkSize) cancel = true;
      },
      [&] { return cancel.load(); });
  EXPECT_EQ(path.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(OutFiles().empty());
  EXPECT_FALSE(PathExists(state_ + "/" + cid_));
  peer->Release();
}

TEST_F(ResumeTest, MissingPartFileDropsTheSavedDownload) {
  FakePeer* peer = AddFake(PeerId('a'));
  DownloadPartlyThenShutDown(peer, 2);
  ASSERT_EQ(::unlink(part_path().c_str()), 0);
  Downloader second(&directory_, Options());
  EXPECT_EQ(second.ResumeSaved(), 1);
  second.Shutdown();  // The resumed download ends by itself.
  EXPECT_FALSE(PathExists(state_ + "/" + cid_));
  EXPECT_TRUE(OutFiles().empty());
}

}  // namespace
}  // namespace trove
