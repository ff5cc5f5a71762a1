#include "server/observability/observability.h"

#include <utility>

namespace desfired::server {

absl::string_view GrpcCodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "OK";
    case grpc::StatusCode::CANCELLED:
      return "CANCELLED";
    case grpc::StatusCode::UNKNOWN:
      return "UNKNOWN";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "INVALID_ARGUMENT";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::NOT_FOUND:
      return "NOT_FOUND";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "ALREADY_EXISTS";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "UNAUTHENTICATED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "RESOURCE_EXHAUSTED";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "FAILED_PRECONDITION";
    case grpc::StatusCode::ABORTED:
      return "ABORTED";
    case grpc::StatusCode::OUT_OF_RANGE:
      return "OUT_OF_RANGE";
    case grpc::StatusCode::UNIMPLEMENTED:
      return "UNIMPLEMENTED";
    case grpc::StatusCode::INTERNAL:
      return "INTERNAL";
    case grpc::StatusCode::UNAVAILABLE:
      return "UNAVAILABLE";
    case grpc::StatusCode::DATA_LOSS:
      return "DATA_LOSS";
    default:
      return "UNKNOWN";  // a bounded label value whatever the number
  }
}

absl::StatusOr<std::unique_ptr<Observability>> Observability::Create(ObservabilityOptions options) {
  std::unique_ptr<Observability> obs(new Observability());
  absl::StatusOr<std::unique_ptr<Metrics>> metrics =
      Metrics::Create({.listen = std::move(options.metrics_listen)});
  if (!metrics.ok()) return metrics.status();
  obs->metrics_ = *std::move(metrics);
  obs->logger_ = options.logger ? std::move(options.logger) : log::Logger::Default();
  return obs;
}

void Observability::CallDone(const CallInfo& info) {
  const absl::string_view code = GrpcCodeName(info.code);
  metrics_->CallDone(info.service, info.method, code, info.latency);
  const bool server_fault = info.code == grpc::StatusCode::INTERNAL ||
                            info.code == grpc::StatusCode::UNKNOWN ||
                            info.code == grpc::StatusCode::DATA_LOSS;
  const log::Level level = server_fault ? log::Level::kWarn : log::Level::kInfo;
  if (!logger_->enabled(level)) return;
  log::Fields fields;
  fields.Str("service", info.service)
      .Str("method", info.method)
      .Str("request_id", info.request_id)
      .Str("reader", info.reader)
      .Str("caller", info.caller)
      .Str("code", code)
      .Str("reason", info.reason)
      .Num("latency_ms", absl::ToDoubleMilliseconds(info.latency));
  if (info.replayed) fields.Bool("replayed", true);
  logger_->Log(level, "rpc", fields);
}

std::function<void(const std::string&, absl::Duration, bool)> Observability::ApduObserver() {
  return [metrics = metrics_.get()](const std::string& reader, absl::Duration elapsed, bool ok) {
    metrics->ApduDone(reader, elapsed, ok);
  };
}

void Observability::OnCardEvent(CardEventKind kind, absl::string_view reader) {
  switch (kind) {
    case CardEventKind::kCardInserted:
      metrics_->CardSeen();
      logger_->Debug("card inserted", log::Fields().Str("reader", reader));
      break;
    case CardEventKind::kCardRemoved:
      logger_->Debug("card removed", log::Fields().Str("reader", reader));
      break;
    case CardEventKind::kCardUpdated:
      logger_->Debug("card uid read", log::Fields().Str("reader", reader));
      break;
    case CardEventKind::kReaderAdded:
      logger_->Info("reader added", log::Fields().Str("reader", reader));
      break;
    case CardEventKind::kReaderRemoved:
      logger_->Info("reader removed", log::Fields().Str("reader", reader));
      break;
  }
}

void Observability::OnPcscAvailable(bool available) {
  const bool first = !pcsc_seen_;
  pcsc_seen_ = true;
  if (available) {
    if (!first) logger_->Info("pcscd reachable again");
  } else {
    logger_->Warn(first ? "pcscd not reachable" : "pcscd lost: card calls fail until it is back");
  }
}

ServerHooks MakeObservabilityHooks(Observability& obs, ServerHooks inner) {
  ServerHooks hooks = inner;
  hooks.on_call_done = [&obs, inner_done = std::move(inner.on_call_done)](const CallInfo& info) {
    if (inner_done) inner_done(info);
    obs.CallDone(info);
  };
  hooks.on_taps_parsed =
      [&obs, inner_parsed = std::move(inner.on_taps_parsed)](const tap::TapSummary& summary) {
        if (inner_parsed) inner_parsed(summary);
        obs.metrics().TapsParsed(summary);
      };
  return hooks;
}

}  // namespace desfired::server
