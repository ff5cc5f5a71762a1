#include "server/observability/observability.h"

#include <utility>

#include "absl/strings/match.h"
#include "grpcpp/server_context.h"
#include "core/util/enum_table.h"

namespace desfired::server {
namespace {

constexpr EnumRow<grpc::StatusCode, absl::string_view> kGrpcCodeNames[] = {
    {grpc::StatusCode::OK, "OK"},
    {grpc::StatusCode::CANCELLED, "CANCELLED"},
    {grpc::StatusCode::UNKNOWN, "UNKNOWN"},
    {grpc::StatusCode::INVALID_ARGUMENT, "INVALID_ARGUMENT"},
    {grpc::StatusCode::DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED"},
    {grpc::StatusCode::NOT_FOUND, "NOT_FOUND"},
    {grpc::StatusCode::ALREADY_EXISTS, "ALREADY_EXISTS"},
    {grpc::StatusCode::PERMISSION_DENIED, "PERMISSION_DENIED"},
    {grpc::StatusCode::UNAUTHENTICATED, "UNAUTHENTICATED"},
    {grpc::StatusCode::RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
    {grpc::StatusCode::FAILED_PRECONDITION, "FAILED_PRECONDITION"},
    {grpc::StatusCode::ABORTED, "ABORTED"},
    {grpc::StatusCode::OUT_OF_RANGE, "OUT_OF_RANGE"},
    {grpc::StatusCode::UNIMPLEMENTED, "UNIMPLEMENTED"},
    {grpc::StatusCode::INTERNAL, "INTERNAL"},
    {grpc::StatusCode::UNAVAILABLE, "UNAVAILABLE"},
    {grpc::StatusCode::DATA_LOSS, "DATA_LOSS"},
};

}  // namespace

absl::string_view GrpcCodeName(grpc::StatusCode code) {
  // A bounded label value whatever the number.
  return ValueOf(kGrpcCodeNames, code).value_or("UNKNOWN");
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
  // A stream's client ending it (CANCELLED) is how a stream normally ends, not an error.
  const bool client_ended = info.stream && info.code == grpc::StatusCode::CANCELLED;
  metrics_->CallDone(info.service, info.method, client_ended ? "OK" : code, info.latency,
                     info.stream);
  if (!info.change_outcome.empty()) metrics_->ChangeDone(info.method, info.change_outcome);
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
  if (!info.change_outcome.empty()) fields.Str("change_outcome", info.change_outcome);
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
      metrics_->ReaderSeen(reader);
      logger_->Info("reader added", log::Fields().Str("reader", reader));
      break;
    case CardEventKind::kReaderRemoved:
      logger_->Info("reader removed", log::Fields().Str("reader", reader));
      break;
    case CardEventKind::kPcscUnavailable:
    case CardEventKind::kPcscAvailable:
      break;  // logged by OnPcscAvailable
    case CardEventKind::kChange:
      break;  // counted by CallDone (desfired_changes_total)
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

void Observability::MalformedRequest(absl::string_view path, absl::string_view peer) {
  // "/desfired.v1.CardService/Debit": service "CardService", method "Debit".
  absl::string_view service = path;
  absl::string_view method;
  if (const size_t slash = path.rfind('/'); slash != path.npos) {
    service = path.substr(0, slash);
    method = path.substr(slash + 1);
  }
  const size_t dot = service.rfind('.');
  service.remove_prefix(dot != service.npos ? dot + 1 : absl::StartsWith(service, "/") ? 1 : 0);
  metrics_->MalformedRequest(service, method);
  logger_->Warn("malformed request",
                log::Fields().Str("service", service).Str("method", method).Str("peer", peer));
}

ServerHooks MakeObservabilityHooks(Observability& obs, ServerHooks inner) {
  ServerHooks hooks = inner;
  hooks.on_call_done = [&obs, inner_done = std::move(inner.on_call_done)](const CallInfo& info) {
    if (inner_done) inner_done(info);
    obs.CallDone(info);
  };
  hooks.on_malformed = [&obs](grpc::CallbackServerContext* context, absl::string_view path) {
    obs.MalformedRequest(path, context->peer());
  };
  hooks.on_taps_parsed =
      [&obs, inner_parsed = std::move(inner.on_taps_parsed)](const tap::TapSummary& summary) {
        if (inner_parsed) inner_parsed(summary);
        obs.metrics().TapsParsed(summary);
      };
  return hooks;
}

}  // namespace desfired::server
