// The parts of an HTTP request the API reads itself, parsed strictly: the path (split into
// percent-decoded segments), the query string and the Cookie header (docs/api.md, "HTTP API").
// The connection (connection.h) hands them over undecoded, so that every byte is checked here
// once.
//
//   absl::StatusOr<std::vector<std::string>> segments = SplitPath("/v1/readers/Test%20PCD/card");
//   // {"v1", "readers", "Test PCD", "card"}
//   absl::StatusOr<QueryParams> query = ParseQuery("reader=a&reader=b&resume_after=17");
//   std::optional<std::string> id = CookieValue("theme=dark; desfired_session=ab12",
//   "desfired_session");
//
// Errors are INVALID_ARGUMENT naming what is wrong and where (never echoing the value: a query
// or cookie may hold a secret pasted by mistake).
//
// Thread-safe (pure functions).
#ifndef DESFIRED_SERVER_HTTP_HTTP_REQUEST_H_
#define DESFIRED_SERVER_HTTP_HTTP_REQUEST_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace desfired::server::http {

// Longest path, query string and Cookie header the API reads (the 16 KiB head limit
// bounds the whole head too).
inline constexpr size_t kMaxPathBytes = 2048;
inline constexpr size_t kMaxQueryParams = 64;

// Percent-decodes `s` ("%41" → "A"; with `plus_is_space`, "+" → " "). INVALID_ARGUMENT for a
// '%' not followed by two hex digits, a decoded NUL or control character, or bytes that are
// not UTF-8.
absl::StatusOr<std::string> PercentDecode(absl::string_view s, bool plus_is_space);

// The segments of an absolute path, each percent-decoded. INVALID_ARGUMENT for a path that
// does not start with '/', is longer than kMaxPathBytes, has an empty segment ("//", a
// trailing '/' except for "/" itself), a "." or ".." segment, a decoded '/', or a bad escape.
// "/" has no segments.
absl::StatusOr<std::vector<std::string>> SplitPath(absl::string_view path);

// name=value pairs of a query string, in order, decoded ('+' is a space). A pair without '='
// has an empty value; empty pairs ("a=1&&b=2") are skipped. INVALID_ARGUMENT beyond
// kMaxQueryParams pairs, for an empty name, or a bad escape.
using QueryParams = std::vector<std::pair<std::string, std::string>>;
absl::StatusOr<QueryParams> ParseQuery(absl::string_view query);

// The values of `name` in `params`, in order.
std::vector<std::string> QueryValues(const QueryParams& params, absl::string_view name);

// The value of cookie `name` in a Cookie header ("a=1; b=2"), the first when it occurs more
// than once; nullopt when absent. Values are taken as they are (no decoding); surrounding
// double quotes are removed.
std::optional<std::string> CookieValue(absl::string_view header, absl::string_view name);

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_HTTP_REQUEST_H_
