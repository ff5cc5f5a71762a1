// HttpServer: the HTTP/1.1 side of desfired (--http_listen), for browsers and scripts: a JSON
// API over the same services as gRPC, Server-Sent Events of WatchCards, and browser sessions
// (docs/api.md, "HTTP API"). Built on civetweb (Debian's libcivetweb, which prometheus-cpp
// already brings: a maintained embeddable C server).
//
//   GET    /healthz                     the health service's status, no token needed
//   POST   /v1/session                  {"token": "..."} → session cookie + {"csrfToken": ...}
//   DELETE /v1/session                  sign out
//   GET    /v1/readers                  CardService.ListReaders
//   GET    /v1/readers/{reader}/card    CardService.GetCardInfo (no key presented)
//   GET    /v1/ledger/recent?limit=N    the newest audit ledger rows and the chain's status
//   POST   /v1/taps:parse               TapService.ParseTapStream: hex lines or binary in,
//                                       JSON lines out, streamed
//   GET    /v1/events                   CardService.WatchCards as Server-Sent Events
//   GET    /v1/session                  the cookie's session: caller, role, CSRF token
//   GET    /v1/metrics                  the Prometheus metrics (text), for the dashboard's charts
//   GET    /, /assets/...               the dashboard page (server/dashboard), no token needed
//
// The handlers call the gRPC services through an in-process channel with the caller's token,
// so that identity, roles, key policy, limits per caller (the WatchCards streams of a caller
// count against --max_streams_per_caller whichever side opened them), metrics and logs are
// exactly those of a gRPC call. Only the sign-in, the CSRF check and the request limits are
// the HTTP layer's own.
//
// Callers: "Authorization: Bearer TOKEN" (scripts), or the session cookie of POST /v1/session
// (browsers; EventSource cannot set headers); every POST and DELETE that relies on the cookie
// must carry the session's CSRF token in X-CSRF-Token. Without a tokens file every caller is
// admin, as for gRPC. Tokens are never read from a URL and never logged.
//
// Limits: request head size (civetweb), body size (max_body_bytes; 64 KiB for JSON bodies),
// the time a request's head and body may take (request_timeout: a body that never ends is cut
// off), requests open at once per client address (max_requests_per_address), worker threads
// (each open request, an event stream too, holds one).
//
// TLS: none of its own. Debian's civetweb 1.15 loads OpenSSL at run time with the functions of
// OpenSSL 1.1, one of which OpenSSL 3 no longer has: a TLS connection crashes it (a null
// function called after the handshake). The API is therefore served in plain HTTP, on loopback
// (the rule of --listen without TLS), and put behind a TLS reverse proxy for other hosts;
// the session cookie is Secure when the proxy says the browser used https
// (X-Forwarded-Proto: https).
//
// Thread-safe. Stop() (or the destructor) must come before the gRPC server shuts down.
#ifndef DESFIRED_SERVER_HTTP_HTTP_SERVER_H_
#define DESFIRED_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/ledger/ledger.h"
#include "grpcpp/channel.h"
#include "server/http/exchange.h"
#include "server/http/session_store.h"
#include "server/observability/log.h"
#include "server/observability/metrics.h"
#include "server/security/auth.h"

struct mg_context;
struct mg_connection;

namespace desfired::server::http {

struct HttpOptions {
  std::string listen;                                  // host:port; port 0 picks one
  size_t max_body_bytes = size_t{256} << 20;           // POST /v1/taps:parse
  absl::Duration request_timeout = absl::Seconds(10);  // head, and each wait for body bytes
  size_t max_requests_per_address = 32;                // 0: no limit
  size_t threads = 128;                                // civetweb worker threads
  absl::Duration heartbeat = absl::Seconds(15);        // event stream comments
  absl::Duration session_ttl = absl::Hours(8);
  size_t tap_chunk_records = 8192;  // records per ParseTapStream chunk (≤ --max_tap_batch)
};

struct HttpDeps {
  std::shared_ptr<Authorizer> authorizer;
  std::shared_ptr<grpc::Channel> channel;  // in-process, to the running gRPC server
  ledger::Ledger* ledger = nullptr;        // null: no ledger (GET /v1/ledger/recent: 404)
  log::Logger* logger = nullptr;
  const Metrics* metrics = nullptr;  // null: GET /v1/metrics answers 404
};

class HttpServer {
 public:
  // Binds and starts. UNAVAILABLE "cannot listen on HOST:PORT: ..." when it cannot.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(HttpOptions options, HttpDeps deps);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }
  // Ends the event streams — each writes its end event first, waiting up to 2 s — and stops
  // serving (waits for the requests in flight). Idempotent.
  void Stop();

  // Internal (civetweb's callbacks and the handlers).
  int HandleRequest(mg_connection* conn);
  const HttpOptions& options() const { return options_; }
  const HttpDeps& deps() const { return deps_; }
  bool stopping() const { return stopping_.load(); }
  // An event stream begins / has written its last bytes (Stop waits for them: once civetweb
  // stops, its writes fail).
  void StreamStarted() ABSL_LOCKS_EXCLUDED(mu_);
  void StreamEnded() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  HttpServer(HttpOptions options, HttpDeps deps);
  // Who is calling (see the top of this file); `csrf`: the request changes state.
  absl::StatusOr<Caller> Authenticate(const Exchange& ex, bool csrf);
  void Dispatch(Exchange& ex);
  void SignIn(Exchange& ex);
  void SignOut(Exchange& ex);
  void SessionInfo(Exchange& ex);
  // The dashboard's page and assets; false when `ex` asks for none of them.
  bool ServeDashboard(Exchange& ex);
  bool AdmitAddress(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseAddress(const std::string& address) ABSL_LOCKS_EXCLUDED(mu_);

  const HttpOptions options_;
  const HttpDeps deps_;
  SessionStore sessions_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  std::map<std::string, size_t> per_address_ ABSL_GUARDED_BY(mu_);
  size_t streams_ ABSL_GUARDED_BY(mu_) = 0;
};

// The handlers (http_api.cc, http_events.cc, http_taps.cc).
void HandleHealthz(HttpServer& server, Exchange& ex);
void HandleReaders(HttpServer& server, Exchange& ex);
void HandleCard(HttpServer& server, Exchange& ex, const std::string& reader);
void HandleLedgerRecent(HttpServer& server, Exchange& ex);
void HandleTapsParse(HttpServer& server, Exchange& ex);
void HandleEvents(HttpServer& server, Exchange& ex);
void HandleMetrics(HttpServer& server, Exchange& ex);

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_HTTP_SERVER_H_
