// Swarming downloads over the real binaries: many sources at once, a source
// that dies, a source that sends corrupt data, a downloader killed half way
// and resumed, upload slots with a queue, and a flash crowd of downloaders
// of one capped seed trading chunks among themselves.

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/harness/cluster.h"

namespace trove {
namespace {

using ::testing::HasSubstr;
using testutil::ChildProcess;
using testutil::Cluster;
using testutil::CommandResult;
using testutil::PeerHandle;
using testutil::RunfilePath;
using testutil::SameFile;
using testutil::Slurp;
using testutil::WaitUntil;
using testutil::WriteRandomFile;

constexpr int64_t kMiB = 1 << 20;

class SwarmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Cluster>> c = Cluster::Create();
    ASSERT_TRUE(c.ok()) << c.status();
    cluster_ = std::move(*c);
    ASSERT_TRUE(cluster_->StartIndex().ok());
    absl::Status s = cluster_->StartSupernode();
    ASSERT_TRUE(s.ok()) << s;
    original_ = cluster_->work_dir() + "/original.bin";
    out_dir_ = cluster_->work_dir() + "/downloads";
    ASSERT_EQ(::mkdir(out_dir_.c_str(), 0755), 0);
  }

  void TearDown() override {
    if (HasFailure()) std::cerr << cluster_->LogTails();
  }

  PeerHandle* StartPeer(const std::string& name,
                        const std::vector<std::string>& flags = {}) {
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeer(name, flags);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : nullptr;
  }

  // A seeder sharing the original file (hard-linked into its share).
  PeerHandle* StartSeeder(const std::string& name,
                          const std::vector<std::string>& flags) {
    std::string share = cluster_->work_dir() + "/" + name + "-share";
    ::mkdir(share.c_str(), 0755);
    EXPECT_EQ(::link(original_.c_str(), (share + "/" + kName).c_str()), 0);
    return StartPeer(name, flags);
  }

  // Waits until `peer`'s search lists the file with `sources` sources.
  std::string WaitForSources(const PeerHandle& peer, int sources) {
    std::string cid;
    WaitUntil([&] {
      absl::StatusOr<nlohmann::json> j = cluster_->Search(peer, "swarm");
      if (!j.ok()) return false;
      for (const auto& hit : (*j)["hits"]) {
        if (hit.value("name", "") == kName &&
            hit.value("source_count", 0) == sources) {
          cid = hit.value("cid", "");
          return true;
        }
      }
      return false;
    });
    return cid;
  }

  // Starts `peer_client get CID --json` in the background.
  std::unique_ptr<ChildProcess> StartGet(const PeerHandle& peer,
                                         const std::string& cid,
                                         const std::string& log) {
    absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
        {RunfilePath("peer_client/peer_client"), "get", cid, "-o", out_dir_,
         "--json", "--state=" + peer.state_dir},
        log);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? std::move(*p) : nullptr;
  }

  // Bytes verified so far of the transfer in progress at `peer` (-1: none).
  int64_t DoneBytes(const PeerHandle& peer) {
    CommandResult r = cluster_->Cli(peer, {"status", "--json"});
    if (r.exit_code != 0) return -1;
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_discarded() || !j.contains("transfers") ||
        j["transfers"].empty()) {
      return -1;
    }
    return j["transfers"][0].value("done_bytes", int64_t{-1});
  }

  // The JSON lines a `get --json` wrote to `log`.
  static std::vector<nlohmann::json> JsonLines(const std::string& log) {
    std::vector<nlohmann::json> out;
    for (absl::string_view line : absl::StrSplit(Slurp(log), '\n')) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_discarded() && j.is_object()) out.push_back(j);
    }
    return out;
  }

  std::string PeerId(const PeerHandle& peer) {
    CommandResult r = cluster_->Cli(peer, {"status", "--json"});
    nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? "" : j.value("peer_id", "");
  }

  static constexpr char kName[] = "swarm_test_payload.bin";
  std::unique_ptr<Cluster> cluster_;
  std::string original_;
  std::string out_dir_;
};

TEST_F(SwarmTest, FourSourcesOneDiesOneLies) {
  ASSERT_TRUE(WriteRandomFile(original_, 64 * kMiB, 11).ok());
  // Upload limits stretch the transfer so that a source can die mid-way.
  const std::vector<std::string> slow = {"--max_upload_rate=4M"};
  std::vector<std::string> liar = slow;
  liar.push_back("--testonly_corrupt_chunks");
  PeerHandle* s1 = StartSeeder("s1", slow);
  PeerHandle* s2 = StartSeeder("s2", slow);
  PeerHandle* s3 = StartSeeder("s3", liar);
  PeerHandle* s4 = StartSeeder("s4", slow);
  PeerHandle* leech = StartPeer("leech");
  ASSERT_TRUE(s1 && s2 && s3 && s4 && leech);
  const std::string liar_id = PeerId(*s3);
  ASSERT_EQ(liar_id.size(), 64u);
  std::string cid = WaitForSources(*leech, 4);
  ASSERT_FALSE(cid.empty()) << "the four sources never showed up";

  const std::string log = cluster_->work_dir() + "/get.log";
  std::unique_ptr<ChildProcess> get = StartGet(*leech, cid, log);
  ASSERT_TRUE(get);
  ASSERT_TRUE(WaitUntil([&] { return DoneBytes(*leech) >= 12 * kMiB; },
                        absl::Seconds(60)))
      << "the download did not get going";
  s2->process->Signal(SIGKILL);  // dies mid-transfer

  absl::StatusOr<int> status = get->Wait(absl::Seconds(180));
  ASSERT_TRUE(status.ok()) << "get did not finish";
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << Slurp(log);
  EXPECT_TRUE(SameFile(original_, out_dir_ + "/" + kName));

  std::vector<nlohmann::json> lines = JsonLines(log);
  ASSERT_FALSE(lines.empty());
  const nlohmann::json& done = lines.back();
  EXPECT_EQ(done.value("event", ""), "done") << done.dump();
  EXPECT_GE(done.value("bad_sources", 0), 1) << done.dump();
  int max_sources = 0;
  for (const auto& l : lines) max_sources = std::max(max_sources, l.value("sources", 0));
  EXPECT_GE(max_sources, 3) << "never fetched from several sources at once";
  // The liar was reported to the supernode.
  EXPECT_THAT(Slurp(cluster_->work_dir() + "/supernode.log"),
              HasSubstr("reports bad data from " + liar_id));
}

TEST_F(SwarmTest, DownloaderKilledHalfWayResumesAndCatchesTampering) {
  constexpr int64_t kChunks = 64;
  ASSERT_TRUE(WriteRandomFile(original_, kChunks * kMiB, 12).ok());
  PeerHandle* seeder = StartSeeder("seeder", {"--max_upload_rate=8M"});
  // A small, known in-flight window: 2 requests of 4 chunks; chunks in
  // index order (one extent), so that the tampered chunks below are among
  // the verified ones.
  const std::vector<std::string> leech_flags = {
      "--chunks_per_request=4", "--streams_per_source=2",
      "--extent_chunks=1024"};
  PeerHandle* leech = StartPeer("leech", leech_flags);
  ASSERT_TRUE(seeder && leech);
  std::string cid = WaitForSources(*leech, 1);
  ASSERT_FALSE(cid.empty());

  std::unique_ptr<ChildProcess> get =
      StartGet(*leech, cid, cluster_->work_dir() + "/get1.log");
  ASSERT_TRUE(get);
  int64_t done_at_kill = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        done_at_kill = DoneBytes(*leech);
        return done_at_kill >= kChunks * kMiB / 2;
      },
      absl::Seconds(60)));
  leech->process->Signal(SIGKILL);
  ASSERT_TRUE(leech->process->Wait(absl::Seconds(10)).ok());
  get->Wait(absl::Seconds(30)).IgnoreError();

  // While the daemon is down, someone scribbles on the partial file.
  const std::string part = out_dir_ + "/." + kName + ".trove-part";
  int fd = ::open(part.c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << "no partial file at " << part;
  for (int64_t offset : {int64_t{100}, 5 * kMiB + 7}) {
    char c = 0;
    ASSERT_EQ(::pread(fd, &c, 1, offset), 1);
    c ^= 0x5a;
    ASSERT_EQ(::pwrite(fd, &c, 1, offset), 1);
  }
  ::close(fd);

  // Start again: the daemon resumes by itself; `get` attaches to it.
  absl::StatusOr<PeerHandle*> again = cluster_->StartPeer("leech", leech_flags);
  ASSERT_TRUE(again.ok()) << again.status();
  const std::string log2 = cluster_->work_dir() + "/get2.log";
  get = StartGet(*leech, cid, log2);
  ASSERT_TRUE(get);
  absl::StatusOr<int> status = get->Wait(absl::Seconds(180));
  ASSERT_TRUE(status.ok());
  ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << Slurp(log2);
  // Identical bytes: the two tampered chunks were caught and fetched again.
  EXPECT_TRUE(SameFile(original_, out_dir_ + "/" + kName));

  std::vector<nlohmann::json> lines = JsonLines(log2);
  ASSERT_FALSE(lines.empty());
  const nlohmann::json& done = lines.back();
  ASSERT_EQ(done.value("event", ""), "done") << done.dump();
  const int64_t resumed = done.value("chunks_resumed", int64_t{-1});
  const int64_t fetched = done.value("chunks_fetched", int64_t{-1});
  // What was verified before the kill, less the in-flight window (8 chunks),
  // a journal flush's worth (8 more) and the two tampered chunks, was kept.
  const int64_t verified_before = done_at_kill / kMiB;
  EXPECT_GE(resumed, verified_before - 8 - 8 - 2) << done.dump();
  EXPECT_LE(resumed, kChunks - 2) << "tampered chunks were trusted";
  // Only the rest was fetched again (plus at most the endgame's duplicates).
  EXPECT_LE(fetched, kChunks - resumed + 8) << done.dump();
  EXPECT_GE(fetched, kChunks - resumed) << done.dump();
}

TEST_F(SwarmTest, OneUploadSlotQueuesTheOthers) {
  // 32 MiB at 8 MB/s (with one second of burst): each download takes a few
  // seconds, so the others are still waiting while one is served.
  ASSERT_TRUE(WriteRandomFile(original_, 32 * kMiB, 13).ok());
  PeerHandle* seeder =
      StartSeeder("seeder", {"--max_uploads=1", "--max_upload_rate=8M"});
  ASSERT_TRUE(seeder);
  std::vector<PeerHandle*> leeches;
  for (const char* name : {"first", "d1", "d2", "d3"}) {
    leeches.push_back(StartPeer(name));
    ASSERT_TRUE(leeches.back());
  }
  std::string cid = WaitForSources(*leeches[0], 1);
  ASSERT_FALSE(cid.empty());

  // "first" takes the only slot; then three downloaders arrive together.
  std::vector<std::unique_ptr<ChildProcess>> gets;
  std::vector<std::string> logs;
  for (size_t i = 0; i < leeches.size(); ++i) {
    logs.push_back(cluster_->work_dir() + "/get-" + leeches[i]->name + ".log");
    // Separate folders: each leech saves its own copy.
    std::string dir = out_dir_ + "/" + leeches[i]->name;
    ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0);
    absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
        {RunfilePath("peer_client/peer_client"), "get", cid, "-o", dir,
         "--json", "--state=" + leeches[i]->state_dir},
        logs.back());
    ASSERT_TRUE(p.ok());
    gets.push_back(std::move(*p));
    if (i == 0) {
      ASSERT_TRUE(WaitUntil([&] { return DoneBytes(*leeches[0]) > 0; },
                            absl::Seconds(60)));
    }
  }
  for (size_t i = 0; i < gets.size(); ++i) {
    absl::StatusOr<int> status = gets[i]->Wait(absl::Seconds(180));
    ASSERT_TRUE(status.ok()) << leeches[i]->name << " did not finish";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << Slurp(logs[i]);
    EXPECT_TRUE(SameFile(original_, out_dir_ + "/" + leeches[i]->name + "/" +
                                        kName));
  }
  // Each of the three that arrived while the slot was taken was told its
  // place in the queue.
  for (size_t i = 1; i < gets.size(); ++i) {
    int best = 0;
    for (const auto& l : JsonLines(logs[i])) {
      int q = l.value("queue_position", 0);
      if (q > 0 && (best == 0 || q < best)) best = q;
    }
    EXPECT_GE(best, 1) << leeches[i]->name << " never saw a queue place";
  }
}

TEST_F(SwarmTest, FlashCrowdTradesAmongItselfWhatTheCappedSeedSent) {
  // 24 MiB from a seed capped at 4 MiB/s: six seconds for one copy, so the
  // seed alone could not serve three downloaders in less than eighteen.
  constexpr int64_t kSize = 24 * kMiB;
  ASSERT_TRUE(WriteRandomFile(original_, kSize, 14).ok());
  PeerHandle* seeder = StartSeeder("seeder", {"--max_upload_rate=4M"});
  ASSERT_TRUE(seeder);
  const std::vector<std::string> names = {"d1", "d2", "d3"};
  std::vector<PeerHandle*> crowd;
  std::map<std::string, std::string> ids;  // peer id -> name
  for (const std::string& name : names) {
    crowd.push_back(StartPeer(name));
    ASSERT_TRUE(crowd.back());
    ids[PeerId(*crowd.back())] = name;
  }
  ASSERT_EQ(ids.size(), 3u);
  std::string cid = WaitForSources(*crowd[0], 1);
  ASSERT_FALSE(cid.empty());

  // All three start together, each into its daemon's download folder.
  std::vector<std::unique_ptr<ChildProcess>> gets;
  std::vector<std::string> logs;
  for (PeerHandle* peer : crowd) {
    logs.push_back(cluster_->work_dir() + "/get-" + peer->name + ".log");
    absl::StatusOr<std::unique_ptr<ChildProcess>> p = ChildProcess::Start(
        {RunfilePath("peer_client/peer_client"), "get", cid, "--json",
         "--state=" + peer->state_dir},
        logs.back());
    ASSERT_TRUE(p.ok()) << p.status();
    gets.push_back(std::move(*p));
  }
  for (size_t i = 0; i < gets.size(); ++i) {
    absl::StatusOr<int> status = gets[i]->Wait(absl::Seconds(180));
    ASSERT_TRUE(status.ok()) << names[i] << " did not finish";
    ASSERT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << Slurp(logs[i]);
  }
  for (size_t i = 0; i < crowd.size(); ++i) {
    std::vector<nlohmann::json> lines = JsonLines(logs[i]);
    ASSERT_FALSE(lines.empty());
    const nlohmann::json& done = lines.back();
    ASSERT_EQ(done.value("event", ""), "done") << done.dump();
    const std::string path = done.value("path", "");
    EXPECT_EQ(path, crowd[i]->state_dir + "/downloads/" + kName);
    EXPECT_TRUE(SameFile(original_, path)) << names[i];
    // Who gave what, from the per-source byte counts.
    int64_t from_crowd = 0, from_seed = 0, total = 0;
    for (const auto& r : done["received"]) {
      const int64_t bytes = r.value("bytes", int64_t{0});
      const std::string peer = r.value("peer_id", "");
      total += bytes;
      if (ids.count(peer) != 0 && ids[peer] != names[i]) {
        from_crowd += bytes;
        EXPECT_TRUE(r.value("partial", false)) << r.dump();
      } else if (peer == PeerId(*seeder)) {
        from_seed += bytes;
        EXPECT_FALSE(r.value("partial", true)) << r.dump();
      }
    }
    std::cerr << names[i] << ": " << from_seed << " bytes from the seed, "
              << from_crowd << " from the other downloaders\n";
    EXPECT_EQ(total, kSize) << done.dump();
    EXPECT_EQ(from_seed + from_crowd, kSize) << done.dump();
    EXPECT_GE(from_crowd, kSize / 4)
        << names[i] << " got only " << from_crowd
        << " bytes from the other downloaders: " << done.dump();
  }
  // The seed's own count of what it sent, per downloader.
  CommandResult st = cluster_->Cli(*seeder, {"status", "--json"});
  ASSERT_EQ(st.exit_code, 0) << st.err;
  nlohmann::json seed_status = nlohmann::json::parse(st.out, nullptr, false);
  int64_t seed_sent = 0;
  for (const auto& u : seed_status["uploads"]) {
    EXPECT_EQ(u.value("cid", ""), cid);
    EXPECT_EQ(ids.count(u.value("peer_id", "")), 1u) << u.dump();
    seed_sent += u.value("bytes_sent", int64_t{0});
  }
  std::cerr << "the seed sent " << seed_sent << " bytes\n";
  EXPECT_GE(seed_sent, kSize);  // At least one copy left the seed...
  EXPECT_LT(seed_sent, 2 * kSize) << "...but not one per downloader";
  // Each completed copy is a full source at once (its download folder is
  // shared): the seed and the three.
  EXPECT_FALSE(WaitForSources(*seeder, 4).empty());
}

}  // namespace
}  // namespace trove
