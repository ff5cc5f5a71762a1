// desfired-ship: ships desfired's local audit ledger to the central ledger on PostgreSQL
// (docs/fleet.md), beside desfired on the same box. It reads the ledger file read-only and never
// waits for desfired, nor desfired for it.
//
//   desfired-ship --ledger /var/lib/desfired/ledger.sqlite --central /etc/desfired/central.conn
//       --instance gate-07 [--metrics_file /var/lib/node_exporter/desfired_ship.prom]
//
// --central names a file (mode 0600) holding the libpq connection string (TLS by its sslmode);
// without it the string comes from the environment variable DESFIRED_POSTGRES. Never on the
// command line. Exit codes: 0 stopped (SIGTERM / SIGINT, or --once caught up); 1 refused (the
// central head does not continue the local chain, a local row does not verify, the database is
// not a central ledger): a person decides; 2 bad usage; 3 (--once) the central ledger could not be
// reached.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/shipper.h"

ABSL_FLAG(std::string, ledger, "/var/lib/desfired/ledger.sqlite", "the local ledger file");
ABSL_FLAG(std::string, central, "",
          "file (mode 0600) with the central database's libpq connection string; empty: the "
          "environment variable DESFIRED_POSTGRES");
ABSL_FLAG(std::string, instance, "", "this box's instance id in the central ledger (required)");
ABSL_FLAG(std::string, state_file, "",
          "the head the central ledger last confirmed (default: <ledger>.shipped)");
ABSL_FLAG(int64_t, batch_rows, 1000, "rows per central transaction (and in memory at once)");
ABSL_FLAG(absl::Duration, poll_interval, absl::Milliseconds(200),
          "how often the local ledger is looked at when caught up");
ABSL_FLAG(absl::Duration, max_retry_interval, absl::Seconds(10),
          "the longest wait between attempts while the central database is unreachable");
ABSL_FLAG(std::string, metrics_file, "",
          "write the Prometheus metrics to this file after every attempt (node_exporter's "
          "textfile collector)");
ABSL_FLAG(bool, once, false, "ship until caught up, then exit (0; 3 when it cannot reach it)");

namespace {

std::atomic<bool> stop{false};

void OnSignal(int) { stop.store(true); }

// Writes `text` to `path` atomically (a temporary file renamed over it).
void WriteMetrics(const std::string& path, const std::string& text) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return;
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) std::remove(tmp.c_str());
}

// Sleeps up to `d`, waking for a stop.
void Sleep(absl::Duration d) {
  const absl::Time until = absl::Now() + d;
  while (!stop.load() && absl::Now() < until) {
    absl::SleepFor(std::min(d, absl::Milliseconds(50)));
  }
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Ships desfired's audit ledger to the central ledger on PostgreSQL (docs/fleet.md).\n"
      "  desfired-ship --ledger FILE --central CONNFILE --instance ID");
  absl::ParseCommandLine(argc, argv);
  const std::string instance = absl::GetFlag(FLAGS_instance);
  if (instance.empty()) {
    std::fprintf(stderr, "desfired-ship: --instance ID is required\n");
    return 2;
  }
  std::string conninfo;
  if (const std::string file = absl::GetFlag(FLAGS_central); !file.empty()) {
    absl::StatusOr<std::string> read = desfired::ledger::ReadConnInfoFile(file);
    if (!read.ok()) {
      std::fprintf(stderr, "desfired-ship: %s\n", std::string(read.status().message()).c_str());
      return 2;
    }
    conninfo = *std::move(read);
  } else if (const char* env = std::getenv(desfired::ledger::kConnInfoEnv); env != nullptr) {
    conninfo = env;
  } else {
    std::fprintf(stderr, "desfired-ship: --central CONNFILE (or %s) is required\n",
                 desfired::ledger::kConnInfoEnv);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<desfired::ledger::Shipper>> shipper =
      desfired::ledger::Shipper::Create({.ledger_path = absl::GetFlag(FLAGS_ledger),
                                         .conninfo = std::move(conninfo),
                                         .instance = instance,
                                         .state_path = absl::GetFlag(FLAGS_state_file),
                                         .batch_rows = absl::GetFlag(FLAGS_batch_rows)});
  if (!shipper.ok()) {
    std::fprintf(stderr, "desfired-ship: %s\n", std::string(shipper.status().message()).c_str());
    return 2;
  }
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  signal(SIGPIPE, SIG_IGN);

  const std::string metrics = absl::GetFlag(FLAGS_metrics_file);
  const absl::Duration poll = absl::GetFlag(FLAGS_poll_interval);
  const absl::Duration max_retry = absl::GetFlag(FLAGS_max_retry_interval);
  absl::Duration retry = poll;
  bool failing = false;
  while (!stop.load()) {
    absl::StatusOr<int64_t> sent = (*shipper)->Ship();
    if (!metrics.empty()) {
      WriteMetrics(metrics, desfired::ledger::ShipperMetricsText((*shipper)->stats(), instance));
    }
    if (!sent.ok()) {
      std::fprintf(stderr, "desfired-ship: %s\n", std::string(sent.status().message()).c_str());
      if (absl::IsFailedPrecondition(sent.status()) || absl::IsInvalidArgument(sent.status())) {
        return 1;
      }
      if (absl::GetFlag(FLAGS_once)) return 3;
      failing = true;
      Sleep(retry);
      retry = std::min(max_retry, retry * 2);
      continue;
    }
    if (failing) {
      std::fprintf(stderr, "desfired-ship: shipping again (central head row %lld)\n",
                   static_cast<long long>((*shipper)->stats().central_seq));
      failing = false;
    }
    retry = poll;
    if (*sent < absl::GetFlag(FLAGS_batch_rows)) {  // caught up
      if (absl::GetFlag(FLAGS_once)) return 0;
      Sleep(poll);
    }
  }
  return 0;
}
