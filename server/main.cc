// desfired: flags → config → server → wait for SIGTERM/SIGINT → graceful shutdown.
//
//   desfired --listen 127.0.0.1:50051 --keys /etc/desfired/keys.conf
//   desfired --pcsc_socket /run/pcscd-test/pcscd.comm --listen 127.0.0.1:0 --port_file F
//   desfired --listen 0.0.0.0:50051 --tls_cert C --tls_key K [--tls_client_ca CA] --tokens T
//   desfired --hash_token < token.txt      # the sha256: line of a token, for the tokens file
//   desfired --metrics_listen 127.0.0.1:9464 --log_format text --log_level debug
//
// Logs go to stderr (and --log_file / DESFIRED_LOG_FILE), JSON lines by default
// (docs/observability.md); an error in the log flags themselves is plain text.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/flag_help.h"
#include "server/flag_spelling.h"
#include "server/observability/library_logs.h"
#include "server/observability/log.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to listen on (loopback only without TLS, unless --allow_insecure_remote)");
ABSL_FLAG(bool, allow_insecure_remote, false,
          "listen on a non-loopback address without TLS (warns at start-up)");
ABSL_FLAG(std::string, pcsc_socket, "",
          "pcscd socket to use (default: the system pcscd, /run/pcscd/pcscd.comm)");
ABSL_FLAG(std::string, keys, "", "key store file (docs/key-store.md); must be mode 600");
ABSL_FLAG(std::string, originality_keys, "",
          "file of NAME=HEX lines: P-224 public keys VerifyOriginality trusts besides NXP's");
ABSL_FLAG(int, queue_limit, 16, "card jobs that may wait per reader");
ABSL_FLAG(absl::Duration, default_deadline, absl::Seconds(30),
          "deadline of a card call whose client gave none");
ABSL_FLAG(int, watch_history, 1024, "card events kept for WatchCards resume");
ABSL_FLAG(int, watch_queue, 256, "unread events before a WatchCards stream is cut off");
ABSL_FLAG(int, max_tap_batch, 50000,
          "records per ParseTaps request or stream message; the largest answer of that many "
          "must fit --max_message_bytes (checked at start-up)");
ABSL_FLAG(int, max_tap_calls, 16, "TapService calls at once, all callers (0: no limit)");
ABSL_FLAG(int, max_tap_calls_per_caller, 4,
          "TapService calls at once per caller; callers without a token or certificate share "
          "one caller's share (0: no limit)");
ABSL_FLAG(int64_t, max_tap_inflight_bytes, int64_t{256} << 20,
          "bytes TapService calls work on at once, all callers: requests, their parsed records "
          "and answers (docs/server.md; 0: no limit)");
ABSL_FLAG(int64_t, max_tap_inflight_bytes_per_caller, int64_t{128} << 20,
          "bytes TapService calls work on at once per caller (0: no limit)");
ABSL_FLAG(bool, sun_counters, false,
          "VerifySun flags a tag URL whose read counter is not above the last seen (in memory)");
ABSL_FLAG(int, max_stream_dedup_entries, 100000,
          "duplicate keys one ParseTapStream remembers (at least --max_tap_batch); a stream "
          "needing more ends with RESOURCE_EXHAUSTED / DEDUP_CAPACITY");
ABSL_FLAG(std::string, tap_dedup, "local",
          "duplicate taps: 'local' (each call within itself) or 'postgresql' (across every "
          "instance, through the central table; --tap_dedup_conn)");
ABSL_FLAG(std::string, tap_dedup_conn, "",
          "file (mode 0600) with the libpq connection string of --tap_dedup postgresql's database");
ABSL_FLAG(int, tap_dedup_connections, 4,
          "connections (and threads) to --tap_dedup postgresql's database");
ABSL_FLAG(absl::Duration, watch_write_timeout, absl::Seconds(5),
          "a WatchCards stream whose client takes no event for this long is cut off "
          "(SLOW_CONSUMER)");
ABSL_FLAG(int, watch_threads, 0,
          "threads that start WatchCards writes, each stream on one of them (0: one per core)");
ABSL_FLAG(absl::Duration, handshake_timeout, absl::Seconds(20),
          "a connection that has not completed its TLS / HTTP/2 handshake by then is closed");
ABSL_FLAG(absl::Duration, connection_idle_timeout, absl::Minutes(5),
          "a connection without any call for this long is closed (GOAWAY; clients reconnect)");
ABSL_FLAG(absl::Duration, keepalive_time, absl::Minutes(1),
          "ping a connection quiet for this long (also with silent streams open)");
ABSL_FLAG(absl::Duration, keepalive_timeout, absl::Seconds(20),
          "close a connection whose client does not answer a ping in this time");
ABSL_FLAG(int, max_streams_per_connection, 2000,
          "calls open at once on one connection (HTTP/2 MAX_CONCURRENT_STREAMS)");
ABSL_FLAG(int, max_connections, 1000,
          "TCP connections open at once, all clients together (one beyond is closed at accept; "
          "each takes two file descriptors)");
ABSL_FLAG(int, max_connections_per_address, 0,
          "TCP connections open at once from one client IP address (0: no such limit)");
ABSL_FLAG(int64_t, grpc_memory_quota, int64_t{256} << 20,
          "bytes gRPC may hold for all connections (requests not yet complete); beyond it gRPC "
          "cancels streams (RESOURCE_EXHAUSTED)");
ABSL_FLAG(int, max_health_watchers, 100,
          "grpc.health.v1 Watch streams open at once, all callers together (RESOURCE_EXHAUSTED "
          "beyond)");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "time queued card jobs get to finish on SIGTERM");
ABSL_FLAG(std::string, port_file, "", "write the port listened on to this file (for scripts)");
ABSL_FLAG(std::string, data_dir, "/var/lib/desfired",
          "directory of the audit ledger (ledger.sqlite); must exist, mode 700. Empty: no "
          "ledger — changes are not recorded and request_ids not deduplicated (warns)");
ABSL_FLAG(std::string, ledger_recover, "",
          "REASON: start although the ledger fails the start-up checks (emptied, deleted, cut "
          "short, replaced or edited); records REASON and what was found as a RECOVERED row "
          "(docs/ledger.md). Refused when there is nothing to recover: remove it afterwards");
ABSL_FLAG(absl::Duration, ledger_verify_interval, absl::Minutes(5),
          "how often the newest ledger rows and the head file are verified while running (0: "
          "never); a break found stops card changes");
ABSL_FLAG(bool, testing_crash_after_commit, false,
          "tests only: exit right after a card change is committed, before the ledger records "
          "it (the crash the ledger's reconciliation is for)");
ABSL_FLAG(bool, testing_crash_after_done, false,
          "tests only: exit right after the ledger's DONE row of a change is written (before "
          "the answer; a value change's DONE row is not synced yet)");
ABSL_FLAG(bool, testing_crash_before_commit, false,
          "tests only: exit right after the ledger's PENDING row of a value change, before "
          "CommitTransaction");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate chain; with --tls_key turns on TLS");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert; must be mode 600");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA that client certificates must verify against (mutual TLS; needs --tls_cert)");
ABSL_FLAG(std::string, tokens, "",
          "bearer tokens and client certificate names with their roles (docs/security.md); "
          "must be mode 600; none: every caller is admin");
ABSL_FLAG(int, max_streams_per_caller, 16,
          "WatchCards and ParseTapStream streams one caller may have open (0: no limit)");
ABSL_FLAG(int, max_message_bytes, 16 * 1024 * 1024, "largest gRPC message received or sent");
ABSL_FLAG(int, max_write_bytes, 8192,
          "bytes of data in one WriteData or WriteRecord (at most 8192)");
ABSL_FLAG(bool, allow_core_dumps, false,
          "let the process dump core (it holds keys in memory: for debugging only)");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port serving Prometheus metrics on /metrics (default: not served)");
ABSL_FLAG(std::string, http_listen, "",
          "host:port serving the HTTP API (JSON, Server-Sent Events, the dashboard; docs/api.md); "
          "HTTPS with --tls_cert/--tls_key (any address), else plain HTTP on loopback only "
          "unless --allow_insecure_remote (default: not served)");
ABSL_FLAG(absl::Duration, http_heartbeat, absl::Seconds(15),
          "comment lines sent on a quiet /v1/events stream this often");
ABSL_FLAG(absl::Duration, http_request_timeout, absl::Seconds(10),
          "time an HTTP request's head, and each wait for its body, may take");
ABSL_FLAG(int64_t, http_max_body_bytes, int64_t{256} << 20,
          "largest request body of POST /v1/taps:parse");
ABSL_FLAG(int64_t, http_max_json_bytes, 64 * 1024,
          "largest JSON request body of the HTTP API (POST /v1/session)");
ABSL_FLAG(int, http_max_connections_per_address, 32,
          "HTTP requests (event streams too) open at once from one client address (0: no limit)");
ABSL_FLAG(int, http_threads, 128,
          "HTTP connections served at once (each, an open event stream too, holds a thread)");
ABSL_FLAG(int, http_sign_in_failures, 5,
          "failed sign-ins (POST /v1/session) a client address may make per minute (0: no limit)");
ABSL_FLAG(absl::Duration, http_session_ttl, absl::Hours(8),
          "lifetime of a browser session (POST /v1/session)");
ABSL_FLAG(std::string, nats, "",
          "publish reader, card and change events to NATS JetStream at this URL "
          "(nats://host:4222, tls://...; docs/fleet.md); empty: off");
ABSL_FLAG(std::string, instance, "",
          "this box's id in the fleet: the NATS subjects desfired.<instance>.<reader>.<kind> "
          "(letters, digits, '-', '_'); required with --nats");
ABSL_FLAG(std::string, nats_creds, "",
          "NATS credentials file (user JWT and NKey seed), mode 600; never in the URL");
ABSL_FLAG(std::string, nats_tls_ca, "", "PEM CA certificates to trust for NATS (turns on TLS)");
ABSL_FLAG(std::string, nats_tls_cert, "", "PEM client certificate for NATS (with --nats_tls_key)");
ABSL_FLAG(std::string, nats_tls_key, "", "PEM private key of --nats_tls_cert; must be mode 600");
ABSL_FLAG(std::string, nats_buffer_dir, "",
          "where events wait while NATS is away (default <data_dir>/nats)");
ABSL_FLAG(int64_t, nats_buffer_bytes, int64_t{64} << 20,
          "bound of the NATS buffer; when full, new events are dropped and counted");
ABSL_FLAG(bool, nats_include_uids, false, "put card UIDs into the NATS events");
ABSL_FLAG(std::string, nats_stream, "DESFIRED",
          "the JetStream stream that takes desfired.> (for --nats_create_stream)");
ABSL_FLAG(bool, nats_create_stream, false,
          "create --nats_stream when it is missing (one box, tests, compose); a fleet's stream is "
          "the operator's (docs/fleet.md)");
ABSL_FLAG(std::string, log_format, "json", "log lines as json or text");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off");
ABSL_FLAG(std::string, log_file, "",
          "also append the log lines to this file (%p: the pid); so does $DESFIRED_LOG_FILE");
ABSL_FLAG(bool, hash_token, false,
          "read a token from stdin (one trailing newline dropped), print its sha256: line for "
          "the tokens file, and exit");

namespace {

namespace log = desfired::log;

// The logger the flags ask for; nullptr (after saying why on stderr) when they are wrong.
std::shared_ptr<log::Logger> MakeLogger() {
  absl::StatusOr<log::Format> format = log::ParseFormat(absl::GetFlag(FLAGS_log_format));
  absl::StatusOr<log::Level> level = log::ParseLevel(absl::GetFlag(FLAGS_log_level));
  absl::StatusOr<std::shared_ptr<log::Logger>> logger =
      !format.ok() ? format.status()
      : !level.ok()
          ? level.status()
          : log::Logger::Create(
                {.format = *format, .level = *level, .file = absl::GetFlag(FLAGS_log_file)});
  if (!logger.ok()) {
    std::fprintf(stderr, "desfired: %s\n", std::string(logger.status().message()).c_str());
    return nullptr;
  }
  log::Logger::SetDefault(*logger);
  return *std::move(logger);
}

// desfired --hash_token: the token on stdin → "sha256:HEX" on stdout.
int HashToken() {
  std::string token((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (!token.empty() && token.back() == '\n') token.pop_back();
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.empty()) {
    std::fprintf(stderr, "desfired: --hash_token: no token on stdin\n");
    return 2;
  }
  std::printf("%s\n", desfired::server::TokenHash(token).c_str());
  return 0;
}

int Run() {
  using desfired::server::DesfiredServer;
  using desfired::server::ServerConfig;
  std::shared_ptr<log::Logger> logger = MakeLogger();
  if (!logger) return 2;
  log::RouteLibraryLogs();  // gRPC's and protobuf's lines as ours: stderr stays JSON
  ServerConfig config;
  config.logger = logger;
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.http.listen = absl::GetFlag(FLAGS_http_listen);
  config.http.heartbeat = absl::GetFlag(FLAGS_http_heartbeat);
  config.http.request_timeout = absl::GetFlag(FLAGS_http_request_timeout);
  config.http.session_ttl = absl::GetFlag(FLAGS_http_session_ttl);
  if (absl::GetFlag(FLAGS_http_max_body_bytes) < 1 || absl::GetFlag(FLAGS_http_threads) < 1 ||
      absl::GetFlag(FLAGS_http_max_json_bytes) < 1 ||
      absl::GetFlag(FLAGS_http_sign_in_failures) < 0 ||
      absl::GetFlag(FLAGS_http_max_connections_per_address) < 0) {
    logger->Error(
        "--http_max_body_bytes, --http_max_json_bytes and --http_threads must be positive, "
        "--http_max_connections_per_address and --http_sign_in_failures 0 or more");
    return 2;
  }
  config.http.max_body_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_http_max_body_bytes));
  config.http.max_json_bytes = static_cast<size_t>(absl::GetFlag(FLAGS_http_max_json_bytes));
  config.http.threads = static_cast<size_t>(absl::GetFlag(FLAGS_http_threads));
  config.http.sign_in_failures = static_cast<size_t>(absl::GetFlag(FLAGS_http_sign_in_failures));
  config.http.max_requests_per_address =
      static_cast<size_t>(absl::GetFlag(FLAGS_http_max_connections_per_address));
  config.listen = absl::GetFlag(FLAGS_listen);
  config.allow_insecure_remote = absl::GetFlag(FLAGS_allow_insecure_remote);
  config.pcsc_socket = absl::GetFlag(FLAGS_pcsc_socket);
  config.keys_file = absl::GetFlag(FLAGS_keys);
  config.originality_keys_file = absl::GetFlag(FLAGS_originality_keys);
  config.sun_counters = absl::GetFlag(FLAGS_sun_counters);
  const int queue_limit = absl::GetFlag(FLAGS_queue_limit);
  const int watch_history = absl::GetFlag(FLAGS_watch_history);
  const int watch_queue = absl::GetFlag(FLAGS_watch_queue);
  const int max_tap_batch = absl::GetFlag(FLAGS_max_tap_batch);
  if (queue_limit < 1 || watch_history < 1 || watch_queue < 1 || max_tap_batch < 1) {
    logger->Error(
        "--queue_limit, --watch_history, --watch_queue and --max_tap_batch must be positive");
    return 2;
  }
  config.queue_limit = static_cast<size_t>(queue_limit);
  config.default_deadline = absl::GetFlag(FLAGS_default_deadline);
  config.watch_history = static_cast<size_t>(watch_history);
  config.watch_queue = static_cast<size_t>(watch_queue);
  config.max_tap_batch = static_cast<size_t>(max_tap_batch);
  config.watch_write_timeout = absl::GetFlag(FLAGS_watch_write_timeout);
  if (absl::GetFlag(FLAGS_watch_threads) < 0) {
    logger->Error("--watch_threads must be 0 (one per core) or more");
    return 2;
  }
  config.watch_threads = static_cast<size_t>(absl::GetFlag(FLAGS_watch_threads));
  config.transport.handshake_timeout = absl::GetFlag(FLAGS_handshake_timeout);
  config.transport.connection_idle_timeout = absl::GetFlag(FLAGS_connection_idle_timeout);
  config.transport.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  config.transport.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  config.transport.max_streams_per_connection = absl::GetFlag(FLAGS_max_streams_per_connection);
  const int max_connections = absl::GetFlag(FLAGS_max_connections);
  const int max_connections_per_address = absl::GetFlag(FLAGS_max_connections_per_address);
  if (max_connections < 1 || max_connections_per_address < 0) {
    logger->Error("--max_connections must be positive, --max_connections_per_address 0 or more");
    return 2;
  }
  config.transport.max_connections = static_cast<size_t>(max_connections);
  config.transport.memory_quota =
      static_cast<size_t>(std::max<int64_t>(0, absl::GetFlag(FLAGS_grpc_memory_quota)));
  config.transport.max_connections_per_address = static_cast<size_t>(max_connections_per_address);
  const int max_health_watchers = absl::GetFlag(FLAGS_max_health_watchers);
  if (max_health_watchers < 1) {
    logger->Error("--max_health_watchers must be positive");
    return 2;
  }
  config.max_health_watchers = static_cast<size_t>(max_health_watchers);
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.nats.url = absl::GetFlag(FLAGS_nats);
  config.nats.instance = absl::GetFlag(FLAGS_instance);
  config.nats.creds_file = absl::GetFlag(FLAGS_nats_creds);
  config.nats.tls_ca_file = absl::GetFlag(FLAGS_nats_tls_ca);
  config.nats.tls_cert_file = absl::GetFlag(FLAGS_nats_tls_cert);
  config.nats.tls_key_file = absl::GetFlag(FLAGS_nats_tls_key);
  config.nats.buffer_dir = absl::GetFlag(FLAGS_nats_buffer_dir);
  config.nats.include_uids = absl::GetFlag(FLAGS_nats_include_uids);
  config.nats.stream = absl::GetFlag(FLAGS_nats_stream);
  config.nats.create_stream = absl::GetFlag(FLAGS_nats_create_stream);
  if (const int64_t nats_bytes = absl::GetFlag(FLAGS_nats_buffer_bytes); nats_bytes < 4096) {
    logger->Error("--nats_buffer_bytes must be at least 4096");
    return 2;
  } else {
    config.nats.buffer_bytes = static_cast<uint64_t>(nats_bytes);
  }
  if (!config.nats.url.empty() && config.nats.instance.empty()) {
    logger->Error("--nats needs --instance (this box's id in the subjects)");
    return 2;
  }
  config.ledger_recover = absl::GetFlag(FLAGS_ledger_recover);
  config.ledger_verify_interval = absl::GetFlag(FLAGS_ledger_verify_interval);
  config.testing_crash_after_commit = absl::GetFlag(FLAGS_testing_crash_after_commit);
  config.testing_crash_after_done = absl::GetFlag(FLAGS_testing_crash_after_done);
  config.testing_crash_before_commit = absl::GetFlag(FLAGS_testing_crash_before_commit);
  const int max_streams = absl::GetFlag(FLAGS_max_streams_per_caller);
  const int max_write = absl::GetFlag(FLAGS_max_write_bytes);
  if (max_streams < 0 || max_write < 1) {
    logger->Error("--max_streams_per_caller must be 0 or more, --max_write_bytes positive");
    return 2;
  }
  const int tap_calls = absl::GetFlag(FLAGS_max_tap_calls);
  const int tap_calls_per_caller = absl::GetFlag(FLAGS_max_tap_calls_per_caller);
  const int64_t tap_bytes = absl::GetFlag(FLAGS_max_tap_inflight_bytes);
  const int64_t tap_bytes_per_caller = absl::GetFlag(FLAGS_max_tap_inflight_bytes_per_caller);
  const int dedup_entries = absl::GetFlag(FLAGS_max_stream_dedup_entries);
  if (tap_calls < 0 || tap_calls_per_caller < 0 || tap_bytes < 0 || tap_bytes_per_caller < 0 ||
      dedup_entries < 1) {
    logger->Error(
        "--max_tap_calls, --max_tap_calls_per_caller, --max_tap_inflight_bytes and "
        "--max_tap_inflight_bytes_per_caller must be 0 or more, --max_stream_dedup_entries "
        "positive");
    return 2;
  }
  config.max_tap_calls = static_cast<size_t>(tap_calls);
  config.max_tap_calls_per_caller = static_cast<size_t>(tap_calls_per_caller);
  config.max_tap_inflight_bytes = static_cast<size_t>(tap_bytes);
  config.max_tap_inflight_bytes_per_caller = static_cast<size_t>(tap_bytes_per_caller);
  config.max_stream_dedup_entries = static_cast<size_t>(dedup_entries);
  const std::string tap_dedup = absl::GetFlag(FLAGS_tap_dedup);
  const std::string tap_dedup_conn = absl::GetFlag(FLAGS_tap_dedup_conn);
  if ((tap_dedup != "local" && tap_dedup != "postgresql") ||
      (tap_dedup == "postgresql") != !tap_dedup_conn.empty() ||
      absl::GetFlag(FLAGS_tap_dedup_connections) < 1) {
    logger->Error(
        "--tap_dedup is 'local' or 'postgresql'; 'postgresql' needs --tap_dedup_conn FILE (and "
        "only it takes one); --tap_dedup_connections must be positive");
    return 2;
  }
  if (tap_dedup == "postgresql") config.tap_dedup_conn_file = tap_dedup_conn;
  config.tap_dedup_connections = static_cast<size_t>(absl::GetFlag(FLAGS_tap_dedup_connections));
  config.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  config.max_write_bytes = static_cast<size_t>(max_write);
  config.security.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  config.security.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  config.security.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  config.security.tokens_file = absl::GetFlag(FLAGS_tokens);
  config.security.max_streams_per_caller = static_cast<size_t>(max_streams);

  // Keys live in this process's memory: no core dumps of it (and no ptrace by others), unless
  // asked for while debugging.
  if (!absl::GetFlag(FLAGS_allow_core_dumps)) {
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  }

  // SIGTERM and SIGINT are taken by sigwait below, never by a handler: block them before any
  // thread starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = DesfiredServer::Start(config);
  if (!server.ok()) {
    logger->Error(server.status().message(),
                  log::Fields().Str("code", absl::StatusCodeToString(server.status().code())));
    return 1;
  }
  for (const std::string& warning : (*server)->warnings()) logger->Warn(warning);
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    std::ofstream(port_file) << (*server)->port() << "\n";
  }
  if (config.data_dir.empty()) {
    logger->Warn(
        "no --data_dir: card changes are not recorded in an audit ledger and retries with the "
        "same request_id are not deduplicated");
  } else if ((*server)->unsettled_at_start() > 0) {
    logger->Warn(
        "card changes left unsettled by the last run; each is settled when its card is next on "
        "a reader",
        log::Fields().Int("unsettled", static_cast<int64_t>((*server)->unsettled_at_start())));
  }
  int signal = 0;
  while (true) {
    sigwait(&signals, &signal);
    if (signal != SIGHUP) break;
    // SIGHUP: the key file again; the keys in use stay when it is bad.
    absl::Status reloaded = (*server)->ReloadKeys();
    if (reloaded.ok()) {
      logger->Info("SIGHUP: keys reloaded");
    } else {
      logger->Error(
          absl::StrCat("SIGHUP: keys not reloaded, the old keys stay: ", reloaded.message()));
    }
    // The TLS certificate again, for new HTTPS connections (gRPC: at the next start).
    if (!config.security.tls_cert_file.empty() && !config.http.listen.empty()) {
      if (absl::Status tls = (*server)->ReloadTls(); tls.ok()) {
        logger->Info(
            "SIGHUP: TLS certificate reloaded for new HTTPS connections (gRPC keeps "
            "the certificate it started with until desfired restarts)");
      } else {
        logger->Error(absl::StrCat("SIGHUP: TLS certificate not reloaded, the old one stays: ",
                                   tls.message()));
      }
    }
  }
  logger->Info("signal received", log::Fields().Int("signal", signal));
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
#ifdef NDEBUG
  // Debian's abseil is built with the mutex deadlock detector on: every Mutex lock and
  // destruction updates a global lock graph (~8 % of the server's CPU with 1,000 WatchCards
  // streams; GraphCycles in a profile of card calls). Release builds of desfired turn it off;
  // debug builds and the tests keep it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
#endif
  absl::SetProgramUsageMessage(
      "desfired: a gRPC service for MIFARE DESFire cards on PC/SC readers.\n"
      "  desfired [--listen 127.0.0.1:50051] [--keys FILE] [--pcsc-socket PATH]\n"
      "           [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--tokens FILE]\n"
      "           [--flagfile FILE]\n"
      "  desfired --hash-token < TOKEN_FILE\n"
      "  desfired --version");
  desfired::server::ConfigureFlagUsage();
  std::vector<std::string> args = desfired::server::DashesToUnderscores(argc, argv);
  if (desfired::server::WantsHelp(args)) {
    std::fputs(desfired::server::FlagHelp().c_str(), stdout);
    return 0;
  }
  std::vector<char*> parse_argv = desfired::server::ArgvOf(args);
  absl::ParseCommandLine(static_cast<int>(args.size()), parse_argv.data());
  if (absl::GetFlag(FLAGS_hash_token)) return HashToken();
  return Run();
}
