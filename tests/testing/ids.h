// Ids and identities for unit tests.
#ifndef TROVE_TESTS_TESTING_IDS_H_
#define TROVE_TESTS_TESTING_IDS_H_

#include <memory>
#include <string>

#include "common/identity.h"

namespace trove {
namespace testutil {

// A well-formed id (64 lowercase hex digits) made from a small number,
// distinct per `kind`, which must be a hex digit ('a' supernodes, 'c'
// cids, 'e' peers by convention): Id('c', 1) is "c000…001".
std::string Id(char kind, int n);

// A freshly generated identity. Fails the running test (and returns null)
// when one cannot be made.
std::unique_ptr<Identity> NewIdentity();

}  // namespace testutil
}  // namespace trove

#endif  // TROVE_TESTS_TESTING_IDS_H_
