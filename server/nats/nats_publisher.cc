#include "server/nats/nats_publisher.h"

#include <nats/nats.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/util/private_file.h"
#include "proto/convert/proto_json.h"
#include "server/nats/subjects.h"
#include "server/observability/log.h"
#include "server/observability/metrics.h"
#include "server/rpc/watch_items.h"

namespace desfired::server::nats {
namespace {

constexpr absl::Duration kFrontWait = absl::Milliseconds(200);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

std::string NatsError(absl::string_view what, natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return absl::StrCat(what, ": ", natsStatus_GetText(s),
                      last != nullptr && *last != '\0' ? absl::StrCat(" (", last, ")") : "");
}

absl::Status CheckPrivate(const std::string& path, absl::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("cannot open ", what, " ", path, ": ", std::strerror(errno)));
  }
  return CheckPrivateMode(st.st_mode, what, path);
}

}  // namespace

// The libnats connection and its JetStream context.
class NatsPublisher::Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const NatsPublisherOptions& o) {
    auto c = std::unique_ptr<Connection>(new Connection());
    auto check = [](natsStatus s, absl::string_view what) {
      return s == NATS_OK
                 ? absl::OkStatus()
                 : absl::InvalidArgumentError(NatsError(absl::StrCat("--nats: ", what), s));
    };
    if (natsStatus s = natsOptions_Create(&c->opts_); s != NATS_OK) {
      return absl::InternalError(NatsError("libnats", s));
    }
    natsOptions* opts = c->opts_;
    absl::Status st = check(natsOptions_SetURL(opts, o.url.c_str()), "the URL");
    if (st.ok())
      st = check(natsOptions_SetName(opts, absl::StrCat("desfired ", o.instance).c_str()), "name");
    if (st.ok()) st = check(natsOptions_SetMaxReconnect(opts, -1), "reconnect");
    if (st.ok()) st = check(natsOptions_SetReconnectWait(opts, 500), "reconnect wait");
    if (st.ok()) st = check(natsOptions_SetPingInterval(opts, 5000), "ping interval");
    if (st.ok()) st = check(natsOptions_SetMaxPingsOut(opts, 3), "pings out");
    if (st.ok()) {
      // With a callback the first connect goes on in the background (without one libnats
      // retries inside natsConnection_Connect, which would block the start while NATS is away).
      st = check(natsOptions_SetRetryOnFailedConnect(
                     opts, true, [](natsConnection*, void*) {}, nullptr),
                 "retry");
    }
    if (st.ok() && !o.creds_file.empty()) {
      st = check(natsOptions_SetUserCredentialsFromFiles(opts, o.creds_file.c_str(), nullptr),
                 "--nats_creds");
    }
    const bool tls = !o.tls_ca_file.empty() || !o.tls_cert_file.empty();
    if (st.ok() && tls) st = check(natsOptions_SetSecure(opts, true), "TLS");
    if (st.ok() && !o.tls_ca_file.empty()) {
      st = check(natsOptions_LoadCATrustedCertificates(opts, o.tls_ca_file.c_str()),
                 "--nats_tls_ca");
    }
    if (st.ok() && !o.tls_cert_file.empty()) {
      st = check(
          natsOptions_LoadCertificatesChain(opts, o.tls_cert_file.c_str(), o.tls_key_file.c_str()),
          "--nats_tls_cert / --nats_tls_key");
    }
    if (!st.ok()) return st;
    const natsStatus s = natsConnection_Connect(&c->nc_, opts);
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
      return absl::UnavailableError(NatsError("--nats: cannot connect", s));
    }
    if (natsStatus js = natsConnection_JetStream(&c->js_, c->nc_, nullptr); js != NATS_OK) {
      return absl::InternalError(NatsError("libnats JetStream", js));
    }
    return c;
  }

  ~Connection() {
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (nc_ != nullptr) natsConnection_Destroy(nc_);
    if (opts_ != nullptr) natsOptions_Destroy(opts_);
  }

  bool connected() const { return natsConnection_Status(nc_) == NATS_CONN_STATUS_CONNECTED; }
  void Close() { natsConnection_Close(nc_); }
  jsCtx* js() const { return js_; }

 private:
  Connection() = default;
  natsOptions* opts_ = nullptr;
  natsConnection* nc_ = nullptr;
  jsCtx* js_ = nullptr;
};

NatsPublisher::NatsPublisher(EventHub& hub, NatsPublisherOptions options, Metrics* metrics,
                             log::Logger* logger)
    : hub_(hub), options_(std::move(options)), metrics_(metrics), logger_(logger) {}

absl::StatusOr<std::unique_ptr<NatsPublisher>> NatsPublisher::Start(EventHub& hub,
                                                                    NatsPublisherOptions options,
                                                                    Metrics* metrics,
                                                                    log::Logger* logger) {
  if (absl::Status s = CheckInstance(options.instance); !s.ok()) return s;
  for (absl::string_view url : absl::StrSplit(options.url, ',')) {
    if (absl::StrContains(url, '@')) {
      return absl::InvalidArgumentError(
          "--nats: the URL holds a user or token (before '@'), which every user of the machine "
          "can read on the command line; put the credentials in a file (--nats_creds)");
    }
  }
  if (options.buffer_dir.empty()) {
    return absl::InvalidArgumentError("--nats_buffer_dir: required with --nats");
  }
  if (!options.creds_file.empty()) {
    if (absl::Status s = CheckPrivate(options.creds_file, "NATS credentials file"); !s.ok()) {
      return s;
    }
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("--nats_tls_cert and --nats_tls_key go together");
  }
  if (!options.tls_key_file.empty()) {
    if (absl::Status s = CheckPrivate(options.tls_key_file, "NATS TLS key"); !s.ok()) return s;
  }
  std::unique_ptr<NatsPublisher> p(new NatsPublisher(hub, std::move(options), metrics, logger));
  absl::StatusOr<std::unique_ptr<EventSpool>> spool =
      EventSpool::Open({.dir = p->options_.buffer_dir, .max_bytes = p->options_.buffer_bytes});
  if (!spool.ok()) return spool.status();
  p->spool_ = *std::move(spool);
  absl::StatusOr<uint64_t> boot = p->spool_->NextBoot();
  if (!boot.ok()) return boot.status();
  p->boot_ = *boot;
  absl::StatusOr<std::unique_ptr<Connection>> connection = Connection::Open(p->options_);
  if (!connection.ok()) return connection.status();
  p->connection_ = *std::move(connection);
  absl::StatusOr<std::unique_ptr<Subscription>> sub = hub.Subscribe();
  if (!sub.ok()) return sub.status();
  p->subscription_ = *std::move(sub);
  if (metrics != nullptr) metrics->NatsEnabled();
  if (p->spool_->events() > 0) {
    p->Log(false, "NATS: events of an earlier run wait in the buffer",
           absl::StrCat(p->spool_->events(), " events"));
  }
  p->reader_ = std::thread([raw = p.get()] { raw->ReadHub(); });
  p->sender_ = std::thread([raw = p.get()] { raw->Send(); });
  return p;
}

NatsPublisher::~NatsPublisher() { Stop(); }

void NatsPublisher::Stop() {
  if (stopping_.exchange(true)) return;
  if (spool_ != nullptr) spool_->Wake();
  if (reader_.joinable()) reader_.join();
  if (sender_.joinable()) sender_.join();
  subscription_.reset();
  if (connection_) connection_->Close();
  UpdateGauges();
}

NatsPublisherStats NatsPublisher::stats() const {
  NatsPublisherStats s;
  s.published = published_.load();
  s.duplicates = duplicates_.load();
  s.dropped_buffer_full = dropped_full_.load();
  s.dropped_overrun = dropped_overrun_.load();
  s.dropped_rejected = dropped_rejected_.load();
  if (spool_ != nullptr) {
    s.buffered_bytes = spool_->bytes();
    s.buffered_events = spool_->events();
  }
  s.connected = !stopping_.load() && connection_ != nullptr && connection_->connected();
  s.boot = boot_;
  return s;
}

void NatsPublisher::Log(bool warn, absl::string_view msg, absl::string_view detail) const {
  if (logger_ == nullptr) return;
  log::Fields fields;
  fields.Str("instance", options_.instance);
  if (!detail.empty()) fields.Str("detail", detail);
  if (warn) {
    logger_->Warn(msg, fields);
  } else {
    logger_->Info(msg, fields);
  }
}

void NatsPublisher::UpdateGauges() const {
  if (metrics_ == nullptr) return;
  const NatsPublisherStats s = stats();
  metrics_->NatsBuffer(s.buffered_bytes, s.buffered_events);
  metrics_->NatsConnected(s.connected);
}

// ---------------------------------------------------------------------------------------
// The hub reader: every event, converted, into the spool.

void NatsPublisher::ReadHub() {
  uint64_t last = 0;  // the last sequence taken from the hub
  bool full = false;  // the spool refused the last event
  while (!stopping_.load()) {
    absl::StatusOr<WatchItem> item = subscription_->Next(kFrontWait);
    if (!item.ok()) {
      if (absl::IsDeadlineExceeded(item.status())) continue;
      if (absl::IsUnavailable(item.status())) return;  // the hub was closed: shutting down
      // Cut off (SLOW_CONSUMER): resume after the last event taken, or start over (a snapshot,
      // whose sequence tells how many events were lost) when they left the history.
      absl::StatusOr<std::unique_ptr<Subscription>> sub = hub_.Subscribe(last);
      if (!sub.ok()) sub = hub_.Subscribe();
      if (!sub.ok()) return;
      subscription_ = *std::move(sub);
      continue;
    }
    if (item->is_snapshot()) {
      const uint64_t at = item->snapshot->sequence;
      if (last != 0 && at > last) {
        dropped_overrun_ += at - last;
        if (metrics_ != nullptr) metrics_->NatsDropped("overrun", at - last);
        Log(true, "NATS: events lost: the publisher fell behind the event hub's history",
            absl::StrCat(at - last, " events after sequence ", last));
      }
      last = at;
      continue;
    }
    const CardEvent& e = *item->event;
    last = e.sequence;
    v1::WatchCardsResponse out;
    EventToProto(e, &out);
    if (!options_.include_uids && out.has_event()) out.mutable_event()->clear_uid();
    const absl::Status s =
        spool_->Append({.msg_id = MessageIdOf(options_.instance, boot_, e.sequence),
                        .subject = SubjectOf(options_.instance, e.reader, e.kind),
                        .payload = ProtoJson(out)});
    if (s.ok()) {
      full = false;
      continue;
    }
    const bool buffer_full = absl::IsResourceExhausted(s);
    (buffer_full ? dropped_full_ : dropped_rejected_) += 1;
    if (metrics_ != nullptr) metrics_->NatsDropped(buffer_full ? "buffer_full" : "disk_error", 1);
    if (!full || !buffer_full) {
      Log(true, "NATS: an event was dropped (the newest is dropped while the buffer is full)",
          absl::StrCat(s.message(), "; sequence ", e.sequence));
    }
    full = buffer_full;
  }
}

// ---------------------------------------------------------------------------------------
// The sender: the spool's front to JetStream, one acknowledged message at a time.

void NatsPublisher::Send() {
  absl::Duration backoff = absl::ZeroDuration();
  std::string last_error;  // logged once per kind of failure in a row
  bool stream_checked = false;
  auto fail = [&](const std::string& error) {
    if (error != last_error) Log(true, "NATS: publishing waits", error);
    last_error = error;
    backoff = std::min(kMaxBackoff, std::max(absl::Milliseconds(50), backoff * 2));
    const absl::Time until = absl::Now() + backoff;
    while (!stopping_.load() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(20));
  };
  while (!stopping_.load()) {
    UpdateGauges();
    absl::StatusOr<std::optional<SpooledEvent>> front = spool_->Front(kFrontWait);
    if (!front.ok()) {
      fail(std::string(front.status().message()));
      continue;
    }
    if (!front->has_value()) continue;
    if (!connection_->connected()) {
      fail("not connected to NATS (reconnecting)");
      continue;
    }
    if (options_.create_stream && !stream_checked) stream_checked = EnsureStream();
    const SpooledEvent& e = **front;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = e.msg_id.c_str();
    po.MaxWait = absl::ToInt64Milliseconds(options_.ack_timeout);
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const natsStatus s = js_Publish(&ack, connection_->js(), e.subject.c_str(), e.payload.data(),
                                    static_cast<int>(e.payload.size()), &po, &code);
    if (s == NATS_OK) {
      const bool duplicate = ack != nullptr && ack->Duplicate;
      jsPubAck_Destroy(ack);
      (void)spool_->PopFront();
      ++published_;
      if (duplicate) ++duplicates_;
      if (metrics_ != nullptr) metrics_->NatsPublished();
      if (!last_error.empty()) Log(false, "NATS: publishing again", "");
      last_error.clear();
      backoff = absl::ZeroDuration();
      continue;
    }
    if (s == NATS_MAX_PAYLOAD) {  // never fits: dropped, or it would hold every later event up
      (void)spool_->PopFront();
      ++dropped_rejected_;
      if (metrics_ != nullptr) metrics_->NatsDropped("rejected", 1);
      Log(true, "NATS: an event larger than the server's max_payload was dropped", e.msg_id);
      continue;
    }
    if (s == NATS_NO_RESPONDERS) {
      stream_checked = false;
      fail(absl::StrCat("no JetStream stream takes ", e.subject,
                        options_.create_stream
                            ? ""
                            : " (create the stream: docs/fleet.md, or --nats_create_stream)"));
      continue;
    }
    fail(NatsError(
        absl::StrCat("publish of ", e.msg_id, " (JetStream error ", static_cast<int>(code), ")"),
        s));
  }
}

bool NatsPublisher::EnsureStream() {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  natsStatus s =
      js_GetStreamInfo(&info, connection_->js(), options_.stream.c_str(), nullptr, &code);
  if (s == NATS_OK) {
    jsStreamInfo_Destroy(info);
    return true;
  }
  if (s != NATS_NOT_FOUND && code != JSStreamNotFoundErr) return false;
  jsStreamConfig config;
  jsStreamConfig_Init(&config);
  const std::string subjects = absl::StrCat(kSubjectRoot, ".>");
  const char* subject_list[] = {subjects.c_str()};
  config.Name = options_.stream.c_str();
  config.Subjects = subject_list;
  config.SubjectsLen = 1;
  config.Storage = js_FileStorage;
  s = js_AddStream(&info, connection_->js(), &config, nullptr, &code);
  if (s != NATS_OK) {
    Log(true, "NATS: cannot create the stream",
        NatsError(absl::StrCat(options_.stream, " (JetStream error ", static_cast<int>(code), ")"),
                  s));
    return false;
  }
  jsStreamInfo_Destroy(info);
  Log(false, "NATS: created the stream", options_.stream);
  return true;
}

}  // namespace desfired::server::nats
