#include "peer_client/transfer/raw_chunk.h"

#include <string>
#include <vector>

#include "common/server_util.h"
#include "gtest/gtest.h"
#include "protos/peer.grpc.pb.h"

namespace trove {
namespace {

// `bytes` as a ByteBuffer cut into slices at `cuts`.
grpc::ByteBuffer Buffer(const std::string& bytes, std::vector<size_t> cuts) {
  std::vector<grpc::Slice> slices;
  size_t from = 0;
  cuts.push_back(bytes.size());
  for (size_t to : cuts) {
    slices.emplace_back(bytes.data() + from, to - from);
    from = to;
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

std::string Serialized(uint32_t index, const std::string& data) {
  peer::Chunk c;
  c.set_index(index);
  c.set_data(data);
  return c.SerializeAsString();
}

TEST(RawChunkTest, ParsesWhereverTheSlicesAreCut) {
  const std::string data = "hello, chunk";
  const std::string bytes = Serialized(300, data);
  for (size_t a = 0; a <= bytes.size(); ++a) {
    for (size_t b = a; b <= bytes.size(); b += 3) {
      grpc::ByteBuffer buffer = Buffer(bytes, {a, b});
      RawChunk chunk;
      ASSERT_TRUE(chunk.Parse(&buffer).ok()) << a << "," << b;
      EXPECT_EQ(chunk.index(), 300u);
      EXPECT_EQ(chunk.size(), data.size());
      EXPECT_EQ(chunk.DataString(), data);
      EXPECT_EQ(chunk.DataSha256(), Sha256(data));
    }
  }
}

TEST(RawChunkTest, EmptyMessageIsChunkZeroWithNoData) {
  grpc::ByteBuffer buffer = Buffer("", {});
  RawChunk chunk;
  ASSERT_TRUE(chunk.Parse(&buffer).ok());
  EXPECT_EQ(chunk.index(), 0u);
  EXPECT_EQ(chunk.size(), 0u);
  EXPECT_EQ(chunk.DataSha256(), Sha256(""));
}

TEST(RawChunkTest, FieldsInAnyOrderUnknownOnesSkippedLastWins) {
  std::string bytes;
  bytes += std::string("\x12\x03" "old", 5);      // data = "old"
  bytes += std::string("\x18\x05", 2);            // field 3 varint: unknown
  bytes += std::string("\x25" "abcd", 5);         // field 4 fixed32: unknown
  bytes += std::string("\x29" "12345678", 9);     // field 5 fixed64: unknown
  bytes += std::string("\x32\x02" "zz", 4);       // field 6 bytes: unknown
  bytes += std::string("\x08\x07", 2);            // index = 7
  bytes += std::string("\x12\x03" "new", 5);      // data = "new"
  grpc::ByteBuffer buffer = Buffer(bytes, {3, 10});
  RawChunk chunk;
  ASSERT_TRUE(chunk.Parse(&buffer).ok());
  EXPECT_EQ(chunk.index(), 7u);
  EXPECT_EQ(chunk.DataString(), "new");
}

TEST(RawChunkTest, MalformedMessagesAreInvalidArgument) {
  const std::string good = Serialized(1, "data");
  for (const std::string& bad : {
           good.substr(0, good.size() - 1),           // Data cut short.
           std::string("\x08", 1),                    // Varint missing.
           std::string("\x08\xff\xff", 3),            // Varint cut short.
           std::string("\x0b", 1),                    // Wire type 3 (group).
           std::string("\x00\x01", 2),                // Field number 0.
           std::string("\x12\xff\xff\xff\xff\x0f", 6),  // Length past the end.
           // A tag in six bytes (protobuf's parser refuses it too).
           std::string("\x88\xff\xff\xff\x8d\x00\x32", 7),
       }) {
    grpc::ByteBuffer buffer = Buffer(bad, {});
    RawChunk chunk;
    EXPECT_EQ(chunk.Parse(&buffer).code(), absl::StatusCode::kInvalidArgument)
        << testing::PrintToString(bad);
  }
}

// Serves chunk i as i copies of the letter 'a' + i.
class LetterPeer final : public peer::PeerService::Service {
 public:
  grpc::Status GetChunks(grpc::ServerContext*,
                         const peer::GetChunksRequest* req,
                         grpc::ServerWriter<peer::Chunk>* writer) override {
    requester = req->requester_id();
    for (uint32_t i : req->indexes()) {
      peer::Chunk c;
      c.set_index(i);
      c.set_data(std::string(i * 100000, static_cast<char>('a' + i)));
      if (!writer->Write(c)) break;
    }
    return grpc::Status::OK;
  }
  std::string requester;
};

TEST(RawChunkStubTest, ReadsChunksFromARealServer) {
  LetterPeer service;
  absl::StatusOr<RunningServer> server = StartServer(
      "127.0.0.1:0", {&service}, grpc::InsecureServerCredentials());
  ASSERT_TRUE(server.ok()) << server.status();
  RawChunkStub stub(MakeChannel(server->address));
  grpc::ClientContext ctx;
  peer::GetChunksRequest req;
  req.set_cid("x");
  req.set_requester_id("me");
  for (uint32_t i : {3, 0, 9}) req.add_indexes(i);
  auto reader = stub.GetChunks(&ctx, req);
  std::vector<uint32_t> got;
  grpc::ByteBuffer buffer;
  RawChunk chunk;
  while (reader->Read(&buffer)) {
    ASSERT_TRUE(chunk.Parse(&buffer).ok());
    got.push_back(chunk.index());
    EXPECT_EQ(chunk.DataString(),
              std::string(chunk.index() * 100000,
                          static_cast<char>('a' + chunk.index())));
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, (std::vector<uint32_t>{3, 0, 9}));
  EXPECT_EQ(service.requester, "me");
  server->server->Shutdown();
}

}  // namespace
}  // namespace trove
