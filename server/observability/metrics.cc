#include "server/observability/metrics.h"

#include <exception>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/tap/result.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

#ifndef DESFIRED_VERSION
#define DESFIRED_VERSION "unknown"
#endif

namespace desfired::server {
namespace {

// A family registered in `registry` under `name` with `help`.
prometheus::Family<prometheus::Counter>& Counters(prometheus::Registry& registry,
                                                  const std::string& name,
                                                  const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& Histograms(prometheus::Registry& registry,
                                                      const std::string& name,
                                                      const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

// RPCs: a ListReaders answers in well under a millisecond, a card call takes tens of
// milliseconds, a deadline may be 30 s.
const prometheus::Histogram::BucketBoundaries kRpcBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
// Streams live from a fraction of a second (a tap file) to days (a watcher).
// clang-format off
const prometheus::Histogram::BucketBoundaries kStreamBuckets = {
    0.1, 1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600};
// clang-format on
// One APDU: sub-millisecond on an emulated card, a few ms to a few hundred ms on a reader.
const prometheus::Histogram::BucketBoundaries kApduBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

absl::Status ListenError(absl::string_view listen, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("config metrics_listen: '", listen, "' ", why));
}

}  // namespace

// The gauges whose value is read when scraped.
class Metrics::Sources final : public prometheus::Collectable {
 public:
  void Set(bool readers, std::function<double()> source) {
    absl::MutexLock lock(&mu_);
    (readers ? readers_ : watchers_) = std::move(source);
  }
  void Clear() {
    absl::MutexLock lock(&mu_);
    readers_ = nullptr;
    watchers_ = nullptr;
  }
  std::vector<prometheus::MetricFamily> Collect() const override {
    absl::MutexLock lock(&mu_);
    return {Gauge("desfired_readers", "Readers pcscd lists.", readers_),
            Gauge("desfired_watchers", "Open WatchCards streams.", watchers_)};
  }

 private:
  static prometheus::MetricFamily Gauge(std::string name, std::string help,
                                        const std::function<double()>& source) {
    prometheus::MetricFamily family;
    family.name = std::move(name);
    family.help = std::move(help);
    family.type = prometheus::MetricType::Gauge;
    family.metric.emplace_back();
    family.metric.back().gauge.value = source ? source() : 0;
    return family;
  }

  mutable absl::Mutex mu_;
  std::function<double()> readers_ ABSL_GUARDED_BY(mu_);
  std::function<double()> watchers_ ABSL_GUARDED_BY(mu_);
};

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()), sources_(std::make_shared<Sources>()) {
  prometheus::Registry& r = *registry_;
  rpc_total_ =
      &Counters(r, "desfired_rpc_total", "Finished RPCs by service, method and gRPC code.");
  rpc_duration_ = &Histograms(r, "desfired_rpc_duration_seconds",
                              "Unary RPC latency, from arrival to the status, by service and "
                              "method (streams: desfired_stream_duration_seconds).");
  stream_duration_ = &Histograms(r, "desfired_stream_duration_seconds",
                                 "Lifetime of streams (WatchCards, ParseTapStream), from arrival "
                                 "to the status, by service and method.");
  malformed_requests_ = &Counters(r, "desfired_malformed_requests_total",
                                  "Requests whose body is not a valid protobuf message of their "
                                  "method, answered INVALID_ARGUMENT; by service and method.");
  apdu_total_ = &Counters(r, "desfired_apdu_total", "APDUs sent to the card, by reader.");
  apdu_errors_ = &Counters(r, "desfired_apdu_errors_total",
                           "APDU exchanges that failed (card removed, reader or pcscd gone).");
  apdu_duration_ =
      &Histograms(r, "desfired_apdu_duration_seconds", "APDU round trip through PC/SC, by reader.");
  cards_seen_ =
      &Counters(r, "desfired_cards_seen_total", "Card insertions observed on any reader.").Add({});
  ledger_writes_ =
      &Counters(r, "desfired_ledger_writes_total", "Audit ledger entries written, by event kind.");
  changes_ = &Counters(r, "desfired_changes_total",
                       "Card calls through the audit ledger, by method and outcome (COMMITTED, "
                       "REPLAYED, NOT_COMMITTED, UNKNOWN).");
  ledger_errors_ =
      &Counters(r, "desfired_ledger_errors_total", "Audit ledger writes that failed.").Add({});
  ledger_verify_failures_ = &Counters(r, "desfired_ledger_verify_failures_total",
                                      "Background ledger verifications that found the chain "
                                      "broken (changes are refused from then on).")
                                 .Add({});
  auto& parsed = Counters(r, "desfired_tap_records_parsed_total",
                          "Tap records parsed (ParseTaps, ParseTapStream), by status.");
  taps_valid_ = &parsed.Add({{"status", "valid"}});
  taps_flagged_ = &parsed.Add({{"status", "flagged"}});
  taps_rejected_ = &parsed.Add({{"status", "rejected"}});
  auto& warnings =
      Counters(r, "desfired_tap_warnings_total", "Warnings on parsed tap records, by warning.");
  tap_warnings_.assign(tap::kLastWarning + 1, nullptr);
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    tap_warnings_[w] = &warnings.Add(
        {{"warning", std::string(tap::TapWarningName(static_cast<tap::TapWarning>(w)))}});
  }
  connections_ = &prometheus::BuildGauge()
                      .Name("desfired_connections")
                      .Help("TCP connections open to the gRPC port (handshaking ones too).")
                      .Register(r)
                      .Add({});
  auto& refused = Counters(r, "desfired_connections_refused_total",
                           "TCP connections closed at accept because a limit was reached, by "
                           "limit (max_connections, max_connections_per_address).");
  refused_max_connections_ = &refused.Add({{"limit", "max_connections"}});
  refused_max_connections_per_address_ = &refused.Add({{"limit", "max_connections_per_address"}});
  prometheus::BuildGauge()
      .Name("desfired_build_info")
      .Help("Always 1; the version of desfired in a label.")
      .Register(r)
      .Add({{"version", DESFIRED_VERSION}})
      .Set(1);
}

Metrics::~Metrics() {
  ClearSources();
  exposer_.reset();  // the HTTP threads stop before the registry goes
}

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(Options options) {
  std::unique_ptr<Metrics> m(new Metrics());
  if (options.listen.empty()) return m;
  const std::string& listen = options.listen;
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return ListenError(listen, "is not host:port");
  }
  std::string host = listen.substr(0, colon);
  if (host == "localhost") host = "127.0.0.1";  // civetweb binds addresses, not names
  const std::string bind = absl::StrCat(host, ":", port);
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(bind, /*num_threads=*/2);
  } catch (const std::exception&) {
    return absl::UnavailableError(absl::StrCat("config metrics_listen: cannot listen on '", listen,
                                               "' (in use, or not an address of this host)"));
  }
  m->exposer_->RegisterCollectable(m->registry_);
  m->exposer_->RegisterCollectable(m->sources_);
  const std::vector<int> ports = m->exposer_->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(
        absl::StrCat("config metrics_listen: no port bound for '", listen, "'"));
  }
  m->port_ = ports.front();
  return m;
}

void Metrics::CallDone(absl::string_view service, absl::string_view method, absl::string_view code,
                       absl::Duration latency, bool stream) {
  const std::string s(service), m(method);
  rpc_total_->Add({{"service", s}, {"method", m}, {"code", std::string(code)}}).Increment();
  (stream ? stream_duration_ : rpc_duration_)
      ->Add({{"service", s}, {"method", m}}, stream ? kStreamBuckets : kRpcBuckets)
      .Observe(absl::ToDoubleSeconds(latency));
}

void Metrics::MalformedRequest(absl::string_view service, absl::string_view method) {
  malformed_requests_->Add({{"service", std::string(service)}, {"method", std::string(method)}})
      .Increment();
}

void Metrics::ApduDone(absl::string_view reader, absl::Duration elapsed, bool ok) {
  const prometheus::Labels labels = {{"reader", std::string(reader)}};
  apdu_total_->Add(labels).Increment();
  if (!ok) apdu_errors_->Add(labels).Increment();
  apdu_duration_->Add(labels, kApduBuckets).Observe(absl::ToDoubleSeconds(elapsed));
}

void Metrics::ReaderSeen(absl::string_view reader) {
  const prometheus::Labels labels = {{"reader", std::string(reader)}};
  apdu_total_->Add(labels);
  apdu_errors_->Add(labels);
  apdu_duration_->Add(labels, kApduBuckets);
}

void Metrics::CardSeen() { cards_seen_->Increment(); }

void Metrics::LedgerWrite(absl::string_view event) {
  ledger_writes_->Add({{"event", std::string(event)}}).Increment();
}

void Metrics::ChangeDone(absl::string_view method, absl::string_view outcome) {
  changes_->Add({{"method", std::string(method)}, {"outcome", std::string(outcome)}}).Increment();
}

void Metrics::LedgerError() { ledger_errors_->Increment(); }
void Metrics::LedgerVerifyFailed() { ledger_verify_failures_->Increment(); }

void Metrics::TapsParsed(const tap::TapSummary& summary) {
  if (summary.valid > 0) taps_valid_->Increment(static_cast<double>(summary.valid));
  if (summary.flagged > 0) taps_flagged_->Increment(static_cast<double>(summary.flagged));
  if (summary.rejected > 0) taps_rejected_->Increment(static_cast<double>(summary.rejected));
  for (int w = tap::kFirstWarning; w <= tap::kLastWarning; ++w) {
    if (summary.warnings[w] > 0) {
      tap_warnings_[w]->Increment(static_cast<double>(summary.warnings[w]));
    }
  }
}

void Metrics::ConnectionsOpen(size_t open) { connections_->Set(static_cast<double>(open)); }

void Metrics::ConnectionRefused(absl::string_view limit) {
  (limit == "max_connections" ? refused_max_connections_ : refused_max_connections_per_address_)
      ->Increment();
}

void Metrics::NatsEnabled() {
  prometheus::Registry& r = *registry_;
  nats_published_ = &Counters(r, "desfired_nats_published_total",
                              "Events published to NATS JetStream and acknowledged by it.")
                         .Add({});
  nats_dropped_ = &Counters(r, "desfired_nats_dropped_total",
                            "Events not published to NATS, by reason (buffer_full, overrun, "
                            "rejected, disk_error).");
  for (const char* reason : {"buffer_full", "overrun", "rejected", "disk_error"}) {
    nats_dropped_->Add({{"reason", reason}});
  }
  auto gauge = [&r](const char* name, const char* help) {
    return &prometheus::BuildGauge().Name(name).Help(help).Register(r).Add({});
  };
  nats_buffered_bytes_ = gauge("desfired_nats_buffered_bytes",
                               "Bytes of events waiting in the NATS buffer (on disk).");
  nats_buffered_events_ =
      gauge("desfired_nats_buffered_events", "Events waiting in the NATS buffer (on disk).");
  nats_connected_ = gauge("desfired_nats_connected", "1 while connected to NATS, else 0.");
}

void Metrics::NatsPublished() {
  if (nats_published_ != nullptr) nats_published_->Increment();
}

void Metrics::NatsDropped(absl::string_view reason, uint64_t events) {
  if (nats_dropped_ != nullptr) {
    nats_dropped_->Add({{"reason", std::string(reason)}}).Increment(static_cast<double>(events));
  }
}

void Metrics::NatsBuffer(uint64_t bytes, uint64_t events) {
  if (nats_buffered_bytes_ == nullptr) return;
  nats_buffered_bytes_->Set(static_cast<double>(bytes));
  nats_buffered_events_->Set(static_cast<double>(events));
}

void Metrics::NatsConnected(bool connected) {
  if (nats_connected_ != nullptr) nats_connected_->Set(connected ? 1 : 0);
}

void Metrics::SetReadersSource(std::function<double()> source) {
  sources_->Set(true, std::move(source));
}

void Metrics::SetWatchersSource(std::function<double()> source) {
  sources_->Set(false, std::move(source));
}

void Metrics::ClearSources() { sources_->Clear(); }

std::string Metrics::Serialize() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (prometheus::MetricFamily& f : sources_->Collect()) families.push_back(std::move(f));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace desfired::server
