// Small helpers for absl::Status plumbing (Abseil 20220623 has none).
#ifndef TROVE_COMMON_STATUS_MACROS_H_
#define TROVE_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define TROVE_CONCAT_INNER_(a, b) a##b
#define TROVE_CONCAT_(a, b) TROVE_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                          \
  do {                                                 \
    ::absl::Status trove_status_ = (expr);             \
    if (!trove_status_.ok()) return trove_status_;     \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>);
// returns its status when not OK, else moves its value into `lhs`.
#define ASSIGN_OR_RETURN(lhs, expr) \
  TROVE_ASSIGN_OR_RETURN_IMPL_(TROVE_CONCAT_(trove_statusor_, __LINE__), lhs, expr)
#define TROVE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()

#endif  // TROVE_COMMON_STATUS_MACROS_H_
