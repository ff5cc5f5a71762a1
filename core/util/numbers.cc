#include "core/util/numbers.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace desfired {

absl::StatusOr<uint32_t> ParseIdNumber(absl::string_view text, uint32_t max) {
  text = absl::StripAsciiWhitespace(text);
  uint32_t value = 0;
  bool ok;
  if (absl::StartsWithIgnoreCase(text, "0x")) {
    ok = text.size() > 2 && absl::SimpleHexAtoi(text.substr(2), &value);
  } else {
    ok = !text.empty() && absl::SimpleAtoi(text, &value);
  }
  if (!ok || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a number from 0 to ", max));
  }
  return value;
}

}  // namespace desfired
