#include "supernode/leaf_registry.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/identity.h"
#include "common/join_auth.h"
#include "common/join_work.h"
#include "common/signed_change.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/ids.h"

namespace trove {
namespace supernode {
namespace {

using ::testing::HasSubstr;

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

using testutil::NewIdentity;

class RecordingSink : public CatalogSink {
 public:
  void OnPeerDelta(index::PeerDelta delta) override {
    deltas.push_back(std::move(delta));
  }
  std::vector<index::PeerDelta> deltas;
};

std::string Cid(int n) {
  std::string hex = absl::StrCat(absl::Hex(n, absl::kZeroPad8));
  return std::string(64 - hex.size(), 'c') + hex;
}

FileEntry File(int cid, const std::string& name, int64_t size = 100) {
  FileEntry e;
  e.set_cid(Cid(cid));
  e.set_name(name);
  e.set_size(size);
  return e;
}

std::vector<std::string> Cids(
    const google::protobuf::RepeatedPtrField<FileEntry>& files) {
  std::vector<std::string> out;
  for (const FileEntry& f : files) out.push_back(f.cid());
  return out;
}

class LeafRegistryTest : public ::testing::Test {
 protected:
  LeafRegistryTest() { Reset(LeafRegistry::Options()); }

  void Reset(LeafRegistry::Options options) {
    options.challenge_ttl = absl::Seconds(10);
    options.session_timeout = absl::Seconds(30);
    options_ = options;
    sink_ = RecordingSink();
    registry_ = std::make_unique<LeafRegistry>(options_, &clock_, &sink_);
  }

  JoinRequest SignedJoin(const Identity& identity,
                         const std::string& address = "127.0.0.1:7000",
                         const std::string& asker = "") {
    JoinRequest req;
    req.set_public_key(identity.public_key());
    req.set_nonce(registry_->Challenge(asker).value());
    req.set_listen_address(address);
    req.set_signature(
        identity.Sign(JoinSignedMessage(req.nonce(), address)).value());
    return req;
  }

  // Joins a new identity; returns its session.
  std::string JoinNew(std::unique_ptr<Identity>* out = nullptr,
                      const std::string& address = "127.0.0.1:7000") {
    std::unique_ptr<Identity> identity = NewIdentity();
    absl::StatusOr<LeafRegistry::JoinResult> r =
        registry_->Join(SignedJoin(*identity, address));
    EXPECT_TRUE(r.ok()) << r.status();
    if (out != nullptr) *out = std::move(identity);
    return r.ok() ? r->session : "";
  }

  absl::StatusOr<int> Publish(const std::string& session, bool full,
                              std::vector<FileEntry> added,
                              std::vector<std::string> removed = {},
                              std::vector<FileEntry> partial = {}) {
    supernode::PublishRequest req;
    req.set_session(session);
    req.set_full(full);
    for (FileEntry& e : added) *req.add_added() = e;
    for (std::string& c : removed) req.add_removed(c);
    for (FileEntry& e : partial) *req.add_partial() = e;
    return registry_->Publish(req);
  }

  std::vector<SearchHit> Search(const std::string& text) {
    SearchQuery q;
    q.set_text(text);
    absl::StatusOr<search::SearchPage> page =
        registry_->Search(*search::ParseQuery(q, 100, 100));
    EXPECT_TRUE(page.ok()) << page.status();
    return page.ok() ? page->hits : std::vector<SearchHit>();
  }

  FakeClock clock_;
  LeafRegistry::Options options_;
  RecordingSink sink_;
  std::unique_ptr<LeafRegistry> registry_;
};

TEST_F(LeafRegistryTest, JoinWithGoodSignature) {
  std::unique_ptr<Identity> identity = NewIdentity();
  absl::StatusOr<LeafRegistry::JoinResult> r =
      registry_->Join(SignedJoin(*identity));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->peer_id, identity->peer_id());
  EXPECT_EQ(r->session.size(), 32u);
  EXPECT_EQ(registry_->leaf_count(), 1);
  std::optional<LeafRegistry::LeafInfo> leaf =
      registry_->GetLeaf(identity->peer_id());
  ASSERT_TRUE(leaf.has_value());
  EXPECT_EQ(leaf->address, "127.0.0.1:7000");
  EXPECT_TRUE(registry_->Heartbeat(r->session).ok());
  EXPECT_EQ(registry_->PeerOfSession(r->session).value(), identity->peer_id());
}

// A leaf the index has known for long, joined here just now: once the
// index says so, its files vote on names as an established peer's and its
// age is the index's.
TEST_F(LeafRegistryTest, LearnsHowLongTheIndexKnewALeaf) {
  LeafRegistry::Options options;
  options.index.establish_after = absl::Hours(1);
  Reset(options);
  std::unique_ptr<Identity> mover;
  const std::string session = JoinNew(&mover, "127.0.0.1:7001");
  ASSERT_TRUE(Publish(session, true, {File(1, "moonlight.iso")}).ok());
  for (int i = 0; i < 2; ++i) {
    const std::string newcomer =
        JoinNew(nullptr, absl::StrCat("127.0.0.1:710", i));
    ASSERT_TRUE(
        Publish(newcomer, true, {File(1, "zz_trojan_setup_moonlight.exe")})
            .ok());
  }
  // All newcomers here: two names against one.
  ASSERT_THAT(Search("moonlight"), SizeIs(1));
  EXPECT_EQ(Search("moonlight")[0].name(), "zz_trojan_setup_moonlight.exe");
  const absl::Time joined = registry_->GetLeaf(mover->peer_id())->joined;
  EXPECT_EQ(registry_->GetLeaf(mover->peer_id())->known_since, joined);

  const absl::Time long_ago = clock_.Now() - absl::Hours(30);
  EXPECT_TRUE(registry_->LearnKnownSince(mover->peer_id(), long_ago));
  EXPECT_EQ(registry_->GetLeaf(mover->peer_id())->known_since, long_ago);
  EXPECT_EQ(registry_->GetLeaf(mover->peer_id())->joined, joined);
  EXPECT_EQ(Search("moonlight")[0].name(), "moonlight.iso");
  // Only ever earlier; a later or future time, or a peer not joined here,
  // changes nothing.
  EXPECT_FALSE(registry_->LearnKnownSince(mover->peer_id(),
                                          long_ago + absl::Hours(1)));
  EXPECT_FALSE(registry_->LearnKnownSince(mover->peer_id(),
                                          clock_.Now() + absl::Hours(5)));
  EXPECT_EQ(registry_->GetLeaf(mover->peer_id())->known_since, long_ago);
  EXPECT_FALSE(registry_->LearnKnownSince(std::string(64, 'e'), long_ago));
}

TEST_F(LeafRegistryTest, NoncesAreRandom) {
  std::string a = registry_->Challenge().value();
  std::string b = registry_->Challenge().value();
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, b);
}

TEST_F(LeafRegistryTest, BadSignatureIsRefused) {
  std::unique_ptr<Identity> identity = NewIdentity();
  JoinRequest req = SignedJoin(*identity);
  // Signed for another address than the one claimed.
  req.set_listen_address("10.0.0.1:7000");
  EXPECT_EQ(registry_->Join(req).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(registry_->leaf_count(), 0);
}

TEST_F(LeafRegistryTest, SignatureOfAnotherKeyIsRefused) {
  std::unique_ptr<Identity> identity = NewIdentity();
  std::unique_ptr<Identity> other = NewIdentity();
  JoinRequest req = SignedJoin(*identity);
  req.set_public_key(other->public_key());
  EXPECT_EQ(registry_->Join(req).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(LeafRegistryTest, ReusedSignatureIsRefused) {
  std::unique_ptr<Identity> identity = NewIdentity();
  JoinRequest req = SignedJoin(*identity);
  ASSERT_TRUE(registry_->Join(req).ok());
  EXPECT_EQ(registry_->Join(req).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(LeafRegistryTest, FailedJoinUsesUpTheNonce) {
  std::unique_ptr<Identity> identity = NewIdentity();
  JoinRequest req = SignedJoin(*identity);
  JoinRequest bad = req;
  bad.set_signature(std::string(64, 'x'));
  EXPECT_EQ(registry_->Join(bad).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(registry_->Join(req).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(LeafRegistryTest, UnknownAndExpiredNoncesAreRefused) {
  std::unique_ptr<Identity> identity = NewIdentity();
  JoinRequest req = SignedJoin(*identity);
  JoinRequest unknown = req;
  unknown.set_nonce(std::string(32, 'n'));
  EXPECT_EQ(registry_->Join(unknown).status().code(),
            absl::StatusCode::kUnauthenticated);
  clock_.Advance(absl::Seconds(11));
  EXPECT_EQ(registry_->Join(req).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(LeafRegistryTest, WrongLengthKeyIsInvalid) {
  std::unique_ptr<Identity> identity = NewIdentity();
  JoinRequest req = SignedJoin(*identity);
  req.set_public_key("short");
  EXPECT_EQ(registry_->Join(req).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LeafRegistryTest, AFloodOfChallengesCannotEvictOthersNonces) {
  LeafRegistry::Options options;
  options.max_pending_challenges = 8;
  options.max_challenges_per_asker = 3;
  Reset(options);
  std::unique_ptr<Identity> honest = NewIdentity();
  JoinRequest pending = SignedJoin(*honest, "127.0.0.1:7000", "10.0.0.1");
  // One address asking again and again only replaces its own nonces.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(registry_->Challenge("10.6.6.6").ok());
  }
  EXPECT_EQ(registry_->pending_challenges(), 4u);
  // Many addresses fill the table: new challenges are refused, saying when
  // to retry, and no pending one goes.
  int refused = 0;
  std::string message;
  for (int i = 0; i < 20; ++i) {
    absl::StatusOr<std::string> n =
        registry_->Challenge(absl::StrCat("10.7.0.", i));
    if (!n.ok()) {
      EXPECT_EQ(n.status().code(), absl::StatusCode::kResourceExhausted);
      message = std::string(n.status().message());
      ++refused;
    }
  }
  EXPECT_EQ(refused, 16);
  EXPECT_THAT(message, HasSubstr("join challenges pending"));
  EXPECT_THAT(message, HasSubstr("retry in 10 s"));
  EXPECT_EQ(registry_->pending_challenges(), 8u);
  // The honest leaf's nonce still works.
  EXPECT_TRUE(registry_->Join(pending).ok());
  // Once the flood's nonces expire, challenges are handed out again.
  clock_.Advance(absl::Seconds(11));
  EXPECT_TRUE(registry_->Challenge("10.7.0.1").ok());
  EXPECT_EQ(registry_->pending_challenges(), 1u);
}

TEST_F(LeafRegistryTest, AJoinMustCarryTheProofOfWorkAskedFor) {
  LeafRegistry::Options options;
  options.join_work_bits = 10;
  Reset(options);
  EXPECT_EQ(registry_->join_work_bits(), 10);
  std::unique_ptr<Identity> identity = NewIdentity();
  JoinRequest lazy = SignedJoin(*identity);
  absl::StatusOr<LeafRegistry::JoinResult> r = registry_->Join(lazy);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("proof of work"));
  // Work for another nonce, or for another key, does not count.
  JoinRequest borrowed = SignedJoin(*identity);
  borrowed.set_work(SolveJoinWork(std::string(32, 'x'), identity->public_key(), 10));
  EXPECT_EQ(registry_->Join(borrowed).status().code(),
            absl::StatusCode::kPermissionDenied);
  JoinRequest done = SignedJoin(*identity);
  done.set_work(SolveJoinWork(done.nonce(), done.public_key(), 10));
  EXPECT_TRUE(registry_->Join(done).ok());
  EXPECT_EQ(registry_->leaf_count(), 1);
}

TEST_F(LeafRegistryTest, AnAskersOwnOldestNonceGoesFirst) {
  LeafRegistry::Options options;
  options.max_challenges_per_asker = 2;
  Reset(options);
  std::unique_ptr<Identity> identity = NewIdentity();
  JoinRequest first = SignedJoin(*identity, "127.0.0.1:7000", "10.0.0.1");
  JoinRequest second = SignedJoin(*identity, "127.0.0.1:7000", "10.0.0.1");
  ASSERT_TRUE(registry_->Challenge("10.0.0.1").ok());
  EXPECT_EQ(registry_->Join(first).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(registry_->Join(second).ok());
}

TEST_F(LeafRegistryTest, MaxLeaves) {
  LeafRegistry::Options options;
  options.max_leaves = 2;
  Reset(options);
  std::unique_ptr<Identity> a;
  JoinNew(&a);
  JoinNew();
  std::unique_ptr<Identity> c = NewIdentity();
  EXPECT_EQ(registry_->Join(SignedJoin(*c)).status().code(),
            absl::StatusCode::kResourceExhausted);
  // A leaf already joined may join again.
  EXPECT_TRUE(registry_->Join(SignedJoin(*a)).ok());
  // A silent leaf makes room.
  clock_.Advance(absl::Seconds(31));
  EXPECT_TRUE(registry_->Join(SignedJoin(*c)).ok());
}

TEST_F(LeafRegistryTest, RejoinReplacesSession) {
  std::unique_ptr<Identity> identity;
  std::string old_session = JoinNew(&identity);
  ASSERT_TRUE(Publish(old_session, true, {File(1, "song.mp3")}).ok());
  absl::StatusOr<LeafRegistry::JoinResult> again =
      registry_->Join(SignedJoin(*identity));
  ASSERT_TRUE(again.ok());
  EXPECT_NE(again->session, old_session);
  EXPECT_EQ(registry_->Heartbeat(old_session).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry_->Heartbeat(again->session).ok());
  EXPECT_EQ(registry_->leaf_count(), 1);
  // Files stay until the leaf publishes again.
  EXPECT_THAT(Search("song"), SizeIs(1));
}

TEST_F(LeafRegistryTest, RejoinFromNewAddressResendsList) {
  std::unique_ptr<Identity> identity;
  std::string s = JoinNew(&identity, "127.0.0.1:7000");
  ASSERT_TRUE(Publish(s, true, {File(1, "song.mp3")}).ok());
  sink_.deltas.clear();
  ASSERT_TRUE(registry_->Join(SignedJoin(*identity, "127.0.0.1:7001")).ok());
  ASSERT_THAT(sink_.deltas, SizeIs(1));
  EXPECT_TRUE(sink_.deltas[0].full());
  EXPECT_EQ(sink_.deltas[0].address(), "127.0.0.1:7001");
  EXPECT_THAT(Cids(sink_.deltas[0].added()), ElementsAre(Cid(1)));
  std::optional<LeafRegistry::LocalSources> src = registry_->Locate(Cid(1));
  ASSERT_TRUE(src.has_value());
  EXPECT_EQ(src->sources[0].address(), "127.0.0.1:7001");
}

TEST_F(LeafRegistryTest, TimeoutDropsLeafAndWithdrawsFiles) {
  std::unique_ptr<Identity> identity;
  std::string s = JoinNew(&identity);
  ASSERT_TRUE(Publish(s, true, {File(1, "song.mp3")}).ok());
  clock_.Advance(absl::Seconds(20));
  EXPECT_TRUE(registry_->Heartbeat(s).ok());
  clock_.Advance(absl::Seconds(20));
  EXPECT_EQ(registry_->ExpireIdle(), 0);  // the heartbeat kept it alive
  clock_.Advance(absl::Seconds(11));
  EXPECT_EQ(registry_->ExpireIdle(), 1);
  EXPECT_EQ(registry_->leaf_count(), 0);
  EXPECT_THAT(Search("song"), IsEmpty());
  EXPECT_FALSE(registry_->Locate(Cid(1)).has_value());
  EXPECT_EQ(registry_->Heartbeat(s).status().code(), absl::StatusCode::kNotFound);
  ASSERT_FALSE(sink_.deltas.empty());
  EXPECT_TRUE(sink_.deltas.back().gone());
  EXPECT_EQ(sink_.deltas.back().peer_id(), identity->peer_id());
}

TEST_F(LeafRegistryTest, ExpiredSessionIsRefusedBeforeTheSweep) {
  std::string s = JoinNew();
  ASSERT_TRUE(Publish(s, true, {File(1, "song.mp3")}).ok());
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(registry_->Heartbeat(s).status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Search("song"), IsEmpty());
  EXPECT_TRUE(sink_.deltas.back().gone());
}

TEST_F(LeafRegistryTest, PublishUnknownSession) {
  EXPECT_EQ(Publish("nope", true, {File(1, "a.mp3")}).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(LeafRegistryTest, FullListReplaces) {
  std::string s = JoinNew();
  ASSERT_EQ(Publish(s, true, {File(1, "one.mp3"), File(2, "two.mp3")}).value(),
            2);
  ASSERT_EQ(Publish(s, true, {File(2, "two.mp3"), File(3, "three.mp3")})
                .value(),
            2);
  EXPECT_THAT(Search("one"), IsEmpty());
  EXPECT_THAT(Search("three"), SizeIs(1));
  ASSERT_THAT(sink_.deltas, SizeIs(2));
  EXPECT_TRUE(sink_.deltas[1].full());
  EXPECT_THAT(Cids(sink_.deltas[1].added()), ElementsAre(Cid(2), Cid(3)));
}

TEST_F(LeafRegistryTest, DeltaForwardsOnlyRealChanges) {
  std::string s = JoinNew();
  ASSERT_TRUE(Publish(s, true, {File(1, "one.mp3"), File(2, "two.mp3")}).ok());
  sink_.deltas.clear();
  // Re-adding an unchanged file and removing an unknown one change nothing.
  EXPECT_EQ(Publish(s, false, {File(1, "one.mp3")}, {Cid(9)}).value(), 2);
  EXPECT_THAT(sink_.deltas, IsEmpty());
  // A rename, a new file and a removal.
  EXPECT_EQ(Publish(s, false, {File(1, "uno.mp3"), File(3, "three.mp3")},
                    {Cid(2)})
                .value(),
            2);
  ASSERT_THAT(sink_.deltas, SizeIs(1));
  const index::PeerDelta& d = sink_.deltas[0];
  EXPECT_FALSE(d.full());
  EXPECT_FALSE(d.gone());
  EXPECT_THAT(Cids(d.added()), ElementsAre(Cid(1), Cid(3)));
  EXPECT_THAT(d.removed(), ElementsAre(Cid(2)));
  EXPECT_THAT(Search("uno"), SizeIs(1));
  EXPECT_THAT(Search("one"), IsEmpty());
}

TEST_F(LeafRegistryTest, RemovedAndAddedInOneDeltaEndsAdded) {
  std::string s = JoinNew();
  ASSERT_TRUE(Publish(s, true, {File(1, "one.mp3")}).ok());
  EXPECT_EQ(Publish(s, false, {File(1, "one.mp3")}, {Cid(1)}).value(), 1);
  EXPECT_THAT(Search("one"), SizeIs(1));
}

TEST_F(LeafRegistryTest, MaxFilesPerLeafKeepsNothing) {
  LeafRegistry::Options options;
  options.max_files_per_leaf = 2;
  Reset(options);
  std::string s = JoinNew();
  EXPECT_EQ(Publish(s, true, {File(1, "a.mp3"), File(2, "b.mp3"),
                              File(3, "c.mp3")})
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Search("mp3"), IsEmpty());
  ASSERT_TRUE(Publish(s, true, {File(1, "a.mp3"), File(2, "b.mp3")}).ok());
  EXPECT_EQ(Publish(s, false, {File(3, "c.mp3")}).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(Search("c"), IsEmpty());
  // Replacing one within the limit is fine.
  EXPECT_EQ(Publish(s, false, {File(3, "c.mp3")}, {Cid(1)}).value(), 2);
  EXPECT_EQ(registry_->file_count(), 2u);
}

TEST_F(LeafRegistryTest, ALeafOverItsNameBudgetIsRefusedAndKeepsItsFiles) {
  LeafRegistry::Options options;
  options.max_name_bytes_per_leaf = 20;
  Reset(options);
  std::unique_ptr<Identity> a;
  std::string s = JoinNew(&a);
  // 5 + 5 bytes of names.
  ASSERT_TRUE(Publish(s, true, {File(1, "a.mp3"), File(2, "b.mp3")}).ok());
  sink_.deltas.clear();
  // A full list of 7 + 7 + 7 bytes: refused whole.
  absl::StatusOr<int> r = Publish(
      s, true, {File(3, "ccc.mp3"), File(4, "ddd.mp3"), File(5, "eee.mp3")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(),
              HasSubstr("budget of 20 bytes of names per leaf"));
  EXPECT_THAT(r.status().message(), HasSubstr("makes 21"));
  // A delta adding a partial file with a long name: refused too.
  r = Publish(s, false, {}, {}, {File(6, "a_long_partial_name.mkv")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  // What was stored is intact, and nothing went to the index.
  EXPECT_THAT(Search("mp3"), SizeIs(2));
  EXPECT_EQ(registry_->GetLeaf(a->peer_id())->file_count, 2u);
  EXPECT_EQ(registry_->GetLeaf(a->peer_id())->partial_count, 0u);
  EXPECT_FALSE(registry_->Locate(Cid(6)).has_value());
  EXPECT_THAT(sink_.deltas, IsEmpty());
  EXPECT_EQ(registry_->usage().files, 2);
  EXPECT_EQ(registry_->usage().name_bytes, 10);
  // A rename within the budget, and a removal, are fine.
  EXPECT_EQ(Publish(s, false, {File(1, "longer_a.mp3")}, {Cid(2)}).value(), 1);
  EXPECT_EQ(registry_->usage().name_bytes, 12);
}

TEST_F(LeafRegistryTest, TheSupernodesBudgetsBoundAllLeaves) {
  LeafRegistry::Options options;
  options.max_files_total = 3;
  options.max_name_bytes_total = 1000;
  Reset(options);
  std::unique_ptr<Identity> a, b;
  std::string sa = JoinNew(&a, "127.0.0.1:7001");
  std::string sb = JoinNew(&b, "127.0.0.1:7002");
  ASSERT_TRUE(Publish(sa, true, {File(1, "a.mp3"), File(2, "b.mp3")}).ok());
  absl::StatusOr<int> r =
      Publish(sb, true, {File(3, "c.mp3"), File(4, "d.mp3")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(),
              HasSubstr("this supernode's budget of 3 files"));
  EXPECT_THAT(r.status().message(), HasSubstr("(max_files)"));
  // Partial files count as well.
  r = Publish(sb, false, {File(3, "c.mp3")}, {}, {File(5, "e.mkv")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(Publish(sb, true, {File(3, "c.mp3")}).ok());
  EXPECT_EQ(registry_->usage().files, 3);
  // Room comes back when a leaf leaves.
  ASSERT_TRUE(registry_->Leave(sa).ok());
  EXPECT_EQ(registry_->usage().files, 1);
  EXPECT_EQ(registry_->usage().name_bytes, 5);
  EXPECT_TRUE(Publish(sb, false, {File(4, "d.mp3")}, {}, {File(5, "e.mkv")})
                  .ok());
  EXPECT_EQ(registry_->usage().files, 3);

  LeafRegistry::Options bytes;
  bytes.max_name_bytes_total = 12;
  Reset(bytes);
  sa = JoinNew(&a, "127.0.0.1:7001");
  sb = JoinNew(&b, "127.0.0.1:7002");
  ASSERT_TRUE(Publish(sa, true, {File(1, "a.mp3")}).ok());
  r = Publish(sb, true, {File(2, "bbbbbbbb.mp3")});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(),
              HasSubstr("budget of 12 bytes of names over all its leaves"));
  EXPECT_THAT(Search("bbbbbbbb"), IsEmpty());
}

TEST_F(LeafRegistryTest, PartialFilesAreLocatedNotSearched) {
  std::unique_ptr<Identity> a, b;
  std::string sa = JoinNew(&a, "127.0.0.1:7001");
  std::string sb = JoinNew(&b, "127.0.0.1:7002");
  ASSERT_TRUE(Publish(sa, true, {File(1, "movie.mkv", 5000)}).ok());
  ASSERT_TRUE(Publish(sb, false, {}, {}, {File(1, "movie.mkv", 5000)}).ok());
  std::vector<SearchHit> hits = Search("movie");
  ASSERT_THAT(hits, SizeIs(1));
  EXPECT_EQ(hits[0].source_count(), 1);
  std::optional<LeafRegistry::LocalSources> src = registry_->Locate(Cid(1));
  ASSERT_TRUE(src.has_value());
  EXPECT_EQ(src->size, 5000);
  EXPECT_EQ(src->name, "movie.mkv");
  ASSERT_THAT(src->sources, SizeIs(2));
  EXPECT_EQ(src->sources[0].peer_id(), a->peer_id());
  EXPECT_FALSE(src->sources[0].partial());
  EXPECT_EQ(src->sources[1].peer_id(), b->peer_id());
  EXPECT_EQ(src->sources[1].address(), "127.0.0.1:7002");
  EXPECT_TRUE(src->sources[1].partial());
  // Finishing the download turns the partial source into a whole one.
  ASSERT_TRUE(Publish(sb, false, {File(1, "movie.mkv", 5000)}).ok());
  src = registry_->Locate(Cid(1));
  ASSERT_THAT(src->sources, SizeIs(2));
  EXPECT_FALSE(src->sources[1].partial());
  EXPECT_EQ(registry_->GetLeaf(b->peer_id())->partial_count, 0u);
}

TEST_F(LeafRegistryTest, PartialOnlyCidIsLocated) {
  std::string s = JoinNew();
  ASSERT_TRUE(Publish(s, false, {}, {}, {File(7, "half.iso", 9)}).ok());
  std::optional<LeafRegistry::LocalSources> src = registry_->Locate(Cid(7));
  ASSERT_TRUE(src.has_value());
  EXPECT_EQ(src->name, "half.iso");
  EXPECT_TRUE(src->sources[0].partial());
  // Cancelling the download withdraws it.
  ASSERT_TRUE(Publish(s, false, {}, {Cid(7)}).ok());
  EXPECT_FALSE(registry_->Locate(Cid(7)).has_value());
}

TEST_F(LeafRegistryTest, PartialChangesGoToTheSink) {
  std::unique_ptr<Identity> identity;
  std::string s = JoinNew(&identity);
  ASSERT_TRUE(Publish(s, true, {File(1, "whole.mkv")}, {},
                      {File(2, "half.mkv"), File(1, "whole.mkv")})
                  .ok());
  ASSERT_THAT(sink_.deltas, SizeIs(1));
  EXPECT_TRUE(sink_.deltas[0].full());
  EXPECT_EQ(sink_.deltas[0].peer_id(), identity->peer_id());
  EXPECT_THAT(Cids(sink_.deltas[0].added()), ElementsAre(Cid(1)));
  // A cid held whole is not also partial.
  EXPECT_THAT(Cids(sink_.deltas[0].partial()), ElementsAre(Cid(2)));

  // A new partial file, and one announced again unchanged (not re-sent).
  ASSERT_TRUE(Publish(s, false, {}, {},
                      {File(2, "half.mkv"), File(3, "new.iso")})
                  .ok());
  ASSERT_THAT(sink_.deltas, SizeIs(2));
  EXPECT_FALSE(sink_.deltas[1].full());
  EXPECT_THAT(sink_.deltas[1].added(), IsEmpty());
  EXPECT_THAT(Cids(sink_.deltas[1].partial()), ElementsAre(Cid(3)));
  ASSERT_TRUE(Publish(s, false, {}, {}, {File(3, "new.iso")}).ok());
  EXPECT_THAT(sink_.deltas, SizeIs(2));  // nothing changed

  // The download of 2 completes: it goes as added, not partial.
  ASSERT_TRUE(Publish(s, false, {File(2, "half.mkv")}).ok());
  ASSERT_THAT(sink_.deltas, SizeIs(3));
  EXPECT_THAT(Cids(sink_.deltas[2].added()), ElementsAre(Cid(2)));
  EXPECT_THAT(sink_.deltas[2].partial(), IsEmpty());
  EXPECT_THAT(sink_.deltas[2].removed(), IsEmpty());

  // The download of 3 is cancelled: withdrawn with `removed`.
  ASSERT_TRUE(Publish(s, false, {}, {Cid(3)}).ok());
  ASSERT_THAT(sink_.deltas, SizeIs(4));
  EXPECT_THAT(sink_.deltas[3].removed(), ElementsAre(Cid(3)));
  EXPECT_THAT(sink_.deltas[3].partial(), IsEmpty());

  // A file deleted and downloaded again: removed and partial.
  ASSERT_TRUE(Publish(s, false, {}, {Cid(1)}, {File(1, "whole.mkv")}).ok());
  ASSERT_THAT(sink_.deltas, SizeIs(5));
  EXPECT_THAT(sink_.deltas[4].removed(), ElementsAre(Cid(1)));
  EXPECT_THAT(Cids(sink_.deltas[4].partial()), ElementsAre(Cid(1)));

  // Full lists re-sent carry the partial list.
  sink_.deltas.clear();
  EXPECT_EQ(registry_->ResendAll(), 1);
  ASSERT_THAT(sink_.deltas, SizeIs(1));
  EXPECT_THAT(Cids(sink_.deltas[0].added()), ElementsAre(Cid(2)));
  EXPECT_THAT(Cids(sink_.deltas[0].partial()), ElementsAre(Cid(1)));
}

TEST_F(LeafRegistryTest, RejoinAtNewAddressResendsPartials) {
  std::unique_ptr<Identity> identity;
  std::string s = JoinNew(&identity, "127.0.0.1:7001");
  ASSERT_TRUE(Publish(s, false, {}, {}, {File(4, "part.bin")}).ok());
  sink_.deltas.clear();
  ASSERT_TRUE(registry_->Join(SignedJoin(*identity, "127.0.0.1:7009")).ok());
  ASSERT_THAT(sink_.deltas, SizeIs(1));
  EXPECT_TRUE(sink_.deltas[0].full());
  EXPECT_EQ(sink_.deltas[0].address(), "127.0.0.1:7009");
  EXPECT_THAT(Cids(sink_.deltas[0].partial()), ElementsAre(Cid(4)));
}

TEST_F(LeafRegistryTest, LeaveWithdraws) {
  std::unique_ptr<Identity> identity;
  std::string s = JoinNew(&identity);
  ASSERT_TRUE(Publish(s, true, {File(1, "song.mp3")}).ok());
  EXPECT_TRUE(registry_->Leave(s).ok());
  EXPECT_EQ(registry_->Leave(s).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_->leaf_count(), 0);
  EXPECT_THAT(Search("song"), IsEmpty());
  ASSERT_FALSE(sink_.deltas.empty());
  EXPECT_TRUE(sink_.deltas.back().gone());
}

TEST_F(LeafRegistryTest, ResendAllSendsEveryFullList) {
  std::string a = JoinNew(nullptr, "127.0.0.1:7001");
  std::string b = JoinNew(nullptr, "127.0.0.1:7002");
  ASSERT_TRUE(Publish(a, true, {File(1, "one.mp3")}).ok());
  ASSERT_TRUE(Publish(b, true, {File(2, "two.mp3"), File(3, "x.mp3")}).ok());
  sink_.deltas.clear();
  EXPECT_EQ(registry_->ResendAll(), 2);
  ASSERT_THAT(sink_.deltas, SizeIs(2));
  size_t files = 0;
  for (const index::PeerDelta& d : sink_.deltas) {
    EXPECT_TRUE(d.full());
    files += d.added_size();
  }
  EXPECT_EQ(files, 3u);
}

}  // namespace
}  // namespace supernode
}  // namespace trove

namespace trove {
namespace supernode {
namespace {

class SignedChangeRegistryTest : public LeafRegistryTest {
 protected:
  static constexpr char kSupernode[] =
      "5555555555555555555555555555555555555555555555555555555555555555";

  SignedChangeRegistryTest() {
    LeafRegistry::Options options;
    options.supernode_id = kSupernode;
    Reset(options);
  }

  LeafRegistry::SignedChange Sign(const Identity& id, int64_t seq,
                                  int64_t prev, bool full,
                                  std::vector<FileEntry> added,
                                  const std::string& supernode = kSupernode) {
    LeafChange change;
    change.set_supernode_id(supernode);
    change.set_seq(seq);
    change.set_prev_seq(prev);
    change.set_full(full);
    for (FileEntry& e : added) *change.add_added() = e;
    Signed s = SignLeafChange(id, change).value();
    LeafRegistry::SignedChange out;
    out.peer_id = id.peer_id();
    out.supernode_id = supernode;
    out.seq = seq;
    out.prev_seq = prev;
    out.full = full;
    out.bytes = s.bytes;
    out.signature = s.signature;
    return out;
  }

  absl::StatusOr<int> PublishSigned(const std::string& session,
                                    const LeafRegistry::SignedChange& change,
                                    std::vector<FileEntry> added) {
    supernode::PublishRequest req;
    req.set_session(session);
    req.set_full(change.full);
    for (FileEntry& e : added) *req.add_added() = e;
    return registry_->Publish(req, &change);
  }
};

TEST_F(SignedChangeRegistryTest, ForwardsTheSignedBytesUnchangedEvenWhenNothingChanges) {
  std::unique_ptr<Identity> id;
  const std::string session = JoinNew(&id);
  auto full = Sign(*id, 10, 0, true, {File(1, "a.mp3")});
  ASSERT_TRUE(PublishSigned(session, full, {File(1, "a.mp3")}).ok());
  // The same file again: no change for the supernode's index, but the link
  // must still reach the index.
  auto same = Sign(*id, 11, 10, false, {File(1, "a.mp3")});
  ASSERT_TRUE(PublishSigned(session, same, {File(1, "a.mp3")}).ok());
  ASSERT_THAT(sink_.deltas, SizeIs(2));
  EXPECT_EQ(sink_.deltas[0].signed_change(), full.bytes);
  EXPECT_EQ(sink_.deltas[0].signature(), full.signature);
  EXPECT_EQ(sink_.deltas[1].signed_change(), same.bytes);
}

TEST_F(SignedChangeRegistryTest, GapIsRefusedAndTheLeafAskedForItsFullList) {
  std::unique_ptr<Identity> id;
  const std::string session = JoinNew(&id);
  ASSERT_TRUE(
      PublishSigned(session, Sign(*id, 10, 0, true, {}), {}).ok());
  auto gap = Sign(*id, 12, 11, false, {File(2, "b.mp3")});
  EXPECT_EQ(PublishSigned(session, gap, {File(2, "b.mp3")}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(sink_.deltas.size(), 1u);
  absl::StatusOr<bool> resend = registry_->Heartbeat(session);
  ASSERT_TRUE(resend.ok());
  EXPECT_TRUE(*resend);
  ASSERT_TRUE(PublishSigned(session, Sign(*id, 13, 0, true, {File(2, "b.mp3")}),
                            {File(2, "b.mp3")})
                  .ok());
  EXPECT_FALSE(*registry_->Heartbeat(session));
}

TEST_F(SignedChangeRegistryTest, ChangesForAnotherSupernodeOrPeerAreRefused) {
  std::unique_ptr<Identity> id;
  const std::string session = JoinNew(&id);
  auto elsewhere = Sign(*id, 10, 0, true, {}, std::string(64, '6'));
  EXPECT_EQ(PublishSigned(session, elsewhere, {}).status().code(),
            absl::StatusCode::kPermissionDenied);
  std::unique_ptr<Identity> other = NewIdentity();
  EXPECT_EQ(PublishSigned(session, Sign(*other, 10, 0, true, {}), {})
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(sink_.deltas, IsEmpty());
}

TEST_F(SignedChangeRegistryTest, SilentSignedLeafIsNotWithdrawnByTheSupernode) {
  std::unique_ptr<Identity> id;
  const std::string session = JoinNew(&id);
  ASSERT_TRUE(PublishSigned(session, Sign(*id, 10, 0, true, {File(1, "a.mp3")}),
                            {File(1, "a.mp3")})
                  .ok());
  clock_.Advance(absl::Seconds(31));
  EXPECT_EQ(registry_->ExpireIdle(), 1);
  // Only the full list went out: no unsigned gone the index would refuse.
  ASSERT_THAT(sink_.deltas, SizeIs(1));
  EXPECT_TRUE(sink_.deltas[0].full());
}

TEST_F(SignedChangeRegistryTest, ResendAllReplaysTheLeafsChainFromItsFullList) {
  std::unique_ptr<Identity> id;
  const std::string session = JoinNew(&id);
  auto full = Sign(*id, 10, 0, true, {File(1, "a.mp3")});
  auto delta = Sign(*id, 11, 10, false, {File(2, "b.mp3")});
  ASSERT_TRUE(PublishSigned(session, full, {File(1, "a.mp3")}).ok());
  ASSERT_TRUE(PublishSigned(session, delta, {File(2, "b.mp3")}).ok());
  sink_.deltas.clear();
  EXPECT_EQ(registry_->ResendAll(), 1);
  ASSERT_THAT(sink_.deltas, SizeIs(2));
  EXPECT_EQ(sink_.deltas[0].signed_change(), full.bytes);
  EXPECT_EQ(sink_.deltas[1].signed_change(), delta.bytes);
}

}  // namespace
}  // namespace supernode
}  // namespace trove
