#include "index_server/trust_store.h"

#include "common/merkle.h"

namespace trove {
namespace index_server {

std::string SessionHash(const std::string& token) {
  return HexEncode(Sha256(token));
}

}  // namespace index_server
}  // namespace trove
