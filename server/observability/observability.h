// Observability: what DesfiredServer gives the metrics (server/observability/metrics.h) and the
// logs (server/observability/log.h) to see, gathered in one place so the server assembly only has
// to call it:
//
//   obs = Observability::Create({.metrics_listen = ..., .logger = ...});
//   ServerHooks hooks = MakeObservabilityHooks(*obs, config.hooks);   // services get these
//   session_options.on_apdu = obs->ApduObserver();                     // per-reader APDUs
//   monitor callback: obs->OnCardEvent(kind, reader);                  // cards seen, readers
//   health loop:      obs->OnPcscAvailable(serving);                   // pcscd lost / back
//
// MakeObservabilityHooks keeps authorize and caller of `inner` as they are, and extends
// on_call_done and on_taps_parsed: inner's first (the ledger, say), then the metrics
// (desfired_rpc_*, desfired_tap_*) and, for on_call_done, one log line per finished call:
//
//   info  "rpc"  service method request_id reader caller code reason latency_ms [replayed]
//
// (warn instead of info for INTERNAL, UNKNOWN and DATA_LOSS). A stream (CallInfo::stream) its
// client ended — CANCELLED — is counted with code OK: that is how a stream normally ends.
// READER_ADDED starts the reader's APDU series at 0 (Metrics::ReaderSeen). Nothing of the request
// body is logged: see log.h for what never is.
//
// Thread-safe. The Observability must outlive the hooks and observers it hands out.
#ifndef DESFIRED_SERVER_OBSERVABILITY_OBSERVABILITY_H_
#define DESFIRED_SERVER_OBSERVABILITY_OBSERVABILITY_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/observability/log.h"
#include "server/observability/metrics.h"
#include "server/readers/card_event.h"
#include "server/rpc/hooks.h"

namespace desfired::server {

struct ObservabilityOptions {
  std::string metrics_listen = {};                // see Metrics::Options::listen
  std::shared_ptr<log::Logger> logger = nullptr;  // null: log::Logger::Default()
};

class Observability {
 public:
  // The errors of Metrics::Create.
  static absl::StatusOr<std::unique_ptr<Observability>> Create(ObservabilityOptions options);

  Metrics& metrics() { return *metrics_; }
  log::Logger& logger() { return *logger_; }

  // Counts one finished call and logs its line (what MakeObservabilityHooks adds).
  void CallDone(const CallInfo& info);
  // For CardSession::Options::on_apdu.
  std::function<void(const std::string& reader, absl::Duration elapsed, bool ok)> ApduObserver();
  // A reader monitor event: CARD_INSERTED counts a card seen; reader changes are logged.
  void OnCardEvent(CardEventKind kind, absl::string_view reader);
  // A request body that is not a valid protobuf message of the method at `path`
  // ("/desfired.v1.CardService/Debit"): counted (desfired_malformed_requests_total) and logged
  // (warn "malformed request" with service, method and peer; never the body).
  void MalformedRequest(absl::string_view path, absl::string_view peer);
  // pcscd reachable or not, called when it changes (and once at start-up).
  void OnPcscAvailable(bool available);

 private:
  Observability() = default;

  std::unique_ptr<Metrics> metrics_;
  std::shared_ptr<log::Logger> logger_;
  bool pcsc_seen_ = false;  // OnPcscAvailable was called before (the health thread only)
};

// `inner` with on_call_done and on_taps_parsed extended as described above, and on_malformed
// set to MalformedRequest.
ServerHooks MakeObservabilityHooks(Observability& obs, ServerHooks inner);

// "OK", "CANCELLED", ... "UNAUTHENTICATED": the name of a gRPC code.
absl::string_view GrpcCodeName(grpc::StatusCode code);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_OBSERVABILITY_OBSERVABILITY_H_
