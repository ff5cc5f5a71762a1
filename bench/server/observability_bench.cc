// What the metrics and the log line cost per finished RPC (Observability::CallDone, the work
// MakeObservabilityHooks adds to on_call_done), and the parts of it. Figures in
// docs/benchmarks.md.
//
//   observability_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <memory>
#include <string>

#include "server/observability/observability.h"

namespace desfired::server {
namespace {

CallInfo Debit() {
  CallInfo info;
  info.service = "CardService";
  info.method = "Debit";
  info.caller = "ipv4:127.0.0.1:53012";
  info.request_id = "bench-request-0001";
  info.reader = "ACS ACR122U PICC Interface 00 00";
  info.latency = absl::Microseconds(41207);
  return info;
}

std::string TempLog() {
  std::string dir = "/tmp/observability_bench.XXXXXX";
  if (::mkdtemp(dir.data()) == nullptr) std::abort();
  return dir + "/bench.log";
}

std::unique_ptr<Observability> Make(log::Level level, bool file) {
  auto logger = log::Logger::Create({.format = log::Format::kJson,
                                     .level = level,
                                     .to_stderr = false,
                                     .file = file ? TempLog() : "",
                                     .use_env_file = false});
  if (!logger.ok()) std::abort();
  auto obs = Observability::Create({.metrics_listen = "", .logger = *logger});
  if (!obs.ok()) std::abort();
  return *std::move(obs);
}

// Metrics only (the log line below the level).
void BM_CallDoneMetricsOnly(benchmark::State& state) {
  auto obs = Make(log::Level::kWarn, false);
  const CallInfo info = Debit();
  for (auto _ : state) obs->CallDone(info);
}
BENCHMARK(BM_CallDoneMetricsOnly);

// Metrics and one JSON line appended (and flushed) to a file.
void BM_CallDoneJsonToFile(benchmark::State& state) {
  auto obs = Make(log::Level::kInfo, true);
  const CallInfo info = Debit();
  for (auto _ : state) obs->CallDone(info);
}
BENCHMARK(BM_CallDoneJsonToFile);

void BM_FormatJsonLine(benchmark::State& state) {
  const CallInfo info = Debit();
  for (auto _ : state) {
    benchmark::DoNotOptimize(log::FormatLine(log::Format::kJson, absl::Now(), log::Level::kInfo,
                                             "rpc",
                                             log::Fields()
                                                 .Str("service", info.service)
                                                 .Str("method", info.method)
                                                 .Str("request_id", info.request_id)
                                                 .Str("reader", info.reader)
                                                 .Str("caller", info.caller)
                                                 .Str("code", "OK")
                                                 .Num("latency_ms", 41.207)));
  }
}
BENCHMARK(BM_FormatJsonLine);

void BM_ApduObserver(benchmark::State& state) {
  auto obs = Make(log::Level::kWarn, false);
  auto observer = obs->ApduObserver();
  const std::string reader = "ACS ACR122U PICC Interface 00 00";
  for (auto _ : state) observer(reader, absl::Microseconds(900), true);
}
BENCHMARK(BM_ApduObserver);

}  // namespace
}  // namespace desfired::server

BENCHMARK_MAIN();
