#include "server/http/exchange.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/http/connection.h"
#include "server/http/http_error.h"

namespace desfired::server::http {
namespace {

absl::string_view StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 429:
      return "Too Many Requests";
    case 499:
      return "Client Closed Request";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

// Headers of every answer: nothing is cached, nothing sniffed, no framing by other sites.
constexpr absl::string_view kCommonHeaders =
    "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
    "X-Frame-Options: DENY\r\n";

}  // namespace

std::optional<std::string> Exchange::Header(absl::string_view name) const {
  return conn_->Header(name);
}

bool Exchange::secure() const {
  return conn_->tls() || Header("X-Forwarded-Proto").value_or("") == "https";
}

int64_t Exchange::content_length() const { return conn_->content_length(); }

absl::StatusOr<size_t> Exchange::ReadBody(char* buf, size_t n) {
  absl::StatusOr<size_t> got = conn_->ReadBody(buf, n);
  if (!got.ok()) return BodyTimedOut();
  return got;
}

absl::StatusOr<std::string> Exchange::ReadAll(size_t max, absl::string_view limit) {
  const int64_t length = content_length();
  if (length > static_cast<int64_t>(max)) return BodyTooLarge(max, limit);
  std::string body;
  char buf[8192];
  while (true) {
    absl::StatusOr<size_t> got = ReadBody(buf, sizeof buf);
    if (!got.ok()) return got.status();
    if (*got == 0) break;
    body.append(buf, *got);
    if (body.size() > max) return BodyTooLarge(max, limit);
  }
  if (length >= 0 && body.size() < static_cast<size_t>(length)) {
    return BodyTimedOut(body.size(), length);
  }
  return body;
}

void Exchange::Respond(int status, absl::string_view content_type, absl::string_view body,
                       absl::string_view extra_headers) {
  status_ = status;
  started_ = true;
  keep_alive_ = keep_alive_allowed_ && conn_->reusable();
  std::string head = absl::StrCat(
      "HTTP/1.1 ", status, " ", StatusText(status), "\r\n", kCommonHeaders,
      keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n", extra_headers);
  if (!content_type.empty()) absl::StrAppend(&head, "Content-Type: ", content_type, "\r\n");
  absl::StrAppend(&head, "Content-Length: ", body.size(), "\r\n\r\n");
  if (!conn_->Write({head, body})) keep_alive_ = false;
}

void Exchange::RespondJson(const google::protobuf::Message& message, int status) {
  Respond(status, "application/json", ProtoJson(message));
}

void Exchange::Fail(const absl::Status& status, absl::string_view extra_headers) {
  if (started_) return;  // a stream already answered: it ends instead (its handler says how)
  Respond(HttpStatusOf(status.code()), "application/json", ErrorJson(status), extra_headers);
}

void Exchange::StartStream(int status, absl::string_view content_type,
                           absl::string_view extra_headers) {
  status_ = status;
  started_ = true;
  const std::string head = absl::StrCat("HTTP/1.1 ", status, " ", StatusText(status), "\r\n",
                                        kCommonHeaders, "Connection: close\r\n", extra_headers,
                                        "Content-Type: ", content_type, "\r\n\r\n");
  conn_->Write(head);
}

bool Exchange::Write(absl::string_view data) { return conn_->Write(data); }

std::unique_ptr<grpc::ClientContext> CallContext(const Caller& caller, absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  if (!caller.token.empty()) context->AddMetadata("authorization", "Bearer " + caller.token);
  if (timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  return context;
}

}  // namespace desfired::server::http
