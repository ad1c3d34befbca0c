#include "index_server/service.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/server_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index_server/indexed_store.h"
#include "index_server/pg_store.h"
#include "protos/index.grpc.pb.h"
#include "tests/testing/postgres.h"
#include "tests/testing/ids.h"

namespace trove {
namespace index_server {
namespace {

using ::testing::HasSubstr;
using testutil::TestDatabase;

using testutil::Id;
std::string Cid(int n) { return Id('c', n); }
std::string Peer(int n) { return Id('e', n); }
const std::string kNode = Id('a', 1);

FileEntry File(const std::string& cid, const std::string& name,
               int64_t size = 100) {
  FileEntry e;
  e.set_cid(cid);
  e.set_name(name);
  e.set_size(size);
  return e;
}

index::PeerDelta Delta(int peer, std::vector<FileEntry> added) {
  index::PeerDelta d;
  d.set_peer_id(Peer(peer));
  d.set_address(absl::StrCat("127.0.0.1:", 7000 + peer));
  for (FileEntry& e : added) *d.add_added() = e;
  return d;
}

index::PeerDelta PartialDelta(int peer, std::vector<FileEntry> partial) {
  index::PeerDelta d = Delta(peer, {});
  for (FileEntry& e : partial) *d.add_partial() = e;
  return d;
}

class ServiceTest : public ::testing::Test {
 protected:
  static constexpr int kMaxFiles = 10;
  static constexpr int kMaxDeltas = 5;

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *std::move(db);
    PgStoreOptions store_options;
    store_options.dsn = db_->dsn();
    absl::StatusOr<std::unique_ptr<PgIndexStore>> store =
        PgIndexStore::Connect(store_options);
    ASSERT_TRUE(store.ok()) << store.status();
    pg_ = *std::move(store);
    absl::StatusOr<int> migrated = pg_->Migrate();
    ASSERT_TRUE(migrated.ok()) << migrated.status();
    store_ = std::make_unique<IndexedStore>(pg_.get(), IndexedStore::Options());
    store_->Start();
    ASSERT_TRUE(store_->follower()->WaitReady(absl::Now() + absl::Seconds(60)));

    IndexServiceOptions options;
    options.lease = absl::Seconds(30);
    options.renew_every = absl::Seconds(10);
    options.max_files_per_delta = kMaxFiles;
    options.max_deltas_per_batch = kMaxDeltas;
    options.search_default_limit = 3;
    options.search_max_limit = 4;
    // These tests are about validation and catalog rules; the trust checks
    // are tested in trust_service_test.
    options.require_supernode_keys = false;
    options.verify_leaf_changes = false;
    service_ = std::make_unique<IndexServiceImpl>(store_.get(), pg_.get(),
                                                  options);
    absl::StatusOr<RunningServer> server = StartServer(
        "127.0.0.1:0", {service_.get()}, grpc::InsecureServerCredentials());
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server->server);
    stub_ = index::IndexService::NewStub(grpc::CreateChannel(
        server->address, grpc::InsecureChannelCredentials()));

    index::RegisterSupernodeRequest reg;
    reg.set_supernode_id(kNode);
    reg.set_address("127.0.0.1:7100");
    index::LeaseResponse lease;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->RegisterSupernode(&ctx, reg, &lease);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(lease.lease_seconds(), 30);
    EXPECT_EQ(lease.renew_every_seconds(), 10);
  }

  grpc::Status Register(const std::string& node) {
    index::RegisterSupernodeRequest reg;
    reg.set_supernode_id(node);
    reg.set_address("127.0.0.1:7200");
    index::LeaseResponse lease;
    grpc::ClientContext ctx;
    return stub_->RegisterSupernode(&ctx, reg, &lease);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
    if (store_ != nullptr) store_->Stop();
  }

  grpc::Status Publish(std::vector<index::PeerDelta> deltas,
                       const std::string& node = kNode) {
    index::PublishDeltasRequest request;
    request.set_supernode_id(node);
    for (index::PeerDelta& d : deltas) *request.add_deltas() = d;
    index::PublishDeltasResponse response;
    grpc::ClientContext ctx;
    return stub_->PublishDeltas(&ctx, request, &response);
  }

  grpc::Status Search(const SearchQuery& query,
                      index::SearchResponse* response) {
    index::SearchRequest request;
    *request.mutable_query() = query;
    grpc::ClientContext ctx;
    return stub_->Search(&ctx, request, response);
  }

  grpc::Status SearchText(const std::string& text,
                          index::SearchResponse* response = nullptr) {
    index::SearchResponse ignored;
    SearchQuery q;
    q.set_text(text);
    return Search(q, response != nullptr ? response : &ignored);
  }

  grpc::Status Locate(const std::string& cid, int limit = 0,
                      index::LocateResponse* response = nullptr) {
    index::LocateRequest request;
    request.set_cid(cid);
    request.set_limit(limit);
    index::LocateResponse ignored;
    grpc::ClientContext ctx;
    return stub_->Locate(&ctx, request,
                         response != nullptr ? response : &ignored);
  }

  // A batch whose first delta is good and whose second delta carries `bad`
  // after a good file: refused with INVALID_ARGUMENT naming the entry, and
  // neither good file is stored. The handler is checked both directly and
  // over gRPC (text fields are bytes on the wire, so even a name that is not
  // UTF-8 reaches validation and gets the same message).
  void ExpectRefused(const FileEntry& bad, const std::string& message_part) {
    SCOPED_TRACE(absl::StrCat("bad entry: ", bad.ShortDebugString()));
    index::PublishDeltasRequest request;
    request.set_supernode_id(kNode);
    *request.add_deltas() = Delta(1, {File(Cid(1), "good one.txt")});
    *request.add_deltas() = Delta(2, {File(Cid(2), "good two.txt"), bad});

    grpc::ServerContext server_context;
    index::PublishDeltasResponse response;
    grpc::Status direct =
        service_->PublishDeltas(&server_context, &request, &response);
    EXPECT_EQ(direct.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(direct.error_message(), HasSubstr("deltas[1]"));
    EXPECT_THAT(direct.error_message(), HasSubstr("added[1]"));
    EXPECT_THAT(direct.error_message(), HasSubstr(message_part));
    ExpectNothingStored();

    index::PublishDeltasResponse ignored;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->PublishDeltas(&ctx, request, &ignored);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << s.error_message();
    EXPECT_EQ(s.error_message(), direct.error_message());
    ExpectNothingStored();
  }

  void ExpectNothingStored() {
    EXPECT_EQ(Locate(Cid(1)).error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(Locate(Cid(2)).error_code(), grpc::StatusCode::NOT_FOUND);
    index::SearchResponse found;
    ASSERT_TRUE(SearchText("good", &found).ok());
    EXPECT_EQ(found.hits_size(), 0);
  }

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<PgIndexStore> pg_;
  std::unique_ptr<IndexedStore> store_;
  std::unique_ptr<IndexServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<index::IndexService::Stub> stub_;
};

TEST_F(ServiceTest, PublishSearchLocateBootstrap) {
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "Bohemian_Rhapsody.mp3", 5000)}),
                       Delta(2, {File(Cid(1), "Bohemian_Rhapsody.mp3", 5000)})})
                  .ok());
  index::SearchResponse found;
  ASSERT_TRUE(SearchText("rapsody", &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).cid(), Cid(1));
  EXPECT_EQ(found.hits(0).name(), "Bohemian_Rhapsody.mp3");
  EXPECT_EQ(found.hits(0).size(), 5000);
  EXPECT_EQ(found.hits(0).source_count(), 2);

  index::LocateResponse where;
  ASSERT_TRUE(Locate(Cid(1), 0, &where).ok());
  EXPECT_EQ(where.size(), 5000);
  EXPECT_EQ(where.sources_size(), 2);

  index::BootstrapResponse boot;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Bootstrap(&ctx, index::BootstrapRequest(), &boot).ok());
  ASSERT_EQ(boot.supernodes_size(), 1);
  EXPECT_EQ(boot.supernodes(0).supernode_id(), kNode);
  EXPECT_EQ(boot.supernodes(0).address(), "127.0.0.1:7100");
}

TEST_F(ServiceTest, LocateManyAnswersEachCidInTheOrderAsked) {
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "one.mp3", 5000),
                                 File(Cid(2), "two.mp3", 70)}),
                       Delta(2, {File(Cid(1), "one.mp3", 5000)})})
                  .ok());
  index::LocateManyRequest request;
  request.add_cids(Cid(2));
  request.add_cids(Cid(77));  // nobody holds it
  request.add_cids(Cid(1));
  index::LocateManyResponse response;
  {
    grpc::ClientContext ctx;
    grpc::Status s = stub_->LocateMany(&ctx, request, &response);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  ASSERT_EQ(response.files_size(), 3);
  EXPECT_EQ(response.files(0).cid(), Cid(2));
  EXPECT_EQ(response.files(0).size(), 70);
  EXPECT_EQ(response.files(0).name(), "two.mp3");
  ASSERT_EQ(response.files(0).sources_size(), 1);
  EXPECT_EQ(response.files(0).sources(0).peer_id(), Peer(1));
  EXPECT_EQ(response.files(1).cid(), Cid(77));
  EXPECT_EQ(response.files(1).sources_size(), 0);
  EXPECT_EQ(response.files(2).cid(), Cid(1));
  EXPECT_EQ(response.files(2).size(), 5000);
  EXPECT_EQ(response.files(2).sources_size(), 2);
  // The same as Locate answers for each.
  index::LocateResponse one;
  ASSERT_TRUE(Locate(Cid(1), 0, &one).ok());
  EXPECT_EQ(one.sources_size(), response.files(2).sources_size());
  EXPECT_EQ(one.name(), response.files(2).name());

  // The limit applies to each cid.
  request.set_limit(1);
  response.Clear();
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->LocateMany(&ctx, request, &response).ok());
  ASSERT_EQ(response.files_size(), 3);
  EXPECT_EQ(response.files(2).sources_size(), 1);
}

TEST_F(ServiceTest, LocateManyRefusesBadInputWhole) {
  auto call = [this](const index::LocateManyRequest& request) {
    index::LocateManyResponse response;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->LocateMany(&ctx, request, &response);
    EXPECT_EQ(response.files_size(), 0);
    return s;
  };
  index::LocateManyRequest bad_cid;
  bad_cid.add_cids(Cid(1));
  bad_cid.add_cids("nope");
  grpc::Status s = call(bad_cid);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("cids[1]"));

  index::LocateManyRequest negative;
  negative.add_cids(Cid(1));
  negative.set_limit(-1);
  EXPECT_EQ(call(negative).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  index::LocateManyRequest too_many;
  for (int i = 0; i < IndexServiceOptions().locate_many_max_cids + 1; ++i) {
    too_many.add_cids(Cid(i));
  }
  s = call(too_many);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("the most in one call is 1000"));

  // Nothing asked, nothing answered.
  EXPECT_TRUE(call(index::LocateManyRequest()).ok());
}

TEST_F(ServiceTest, SearchLimitDefaultsAndCaps) {
  std::vector<FileEntry> files;
  for (int i = 0; i < 6; ++i) {
    files.push_back(File(Cid(100 + i), absl::StrCat("song ", i, ".mp3")));
  }
  ASSERT_TRUE(Publish({Delta(1, files)}).ok());
  index::SearchResponse found;
  ASSERT_TRUE(SearchText("song", &found).ok());
  EXPECT_EQ(found.hits_size(), 3);  // default
  SearchQuery q;
  q.set_text("song");
  q.set_limit(100);
  found.Clear();
  ASSERT_TRUE(Search(q, &found).ok());
  EXPECT_EQ(found.hits_size(), 4);  // capped
}

TEST_F(ServiceTest, RefusesBadFileNames) {
  ExpectRefused(File(Cid(3), "dir/file.txt"), "path separator");
  ExpectRefused(File(Cid(3), "dir\\file.txt"), "path separator");
  ExpectRefused(File(Cid(3), ".."), "..");
  ExpectRefused(File(Cid(3), "evil\xe2\x80\xaegpj.exe"), "bidi");
  ExpectRefused(File(Cid(3), std::string("nul\0byte.txt", 12)), "control");
  ExpectRefused(File(Cid(3), "bell\x07.txt"), "control");
  ExpectRefused(File(Cid(3), "new\nline.txt"), "control");
  ExpectRefused(File(Cid(3), "bad\xff\xfeutf8.txt"), "UTF-8");
  ExpectRefused(File(Cid(3), "overlong\xc0\xaf.txt"), "UTF-8");
  ExpectRefused(File(Cid(3), "surrogate\xed\xa0\x80.txt"), "UTF-8");
  ExpectRefused(File(Cid(3), ""), "empty");
  ExpectRefused(File(Cid(3), std::string(256, 'x')), "256 bytes");
}

TEST_F(ServiceTest, AcceptsNameOfExactly255Bytes) {
  EXPECT_TRUE(Publish({Delta(1, {File(Cid(1), std::string(255, 'y'))})}).ok());
}

TEST_F(ServiceTest, RefusesBadSizes) {
  ExpectRefused(File(Cid(3), "neg.txt", -1), "negative");
  ExpectRefused(File(Cid(3), "huge.txt", int64_t{1} << 62), "over the limit");
  ExpectRefused(File(Cid(3), "max.txt", INT64_MAX), "over the limit");
}

TEST_F(ServiceTest, RefusesMalformedCids) {
  ExpectRefused(File("abc", "short.txt"), "cid");
  ExpectRefused(File(std::string(64, 'A'), "upper.txt"), "cid");
  ExpectRefused(File(std::string(64, 'g'), "nonhex.txt"), "cid");
  ExpectRefused(File(std::string(65, 'a'), "long.txt"), "cid");
  ExpectRefused(File("", "empty.txt"), "cid");

  index::PeerDelta bad_removal = Delta(2, {});
  bad_removal.add_removed(Cid(5));
  bad_removal.add_removed("zz");
  grpc::Status s =
      Publish({Delta(1, {File(Cid(1), "good one.txt")}), bad_removal});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("removed[1]"));
  ExpectNothingStored();
}

TEST_F(ServiceTest, RefusesBadPeersAndAddresses) {
  index::PeerDelta bad_peer = Delta(2, {File(Cid(2), "good two.txt")});
  bad_peer.set_peer_id("not-a-peer");
  grpc::Status s = Publish({Delta(1, {File(Cid(1), "good one.txt")}), bad_peer});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("deltas[1]"));
  EXPECT_THAT(s.error_message(), HasSubstr("peer_id"));
  ExpectNothingStored();

  for (const std::string& address :
       {std::string(""), std::string("nohost"), std::string("host:0"),
        std::string("host:99999"), std::string("sp ace:80"),
        std::string(300, 'h') + ":80"}) {
    index::PeerDelta bad_address = Delta(2, {File(Cid(2), "good two.txt")});
    bad_address.set_address(address);
    s = Publish({Delta(1, {File(Cid(1), "good one.txt")}), bad_address});
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << address;
    EXPECT_THAT(s.error_message(), HasSubstr("address"));
    ExpectNothingStored();
  }

  index::PeerDelta big_signature = Delta(2, {File(Cid(2), "good two.txt")});
  big_signature.set_signature(std::string(5000, 's'));
  s = Publish({Delta(1, {File(Cid(1), "good one.txt")}), big_signature});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("signature"));
  ExpectNothingStored();
}

TEST_F(ServiceTest, RefusesOversizedBatches) {
  std::vector<FileEntry> files;
  for (int i = 0; i <= kMaxFiles; ++i) {
    files.push_back(File(Cid(100 + i), absl::StrCat("good ", i, ".txt")));
  }
  grpc::Status s = Publish({Delta(1, {File(Cid(1), "good one.txt")}),
                            Delta(2, files)});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("deltas[1]"));
  EXPECT_THAT(s.error_message(), HasSubstr("limit"));
  ExpectNothingStored();

  index::PeerDelta many_removed = Delta(2, {});
  for (int i = 0; i <= kMaxFiles; ++i) many_removed.add_removed(Cid(200 + i));
  s = Publish({Delta(1, {File(Cid(1), "good one.txt")}), many_removed});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ExpectNothingStored();

  std::vector<index::PeerDelta> deltas;
  for (int i = 0; i <= kMaxDeltas; ++i) {
    deltas.push_back(Delta(i, {File(Cid(1), "good one.txt")}));
  }
  s = Publish(deltas);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("deltas"));
  ExpectNothingStored();

  // Exactly at the limits is fine.
  files.pop_back();
  EXPECT_TRUE(Publish({Delta(1, files)}).ok());
}

TEST_F(ServiceTest, GoneDeltaIgnoresItsOtherFields) {
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "good one.txt")})}).ok());
  index::PeerDelta gone;
  gone.set_peer_id(Peer(1));
  gone.set_gone(true);
  gone.set_address("");  // would be refused on a normal delta
  EXPECT_TRUE(Publish({gone}).ok());
  EXPECT_EQ(Locate(Cid(1)).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, LeaseRules) {
  EXPECT_EQ(Publish({Delta(1, {File(Cid(1), "a.txt")})}, Id('a', 9))
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Publish({Delta(1, {File(Cid(1), "a.txt")})}, "bad-node").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  index::RenewLeaseRequest renew;
  renew.set_supernode_id(Id('a', 9));
  index::LeaseResponse lease;
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->RenewLease(&ctx, renew, &lease).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  renew.set_supernode_id(kNode);
  renew.set_leaf_count(-1);
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->RenewLease(&ctx, renew, &lease).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  renew.set_leaf_count(3);
  {
    grpc::ClientContext ctx;
    EXPECT_TRUE(stub_->RenewLease(&ctx, renew, &lease).ok());
    EXPECT_EQ(lease.lease_seconds(), 30);
  }
  // A lease that ended: NOT_FOUND, and publishing is refused.
  ASSERT_TRUE(pg_->RenewLease(kNode, "", 3, absl::ZeroDuration(), {}).ok());
  {
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->RenewLease(&ctx, renew, &lease).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  EXPECT_EQ(Publish({Delta(1, {File(Cid(1), "a.txt")})}).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(ServiceTest, RegisterRefusesBadInput) {
  struct Case {
    std::string id, address;
    int64_t uptime;
  };
  for (const Case& c : {Case{"nothex", "127.0.0.1:1", 0},
                        Case{kNode, "no-port", 0},
                        Case{kNode, "127.0.0.1:1", -5}}) {
    index::RegisterSupernodeRequest reg;
    reg.set_supernode_id(c.id);
    reg.set_address(c.address);
    reg.mutable_capacity()->set_uptime_seconds(c.uptime);
    index::LeaseResponse lease;
    grpc::ClientContext ctx;
    EXPECT_EQ(stub_->RegisterSupernode(&ctx, reg, &lease).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT)
        << c.id << " " << c.address;
  }
}

TEST_F(ServiceTest, RefusesBadQueries) {
  std::vector<SearchQuery> bad;
  auto text = [](const std::string& t) {
    SearchQuery q;
    q.set_text(t);
    return q;
  };
  bad.push_back(text(""));
  bad.push_back(text(std::string(257, 'a')));
  bad.push_back(text("!!! ---"));
  bad.push_back(text("tab\there"));
  bad.push_back(text("a b c d e f g h i j k l m n o p q"));  // 17 words
  SearchQuery q = text("song");
  q.set_limit(-1);
  bad.push_back(q);
  q = text("song");
  q.set_min_size(10);
  q.set_max_size(5);
  bad.push_back(q);
  q = text("song");
  q.set_min_size(-1);
  bad.push_back(q);
  q = text("song");
  q.add_extensions(".mp3");
  bad.push_back(q);
  q = text("song");
  q.add_extensions("");
  bad.push_back(q);
  for (const SearchQuery& query : bad) {
    index::SearchResponse response;
    grpc::Status s = Search(query, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << query.ShortDebugString();
    EXPECT_FALSE(s.error_message().empty());
  }
  // Invalid UTF-8: refused by the handler, also over gRPC.
  {
    index::SearchRequest request;
    request.mutable_query()->set_text("bad\xff");
    grpc::ServerContext server_context;
    index::SearchResponse response;
    EXPECT_EQ(
        service_->AnswerSearch(&server_context, request, &response).error_code(),
        grpc::StatusCode::INVALID_ARGUMENT);
    grpc::Status over_wire = Search(request.query(), &response);
    EXPECT_EQ(over_wire.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(over_wire.error_message(), HasSubstr("UTF-8"));
  }
  // 256 bytes is still fine.
  index::SearchResponse response;
  EXPECT_TRUE(SearchText(std::string(256, 'a'), &response).ok());
}

TEST_F(ServiceTest, LocateCodes) {
  EXPECT_EQ(Locate(Cid(77)).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Locate("xyz").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Locate(std::string(64, 'F')).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Locate(Cid(77), -1).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, PartialSourcesAreLocatedNotSearched) {
  ASSERT_TRUE(Publish({PartialDelta(1, {File(Cid(1), "movie.mkv", 5000)}),
                       Delta(2, {File(Cid(1), "movie.mkv", 5000)}),
                       PartialDelta(3, {File(Cid(2), "half.iso", 700)})})
                  .ok());
  index::SearchResponse found;
  ASSERT_TRUE(SearchText("movie", &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).source_count(), 1);  // complete sources only
  found.Clear();
  ASSERT_TRUE(SearchText("half", &found).ok());
  EXPECT_EQ(found.hits_size(), 0);  // only partial sources hold it

  index::LocateResponse where;
  ASSERT_TRUE(Locate(Cid(1), 0, &where).ok());
  ASSERT_EQ(where.sources_size(), 2);
  EXPECT_EQ(where.sources(0).peer_id(), Peer(2));
  EXPECT_FALSE(where.sources(0).partial());
  EXPECT_EQ(where.sources(1).peer_id(), Peer(1));
  EXPECT_TRUE(where.sources(1).partial());
  EXPECT_EQ(where.sources(1).address(), "127.0.0.1:7001");
  where.Clear();
  ASSERT_TRUE(Locate(Cid(2), 0, &where).ok());
  EXPECT_EQ(where.name(), "half.iso");
  ASSERT_EQ(where.sources_size(), 1);
  EXPECT_TRUE(where.sources(0).partial());

  // The download completes: the source is whole and now counts.
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "movie.mkv", 5000)})}).ok());
  found.Clear();
  ASSERT_TRUE(SearchText("movie", &found).ok());
  ASSERT_EQ(found.hits_size(), 1);
  EXPECT_EQ(found.hits(0).source_count(), 2);
}

TEST_F(ServiceTest, RefusesBadPartialEntries) {
  struct Case {
    FileEntry entry;
    std::string message_part;
  };
  for (const Case& c : {Case{File(Cid(3), "dir/file.txt"), "path separator"},
                        Case{File(Cid(3), "bad\xff.txt"), "UTF-8"},
                        Case{File(Cid(3), "neg.txt", -1), "negative"},
                        Case{File("abc", "short.txt"), "cid"}}) {
    SCOPED_TRACE(c.entry.ShortDebugString());
    grpc::Status s =
        Publish({Delta(1, {File(Cid(1), "good one.txt")}),
                 PartialDelta(2, {File(Cid(2), "good two.txt"), c.entry})});
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("deltas[1]"));
    EXPECT_THAT(s.error_message(), HasSubstr("partial[1]"));
    EXPECT_THAT(s.error_message(), HasSubstr(c.message_part));
    ExpectNothingStored();
  }
  std::vector<FileEntry> files;
  for (int i = 0; i <= kMaxFiles; ++i) {
    files.push_back(File(Cid(100 + i), absl::StrCat("good ", i, ".txt")));
  }
  grpc::Status s = Publish(
      {Delta(1, {File(Cid(1), "good one.txt")}), PartialDelta(2, files)});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("partial files"));
  ExpectNothingStored();
}

TEST_F(ServiceTest, GoneFromTheOldSupernodeSparesAMovedPeer) {
  const std::string other = Id('a', 2);
  ASSERT_TRUE(Register(other).ok());
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "good one.txt")})}).ok());
  index::PeerDelta full = Delta(1, {File(Cid(1), "good one.txt")});
  full.set_full(true);
  ASSERT_TRUE(Publish({full}, other).ok());
  index::PeerDelta gone;
  gone.set_peer_id(Peer(1));
  gone.set_gone(true);
  ASSERT_TRUE(Publish({gone}).ok());  // from the supernode P left
  EXPECT_TRUE(Locate(Cid(1)).ok());
  ASSERT_TRUE(Publish({gone}, other).ok());
  EXPECT_EQ(Locate(Cid(1)).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A peer's full list is answered with since when the index has known the
// peer: its first stored source, wherever it came from, so that a
// supernode it moved to does not take it for a newcomer.
TEST_F(ServiceTest, AFullListIsAnsweredWithThePeersStanding) {
  const absl::Time before = absl::Now() - absl::Seconds(1);
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "good one.txt")})}).ok());
  const absl::Time first_stored = absl::Now();
  absl::SleepFor(absl::Milliseconds(50));
  const std::string other = Id('a', 2);
  ASSERT_TRUE(Register(other).ok());
  index::PublishDeltasRequest request;
  request.set_supernode_id(other);
  index::PeerDelta full = Delta(1, {File(Cid(1), "good one.txt")});
  full.set_full(true);
  *request.add_deltas() = full;
  *request.add_deltas() = Delta(2, {File(Cid(2), "good two.txt")});
  index::PublishDeltasResponse response;
  grpc::ClientContext ctx;
  grpc::Status s = stub_->PublishDeltas(&ctx, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // Only the full list's peer, with its first time.
  ASSERT_EQ(response.standing_size(), 1);
  EXPECT_EQ(response.standing(0).peer_id(), Peer(1));
  const absl::Time since =
      absl::FromUnixMillis(response.standing(0).known_since_ms());
  EXPECT_GE(since, before);
  EXPECT_LE(since, first_stored + absl::Seconds(1));
  EXPECT_LT(since, absl::Now() - absl::Milliseconds(20));
}

TEST_F(ServiceTest, RegisteringAgainDropsWhatTheSupernodePublished) {
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "good one.txt")})}).ok());
  ASSERT_TRUE(Register(kNode).ok());  // restarted within its lease
  EXPECT_EQ(Locate(Cid(1)).error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "good one.txt")})}).ok());
  EXPECT_TRUE(Locate(Cid(1)).ok());
}

TEST_F(ServiceTest, KeepsServingAfterBadInput) {
  ExpectRefused(File(Cid(3), "x/y"), "path separator");
  EXPECT_EQ(SearchText("").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Locate("nope").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_TRUE(Publish({Delta(1, {File(Cid(1), "good one.txt")})}).ok());
  index::SearchResponse found;
  ASSERT_TRUE(SearchText("good", &found).ok());
  EXPECT_EQ(found.hits_size(), 1);
  EXPECT_TRUE(Locate(Cid(1)).ok());
}

TEST_F(ServiceTest, PagesFollowTheCursor) {
  std::vector<FileEntry> files;
  for (int i = 0; i < 10; ++i) {
    files.push_back(File(Cid(200 + i), absl::StrCat("page ", i, ".txt"), 100 + i));
  }
  ASSERT_TRUE(Publish({Delta(1, files)}).ok());
  SearchQuery q;
  q.set_text("page");
  q.set_sort(SEARCH_SORT_SIZE);
  std::vector<int64_t> sizes;
  for (int page = 0; page < 10; ++page) {
    index::SearchResponse found;
    ASSERT_TRUE(Search(q, &found).ok());
    for (const SearchHit& h : found.hits()) sizes.push_back(h.size());
    if (found.next_cursor().empty()) break;
    q.set_cursor(found.next_cursor());
  }
  std::vector<int64_t> want;
  for (int i = 9; i >= 0; --i) want.push_back(100 + i);
  EXPECT_EQ(sizes, want);
  // A cursor of another order is refused.
  q.set_sort(SEARCH_SORT_NAME);
  index::SearchResponse found;
  EXPECT_EQ(Search(q, &found).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, RegistrationGivesAGenerationThatBatchesCarry) {
  index::RegisterSupernodeRequest reg;
  reg.set_supernode_id(kNode);
  reg.set_address("127.0.0.1:7100");
  index::LeaseResponse lease;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->RegisterSupernode(&ctx, reg, &lease).ok());
  EXPECT_GE(lease.generation(), 2);  // the fixture registered once already
  index::PublishDeltasRequest request;
  request.set_supernode_id(kNode);
  request.set_generation(lease.generation());
  *request.add_deltas() = Delta(1, {File(Cid(1), "good one.txt")});
  index::PublishDeltasResponse response;
  {
    grpc::ClientContext c;
    EXPECT_EQ(stub_->PublishDeltas(&c, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);  // batch number missing
  }
  request.set_batch(1);
  {
    grpc::ClientContext c;
    EXPECT_TRUE(stub_->PublishDeltas(&c, request, &response).ok());
  }
  {
    grpc::ClientContext c;
    EXPECT_EQ(stub_->PublishDeltas(&c, request, &response).error_code(),
              grpc::StatusCode::ABORTED);  // batch 1 again
  }
}

// An IndexStore whose searches wait until released: for the service's
// load shedding.
class BlockingSearchStore final : public IndexStore {
 public:
  absl::StatusOr<int64_t> RegisterSupernode(const SupernodeRegistration&,
                                            absl::Duration,
                                            const CallContext&) override {
    return absl::UnimplementedError("test");
  }
  absl::Status RenewLease(const std::string&, const std::string&, int32_t,
                          absl::Duration,
                          const CallContext&) override {
    return absl::OkStatus();
  }
  absl::StatusOr<index::PublishDeltasResponse> ApplyDeltas(
      const index::PublishDeltasRequest&, const CallContext&) override {
    return absl::UnimplementedError("test");
  }
  absl::StatusOr<index::LocateResponse> Locate(const std::string&, int,
                                               const CallContext&) override {
    return absl::NotFoundError("test");
  }
  absl::StatusOr<std::vector<index::SupernodeInfo>> LiveSupernodes(
      int, const CallContext&) override {
    return std::vector<index::SupernodeInfo>();
  }
  absl::StatusOr<ExpiryStats> ExpireDeadSupernodes() override {
    return ExpiryStats();
  }
  absl::StatusOr<search::SearchPage> Search(const search::ParsedQuery&,
                                            const CallContext&) override {
    entered.Notify();
    release.WaitForNotification();
    return search::SearchPage();
  }
  absl::Notification entered;
  absl::Notification release;
};

TEST(ServiceSheddingTest, SearchesBeyondTheLimitAreRefusedAtOnce) {
  BlockingSearchStore store;
  IndexServiceOptions options;
  options.max_concurrent_searches = 1;
  options.require_supernode_keys = false;
  options.verify_leaf_changes = false;
  IndexServiceImpl service(&store, nullptr, options);
  index::SearchRequest request;
  request.mutable_query()->set_text("anything");
  std::thread first([&] {
    grpc::ServerContext context;
    index::SearchResponse response;
    EXPECT_TRUE(service.AnswerSearch(&context, request, &response).ok());
  });
  store.entered.WaitForNotification();
  grpc::ServerContext context;
  index::SearchResponse response;
  const absl::Time start = absl::Now();
  EXPECT_EQ(service.AnswerSearch(&context, request, &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // Renewals are not held up by searches.
  index::RenewLeaseRequest renew;
  renew.set_supernode_id(kNode);
  index::LeaseResponse lease;
  grpc::ServerContext renew_context;
  EXPECT_TRUE(service.RenewLease(&renew_context, &renew, &lease).ok());
  store.release.Notify();
  first.join();
}

TEST(ServiceLoadingTest, SearchIsUnavailableUntilTheCatalogIsLoaded) {
  absl::StatusOr<std::unique_ptr<TestDatabase>> db = TestDatabase::Create();
  ASSERT_TRUE(db.ok()) << db.status();
  PgStoreOptions store_options;
  store_options.dsn = (*db)->dsn();
  absl::StatusOr<std::unique_ptr<PgIndexStore>> pg =
      PgIndexStore::Connect(store_options);
  ASSERT_TRUE(pg.ok());
  ASSERT_TRUE((*pg)->Migrate().ok());
  IndexedStore store(pg->get(), IndexedStore::Options());  // not started
  IndexServiceOptions options;
  options.require_supernode_keys = false;
  options.verify_leaf_changes = false;
  IndexServiceImpl service(&store, nullptr, options);
  index::SearchRequest request;
  request.mutable_query()->set_text("anything");
  grpc::ServerContext context;
  index::SearchResponse response;
  EXPECT_EQ(service.AnswerSearch(&context, request, &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  store.Start();
  ASSERT_TRUE(store.follower()->WaitReady(absl::Now() + absl::Seconds(60)));
  grpc::ServerContext again;
  EXPECT_TRUE(service.AnswerSearch(&again, request, &response).ok());
  store.Stop();
}

}  // namespace
}  // namespace index_server
}  // namespace trove
