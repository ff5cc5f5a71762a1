// Parsing of ids written in configuration and CSV files.
//
//   absl::StatusOr<uint32_t> id = ParseIdNumber("0x001234", 0xFFFFFF);  // 4660
//
// Thread-safe: pure function.
#ifndef DESFIRED_CORE_UTIL_NUMBERS_H_
#define DESFIRED_CORE_UTIL_NUMBERS_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired {

// Parses "123" or "0x7b" (surrounding spaces allowed) as a number no larger than `max`.
// INVALID_ARGUMENT "'<text>' is not a number from 0 to <max>" otherwise.
absl::StatusOr<uint32_t> ParseIdNumber(absl::string_view text, uint32_t max);

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_NUMBERS_H_
