// Validation of everything that arrives from the network. Every service
// calls these at its edge, before anything is stored or acted on.
// All functions are pure and thread-safe; failures are INVALID_ARGUMENT with
// a message naming what was wrong.
#ifndef TROVE_COMMON_VALIDATION_H_
#define TROVE_COMMON_VALIDATION_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "protos/types.pb.h"

namespace trove {

// Limits that hold everywhere in the protocol.
inline constexpr size_t kMaxNameBytes = 255;
inline constexpr size_t kMaxQueryBytes = 256;
inline constexpr size_t kMaxExtensions = 16;
inline constexpr size_t kMaxExtensionBytes = 16;
// 1 PiB: larger sizes are treated as absurd.
inline constexpr int64_t kMaxFileSize = int64_t{1} << 50;

// True when `s` is well-formed UTF-8 (no overlongs, no surrogates).
bool IsValidUtf8(absl::string_view s);

// Text from the network that will be stored, logged or shown to others:
// well-formed UTF-8 with no control character (C0, DEL, C1 such as U+009B)
// and no bidi or line formatting character (U+061C, U+200E, U+200F,
// U+202A..U+202E, U+2066..U+2069, U+2028, U+2029), which could forge or
// disguise what others see. `what` names the field in the error.
absl::Status ValidateText(absl::string_view text, absl::string_view what);

// A file name: 1..255 bytes of clean text (ValidateText), no '/' or '\\',
// and not the path components "." or "..". Dots inside a name are fine
// ("AC-DC - T.N.T..mp3").
absl::Status ValidateFileName(absl::string_view name);

// A content id or peer id: exactly 64 lowercase hex digits. `what` names the
// field in the error ("cid", "peer_id").
absl::Status ValidateHexId(absl::string_view id, absl::string_view what);

// A file size: 0..kMaxFileSize.
absl::Status ValidateFileSize(int64_t size);

// A whole FileEntry (cid, size, name); the message names the entry's name or
// cid so a user can find it.
absl::Status ValidateFileEntry(const FileEntry& entry);

// A search query: clean text (ValidateText) of 1..kMaxQueryBytes bytes
// with at least one letter or digit, sizes in range and min <= max, extensions short and
// alphanumeric, limit not negative.
absl::Status ValidateSearchQuery(const SearchQuery& query);

// host:port with a port in 1..65535 (ASCII, no spaces or control
// characters), or unix:PATH (no control characters).
absl::Status ValidateAddress(absl::string_view address);

// An address to listen on: as ValidateAddress, but port 0 (a free port) is
// allowed too.
absl::Status ValidateListenAddress(absl::string_view address);

// Lowercase extension of a file name without the dot ("" when none).
std::string FileExtension(absl::string_view name);

}  // namespace trove

#endif  // TROVE_COMMON_VALIDATION_H_
