#include "peer_client/transfer/raw_chunk.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <openssl/evp.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace trove {
namespace {

// Reads protobuf wire format across the slices of a message.
class Cursor {
 public:
  explicit Cursor(const std::vector<grpc::Slice>& slices) : slices_(slices) {
    SkipEmpty();
  }

  bool AtEnd() const { return slice_ == slices_.size(); }

  bool Byte(uint8_t* b) {
    if (AtEnd()) return false;
    *b = slices_[slice_].begin()[offset_];
    Advance(1);
    return true;
  }

  // A varint of at most `max_bytes` bytes (a tag takes at most 5).
  bool Varint(uint64_t* v, int max_bytes = 10) {
    *v = 0;
    for (int shift = 0; shift < 7 * max_bytes; shift += 7) {
      uint8_t b;
      if (!Byte(&b)) return false;
      if (shift == 63 && b > 1) return false;  // Over 64 bits.
      *v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }

  // The next `n` bytes as pieces (appended to `out` when not null).
  bool Take(uint64_t n, std::vector<absl::string_view>* out) {
    while (n > 0) {
      if (AtEnd()) return false;
      const grpc::Slice& s = slices_[slice_];
      const size_t here = std::min<uint64_t>(n, s.size() - offset_);
      if (out != nullptr) {
        out->emplace_back(reinterpret_cast<const char*>(s.begin()) + offset_,
                          here);
      }
      Advance(here);
      n -= here;
    }
    return true;
  }

 private:
  void Advance(size_t n) {
    offset_ += n;
    if (offset_ == slices_[slice_].size()) {
      ++slice_;
      offset_ = 0;
      SkipEmpty();
    }
  }
  void SkipEmpty() {
    while (slice_ < slices_.size() && slices_[slice_].size() == 0) ++slice_;
  }

  const std::vector<grpc::Slice>& slices_;
  size_t slice_ = 0;
  size_t offset_ = 0;
};

absl::Status Malformed(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("malformed Chunk message: ", what));
}

}  // namespace

absl::Status RawChunk::Parse(grpc::ByteBuffer* buffer) {
  slices_.clear();
  pieces_.clear();
  index_ = 0;
  size_ = 0;
  grpc::Status dumped = buffer->Dump(&slices_);
  if (!dumped.ok()) return Malformed(dumped.error_message());
  Cursor c(slices_);
  while (!c.AtEnd()) {
    uint64_t tag;
    if (!c.Varint(&tag, 5) || tag > 0xffffffffu) {
      return Malformed("truncated or overlong tag");
    }
    const uint64_t field = tag >> 3;
    const int wire_type = static_cast<int>(tag & 7);
    if (field == 0 || field > 0x1fffffff) return Malformed("bad field number");
    switch (wire_type) {
      case 0: {
        uint64_t v;
        if (!c.Varint(&v)) return Malformed("truncated varint");
        if (field == 1) index_ = static_cast<uint32_t>(v);
        break;
      }
      case 1:
        if (!c.Take(8, nullptr)) return Malformed("truncated fixed64");
        break;
      case 5:
        if (!c.Take(4, nullptr)) return Malformed("truncated fixed32");
        break;
      case 2: {
        uint64_t length;
        if (!c.Varint(&length)) return Malformed("truncated length");
        if (field == 2) {
          pieces_.clear();
          if (!c.Take(length, &pieces_)) return Malformed("truncated data");
          size_ = static_cast<size_t>(length);
        } else if (!c.Take(length, nullptr)) {
          return Malformed("truncated field");
        }
        break;
      }
      default:
        return Malformed(absl::StrCat("wire type ", wire_type));
    }
  }
  return absl::OkStatus();
}

Hash RawChunk::DataSha256() const {
  Hash out;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (absl::string_view p : pieces_) EVP_DigestUpdate(ctx, p.data(), p.size());
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string RawChunk::DataString() const {
  std::string out;
  out.reserve(size_);
  for (absl::string_view p : pieces_) out.append(p.data(), p.size());
  return out;
}

RawChunkStub::RawChunkStub(std::shared_ptr<grpc::ChannelInterface> channel)
    : channel_(std::move(channel)),
      method_("/trove.peer.PeerService/GetChunks",
              grpc::internal::RpcMethod::SERVER_STREAMING, channel_) {}

std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>> RawChunkStub::GetChunks(
    grpc::ClientContext* context, const peer::GetChunksRequest& request) {
  // What the generated stub does for PeerService::Stub::GetChunks, with
  // ByteBuffer (whose deserialization takes the received slices as they
  // are) as the message type.
  return std::unique_ptr<grpc::ClientReader<grpc::ByteBuffer>>(
      grpc::internal::ClientReaderFactory<grpc::ByteBuffer>::Create(
          channel_.get(), method_, context, request));
}

}  // namespace trove
