// desfired: flags → config → server → wait for SIGTERM/SIGINT → graceful shutdown.
//
//   desfired --listen 127.0.0.1:50051 --keys /etc/desfired/keys.conf
//   desfired --pcsc-socket /run/pcscd-test/pcscd.comm --listen 127.0.0.1:0 --port-file F
//   desfired --metrics_listen 127.0.0.1:9464 --log_format text --log_level debug
//
// Logs go to stderr (and --log_file / DESFIRED_LOG_FILE), JSON lines by default
// (docs/observability.md); an error in the log flags themselves is plain text.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/log.h"
#include "server/server.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:50051",
          "host:port to listen on (loopback only without TLS, unless --allow-insecure-remote)");
ABSL_FLAG(bool, allow_insecure_remote, false,
          "listen on a non-loopback address without TLS (warns at start-up)");
ABSL_FLAG(std::string, pcsc_socket, "",
          "pcscd socket to use (default: the system pcscd, /run/pcscd/pcscd.comm)");
ABSL_FLAG(std::string, keys, "", "key store file (docs/key-store.md); must be mode 600");
ABSL_FLAG(int, queue_limit, 16, "card jobs that may wait per reader");
ABSL_FLAG(absl::Duration, default_deadline, absl::Seconds(30),
          "deadline of a card call whose client gave none");
ABSL_FLAG(int, watch_history, 1024, "card events kept for WatchCards resume");
ABSL_FLAG(int, watch_queue, 256, "unread events before a WatchCards stream is cut off");
ABSL_FLAG(int, max_tap_batch, 100000, "records per ParseTaps request or stream message");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(5),
          "time queued card jobs get to finish on SIGTERM");
ABSL_FLAG(std::string, port_file, "", "write the port listened on to this file (for scripts)");
ABSL_FLAG(std::string, metrics_listen, "",
          "host:port serving Prometheus metrics on /metrics (default: not served)");
ABSL_FLAG(std::string, log_format, "json", "log lines as json or text");
ABSL_FLAG(std::string, log_level, "info", "trace, debug, info, warn, error or off");
ABSL_FLAG(std::string, log_file, "",
          "also append the log lines to this file (%p: the pid); so does $DESFIRED_LOG_FILE");

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

int Run() {
  using desfired::server::DesfiredServer;
  using desfired::server::ServerConfig;
  std::shared_ptr<log::Logger> logger = MakeLogger();
  if (!logger) return 2;
  ServerConfig config;
  config.logger = logger;
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.listen = absl::GetFlag(FLAGS_listen);
  config.allow_insecure_remote = absl::GetFlag(FLAGS_allow_insecure_remote);
  config.pcsc_socket = absl::GetFlag(FLAGS_pcsc_socket);
  config.keys_file = absl::GetFlag(FLAGS_keys);
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

  // SIGTERM and SIGINT are taken by sigwait below, never by a handler: block them before any
  // thread starts so that every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = DesfiredServer::Start(config);
  if (!server.ok()) {
    logger->Error(server.status().message(),
                  log::Fields().Str("code", absl::StatusCodeToString(server.status().code())));
    return 1;
  }
  if (config.allow_insecure_remote) {
    logger->Warn("listening without TLS: anyone who can reach the address can use the cards",
                 log::Fields().Str("listen", config.listen));
  }
  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    std::ofstream(port_file) << (*server)->port() << "\n";
  }
  int signal = 0;
  sigwait(&signals, &signal);
  logger->Info("signal received", log::Fields().Int("signal", signal));
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "desfired: a gRPC service for MIFARE DESFire cards on PC/SC readers.\n"
      "  desfired [--listen 127.0.0.1:50051] [--keys FILE] [--pcsc-socket PATH]");
  absl::ParseCommandLine(argc, argv);
  return Run();
}
