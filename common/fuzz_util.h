// Helpers the request fuzz targets share: a check that names what failed,
// the checks every refusal must pass, protobuf parsing of the input, and
// fixed signing keys (so a crash found with a key replays with the same
// key).
#ifndef TROVE_COMMON_FUZZ_UTIL_H_
#define TROVE_COMMON_FUZZ_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/identity.h"

// Aborts (a libFuzzer crash) with the failed condition when `cond` is false.
#define TROVE_FUZZ_CHECK(cond)                                        \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,     \
                   __LINE__, #cond);                                  \
      std::abort();                                                   \
    }                                                                 \
  } while (0)

namespace trove {
namespace fuzz {

// A refusal must say why in text that is safe to show and log (no control
// or bidi character: what the caller sent is quoted, not echoed), and,
// when `fields` is not empty, name one of them.
void CheckRefusal(const absl::Status& status,
                  std::initializer_list<absl::string_view> fields = {});

// One of two fixed Ed25519 identities (which = 0 or 1).
const Identity& FixedIdentity(int which);

// Signs `message` with `identity`; aborts when signing fails.
std::string SignOrDie(const Identity& identity, absl::string_view message);

// Parses `bytes` as a `Message`; false when they do not parse.
template <typename Message>
bool ParseInput(absl::string_view bytes, Message* message) {
  return message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()));
}

// `message` after a serialise / parse round trip (what a relay would pass
// on); aborts when the serialised form does not parse back.
template <typename Message>
Message RoundTrip(const Message& message) {
  Message copy;
  const std::string bytes = message.SerializeAsString();
  TROVE_FUZZ_CHECK(copy.ParseFromString(bytes));
  return copy;
}

// The input split at its first byte: `selector` is that byte and `rest`
// the others. False for an empty input.
bool SplitInput(const uint8_t* data, size_t size, uint8_t* selector,
                absl::string_view* rest);

}  // namespace fuzz
}  // namespace trove

#endif  // TROVE_COMMON_FUZZ_UTIL_H_
