#include "server/rpc/card_service.h"

#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/pcsc/pcsc.h"
#include "core/util/echo.h"
#include "core/util/status_macros.h"
#include "proto/convert/status_convert.h"
#include "server/readers/reasons.h"
#include "server/rpc/card_ops.h"
#include "server/rpc/card_validation.h"
#include "server/rpc/change_events.h"
#include "server/rpc/presented_keys.h"
#include "server/rpc/request_limits.h"
#include "server/rpc/watch_items.h"

namespace desfired::server {
namespace {

// The job deadline: the client's, bounded by the server's default when the client gave none.
absl::Time JobDeadline(grpc::CallbackServerContext* context, absl::Duration fallback) {
  const auto deadline = context->deadline();
  const absl::Time now = absl::Now();
  if (deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)) {
    return now + fallback;
  }
  return absl::FromChrono(deadline);
}

std::string Peer(grpc::CallbackServerContext* context) { return context->peer(); }

absl::Status Authorize(const ServerHooks& hooks, grpc::CallbackServerContext* context,
                       absl::string_view method) {
  return hooks.authorize ? hooks.authorize(context, method) : absl::OkStatus();
}

// The server's own limit on the data of one write (--max_write_bytes), below the validation's.
template <typename Request>
absl::Status CheckWriteLimit(const Request& request, size_t max_bytes) {
  if constexpr (requires { request.data(); }) {
    if (request.data().size() > max_bytes) {
      return apdu::InvalidFieldError(
          "data", absl::StrCat("at most ", max_bytes, " bytes per write on this server, got ",
                               request.data().size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Unary card calls.

std::shared_ptr<const keys::KeyStore> CardServiceImpl::CurrentKeys() const {
  const KeyRing* ring = readers_.options().session.keys;
  return ring != nullptr ? ring->Current() : nullptr;
}

void CardServiceImpl::Report(CallInfo& info, grpc::CallbackServerContext* context, absl::Time start,
                             const grpc::Status& status) const {
  if (!hooks_.on_call_done) return;
  info.service = "CardService";
  info.caller = hooks_.caller ? hooks_.caller(context) : Peer(context);
  info.code = status.error_code();
  info.latency = absl::Now() - start;
  info.context = context;
  hooks_.on_call_done(info);
}

void CardServiceImpl::Finish(grpc::ServerUnaryReactor* reactor, CallInfo info,
                             grpc::CallbackServerContext* context, absl::Time start,
                             const absl::Status& status) {
  const grpc::Status grpc_status = ToGrpcStatus(status);
  if (!status.ok()) info.reason = ReasonOf(status);
  Report(info, context, start, grpc_status);
  reactor->Finish(grpc_status);
}

// Requests that change a card carry a request_id (card.proto).
template <typename Request>
constexpr bool kChangesCard = requires(const Request& r) {
  r.request_id();
};

template <typename Request>
ChangeRequest MakeChange(absl::string_view method, std::string caller, const Request& r) {
  ChangeRequest c;
  c.method = std::string(method);
  c.request_id = r.request_id();
  c.caller = std::move(caller);
  c.reader = r.target().reader();
  if constexpr (requires { r.aid(); }) c.aid = r.aid();
  if constexpr (requires { r.file_no(); }) c.file_no = r.file_no();
  if constexpr (requires { r.amount(); }) c.amount = r.amount();
  if constexpr (requires { r.transaction_mac(); }) {
    c.reader_id = HexEncode(AsBytes(r.transaction_mac().reader_id()));
  }
  c.request_hash = RequestHash(method, r);
  c.payload = r.SerializeAsString();
  return c;
}

template <typename Response>
void MarkReplayed(Response& r) {
  if constexpr (requires { r.set_replayed(true); }) {
    r.set_replayed(true);
  } else if constexpr (requires { r.mutable_change(); }) {
    r.mutable_change()->set_replayed(true);
  }
}

namespace {

template <typename Response>
bool Replayed(const Response& r) {
  if constexpr (requires { r.replayed(); }) {
    return r.replayed();
  } else if constexpr (requires { r.change(); }) {
    return r.change().replayed();
  }
  return false;
}

// A successful change that left the card's transaction open (defer_commit), or committed
// nothing (CommitTransaction).
template <typename Response>
bool LeftOpen(const Response& r) {
  if constexpr (requires { r.committed(); }) {
    return !r.committed();
  } else if constexpr (requires { r.change(); }) {
    return !r.change().committed();
  }
  return false;
}

// Who may receive change events: the readers of the ledger. Not a gRPC method; the role of the
// HTTP API's GET /v1/ledger/recent (admin: a method missing from MethodRoles()).
constexpr absl::string_view kLedgerReaders = "LedgerRecent";

}  // namespace

void CardServiceImpl::PublishChange(CallInfo& info, const ChangeAttempt& attempt,
                                    const absl::Status& status, bool left_open,
                                    std::optional<int64_t> amount) {
  const ChangeOutcome outcome = ChangeOutcomeOf(status, info.replayed, left_open);
  info.change_outcome = ChangeOutcomeName(outcome);
  hub_.Publish(CardEvent{.kind = CardEventKind::kChange,
                         .reader = info.reader,
                         .time = absl::Now(),
                         .change = ChangeRecord{.outcome = outcome,
                                                .method = std::string(info.method),
                                                .request_id = info.request_id,
                                                .ledger_seq = attempt.ledger_seq(),
                                                .amount = amount,
                                                .reason = status.ok() ? "" : ReasonOf(status)}});
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* CardServiceImpl::RunCardJob(
    absl::string_view method, grpc::CallbackServerContext* context, const Request* request,
    Response* response, absl::StatusOr<Response> (*op)(cardops::CardContext&, const Request&)) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  CallInfo info;
  info.method = method;
  info.reader = Echo(request->target().reader());  // bounded even before CheckLimits
  absl::Status status = Authorize(hooks_, context, method);
  if (status.ok()) status = CheckLimits(*request);
  if (status.ok()) status = CheckWriteLimit(*request, readers_.options().max_write_bytes);
  if (status.ok()) status = Validate(*request);
  // The key policy: before anything is recorded or queued, and again on the worker with the
  // job's key store.
  KeyCheck key_check;
  std::vector<KeyPresentation> presented;
  if (status.ok() && hooks_.key_check) {
    key_check = hooks_.key_check(context);
    presented = PresentedKeys(*request);
  }
  if (status.ok() && key_check) status = key_check(CurrentKeys().get(), method, presented);

  // A change: recorded in the ledger, and a retry answered from it. Its outcome is counted and
  // published (PublishChange) before the answer goes out, so that a watcher has the event by
  // the time the caller has the answer.
  std::shared_ptr<ChangeAttempt> attempt;
  std::optional<int64_t> amount;
  if constexpr (requires { request->amount(); }) amount = request->amount();
  auto finish = [this, reactor, context, start, response, amount](
                    CallInfo call, const std::shared_ptr<ChangeAttempt>& change,
                    const absl::Status& s) {
    if (change) {
      call.replayed = call.replayed || (s.ok() && Replayed(*response));
      PublishChange(call, *change, s, s.ok() && LeftOpen(*response), amount);
    }
    Finish(reactor, std::move(call), context, start, s);
  };
  if constexpr (kChangesCard<Request>) {
    info.request_id = Echo(request->request_id());
    if (status.ok() && recorder_ != nullptr) {
      std::string caller = hooks_.caller ? hooks_.caller(context) : Peer(context);
      absl::StatusOr<std::unique_ptr<ChangeAttempt>> begun =
          recorder_->Begin(MakeChange(method, std::move(caller), *request));
      if (begun.ok()) {
        attempt = *std::move(begun);
      } else {
        status = begun.status();
      }
      if (attempt && attempt->replay().has_value()) {
        if (!response->ParseFromString(*attempt->replay())) {
          status = absl::DataLossError("the recorded response cannot be read");
        } else {
          MarkReplayed(*response);
          info.replayed = true;
        }
        finish(info, attempt, status);
        return reactor;
      }
    }
  }

  absl::StatusOr<ReaderWorker<CardSession>*> worker =
      status.ok() ? readers_.Worker(request->target().reader()) : status;
  if (!worker.ok()) {
    finish(info, attempt, attempt ? attempt->Refused(worker.status()) : worker.status());
    return reactor;
  }
  status = (*worker)->Submit({
      .deadline = JobDeadline(context, readers_.options().default_deadline),
      .is_cancelled = [context] { return context->IsCancelled(); },
      .body = [request, response, op, attempt, method, key_check,
               presented](JobContext<CardSession>& job) -> absl::Status {
        absl::StatusOr<cardops::CardContext*> card =
            job.resource().Begin(job, AsBytes(request->target().expected_uid()));
        if (!card.ok()) return card.status();
        cardops::CardContext& ctx = **card;
        if (key_check) DESFIRED_RETURN_IF_ERROR(key_check(ctx.keys, method, presented));
        absl::StatusOr<Response> result;
        if (attempt) {
          absl::StatusOr<std::optional<std::string>> earlier = attempt->SettleEarlier(ctx);
          if (!earlier.ok()) return earlier.status();
          if (earlier->has_value()) {
            if (!response->ParseFromString(**earlier)) {
              return absl::DataLossError("the recorded response cannot be read");
            }
            MarkReplayed(*response);
            return absl::OkStatus();
          }
          if constexpr (requires { request->amount(); }) {
            ctx.before_commit = [&attempt, &ctx](const cardops::PendingValue& value) {
              return attempt->Pending(ctx, &value);
            };
          } else {
            if (absl::Status pending = attempt->Pending(ctx, nullptr); !pending.ok()) {
              attempt->Done(&ctx, pending, "");
              return pending;
            }
          }
          result = op(ctx, *request);
          ctx.before_commit = nullptr;
          const v1::ValueChange* change = nullptr;
          if constexpr (requires { result->change(); }) {
            if (result.ok()) change = &result->change();
          }
          attempt->Done(&ctx, result.status(), result.ok() ? result->SerializeAsString() : "",
                        change);
        } else {
          result = op(ctx, *request);
        }
        if (!result.ok()) return result.status();
        *response = *std::move(result);
        return absl::OkStatus();
      },
      .done =
          [finish, info, attempt](absl::Status s) {
            // A job that never reached the change (no card, never ran): NOT_COMMITTED.
            if (attempt) s = attempt->Refused(std::move(s));
            finish(info, attempt, s);
          },
  });
  if (!status.ok()) {
    if (attempt) status = attempt->Refused(std::move(status));
    finish(info, attempt, status);
  }
  return reactor;
}

#define DESFIRED_CARD_RPC_IMPL(Name)                                                            \
  grpc::ServerUnaryReactor* CardServiceImpl::Name(grpc::CallbackServerContext* context,         \
                                                  const v1::Name##Request* request,             \
                                                  v1::Name##Response* response) {               \
    return RunCardJob<v1::Name##Request, v1::Name##Response>(#Name, context, request, response, \
                                                             &server::Name);                    \
  }
DESFIRED_CARD_RPC_IMPL(GetCardInfo)
DESFIRED_CARD_RPC_IMPL(ListApplications)
DESFIRED_CARD_RPC_IMPL(ListFiles)
DESFIRED_CARD_RPC_IMPL(GetFileSettings)
DESFIRED_CARD_RPC_IMPL(ReadData)
DESFIRED_CARD_RPC_IMPL(WriteData)
DESFIRED_CARD_RPC_IMPL(GetValue)
DESFIRED_CARD_RPC_IMPL(Credit)
DESFIRED_CARD_RPC_IMPL(Debit)
DESFIRED_CARD_RPC_IMPL(LimitedCredit)
DESFIRED_CARD_RPC_IMPL(ReadRecords)
DESFIRED_CARD_RPC_IMPL(WriteRecord)
DESFIRED_CARD_RPC_IMPL(ClearRecordFile)
DESFIRED_CARD_RPC_IMPL(ReadTapLog)
DESFIRED_CARD_RPC_IMPL(CommitTransaction)
DESFIRED_CARD_RPC_IMPL(AbortTransaction)
DESFIRED_CARD_RPC_IMPL(FormatCard)
DESFIRED_CARD_RPC_IMPL(CreateApplication)
DESFIRED_CARD_RPC_IMPL(DeleteApplication)
DESFIRED_CARD_RPC_IMPL(CreateFile)
DESFIRED_CARD_RPC_IMPL(DeleteFile)
DESFIRED_CARD_RPC_IMPL(ChangeFileSettings)
DESFIRED_CARD_RPC_IMPL(ChangeKey)
DESFIRED_CARD_RPC_IMPL(ChangeKeySettings)
DESFIRED_CARD_RPC_IMPL(VerifyOriginality)
#undef DESFIRED_CARD_RPC_IMPL

grpc::ServerUnaryReactor* CardServiceImpl::ListReaders(grpc::CallbackServerContext* context,
                                                       const v1::ListReadersRequest*,
                                                       v1::ListReadersResponse* response) {
  const absl::Time start = absl::Now();
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status = Authorize(hooks_, context, "ListReaders");
  if (status.ok()) {
    std::shared_ptr<const CardSnapshot> snapshot = hub_.Snapshot();
    if (!snapshot->pcsc_available) {
      status = apdu::WithReason(
          absl::UnavailableError("pcscd cannot be reached; the server reconnects by itself: "
                                 "retry with back-off (WatchCards reports PCSC_AVAILABLE)"),
          pcsc::kReasonPcscUnavailable);
    } else {
      for (const ReaderState& r : snapshot->readers) ToProto(r, response->add_readers());
    }
  }
  CallInfo info;
  info.method = "ListReaders";
  Finish(reactor, std::move(info), context, start, status);
  return reactor;
}

// ---------------------------------------------------------------------------------------
// WatchCards: one reactor per stream, writing one item at a time. The hub's notify only wakes
// the stream on its fan-out lane (watch_fanout.h), which starts the write; the next write starts
// from OnWriteDone.

class CardServiceImpl::WatchReactor final : public grpc::ServerWriteReactor<v1::WatchCardsResponse>,
                                            public WriteWatchdog::Stream,
                                            public WatchFanout::Stream {
 public:
  WatchReactor(CardServiceImpl& service, grpc::CallbackServerContext* context,
               const v1::WatchCardsRequest& request)
      : service_(service), context_(context), start_(absl::Now()) {
    ++service_.watchers_;
    service_.fanout_.Add(this);
    absl::Status allowed = Authorize(service_.hooks_, context, "WatchCards");
    if (allowed.ok()) allowed = CheckLimits(request);
    include_changes_ = request.include_changes();
    if (allowed.ok() && include_changes_) {
      const absl::Status denied = Authorize(service_.hooks_, context, kLedgerReaders);
      if (!denied.ok()) {  // said in WatchCards' terms; reason and metadata kept
        allowed = absl::Status(denied.code(), absl::StrCat("include_changes (the change outcomes "
                                                           "of the audit ledger): ",
                                                           denied.message()));
        denied.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
          allowed.SetPayload(url, payload);
        });
      }
    }
    if (!allowed.ok()) {
      FinishOnce(allowed);
      return;
    }
    for (const std::string& r : request.readers()) readers_.insert(r);
    std::optional<uint64_t> resume;
    if (request.has_resume_after_sequence()) resume = request.resume_after_sequence();
    absl::StatusOr<std::unique_ptr<Subscription>> sub = service_.hub_.Subscribe(resume);
    if (!sub.ok()) {
      FinishOnce(sub.status());
      return;
    }
    Subscription* raw = sub->get();
    {
      absl::MutexLock lock(&mu_);
      subscription_ = *std::move(sub);
    }
    raw->SetNotify([this] { service_.fanout_.Wake(this); });
    Pump();
  }

  void Drain() override { Pump(); }

  void OnWriteDone(bool ok) override {
    service_.watchdog_.Finished(this);
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
    }
    if (!ok) {
      FinishOnce(absl::CancelledError("the client went away"));
      return;
    }
    Pump();
  }

  void OnCancel() override { FinishOnce(absl::CancelledError("the client cancelled")); }

  void OnDone() override {
    service_.watchdog_.Finished(this);  // no OnWriteStalled after this
    // The subscription's destructor waits for a running notify; no notify after it.
    std::unique_ptr<Subscription> subscription;
    {
      absl::MutexLock lock(&mu_);
      subscription = std::move(subscription_);
      if (!finished_) {  // ended by gRPC without OnCancel: still reported exactly once
        finished_ = true;
        CallInfo info;
        info.method = "WatchCards";
        info.stream = true;
        info.reason = "CANCELLED";
        service_.Report(info, context_, start_, grpc::Status(grpc::StatusCode::CANCELLED, ""));
      }
    }
    subscription.reset();
    service_.fanout_.Remove(this);  // waits for a Drain running on the lane
    --service_.watchers_;
    delete this;
  }

  // The client has not taken the write in flight within the timeout: it is a slow consumer
  // whatever its queue says. Its status is reported, its subscription released, and the call
  // cancelled: a status alone would wait behind the unread data forever.
  void OnWriteStalled() override {
    grpc::CallbackServerContext* context = context_;
    std::unique_ptr<Subscription> subscription;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || !writing_) return;
      FinishLocked(WithReason(
          absl::ResourceExhaustedError(absl::StrCat(
              "the client took no event for ", absl::FormatDuration(service_.watchdog_.timeout()),
              "; it was cut off so that it holds nothing up. Subscribe again with "
              "resume_after set to the last sequence received")),
          kReasonSlowConsumer));
      subscription = std::move(subscription_);
    }
    subscription.reset();  // outside mu_: it waits for a running notify, which takes mu_
    context->TryCancel();  // may end the call at once: `this` is not touched after it
  }

 private:
  // Writes the next item when no write is in flight.
  void Pump() {
    absl::MutexLock lock(&mu_);
    while (!writing_ && !finished_ && subscription_) {
      absl::StatusOr<std::optional<WatchItem>> item = subscription_->TryPop();
      if (!item.ok()) {
        FinishLocked(item.status());
        return;
      }
      if (!item->has_value()) return;         // notify comes when there is more
      if (!Convert(**item, &out_)) continue;  // an event for a reader not watched
      writing_ = true;
      service_.watchdog_.Started(this);
      StartWrite(&out_);
    }
  }

  bool Convert(const WatchItem& item, v1::WatchCardsResponse* out) {
    out->Clear();
    if (item.is_snapshot()) {
      v1::WatchCardsSnapshot* snapshot = out->mutable_snapshot();
      snapshot->set_sequence(item.snapshot->sequence);
      snapshot->set_pcsc_unavailable(!item.snapshot->pcsc_available);
      for (const ReaderState& r : item.snapshot->readers) {
        if (Watched(r.reader)) ToProto(r, snapshot->add_readers());
      }
      return true;
    }
    const CardEvent& e = *item.event;
    if (e.kind == CardEventKind::kChange) {
      if (!include_changes_ || !Watched(e.reader) || !e.change.has_value()) return false;
    } else {
      const bool service_event =
          e.kind == CardEventKind::kPcscUnavailable || e.kind == CardEventKind::kPcscAvailable;
      if (!service_event && !Watched(e.reader)) return false;
    }
    EventToProto(e, out);
    return true;
  }

  bool Watched(const std::string& reader) const {
    return readers_.empty() || readers_.count(reader) > 0;
  }

  void FinishOnce(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    FinishLocked(status);
  }
  void FinishLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    const grpc::Status grpc_status = ToGrpcStatus(status);
    CallInfo info;
    info.method = "WatchCards";
    info.stream = true;
    if (!status.ok()) info.reason = ReasonOf(status);
    service_.Report(info, context_, start_, grpc_status);
    Finish(grpc_status);
  }

  CardServiceImpl& service_;
  grpc::CallbackServerContext* const context_;
  const absl::Time start_;
  std::set<std::string> readers_;
  bool include_changes_ = false;  // WatchCardsRequest.include_changes, admitted
  absl::Mutex mu_;
  std::unique_ptr<Subscription> subscription_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  v1::WatchCardsResponse out_;
};

grpc::ServerWriteReactor<v1::WatchCardsResponse>* CardServiceImpl::WatchCards(
    grpc::CallbackServerContext* context, const v1::WatchCardsRequest* request) {
  return new WatchReactor(*this, context, *request);
}

}  // namespace desfired::server
