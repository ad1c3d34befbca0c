// Everyday use over the real binaries: downloads that belong to the daemon
// (get that detaches, add, list, watch, pause, resume, cancel, across a
// daemon restart), a download whose sources go away, one added before the
// daemon joined, links, hit numbers and cid prefixes, JSON and usage errors
// for every verb, the config file and limits changed at run time,
// --on_complete, and the defects of that area (a dead supernode seen as
// joined, the daemon blamed for the supernode, the same file fetched twice,
// a second folder silently ignored, part-file names in errors, a missing
// share folder).

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <iostream>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "protos/index.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using nlohmann::json;
using testutil::ChildProcess;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunCommand;
using testutil::RunfilePath;
using testutil::SameFile;
using testutil::Slurp;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

constexpr int64_t kMiB = 1 << 20;

bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

// The last line of `out` as JSON (null when there is none or it is not
// JSON).
json LastJson(const std::string& out) {
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipEmpty());
  if (lines.empty()) return json();
  return json::parse(lines.back(), nullptr, /*allow_exceptions=*/false);
}

// A port nothing listens on now.
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class EverydayTest : public testutil::ClusterTest {
 protected:
  // Writes `size` random bytes (from `seed`) elsewhere and moves them to
  // `path` in one step, so that a daemon scanning that folder never sees
  // the file half written (and never announces a cid of half of it).
  absl::Status ShareFile(const std::string& path, int64_t size, int seed) {
    const std::string staged = cluster_->work_dir() + "/staged.tmp";
    absl::Status s = WriteRandomFile(staged, size, seed);
    if (!s.ok()) return s;
    if (::rename(staged.c_str(), path.c_str()) != 0) {
      return absl::InternalError("cannot move " + staged + " to " + path);
    }
    return absl::OkStatus();
  }

  void StartNetwork(const std::vector<std::string>& supernode_flags = {}) {
    ASSERT_TRUE(cluster_->StartIndex().ok());
    absl::Status s = cluster_->StartSupernode(supernode_flags);
    ASSERT_TRUE(s.ok()) << s;
  }

  PeerHandle* StartPeer(const std::string& name,
                        const std::vector<std::string>& flags = {}) {
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeer(name, flags);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : nullptr;
  }

  CommandResult Cli(const PeerHandle& peer, std::vector<std::string> args) {
    return cluster_->Cli(peer, std::move(args), absl::Seconds(120));
  }

  // Waits until a search from `peer` finds `name`; its cid.
  std::string WaitForCid(const PeerHandle& peer, const std::string& query,
                         const std::string& name) {
    std::string cid;
    WaitUntil([&] {
      cid = cluster_->FindCid(peer, query, name);
      return !cid.empty();
    });
    return cid;
  }

  // `list --json` of `peer`: its download of `cid` (null when none).
  json Download(const PeerHandle& peer, const std::string& cid) {
    CommandResult r = Cli(peer, {"list", "--json"});
    json list = LastJson(r.out);
    if (!list.is_object() || !list.contains("downloads")) return json();
    for (const json& d : list["downloads"]) {
      if (d["cid"] == cid) return d;
    }
    return json();
  }

  // Waits until `pred` holds for the download of `cid` at `peer`; the last
  // one seen.
  json WaitForDownload(const PeerHandle& peer, const std::string& cid,
                       const std::function<bool(const json&)>& pred,
                       absl::Duration timeout = absl::Seconds(60)) {
    json d;
    WaitUntil(
        [&] {
          d = Download(peer, cid);
          return !d.is_null() && pred(d);
        },
        timeout);
    return d;
  }

  // Stops `peer` with SIGTERM and starts it again with `flags`.
  PeerHandle* Restart(PeerHandle* peer, const std::vector<std::string>& flags) {
    EXPECT_EQ(peer->process->Stop(), 0);
    return StartPeer(peer->name, flags);
  }
};

TEST_F(EverydayTest, GetDetachesOnInterruptAndTheDownloadGoesOn) {
  StartNetwork();
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b", {"--max_download_rate=1M"});
  ASSERT_TRUE(a && b);
  const std::string file = a->share_dir + "/big.bin";
  ASSERT_TRUE(ShareFile(file, 6 * kMiB, 1).ok());
  const std::string cid = WaitForCid(*b, "big", "big.bin");
  ASSERT_FALSE(cid.empty());

  const std::string log = cluster_->work_dir() + "/get.log";
  absl::StatusOr<std::unique_ptr<ChildProcess>> get = ChildProcess::Start(
      {RunfilePath("peer_client/peer_client"), "get", cid,
       "--state=" + b->state_dir},
      log);
  ASSERT_TRUE(get.ok()) << get.status();
  json d = WaitForDownload(*b, cid, [](const json& d) {
    return d["done_bytes"].get<int64_t>() > 0;
  });
  ASSERT_FALSE(d.is_null());
  (*get)->Signal(SIGINT);
  absl::StatusOr<int> status = (*get)->Wait(absl::Seconds(30));
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 130);
  EXPECT_THAT(Slurp(log), HasSubstr("detached: the download goes on in the daemon"));

  // Still there, still going.
  d = Download(*b, cid);
  ASSERT_FALSE(d.is_null());
  EXPECT_NE(d["state"], "cancelled");
  EXPECT_NE(d["state"], "done");
  EXPECT_TRUE(Exists(b->state_dir + "/downloads/.big.bin.trove-part"));
  // Followed again by a prefix of its cid, to the end.
  CommandResult w = Cli(*b, {"watch", cid.substr(0, 10)});
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_THAT(w.out, HasSubstr("saved " + b->state_dir + "/downloads/big.bin"));
  EXPECT_TRUE(SameFile(file, b->state_dir + "/downloads/big.bin"));
}

TEST_F(EverydayTest, AddPausePersistsAcrossRestartResumeAndCancel) {
  StartNetwork();
  PeerHandle* a = StartPeer("a");
  const std::vector<std::string> slow = {"--max_download_rate=512k"};
  PeerHandle* b = StartPeer("b", slow);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ShareFile(a->share_dir + "/x_film.mkv", 4 * kMiB, 2).ok());
  ASSERT_TRUE(ShareFile(a->share_dir + "/y_film.mkv", 4 * kMiB, 3).ok());
  const std::string x = WaitForCid(*b, "x_film", "x_film.mkv");
  const std::string y = WaitForCid(*b, "y_film", "y_film.mkv");
  ASSERT_FALSE(x.empty() || y.empty());

  CommandResult r = Cli(*b, {"add", x, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(LastJson(r.out)["event"], "added");
  r = Cli(*b, {"add", y, "--paused"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("added y_film.mkv"));
  EXPECT_THAT(r.out, HasSubstr("paused"));

  json dx = WaitForDownload(*b, x, [](const json& d) {
    return d["done_bytes"].get<int64_t>() > 0;
  });
  r = Cli(*b, {"pause", x.substr(0, 8)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("paused x_film.mkv"));
  r = Cli(*b, {"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("x_film.mkv"));
  EXPECT_THAT(r.out, HasSubstr("paused"));
  const int64_t kept = Download(*b, x)["done_bytes"];
  EXPECT_GT(kept, 0);

  // Paused stays paused across a restart, with what it had.
  b = Restart(b, slow);
  ASSERT_TRUE(b);
  json px = Download(*b, x);
  json py = Download(*b, y);
  ASSERT_FALSE(px.is_null());
  ASSERT_FALSE(py.is_null());
  EXPECT_EQ(px["state"], "paused");
  EXPECT_EQ(py["state"], "paused");
  EXPECT_GE(px["done_bytes"].get<int64_t>(), kept);
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Download(*b, x)["done_bytes"], px["done_bytes"]);  // Not running.

  r = Cli(*b, {"resume", "--all", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(LastJson(r.out)["downloads"].size(), 2u);

  // Cancel asks before deleting verified data; without a terminal it
  // needs --yes.
  WaitForDownload(*b, y, [](const json& d) {
    return d["done_bytes"].get<int64_t>() > 0;
  });
  r = Cli(*b, {"cancel", y});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("confirm with --yes"));
  EXPECT_TRUE(Exists(b->state_dir + "/downloads/.y_film.mkv.trove-part"));
  r = Cli(*b, {"cancel", y, "--yes"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cancelled y_film.mkv"));
  EXPECT_FALSE(Exists(b->state_dir + "/downloads/.y_film.mkv.trove-part"));
  EXPECT_TRUE(Download(*b, y).is_null());

  r = Cli(*b, {"limits", "--down=0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli(*b, {"watch", x, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json done = LastJson(r.out);
  EXPECT_EQ(done["event"], "done");
  EXPECT_GE(done["chunks_resumed"].get<int64_t>(), 1);
  EXPECT_TRUE(SameFile(a->share_dir + "/x_film.mkv", done["path"].get<std::string>()));
}

TEST_F(EverydayTest, AllSourcesGoneTheDownloadWaitsAndKeepsItsData) {
  StartNetwork();
  // The source sends 1 MiB/s (a downloader's own limit would not do: what
  // the source sent before dying would still arrive).
  PeerHandle* a = StartPeer("a", {"--max_upload_rate=1M"});
  PeerHandle* b = StartPeer("b", {"--relocate_backoff_max_ms=1000",
                                  "--source_retry_ms=500"});
  ASSERT_TRUE(a && b);
  const std::string file = a->share_dir + "/only_copy.bin";
  ASSERT_TRUE(ShareFile(file, 6 * kMiB, 4).ok());
  const std::string cid = WaitForCid(*b, "only_copy", "only_copy.bin");
  ASSERT_FALSE(cid.empty());
  CommandResult r = Cli(*b, {"add", cid});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  WaitForDownload(*b, cid, [](const json& d) {
    return d["done_bytes"].get<int64_t>() >= kMiB;
  });

  // The only source dies.
  a->process->Signal(SIGKILL);
  ASSERT_TRUE(a->process->Wait(absl::Seconds(10)).ok());
  json d = WaitForDownload(*b, cid, [](const json& d) {
    return d["state"] == "waiting_for_sources";
  });
  ASSERT_EQ(d["state"], "waiting_for_sources") << d.dump();
  EXPECT_THAT(d["detail"].get<std::string>(), HasSubstr("looking again in"));
  const int64_t kept = d["done_bytes"];
  EXPECT_GE(kept, kMiB);
  const std::string part = b->state_dir + "/downloads/.only_copy.bin.trove-part";
  EXPECT_TRUE(Exists(part));
  // It keeps waiting and keeps everything.
  absl::SleepFor(absl::Seconds(3));
  d = Download(*b, cid);
  EXPECT_EQ(d["state"], "waiting_for_sources");
  EXPECT_EQ(d["done_bytes"], kept);
  EXPECT_TRUE(Exists(part));
  CommandResult st = Cli(*b, {"status"});
  EXPECT_THAT(st.out, HasSubstr("waiting for sources"));

  // The source comes back: the download finds it and finishes.
  a = StartPeer("a", {"--max_upload_rate=1M"});
  ASSERT_TRUE(a);
  r = Cli(*b, {"watch", cid, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json done = LastJson(r.out);
  EXPECT_EQ(done["event"], "done");
  EXPECT_TRUE(SameFile(file, done["path"].get<std::string>()));
}

TEST_F(EverydayTest, DownloadAddedBeforeTheJoinWaitsAndSupernodeIsBlamedNotTheDaemon) {
  ASSERT_TRUE(cluster_->StartIndex().ok());
  const std::string supernode = absl::StrCat("127.0.0.1:", FreePort());
  PeerHandle* b = StartPeer("b", {"--supernode=" + supernode,
                                  "--first_publish_wait_ms=200",
                                  "--max_backoff_ms=1000"});
  ASSERT_TRUE(b);
  // Not joined, and status says why. Attempts come a second apart, so the
  // status is read until it shows the wait between two of them.
  CommandResult r;
  json st;
  EXPECT_TRUE(WaitUntil(
      [&] {
        r = Cli(*b, {"status"});
        st = LastJson(Cli(*b, {"status", "--json"}).out);
        return r.exit_code == 0 && st.is_object() &&
               absl::StrContains(r.out, "retrying in") &&
               absl::StrContains(st["join_status"].get<std::string>(),
                                 "retrying in");
      },
      absl::Seconds(15)))
      << r.out << "\n" << st.dump();
  EXPECT_THAT(r.out, HasSubstr("not joined: no supernode reachable (" + supernode));
  EXPECT_EQ(st["supernode"], "");
  EXPECT_THAT(st["join_status"].get<std::string>(),
              HasSubstr("no supernode reachable (" + supernode));
  // A search blames the supernode, not the daemon.
  r = Cli(*b, {"search", "anything"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("not joined to a supernode"));
  EXPECT_THAT(r.err, Not(HasSubstr("peer daemon")));

  // A download added now waits for the network.
  const std::string share = cluster_->work_dir() + "/a-share";
  ::mkdir(share.c_str(), 0755);
  const std::string file = share + "/early.bin";
  ASSERT_TRUE(ShareFile(file, 3 * kMiB + 5, 5).ok());
  absl::StatusOr<FileHashes> h = HashFile(file);
  ASSERT_TRUE(h.ok());
  r = Cli(*b, {"add", h->cid, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(LastJson(r.out)["state"], "waiting_for_network");

  // The supernode and a source arrive: it goes on by itself.
  absl::Status s = cluster_->StartSupernode({"--listen=" + supernode});
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_TRUE(StartPeer("a"));
  r = Cli(*b, {"watch", h->cid});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(SameFile(file, b->state_dir + "/downloads/early.bin"));
}

TEST_F(EverydayTest, DeadSupernodeIsNoticedAtOnceNotAtTheNextHeartbeat) {
  // Heartbeats a minute apart: only the dropped connection can tell.
  StartNetwork({"--heartbeat_interval_ms=60000", "--session_timeout_ms=120000"});
  PeerHandle* a = StartPeer("a");
  ASSERT_TRUE(a);
  json st = LastJson(Cli(*a, {"status", "--json"}).out);
  ASSERT_EQ(st["supernode"], cluster_->supernode_address());
  cluster_->supernode()->Signal(SIGKILL);
  ASSERT_TRUE(cluster_->supernode()->Wait(absl::Seconds(10)).ok());
  const absl::Time killed = absl::Now();
  EXPECT_TRUE(WaitUntil(
      [&] {
        st = LastJson(Cli(*a, {"status", "--json"}).out);
        return st.is_object() && st["supernode"] == "";
      },
      absl::Seconds(10)));
  EXPECT_LT(absl::Now() - killed, absl::Seconds(10));
  EXPECT_THAT(st["join_status"].get<std::string>(),
              HasSubstr("no supernode reachable"));
}

TEST_F(EverydayTest, LinksHitNumbersAndCidPrefixes) {
  StartNetwork();
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ShareFile(a->share_dir + "/Song One.mp3", 300000, 6).ok());
  ASSERT_TRUE(ShareFile(a->share_dir + "/Song Two.ogg", 200000, 7).ok());
  ASSERT_FALSE(WaitForCid(*b, "song", "Song One.mp3").empty());
  ASSERT_FALSE(WaitForCid(*b, "song", "Song Two.ogg").empty());
  const std::string work = cluster_->work_dir();

  CommandResult r = Cli(*b, {"search", "song", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json hits = LastJson(r.out)["hits"];
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_EQ(hits[0]["number"], 1);
  EXPECT_EQ(hits[1]["number"], 2);
  r = Cli(*b, {"search", "song"});
  EXPECT_THAT(r.out, HasSubstr("  1  "));
  EXPECT_THAT(r.out, HasSubstr("  2  "));
  r = Cli(*b, {"search", "song", "--links"});
  EXPECT_THAT(r.out, HasSubstr("trove:"));
  EXPECT_THAT(r.out, HasSubstr("?name=Song%20One.mp3&size=300000"));

  // The second hit of the last search, by its number.
  r = Cli(*b, {"get", "2", "-o", work + "/n"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string second = hits[1]["name"];
  EXPECT_TRUE(SameFile(a->share_dir + "/" + second, work + "/n/" + second));
  // The first, by the first digits of its cid.
  const std::string first = hits[0]["name"];
  const std::string first_cid = hits[0]["cid"];
  r = Cli(*b, {"get", first_cid.substr(0, 8), "-o", work + "/p"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(SameFile(a->share_dir + "/" + first, work + "/p/" + first));
  r = Cli(*b, {"get", "9"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("the last search had 2 hits"));

  // Links: the scheme in any case; a size or name that disagrees is refused.
  const std::string one = WaitForCid(*b, "song", "Song One.mp3");
  r = Cli(*b, {"get", "TROVE:" + one + "?name=Song%20One.mp3&size=300000", "-o",
               work + "/l"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(SameFile(a->share_dir + "/Song One.mp3", work + "/l/Song One.mp3"));
  r = Cli(*b, {"get", "trove:" + one + "?name=Song%20One.mp3&size=5", "-o",
               work + "/bad"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("the link says the file has 5 bytes"));
  r = Cli(*b, {"get", "trove:" + one + "?name=Holiday.jpg&size=300000", "-o",
               work + "/bad", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(LastJson(r.out)["code"], "INVALID_ARGUMENT");
  EXPECT_THAT(r.err, HasSubstr("the link names the file 'Holiday.jpg'"));
  EXPECT_FALSE(Exists(work + "/bad/Holiday.jpg"));
}

TEST_F(EverydayTest, SameFileTwiceIntoOneFolderAndAnotherFolderWhileRunning) {
  StartNetwork();
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ShareFile(a->share_dir + "/twice.bin", 3 * kMiB, 8).ok());
  ASSERT_TRUE(ShareFile(a->share_dir + "/slow.bin", 4 * kMiB, 9).ok());
  ASSERT_TRUE(ShareFile(a->share_dir + "/blocked.bin", 100000, 10).ok());
  const std::string twice = WaitForCid(*b, "twice", "twice.bin");
  const std::string slow = WaitForCid(*b, "slow", "slow.bin");
  const std::string blocked = WaitForCid(*b, "blocked", "blocked.bin");
  ASSERT_FALSE(twice.empty() || slow.empty() || blocked.empty());
  const std::string d = cluster_->work_dir() + "/d";

  CommandResult r = Cli(*b, {"get", twice, "-o", d});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli(*b, {"get", twice, "-o", d});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("already there: " + d + "/twice.bin"));
  // Also after a restart (the daemon no longer remembers the first).
  b = Restart(b, {});
  ASSERT_TRUE(b);
  r = Cli(*b, {"get", twice, "-o", d, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(LastJson(r.out)["already_there"], true);
  EXPECT_FALSE(Exists(d + "/twice.bin (1)"));
  EXPECT_TRUE(SameFile(a->share_dir + "/twice.bin", d + "/twice.bin"));

  // Into another folder while it runs into the first: refused, not ignored.
  r = Cli(*b, {"limits", "--down=256k"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli(*b, {"add", slow, "-o", cluster_->work_dir() + "/A"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Cli(*b, {"get", slow, "-o", cluster_->work_dir() + "/B"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("already being downloaded into " +
                               cluster_->work_dir() + "/A"));
  EXPECT_FALSE(Exists(cluster_->work_dir() + "/B/.slow.bin.trove-part"));

  // Errors name the file, not the hidden part file.
  const std::string h = cluster_->work_dir() + "/h";
  ASSERT_EQ(::mkdir(h.c_str(), 0755), 0);
  ASSERT_EQ(::mkdir((h + "/.blocked.bin.trove-part").c_str(), 0755), 0);
  r = Cli(*b, {"limits", "--down=0"});
  r = Cli(*b, {"get", blocked, "-o", h});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("blocked.bin in " + h));
  EXPECT_THAT(r.err, Not(HasSubstr("trove-part")));
}

TEST_F(EverydayTest, EveryVerbSpeaksJsonAndUsageErrorsExitTwo) {
  StartNetwork();
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(b);
  const std::vector<std::vector<std::string>> usage = {
      {"get"},          {"add"},          {"search"},
      {"pause"},        {"resume"},       {"cancel"},
      {"watch", "a", "b"}, {"list", "extra"}, {"status", "--bogus"},
      {"limits", "--up=fast"}, {"config", "x"}, {"rescan", "x"},
      {"get", "not-a-cid"}, {"frobnicate"},  {"search", "x", "--limit=-3"}};
  for (const std::vector<std::string>& args : usage) {
    std::vector<std::string> with = args;
    with.push_back("--json");
    CommandResult r = Cli(*b, with);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    json e = LastJson(r.out);
    EXPECT_EQ(e["event"], "error") << args[0] << ": " << r.out;
    EXPECT_EQ(e["code"], "INVALID_ARGUMENT") << args[0];
    EXPECT_THAT(e["hint"].get<std::string>(), HasSubstr("--help")) << args[0];
    EXPECT_THAT(r.err, HasSubstr("--help")) << args[0];
  }
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"list"}, {"status"}, {"rescan"},
                                             {"config"}, {"limits"},
                                             {"search", "nothing-here"},
                                             {"pause", "--all"}}) {
    std::vector<std::string> with = args;
    with.push_back("--json");
    CommandResult r = Cli(*b, with);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
    EXPECT_TRUE(LastJson(r.out).is_object()) << args[0] << ": " << r.out;
  }
  // Without a daemon: an error, as JSON too.
  CommandResult r = RunCommand({RunfilePath("peer_client/peer_client"), "list",
                                "--json",
                                "--state=" + cluster_->work_dir() + "/nobody"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(LastJson(r.out)["code"], "FAILED_PRECONDITION");
  // Every verb explains itself.
  for (const char* verb : {"daemon", "search", "get", "add", "list", "watch",
                           "pause", "resume", "cancel", "status", "rescan",
                           "config", "limits"}) {
    r = RunCommand({RunfilePath("peer_client/peer_client"), verb, "--help"});
    EXPECT_EQ(r.exit_code, 0) << verb;
    EXPECT_THAT(r.out, HasSubstr(std::string("peer_client ") + verb)) << verb;
  }
}

TEST_F(EverydayTest, ConfigFileAndLimitsChangedWhileTransfersRun) {
  StartNetwork();
  PeerHandle* a = StartPeer("a", {"--max_upload_rate=256k"});
  ASSERT_TRUE(a);
  // b's settings come from its state folder's config file.
  const std::string b_state = cluster_->work_dir() + "/b-state";
  ASSERT_EQ(::mkdir(b_state.c_str(), 0700), 0);
  {
    std::ofstream config(b_state + "/config");
    config << "# set by hand\nmax_uploads = 7   # a few\nmax_upload_queue = 55\n";
  }
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(b);
  CommandResult r = Cli(*b, {"config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("max_uploads = 7\n"));
  r = Cli(*b, {"config", "--json"});
  json settings = LastJson(r.out)["settings"];
  EXPECT_EQ(settings["max_uploads"], "7");
  EXPECT_EQ(settings["max_upload_queue"], "55");
  // Verbs' own flags are not daemon settings.
  EXPECT_FALSE(settings.contains("yes"));
  EXPECT_FALSE(settings.contains("json"));

  // At 256 KiB/s, 8 MiB take more than 30 s; lifted while running, the
  // same transfer finishes well before.
  ASSERT_TRUE(ShareFile(a->share_dir + "/capped.bin", 8 * kMiB, 11).ok());
  const std::string cid = WaitForCid(*b, "capped", "capped.bin");
  ASSERT_FALSE(cid.empty());
  r = Cli(*b, {"add", cid});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  WaitForDownload(*b, cid, [](const json& d) {
    return d["done_bytes"].get<int64_t>() > 0;
  });
  const absl::Time lifted = absl::Now();
  r = Cli(*a, {"limits", "--up=0", "--slots=3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("upload      unlimited"));
  EXPECT_THAT(r.out, HasSubstr("3 peers"));
  r = Cli(*b, {"watch", cid, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_LT(absl::Now() - lifted, absl::Seconds(25));
  json done = LastJson(r.out);
  EXPECT_TRUE(SameFile(a->share_dir + "/capped.bin", done["path"].get<std::string>()));
  // And `config` shows the limits now in force.
  settings = LastJson(Cli(*a, {"config", "--json"}).out)["settings"];
  EXPECT_EQ(settings["max_upload_rate"], "0");
  EXPECT_EQ(settings["max_uploads"], "3");
  r = Cli(*a, {"limits", "--json"});
  EXPECT_EQ(LastJson(r.out)["max_uploads"], 3);
}

TEST_F(EverydayTest, OnCompleteRunsTheProgramWithThePathAndNoShell) {
  StartNetwork();
  const std::string work = cluster_->work_dir();
  const std::string hook = work + "/hook.sh";
  const std::string out = work + "/hook.out";
  {
    std::ofstream f(hook);
    f << "#!/bin/sh\n"
      << "for a in \"$@\"; do printf 'arg=%s\\n' \"$a\"; done > " << out << ".tmp\n"
      << "env | grep '^TROVE_' | sort >> " << out << ".tmp\n"
      << "mv " << out << ".tmp " << out << "\n";
  }
  ASSERT_EQ(::chmod(hook.c_str(), 0755), 0);
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b", {"--on_complete=" + hook + " --done"});
  ASSERT_TRUE(a && b);
  const std::string name = "a $(touch pwned) `touch pwned2`.txt";
  ASSERT_TRUE(ShareFile(a->share_dir + "/" + name, 5000, 12).ok());
  const std::string cid = WaitForCid(*b, "pwned", name);
  ASSERT_FALSE(cid.empty());
  CommandResult r = Cli(*b, {"get", cid});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(WaitUntil([&] { return Exists(out); }, absl::Seconds(20)));
  const std::string got = Slurp(out);
  const std::string path = b->state_dir + "/downloads/" + name;
  EXPECT_THAT(got, HasSubstr("arg=--done\narg=" + path + "\n"));
  EXPECT_THAT(got, HasSubstr("TROVE_CID=" + cid));
  EXPECT_THAT(got, HasSubstr("TROVE_NAME=" + name));
  EXPECT_THAT(got, HasSubstr("TROVE_SIZE=5000"));
  EXPECT_FALSE(Exists(b->state_dir + "/downloads/pwned"));
  EXPECT_FALSE(Exists(work + "/pwned"));
  EXPECT_FALSE(Exists("pwned"));

  // A share folder that is not there is an error at start.
  r = RunCommand({RunfilePath("peer_client/peer_client"), "daemon",
                  "--supernode=" + cluster_->supernode_address(),
                  "--share=" + work + "/no-such-folder", "--insecure",
                  "--state=" + work + "/c-state"},
                 absl::Seconds(60));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("no-such-folder does not exist"));
}

// The names of the hits of `search --json` output.
std::vector<std::string> HitNames(const std::string& out) {
  std::vector<std::string> names;
  json doc = LastJson(out);
  if (!doc.is_object() || !doc["hits"].is_array()) return names;
  for (const json& h : doc["hits"]) names.push_back(h["name"]);
  return names;
}

TEST_F(EverydayTest, SearchSortsPagesExcludesPhrasesAndKindsAlikeWithoutTheIndex) {
  StartNetwork();
  PeerHandle* a = StartPeer("a");
  PeerHandle* b = StartPeer("b");
  ASSERT_TRUE(a && b);
  // Sizes all differ, so that --sort=size has one answer.
  const std::vector<std::pair<std::string, int64_t>> files = {
      {"live at leeds.mp3", 7000},     {"leeds live.mp3", 6000},
      {"live in tokyo.flac", 5000},    {"live at wembley.mkv", 9000},
      {"live bootleg.zip", 3000},      {"live at leeds notes.pdf", 4000},
      {"studio live at home.ogg", 8000}};
  int seed = 20;
  for (const auto& [name, size] : files) {
    ASSERT_TRUE(ShareFile(a->share_dir + "/" + name, size, seed++).ok());
  }
  for (const auto& [name, size] : files) {
    ASSERT_FALSE(WaitForCid(*b, "live", name).empty()) << name;
  }
  using ::testing::ElementsAre;
  using ::testing::UnorderedElementsAre;
  auto names = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "search");
    args.push_back("--json");
    CommandResult r = Cli(*b, args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return HitNames(r.out);
  };
  struct Case {
    std::vector<std::string> args;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {{"live", "--sort=size"},
       {"live at wembley.mkv", "studio live at home.ogg", "live at leeds.mp3",
        "leeds live.mp3", "live in tokyo.flac", "live at leeds notes.pdf",
        "live bootleg.zip"}},
      {{"live", "--sort=size", "--reverse", "--limit=2"},
       {"live bootleg.zip", "live at leeds notes.pdf"}},
      {{"live", "--sort=size", "--reverse", "--limit=2", "--page=2"},
       {"live in tokyo.flac", "leeds live.mp3"}},
      {{"live", "--sort=size", "--reverse", "--limit=2", "--page=4"},
       {"live at wembley.mkv"}},
      {{"live", "--sort=name", "-at"},
       {"leeds live.mp3", "live bootleg.zip", "live in tokyo.flac"}},
      {{"\"live at leeds\"", "--sort=name"},
       {"live at leeds notes.pdf", "live at leeds.mp3"}},
      {{"live", "--kind=audio", "--sort=name"},
       {"leeds live.mp3", "live at leeds.mp3", "live in tokyo.flac",
        "studio live at home.ogg"}},
      {{"live", "--kind=video", "--ext=zip", "--sort=name"},
       {"live at wembley.mkv", "live bootleg.zip"}},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(names(c.args), ::testing::ContainerEq(c.want))
        << absl::StrJoin(c.args, " ");
  }
  // Hit numbers go on across pages, and `get` takes them.
  CommandResult r = Cli(*b, {"search", "live", "--sort=size", "--reverse",
                             "--limit=2", "--page=2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("  3  "));
  EXPECT_THAT(r.out, HasSubstr("  4  "));
  EXPECT_THAT(r.out, HasSubstr("--page=3"));
  r = Cli(*b, {"get", "4", "-o", cluster_->work_dir() + "/p"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(SameFile(a->share_dir + "/leeds live.mp3",
                       cluster_->work_dir() + "/p/leeds live.mp3"));
  // A cursor from --json continues where that page ended.
  r = Cli(*b, {"search", "live", "--sort=size", "--limit=3", "--json"});
  const std::string cursor = LastJson(r.out)["next_cursor"];
  ASSERT_FALSE(cursor.empty());
  EXPECT_THAT(names({"live", "--sort=size", "--limit=3", "--cursor=" + cursor}),
              ElementsAre("leeds live.mp3", "live in tokyo.flac",
                          "live at leeds notes.pdf"));
  r = Cli(*b, {"search", "live", "--kind=sound"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown --kind 'sound'"));
  r = Cli(*b, {"search", "live", "--limit=2", "--page=9"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("there is no page 9"));

  // The index goes away: the supernode gives the same hits, in the same
  // order, from its leaves.
  EXPECT_EQ(cluster_->index()->Stop(), 0);
  for (const Case& c : cases) {
    std::vector<std::string> args = c.args;
    args.insert(args.begin(), "search");
    args.push_back("--json");
    CommandResult r = Cli(*b, args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(LastJson(r.out)["partial"], true);
    EXPECT_THAT(HitNames(r.out), ::testing::ContainerEq(c.want))
        << "without the index: " << absl::StrJoin(c.args, " ");
  }
}

TEST_F(EverydayTest, SupernodeStoppedWithSigtermLeavesTheIndexAtOnce) {
  // The lease is a minute: only leaving can make it go sooner.
  ASSERT_TRUE(cluster_->StartIndex({"--lease_seconds=60"}).ok());
  ASSERT_TRUE(cluster_->StartSupernode().ok());
  PeerHandle* a = StartPeer("a");
  ASSERT_TRUE(a);
  ASSERT_TRUE(ShareFile(a->share_dir + "/leaving.bin", 1000, 13).ok());
  const std::string cid = WaitForCid(*a, "leaving", "leaving.bin");
  ASSERT_FALSE(cid.empty());
  auto index = index::IndexService::NewStub(MakeChannel(cluster_->index_address()));
  auto bootstrap = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    index::BootstrapResponse response;
    grpc::Status s = index->Bootstrap(&context, index::BootstrapRequest(), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.supernodes_size();
  };
  auto locate = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    index::LocateRequest request;
    request.set_cid(cid);
    index::LocateResponse response;
    return index->Locate(&context, request, &response).error_code();
  };
  ASSERT_TRUE(WaitUntil([&] { return locate() == grpc::StatusCode::OK; }));
  ASSERT_EQ(bootstrap(), 1);

  const absl::Time stopped = absl::Now();
  EXPECT_EQ(cluster_->supernode()->Stop(), 0);
  EXPECT_TRUE(WaitUntil([&] { return bootstrap() == 0; }, absl::Seconds(10)));
  EXPECT_EQ(locate(), grpc::StatusCode::NOT_FOUND);
  EXPECT_LT(absl::Now() - stopped, absl::Seconds(20));
}

}  // namespace
}  // namespace trove
