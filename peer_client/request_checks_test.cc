// The peer's request checks on their own: PeerService (peer_service.h)
// and ControlService (control_service.h).
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "peer_client/control_service.h"
#include "peer_client/file_catalog.h"
#include "peer_client/peer_service.h"
#include "tests/testing/ids.h"

namespace trove {
namespace {

using ::testing::HasSubstr;

using testutil::Id;

TEST(RequestChecksTest, Manifest) {
  peer::GetManifestRequest r;
  r.set_cid(Id('c', 1));
  EXPECT_TRUE(ValidateManifestRequest(r).ok());
  r.set_nonce("short");
  EXPECT_THAT(ValidateManifestRequest(r).message(), HasSubstr("nonce"));
  r.set_nonce(std::string(16, 'n'));
  EXPECT_TRUE(ValidateManifestRequest(r).ok());
  r.set_cid("C");
  EXPECT_THAT(ValidateManifestRequest(r).message(), HasSubstr("cid"));
}

TEST(RequestChecksTest, ClaimedRequestersAreIdsUnlessTheConnectionProvesOne) {
  peer::SlotRequest slot;
  slot.set_cid(Id('c', 1));
  slot.set_requester_id("x\nforged");
  EXPECT_THAT(ValidateSlotRequest(slot, false).message(),
              HasSubstr("requester_id"));
  EXPECT_TRUE(ValidateSlotRequest(slot, true).ok());
  slot.set_requester_id(Id('e', 1));
  EXPECT_TRUE(ValidateSlotRequest(slot, false).ok());

  peer::WatchHavesRequest watch;
  watch.set_cid(Id('c', 1));
  EXPECT_TRUE(ValidateWatchHavesRequest(watch, false).ok());
  watch.set_requester_id("E");
  EXPECT_THAT(ValidateWatchHavesRequest(watch, false).message(),
              HasSubstr("requester_id"));
  watch.set_cid("");
  EXPECT_THAT(ValidateWatchHavesRequest(watch, true).message(),
              HasSubstr("cid"));
}

TEST(RequestChecksTest, ChunkIndexes) {
  peer::GetChunksRequest r;
  r.set_cid(Id('c', 1));
  EXPECT_THAT(CheckChunkIndexes(r, 4, 10, nullptr).message(),
              HasSubstr("no chunk indexes"));
  r.add_indexes(9);
  EXPECT_TRUE(CheckChunkIndexes(r, 4, 10, nullptr).ok());
  peer::GetChunksRequest bad_cid = r;
  bad_cid.set_cid(std::string("c\0\n", 3));
  EXPECT_THAT(CheckChunkIndexes(bad_cid, 4, 1, nullptr).message(),
              HasSubstr("cid must be 64 lowercase hex digits"));
  EXPECT_EQ(CheckChunkIndexes(r, 4, 9, nullptr).code(),
            absl::StatusCode::kOutOfRange);
  ChunkHaveMap have(10);
  have.Set(1);
  EXPECT_EQ(CheckChunkIndexes(r, 4, 10, &have).code(),
            absl::StatusCode::kNotFound);
  r.set_indexes(0, 1);
  EXPECT_TRUE(CheckChunkIndexes(r, 4, 10, &have).ok());
  for (int i = 0; i < 4; ++i) r.add_indexes(1);
  EXPECT_THAT(CheckChunkIndexes(r, 4, 10, &have).message(),
              HasSubstr("at most 4"));
}

TEST(RequestChecksTest, GetRequestRefusalsQuoteTheFolderSafely) {
  control::GetRequest r;
  r.set_cid(Id('c', 1));
  r.set_out_dir("rel\n2026 forged");
  absl::Status s = ValidateGetRequest(r);
  EXPECT_THAT(s.message(), HasSubstr("got 'rel\\n2026 forged'"));
  EXPECT_EQ(s.message().find('\n'), absl::string_view::npos);
}

TEST(RequestChecksTest, ControlRequests) {
  control::DownloadRef ref;
  ref.set_cid(Id('c', 1));
  EXPECT_TRUE(ValidateDownloadRef(ref).ok());
  ref.set_cid("c");
  EXPECT_THAT(ValidateDownloadRef(ref).message(), HasSubstr("cid"));

  control::LimitsRequest limits;
  limits.set_max_upload_rate(0);
  limits.set_max_uploads(3);
  EXPECT_TRUE(ValidateLimitsRequest(limits).ok());
  limits.set_max_download_rate_per_peer(-1);
  EXPECT_THAT(ValidateLimitsRequest(limits).message(),
              HasSubstr("max_download_rate_per_peer must not be negative"));
}

}  // namespace
}  // namespace trove
