// A small HTTP client for the tests of desfired's HTTP API (server/http/), over libcurl
// (Debian's libcurl4-openssl-dev): plain requests, and streamed answers (Server-Sent Events)
// handed over piece by piece; plus SSE parsing.
//
//   testing::HttpResponse r = testing::HttpCall({.url = base + "/v1/readers",
//                                                .headers = {"Authorization: Bearer " + token}});
//   EXPECT_EQ(r.status, 200) << r.body;
//   testing::HttpStream({.url = base + "/v1/events"}, [&](absl::string_view piece) {
//     text += piece;
//     return ParseSse(text).size() < 3;   // false: stop (the transfer is aborted)
//   });
//
// Thread-compatible: each call is independent (curl_global_init runs once).
#ifndef DESFIRED_TESTS_TESTING_HTTP_CLIENT_H_
#define DESFIRED_TESTS_TESTING_HTTP_CLIENT_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace desfired::testing {

struct HttpRequest {
  std::string method = "GET";
  std::string url = {};
  std::vector<std::string> headers = {};  // "Name: value"
  std::string body = {};                  // sent when method is not GET
  absl::Duration timeout = absl::Seconds(10);
  // https: the CA file (PEM) that verifies the server (empty: the system's), and a client
  // certificate and its key (PEM files) to present (empty: none).
  std::string ca_file = {};
  std::string client_cert = {};
  std::string client_key = {};
};

struct HttpResponse {
  long status = 0;                   // 0: no answer (error says why)
  std::vector<std::string> headers;  // the header lines as received, without CR LF
  std::string body;
  std::string error;         // curl's error, empty on success
  long new_connections = 0;  // connections opened for it (0: it reused the one before)
  // The value of the first header `name` (case-insensitive), empty when absent.
  std::string Header(absl::string_view name) const;
};

HttpResponse HttpCall(const HttpRequest& request);
// The requests one after the other through one curl handle, which keeps its connection open
// between them when the server allows (keep-alive): see new_connections.
std::vector<HttpResponse> HttpCalls(const std::vector<HttpRequest>& requests);

// Like HttpCall, but hands each received piece of the body to `on_data` instead of keeping it;
// the transfer ends when on_data returns false, the server ends it, or request.timeout passes.
HttpResponse HttpStream(const HttpRequest& request,
                        const std::function<bool(absl::string_view piece)>& on_data);

// One Server-Sent Event, or a comment.
struct SseEvent {
  std::string id;     // "id:" field
  std::string event;  // "event:" field; empty: "message"
  std::string data;   // "data:" lines joined with '\n'
  std::string comment;
};
// The complete events (those ended by a blank line) of an event stream's text.
std::vector<SseEvent> ParseSse(absl::string_view text);

// Sends `data` on a new connection to 127.0.0.1:`port` and returns what comes back until the
// server closes the connection ("<closed>" is appended then) or `wait` passes: for requests
// no HTTP client would send (bodies that never end, bytes that are not TLS).
std::string RawExchange(int port, const std::string& data, absl::Duration wait);

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_HTTP_CLIENT_H_
