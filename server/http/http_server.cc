#include "server/http/http_server.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <set>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/dashboard/dashboard_assets.h"
#include "server/http/connection.h"
#include "server/http/http_error.h"

namespace desfired::server::http {
namespace {

constexpr absl::string_view kCookie = "desfired_session";

namespace net = boost::asio;
using boost::system::error_code;

// I/O threads: every connection's socket and TLS operations (the requests run on their own).
constexpr int kIoThreads = 2;

// The address of `listen` (host:port; "localhost" as 127.0.0.1, an IPv6 host in brackets).
absl::StatusOr<net::ip::tcp::endpoint> Endpoint(absl::string_view listen) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError("not host:port");
  }
  absl::string_view host = listen.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";
  if (absl::ConsumePrefix(&host, "[")) (void)absl::ConsumeSuffix(&host, "]");
  error_code ec;
  const net::ip::address address = net::ip::make_address(std::string(host), ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("'", host, "' is not an IP address"));
  return net::ip::tcp::endpoint(address, static_cast<uint16_t>(port));
}

// The TLS context of the listener (http_server.h, "TLS"); INVALID_ARGUMENT naming the file.
absl::Status SetUpTls(net::ssl::context& tls, const HttpOptions& o) {
  error_code ec;
  tls.set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                      net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                      net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use,
                  ec);
  auto failed = [&](absl::string_view what, const std::string& file) {
    return absl::InvalidArgumentError(
        absl::StrCat("http_listen: cannot use the TLS ", what, " ", file, ": ", ec.message()));
  };
  if (tls.use_certificate_chain_file(o.tls_cert_file, ec); ec) {
    return failed("certificate", o.tls_cert_file);
  }
  if (tls.use_private_key_file(o.tls_key_file, net::ssl::context::pem, ec); ec) {
    return failed("key", o.tls_key_file);
  }
  if (!o.tls_client_ca_file.empty()) {
    if (tls.load_verify_file(o.tls_client_ca_file, ec); ec) {
      return failed("client CA", o.tls_client_ca_file);
    }
    tls.set_verify_mode(net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert, ec);
  }
  return absl::OkStatus();
}

// The session cookie's value, when the request carries one.
std::optional<std::string> SessionId(const Exchange& ex) {
  std::optional<std::string> cookies = ex.Header("Cookie");
  return cookies ? CookieValue(*cookies, kCookie) : std::nullopt;
}

// The Set-Cookie header line of the session cookie (`id` empty and max_age 0: cleared).
std::string SetCookie(absl::string_view id, int64_t max_age, bool secure) {
  return absl::StrCat("Set-Cookie: ", kCookie, "=", id,
                      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=", max_age,
                      secure ? "; Secure" : "", "\r\n");
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
      sessions_(SessionStore::Options{.ttl = options_.session_ttl}),
      sign_in_limit_(SignInLimit::Options{.max_failures = options_.sign_in_failures}) {}

struct HttpServer::Io {
  net::io_context ioc{kIoThreads};
  // The TLS context new connections get (null: plain HTTP); ReloadTls swaps it. Every context
  // ever used is kept until the server goes: an open connection holds its context by pointer.
  absl::Mutex tls_mu;
  net::ssl::context* tls ABSL_GUARDED_BY(tls_mu) = nullptr;
  std::vector<std::unique_ptr<net::ssl::context>> tls_contexts ABSL_GUARDED_BY(tls_mu);
  net::ssl::context* CurrentTls() ABSL_LOCKS_EXCLUDED(tls_mu) {
    absl::MutexLock lock(&tls_mu);
    return tls;
  }
  std::optional<net::ip::tcp::acceptor> acceptor;  // on its own strand
  std::optional<net::steady_timer> retry;          // after an accept error
  // Keeps the I/O threads running, between operations too, until Stop.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  absl::Mutex mu;
  std::set<std::shared_ptr<Connection>> open ABSL_GUARDED_BY(mu);
};

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(HttpOptions options, HttpDeps deps) {
  std::unique_ptr<HttpServer> s(new HttpServer(std::move(options), std::move(deps)));
  const HttpOptions& o = s->options_;
  s->io_ = std::make_shared<Io>();
  Io& io = *s->io_;
  if (!o.tls_cert_file.empty()) {
    if (absl::Status status = s->ReloadTls(); !status.ok()) return status;
  }
  absl::StatusOr<net::ip::tcp::endpoint> endpoint = Endpoint(o.listen);
  auto cannot_listen = [&](absl::string_view why) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", o.listen, " (http_listen): ", why));
  };
  if (!endpoint.ok()) return cannot_listen(endpoint.status().message());
  io.acceptor.emplace(net::make_strand(io.ioc));
  io.retry.emplace(io.acceptor->get_executor());
  error_code ec;
  if (io.acceptor->open(endpoint->protocol(), ec); ec) return cannot_listen(ec.message());
  (void)io.acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (io.acceptor->bind(*endpoint, ec); ec) return cannot_listen(ec.message());
  if (io.acceptor->listen(net::socket_base::max_listen_connections, ec); ec) {
    return cannot_listen(ec.message());
  }
  s->port_ = io.acceptor->local_endpoint(ec).port();
  s->Accept();
  io.work.emplace(io.ioc.get_executor());
  for (int i = 0; i < kIoThreads; ++i) io.threads.emplace_back([&io] { io.ioc.run(); });
  return s;
}

void HttpServer::Accept() {
  io_->acceptor->async_accept(
      net::make_strand(io_->ioc), [this](error_code ec, net::ip::tcp::socket socket) {
        if (ec == net::error::operation_aborted || stopping_.load()) return;
        if (ec) {  // out of descriptors, say: try again shortly
          if (deps_.logger != nullptr) {
            deps_.logger->Warn("http_accept_failed", log::Fields().Str("detail", ec.message()));
          }
          io_->retry->expires_after(std::chrono::milliseconds(100));
          io_->retry->async_wait([this](error_code wait) {
            if (!wait && !stopping_.load()) Accept();
          });
          return;
        }
        Serve(Connection::Create(std::move(socket), io_->CurrentTls(),
                                 {.request_timeout = options_.request_timeout,
                                  .write_timeout = options_.write_timeout}));
        Accept();
      });
}

void HttpServer::Serve(std::shared_ptr<Connection> conn) {
  {
    absl::MutexLock lock(&io_->mu);
    if (io_->open.size() >= options_.threads) return;  // closed as `conn` goes
    io_->open.insert(conn);
  }
  // The thread holds `io` (not the server) once its connection is done, so that Stop may
  // return as soon as the set is empty.
  auto serve = [this, io = io_, conn] {
    const absl::Status handshake = conn->Handshake();
    if (!handshake.ok() && deps_.logger != nullptr) {  // plain HTTP, a scanner, a bad client cert
      deps_.logger->Debug(
          "http_tls_handshake_failed",
          log::Fields().Str("remote", conn->remote_address()).Str("detail", handshake.message()));
    }
    // Requests one after the other while the answers keep the connection open (keep-alive):
    // the first head within the request timeout, each later one within the idle timeout.
    for (size_t served = 0; handshake.ok(); ++served) {
      const absl::Status head = conn->ReadHead(
          served == 0 ? std::nullopt : std::optional<absl::Duration>(options_.keep_alive_timeout));
      const bool allowed = options_.max_requests_per_connection > served + 1 &&
                           options_.keep_alive_timeout > absl::ZeroDuration() && !stopping_.load();
      if (head.ok()) {
        if (HandleRequest(*conn, allowed)) continue;
      } else if (head.code() == absl::StatusCode::kInvalidArgument) {
        Exchange(conn.get())
            .Fail(HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT", head.message(),
                            {{"field", "head"}}));
      }
      break;
    }
    conn->Close();
    absl::MutexLock lock(&io->mu);
    io->open.erase(conn);
  };
  try {
    std::thread(std::move(serve)).detach();
  } catch (const std::system_error&) {  // no thread to be had: the connection is closed
    absl::MutexLock lock(&io_->mu);
    io_->open.erase(conn);
  }
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, wake] : streams_) wake();
    auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return streams_.empty(); };
    mu_.AwaitWithTimeout(absl::Condition(&ended), absl::Seconds(2));
  }
  if (io_ == nullptr || !io_->acceptor) return;
  net::post(io_->acceptor->get_executor(), [io = io_] {
    error_code ignored;
    io->acceptor->close(ignored);
    io->retry->cancel();
  });
  {
    absl::MutexLock lock(&io_->mu);
    for (const std::shared_ptr<Connection>& conn : io_->open) conn->Cancel();
    auto closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(io_->mu) { return io_->open.empty(); };
    io_->mu.Await(absl::Condition(&closed));
  }
  io_->work.reset();
  io_->ioc.stop();
  for (std::thread& t : io_->threads) t.join();
}

absl::Status HttpServer::ReloadTls() {
  if (options_.tls_cert_file.empty()) return absl::OkStatus();
  auto tls = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  if (absl::Status status = SetUpTls(*tls, options_); !status.ok()) return status;
  absl::MutexLock lock(&io_->tls_mu);
  io_->tls = tls.get();
  io_->tls_contexts.push_back(std::move(tls));
  return absl::OkStatus();
}

uint64_t HttpServer::StreamStarted(std::function<void()> wake) {
  absl::MutexLock lock(&mu_);
  const uint64_t id = ++next_stream_id_;
  streams_.emplace(id, std::move(wake));
  return id;
}

void HttpServer::StreamEnded(uint64_t id) {
  absl::MutexLock lock(&mu_);
  streams_.erase(id);
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

bool HttpServer::HandleRequest(Connection& conn, bool keep_alive_allowed) {
  Exchange ex(&conn);
  ex.set_keep_alive_allowed(keep_alive_allowed);
  ex.method = conn.method();
  const std::string& address = conn.remote_address();
  if (!AdmitAddress(address)) {
    ex.Fail(HttpError(absl::StatusCode::kResourceExhausted, "TOO_MANY_CONNECTIONS",
                      absl::StrCat("this address has ", options_.max_requests_per_address,
                                   " requests open, as many as the server allows"),
                      {{"limit", "http_max_connections_per_address"},
                       {"max", absl::StrCat(options_.max_requests_per_address)}}));
    return ex.keep_alive();
  }
  absl::StatusOr<std::vector<std::string>> segments = SplitPath(conn.path());
  absl::StatusOr<QueryParams> query = ParseQuery(conn.query());
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
  return ex.keep_alive();
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
  const std::string& address = ex.conn()->remote_address();
  if (const absl::Duration wait = sign_in_limit_.RetryAfter(address, absl::Now());
      wait > absl::ZeroDuration()) {
    const int64_t seconds = absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1)));
    const absl::Status refused = HttpError(
        absl::StatusCode::kResourceExhausted, "TOO_MANY_FAILED_SIGN_INS",
        absl::StrCat("too many failed sign-ins from this address: try again in ", seconds, " s"),
        {{"limit", "http_sign_in_failures"},
         {"max", absl::StrCat(options_.sign_in_failures)},
         {"retry_after_seconds", absl::StrCat(seconds)}});
    return ex.Fail(refused, absl::StrCat("Retry-After: ", seconds, "\r\n"));
  }
  absl::StatusOr<std::string> body = ex.ReadAll(options_.max_json_bytes, "http_max_json_bytes");
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
  if (!principal.ok()) {
    sign_in_limit_.Failed(address, absl::Now());
    return ex.Fail(principal.status());
  }
  const std::string caller = principal->name;
  const Role role = principal->role;
  absl::StatusOr<SessionStore::Created> session =
      sessions_.Create(std::move(token), *std::move(principal));
  if (!session.ok()) return ex.Fail(session.status());
  ex.Respond(200, "application/json", SessionJson(caller, role, session->csrf, session->expires),
             SetCookie(session->id, absl::ToInt64Seconds(options_.session_ttl), ex.secure()));
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
  ex.Respond(204, "", "", SetCookie("", 0, ex.secure()));
}

}  // namespace desfired::server::http
