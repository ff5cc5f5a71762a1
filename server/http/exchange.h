// One HTTP request being answered, as the handlers of the HTTP API see it (internal to
// server/http): the parsed request, its authenticated caller, and the ways to answer on its
// connection (connection.h). Every error goes out through Fail (http_error.h's one shape).
//
// Thread-compatible: one Exchange per request, used on that request's handler thread.
#ifndef DESFIRED_SERVER_HTTP_EXCHANGE_H_
#define DESFIRED_SERVER_HTTP_EXCHANGE_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/client_context.h"
#include "proto/convert/proto_json.h"
#include "server/http/http_request.h"
#include "server/http/session_store.h"

namespace desfired::server::http {

class Connection;

// The caller of a request, once authenticated (HttpServer::Authenticate).
struct Caller {
  std::string token;  // forwarded to the gRPC services as "authorization: Bearer"; may be empty
  Principal principal;
};

class Exchange {
 public:
  explicit Exchange(Connection* conn) : conn_(conn) {}

  std::string method;
  std::vector<std::string> segments;  // the path, decoded (http_request.h)
  QueryParams query;
  std::optional<Caller> caller;  // set by the server before a handler runs (except sign-in)

  // A request header (case-insensitive name); nullopt when absent.
  std::optional<std::string> Header(absl::string_view name) const;
  // The Content-Length, or -1 when the body is chunked or has none.
  int64_t content_length() const;
  // The browser used https: TLS here, or a reverse proxy in front says so
  // (X-Forwarded-Proto: https).
  bool secure() const;
  Connection* conn() const { return conn_; }

  // Reads up to `n` body bytes into `buf`: the count, 0 at the body's end; an error when the
  // connection fails or the body does not come within the request timeout.
  absl::StatusOr<size_t> ReadBody(char* buf, size_t n);
  // The whole body, at most `max` bytes (BODY_TOO_LARGE beyond, with `limit` as its metadata).
  absl::StatusOr<std::string> ReadAll(size_t max, absl::string_view limit);

  // Another request may follow on the connection once this one is answered (the server's
  // keep-alive rules; default: no).
  void set_keep_alive_allowed(bool allowed) { keep_alive_allowed_ = allowed; }
  // The answer said the connection stays open: a complete answer (Respond), allowed, and the
  // request read to its end (connection.h, reusable). Streams always close.
  bool keep_alive() const { return keep_alive_; }

  // A complete answer. `extra_headers`: whole lines, each ending in "\r\n".
  void Respond(int status, absl::string_view content_type, absl::string_view body,
               absl::string_view extra_headers = "");
  void RespondJson(const google::protobuf::Message& message, int status = 200);
  // The error answer of `status` (not OK): http_error.h. `extra_headers` as for Respond.
  void Fail(const absl::Status& status, absl::string_view extra_headers = "");
  // Starts an answer whose body follows with Write (no Content-Length: the connection closes
  // at its end).
  void StartStream(int status, absl::string_view content_type,
                   absl::string_view extra_headers = "");
  // Writes body bytes; false when the client is gone (or took nothing within the timeout).
  bool Write(absl::string_view data);

  int status() const { return status_; }
  bool started() const { return started_; }

 private:
  Connection* conn_;
  bool keep_alive_allowed_ = false;
  bool keep_alive_ = false;
  int status_ = 0;
  bool started_ = false;
};

// A context for an in-process call on behalf of `caller`: its token as "authorization: Bearer",
// and a deadline `timeout` from now (none when infinite).
std::unique_ptr<grpc::ClientContext> CallContext(const Caller& caller,
                                                 absl::Duration timeout = absl::Seconds(30));

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_EXCHANGE_H_
