// CardService (desfired.v1): thin — validate, queue a job on the reader's worker, map the
// result. The card work is in card_ops.h (over core/cardops), the checks in card_validation.h; the
// readers and their workers in ReaderRegistry; reader and card events come from the EventHub (fed
// by the PC/SC monitor).
//
//   RPC ──▶ Validate(request) ── INVALID_ARGUMENT naming the field
//       ──▶ hooks.key_check(PresentedKeys(request)) ── PERMISSION_DENIED / KEY_ROLE_DENIED
//           (again on the worker, with the job's key store, before the first APDU)
//       ──▶ ReaderRegistry::Worker(reader) ── NOT_FOUND / READER_NOT_FOUND
//       ──▶ worker.Submit(job: deadline, cancellation, body = CardSession::Begin + card op)
//              ── RESOURCE_EXHAUSTED / QUEUE_FULL when the reader's queue is full
//       ──▶ done: ToGrpcStatus(status) (proto/convert/status_convert.h, the one place)
//
// Every call passes through ServerHooks (server/rpc/hooks.h): authorize first, on_call_done last.
//
// WatchCards and slow consumers: a stream is cut off with RESOURCE_EXHAUSTED / SLOW_CONSUMER
// when its client falls more than the hub's max_queue events behind (event_hub.h), and also
// when one write is not taken by the client within `watch_write_timeout` (a client that stops
// reading, or grants no flow-control window, never completes a write, so it never reads the
// hub's verdict). Then the status is reported to on_call_done, the subscription is released and
// the call is cancelled (RST_STREAM: the client sees CANCELLED, its unread data is dropped).
//
// WatchCards fan-out: the monitor's thread only wakes the streams an event concerns; their
// writes start on the lanes of a WatchFanout (`watch_threads`, watch_fanout.h), each stream
// on its own connection's write path, so no write waits for another stream's.
//
// Thread-safe: gRPC calls the methods from its threads.
#ifndef DESFIRED_SERVER_RPC_CARD_SERVICE_H_
#define DESFIRED_SERVER_RPC_CARD_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "desfired/v1/card.grpc.pb.h"
#include "server/audit/change_recorder.h"
#include "server/readers/card_session.h"
#include "server/readers/event_hub.h"
#include "server/readers/reader_registry.h"
#include "server/readers/reader_worker.h"
#include "server/rpc/hooks.h"
#include "server/rpc/watch_fanout.h"
#include "server/rpc/write_watchdog.h"

namespace desfired::server {

// How long one WatchCards write may wait for the client to take it (--watch_write_timeout).
inline constexpr absl::Duration kDefaultWatchWriteTimeout = absl::Seconds(5);

class CardServiceImpl final : public v1::CardService::CallbackService {
 public:
  // `recorder` (may be null: changes are then neither recorded nor deduplicated) records every
  // change in the audit ledger and answers retries (server/audit/change_recorder.h).
  // `watch_write_timeout` > 0: see WatchCards above. `watch_threads`: the fan-out's lanes (0:
  // one per core).
  CardServiceImpl(ReaderRegistry& readers, EventHub& hub, ServerHooks hooks,
                  ChangeRecorder* recorder = nullptr,
                  absl::Duration watch_write_timeout = kDefaultWatchWriteTimeout,
                  size_t watch_threads = 0)
      : readers_(readers),
        hub_(hub),
        hooks_(std::move(hooks)),
        recorder_(recorder),
        watchdog_(watch_write_timeout),
        fanout_(watch_threads) {}

  grpc::ServerUnaryReactor* ListReaders(grpc::CallbackServerContext* context,
                                        const v1::ListReadersRequest* request,
                                        v1::ListReadersResponse* response) override;
  grpc::ServerWriteReactor<v1::WatchCardsResponse>* WatchCards(
      grpc::CallbackServerContext* context, const v1::WatchCardsRequest* request) override;

#define DESFIRED_CARD_RPC(Name)                                                                  \
  grpc::ServerUnaryReactor* Name(grpc::CallbackServerContext* context,                           \
                                 const v1::Name##Request* request, v1::Name##Response* response) \
      override;
  DESFIRED_CARD_RPC(GetCardInfo)
  DESFIRED_CARD_RPC(ListApplications)
  DESFIRED_CARD_RPC(ListFiles)
  DESFIRED_CARD_RPC(GetFileSettings)
  DESFIRED_CARD_RPC(ReadData)
  DESFIRED_CARD_RPC(WriteData)
  DESFIRED_CARD_RPC(GetValue)
  DESFIRED_CARD_RPC(Credit)
  DESFIRED_CARD_RPC(Debit)
  DESFIRED_CARD_RPC(LimitedCredit)
  DESFIRED_CARD_RPC(ReadRecords)
  DESFIRED_CARD_RPC(WriteRecord)
  DESFIRED_CARD_RPC(ClearRecordFile)
  DESFIRED_CARD_RPC(ReadTapLog)
  DESFIRED_CARD_RPC(CommitTransaction)
  DESFIRED_CARD_RPC(AbortTransaction)
  DESFIRED_CARD_RPC(FormatCard)
  DESFIRED_CARD_RPC(CreateApplication)
  DESFIRED_CARD_RPC(DeleteApplication)
  DESFIRED_CARD_RPC(CreateFile)
  DESFIRED_CARD_RPC(DeleteFile)
  DESFIRED_CARD_RPC(ChangeFileSettings)
  DESFIRED_CARD_RPC(ChangeKey)
  DESFIRED_CARD_RPC(ChangeKeySettings)
  DESFIRED_CARD_RPC(VerifyOriginality)
#undef DESFIRED_CARD_RPC

  // How many WatchCards streams are open.
  size_t watchers() const { return watchers_.load(); }

 private:
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* RunCardJob(
      absl::string_view method, grpc::CallbackServerContext* context, const Request* request,
      Response* response, absl::StatusOr<Response> (*op)(cardops::CardContext&, const Request&));
  // Finishes `reactor` and reports the call to the hooks (`info` has method, request_id and
  // reader filled in).
  void Finish(grpc::ServerUnaryReactor* reactor, CallInfo info,
              grpc::CallbackServerContext* context, absl::Time start, const absl::Status& status);
  // The key store current now (nullptr without a key ring).
  std::shared_ptr<const keys::KeyStore> CurrentKeys() const;
  // A call through the ledger finished with `status`: sets info.change_outcome and publishes
  // its CHANGE event on the hub (server/readers/change_event.h).
  void PublishChange(CallInfo& info, const ChangeAttempt& attempt, const absl::Status& status,
                     bool left_open, std::optional<int64_t> amount);
  // Reports a finished call (any kind) to on_call_done.
  void Report(CallInfo& info, grpc::CallbackServerContext* context, absl::Time start,
              const grpc::Status& status) const;

  class WatchReactor;

  ReaderRegistry& readers_;
  EventHub& hub_;
  const ServerHooks hooks_;
  ChangeRecorder* const recorder_;
  std::atomic<size_t> watchers_{0};
  WriteWatchdog watchdog_;  // WatchCards writes
  WatchFanout fanout_;      // WatchCards writes start on its lanes
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_CARD_SERVICE_H_
