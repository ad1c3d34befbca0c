// Receiving chunks without copying them. PeerService.GetChunks is called
// with the messages left as received (grpc::ByteBuffer: the receive
// buffers' slices, shared, not copied), and each trove.peer.Chunk is parsed
// in place: its data stays in those slices, is hashed there and written to
// the part file from there (pwritev). The protobuf parser would copy every
// chunk into a std::string first: at loopback speeds that copy is a sizeable
// part of the receiver's CPU.
//
// Thread-compatible: one RawChunk per thread; RawChunkStub is thread-safe.
#ifndef TROVE_PEER_CLIENT_TRANSFER_RAW_CHUNK_H_
#define TROVE_PEER_CLIENT_TRANSFER_RAW_CHUNK_H_

#include <cstdint>
#include <memory>
#include <vector>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/merkle.h"
#include "protos/peer.pb.h"

namespace trove {

// One trove.peer.Chunk, parsed in place.
class RawChunk {
 public:
  // Parses `buffer` (a serialized Chunk; the buffer may be cleared by the
  // call). Proto3 rules: fields in any order, the last occurrence wins,
  // unknown fields skipped, missing fields are 0 / empty.
  // INVALID_ARGUMENT for bytes that are not a valid Chunk message.
  absl::Status Parse(grpc::ByteBuffer* buffer);

  uint32_t index() const { return index_; }
  // Length of the data.
  size_t size() const { return size_; }
  // The data: pieces to take in order. Valid until the next Parse.
  const std::vector<absl::string_view>& pieces() const { return pieces_; }
  // SHA-256 of the data.
  Hash DataSha256() const;
  // The data in one string (copies; for tests and small chunks).
  std::string DataString() const;

 private:
  std::vector<grpc::Slice> slices_;
  uint32_t index_ = 0;
  size_t size_ = 0;
  std::vector<absl::string_view> pieces_;
};

// Starts GetChunks calls whose answers are read as raw ByteBuffers.
class RawChunkStub {
 public:
  explicit RawChunkStub(std::shared_ptr<grpc::ChannelInterface> channel);

  // Like PeerService::Stub::GetChunks, but each message read is the raw
  // Chunk, for RawChunk::Parse. `context` must outlive the reader.
  std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> GetChunks(
      grpc::ClientContext* context, const peer::GetChunksRequest& request);

 private:
  const std::shared_ptr<grpc::ChannelInterface> channel_;
  const grpc::internal::RpcMethod method_;
};

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_TRANSFER_RAW_CHUNK_H_
