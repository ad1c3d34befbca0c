// A seeded, realistic synthetic catalog for benchmarks: file names drawn
// from a vocabulary with a long tail (a few words in very many names, most
// in few), extensions and sizes by kind (audio, video, image, document,
// archive, software), and sources per file skewed as in real sharing (most
// files have one source, a few have hundreds). The same options give the
// same catalog, byte for byte.
//
// Thread-compatible.
#ifndef TROVE_BENCH_CATALOG_GEN_H_
#define TROVE_BENCH_CATALOG_GEN_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "protos/types.pb.h"

namespace trove {
namespace bench {

struct CatalogOptions {
  uint64_t seed = 1;
  int64_t files = 1000000;
  int64_t peers = 100000;
  // About this many sources over all files (the skew sets the exact count).
  int64_t sources = 2500000;
  // Supernodes the peers are spread over.
  int supernodes = 100;
  // Words in the vocabulary.
  int vocabulary = 150000;
};

struct GenFile {
  std::string cid;  // 64 hex digits
  int64_t size = 0;
  std::string name;
  FileKind kind = FILE_KIND_ANY;
};

struct GenSource {
  uint32_t file;
  uint32_t peer;
  // The name this source uses (most use the file's own name).
  std::string name;
};

struct GenPeer {
  std::string id;  // 64 hex digits
  std::string address;
  int supernode = 0;
};

struct Catalog {
  std::vector<GenFile> files;
  std::vector<GenSource> sources;
  std::vector<GenPeer> peers;
  std::vector<std::string> supernodes;  // ids, 64 hex digits
};

class CatalogGenerator {
 public:
  explicit CatalogGenerator(const CatalogOptions& options);

  // The whole catalog.
  Catalog Generate();

  // `files` more files, each held by one of `leaves` new peers (about
  // files/leaves each), spread over `supernodes` new supernodes: what a
  // wave of new leaves would publish.
  Catalog GenerateNewLeaves(int64_t files, int64_t leaves, int supernodes);

  // A file name of the catalog's kind mix, from its vocabulary.
  GenFile MakeFile();

  // A word of the vocabulary, drawn with the catalog's skew.
  const std::string& Word();

  std::mt19937_64& rng() { return rng_; }

 private:
  std::string Hex32();
  int64_t SourcesForAFile();
  std::string Variant(const std::string& name);

  const CatalogOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::string> vocabulary_;
  // Cumulative weights of the vocabulary's ranks (Zipf).
  std::vector<double> cumulative_;
  // Cumulative weights of 1..kMaxSources sources per file.
  std::vector<double> source_weights_;
};

}  // namespace bench
}  // namespace trove

#endif  // TROVE_BENCH_CATALOG_GEN_H_
