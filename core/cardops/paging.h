// Paging of the listing operations (ListApplications, ListFiles, ReadRecords): a page size and
// an opaque page token in, a page of items and the token of the next page out.
//
//   DESFIRED_ASSIGN_OR_RETURN(Page page, PageOf(request.page_size, request.page_token));
//   ... items [page.start, page.start + page.size) ...
//   result.next_page_token = NextPageToken(page.start + count, total);
//
// page_size 0 means kDefaultPageSize, larger than kMaxPageSize means kMaxPageSize; page_token
// is the decimal position of the first item (opaque to clients; it is what next_page_token
// held), empty on the first page.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_CARDOPS_PAGING_H_
#define DESFIRED_CORE_CARDOPS_PAGING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired::cardops {

// Page size when a request gives 0, and the largest page a request gets.
inline constexpr int32_t kDefaultPageSize = 100;
inline constexpr int32_t kMaxPageSize = 1000;
// The longest page token this module gives out: a decimal position below 2^24.
inline constexpr size_t kMaxPageTokenLength = 8;

struct Page {
  size_t start = 0;  // position of the first item
  size_t size = kDefaultPageSize;
};

// The page a request asks for. INVALID_ARGUMENT (errors.h, field "page_size") for a negative
// size, (field "page_token") for a token this module did not give out.
absl::StatusOr<Page> PageOf(int32_t page_size, absl::string_view page_token);

// The token of the page that starts at `next` of `total` items; empty when there is none.
std::string NextPageToken(size_t next, size_t total);

}  // namespace desfired::cardops

#endif  // DESFIRED_CORE_CARDOPS_PAGING_H_
