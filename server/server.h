// DesfiredServer: everything desfired runs, assembled — the key store, the PC/SC reader
// monitor feeding the event hub, one worker per reader, CardService and TapService, the
// health service (SERVING while pcscd is reachable; server/rpc/health_service.h) and reflection,
// behind the transport limits of transport_limits.h and the malformed-request interceptor.
//
//   ServerConfig config = ...;                       // from flags (server/main.cc)
//   DESFIRED_ASSIGN_OR_RETURN(auto server, DesfiredServer::Start(config));
//   ... server->port() ...
//   server->Shutdown(absl::Seconds(5));              // SIGTERM: drain, then stop
//
// Start order: PCSCLITE_CSOCK_NAME (the PC/SC backend is chosen explicitly: the system pcscd,
// or the socket in the config) → key store → monitor + hub → workers → gRPC server. A bad
// config fails Start with INVALID_ARGUMENT naming the field.
//
// Shutdown(grace): health NOT_SERVING, WatchCards streams end (UNAVAILABLE/SHUTTING_DOWN),
// queued card jobs get `grace` to finish (an open card transaction is aborted by the worker),
// then the gRPC server stops (in-flight calls cancelled at the deadline) and the monitor.
//
// Thread-safe: Shutdown may be called from any thread (not from a gRPC callback).
#ifndef DESFIRED_SERVER_SERVER_H_
#define DESFIRED_SERVER_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "core/keys/key_store.h"
#include "core/pcsc/monitor.h"
#include "server/audit/change_recorder.h"
#include "server/http/http_server.h"
#include "server/listener.h"
#include "server/nats/nats_publisher.h"
#include "server/observability/log.h"
#include "server/observability/metrics.h"
#include "server/observability/observability.h"
#include "server/readers/event_hub.h"
#include "server/rpc/card_service.h"
#include "server/rpc/health_service.h"
#include "server/rpc/reflection_v1.h"
#include "server/rpc/tap_service.h"
#include "server/security/key_ring.h"
#include "server/security/security.h"
#include "server/transport_limits.h"

namespace grpc {
class Server;
}

namespace desfired::server {

struct ServerConfig {
  // host:port. Port 0 picks a free port (tests). Without TLS (security.tls_cert_file) only
  // loopback addresses are accepted unless allow_insecure_remote is set.
  std::string listen = "127.0.0.1:50051";
  bool allow_insecure_remote = false;
  // The pcscd socket; empty: the system pcscd (or PCSCLITE_CSOCK_NAME when already set).
  std::string pcsc_socket;
  // The key store file (docs/key-store.md); empty: no keys (card calls without auth only).
  // Reloaded by ReloadKeys() (SIGHUP).
  std::string keys_file;
  // Extra originality keys (NAME=HEX lines, core/desfire/originality.h ParseOriginalityKeys)
  // VerifyOriginality tries after NXP's, e.g. a test card's; empty: NXP's keys only.
  std::string originality_keys_file;
  // The data directory: the audit ledger (ledger.sqlite, docs/ledger.md) lives here. Must exist
  // and not be writable by group or others. Empty: no ledger — changes are neither recorded
  // nor deduplicated by request_id (tests and tools only; desfired always passes one).
  std::string data_dir;
  // Non-empty: the operator's reason to go on with a ledger that fails the start-up checks
  // (--ledger_recover; ledger.h, Options::recover_reason). Start fails when there is nothing
  // to recover.
  std::string ledger_recover;
  // How often the newest ledger rows (ledger::kDefaultVerifyRows) and the head file are
  // verified while running; zero: never. A break found: logged as an error, counted
  // (desfired_ledger_verify_failures_total), and card changes are refused from then on.
  absl::Duration ledger_verify_interval = absl::Minutes(5);
  // Tests only (ChangeRecorder::Options): exit at these points of a change, as if killed.
  bool testing_crash_after_commit = false;
  bool testing_crash_before_commit = false;
  bool testing_crash_after_done = false;
  size_t queue_limit = 16;  // jobs waiting per reader
  absl::Duration default_deadline = absl::Seconds(30);
  size_t watch_history = 1024;
  size_t watch_queue = 256;
  // Records per ParseTaps batch / ParseTapStream chunk. Start fails unless a batch's largest
  // possible answer fits max_message_bytes (server/rpc/tap_limits.h): 16 MiB holds 50,000.
  size_t max_tap_batch = 50000;
  // A WatchCards write the client has not taken by then cuts the stream off (SLOW_CONSUMER).
  absl::Duration watch_write_timeout = kDefaultWatchWriteTimeout;
  // Threads that start WatchCards writes (server/rpc/watch_fanout.h); 0: one per core.
  size_t watch_threads = 0;
  // Connections: handshake and idle timeouts, keepalive, streams per connection.
  TransportLimits transport;
  // grpc.health.v1 Watch streams open at once, all callers together (they need no token).
  size_t max_health_watchers = 100;
  int max_message_bytes = 16 * 1024 * 1024;
  // TapService calls and the bytes they work on at once, overall and per caller (anonymous
  // callers share one caller's share); 0: no limit (server/rpc/call_budget.h, docs/server.md).
  // A caller's byte limit must admit one batch of max_tap_batch records in max_message_bytes.
  size_t max_tap_calls = 16;
  size_t max_tap_calls_per_caller = 4;
  size_t max_tap_inflight_bytes = size_t{256} << 20;
  size_t max_tap_inflight_bytes_per_caller = size_t{128} << 20;
  // Duplicate keys one ParseTapStream (or ParseTaps) remembers; at least max_tap_batch. A
  // stream that would need more ends with RESOURCE_EXHAUSTED / DEDUP_CAPACITY.
  size_t max_stream_dedup_entries = 100000;
  // VerifySun remembers the highest SDM read counter per tag UID (in memory, for the process's
  // life) and flags a message whose counter is not newer (COUNTER_NOT_NEWER).
  bool sun_counters = false;
  // --tap_dedup postgresql: the file (mode 0600) with the libpq connection string of the central
  // database whose table tap_dedup suppresses duplicate taps across instances
  // (server/rpc/tap_central.h, docs/fleet.md). Empty: each TapService call detects duplicates
  // within itself. Start fails when the database is reachable without the table (or the grant);
  // when unreachable, it warns and the calls fail with UNAVAILABLE until it is back.
  std::string tap_dedup_conn_file;
  // Connections to it (each with a thread that works on batches and chunks).
  size_t tap_dedup_connections = 4;
  // Bytes of data in one WriteData / WriteRecord (1..kMaxWriteBytes of core/cardops/data.h).
  size_t max_write_bytes = 8 * 1024;
  // TLS, mutual TLS, tokens and roles, streams per caller (security.h, docs/security.md).
  SecurityConfig security;
  // Composed with metrics and logs (server/observability/observability.h) before the services get
  // them.
  ServerHooks hooks;
  // host:port serving Prometheus metrics on /metrics (port 0: any; metrics_port()). Empty:
  // metrics are kept but not served.
  std::string metrics_listen;
  // The HTTP API (server/http/http_server.h): http.listen is host:port (--http_listen), the
  // same loopback rule as `listen`; TLS with security's certificate and key when they are set.
  // Empty listen: not served.
  http::HttpOptions http;
  // Events on NATS JetStream (server/nats/nats_publisher.h, docs/fleet.md): on when nats.url is
  // set; nats.buffer_dir defaults to <data_dir>/nats.
  nats::NatsPublisherOptions nats;
  // Where the server logs (server/observability/log.h); null: log::Logger::Default().
  std::shared_ptr<log::Logger> logger;
};

class DesfiredServer {
 public:
  static absl::StatusOr<std::unique_ptr<DesfiredServer>> Start(ServerConfig config);
  ~DesfiredServer();
  DesfiredServer(const DesfiredServer&) = delete;
  DesfiredServer& operator=(const DesfiredServer&) = delete;

  int port() const { return port_; }
  // Drains and stops; idempotent.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown has finished.
  void Wait();
  size_t watchers() const { return card_service_ ? card_service_->watchers() : 0; }
  EventHub& hub() { return *hub_; }
  // Reads the key file again (SIGHUP). On error the keys in use stay and the error is returned;
  // calls already running finish with the keys they started with.
  absl::Status ReloadKeys();
  // Reads the TLS certificate, key and client CA again (SIGHUP) for the HTTP API's new
  // connections; on error the certificate in use stays and the error is returned. OK without
  // TLS or without the HTTP API. gRPC keeps the certificate read at start: gRPC 1.51 cannot
  // swap it on demand (docs/security.md, "Certificate renewal").
  absl::Status ReloadTls();
  // Changes left unsettled (a crash, a lost commit answer) that wait for their card to be seen.
  size_t unsettled_at_start() const { return unsettled_at_start_; }
  // Null without a data directory.
  ChangeRecorder* recorder() { return recorder_.get(); }
  // What start-up found risky (e.g. a non-loopback address without TLS), for the log.
  const std::vector<std::string>& warnings() const { return warnings_; }
  // The metrics (the ledger reports its writes here) and the port /metrics is served on
  // (0 without metrics_listen).
  Metrics& metrics() { return obs_->metrics(); }
  int metrics_port() const { return obs_->metrics().port(); }
  // The HTTP API's port (0 without http.listen).
  int http_port() const { return http_ ? http_->port() : 0; }
  log::Logger& logger() { return obs_->logger(); }

 private:
  DesfiredServer() = default;
  void WatchHealth();
  // The health service's statuses: the server and CardService follow pcscd.
  void SetHealth(bool pcsc_available);
  // Verifies the ledger every config_.ledger_verify_interval until Shutdown.
  void VerifyLedgerPeriodically();
  // Settles the changes of card `uid` left unsettled, when there are any, on `reader`.
  // `attempt` > 0: a retry after the card's first exchange failed.
  void SettleOnContact(const std::string& reader, const Bytes& uid, int attempt = 0);

  ServerConfig config_;
  // First: the hooks, the sessions and the monitor callback use it until they are gone.
  std::unique_ptr<Observability> obs_;
  std::unique_ptr<KeyRing> keys_;
  std::unique_ptr<ChangeRecorder> recorder_;
  size_t unsettled_at_start_ = 0;
  std::atomic<bool> ready_{false};  // the monitor may ask for settling
  std::unique_ptr<EventHub> hub_;
  std::unique_ptr<nats::NatsPublisher> nats_;  // subscribed to hub_: goes before it
  std::unique_ptr<pcsc::ReaderMonitor> monitor_;
  std::unique_ptr<ReaderRegistry> readers_;
  std::unique_ptr<CardServiceImpl> card_service_;
  std::unique_ptr<CallBudget> tap_budget_;              // before tap_service_, which uses it
  std::unique_ptr<tap::SunCounterStore> sun_counters_;  // before tap_service_ too
  std::unique_ptr<TapServiceImpl> tap_service_;
  // After tap_service_: stopped first, its last jobs answering with the service still there.
  std::unique_ptr<CentralTapDedup> central_dedup_;
  std::unique_ptr<HealthServiceImpl> health_service_;
  std::unique_ptr<ReflectionV1Service> reflection_v1_;  // answered by v1alpha
  std::unique_ptr<Listener> listener_;                  // accepts for server_; stopped before it
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<http::HttpServer> http_;  // stopped before server_
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  absl::Notification stopped_;
  absl::Notification stop_health_;
  std::thread health_thread_;
  std::thread ledger_verify_thread_;
  std::vector<std::string> warnings_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_SERVER_H_
