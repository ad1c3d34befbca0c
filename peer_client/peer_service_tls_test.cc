// PeerService over TLS: upload slots go to the peer id a client's
// certificate proves, whatever requester id it writes, and a stream its
// client does not read loses its slot.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/identity.h"
#include "common/merkle.h"
#include "common/server_util.h"
#include "common/tls_credentials.h"
#include "gtest/gtest.h"
#include "peer_client/peer_service.h"
#include "peer_client/share_scanner.h"
#include "peer_client/test_util.h"

namespace trove {
namespace {

using testing::TempDir;
using trove::peer::Chunk;
using trove::peer::GetChunksRequest;
using trove::peer::SlotRequest;
using trove::peer::SlotResponse;

// Bigger than any flow-control window, so that an unread stream blocks.
constexpr int kChunks = 24;

// Polls `condition` every 10 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

class PeerServiceTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string share = dir_.Sub("share");
    const std::string data = testing::RandomBytes(kChunks * kChunkSize, 3);
    testing::WriteTestFile(share + "/big.bin", data);
    cid_ = HashBuffer(data).cid;
    ShareScanner::Options so;
    so.roots = {share};
    scanner_ = std::make_unique<ShareScanner>(so, nullptr);
    scanner_->Scan();
    identity_ = *Identity::Generate();
    server_tls_ = *TlsContext::ForIdentity(*identity_, "");
  }

  void Start(PeerServiceImpl::Options options) {
    service_ = std::make_unique<PeerServiceImpl>(scanner_.get(), identity_.get(),
                                                 options);
    absl::StatusOr<RunningServer> s = StartServer(
        "127.0.0.1:0", {service_.get()}, server_tls_->ServerCredentials());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
  }

  void TearDown() override {
    if (server_.server) server_.server->Shutdown();
  }

  // A client with a key of its own.
  std::unique_ptr<peer::PeerService::Stub> Client() {
    std::shared_ptr<const TlsContext> tls = *TlsContext::Ephemeral("");
    return peer::PeerService::NewStub(MakeChannel(
        server_.address, Expected::Peer(identity_->peer_id()), tls.get()));
  }

  static absl::StatusOr<SlotResponse> Ask(peer::PeerService::Stub* stub,
                                          const std::string& requester_id) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    SlotRequest req;
    req.set_requester_id(requester_id);
    req.set_cid(cid_);
    SlotResponse r;
    grpc::Status st = stub->RequestSlot(&ctx, req, &r);
    if (!st.ok()) return FromGrpcStatus(st);
    return r;
  }

  static std::string cid_;
  TempDir dir_;
  std::unique_ptr<ShareScanner> scanner_;
  std::unique_ptr<Identity> identity_;
  std::shared_ptr<const TlsContext> server_tls_;
  std::unique_ptr<PeerServiceImpl> service_;
  RunningServer server_;
};

std::string PeerServiceTlsTest::cid_;

TEST_F(PeerServiceTlsTest, MadeUpRequesterIdsShareTheCallersOneSlot) {
  PeerServiceImpl::Options o;
  o.max_uploads = 2;
  Start(o);
  auto hog = Client();
  // 40 made-up ids over one connection: one requester, one slot.
  for (int i = 0; i < 40; ++i) {
    absl::StatusOr<SlotResponse> r =
        Ask(hog.get(), HexEncode(Sha256(absl::StrCat("fake", i))));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r->granted()) << i;
  }
  // Even a malformed one: it is not looked at.
  EXPECT_TRUE(Ask(hog.get(), "not an id").ok());
  EXPECT_EQ(service_->active_uploads(), 1);
  EXPECT_EQ(service_->queued_uploads(), 0);
  // So a real downloader finds the second slot free.
  auto real = Client();
  absl::StatusOr<SlotResponse> r = Ask(real.get(), "");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->granted());
}

TEST_F(PeerServiceTlsTest, AnUnreadStreamLosesItsSlot) {
  PeerServiceImpl::Options o;
  o.max_uploads = 1;
  o.upload_stall = absl::Milliseconds(500);
  o.initial_seeding = false;
  Start(o);
  auto hog = Client();
  // The hog's stream: asked, never read.
  grpc::ClientContext hog_ctx;
  GetChunksRequest req;
  req.set_cid(cid_);
  for (uint32_t i = 0; i < kChunks; ++i) req.add_indexes(i);
  std::unique_ptr<grpc::ClientReader<Chunk>> unread =
      hog->GetChunks(&hog_ctx, req);
  // It holds the only slot: a real downloader is queued.
  auto real = Client();
  ASSERT_TRUE(WaitFor([&] { return service_->active_streams() == 1; },
                               absl::Seconds(10)));
  absl::StatusOr<SlotResponse> queued = Ask(real.get(), "");
  ASSERT_TRUE(queued.ok()) << queued.status();
  EXPECT_FALSE(queued->granted());
  EXPECT_EQ(queued->queue_position(), 1);
  // Within a few seconds the stalled stream is cancelled and the slot goes
  // to the queue.
  const absl::Time start = absl::Now();
  bool granted = false;
  while (!granted && absl::Now() - start < absl::Seconds(10)) {
    absl::SleepFor(absl::Milliseconds(200));
    absl::StatusOr<SlotResponse> r = Ask(real.get(), "");
    granted = r.ok() && r->granted();
  }
  EXPECT_TRUE(granted);
  EXPECT_EQ(service_->stalled_streams(), 1);
  // The hog is refused for a while.
  absl::StatusOr<SlotResponse> refused = Ask(hog.get(), "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted)
      << refused.status();
  hog_ctx.TryCancel();
}

TEST_F(PeerServiceTlsTest, StreamsPerRequesterAreCapped) {
  PeerServiceImpl::Options o;
  o.max_streams_per_peer = 2;
  o.upload_stall = absl::ZeroDuration();
  o.initial_seeding = false;
  Start(o);
  auto hog = Client();
  GetChunksRequest req;
  req.set_cid(cid_);
  for (uint32_t i = 0; i < kChunks; ++i) req.add_indexes(i);
  grpc::ClientContext c1, c2, c3;
  auto s1 = hog->GetChunks(&c1, req);
  auto s2 = hog->GetChunks(&c2, req);
  ASSERT_TRUE(WaitFor([&] { return service_->active_streams() == 2; },
                               absl::Seconds(10)));
  auto s3 = hog->GetChunks(&c3, req);
  Chunk chunk;
  EXPECT_FALSE(s3->Read(&chunk));
  grpc::Status st = s3->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << st.error_message();
  c1.TryCancel();
  c2.TryCancel();
}

}  // namespace
}  // namespace trove
