// Text helpers of the command line: sizes, rates, durations, share links
// and the progress line. Pure functions, thread-safe.
#ifndef TROVE_PEER_CLIENT_CLI_FORMAT_H_
#define TROVE_PEER_CLIENT_CLI_FORMAT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace trove {

// "0 B", "999 B", "1.5 KiB", "3.0 MiB", "1.2 GiB"...
std::string HumanBytes(int64_t bytes);

// "12.3 MiB/s".
std::string HumanRate(double bytes_per_second);

// "0:07", "12:05", "1:02:03"; "?" for a negative or absurd value.
std::string HumanDuration(double seconds);

// Parses a size: "1234", "10k", "700M", "1.5G", "2T" (binary multiples,
// case-insensitive, optional "B"/"iB" suffix). INVALID_ARGUMENT otherwise.
absl::StatusOr<int64_t> ParseSize(absl::string_view text);

// A share link: trove:<cid>?name=<percent-encoded name>&size=<bytes>.
std::string MakeTroveLink(absl::string_view cid, absl::string_view name,
                          int64_t size);

struct TroveLink {
  std::string cid;
  std::string name;  // "" when the link has none.
  int64_t size = -1; // -1 when the link has none.
};

// Parses a share link or a bare cid. The scheme is case-insensitive
// ("trove:", "TROVE:", "trove://"). INVALID_ARGUMENT for anything else (the
// cid must be 64 hex digits; upper case is accepted and lowered).
absl::StatusOr<TroveLink> ParseTroveLink(absl::string_view text);

// Percent-encoding for a link's query values, and back.
std::string PercentEncode(absl::string_view s);
absl::StatusOr<std::string> PercentDecode(absl::string_view s);

// Display columns of UTF-8 text on a terminal: wide East Asian characters
// and emoji count 2, combining marks 0, everything else 1.
int DisplayWidth(absl::string_view text);

// `text` cut to at most `width` columns, ending in "…" when it was cut.
std::string Ellipsize(absl::string_view text, int width);

// What the progress line of a download shows.
struct ProgressView {
  std::string name;
  int64_t done = 0;
  int64_t size = 0;
  double bytes_per_second = 0;
  int sources = 0;
  // The best place held in a source's upload queue (0: none).
  int queue_position = 0;
  // Empty or "downloading": the rate and ETA are shown; otherwise this
  // text takes their place ("waiting for sources", "paused", "done").
  std::string state_text;
};

// The progress of a download on one line:
// "song.mp3  1.5 MiB / 3.0 MiB  50%  1.2 MiB/s  ETA 0:02  1 source", and
// "  queued #3" when queue_position is set. With `width` > 0 the line takes
// at most that many columns: the name is shortened first (to "so…"), then
// the fields at the end are left out.
std::string ProgressLine(const ProgressView& view, int width = 0);
std::string ProgressLine(absl::string_view name, int64_t done, int64_t size,
                         double bytes_per_second, int sources,
                         int queue_position = 0);

}  // namespace trove

#endif  // TROVE_PEER_CLIENT_CLI_FORMAT_H_
