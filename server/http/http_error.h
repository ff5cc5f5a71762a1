// Errors of the HTTP API: one JSON shape and one status mapping for every refusal, whether the
// HTTP layer refuses a request itself (a bad path, a body too large) or a gRPC service answered
// it (docs/api.md, "HTTP API"):
//
//   HTTP/1.1 404 Not Found
//   {"code":"NOT_FOUND","reason":"READER_NOT_FOUND","message":"...","metadata":{"reader":"..."}}
//
// `code` is the gRPC code's name, `reason` and `metadata` those of the google.rpc.ErrorInfo the
// gRPC call carries (proto/convert/status_convert.h), `message` its message. The HTTP status is
// the gRPC code's in the mapping of AIP-193 (google.rpc.Code): INVALID_ARGUMENT,
// FAILED_PRECONDITION, OUT_OF_RANGE 400; UNAUTHENTICATED 401; PERMISSION_DENIED 403; NOT_FOUND
// 404; ALREADY_EXISTS, ABORTED 409; RESOURCE_EXHAUSTED 429; CANCELLED 499; UNKNOWN, INTERNAL,
// DATA_LOSS 500; UNIMPLEMENTED 501; UNAVAILABLE 503; DEADLINE_EXCEEDED 504.
//
// Thread-safe (pure functions).
#ifndef DESFIRED_SERVER_HTTP_HTTP_ERROR_H_
#define DESFIRED_SERVER_HTTP_HTTP_ERROR_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace desfired::server::http {

// The HTTP status of a gRPC (absl) code, as above; 200 for OK.
int HttpStatusOf(absl::StatusCode code);

// The JSON body of `status` (not OK): {code, reason, message, metadata}. The reason is the
// status's reason payload, or the code's name when it has none.
std::string ErrorJson(const absl::Status& status);

// A status of `code` with `reason` and the metadata `metadata` (key, value pairs), as the gRPC
// services build theirs: for the refusals of the HTTP layer.
absl::Status HttpError(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                       std::vector<std::pair<std::string, std::string>> metadata = {});

// The refusals of a request body, one wording wherever a body is read:
// BODY_TOO_LARGE (RESOURCE_EXHAUSTED): larger than `max` bytes; `limit` names the flag.
absl::Status BodyTooLarge(size_t max, absl::string_view limit);
// REQUEST_TIMEOUT (DEADLINE_EXCEEDED): the body did not come within --http_request_timeout, or
// the connection ended after `received` of the `length` bytes announced (length < 0: none).
absl::Status BodyTimedOut(uint64_t received = 0, int64_t length = -1);

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_HTTP_ERROR_H_
