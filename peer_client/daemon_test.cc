// The daemon and the command line together: two daemons and a small
// in-process supernode; one shares, the other searches and downloads
// through the CLI functions, whose JSON output is parsed as scripts would.
#include "peer_client/daemon.h"

#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/identity.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "common/signed_change.h"
#include "gtest/gtest.h"
#include "peer_client/cli.h"
#include "peer_client/test_util.h"
#include "protos/supernode.grpc.pb.h"

namespace trove {
namespace {

using nlohmann::json;
using testing::PathExists;
using testing::ReadTestFile;
using testing::TempDir;
using testing::WriteTestFile;

// A supernode that keeps what its leaves publish and answers from it.
class MiniSupernode final : public supernode::SupernodeService::Service {
 public:
  grpc::Status Challenge(grpc::ServerContext*, const supernode::ChallengeRequest*,
                         supernode::ChallengeResponse* resp) override {
    resp->set_nonce("nonce");
    return grpc::Status::OK;
  }

  grpc::Status Join(grpc::ServerContext*, const supernode::JoinRequest* req,
                    supernode::JoinResponse* resp) override {
    absl::MutexLock lock(&mu_);
    std::string peer = PeerIdFromPublicKey(req->public_key());
    Leaf& leaf = leaves_[peer];
    leaf.address = req->listen_address();
    std::string session = absl::StrCat("s-", peer);
    sessions_[session] = peer;
    resp->set_peer_id(peer);
    resp->set_session(session);
    resp->set_heartbeat_interval_ms(100);
    return grpc::Status::OK;
  }

  grpc::Status Publish(grpc::ServerContext*,
                       const supernode::PublishRequest* signed_req,
                       supernode::PublishResponse* resp) override {
    absl::MutexLock lock(&mu_);
    auto s = sessions_.find(signed_req->session());
    if (s == sessions_.end()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no session");
    }
    // Like a supernode: the change is what the leaf signed.
    absl::StatusOr<LeafChange> change =
        VerifyLeafChange(signed_req->signed_change(), signed_req->signature());
    if (!change.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          std::string(change.status().message()));
    }
    supernode::PublishRequest plain;
    plain.set_full(change->full());
    *plain.mutable_added() = change->added();
    *plain.mutable_removed() = change->removed();
    const supernode::PublishRequest* req = &plain;
    Leaf& leaf = leaves_[s->second];
    if (req->full()) leaf.files.clear();
    for (const std::string& cid : req->removed()) leaf.files.erase(cid);
    for (const FileEntry& e : req->added()) leaf.files[e.cid()] = e;
    resp->set_file_count(static_cast<int>(leaf.files.size()));
    return grpc::Status::OK;
  }

  grpc::Status Heartbeat(grpc::ServerContext*, const supernode::HeartbeatRequest* req,
                         supernode::HeartbeatResponse*) override {
    absl::MutexLock lock(&mu_);
    if (sessions_.count(req->session()) == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "expired");
    }
    return grpc::Status::OK;
  }

  grpc::Status Leave(grpc::ServerContext*, const supernode::LeaveRequest* req,
                     supernode::LeaveResponse*) override {
    absl::MutexLock lock(&mu_);
    auto s = sessions_.find(req->session());
    if (s != sessions_.end()) {
      leaves_.erase(s->second);
      sessions_.erase(s);
      ++leaves_left_;
    }
    return grpc::Status::OK;
  }

  grpc::Status Search(grpc::ServerContext*, const supernode::SearchRequest* req,
                      supernode::SearchResponse* resp) override {
    absl::MutexLock lock(&mu_);
    std::map<std::string, SearchHit> hits;
    for (const auto& [peer, leaf] : leaves_) {
      for (const auto& [cid, e] : leaf.files) {
        if (!absl::StrContains(absl::AsciiStrToLower(e.name()),
                                absl::AsciiStrToLower(req->query().text()))) {
          continue;
        }
        SearchHit& h = hits[cid];
        h.set_cid(cid);
        h.set_name(e.name());
        h.set_size(e.size());
        h.set_source_count(h.source_count() + 1);
      }
    }
    for (auto& [cid, h] : hits) *resp->add_hits() = h;
    return grpc::Status::OK;
  }

  grpc::Status Locate(grpc::ServerContext*, const supernode::LocateRequest* req,
                      supernode::LocateResponse* resp) override {
    absl::MutexLock lock(&mu_);
    for (const auto& [peer, leaf] : leaves_) {
      auto f = leaf.files.find(req->cid());
      if (f == leaf.files.end()) continue;
      resp->set_size(f->second.size());
      resp->set_name(f->second.name());
      Source* s = resp->add_sources();
      s->set_peer_id(peer);
      s->set_address(leaf.address);
    }
    if (resp->sources_size() == 0) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no sources");
    }
    return grpc::Status::OK;
  }

  // How many files `peer` has published.
  int FilesOf(const std::string& peer) {
    absl::MutexLock lock(&mu_);
    auto it = leaves_.find(peer);
    return it == leaves_.end() ? -1 : static_cast<int>(it->second.files.size());
  }

  int leaves_left() {
    absl::MutexLock lock(&mu_);
    return leaves_left_;
  }

 private:
  struct Leaf {
    std::string address;
    std::map<std::string, FileEntry> files;
  };
  absl::Mutex mu_;
  std::map<std::string, Leaf> leaves_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> sessions_ ABSL_GUARDED_BY(mu_);
  int leaves_left_ ABSL_GUARDED_BY(mu_) = 0;
};

class DaemonTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {&supernode_}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    supernode_server_ = std::move(*s);
    song_ = testing::RandomBytes(2 * kChunkSize + 99, 5);
    WriteTestFile(dir_.Sub("a/share/Queen - Bohemian Rhapsody.mp3"), song_);
    WriteTestFile(dir_.Sub("a/share/sub/empty.dat"), "");
    ASSERT_EQ(::mkdir(dir_.Sub("b").c_str(), 0755), 0);
  }

  void TearDown() override {
    for (auto& d : daemons_) d->Shutdown(absl::Seconds(1));
    supernode_server_.server->Shutdown();
  }

  DaemonOptions Options(const std::string& who, bool share) {
    DaemonOptions o;
    o.state_dir = dir_.Sub(who + "/state");
    if (share) o.shares = {dir_.Sub(who + "/share")};
    o.rescan_interval = absl::Hours(1);  // Rescans only when asked.
    o.session.supernodes = {supernode_server_.address};
    o.session.min_backoff = absl::Milliseconds(10);
    o.download.progress_interval = absl::Milliseconds(10);
    return o;
  }

  PeerDaemon* StartDaemon(const std::string& who, bool share) {
    absl::StatusOr<std::unique_ptr<PeerDaemon>> d =
        PeerDaemon::Start(Options(who, share));
    EXPECT_TRUE(d.ok()) << d.status();
    if (!d.ok()) return nullptr;
    daemons_.push_back(std::move(*d));
    return daemons_.back().get();
  }

  CliOptions Cli(const std::string& who, bool json) {
    CliOptions o;
    o.state_dir = dir_.Sub(who + "/state");
    o.json = json;
    return o;
  }

  // Under /tmp: the control socket's path must stay short, wherever Bazel
  // keeps its test folders.
  TempDir dir_{"/tmp"};
  MiniSupernode supernode_;
  RunningServer supernode_server_;
  std::string song_;
  std::vector<std::unique_ptr<PeerDaemon>> daemons_;
};

TEST_F(DaemonTest, SearchAndGetThroughTheCommandLine) {
  PeerDaemon* a = StartDaemon("a", true);
  PeerDaemon* b = StartDaemon("b", false);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(supernode_.FilesOf(a->peer_id()), 2);  // Start waits for it.

  // status --json
  std::ostringstream out, err;
  ASSERT_EQ(RunStatus(Cli("a", true), out, err), 0) << err.str();
  json status = json::parse(out.str());
  EXPECT_EQ(status["peer_id"], a->peer_id());
  EXPECT_EQ(status["supernode"], supernode_server_.address);
  EXPECT_TRUE(status["backup"].is_string());  // One supernode: none known.
  EXPECT_EQ(status["listen_address"], a->listen_address());
  EXPECT_EQ(status["shared_files"], 2);
  EXPECT_EQ(status["shared_bytes"], static_cast<int64_t>(song_.size()));
  // The share and the download folder.
  ASSERT_EQ(status["shares"].size(), 2u);
  EXPECT_EQ(status["shares"][1], a->download_dir());
  EXPECT_EQ(status["download_dir"], dir_.Sub("a/state/downloads"));
  EXPECT_EQ(status["downloads_shared"], true);
  EXPECT_EQ(status["hashing"], false);
  EXPECT_TRUE(status["transfers"].is_array());

  // search --json
  out.str("");
  SearchQuery q;
  q.set_text("rhapsody");
  ASSERT_EQ(RunSearch(Cli("b", true), q, false, 1, out, err), 0) << err.str();
  json found = json::parse(out.str());
  ASSERT_EQ(found["hits"].size(), 1u);
  std::string cid = found["hits"][0]["cid"];
  EXPECT_EQ(cid, HashBuffer(song_).cid);
  EXPECT_EQ(found["hits"][0]["name"], "Queen - Bohemian Rhapsody.mp3");
  EXPECT_EQ(found["hits"][0]["size"], static_cast<int64_t>(song_.size()));
  EXPECT_EQ(found["hits"][0]["source_count"], 1);
  EXPECT_TRUE(absl::StartsWith(std::string(found["hits"][0]["link"]),
                               "trove:" + cid + "?name=Queen%20-%20"));
  EXPECT_EQ(found["partial"], false);

  // get --json
  out.str("");
  GetArgs get;
  get.target = cid;
  get.out_dir = dir_.Sub("downloads");
  ASSERT_EQ(RunGet(Cli("b", true), get, out, err), 0) << err.str();
  std::vector<std::string> lines =
      absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  ASSERT_FALSE(lines.empty());
  json last = json::parse(lines.back());
  EXPECT_EQ(last["event"], "done");
  EXPECT_EQ(last["cid"], cid);
  EXPECT_EQ(last["name"], "Queen - Bohemian Rhapsody.mp3");
  EXPECT_EQ(last["size"], static_cast<int64_t>(song_.size()));
  EXPECT_EQ(last["done_bytes"], static_cast<int64_t>(song_.size()));
  std::string path = last["path"];
  EXPECT_EQ(path, dir_.Sub("downloads/Queen - Bohemian Rhapsody.mp3"));
  EXPECT_EQ(ReadTestFile(path), song_);
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    EXPECT_EQ(json::parse(lines[i])["event"], "progress") << lines[i];
  }

  // The same download again, into the same folder: it is there already;
  // nothing is fetched and no "NAME (1)" appears.
  out.str("");
  ASSERT_EQ(RunGet(Cli("b", false), get, out, err), 0) << err.str();
  EXPECT_EQ(out.str(), absl::StrCat("already there: ", path,
                                    " (2.0 MiB); nothing was fetched\n"));
  EXPECT_FALSE(PathExists(path + " (1)"));
}

TEST_F(DaemonTest, DownloadGoesToTheDownloadFolderAndIsSharedAtOnce) {
  PeerDaemon* a = StartDaemon("a", true);
  PeerDaemon* b = StartDaemon("b", false);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(supernode_.FilesOf(b->peer_id()), 0);
  std::ostringstream out, err;
  GetArgs get;
  get.target = HashBuffer(song_).cid;  // No folder: the daemon's.
  ASSERT_EQ(RunGet(Cli("b", true), get, out, err), 0) << err.str();
  std::vector<std::string> lines =
      absl::StrSplit(out.str(), '\n', absl::SkipEmpty());
  json done = json::parse(lines.back());
  ASSERT_EQ(done["event"], "done");
  EXPECT_EQ(done["path"],
            dir_.Sub("b/state/downloads/Queen - Bohemian Rhapsody.mp3"));
  // Who gave it: all of it from a, a complete source.
  ASSERT_EQ(done["received"].size(), 1u);
  EXPECT_EQ(done["received"][0]["peer_id"], a->peer_id());
  EXPECT_EQ(done["received"][0]["address"], a->listen_address());
  EXPECT_EQ(done["received"][0]["bytes"], static_cast<int64_t>(song_.size()));
  EXPECT_EQ(done["received"][0]["partial"], false);

  // Shared and published by b at once, without a rescan (an hour away).
  out.str("");
  ASSERT_EQ(RunStatus(Cli("b", true), out, err), 0) << err.str();
  EXPECT_EQ(json::parse(out.str())["shared_files"], 1);
  bool published = false;
  for (int i = 0; i < 200 && !published; ++i) {
    published = supernode_.FilesOf(b->peer_id()) == 1;
    if (!published) absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_TRUE(published);

  // a counts what it sent to b.
  out.str("");
  ASSERT_EQ(RunStatus(Cli("a", true), out, err), 0) << err.str();
  json sa = json::parse(out.str());
  ASSERT_EQ(sa["uploads"].size(), 1u);
  EXPECT_EQ(sa["uploads"][0]["peer_id"], b->peer_id());
  EXPECT_EQ(sa["uploads"][0]["cid"], HashBuffer(song_).cid);
  EXPECT_EQ(sa["uploads"][0]["bytes_sent"], static_cast<int64_t>(song_.size()));
}

TEST_F(DaemonTest, DownloadFolderNotSharedWhenAskedNotTo) {
  ASSERT_NE(StartDaemon("a", true), nullptr);
  DaemonOptions o = Options("b", false);
  o.share_downloads = false;
  o.download_dir = dir_.Sub("b/incoming");
  absl::StatusOr<std::unique_ptr<PeerDaemon>> b = PeerDaemon::Start(o);
  ASSERT_TRUE(b.ok()) << b.status();
  daemons_.push_back(std::move(*b));
  std::ostringstream out, err;
  GetArgs get;
  get.target = HashBuffer(song_).cid;
  ASSERT_EQ(RunGet(Cli("b", false), get, out, err), 0) << err.str();
  EXPECT_EQ(out.str(), absl::StrCat("saved ", dir_.Sub("b/incoming"),
                                    "/Queen - Bohemian Rhapsody.mp3 (2.0 MiB)\n"));
  out.str("");
  ASSERT_EQ(RunStatus(Cli("b", true), out, err), 0) << err.str();
  json st = json::parse(out.str());
  EXPECT_EQ(st["shared_files"], 0);
  EXPECT_EQ(st["downloads_shared"], false);
  EXPECT_TRUE(st["shares"].empty());
}

TEST_F(DaemonTest, GetOfAnUnknownCidFailsClearly) {
  ASSERT_NE(StartDaemon("b", false), nullptr);
  std::ostringstream out, err;
  GetArgs get;
  get.target = HashBuffer("nobody has this").cid;
  get.out_dir = dir_.Sub("downloads");
  EXPECT_EQ(RunGet(Cli("b", true), get, out, err), 1);
  json line = json::parse(out.str());
  EXPECT_EQ(line["event"], "error");
  EXPECT_EQ(line["code"], "NOT_FOUND");
  EXPECT_NE(err.str().find("no peer shares"), std::string::npos) << err.str();
}

TEST_F(DaemonTest, RescanPublishesNewFiles) {
  PeerDaemon* a = StartDaemon("a", true);
  ASSERT_NE(a, nullptr);
  WriteTestFile(dir_.Sub("a/share/new.txt"), "new file");
  std::ostringstream out, err;
  ASSERT_EQ(RunRescan(Cli("a", true), out, err), 0) << err.str();
  json r = json::parse(out.str());
  EXPECT_EQ(r["added"], 1);
  EXPECT_EQ(r["removed"], 0);
  EXPECT_EQ(supernode_.FilesOf(a->peer_id()), 3);
}

TEST_F(DaemonTest, OneDaemonPerStateFolder) {
  ASSERT_NE(StartDaemon("a", true), nullptr);
  absl::StatusOr<std::unique_ptr<PeerDaemon>> second =
      PeerDaemon::Start(Options("a", true));
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  // The first one still answers.
  std::ostringstream out, err;
  EXPECT_EQ(RunStatus(Cli("a", false), out, err), 0) << err.str();
  EXPECT_NE(out.str().find("2 files"), std::string::npos) << out.str();
}

TEST_F(DaemonTest, ShutdownLeavesAndRemovesTheSocket) {
  PeerDaemon* a = StartDaemon("a", true);
  ASSERT_NE(a, nullptr);
  a->Shutdown(absl::Seconds(1));
  EXPECT_EQ(supernode_.leaves_left(), 1);
  EXPECT_FALSE(PathExists(dir_.Sub("a/state/daemon.sock")));
  std::ostringstream out, err;
  EXPECT_EQ(RunStatus(Cli("a", false), out, err), 1);
  EXPECT_NE(err.str().find("no peer daemon is running"), std::string::npos)
      << err.str();
  // The identity stays.
  EXPECT_TRUE(PathExists(dir_.Sub("a/state/identity.pem")));
  PeerDaemon* again = StartDaemon("a", true);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->peer_id(), a->peer_id());
}

TEST_F(DaemonTest, StaleSocketIsReplaced) {
  WriteTestFile(dir_.Sub("a/state/daemon.sock"), "stale");
  ASSERT_NE(StartDaemon("a", true), nullptr);
  std::ostringstream out, err;
  EXPECT_EQ(RunStatus(Cli("a", true), out, err), 0) << err.str();
}

TEST_F(DaemonTest, MissingShareFolderIsAnErrorAtStart) {
  DaemonOptions o = Options("a", false);
  o.shares = {dir_.Sub("a/no-such-folder")};
  absl::StatusOr<std::unique_ptr<PeerDaemon>> d = PeerDaemon::Start(o);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(d.status().message().find("no-such-folder does not exist"),
            std::string::npos)
      << d.status();
  o.shares = {dir_.Sub("a/share/Queen - Bohemian Rhapsody.mp3")};
  d = PeerDaemon::Start(o);
  EXPECT_EQ(d.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(d.status().message().find("is not a folder"), std::string::npos);
}

// The last JSON line a verb printed.
json LastLine(const std::string& out) {
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  return lines.empty() ? json() : json::parse(lines.back());
}

TEST_F(DaemonTest, AddByHitNumberThenListPauseResumeAndWatch) {
  ASSERT_NE(StartDaemon("a", true), nullptr);
  ASSERT_NE(StartDaemon("b", false), nullptr);
  std::ostringstream out, err;
  // Slowly (256 KiB/s for 2 MiB), so that it can be paused on the way.
  control::LimitsRequest slow;
  slow.set_max_download_rate(256 << 10);
  ASSERT_EQ(RunLimits(Cli("b", true), slow, out, err), 0) << err.str();
  EXPECT_EQ(LastLine(out.str())["max_download_rate"], 256 << 10);

  // The hits are numbered and saved: `get 1` takes the first.
  out.str("");
  SearchQuery q;
  q.set_text("rhapsody");
  ASSERT_EQ(RunSearch(Cli("b", false), q, false, 1, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("  1  "), std::string::npos) << out.str();
  EXPECT_TRUE(PathExists(dir_.Sub("b/state/last_search.json")));
  out.str("");
  GetArgs add;
  add.target = "1";
  add.wait = false;
  ASSERT_EQ(RunGet(Cli("b", true), add, out, err), 0) << err.str();
  json added = LastLine(out.str());
  EXPECT_EQ(added["event"], "added");
  const std::string cid = HashBuffer(song_).cid;
  EXPECT_EQ(added["cid"], cid);

  // list --json shows it running.
  out.str("");
  ASSERT_EQ(RunList(Cli("b", true), out, err), 0) << err.str();
  json list = LastLine(out.str())["downloads"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["cid"], cid);
  EXPECT_NE(list[0]["state"], "done");

  // Paused by a prefix of its cid; it stays paused.
  out.str("");
  ASSERT_EQ(RunPause(Cli("b", true), {cid.substr(0, 8)}, false, out, err), 0)
      << err.str();
  EXPECT_EQ(LastLine(out.str())["downloads"][0]["state"], "paused");
  out.str("");
  ASSERT_EQ(RunList(Cli("b", false), out, err), 0) << err.str();
  EXPECT_NE(out.str().find("paused"), std::string::npos) << out.str();

  // Resumed (every paused one) and followed to the end, at full speed.
  control::LimitsRequest fast;
  fast.set_max_download_rate(0);
  ASSERT_EQ(RunLimits(Cli("b", true), fast, out, err), 0) << err.str();
  out.str("");
  ASSERT_EQ(RunResume(Cli("b", true), {}, true, out, err), 0) << err.str();
  out.str("");
  ASSERT_EQ(RunWatch(Cli("b", true), {cid}, out, err), 0) << err.str();
  json done = LastLine(out.str());
  EXPECT_EQ(done["event"], "done");
  EXPECT_EQ(ReadTestFile(done["path"]), song_);
}

TEST_F(DaemonTest, CancelAsksBeforeDeletingVerifiedData) {
  ASSERT_NE(StartDaemon("a", true), nullptr);
  ASSERT_NE(StartDaemon("b", false), nullptr);
  std::ostringstream out, err;
  control::LimitsRequest slow;
  // A chunk every two seconds: the first is verified well before the last.
  slow.set_max_download_rate(512 << 10);
  ASSERT_EQ(RunLimits(Cli("b", true), slow, out, err), 0) << err.str();
  const std::string cid = HashBuffer(song_).cid;
  GetArgs add;
  add.target = cid;
  add.wait = false;
  add.out_dir = dir_.Sub("dl");
  ASSERT_EQ(RunGet(Cli("b", true), add, out, err), 0) << err.str();
  // Until something is verified.
  bool some = false;
  for (int i = 0; i < 500 && !some; ++i) {
    out.str("");
    RunList(Cli("b", true), out, err);
    some = LastLine(out.str())["downloads"][0]["done_bytes"] > 0;
    if (!some) absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_TRUE(some);
  // No terminal to ask on: refused, nothing deleted.
  out.str("");
  err.str("");
  std::istringstream no_answer("");
  EXPECT_EQ(RunCancel(Cli("b", false), {cid}, false, no_answer, out, err), 2);
  EXPECT_NE(err.str().find("confirm with --yes"), std::string::npos) << err.str();
  EXPECT_TRUE(PathExists(dir_.Sub("dl/.Queen - Bohemian Rhapsody.mp3.trove-part")));
  // Asked, and told no.
  CliOptions asking = Cli("b", false);
  asking.interactive = true;
  std::istringstream no("n\n");
  err.str("");
  EXPECT_EQ(RunCancel(asking, {cid}, false, no, out, err), 1);
  EXPECT_NE(err.str().find("[y/N]"), std::string::npos) << err.str();
  EXPECT_TRUE(PathExists(dir_.Sub("dl/.Queen - Bohemian Rhapsody.mp3.trove-part")));
  // Asked, and told yes.
  std::istringstream yes("y\n");
  out.str("");
  EXPECT_EQ(RunCancel(asking, {cid}, false, yes, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("cancelled Queen - Bohemian Rhapsody.mp3"),
            std::string::npos)
      << out.str();
  EXPECT_FALSE(PathExists(dir_.Sub("dl/.Queen - Bohemian Rhapsody.mp3.trove-part")));
  out.str("");
  ASSERT_EQ(RunList(Cli("b", true), out, err), 0);
  EXPECT_TRUE(LastLine(out.str())["downloads"].empty());
}

TEST_F(DaemonTest, SecondGetIntoAnotherFolderIsRefused) {
  ASSERT_NE(StartDaemon("a", true), nullptr);
  ASSERT_NE(StartDaemon("b", false), nullptr);
  std::ostringstream out, err;
  control::LimitsRequest slow;
  slow.set_max_download_rate(64 << 10);
  ASSERT_EQ(RunLimits(Cli("b", true), slow, out, err), 0) << err.str();
  GetArgs add;
  add.target = HashBuffer(song_).cid;
  add.wait = false;
  add.out_dir = dir_.Sub("A");
  ASSERT_EQ(RunGet(Cli("b", true), add, out, err), 0) << err.str();
  add.out_dir = dir_.Sub("B");
  out.str("");
  err.str("");
  EXPECT_EQ(RunGet(Cli("b", true), add, out, err), 1);
  json e = LastLine(out.str());
  EXPECT_EQ(e["code"], "FAILED_PRECONDITION");
  EXPECT_NE(err.str().find("already being downloaded into " + dir_.Sub("A")),
            std::string::npos)
      << err.str();
}

TEST_F(DaemonTest, UnknownPrefixAndHitNumberAreUsageErrors) {
  ASSERT_NE(StartDaemon("b", false), nullptr);
  std::ostringstream out, err;
  GetArgs get;
  get.target = "7";
  EXPECT_EQ(RunGet(Cli("b", true), get, out, err), 2);
  EXPECT_EQ(LastLine(out.str())["code"], "INVALID_ARGUMENT");
  EXPECT_NE(err.str().find("run peer_client search first"), std::string::npos)
      << err.str();
  get.target = "abcd";
  out.str("");
  err.str("");
  EXPECT_EQ(RunGet(Cli("b", false), get, out, err), 2);
  EXPECT_NE(err.str().find("no cid of the last search or of the downloads "
                           "starts with abcd"),
            std::string::npos)
      << err.str();
  EXPECT_NE(err.str().find("--help"), std::string::npos) << err.str();
}

TEST_F(DaemonTest, ConfigShowsTheSettingsAndLimitsChanges) {
  DaemonOptions o = Options("a", true);
  o.config = [] {
    control::ConfigResponse r;
    r.set_text("max_uploads = 32\n");
    control::Setting* s = r.add_settings();
    s->set_name("max_uploads");
    s->set_value("32");
    return r;
  };
  control::Limits told;
  o.limits_changed = [&told](const control::Limits& l) { told = l; };
  absl::StatusOr<std::unique_ptr<PeerDaemon>> d = PeerDaemon::Start(o);
  ASSERT_TRUE(d.ok()) << d.status();
  daemons_.push_back(std::move(*d));
  std::ostringstream out, err;
  ASSERT_EQ(RunConfig(Cli("a", true), out, err), 0) << err.str();
  EXPECT_EQ(LastLine(out.str())["settings"]["max_uploads"], "32");
  out.str("");
  ASSERT_EQ(RunConfig(Cli("a", false), out, err), 0) << err.str();
  EXPECT_EQ(out.str(), "max_uploads = 32\n");
  control::LimitsRequest req;
  req.set_max_upload_rate(2 << 20);
  req.set_max_uploads(3);
  out.str("");
  ASSERT_EQ(RunLimits(Cli("a", false), req, out, err), 0) << err.str();
  EXPECT_NE(out.str().find("upload      2.0 MiB/s"), std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("3 peers"), std::string::npos) << out.str();
  EXPECT_EQ(told.max_upload_rate(), 2 << 20);
  EXPECT_EQ(told.max_uploads(), 3);
  EXPECT_EQ(daemons_.back()->rate_limiters()->upload.total_rate(), 2 << 20);
}

}  // namespace
}  // namespace trove
