// desfired's HTTP API end to end (server/http/, docs/api.md "HTTP API"): the desfired binary
// with --http_listen on loopback over a sandboxed pcscd with desfire-sim's transit card, driven
// by libcurl (tests/testing/http_client.h: cookies, headers and streamed Server-Sent Events are
// easy to inspect byte for byte from C++, next to the gRPC stubs the same test compares with)
// and, for bodies that never end, a raw socket. Every bad input of issue 17 gets its HTTP error
// while gRPC calls go on. Skipped when not root (the sandbox needs namespaces).
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "desfired/v1/card.grpc.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "server/security/auth.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/http_client.h"

namespace desfired {
namespace {

using testing::HttpCall;
using testing::HttpRequest;
using testing::HttpResponse;
using testing::HttpStream;
using testing::ParseSse;
using testing::RawExchange;
using testing::SseEvent;

constexpr char kViewerToken[] = "vw-0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a";
constexpr char kAdminToken[] = "ad-1f2e3d4c5b6a79880716253443526170";
constexpr absl::Duration kSlack = absl::Seconds(15);

std::string TokensFile() {
  return absl::StrCat("token dash-view viewer ", server::TokenHash(kViewerToken), "\n",
                      "token dash-admin admin ", server::TokenHash(kAdminToken), "\n");
}

// The fields of an error body ({code, reason, message, metadata}); fails when it is not one.
google::protobuf::Struct ErrorOf(const HttpResponse& r) {
  google::protobuf::Struct error;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &error).ok()) << r.body;
  for (const char* field : {"code", "reason", "message", "metadata"}) {
    EXPECT_TRUE(error.fields().contains(field)) << field << " missing in " << r.body;
  }
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  return error;
}
std::string ReasonOf(const HttpResponse& r) {
  return ErrorOf(r).fields().at("reason").string_value();
}

class HttpE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
  }

  void Start(std::vector<std::string> flags, bool tokens = false) {
    flags.push_back(absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm"));
    flags.push_back("--http_listen=127.0.0.1:0");
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir());
    ASSERT_TRUE(keys.ok()) << keys.status();
    flags.push_back("--keys=" + *keys);
    if (tokens) {
      const std::string path = sandbox_->dir() + "/tokens.conf";
      FILE* f = std::fopen(path.c_str(), "w");
      ASSERT_NE(f, nullptr);
      const std::string text = TokensFile();
      std::fwrite(text.data(), 1, text.size(), f);
      std::fclose(f);
      ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
      flags.push_back("--tokens=" + path);
    }
    server_ = std::make_unique<testing::LoopbackDesfired>(sandbox_->dir(), std::move(flags));
    ASSERT_GT(server_->port(), 0) << server_->err();
    std::smatch m;
    const std::string err = server_->err();
    ASSERT_TRUE(std::regex_search(err, m, std::regex("\"http_port\":([0-9]+)"))) << err;
    http_port_ = std::stoi(m[1]);
    ASSERT_GT(http_port_, 0) << err;
    base_ = absl::StrCat("http://127.0.0.1:", http_port_);
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, kSlack).ok());
  }

  HttpResponse Get(const std::string& path, std::vector<std::string> headers = {}) {
    return HttpCall({.url = base_ + path, .headers = std::move(headers)});
  }

  // The gRPC side keeps answering.
  void ExpectGrpcServes() {
    v1::ListReadersResponse readers;
    grpc::Status s = server_->cards().ListReaders(testing::Ctx().get(), {}, &readers);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  std::string Reader0Path() {
    return absl::StrCat("/v1/readers/",
                        absl::StrReplaceAll(sandbox_->ReaderName(0), {{" ", "%20"}}), "/card");
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::unique_ptr<testing::LoopbackDesfired> server_;
  int http_port_ = 0;
  std::string base_;
};

TEST_F(HttpE2eTest, JsonEndpointsAnswerAsTheGrpcMethods) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  HttpResponse health = Get("/healthz");
  EXPECT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.body, "{\"status\":\"SERVING\"}");
  EXPECT_EQ(health.Header("Cache-Control"), "no-store");

  HttpResponse readers = Get("/v1/readers");
  ASSERT_EQ(readers.status, 200) << readers.body;
  v1::ListReadersResponse from_http;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(readers.body, &from_http).ok());
  v1::ListReadersResponse from_grpc;
  ASSERT_TRUE(server_->cards().ListReaders(testing::Ctx().get(), {}, &from_grpc).ok());
  EXPECT_EQ(from_http.DebugString(), from_grpc.DebugString());

  HttpResponse card = Get(Reader0Path());
  ASSERT_EQ(card.status, 200) << card.body;
  v1::GetCardInfoResponse info;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(card.body, &info).ok()) << card.body;
  EXPECT_EQ(info.reader(), sandbox_->ReaderName(0));
  EXPECT_FALSE(info.uid().empty());

  HttpResponse missing = Get("/v1/readers/No%20Such%20Reader/card");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(ReasonOf(missing), "READER_NOT_FOUND");

  // Taps: hex lines (one too short, one not hex) and binary records, one JSON line per
  // record and the summary last.
  HttpResponse hex =
      HttpCall({.method = "POST", .url = base_ + "/v1/taps:parse", .body = "0102\nzz-not-hex\n"});
  ASSERT_EQ(hex.status, 200) << hex.body;
  EXPECT_EQ(hex.Header("Content-Type"), "application/x-ndjson");
  std::vector<std::string> lines = absl::StrSplit(hex.body, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << hex.body;
  EXPECT_TRUE(absl::StrContains(lines[0], "\"status\":\"REJECTED\"")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[2], "\"summary\":{\"total\":\"2\"")) << lines[2];
  HttpResponse bin = HttpCall({.method = "POST",
                               .url = base_ + "/v1/taps:parse?view=basic",
                               .headers = {"Content-Type: application/octet-stream"},
                               .body = std::string(96, '\0')});
  ASSERT_EQ(bin.status, 200) << bin.body;
  EXPECT_EQ(std::vector<std::string>(absl::StrSplit(bin.body, '\n', absl::SkipEmpty())).size(), 4u)
      << bin.body;

  // A debit over gRPC shows in the ledger's newest rows, with the chain verified.
  v1::DebitResponse debit;
  grpc::Status s = server_->cards().Debit(
      testing::Ctx().get(), testing::TransitDebit(sandbox_->ReaderName(0), 7, "http-e2e-1"),
      &debit);
  ASSERT_TRUE(s.ok()) << s.error_message();
  HttpResponse ledger = Get("/v1/ledger/recent?limit=2");
  ASSERT_EQ(ledger.status, 200) << ledger.body;
  EXPECT_TRUE(absl::StrContains(ledger.body, "\"method\":\"Debit\"")) << ledger.body;
  EXPECT_TRUE(absl::StrContains(ledger.body, "\"request_id\":\"http-e2e-1\"")) << ledger.body;
  EXPECT_TRUE(absl::StrContains(ledger.body, "\"verify\":{\"ok\":true")) << ledger.body;

  // Keep-alive: complete answers (an error too, a POST whose body was read) keep the
  // connection for the next request; a streamed answer (taps) closes it.
  std::vector<HttpResponse> kept = testing::HttpCalls({
      {.url = base_ + "/healthz"},
      {.url = base_ + "/v1/readers/No%20Such%20Reader/card"},
      {.method = "POST", .url = base_ + "/v1/session", .body = "{\"token\":\"\"}"},
      {.method = "POST", .url = base_ + "/v1/taps:parse", .body = "0102\n"},
      {.url = base_ + "/healthz"},
  });
  ASSERT_EQ(kept.size(), 5u);
  const std::vector<int> kept_status = {200, 404, 200, 200, 200};
  const std::vector<long> opened = {1, 0, 0, 0, 1};
  for (size_t i = 0; i < kept.size(); ++i) {
    EXPECT_EQ(kept[i].status, kept_status[i]) << i << ": " << kept[i].body << kept[i].error;
    EXPECT_EQ(kept[i].new_connections, opened[i]) << i;
  }
  EXPECT_EQ(kept[0].Header("Connection"), "keep-alive");
  EXPECT_EQ(kept[3].Header("Connection"), "close");
  ExpectGrpcServes();
}

TEST_F(HttpE2eTest, MalformedRequestsGetClearErrors) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  const struct {
    std::string method;
    std::string path;
    long status;
    std::string reason;
  } cases[] = {
      {"GET", "/v1/readers/%zz/card", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers/%4/card", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1//readers", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers/", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers/%2e%2e/card", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers/../readers", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers/a%00b/card", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers/a%2Fb/card", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers/%ff%fe/card", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/readers?=x", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/events?resume_after=abc", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/events?changes=yes", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/ledger/recent?limit=0", 400, "INVALID_ARGUMENT"},
      {"POST", "/v1/taps:parse?format=xml", 400, "INVALID_ARGUMENT"},
      {"GET", "/v1/nothing", 404, "NOT_FOUND"},
      {"GET", "/" + std::string(3000, 'a'), 400, "INVALID_ARGUMENT"},
      {"PUT", "/v1/readers", 501, "UNIMPLEMENTED"},
      {"POST", "/v1/session", 400, "INVALID_ARGUMENT"},  // the body is not JSON
  };
  for (const auto& c : cases) {
    HttpResponse r = HttpCall({.method = c.method, .url = base_ + c.path, .body = "not json"});
    EXPECT_EQ(r.status, c.status) << c.method << " " << c.path.substr(0, 60) << ": " << r.body;
    EXPECT_EQ(ReasonOf(r), c.reason) << c.path.substr(0, 60);
  }
  // A long header line: over the 16 KiB head limit, refused (and nothing else is affected).
  HttpResponse big = Get("/v1/readers", {"X-Big: " + std::string(20000, 'x')});
  EXPECT_NE(big.status, 200);
  ExpectGrpcServes();
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(HttpE2eTest, SessionsCookiesCsrfAndBearerTokens) {
  ASSERT_NO_FATAL_FAILURE(Start({}, /*tokens=*/true));
  HttpResponse none = Get("/v1/readers");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(ReasonOf(none), "TOKEN_MISSING");
  HttpResponse wrong = Get("/v1/readers", {"Authorization: Bearer nope"});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(ReasonOf(wrong), "TOKEN_INVALID");
  EXPECT_EQ(Get("/v1/readers", {std::string("Authorization: Bearer ") + kViewerToken}).status, 200);
  EXPECT_EQ(Get("/healthz").status, 200);  // no token needed, as gRPC health

  HttpResponse bad_sign_in =
      HttpCall({.method = "POST", .url = base_ + "/v1/session", .body = "{\"token\":\"guess\"}"});
  EXPECT_EQ(bad_sign_in.status, 401);
  EXPECT_EQ(ReasonOf(bad_sign_in), "TOKEN_INVALID");
  EXPECT_TRUE(bad_sign_in.Header("Set-Cookie").empty());

  HttpResponse sign_in = HttpCall({.method = "POST",
                                   .url = base_ + "/v1/session",
                                   .body = absl::StrCat("{\"token\":\"", kViewerToken, "\"}")});
  ASSERT_EQ(sign_in.status, 200) << sign_in.body;
  const std::string set_cookie = sign_in.Header("Set-Cookie");
  EXPECT_TRUE(absl::StrContains(set_cookie, "HttpOnly")) << set_cookie;
  EXPECT_TRUE(absl::StrContains(set_cookie, "SameSite=Strict")) << set_cookie;
  EXPECT_TRUE(absl::StrContains(set_cookie, "Path=/")) << set_cookie;
  EXPECT_FALSE(absl::StrContains(set_cookie, "Secure")) << "plain HTTP: " << set_cookie;
  // Behind a TLS reverse proxy the cookie is Secure.
  HttpResponse proxied = HttpCall({.method = "POST",
                                   .url = base_ + "/v1/session",
                                   .headers = {"X-Forwarded-Proto: https"},
                                   .body = absl::StrCat("{\"token\":\"", kViewerToken, "\"}")});
  EXPECT_TRUE(absl::StrContains(proxied.Header("Set-Cookie"), "; Secure"))
      << proxied.Header("Set-Cookie");
  const std::string cookie = "Cookie: " + set_cookie.substr(0, set_cookie.find(';'));
  google::protobuf::Struct answer;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(sign_in.body, &answer).ok());
  const std::string csrf = answer.fields().at("csrfToken").string_value();
  EXPECT_EQ(csrf.size(), 64u);
  EXPECT_EQ(answer.fields().at("role").string_value(), "viewer");
  EXPECT_EQ(answer.fields().at("caller").string_value(), "dash-view");

  EXPECT_EQ(Get("/v1/readers", {cookie}).status, 200);
  EXPECT_EQ(Get(Reader0Path(), {cookie}).status, 200);
  // The viewer may not read the ledger (admin, as a method missing from the role table).
  HttpResponse ledger = Get("/v1/ledger/recent", {cookie});
  EXPECT_EQ(ledger.status, 403);
  EXPECT_EQ(ReasonOf(ledger), "ROLE_DENIED");
  // Nor the change outcomes on the event stream (refused before the stream starts).
  HttpResponse changes = Get("/v1/events?changes=1", {cookie});
  EXPECT_EQ(changes.status, 403) << changes.body;
  EXPECT_EQ(ReasonOf(changes), "ROLE_DENIED");
  EXPECT_EQ(Get("/v1/ledger/recent", {std::string("Authorization: Bearer ") + kAdminToken}).status,
            200);

  // POST with the cookie needs the CSRF token.
  const HttpRequest parse{.method = "POST", .url = base_ + "/v1/taps:parse", .body = "0102\n"};
  HttpRequest no_csrf = parse;
  no_csrf.headers = {cookie};
  HttpResponse refused = HttpCall(no_csrf);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(ReasonOf(refused), "CSRF_TOKEN_INVALID");
  HttpRequest other_csrf = no_csrf;
  other_csrf.headers.push_back("X-CSRF-Token: " + std::string(64, '0'));
  EXPECT_EQ(HttpCall(other_csrf).status, 403);
  HttpRequest with_csrf = no_csrf;
  with_csrf.headers.push_back("X-CSRF-Token: " + csrf);
  EXPECT_EQ(HttpCall(with_csrf).status, 200);
  // A bearer token needs no CSRF token (a script, not a browser's ambient cookie).
  HttpRequest bearer = parse;
  bearer.headers = {std::string("Authorization: Bearer ") + kViewerToken};
  EXPECT_EQ(HttpCall(bearer).status, 200);

  // Invalid cookies.
  for (const std::string& c :
       {std::string("Cookie: desfired_session=") + std::string(64, 'a'),
        std::string("Cookie: desfired_session=short"), std::string("Cookie: desfired_session=")}) {
    HttpResponse r = Get("/v1/readers", {c});
    EXPECT_EQ(r.status, 401) << c;
    EXPECT_EQ(ReasonOf(r), "SESSION_INVALID") << c;
  }

  // Sign out: the cookie is cleared and no longer works.
  HttpResponse out = HttpCall({.method = "DELETE",
                               .url = base_ + "/v1/session",
                               .headers = {cookie, "X-CSRF-Token: " + csrf}});
  EXPECT_EQ(out.status, 204) << out.body;
  EXPECT_TRUE(absl::StrContains(out.Header("Set-Cookie"), "Max-Age=0"));
  EXPECT_EQ(Get("/v1/readers", {cookie}).status, 401);

  // Tokens, session ids and CSRF tokens never reach the log.
  const std::string log = server_->err();
  for (const std::string& secret : {std::string(kViewerToken), std::string(kAdminToken), csrf,
                                    cookie.substr(cookie.find('=') + 1)}) {
    EXPECT_FALSE(absl::StrContains(log, secret));
  }
}

// Reads the event stream at `path` until `until` says so (or kSlack passes): the events.
std::vector<SseEvent> ReadEvents(const std::string& url, std::vector<std::string> headers,
                                 const std::function<bool(const std::vector<SseEvent>&)>& until,
                                 const std::function<void()>& after_first = nullptr) {
  std::string text;
  std::vector<SseEvent> events;
  bool first = true;
  HttpStream({.url = url, .headers = std::move(headers), .timeout = kSlack},
             [&](absl::string_view piece) {
               text.append(piece.data(), piece.size());
               events = ParseSse(text);
               if (first && !events.empty() && after_first) {
                 first = false;
                 after_first();
               }
               return !until(events);
             });
  return events;
}

// The data events (not comments, not retry).
std::vector<SseEvent> DataEvents(const std::vector<SseEvent>& events) {
  std::vector<SseEvent> out;
  for (const SseEvent& e : events) {
    if (!e.data.empty()) out.push_back(e);
  }
  return out;
}

TEST_F(HttpE2eTest, EventsFollowWatchCardsAndResume) {
  ASSERT_NO_FATAL_FAILURE(Start({"--http_heartbeat=100ms"}));
  // Snapshot, then the removal and the insertion of the card, each with its sequence as id.
  auto three = [](const std::vector<SseEvent>& e) { return DataEvents(e).size() >= 3; };
  std::vector<SseEvent> events = ReadEvents(base_ + "/v1/events", {}, three, [&] {
    ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, false, kSlack).ok());
    ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  });
  std::vector<SseEvent> data = DataEvents(events);
  ASSERT_GE(data.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(data[0].data, "{\"snapshot\":{")) << data[0].data;
  EXPECT_TRUE(absl::StrContains(data[0].data, sandbox_->ReaderName(0)));
  EXPECT_TRUE(absl::StrContains(data[1].data, "CARD_REMOVED")) << data[1].data;
  EXPECT_TRUE(absl::StrContains(data[2].data, "CARD_INSERTED")) << data[2].data;
  uint64_t ids[3];
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(absl::SimpleAtoi(data[i].id, &ids[i])) << data[i].id;
    EXPECT_TRUE(absl::StrContains(data[i].data, absl::StrCat("\"sequence\":\"", ids[i], "\"")));
  }
  EXPECT_EQ(ids[1], ids[0] + 1);
  EXPECT_EQ(ids[2], ids[1] + 1);

  // Resuming after the snapshot (Last-Event-ID, as EventSource sends it): the same two events,
  // no snapshot; heartbeats while nothing happens.
  auto two_and_heartbeat = [](const std::vector<SseEvent>& e) {
    bool heartbeat = false;
    for (const SseEvent& x : e) heartbeat = heartbeat || x.comment == "heartbeat";
    return DataEvents(e).size() >= 2 && heartbeat;
  };
  std::vector<SseEvent> resumed = DataEvents(ReadEvents(
      base_ + "/v1/events", {absl::StrCat("Last-Event-ID: ", ids[0])}, two_and_heartbeat));
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(resumed[0].id, data[1].id);
  EXPECT_EQ(resumed[1].id, data[2].id);
  // ?resume_after= does the same.
  std::vector<SseEvent> by_query = DataEvents(
      ReadEvents(absl::StrCat(base_, "/v1/events?resume_after=", ids[1]), {},
                 [](const std::vector<SseEvent>& e) { return DataEvents(e).size() >= 1; }));
  ASSERT_EQ(by_query.size(), 1u);
  EXPECT_EQ(by_query[0].id, data[2].id);

  // Too old a resume point: a reset event, then a fresh snapshot.
  std::vector<SseEvent> reset = DataEvents(
      ReadEvents(base_ + "/v1/events", {"Last-Event-ID: 1"},
                 [](const std::vector<SseEvent>& e) { return DataEvents(e).size() >= 2; }));
  ASSERT_EQ(reset.size(), 2u);
  EXPECT_EQ(reset[0].event, "reset");
  EXPECT_TRUE(absl::StrContains(reset[0].data, "HISTORY_EXPIRED")) << reset[0].data;
  EXPECT_TRUE(absl::StartsWith(reset[1].data, "{\"snapshot\":{")) << reset[1].data;
  EXPECT_EQ(reset[1].id, data[2].id);

  // ?reader= filters: another reader's snapshot lists nothing.
  std::vector<SseEvent> other = DataEvents(
      ReadEvents(base_ + "/v1/events?reader=Other%20Reader", {},
                 [](const std::vector<SseEvent>& e) { return DataEvents(e).size() >= 1; }));
  ASSERT_EQ(other.size(), 1u);
  EXPECT_FALSE(absl::StrContains(other[0].data, sandbox_->ReaderName(0))) << other[0].data;
  ExpectGrpcServes();
}

TEST_F(HttpE2eTest, ShutdownEndsOpenEventStreams) {
  ASSERT_NO_FATAL_FAILURE(Start({}));
  absl::Notification streaming;
  std::vector<SseEvent> events;
  std::thread reader([&] {
    events = ReadEvents(
        base_ + "/v1/events", {},
        [](const std::vector<SseEvent>& e) { return !e.empty() && e.back().event == "end"; },
        [&] { streaming.Notify(); });
  });
  ASSERT_TRUE(streaming.WaitForNotificationWithTimeout(kSlack));
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
  reader.join();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().event, "end");
  EXPECT_TRUE(absl::StrContains(events.back().data, "SHUTTING_DOWN")) << events.back().data;
}

TEST_F(HttpE2eTest, HugeAndEndlessBodiesAreCutOff) {
  ASSERT_NO_FATAL_FAILURE(Start({"--http_max_body_bytes=100000", "--http_request_timeout=1s"}));
  // Announced too large: refused before a byte of it is read.
  const std::string huge = RawExchange(
      http_port_,
      "POST /v1/taps:parse HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n0102\n",
      kSlack);
  EXPECT_TRUE(absl::StartsWith(huge, "HTTP/1.1 429")) << huge.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(huge, "BODY_TOO_LARGE")) << huge.substr(0, 400);
  // Sent too large (chunked, no length announced): cut at the limit.
  HttpResponse chunked = HttpCall({.method = "POST",
                                   .url = base_ + "/v1/taps:parse",
                                   .headers = {"Transfer-Encoding: chunked"},
                                   .body = std::string(300000, 'a')});
  EXPECT_NE(chunked.status, 200) << chunked.body.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(chunked.body, "BODY_TOO_LARGE")) << chunked.body.substr(0, 300);
  // A body that never ends: the server gives up after --http_request_timeout.
  const std::string endless = RawExchange(
      http_port_, "POST /v1/taps:parse HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0102\n",
      kSlack);
  EXPECT_TRUE(absl::StartsWith(endless, "HTTP/1.1 504")) << endless.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(endless, "REQUEST_TIMEOUT")) << endless.substr(0, 400);
  EXPECT_TRUE(absl::EndsWith(endless, "<closed>"));
  // A sign-in body that never ends, and a head that never ends: closed too.
  const std::string sign_in = RawExchange(
      http_port_, "POST /v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", kSlack);
  EXPECT_TRUE(absl::StrContains(sign_in, "REQUEST_TIMEOUT")) << sign_in.substr(0, 400);
  const std::string head =
      RawExchange(http_port_, "GET /v1/readers HTTP/1.1\r\nHost: x\r\n", kSlack);
  EXPECT_TRUE(absl::EndsWith(head, "<closed>")) << head.substr(0, 200);
  ExpectGrpcServes();
  EXPECT_EQ(Get("/healthz").status, 200);
}

TEST_F(HttpE2eTest, ManyEventStreamsFromOneCallerShareTheGrpcLimit) {
  ASSERT_NO_FATAL_FAILURE(Start(
      {"--max_streams_per_caller=4", "--http_max_connections_per_address=64", "--http_threads=96"},
      /*tokens=*/true));
  const std::string viewer = std::string("Authorization: Bearer ") + kViewerToken;
  // Four streams open and stay open.
  std::atomic<bool> stop{false};
  std::atomic<int> snapshots{0};
  std::vector<std::thread> open;
  for (int i = 0; i < 4; ++i) {
    open.emplace_back([&] {
      std::string text;
      bool counted = false;
      HttpStream({.url = base_ + "/v1/events", .headers = {viewer}, .timeout = absl::Minutes(2)},
                 [&](absl::string_view piece) {
                   text.append(piece.data(), piece.size());
                   if (!counted && !DataEvents(ParseSse(text)).empty()) {
                     counted = true;
                     ++snapshots;
                   }
                   return !stop.load();
                 });
    });
  }
  const absl::Time deadline = absl::Now() + kSlack;
  while (snapshots.load() < 4 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_EQ(snapshots.load(), 4);

  // 1,000 more EventSource connections of the same caller: each refused with 429.
  std::atomic<int> refused{0};
  std::atomic<int> other{0};
  std::vector<std::thread> attempts;
  for (int t = 0; t < 10; ++t) {
    attempts.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        HttpResponse r = HttpCall({.url = base_ + "/v1/events", .headers = {viewer}});
        if (r.status == 429 && absl::StrContains(r.body, "TOO_MANY_STREAMS")) {
          ++refused;
        } else {
          ++other;
        }
      }
    });
  }
  for (std::thread& t : attempts) t.join();
  EXPECT_EQ(refused.load(), 1000);
  EXPECT_EQ(other.load(), 0);

  // The limit is the gRPC one: the caller's WatchCards over gRPC is refused too...
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kViewerToken);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto stream = server_->cards().WatchCards(&ctx, v1::WatchCardsRequest());
    v1::WatchCardsResponse item;
    EXPECT_FALSE(stream->Read(&item));
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(testing::InfoOf(s).reason(), "TOO_MANY_STREAMS");
  }
  // ...and other callers are not affected, on either side.
  EXPECT_EQ(ReadEvents(base_ + "/v1/events", {std::string("Authorization: Bearer ") + kAdminToken},
                       [](const std::vector<SseEvent>& e) { return !DataEvents(e).empty(); })
                .size(),
            2u);  // the retry line and the snapshot
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", std::string("Bearer ") + kAdminToken);
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ListReadersResponse readers;
    EXPECT_TRUE(server_->cards().ListReaders(&ctx, {}, &readers).ok());
  }
  stop = true;
  // The streams end at their next write: a card event wakes them.
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  for (std::thread& t : open) t.join();
}

TEST_F(HttpE2eTest, HttpIsOffByDefaultAndFollowsTheLoopbackRule) {
  if (!sandbox_) return;
  const std::string socket = absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm");
  testing::DesfiredRun remote = testing::RunDesfired(
      {"--listen=127.0.0.1:0", "--http_listen=0.0.0.0:0", socket}, sandbox_->dir(), true);
  EXPECT_EQ(remote.exit_code, 1) << remote.err;
  EXPECT_TRUE(absl::StrContains(remote.err, "config http_listen")) << remote.err;
  // With TLS (--tls_cert, --tls_key) it may listen beyond loopback: https_e2e_test.cc.
  testing::LoopbackDesfired plain(sandbox_->dir(), {socket});
  ASSERT_GT(plain.port(), 0) << plain.err();
  EXPECT_TRUE(absl::StrContains(plain.err(), "\"http_port\":0")) << plain.err();
}

}  // namespace
}  // namespace desfired
