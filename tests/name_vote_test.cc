// The name a file shows is not decided by newcomers, over the real
// binaries (index_server, supernode, peer_client daemons, PostgreSQL, TLS
// as by default): one long-standing peer shares a file as moonlight.iso,
// then two freshly joined peers share the same bytes as
// zz_trojan_setup_moonlight.exe. Searches at the index and through the
// supernode show moonlight.iso for that cid (a search for "trojan" finds
// the cid by its other name, showing the established one), and still do
// after the index restarts and rebuilds its memory from PostgreSQL.
//
// "Established" is made reachable in test time with
// --established_after_seconds on the index and the supernode.

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/server_util.h"
#include "gtest/gtest.h"
#include "protos/index.grpc.pb.h"
#include "tests/harness/cluster_fixture.h"

namespace trove {
namespace {

using testutil::PeerHandle;
using testutil::WaitUntil;

// How long a peer must have been known to be established, here. Long
// enough for the newcomers' part of the test (two peers starting, the
// index restarting) to fit well inside it on a busy machine.
constexpr int kEstablishedAfterSeconds = 40;

constexpr char kRealName[] = "moonlight.iso";
constexpr char kFakeName[] = "zz_trojan_setup_moonlight.exe";

class NameVoteTest : public testutil::ClusterTest {
 protected:
  std::vector<std::string> Flags() const {
    return {absl::StrCat("--established_after_seconds=",
                         kEstablishedAfterSeconds)};
  }

  // Starts a peer sharing the file's bytes under `name`.
  PeerHandle* StartSharing(const std::string& peer, const std::string& name) {
    const std::string share = absl::StrCat(cluster_->work_dir(), "/", peer,
                                           "-share");
    ::mkdir(share.c_str(), 0755);
    std::ofstream(absl::StrCat(share, "/", name))
        << "an installation image of Moonlight, 1.0\n"
        << std::string(4096, 'm');
    absl::StatusOr<PeerHandle*> p = cluster_->StartPeer(peer);
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *p : nullptr;
  }

  // The index's hit for `cid` in a search for `text`; an empty hit when it
  // has none.
  SearchHit IndexHit(const std::string& text, const std::string& cid) {
    auto stub =
        index::IndexService::NewStub(MakeChannel(cluster_->index_address()));
    index::SearchRequest request;
    request.mutable_query()->set_text(text);
    index::SearchResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(10));
    grpc::Status s = stub->Search(&ctx, request, &response);
    if (!s.ok()) return SearchHit();
    for (const SearchHit& h : response.hits()) {
      if (h.cid() == cid) return h;
    }
    return SearchHit();
  }

  // The name the supernode shows for `cid` to `peer` searching `text` ("":
  // not found).
  std::string SupernodeName(const PeerHandle& peer, const std::string& text,
                            const std::string& cid) {
    absl::StatusOr<nlohmann::json> j = cluster_->Search(peer, text);
    EXPECT_TRUE(j.ok()) << j.status();
    if (!j.ok() || !j->contains("hits")) return "";
    for (const auto& hit : (*j)["hits"]) {
      if (hit.value("cid", "") == cid) return hit.value("name", "");
    }
    return "";
  }

  // Every check of what the newcomers could not change.
  void ExpectEstablishedNameShows(const PeerHandle& asker,
                                  const std::string& cid,
                                  const std::string& when) {
    SCOPED_TRACE(when);
    const SearchHit by_word = IndexHit("moonlight", cid);
    EXPECT_EQ(by_word.name(), kRealName);
    EXPECT_EQ(by_word.source_count(), 3);
    // The other name finds the cid, which shows its established name.
    const SearchHit by_other = IndexHit("trojan", cid);
    EXPECT_EQ(by_other.cid(), cid);
    EXPECT_EQ(by_other.name(), kRealName);
    EXPECT_EQ(SupernodeName(asker, "moonlight", cid), kRealName);
    EXPECT_EQ(SupernodeName(asker, "trojan", cid), kRealName);
  }
};

TEST_F(NameVoteTest, NewcomersCannotRenameALongStandingSourcesFile) {
  ASSERT_TRUE(cluster_->StartIndex(Flags()).ok());
  ASSERT_TRUE(cluster_->StartSupernode(Flags()).ok());

  PeerHandle* old = StartSharing("old", kRealName);
  ASSERT_NE(old, nullptr);
  std::string cid;
  ASSERT_TRUE(WaitUntil([&] {
    cid = cluster_->FindCid(*old, "moonlight", kRealName);
    return !cid.empty();
  }));
  // The index knew the old peer by now: it is established once this long
  // has passed.
  const absl::Time old_known = absl::Now();
  absl::SleepFor(old_known + absl::Seconds(kEstablishedAfterSeconds + 1) -
                 absl::Now());

  // Two peers that have only just joined announce the cid under another
  // name; they became known no earlier than this.
  const absl::Time newcomers_known = absl::Now();
  PeerHandle* t1 = StartSharing("t1", kFakeName);
  ASSERT_NE(t1, nullptr);
  PeerHandle* t2 = StartSharing("t2", kFakeName);
  ASSERT_NE(t2, nullptr);
  ASSERT_TRUE(WaitUntil([&] {
    return IndexHit("trojan", cid).source_count() == 3;
  })) << "the index never counted the two newcomers' sources";
  ExpectEstablishedNameShows(*t1, cid, "newcomers just announced");

  // A restart rebuilds the same from PostgreSQL: the known-since times
  // are durable.
  const std::string address = cluster_->index_address();
  ASSERT_EQ(cluster_->index()->Stop(), 0);
  ASSERT_TRUE(cluster_->StartIndex(Flags(), address).ok());
  ASSERT_TRUE(WaitUntil([&] {
    return IndexHit("moonlight", cid).source_count() == 3;
  })) << "the restarted index did not answer with the three sources";
  ExpectEstablishedNameShows(*t2, cid, "after the index restarted");

  // All of that happened while the two were still newcomers, or it would
  // prove nothing.
  EXPECT_LT(absl::Now() - newcomers_known,
            absl::Seconds(kEstablishedAfterSeconds))
      << "too slow: the newcomers came of age during the test";
}

}  // namespace
}  // namespace trove
