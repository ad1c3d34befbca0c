// The proof of work a leaf does to join a supernode: a small cost for one
// honest join that a flood of made-up identities pays thousands of times.
//
// The supernode hands out `bits` with each challenge nonce. The leaf finds
// `work` (8 bytes) such that
//   SHA-256("trove-join-work-v1" || nonce || public_key || work)
// begins with `bits` zero bits, and sends it with its Join. The work is
// bound to the nonce (used once, valid for a minute) and to the key that
// joins, so it can be neither stored up nor shared. Each added bit doubles
// the expected cost (bench/join_work_bench measures it); 0 bits: no work.
//
// Thread-safe.
#ifndef TROVE_COMMON_JOIN_WORK_H_
#define TROVE_COMMON_JOIN_WORK_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace trove {

// Most bits a supernode may ask for (2^32 hashes is hours, not a join).
inline constexpr int kMaxJoinWorkBits = 32;

// Whether `work` meets `bits` for `nonce` and `public_key`. Always true for
// `bits` <= 0.
bool JoinWorkMeets(absl::string_view nonce, absl::string_view public_key,
                   absl::string_view work, int bits);

// Finds work meeting `bits` (at most kMaxJoinWorkBits); "" for `bits` <= 0.
std::string SolveJoinWork(absl::string_view nonce,
                          absl::string_view public_key, int bits);

}  // namespace trove

#endif  // TROVE_COMMON_JOIN_WORK_H_
