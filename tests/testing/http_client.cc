#include "tests/testing/http_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace desfired::testing {
namespace {

struct Transfer {
  HttpResponse* response;
  const std::function<bool(absl::string_view)>* on_data;
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const absl::string_view piece(data, size * n);
  if (t->on_data == nullptr) {
    t->response->body.append(piece.data(), piece.size());
    return piece.size();
  }
  return (*t->on_data)(piece) ? piece.size() : 0;  // 0 aborts the transfer
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * n);
  line = absl::StripSuffix(absl::StripSuffix(line, "\n"), "\r");
  if (!line.empty()) t->response->headers.emplace_back(line);
  return size * n;
}

CURL* NewHandle() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_ALL); });
  return curl_easy_init();
}

// One transfer on `curl` (its options are reset first; its open connection is kept).
HttpResponse Perform(CURL* curl, const HttpRequest& request,
                     const std::function<bool(absl::string_view)>* on) {
  curl_easy_reset(curl);
  HttpResponse response;
  Transfer transfer{&response, on};
  curl_slist* headers = nullptr;
  for (const std::string& h : request.headers) headers = curl_slist_append(headers, h.c_str());
  curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(request.timeout)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  if (!request.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, request.ca_file.c_str());
  if (!request.client_cert.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSLCERT, request.client_cert.c_str());
    curl_easy_setopt(curl, CURLOPT_SSLKEY, request.client_key.c_str());
  }  // malformed paths reach the server as written
  const CURLcode code = curl_easy_perform(curl);
  if (code != CURLE_OK) response.error = curl_easy_strerror(code);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &response.new_connections);
  curl_slist_free_all(headers);
  return response;
}

HttpResponse Run(const HttpRequest& request, const std::function<bool(absl::string_view)>* on) {
  CURL* curl = NewHandle();
  HttpResponse response = Perform(curl, request, on);
  curl_easy_cleanup(curl);
  return response;
}

}  // namespace

std::string HttpResponse::Header(absl::string_view name) const {
  for (const std::string& line : headers) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    if (absl::EqualsIgnoreCase(absl::string_view(line).substr(0, colon), name)) {
      return std::string(absl::StripAsciiWhitespace(absl::string_view(line).substr(colon + 1)));
    }
  }
  return "";
}

HttpResponse HttpCall(const HttpRequest& request) { return Run(request, nullptr); }

std::vector<HttpResponse> HttpCalls(const std::vector<HttpRequest>& requests) {
  CURL* curl = NewHandle();
  std::vector<HttpResponse> responses;
  for (const HttpRequest& request : requests) responses.push_back(Perform(curl, request, nullptr));
  curl_easy_cleanup(curl);
  return responses;
}

HttpResponse HttpStream(const HttpRequest& request,
                        const std::function<bool(absl::string_view piece)>& on_data) {
  return Run(request, &on_data);
}

std::vector<SseEvent> ParseSse(absl::string_view text) {
  std::vector<SseEvent> events;
  while (true) {
    const size_t end = text.find("\n\n");
    if (end == absl::string_view::npos) break;
    SseEvent e;
    bool has_data = false;
    for (absl::string_view line : absl::StrSplit(text.substr(0, end), '\n')) {
      if (absl::ConsumePrefix(&line, ":")) {
        e.comment = std::string(absl::StripLeadingAsciiWhitespace(line));
        continue;
      }
      const size_t colon = line.find(':');
      const absl::string_view field = line.substr(0, colon);
      absl::string_view value = colon == absl::string_view::npos ? "" : line.substr(colon + 1);
      (void)absl::ConsumePrefix(&value, " ");
      if (field == "id") e.id = std::string(value);
      if (field == "event") e.event = std::string(value);
      if (field == "data") {
        if (has_data) e.data += '\n';
        e.data += std::string(value);
        has_data = true;
      }
    }
    events.push_back(std::move(e));
    text.remove_prefix(end + 2);
  }
  return events;
}

std::string RawExchange(int port, const std::string& data, absl::Duration wait) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string answer;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, data.data(), data.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(data.size())) {
    const absl::Time deadline = absl::Now() + wait;
    char buf[4096];
    while (absl::Now() < deadline) {
      pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) {
        answer += "<closed>";
        break;
      }
      answer.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  return answer;
}

}  // namespace desfired::testing
