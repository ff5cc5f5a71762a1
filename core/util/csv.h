// Minimal CSV (RFC 4180) line splitting: comma separated, fields optionally in double quotes
// with "" for a quote inside. A line never spans newlines here (tap exports don't need it).
//
// Thread-safe: pure function.
#ifndef DESFIRED_CORE_UTIL_CSV_H_
#define DESFIRED_CORE_UTIL_CSV_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace desfired {

// Splits `line` into `fields` (cleared first), trimming spaces around unquoted fields.
// INVALID_ARGUMENT for an unterminated quote or text after a closing quote.
absl::Status SplitCsvLine(absl::string_view line, std::vector<std::string>* fields);

}  // namespace desfired

#endif  // DESFIRED_CORE_UTIL_CSV_H_
