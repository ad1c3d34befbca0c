#include "peer_client/downloader.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "peer_client/peer_service.h"
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

std::string PeerId(char c) { return std::string(64, c); }

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
};

// A peer serving one in-memory file, with ways to misbehave.
class FakePeer final : public trove::peer::PeerService::Service {
 public:
  FakePeer(std::string data, std::string peer_id)
      : data_(std::move(data)),
        hashes_(HashBuffer(data_)),
        peer_id_(std::move(peer_id)) {}

  // Knobs, set before use.
  std::string name = "file.bin";
  std::string manifest_peer_id;  // Overrides the id in the manifest.
  int flip_chunk = -1;           // Flips a byte of this chunk.
  bool corrupt_manifest = false; // Sends a hash that does not fit the cid.
  int fail_after_chunks = -1;    // UNAVAILABLE after this many chunks.
  bool stall = false;            // Sends nothing until cancelled.
  int short_chunk = -1;          // Sends this chunk one byte short.

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
    for (const Hash& h : hashes_.chunk_hashes) m->add_chunk_hashes(HashToBytes(h));
    if (corrupt_manifest) (*m->mutable_chunk_hashes(0))[0] ^= 1;
    return grpc::Status::OK;
  }

  grpc::Status GetChunks(grpc::ServerContext* ctx, const GetChunksRequest* req,
                         grpc::ServerWriter<Chunk>* writer) override {
    if (stall) {
      while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
      return grpc::Status(grpc::StatusCode::CANCELLED, "stalled");
    }
    for (uint32_t index : req->indexes()) {
      if (fail_after_chunks >= 0 && served_.load() >= fail_after_chunks) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "going away");
      }
      Chunk c;
      c.set_index(index);
      std::string data = data_.substr(index * kChunkSize,
                                      ChunkLength(hashes_.size, index));
      if (static_cast<int>(index) == flip_chunk) data[data.size() / 2] ^= 0x20;
      if (static_cast<int>(index) == short_chunk) data.pop_back();
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
};

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

  FakePeer* AddFake(const std::string& peer_id) {
    fakes_.push_back(std::make_unique<FakePeer>(data_, peer_id));
    Serve(fakes_.back().get(), peer_id);
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
  PeerServiceImpl service(&scanner, PeerId('a'), PeerServiceImpl::Options());
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

TEST_F(DownloaderTest, BadSourceIsDroppedAndTheNextOneFinishes) {
  AddFake(PeerId('b'))->flip_chunk = 2;
  FakePeer* good = AddFake(PeerId('c'));
  absl::StatusOr<std::string> path = Fetch();
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

}  // namespace
}  // namespace trove
