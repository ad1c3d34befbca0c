#include "peer_client/transfer/downloader_testing.h"

#include <cstdlib>
#include <map>

namespace trove {
namespace testing {

const Identity& Key(char c) {
  static absl::Mutex mu(absl::kConstInit);
  static auto* keys = new std::map<char, std::unique_ptr<Identity>>();
  absl::MutexLock lock(&mu);
  std::unique_ptr<Identity>& key = (*keys)[c];
  if (key == nullptr) {
    absl::StatusOr<std::unique_ptr<Identity>> made = Identity::Generate();
    if (!made.ok()) std::abort();
    key = std::move(*made);
  }
  return *key;
}

std::string PeerId(char c) { return Key(c).peer_id(); }

}  // namespace testing
}  // namespace trove
