#include "core/cardops/paging.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/cardops/errors.h"
#include "core/util/status_macros.h"

namespace desfired::cardops {
namespace {

constexpr uint32_t kMaxPosition = 0xFFFFFF;  // positions are 24-bit, as on the card

// The decimal position a page token holds; empty: 0.
absl::StatusOr<uint32_t> ParsePageToken(absl::string_view token) {
  if (token.empty()) return 0u;
  if (token.size() > kMaxPageTokenLength ||
      !std::all_of(token.begin(), token.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidFieldError("page_token", "not a page token this server gave out");
  }
  uint64_t value = 0;
  for (char c : token) value = value * 10 + static_cast<uint64_t>(c - '0');
  if (value > kMaxPosition)
    return InvalidFieldError("page_token", "not a page token this server gave out");
  return static_cast<uint32_t>(value);
}

}  // namespace

absl::StatusOr<Page> PageOf(int32_t page_size, absl::string_view page_token) {
  if (page_size < 0) {
    return InvalidFieldError(
        "page_size", absl::StrFormat("the page size must not be negative, got %d", page_size));
  }
  DESFIRED_ASSIGN_OR_RETURN(uint32_t start, ParsePageToken(page_token));
  const int32_t size = page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  return Page{start, static_cast<size_t>(size)};
}

std::string NextPageToken(size_t next, size_t total) {
  return next < total ? absl::StrCat(next) : std::string();
}

}  // namespace desfired::cardops
