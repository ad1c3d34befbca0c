// Untrusted text: UTF-8 decoding, the characters that must never reach a
// log, a terminal or another user unescaped, and escaping them.
//
// "Unsafe" characters are those that can forge or hide text when printed:
// C0 controls (newline, escape...), DEL, C1 controls (U+0080..U+009F, such
// as U+009B, a one-character terminal escape), the bidirectional formatting
// characters (U+061C, U+200E, U+200F, U+202A..U+202E, U+2066..U+2069, which
// reorder what follows them on screen) and the line and paragraph
// separators U+2028/U+2029.
//
// All functions are pure and thread-safe.
#ifndef TROVE_COMMON_TEXT_H_
#define TROVE_COMMON_TEXT_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace trove {

// Decodes the UTF-8 sequence starting at s[pos] into `*code_point` and
// returns its length in bytes (1..4), or 0 when it is not well-formed
// (truncated, overlong, a surrogate or above U+10FFFF).
// REQUIRES: pos < s.size().
size_t DecodeUtf8(absl::string_view s, size_t pos, char32_t* code_point);

// True for the unsafe code points described at the top of this file.
bool IsUnsafeCodePoint(char32_t code_point);

// Offset of the first unsafe character or ill-formed UTF-8 byte in `s`, or
// absl::string_view::npos when there is none.
size_t FindUnsafeText(absl::string_view s);

// `s` made safe to print on one line: a backslash becomes "\\", newline,
// carriage return and tab become "\n", "\r" and "\t", other C0 controls and
// DEL "\xHH", the other unsafe code points "\uHHHH", and bytes that are not
// well-formed UTF-8 "\xHH". Everything else is kept as it is, so ordinary
// names in any script stay readable. The result never contains an unsafe
// character.
std::string EscapeText(absl::string_view s);

// Appends `s` as the inside of a JSON string (without the quotes): quote,
// backslash and control characters escaped as JSON requires, bytes that are
// not well-formed UTF-8 as U+FFFD. Other unsafe code points are written as
// \uHHHH escapes too, so the JSON text itself stays one clean line.
void AppendJsonEscaped(absl::string_view s, std::string* out);

}  // namespace trove

#endif  // TROVE_COMMON_TEXT_H_
