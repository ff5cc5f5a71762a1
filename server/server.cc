#include "server/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/data.h"
#include "core/desfire/originality.h"
#include "core/ledger/postgres_backend.h"
#include "core/util/enum_table.h"
#include "core/util/private_file.h"
#include "core/util/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "proto/convert/status_convert.h"
#include "server/listener.h"
#include "server/observability/malformed_requests.h"
#include "server/rpc/tap_limits.h"
#include "server/security/key_policy.h"

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

// The tap limits agree: a batch's answer fits a message, a caller may send one batch, the
// duplicate detection holds one batch (docs/server.md, "Limits and memory").
absl::Status CheckTapLimits(const ServerConfig& c) {
  if (c.max_tap_batch == 0) return ConfigError("max_tap_batch", "must be at least 1");
  const size_t worst = WorstTapResultBytes(tap::TapPipelineConfig{});
  const size_t message = static_cast<size_t>(c.max_message_bytes);
  const size_t fit = MaxTapBatchFor(message, worst);
  if (c.max_tap_batch > fit) {
    return ConfigError(
        "max_tap_batch",
        absl::StrCat(c.max_tap_batch, " records can need ", c.max_tap_batch * worst,
                     " bytes of answer (", worst, " per record), above max_message_bytes ", message,
                     ": at most ", fit, " with this max_message_bytes"));
  }
  if (c.max_stream_dedup_entries < c.max_tap_batch) {
    return ConfigError("max_stream_dedup_entries",
                       absl::StrCat(c.max_stream_dedup_entries, " is below max_tap_batch ",
                                    c.max_tap_batch, "; one batch must fit"));
  }
  const size_t one_batch = TapWorkBytes(message, c.max_tap_batch, worst);
  if (c.max_tap_inflight_bytes_per_caller != 0 && c.max_tap_inflight_bytes_per_caller < one_batch) {
    return ConfigError(
        "max_tap_inflight_bytes_per_caller",
        absl::StrCat(c.max_tap_inflight_bytes_per_caller, " is below what one full batch takes (",
                     one_batch, " bytes with max_tap_batch ", c.max_tap_batch,
                     " and max_message_bytes ", message, ")"));
  }
  if (c.max_tap_inflight_bytes != 0 && c.max_tap_inflight_bytes < one_batch) {
    return ConfigError("max_tap_inflight_bytes",
                       absl::StrCat(c.max_tap_inflight_bytes,
                                    " is below what one full batch takes (", one_batch, " bytes)"));
  }
  return absl::OkStatus();
}

// `listen` (config field `field`) is host:port, and loopback unless `tls` or
// allow_insecure_remote.
absl::Status CheckListen(const ServerConfig& c, absl::string_view field, const std::string& listen,
                         bool tls) {
  const size_t colon = listen.rfind(':');
  int port = -1;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return ConfigError(field, absl::StrCat("'", listen, "' is not host:port"));
  }
  if (!IsLoopback(listen) && !c.allow_insecure_remote && !tls) {
    return ConfigError(field, absl::StrCat("'", listen,
                                           "' is not a loopback address; without TLS "
                                           "(--tls_cert, --tls_key) the server listens on "
                                           "loopback only (or pass --allow_insecure_remote)"));
  }
  return absl::OkStatus();
}

absl::Status CheckConfig(const ServerConfig& c) {
  DESFIRED_RETURN_IF_ERROR(CheckListen(c, "listen", c.listen, !c.security.tls_cert_file.empty()));
  if (!c.http.listen.empty()) {
    // HTTPS with the gRPC listener's certificate (http_server.h, "TLS"): the same rule.
    DESFIRED_RETURN_IF_ERROR(
        CheckListen(c, "http_listen", c.http.listen, !c.security.tls_cert_file.empty()));
    if (c.http.tap_chunk_records == 0 || c.http.threads == 0 ||
        c.http.request_timeout <= absl::ZeroDuration() ||
        c.http.heartbeat <= absl::ZeroDuration() || c.http.session_ttl <= absl::ZeroDuration()) {
      return ConfigError("http",
                         "tap_chunk_records, threads, request_timeout, heartbeat and "
                         "session_ttl must be positive");
    }
  }
  if (c.queue_limit == 0) return ConfigError("queue_limit", "must be at least 1");
  if (c.default_deadline <= absl::ZeroDuration()) {
    return ConfigError("default_deadline", "must be positive");
  }
  if (c.watch_queue == 0 || c.watch_history < c.watch_queue) {
    return ConfigError("watch_history", "must be at least watch_queue, which must be positive");
  }
  if (c.watch_write_timeout <= absl::ZeroDuration()) {
    return ConfigError("watch_write_timeout", "must be positive");
  }
  if (c.max_health_watchers == 0) return ConfigError("max_health_watchers", "at least 1");
  DESFIRED_RETURN_IF_ERROR(CheckTransportLimits(c.transport));
  if (c.max_message_bytes < 1024) return ConfigError("max_message_bytes", "at least 1024");
  DESFIRED_RETURN_IF_ERROR(CheckTapLimits(c));
  if (c.max_write_bytes == 0 || c.max_write_bytes > cardops::kMaxWriteBytes) {
    return ConfigError("max_write_bytes", absl::StrCat("must be 1..", cardops::kMaxWriteBytes));
  }
  return absl::OkStatus();
}

// The data directory exists, is a directory, and only its owner may write to it.
absl::Status CheckDataDir(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return ConfigError("data_dir", absl::StrCat("'", dir, "': ", std::strerror(errno)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return ConfigError("data_dir", absl::StrCat("'", dir, "' is not a directory"));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return ConfigError("data_dir", absl::StrCat("'", dir,
                                                "' is writable by group or others; the audit "
                                                "ledger needs a private directory (chmod 700)"));
  }
  return absl::OkStatus();
}

using MonitorKind = pcsc::ReaderEvent::Kind;
constexpr EnumRow<MonitorKind, CardEventKind> kMonitorKinds[] = {
    {MonitorKind::kReaderAdded, CardEventKind::kReaderAdded},
    {MonitorKind::kReaderRemoved, CardEventKind::kReaderRemoved},
    {MonitorKind::kCardInserted, CardEventKind::kCardInserted},
    {MonitorKind::kCardRemoved, CardEventKind::kCardRemoved},
    {MonitorKind::kCardUpdated, CardEventKind::kCardUpdated},
    {MonitorKind::kServiceLost, CardEventKind::kPcscUnavailable},
    {MonitorKind::kServiceRestored, CardEventKind::kPcscAvailable},
};

// The keys of config originality_keys_file (none when it is empty).
absl::StatusOr<std::shared_ptr<const std::vector<desfire::OriginalityKey>>> LoadOriginalityKeys(
    const std::string& path) {
  auto keys = std::make_shared<std::vector<desfire::OriginalityKey>>();
  if (path.empty()) return keys;
  absl::StatusOr<std::string> text =
      ReadSmallFile(path, {.what = "originality keys file", .private_only = false});
  if (!text.ok()) return ConfigError("originality_keys_file", text.status().message());
  absl::StatusOr<std::vector<desfire::OriginalityKey>> parsed =
      desfire::ParseOriginalityKeys(*text);
  if (!parsed.ok()) return ConfigError("originality_keys_file", parsed.status().message());
  *keys = *std::move(parsed);
  return keys;
}

CardEventKind FromMonitor(MonitorKind kind) {
  return ValueOf(kMonitorKinds, kind).value_or(CardEventKind::kReaderAdded);
}

// The listener of config `c`: its gauge and refusals go to the metrics, refusals to the log
// too (the first, then at most one a minute).
Listener::Options ListenerOptions(const ServerConfig& c, Observability& obs) {
  return Listener::Options{
      .listen = c.listen,
      .max_connections = c.transport.max_connections,
      .max_connections_per_address = c.transport.max_connections_per_address,
      .on_open = [&obs](size_t open) { obs.metrics().ConnectionsOpen(open); },
      .on_refused =
          [&obs, last = absl::InfinitePast(),
           since = uint64_t{0}](absl::string_view limit) mutable {
            obs.metrics().ConnectionRefused(limit);
            ++since;
            if (absl::Now() - last < absl::Minutes(1)) return;
            obs.logger().Warn(
                "connections refused: too many open (docs/server.md, \"Connections and streams\")",
                log::Fields().Str("limit", limit).Int("refused", static_cast<int64_t>(since)));
            last = absl::Now();
            since = 0;
          }};
}

}  // namespace

absl::StatusOr<std::unique_ptr<DesfiredServer>> DesfiredServer::Start(ServerConfig config) {
  DESFIRED_RETURN_IF_ERROR(CheckConfig(config));
  std::unique_ptr<DesfiredServer> s(new DesfiredServer());
  s->config_ = std::move(config);
  const ServerConfig& c = s->config_;
  DESFIRED_ASSIGN_OR_RETURN(
      s->obs_, Observability::Create({.metrics_listen = c.metrics_listen, .logger = c.logger}));
  Observability* obs = s->obs_.get();

  // The PC/SC backend, chosen before libpcsclite reads it.
  if (!c.pcsc_socket.empty()) ::setenv("PCSCLITE_CSOCK_NAME", c.pcsc_socket.c_str(), 1);

  s->keys_ = std::make_unique<KeyRing>(c.keys_file);
  if (absl::Status loaded = s->keys_->Load(); !loaded.ok()) {
    return absl::Status(loaded.code(), absl::StrCat("config keys_file: ", loaded.message()));
  }
  for (std::string& warning : UnscopedKeyWarnings(*s->keys_->Current())) {
    s->warnings_.push_back(std::move(warning));
  }
  if (!c.data_dir.empty()) {
    DESFIRED_RETURN_IF_ERROR(CheckDataDir(c.data_dir));
    absl::StatusOr<std::unique_ptr<ledger::Ledger>> ledger =
        ledger::Ledger::Open(absl::StrCat(c.data_dir, "/ledger.sqlite"),
                             ledger::Ledger::Options{.recover_reason = c.ledger_recover});
    if (!ledger.ok()) {
      return absl::Status(ledger.status().code(),
                          absl::StrCat("config data_dir: ", ledger.status().message()));
    }
    s->recorder_ = std::make_unique<ChangeRecorder>(
        *std::move(ledger),
        ChangeRecorder::Options{.on_write =
                                    [obs](absl::string_view event) {
                                      if (event == "ERROR") {
                                        obs->metrics().LedgerError();
                                      } else {
                                        obs->metrics().LedgerWrite(event);
                                      }
                                    },
                                .crash_after_commit = c.testing_crash_after_commit,
                                .crash_before_commit = c.testing_crash_before_commit,
                                .crash_after_done = c.testing_crash_after_done});
    absl::StatusOr<size_t> unsettled = s->recorder_->Recover();
    if (!unsettled.ok()) {
      return absl::Status(unsettled.status().code(),
                          absl::StrCat("config data_dir: ", unsettled.status().message()));
    }
    s->unsettled_at_start_ = *unsettled;
    if (!c.ledger_recover.empty()) {
      s->warnings_.push_back(
          "the audit ledger was recovered (--ledger_recover): a RECOVERED row records the reason "
          "and what was found; start without --ledger_recover from now on");
    }
  } else if (!c.ledger_recover.empty()) {
    return ConfigError("ledger_recover", "there is no ledger without a data_dir");
  }

  // TLS and callers; the authorizer goes in front of the configured hooks.
  absl::StatusOr<Security> security = LoadSecurity(c.security);
  if (!security.ok()) return security.status();
  // Metrics and logs see every call, the refused ones too.
  const ServerHooks hooks =
      MakeObservabilityHooks(*obs, WithAuthorizer(security->authorizer, c.hooks));
  if (!security->tls && !IsLoopback(c.listen)) {
    s->warnings_.push_back(absl::StrCat("listening on ", c.listen,
                                        " without TLS; anyone who can reach it can use the "
                                        "cards"));
    if (!security->authorizer->options().callers.open()) {
      s->warnings_.push_back("bearer tokens travel in plain text without TLS");
    }
  }

  s->hub_ = std::make_unique<EventHub>(EventHubOptions{
      .history_size = c.watch_history,
      .max_queue = c.watch_queue,
      // Sequences of an earlier run then look old (HISTORY_EXPIRED), never current.
      .first_sequence = static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())),
  });
  EventHub* hub = s->hub_.get();
  if (!c.nats.url.empty()) {  // subscribed before the monitor publishes its first event
    nats::NatsPublisherOptions nats = c.nats;
    if (nats.buffer_dir.empty() && !c.data_dir.empty()) nats.buffer_dir = c.data_dir + "/nats";
    absl::StatusOr<std::unique_ptr<nats::NatsPublisher>> publisher =
        nats::NatsPublisher::Start(*hub, std::move(nats), &obs->metrics(), &obs->logger());
    if (!publisher.ok()) return publisher.status();
    s->nats_ = *std::move(publisher);
  }
  tap::TapPipelineConfig taps;
  absl::StatusOr<std::shared_ptr<const std::vector<desfire::OriginalityKey>>> originality =
      LoadOriginalityKeys(c.originality_keys_file);
  if (!originality.ok()) return originality.status();
  s->readers_ = std::make_unique<ReaderRegistry>(
      *hub, ReaderRegistry::Options{.worker = {.max_queued = c.queue_limit},
                                    .session = {.keys = s->keys_.get(),
                                                .taps = taps,
                                                .on_apdu = obs->ApduObserver(),
                                                .originality_keys = *std::move(originality)},
                                    .default_deadline = c.default_deadline,
                                    .max_write_bytes = c.max_write_bytes});
  ReaderRegistry* readers = s->readers_.get();
  DesfiredServer* raw = s.get();
  absl::StatusOr<std::unique_ptr<pcsc::ReaderMonitor>> monitor =
      pcsc::ReaderMonitor::Start([hub, readers, raw, obs](const pcsc::ReaderEvent& e) {
        // Release the reader for the UID read of the next card. Queued before the removal is
        // published: a job submitted by a caller who saw it (ListReaders, WatchCards) runs after
        // the release, and finds no card rather than the removed card's connection.
        if (e.kind == pcsc::ReaderEvent::Kind::kCardRemoved) readers->CardLeft(e.reader);
        obs->OnCardEvent(FromMonitor(e.kind), e.reader);
        hub->Publish(CardEvent{.kind = FromMonitor(e.kind),
                               .reader = e.reader,
                               .uid = e.uid,
                               .atr = e.atr,
                               .time = e.time,
                               .uid_unknown_reason = e.uid_unknown_reason});
        const bool uid_seen = e.kind == pcsc::ReaderEvent::Kind::kCardInserted ||
                              e.kind == pcsc::ReaderEvent::Kind::kCardUpdated;
        if (uid_seen && raw->ready_.load()) {
          raw->SettleOnContact(e.reader, e.uid);
        }
      });
  if (!monitor.ok()) return monitor.status();
  s->monitor_ = *std::move(monitor);
  s->card_service_ = std::make_unique<CardServiceImpl>(
      *s->readers_, *hub, hooks, s->recorder_.get(), c.watch_write_timeout, c.watch_threads);
  s->tap_budget_ = std::make_unique<CallBudget>(
      CallBudget::Options{.max_calls = c.max_tap_calls,
                          .max_calls_per_caller = c.max_tap_calls_per_caller,
                          .max_bytes = c.max_tap_inflight_bytes,
                          .max_bytes_per_caller = c.max_tap_inflight_bytes_per_caller});
  tap::TapPipelineConfig tap_service_pipeline = taps;
  if (c.sun_counters) s->sun_counters_ = std::make_unique<tap::SunCounterStore>();
  tap_service_pipeline.reconciler.dedup_capacity = c.max_stream_dedup_entries;
  if (!c.tap_dedup_conn_file.empty()) {
    DESFIRED_ASSIGN_OR_RETURN(std::string conninfo,
                              ledger::ReadConnInfoFile(c.tap_dedup_conn_file));
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
    std::string warning;
    DESFIRED_ASSIGN_OR_RETURN(s->central_dedup_,
                              CentralTapDedup::Start({.conninfo = std::move(conninfo),
                                                      .claimed_by = host,
                                                      .connections = c.tap_dedup_connections},
                                                     &warning));
    if (!warning.empty()) s->warnings_.push_back(std::move(warning));
  }
  s->tap_service_ = std::make_unique<TapServiceImpl>(
      TapServiceImpl::Options{.pipeline = tap_service_pipeline,
                              .keys = s->keys_.get(),
                              .max_batch = c.max_tap_batch,
                              .budget = s->tap_budget_.get(),
                              .sun_counters = s->sun_counters_.get(),
                              .central_dedup = s->central_dedup_.get()},
      hooks);
  obs->metrics().SetWatchersSource([raw] { return raw->watchers(); });
  obs->metrics().SetReadersSource([hub] {
    std::shared_ptr<const CardSnapshot> now = hub->Snapshot();
    return now->pcsc_available ? now->readers.size() : 0;  // no reader without pcscd
  });

  s->health_service_ = std::make_unique<HealthServiceImpl>(
      HealthServiceImpl::Options{.max_watchers = c.max_health_watchers});
  s->SetHealth(s->monitor_->service_available());  // answered from the first call on
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  // desfired accepts the connections itself, to bound how many are open (listener.h).
  DESFIRED_ASSIGN_OR_RETURN(s->listener_, Listener::Bind(ListenerOptions(c, *obs)));
  s->port_ = s->listener_->port();
  grpc::ServerBuilder builder;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor =
      builder.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
          security->credentials);
  ApplyTransportLimits(c.transport, builder);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> intercept;
  intercept.push_back(std::make_unique<MalformedRequestInterceptors>(*obs));
  builder.experimental().SetInterceptorCreators(std::move(intercept));
  builder.SetMaxReceiveMessageSize(c.max_message_bytes);
  builder.SetMaxSendMessageSize(c.max_message_bytes);
  builder.RegisterService(s->card_service_.get());
  builder.RegisterService(s->tap_service_.get());
  builder.RegisterService(s->health_service_.get());
  s->reflection_v1_ = std::make_unique<ReflectionV1Service>();
  builder.RegisterService(s->reflection_v1_.get());
  s->server_ = builder.BuildAndStart();
  if (!s->server_) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", c.listen, ": the gRPC server did not start"));
  }
  s->reflection_v1_->SetChannel(s->server_->InProcessChannel(grpc::ChannelArguments()));
  s->listener_->Start(std::move(acceptor));
  if (!c.http.listen.empty()) {
    http::HttpOptions http = c.http;
    http.tap_chunk_records = std::min(http.tap_chunk_records, c.max_tap_batch);
    http.write_timeout = c.watch_write_timeout;
    http.tls_cert_file = c.security.tls_cert_file;
    http.tls_key_file = c.security.tls_key_file;
    http.tls_client_ca_file = c.security.tls_client_ca_file;
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    DESFIRED_ASSIGN_OR_RETURN(
        s->http_, http::HttpServer::Start(
                      std::move(http), {.authorizer = security->authorizer,
                                        .channel = s->server_->InProcessChannel(args),
                                        .ledger = s->recorder_ ? &s->recorder_->ledger() : nullptr,
                                        .logger = &obs->logger(),
                                        .metrics = &obs->metrics()}));
  }
  s->health_thread_ = std::thread([raw] { raw->WatchHealth(); });
  if (s->recorder_ && c.ledger_verify_interval > absl::ZeroDuration()) {
    s->ledger_verify_thread_ = std::thread([raw] { raw->VerifyLedgerPeriodically(); });
  }
  obs->logger().Info("listening", log::Fields()
                                      .Str("listen", c.listen)
                                      .Int("port", s->port_)
                                      .Int("metrics_port", obs->metrics().port())
                                      .Int("http_port", s->http_port())
                                      .Str("pcsc_socket", c.pcsc_socket)
                                      .Str("keys_file", c.keys_file)
                                      .Str("data_dir", c.data_dir));
  // Changes left unsettled by an earlier run: settled when their card is seen — now, for the
  // cards already on a reader, and at every insertion from here on.
  s->ready_.store(true);
  std::shared_ptr<const CardSnapshot> present = hub->Snapshot();
  for (const ReaderState& r : present->readers) {
    if (r.card.has_value()) s->SettleOnContact(r.reader, r.card->uid);
  }
  return s;
}

void DesfiredServer::SettleOnContact(const std::string& reader, const Bytes& uid, int attempt) {
  if (!recorder_ || stopping_.load() || !recorder_->HasUnsettled(uid)) return;
  absl::StatusOr<ReaderWorker<CardSession>*> worker = readers_->Worker(reader);
  if (!worker.ok()) return;
  ChangeRecorder* recorder = recorder_.get();
  const std::string hex = HexEncode(uid);
  (void)(*worker)->Submit({
      .deadline = absl::Now() + config_.default_deadline,
      .is_cancelled = nullptr,
      .body = [recorder, uid, hex, attempt, reader,
               logger = &obs_->logger()](JobContext<CardSession>& job) -> absl::Status {
        // Right after an insertion the first exchange may fail (the card is still settling in
        // the field): later attempts wait a little first.
        if (attempt > 0) absl::SleepFor(absl::Milliseconds(250) * attempt);
        DESFIRED_ASSIGN_OR_RETURN(cardops::CardContext * card, job.resource().Begin(job, uid));
        if (HexEncode(card->uid) != hex) return absl::OkStatus();  // another card by now
        DESFIRED_ASSIGN_OR_RETURN(size_t settled, recorder->SettleCard(*card));
        logger->Info(
            "unsettled card changes settled (docs/ledger.md)",
            log::Fields().Str("reader", reader).Int("settled", static_cast<int64_t>(settled)));
        return absl::OkStatus();
      },
      .done =
          [this, reader, uid, hex, attempt](absl::Status s) {
            if (s.ok()) return;
            const std::optional<std::string> reason = apdu::GetReason(s);
            if (attempt < 3 && (reason == std::string(apdu::kReasonCardRemoved) ||
                                reason == std::string(pcsc::kReasonNoCard))) {
              SettleOnContact(reader, uid, attempt + 1);  // the card may still be there
              return;
            }
            obs_->logger().Warn(
                "could not settle a card's unfinished changes yet; they wait for its next contact",
                log::Fields().Str("reader", reader).Str("reason", ReasonOf(s)));
          },
  });
}

absl::Status DesfiredServer::ReloadKeys() {
  DESFIRED_RETURN_IF_ERROR(keys_->Load());
  for (const std::string& warning : UnscopedKeyWarnings(*keys_->Current())) {
    obs_->logger().Warn(warning);
  }
  return absl::OkStatus();
}

absl::Status DesfiredServer::ReloadTls() { return http_ ? http_->ReloadTls() : absl::OkStatus(); }

void DesfiredServer::SetHealth(bool pcsc_available) {
  health_service_->SetServingStatus("", pcsc_available);
  health_service_->SetServingStatus("desfired.v1.CardService", pcsc_available);
  health_service_->SetServingStatus("desfired.v1.TapService", true);
}

void DesfiredServer::WatchHealth() {
  bool last = false;
  bool first = true;
  do {
    const bool serving = monitor_->service_available();
    if (first || serving != last) {
      obs_->OnPcscAvailable(serving);
      SetHealth(serving);
      last = serving;
      first = false;
    }
  } while (!stop_health_.WaitForNotificationWithTimeout(absl::Milliseconds(200)));
}

void DesfiredServer::VerifyLedgerPeriodically() {
  bool reported = false;
  while (!stop_health_.WaitForNotificationWithTimeout(config_.ledger_verify_interval)) {
    ledger::VerifyResult v = recorder_->ledger().Verify(ledger::kDefaultVerifyRows);
    if (v.ok) continue;
    if (v.read_error) {
      obs_->logger().Warn("could not verify the audit ledger; tried again later",
                          log::Fields().Str("problem", v.problem));
      continue;
    }
    obs_->metrics().LedgerVerifyFailed();
    if (!reported) {
      obs_->logger().Error(
          "the audit ledger failed verification: card changes are refused until desfired is "
          "restarted (docs/ledger.md, \"Start-up checks and recovery\")",
          log::Fields().Int("bad_seq", v.bad_seq).Str("problem", v.problem));
      reported = true;
    }
  }
}

void DesfiredServer::Shutdown(absl::Duration grace) {
  if (stopping_.exchange(true)) {
    stopped_.WaitForNotification();
    return;
  }
  const bool started = health_thread_.joinable();
  if (started) obs_->logger().Info("shutting down", log::Fields().Int("port", port_));
  stop_health_.Notify();
  if (health_thread_.joinable()) health_thread_.join();
  if (ledger_verify_thread_.joinable()) ledger_verify_thread_.join();
  if (health_service_) health_service_->Shutdown();  // NOT_SERVING, final
  if (hub_) hub_->Close();                           // WatchCards streams end
  if (http_) http_->Stop();  // its event streams end with them; its calls finish
  const absl::Time deadline = absl::Now() + grace;
  if (readers_) readers_->Shutdown(grace);
  if (listener_) listener_->Stop();  // no new connections; the server still owns its own
  if (server_) server_->Shutdown(absl::ToChronoTime(deadline));
  if (monitor_) monitor_->Stop();
  if (nats_) nats_->Stop();  // what is not acknowledged yet stays in its buffer
  if (started) obs_->logger().Info("stopped", log::Fields().Int("port", port_));
  stopped_.Notify();
}

void DesfiredServer::Wait() { stopped_.WaitForNotification(); }

DesfiredServer::~DesfiredServer() {
  if (obs_) obs_->metrics().ClearSources();  // they read members about to go
  Shutdown(absl::ZeroDuration());
  if (server_) server_->Wait();
}

}  // namespace desfired::server
