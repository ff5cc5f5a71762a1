// HttpServer: the HTTP/1.1 side of desfired (--http_listen), for browsers and scripts: a JSON
// API over the same services as gRPC, Server-Sent Events of WatchCards, and browser sessions
// (docs/api.md, "HTTP API"), over HTTP or HTTPS (see TLS below).
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
// Limits: request head size (16 KiB), body size (max_body_bytes; max_json_bytes for JSON
// bodies), the time a TLS handshake, a request's head and each wait for body bytes may take
// (request_timeout: a body that never ends is cut off) and each write (write_timeout: a client
// that stops reading is cut off), requests open at once per client address
// (max_requests_per_address), connections served at once (threads: each open connection, an
// event stream too, holds one); failed sign-ins per client address (sign_in_failures per
// minute: 429 with Retry-After beyond).
//
// Keep-alive: a complete answer to a request read to its end keeps the connection open for the
// next request (HTTP/1.1 persistent connections; not after an event stream, an error answered
// before the body was read, or "Connection: close"), for up to keep_alive_timeout between
// requests and max_requests_per_connection requests: HTTPS pays its handshake once per
// connection, not per request.
//
// TLS: with tls_cert_file and tls_key_file (desfired's --tls_cert, --tls_key: the gRPC
// listener's certificate and key) the API is served over HTTPS only, TLS 1.2 or newer; a
// plain-HTTP request or a handshake that fails is closed without an answer. With
// tls_client_ca_file (--tls_client_ca) every client must present a certificate from that CA,
// as for gRPC (mutual TLS: a browser needs the client certificate installed). The session
// cookie is Secure under TLS, or when a reverse proxy in front says the browser used https
// (X-Forwarded-Proto: https). The files are read at Start and again by ReloadTls (SIGHUP).
//
// Built on Boost.Beast and Boost.Asio (Debian's libboost1.81-dev; OpenSSL 3 through asio's ssl
// stream): two I/O threads run every connection's TLS and socket operations asynchronously;
// each connection's request runs on a thread of its own (the handlers block on in-process gRPC
// calls), so `threads` bounds the connections open at once — one beyond it is closed at once.
//
// Thread-safe. Stop() (or the destructor) must come before the gRPC server shuts down.
#ifndef DESFIRED_SERVER_HTTP_HTTP_SERVER_H_
#define DESFIRED_SERVER_HTTP_HTTP_SERVER_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
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
#include "server/http/sign_in_limit.h"
#include "server/observability/log.h"
#include "server/observability/metrics.h"
#include "server/security/auth.h"

namespace desfired::server::http {

struct HttpOptions {
  std::string listen;                                  // host:port; port 0 picks one
  size_t max_body_bytes = size_t{256} << 20;           // POST /v1/taps:parse
  absl::Duration request_timeout = absl::Seconds(10);  // head, and each wait for body bytes
  size_t max_requests_per_address = 32;                // 0: no limit
  size_t threads = 128;  // connections served at once (each holds a thread)
  absl::Duration write_timeout = absl::Seconds(10);  // each write (an event stream's too)
  size_t max_json_bytes = 64 * 1024;                 // JSON request bodies (POST /v1/session)
  size_t sign_in_failures = 5;  // failed sign-ins per client address a minute (0: no limit)
  // TLS (see above); empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  absl::Duration heartbeat = absl::Seconds(15);  // event stream comments
  absl::Duration session_ttl = absl::Hours(8);
  size_t tap_chunk_records = 8192;  // records per ParseTapStream chunk (≤ --max_tap_batch)
  // Keep-alive: how long an open connection may wait for its next request, and how many
  // requests one connection may carry (1 or a zero timeout: one request per connection).
  absl::Duration keep_alive_timeout = absl::Seconds(5);
  size_t max_requests_per_connection = 100;
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
  // Reads the TLS certificate, key and client CA files again into a new TLS context for the
  // connections accepted from now on (open ones keep theirs). On error (INVALID_ARGUMENT naming
  // the file: unreadable, not PEM, a key that does not match the certificate) the context in
  // use stays. OK without TLS.
  absl::Status ReloadTls();
  // Ends the event streams — each writes its end event first, waiting up to 2 s — and stops
  // serving (waits for the requests in flight). Idempotent.
  void Stop();

  // Internal (the connection threads and the handlers).
  // Answers the request whose head `conn` has read; true when the connection stays open for
  // another (the answer allowed it: keep_alive_allowed, and see Exchange::keep_alive).
  bool HandleRequest(Connection& conn, bool keep_alive_allowed);
  const HttpOptions& options() const { return options_; }
  const HttpDeps& deps() const { return deps_; }
  bool stopping() const { return stopping_.load(); }
  // An event stream begins / has written its last bytes (Stop waits for them: once the
  // connections are cancelled, their writes fail). Stop calls `wake` once, under the server's
  // lock, so that a stream waiting for its next item sees the stop at once; `wake` must not
  // call back into the server. StreamStarted returns the id to give StreamEnded.
  uint64_t StreamStarted(std::function<void()> wake) ABSL_LOCKS_EXCLUDED(mu_);
  void StreamEnded(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

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
  SignInLimit sign_in_limit_;
  // The listening socket, the TLS context, the I/O threads and the open connections.
  struct Io;
  void Accept();
  void Serve(std::shared_ptr<Connection> conn);
  std::shared_ptr<Io> io_;  // shared with the connection threads
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  absl::Mutex mu_;
  std::map<std::string, size_t> per_address_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::function<void()>> streams_ ABSL_GUARDED_BY(mu_);  // by id: wake
  uint64_t next_stream_id_ ABSL_GUARDED_BY(mu_) = 0;
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
