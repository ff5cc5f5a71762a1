// HttpGet: a minimal HTTP/1.0 GET over a loopback TCP socket, for tests that scrape
// /metrics (no HTTP library, no curl).
//
//   absl::StatusOr<HttpResponse> r = HttpGet(port, "/metrics");
//   ASSERT_TRUE(r.ok()) << r.status();
//   EXPECT_EQ(r->status, 200);
//
// HTTP/1.0 without keep-alive: the server closes the connection after the response, so the
// body is everything after the blank line. Thread-compatible.
#ifndef DESFIRED_TESTS_TESTING_HTTP_GET_H_
#define DESFIRED_TESTS_TESTING_HTTP_GET_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace desfired::testing {

struct HttpResponse {
  int status = 0;
  std::string headers;
  std::string body;
};

inline absl::StatusOr<HttpResponse> HttpGet(int port, const std::string& path,
                                            absl::Duration timeout = absl::Seconds(5)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const timeval tv = absl::ToTimeval(timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    const std::string error = std::strerror(errno);
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("connect to 127.0.0.1:", port, ": ", error));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1:", port, "\r\n\r\n");
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      return absl::UnavailableError("send failed");
    }
    sent += static_cast<size_t>(n);
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) break;
    if (n < 0) {
      ::close(fd);
      return absl::DeadlineExceededError(absl::StrCat("recv: ", std::strerror(errno)));
    }
    raw.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t end = raw.find("\r\n\r\n");
  HttpResponse response;
  // "HTTP/1.x 200 OK"
  if (end == std::string::npos || raw.size() < 12 || raw.compare(0, 5, "HTTP/") != 0 ||
      !absl::SimpleAtoi(raw.substr(9, 3), &response.status)) {
    return absl::DataLossError(absl::StrCat("not an HTTP response: ", raw.substr(0, 64)));
  }
  response.headers = raw.substr(0, end);
  response.body = raw.substr(end + 4);
  return response;
}

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_TESTING_HTTP_GET_H_
