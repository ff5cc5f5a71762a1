#include "server/http/http_server.h"

#include <civetweb.h>

#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/dashboard/dashboard_assets.h"
#include "server/http/http_error.h"

namespace desfired::server::http {
namespace {

constexpr absl::string_view kCookie = "desfired_session";
constexpr size_t kMaxJsonBody = 64 * 1024;

int OnBeginRequest(mg_connection* conn) {
  auto* server = static_cast<HttpServer*>(mg_get_request_info(conn)->user_data);
  return server->HandleRequest(conn);
}

// civetweb's own lines (bind failures, TLS errors) go to the server's log.
int OnLogMessage(const mg_connection* conn, const char* message) {
  const mg_request_info* info = conn ? mg_get_request_info(conn) : nullptr;
  auto* server = info ? static_cast<HttpServer*>(info->user_data) : nullptr;
  if (server != nullptr && server->deps().logger != nullptr) {
    server->deps().logger->Warn("http", log::Fields().Str("detail", message));
  }
  return 1;
}

// civetweb's form of host:port ("localhost" as 127.0.0.1).
std::string CivetPorts(absl::string_view listen) {
  std::string ports(listen);
  if (absl::StartsWith(ports, "localhost:")) ports = absl::StrCat("127.0.0.1", ports.substr(9));
  return ports;
}

// The session cookie's value, when the request carries one.
std::optional<std::string> SessionId(const Exchange& ex) {
  std::optional<std::string> cookies = ex.Header("Cookie");
  return cookies ? CookieValue(*cookies, kCookie) : std::nullopt;
}

// The answer of POST and GET /v1/session.
std::string SessionJson(absl::string_view caller, Role role, absl::string_view csrf,
                        absl::Time expires) {
  google::protobuf::Struct answer;
  (*answer.mutable_fields())["signedIn"].set_bool_value(true);
  (*answer.mutable_fields())["csrfToken"].set_string_value(std::string(csrf));
  (*answer.mutable_fields())["caller"].set_string_value(std::string(caller));
  (*answer.mutable_fields())["role"].set_string_value(std::string(RoleName(role)));
  (*answer.mutable_fields())["expiresAt"].set_string_value(
      absl::FormatTime(absl::RFC3339_sec, expires, absl::UTCTimeZone()));
  return ProtoJson(answer);
}

}  // namespace

HttpServer::HttpServer(HttpOptions options, HttpDeps deps)
    : options_(std::move(options)),
      deps_(std::move(deps)),
      sessions_(SessionStore::Options{.ttl = options_.session_ttl}) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpOptions options, HttpDeps deps) {
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(options), std::move(deps)));
  const HttpOptions& o = s->options_;
  mg_init_library(0);
  const std::string ports = CivetPorts(o.listen);
  const std::string threads = absl::StrCat(o.threads);
  const std::string timeout = absl::StrCat(absl::ToInt64Milliseconds(o.request_timeout));
  std::vector<const char*> config = {"listening_ports",    ports.c_str(),
                                     "num_threads",        threads.c_str(),
                                     "request_timeout_ms", timeout.c_str(),
                                     "max_request_size",   "16384",
                                     "enable_keep_alive",  "no",
                                     "decode_url",         "no",
                                     "tcp_nodelay",        "1"};
  config.push_back(nullptr);
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof callbacks);
  callbacks.begin_request = OnBeginRequest;
  callbacks.log_message = OnLogMessage;
  char error_text[256] = {0};
  unsigned error_code = 0;
  mg_error_data error{
      .code = &error_code, .text = error_text, .text_buffer_size = sizeof error_text};
  mg_init_data init{
      .callbacks = &callbacks, .user_data = s.get(), .configuration_options = config.data()};
  s->ctx_ = mg_start2(&init, &error);
  if (s->ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", o.listen, " (http_listen): ",
                                               error_text[0] ? error_text : "civetweb failed"));
  }
  mg_server_port port_info[4];
  const int n = mg_get_server_ports(s->ctx_, 4, port_info);
  if (n > 0) s->port_ = port_info[0].port;
  return s;
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  {
    absl::MutexLock lock(&mu_);
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return streams_ == 0; };
    mu_.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(2));
  }
  if (ctx_ != nullptr) mg_stop(ctx_);
  ctx_ = nullptr;
}

void HttpServer::StreamStarted() {
  absl::MutexLock lock(&mu_);
  ++streams_;
}

void HttpServer::StreamEnded() {
  absl::MutexLock lock(&mu_);
  --streams_;
}

bool HttpServer::AdmitAddress(const std::string& address) {
  absl::MutexLock lock(&mu_);
  size_t& open = per_address_[address];
  if (options_.max_requests_per_address != 0 && open >= options_.max_requests_per_address) {
    if (open == 0) per_address_.erase(address);
    return false;
  }
  ++open;
  return true;
}

void HttpServer::ReleaseAddress(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = per_address_.find(address);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
}

int HttpServer::HandleRequest(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  Exchange ex(conn, info->is_ssl != 0);
  ex.method = info->request_method ? info->request_method : "";
  const std::string address = info->remote_addr;
  if (!AdmitAddress(address)) {
    ex.Fail(HttpError(absl::StatusCode::kResourceExhausted, "TOO_MANY_CONNECTIONS",
                      absl::StrCat("this address has ", options_.max_requests_per_address,
                                   " requests open, as many as the server allows"),
                      {{"limit", "http_max_connections_per_address"},
                       {"max", absl::StrCat(options_.max_requests_per_address)}}));
    return ex.status();
  }
  absl::StatusOr<std::vector<std::string>> segments =
      SplitPath(info->local_uri_raw ? info->local_uri_raw : "");
  absl::StatusOr<QueryParams> query = ParseQuery(info->query_string ? info->query_string : "");
  if (!segments.ok()) {
    ex.Fail(HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                      absl::StrCat("malformed path: ", segments.status().message()),
                      {{"field", "path"}}));
  } else if (!query.ok()) {
    ex.Fail(HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                      absl::StrCat("malformed query: ", query.status().message()),
                      {{"field", "query"}}));
  } else {
    ex.segments = *std::move(segments);
    ex.query = *std::move(query);
    Dispatch(ex);
  }
  ReleaseAddress(address);
  return ex.status() != 0 ? ex.status() : 500;
}

absl::StatusOr<Caller> HttpServer::Authenticate(const Exchange& ex, bool csrf) {
  const Authorizer& authorizer = *deps_.authorizer;
  if (std::optional<std::string> authorization = ex.Header("Authorization")) {
    CallCredentials credentials;
    credentials.authorization = *authorization;
    absl::StatusOr<Principal> principal = authorizer.Identify(credentials);
    if (!principal.ok()) return principal.status();
    absl::string_view token = *authorization;
    (void)absl::ConsumePrefix(&token, "Bearer ");
    return Caller{.token = std::string(token), .principal = *std::move(principal)};
  }
  if (std::optional<std::string> id = SessionId(ex)) {
    std::optional<Session> session = sessions_.Find(*id);
    if (!session) {
      return HttpError(absl::StatusCode::kUnauthenticated, "SESSION_INVALID",
                       "the session is unknown or has expired: sign in again (POST /v1/session)");
    }
    if (csrf && !SessionStore::CsrfMatches(*session, ex.Header("X-CSRF-Token").value_or(""))) {
      return HttpError(absl::StatusCode::kPermissionDenied, "CSRF_TOKEN_INVALID",
                       "a request with the session cookie must carry the session's CSRF token "
                       "in the X-CSRF-Token header");
    }
    return Caller{.token = session->token, .principal = session->principal};
  }
  // Neither: the gRPC rule (an open table admits everyone as admin).
  absl::StatusOr<Principal> principal = authorizer.Identify(CallCredentials{});
  if (!principal.ok()) {
    return HttpError(absl::StatusCode::kUnauthenticated, std::string(kReasonTokenMissing),
                     "no credentials: sign in (POST /v1/session) or send Authorization: Bearer");
  }
  return Caller{.token = "", .principal = *std::move(principal)};
}

void HttpServer::Dispatch(Exchange& ex) {
  const std::vector<std::string>& p = ex.segments;
  const std::string& m = ex.method;
  auto exists = [&](std::initializer_list<absl::string_view> path) {
    if (p.size() != path.size()) return false;
    size_t i = 0;
    for (absl::string_view part : path) {
      if (part != "*" && p[i] != part) return false;
      ++i;
    }
    return true;
  };
  auto route = [&](absl::string_view method, std::initializer_list<absl::string_view> path) {
    return m == method && exists(path);
  };
  if (route("GET", {"healthz"})) return HandleHealthz(*this, ex);
  if (route("POST", {"v1", "session"})) return SignIn(ex);
  if (route("GET", {"v1", "session"})) return SessionInfo(ex);
  if (m == "GET" && ServeDashboard(ex)) return;
  using Handler = std::function<void()>;
  struct Api {
    absl::string_view method;
    std::initializer_list<absl::string_view> path;
    Handler run;
  };
  const Api apis[] = {
      {"DELETE", {"v1", "session"}, [&] { SignOut(ex); }},
      {"GET", {"v1", "readers"}, [&] { HandleReaders(*this, ex); }},
      {"GET", {"v1", "readers", "*", "card"}, [&] { HandleCard(*this, ex, p[2]); }},
      {"GET", {"v1", "ledger", "recent"}, [&] { HandleLedgerRecent(*this, ex); }},
      {"POST", {"v1", "taps:parse"}, [&] { HandleTapsParse(*this, ex); }},
      {"GET", {"v1", "events"}, [&] { HandleEvents(*this, ex); }},
      {"GET", {"v1", "metrics"}, [&] { HandleMetrics(*this, ex); }},
  };
  for (const Api& api : apis) {
    if (!route(api.method, api.path)) continue;
    absl::StatusOr<Caller> caller = Authenticate(ex, api.method != "GET");
    if (!caller.ok()) return ex.Fail(caller.status());
    ex.caller = *std::move(caller);
    return api.run();
  }
  bool known = exists({"healthz"}) || exists({"v1", "session"});
  for (const Api& api : apis) known = known || exists(api.path);
  if (known) {
    return ex.Fail(HttpError(absl::StatusCode::kUnimplemented, "UNIMPLEMENTED",
                             absl::StrCat("method ", m, " is not served on this path")));
  }
  ex.Fail(HttpError(absl::StatusCode::kNotFound, "NOT_FOUND", "no such path in the HTTP API",
                    {{"field", "path"}}));
}

void HttpServer::SignIn(Exchange& ex) {
  absl::StatusOr<std::string> body = ex.ReadAll(kMaxJsonBody, "http_max_json_bytes");
  if (!body.ok()) return ex.Fail(body.status());
  google::protobuf::Struct request;
  if (!google::protobuf::util::JsonStringToMessage(*body, &request).ok()) {
    return ex.Fail(HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                             "the body must be a JSON object: {\"token\": \"...\"}",
                             {{"field", "body"}}));
  }
  std::string token;
  auto it = request.fields().find("token");
  if (it != request.fields().end()) token = it->second.string_value();
  CallCredentials credentials;
  if (!token.empty()) credentials.authorization = "Bearer " + token;
  absl::StatusOr<Principal> principal = deps_.authorizer->Identify(credentials);
  if (!principal.ok()) return ex.Fail(principal.status());
  const std::string caller = principal->name;
  const Role role = principal->role;
  absl::StatusOr<SessionStore::Created> session =
      sessions_.Create(std::move(token), *std::move(principal));
  if (!session.ok()) return ex.Fail(session.status());
  const std::string cookie = absl::StrCat(
      "Set-Cookie: ", kCookie, "=", session->id,
      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=", absl::ToInt64Seconds(options_.session_ttl),
      ex.secure() ? "; Secure" : "", "\r\n");
  ex.Respond(200, "application/json", SessionJson(caller, role, session->csrf, session->expires),
             cookie);
}

void HttpServer::SessionInfo(Exchange& ex) {
  std::optional<Session> session;
  if (std::optional<std::string> id = SessionId(ex)) session = sessions_.Find(*id);
  // No session is an answer, not an error: the page asks "am I signed in?" on every load.
  if (!session) return ex.Respond(200, "application/json", "{\"signedIn\":false}");
  ex.Respond(200, "application/json",
             SessionJson(session->principal.name, session->principal.role, session->csrf,
                         session->expires));
}

bool HttpServer::ServeDashboard(Exchange& ex) {
  std::string path = "/";
  if (!ex.segments.empty()) {
    if (ex.segments.size() != 2 || ex.segments[0] != "assets") return false;
    path = "/assets/" + ex.segments[1];
  }
  const dashboard::DashboardAsset* asset = dashboard::FindDashboardAsset(path);
  if (asset == nullptr) return false;
  // The page runs only its own scripts and talks only to this server; no framing (Respond
  // adds nosniff and no-store).
  auto view = [](std::string_view v) { return absl::string_view(v.data(), v.size()); };
  ex.Respond(200, view(asset->content_type), view(asset->body),
             "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "
             "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
             "frame-ancestors 'none'\r\n"
             "Referrer-Policy: no-referrer\r\n");
  return true;
}

void HttpServer::SignOut(Exchange& ex) {
  if (std::optional<std::string> id = SessionId(ex)) sessions_.Remove(*id);
  ex.Respond(
      204, "", "",
      absl::StrCat("Set-Cookie: ", kCookie, "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0\r\n"));
}

}  // namespace desfired::server::http
