#include "server/http/http_error.h"

#include <map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "core/util/json_escape.h"
#include "core/util/status_reason.h"

namespace desfired::server::http {

namespace {

// AIP-193 (google.rpc.Code); codes not listed (UNKNOWN, INTERNAL, DATA_LOSS) are 500.
constexpr struct {
  absl::StatusCode code;
  int http;
} kHttpStatus[] = {
    {absl::StatusCode::kOk, 200},
    {absl::StatusCode::kInvalidArgument, 400},
    {absl::StatusCode::kFailedPrecondition, 400},
    {absl::StatusCode::kOutOfRange, 400},
    {absl::StatusCode::kUnauthenticated, 401},
    {absl::StatusCode::kPermissionDenied, 403},
    {absl::StatusCode::kNotFound, 404},
    {absl::StatusCode::kAlreadyExists, 409},
    {absl::StatusCode::kAborted, 409},
    {absl::StatusCode::kResourceExhausted, 429},
    {absl::StatusCode::kCancelled, 499},
    {absl::StatusCode::kUnimplemented, 501},
    {absl::StatusCode::kUnavailable, 503},
    {absl::StatusCode::kDeadlineExceeded, 504},
};

}  // namespace

int HttpStatusOf(absl::StatusCode code) {
  for (const auto& row : kHttpStatus) {
    if (row.code == code) return row.http;
  }
  return 500;
}

std::string ErrorJson(const absl::Status& status) {
  const std::string code = absl::StatusCodeToString(status.code());
  std::string code_name;
  for (char c : code) code_name.push_back(c == ' ' ? '_' : absl::ascii_toupper(c));
  std::map<std::string, std::string> metadata;
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& value) {
    if (absl::StartsWith(url, apdu::kMetadataTypeUrlPrefix)) {
      metadata[std::string(url.substr(apdu::kMetadataTypeUrlPrefix.size()))] = std::string(value);
    }
  });
  std::string out = "{\"code\":";
  AppendJsonString(out, code_name);
  out += ",\"reason\":";
  AppendJsonString(out, GetReason(status).value_or(code_name));
  out += ",\"message\":";
  AppendJsonString(out, status.message());
  out += ",\"metadata\":{";
  bool first = true;
  for (const auto& [key, value] : metadata) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(out, key);
    out += ':';
    AppendJsonString(out, value);
  }
  out += "}}";
  return out;
}

absl::Status HttpError(absl::StatusCode code, absl::string_view reason, absl::string_view message,
                       std::vector<std::pair<std::string, std::string>> metadata) {
  absl::Status status = WithReason(absl::Status(code, message), reason);
  for (auto& [key, value] : metadata) {
    status = apdu::WithErrorMetadata(std::move(status), key, value);
  }
  return status;
}

absl::Status BodyTooLarge(size_t max, absl::string_view limit) {
  return HttpError(absl::StatusCode::kResourceExhausted, "BODY_TOO_LARGE",
                   absl::StrCat("the request body is larger than ", max, " bytes"),
                   {{"limit", std::string(limit)}, {"max", absl::StrCat(max)}});
}

absl::Status BodyTimedOut(uint64_t received, int64_t length) {
  return HttpError(
      absl::StatusCode::kDeadlineExceeded, "REQUEST_TIMEOUT",
      length >= 0 && received < static_cast<uint64_t>(length)
          ? absl::StrCat("the request body ended after ", received, " of ", length, " bytes")
          : "the request body did not arrive in time (or the connection failed)",
      {{"limit", "http_request_timeout"}});
}

}  // namespace desfired::server::http
