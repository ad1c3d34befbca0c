// A seeded catalog of file names for tests, and queries of every shape
// drawn from it. The same seed gives the same catalog.
#ifndef TROVE_COMMON_SEARCH_TEST_CATALOG_H_
#define TROVE_COMMON_SEARCH_TEST_CATALOG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/search/reference_search.h"

namespace trove {
namespace search {

struct TestCatalog {
  std::vector<ReferenceFile> files;
  // The distinct words the names were made of.
  std::vector<std::string> words;
};

// `files` files; names drawn from a vocabulary with a long tail (a few
// words in many names, most in few), with 3-letter words, digits and
// non-ASCII words; one to three names per file, held by one to many
// sources; extensions and sizes of every kind.
TestCatalog MakeTestCatalog(uint64_t seed, int files);

struct TestQuery {
  // "word", "prefix", "infix", "misspelt", "misspelt3", "two words",
  // "phrase", "exclusion", "excluded phrase", "short prefix", "digits".
  std::string shape;
  std::string text;
};

// `per_shape` query texts of each shape, from the catalog's words.
std::vector<TestQuery> MakeTestQueries(const TestCatalog& catalog,
                                       uint64_t seed, int per_shape);

}  // namespace search
}  // namespace trove

#endif  // TROVE_COMMON_SEARCH_TEST_CATALOG_H_
