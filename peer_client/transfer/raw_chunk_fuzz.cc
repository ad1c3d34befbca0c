// Fuzz target: the in-place parser of trove.peer.Chunk messages that arrive
// from other peers (RawChunk). The first input byte says where the message
// is cut into slices, as gRPC's receive buffers cut it. Besides not
// crashing, the parser must agree with protobuf's: a message RawChunk
// accepts is one protobuf accepts, with the same index and data.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "peer_client/transfer/raw_chunk.h"
#include "protos/peer.pb.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t cut = 1 + data[0] % 16;  // bytes per slice
  const std::string message(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < message.size(); at += cut) {
    const std::string piece = message.substr(at, cut);
    slices.emplace_back(piece.data(), piece.size());
  }
  grpc::ByteBuffer buffer(slices.data(), slices.size());
  trove::RawChunk raw;
  if (!raw.Parse(&buffer).ok()) return 0;

  trove::peer::Chunk parsed;
  Check(parsed.ParseFromString(message));
  Check(raw.index() == parsed.index());
  Check(raw.size() == parsed.data().size());
  Check(raw.DataString() == parsed.data());
  size_t total = 0;
  for (absl::string_view piece : raw.pieces()) total += piece.size();
  Check(total == raw.size());
  return 0;
}
