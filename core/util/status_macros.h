// Status propagation macros. abseil 20220623 has no RETURN_IF_ERROR / ASSIGN_OR_RETURN, so
// the project defines them once here.
//
//   DESFIRED_RETURN_IF_ERROR(DoThing());
//   DESFIRED_ASSIGN_OR_RETURN(auto value, ComputeValue());
#ifndef DESFIRED_CORE_UTIL_STATUS_MACROS_H_
#define DESFIRED_CORE_UTIL_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define DESFIRED_RETURN_IF_ERROR(expr)                   \
  do {                                                   \
    ::absl::Status desfired_status_ = (expr);            \
    if (!desfired_status_.ok()) return desfired_status_; \
  } while (0)

#define DESFIRED_STATUS_CONCAT_INNER_(a, b) a##b
#define DESFIRED_STATUS_CONCAT_(a, b) DESFIRED_STATUS_CONCAT_INNER_(a, b)

#define DESFIRED_ASSIGN_OR_RETURN(lhs, expr) \
  DESFIRED_ASSIGN_OR_RETURN_IMPL_(DESFIRED_STATUS_CONCAT_(desfired_statusor_, __LINE__), lhs, expr)

#define DESFIRED_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

#endif  // DESFIRED_CORE_UTIL_STATUS_MACROS_H_
