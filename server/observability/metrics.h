// Metrics: desfired's Prometheus metrics, kept in one prometheus::Registry and, when a listen
// address is given, served over HTTP on /metrics (prometheus-cpp's Exposer, civetweb).
//
//   DESFIRED_ASSIGN_OR_RETURN(auto metrics, Metrics::Create({.listen = "127.0.0.1:9464"}));
//   metrics->CallDone("CardService", "Debit", "OK", latency);
//   metrics->ApduDone("ACS ACR122U 00 00", elapsed, /*ok=*/true);
//   ... metrics->port() ...   // the port bound (listen may say port 0)
//
// The metrics (docs/observability.md lists them with their meaning):
//   desfired_rpc_total{service,method,code}          counter
//   desfired_rpc_duration_seconds{service,method}    histogram, 1 ms .. 30 s, unary calls only
//   desfired_stream_duration_seconds{service,method} histogram, 0.1 s .. 24 h, stream lifetimes
//   desfired_malformed_requests_total{service,method} counter, bodies that are not protobuf
//   desfired_apdu_total{reader}                      counter, APDUs sent to the card
//   desfired_apdu_errors_total{reader}               counter, APDUs whose exchange failed
//                                                    (0 from the reader's arrival: ReaderSeen)
//   desfired_apdu_duration_seconds{reader}           histogram, 0.5 ms .. 2.5 s
//   desfired_cards_seen_total                        counter, card insertions observed
//   desfired_ledger_writes_total{event}              counter
//   desfired_ledger_errors_total                     counter
//   desfired_changes_total{method,outcome}           counter, card calls through the ledger;
//                                                    outcome = COMMITTED|REPLAYED|
//                                                    NOT_COMMITTED|UNKNOWN
//   desfired_ledger_verify_failures_total            counter, background verify found a break
//   desfired_tap_records_parsed_total{status}        counter, status = valid|flagged|rejected
//   desfired_tap_warnings_total{warning}             counter, warning = CRC8_MISMATCH, ...
//   desfired_readers                                 gauge, read when scraped
//   desfired_watchers                                gauge, read when scraped
//   desfired_connections                             gauge, TCP connections open (listener.h)
//   desfired_connections_refused_total{limit}        counter, limit = max_connections|
//                                                    max_connections_per_address
//   desfired_nats_published_total                    counter, events JetStream acknowledged
//   desfired_nats_dropped_total{reason}              counter, events not published; reason =
//                                                    buffer_full|overrun|rejected|disk_error
//   desfired_nats_buffered_bytes / _events           gauge, events waiting in the NATS buffer
//   desfired_nats_connected                          gauge, 1 while connected to NATS
//                                                    (the desfired_nats_* only with --nats)
//   desfired_build_info{version}                     gauge, always 1
//
// Label values are bounded: service and method come from the fixed set of RPCs, code from the
// gRPC codes, reader from the readers attached, event from the ledger's event kinds, status
// and warning from core/tap. Request ids, UIDs and callers are never labels.
//
// Thread-safe: every method may be called from any thread. Gauge sources are called from the
// HTTP server's threads while holding a lock; ClearSources() waits for a running one, and
// after it returns no source is called again (call it before what the sources read goes).
#ifndef DESFIRED_SERVER_OBSERVABILITY_METRICS_H_
#define DESFIRED_SERVER_OBSERVABILITY_METRICS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/tap/summary.h"

namespace prometheus {
class Counter;
class Exposer;
class Gauge;
class Histogram;
class Registry;
template <typename T>
class Family;
}  // namespace prometheus

namespace desfired::server {

class Metrics {
 public:
  struct Options {
    // host:port for the HTTP endpoint (port 0: any free port; see port()). Empty: no
    // endpoint; the metrics are still kept (Serialize()).
    std::string listen = {};
  };

  // INVALID_ARGUMENT naming metrics_listen when it is not host:port, UNAVAILABLE when it
  // cannot be bound (in use, address not local).
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(Options options);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The port /metrics is served on; 0 without an endpoint.
  int port() const { return port_; }

  // One finished RPC: `code` is the gRPC code name ("OK", "NOT_FOUND", ...). The latency of
  // a unary call goes to desfired_rpc_duration_seconds, the lifetime of a stream to
  // desfired_stream_duration_seconds.
  void CallDone(absl::string_view service, absl::string_view method, absl::string_view code,
                absl::Duration latency, bool stream = false);
  // A request body that did not parse as its method's message (malformed_requests.h).
  void MalformedRequest(absl::string_view service, absl::string_view method);
  // One APDU exchanged with the card on `reader` (ok: the exchange itself succeeded).
  void ApduDone(absl::string_view reader, absl::Duration elapsed, bool ok);
  // A reader is there: its APDU series start at 0, so that rate() and increase() over them
  // work before its first APDU or error.
  void ReaderSeen(absl::string_view reader);
  // A card was inserted (or came back after pcscd restarted).
  void CardSeen();
  // The audit ledger wrote an event of kind `event` (a bounded set), or failed to write.
  void LedgerWrite(absl::string_view event);
  void LedgerError();
  // A card call through the audit ledger finished with `outcome` (server/readers/change_event.h).
  void ChangeDone(absl::string_view method, absl::string_view outcome);
  // The background verification found the ledger broken.
  void LedgerVerifyFailed();
  // A parsed batch (ParseTaps) or chunk (ParseTapStream): counts by status and by warning.
  void TapsParsed(const tap::TapSummary& summary);

  // The NATS publisher (server/nats/nats_publisher.h): NatsEnabled registers the
  // desfired_nats_* metrics (once, before the others are called; they do nothing before).
  void NatsEnabled();
  void NatsPublished();
  void NatsDropped(absl::string_view reason, uint64_t events);
  void NatsBuffer(uint64_t bytes, uint64_t events);
  void NatsConnected(bool connected);

  // The TCP connections open now; one refused at `limit` (server/listener.h).
  void ConnectionsOpen(size_t open);
  void ConnectionRefused(absl::string_view limit);

  // Gauges read when scraped; unset (or cleared): 0.
  void SetReadersSource(std::function<double()> source);
  void SetWatchersSource(std::function<double()> source);
  void ClearSources();

  // Every metric in Prometheus' text format (what /metrics serves).
  std::string Serialize() const;

 private:
  class Sources;
  Metrics();

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Sources> sources_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;

  prometheus::Family<prometheus::Counter>* rpc_total_;
  prometheus::Gauge* connections_;
  prometheus::Counter* refused_max_connections_;
  prometheus::Counter* refused_max_connections_per_address_;
  prometheus::Family<prometheus::Histogram>* rpc_duration_;
  prometheus::Family<prometheus::Histogram>* stream_duration_;
  prometheus::Family<prometheus::Counter>* malformed_requests_;
  prometheus::Family<prometheus::Counter>* apdu_total_;
  prometheus::Family<prometheus::Counter>* apdu_errors_;
  prometheus::Family<prometheus::Histogram>* apdu_duration_;
  prometheus::Counter* cards_seen_;
  prometheus::Family<prometheus::Counter>* ledger_writes_;
  prometheus::Counter* ledger_errors_;
  prometheus::Family<prometheus::Counter>* changes_;
  prometheus::Counter* ledger_verify_failures_;
  prometheus::Counter* taps_valid_;
  prometheus::Counter* taps_flagged_;
  prometheus::Counter* taps_rejected_;
  std::vector<prometheus::Counter*> tap_warnings_;  // indexed by tap::TapWarning
  prometheus::Counter* nats_published_ = nullptr;   // null: no NATS (NatsEnabled)
  prometheus::Family<prometheus::Counter>* nats_dropped_ = nullptr;
  prometheus::Gauge* nats_buffered_bytes_ = nullptr;
  prometheus::Gauge* nats_buffered_events_ = nullptr;
  prometheus::Gauge* nats_connected_ = nullptr;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_OBSERVABILITY_METRICS_H_
