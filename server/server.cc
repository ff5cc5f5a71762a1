#include "server/server.h"

#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "server/status_mapping.h"

namespace desfired::server {
namespace {

absl::Status ConfigError(absl::string_view field, absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("config ", field, ": ", message));
}

// True for 127.0.0.0/8, [::1] and localhost.
bool IsLoopback(absl::string_view listen) {
  return absl::StartsWith(listen, "127.") || absl::StartsWith(listen, "[::1]") ||
         absl::StartsWith(listen, "localhost:");
}

absl::Status CheckConfig(const ServerConfig& c) {
  const size_t colon = c.listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(c.listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return ConfigError("listen", absl::StrCat("'", c.listen, "' is not host:port"));
  }
  if (!IsLoopback(c.listen) && !c.allow_insecure_remote) {
    return ConfigError("listen", absl::StrCat("'", c.listen,
                                              "' is not a loopback address; without TLS the "
                                              "server listens on loopback only (or pass "
                                              "--allow-insecure-remote)"));
  }
  if (c.queue_limit == 0) return ConfigError("queue_limit", "must be at least 1");
  if (c.default_deadline <= absl::ZeroDuration()) {
    return ConfigError("default_deadline", "must be positive");
  }
  if (c.watch_queue == 0 || c.watch_history < c.watch_queue) {
    return ConfigError("watch_history", "must be at least watch_queue, which must be positive");
  }
  if (c.max_tap_batch == 0) return ConfigError("max_tap_batch", "must be at least 1");
  if (c.max_message_bytes < 1024) return ConfigError("max_message_bytes", "at least 1024");
  return absl::OkStatus();
}

CardEventKind FromMonitor(pcsc::ReaderEvent::Kind kind) {
  switch (kind) {
    case pcsc::ReaderEvent::Kind::kReaderAdded:
      return CardEventKind::kReaderAdded;
    case pcsc::ReaderEvent::Kind::kReaderRemoved:
      return CardEventKind::kReaderRemoved;
    case pcsc::ReaderEvent::Kind::kCardInserted:
      return CardEventKind::kCardInserted;
    case pcsc::ReaderEvent::Kind::kCardRemoved:
      return CardEventKind::kCardRemoved;
  }
  return CardEventKind::kReaderAdded;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DesfiredServer>> DesfiredServer::Start(ServerConfig config) {
  DESFIRED_RETURN_IF_ERROR(CheckConfig(config));
  std::unique_ptr<DesfiredServer> s(new DesfiredServer());
  s->config_ = std::move(config);
  const ServerConfig& c = s->config_;

  // The PC/SC backend, chosen before libpcsclite reads it.
  if (!c.pcsc_socket.empty()) ::setenv("PCSCLITE_CSOCK_NAME", c.pcsc_socket.c_str(), 1);

  if (!c.keys_file.empty()) {
    absl::StatusOr<keys::KeyStore> store = keys::KeyStore::LoadFile(c.keys_file);
    if (!store.ok()) {
      return absl::Status(store.status().code(),
                          absl::StrCat("config keys_file: ", store.status().message()));
    }
    s->keys_ = *std::move(store);
  }

  s->hub_ = std::make_unique<EventHub>(EventHubOptions{
      .history_size = c.watch_history,
      .max_queue = c.watch_queue,
      // Sequences of an earlier run then look old (HISTORY_EXPIRED), never current.
      .first_sequence = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())),
  });
  EventHub* hub = s->hub_.get();
  tap::TapPipelineConfig taps;
  taps.keys = &s->keys_;
  s->readers_ = std::make_unique<ReaderRegistry>(
      *hub, ReaderRegistry::Options{.worker = {.max_queued = c.queue_limit},
                                    .session = {.keys = &s->keys_, .taps = taps},
                                    .default_deadline = c.default_deadline});
  ReaderRegistry* readers = s->readers_.get();
  absl::StatusOr<std::unique_ptr<pcsc::ReaderMonitor>> monitor =
      pcsc::ReaderMonitor::Start([hub, readers](const pcsc::ReaderEvent& e) {
        hub->Publish(CardEvent{.kind = FromMonitor(e.kind),
                               .reader = e.reader,
                               .uid = e.uid,
                               .atr = e.atr,
                               .time = e.time});
        // Release the reader for the UID read of the next card.
        if (e.kind == pcsc::ReaderEvent::Kind::kCardRemoved) readers->CardLeft(e.reader);
      });
  if (!monitor.ok()) return monitor.status();
  s->monitor_ = *std::move(monitor);
  s->card_service_ = std::make_unique<CardServiceImpl>(*s->readers_, *hub, c.hooks);
  s->tap_service_ = std::make_unique<TapServiceImpl>(
      TapServiceImpl::Options{.pipeline = taps, .max_batch = c.max_tap_batch}, c.hooks);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(c.listen, grpc::InsecureServerCredentials(), &s->port_);
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);  // a second server must fail
  builder.SetMaxReceiveMessageSize(c.max_message_bytes);
  builder.SetMaxSendMessageSize(c.max_message_bytes);
  builder.RegisterService(s->card_service_.get());
  builder.RegisterService(s->tap_service_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_ || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", c.listen));
  }
  s->health_thread_ = std::thread([raw = s.get()] { raw->WatchHealth(); });
  return s;
}

void DesfiredServer::WatchHealth() {
  grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
  bool last = false;
  bool first = true;
  do {
    const bool serving = monitor_->service_available();
    if (first || serving != last) {
      health->SetServingStatus(serving);
      health->SetServingStatus("desfired.v1.CardService", serving);
      health->SetServingStatus("desfired.v1.TapService", true);
      last = serving;
      first = false;
    }
  } while (!stop_health_.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
}

void DesfiredServer::Shutdown(absl::Duration grace) {
  if (stopping_.exchange(true)) {
    stopped_.WaitForNotification();
    return;
  }
  stop_health_.Notify();
  if (health_thread_.joinable()) health_thread_.join();
  if (server_) server_->GetHealthCheckService()->Shutdown();  // NOT_SERVING, final
  if (hub_) hub_->Close();                                    // WatchCards streams end
  const absl::Time deadline = absl::Now() + grace;
  if (readers_) readers_->Shutdown(grace);
  if (server_) server_->Shutdown(absl::ToChronoTime(deadline));
  if (monitor_) monitor_->Stop();
  stopped_.Notify();
}

void DesfiredServer::Wait() { stopped_.WaitForNotification(); }

DesfiredServer::~DesfiredServer() {
  Shutdown(absl::ZeroDuration());
  if (server_) server_->Wait();
}

}  // namespace desfired::server
