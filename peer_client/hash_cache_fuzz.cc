// Fuzz target: loading the hash cache from the daemon's state folder
// (HashCache::Load), a file a crash or a full disk may have damaged. The
// input is written to a file of this process's own and loaded. Besides not
// crashing: what loads, with one entry added, saves and loads back with the
// same entries.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/merkle.h"
#include "peer_client/hash_cache.h"

namespace {

void Check(bool condition) {
  if (!condition) std::abort();
}

std::string Dir() {
  static const std::string dir = [] {
    const char* tmp = std::getenv("TEST_TMPDIR");
    std::string base = tmp != nullptr ? tmp : "/tmp";
    std::string templ = absl::StrCat(base, "/hash_cache_fuzz.XXXXXX");
    Check(::mkdtemp(templ.data()) != nullptr);
    return templ;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Dir() + "/cache";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), size);
    Check(static_cast<bool>(out));
  }
  std::unique_ptr<trove::HashCache> cache = trove::HashCache::Load(path);
  Check(cache != nullptr);
  (void)cache->Lookup("/share/a", static_cast<int64_t>(size), 0);
  const size_t loaded = cache->size();

  // A change makes Save write; the file written loads back whole.
  trove::FileHashes hashes;
  hashes.size = 1;
  hashes.chunk_hashes.push_back(trove::Sha256("x"));
  hashes.cid = trove::ComputeCid(hashes.chunk_hashes, 1);
  cache->Put("/fuzz/added", 1, 1, hashes);
  Check(cache->Save().ok());
  std::unique_ptr<trove::HashCache> reloaded = trove::HashCache::Load(path);
  Check(reloaded->size() == cache->size());
  Check(cache->size() == loaded || cache->size() == loaded + 1);
  Check(reloaded->Lookup("/fuzz/added", 1, 1).has_value());
  return 0;
}
