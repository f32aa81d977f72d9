// Status propagation helpers. Abseil 20220623 ships no RETURN_IF_ERROR, so it is defined once here.
#ifndef INFUSION_COMMON_STATUS_MACROS_H_
#define INFUSION_COMMON_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define INFUSION_CONCAT_INNER_(a, b) a##b
#define INFUSION_CONCAT_(a, b) INFUSION_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define RETURN_IF_ERROR(expr)                                  \
  do {                                                         \
    ::absl::Status infusion_status_ = (expr);                  \
    if (!infusion_status_.ok()) return infusion_status_;       \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` unwraps an absl::StatusOr or returns its status.
#define ASSIGN_OR_RETURN(lhs, expr) \
  ASSIGN_OR_RETURN_IMPL_(INFUSION_CONCAT_(statusor_, __LINE__), lhs, expr)
#define ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                           \
  if (!statusor.ok()) return statusor.status();     \
  lhs = std::move(statusor).value()

#endif  // INFUSION_COMMON_STATUS_MACROS_H_
