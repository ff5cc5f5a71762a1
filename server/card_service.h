// CardService (desfired.v1): thin — validate, queue a job on the reader's worker, map the
// result. The card work is in card_ops.h; the readers and their workers in ReaderRegistry;
// reader and card events come from the EventHub (fed by the PC/SC monitor).
//
//   RPC ──▶ Validate(request) ── INVALID_ARGUMENT naming the field
//       ──▶ ReaderRegistry::Worker(reader) ── NOT_FOUND / READER_NOT_FOUND
//       ──▶ worker.Submit(job: deadline, cancellation, body = CardSession::Begin + card op)
//              ── RESOURCE_EXHAUSTED / QUEUE_FULL when the reader's queue is full
//       ──▶ done: ToGrpcStatus(status) (proto/convert/status_convert.h, the one place)
//
// Every call passes through ServerHooks (server/hooks.h): authorize first, on_call_done last.
//
// Thread-safe: gRPC calls the methods from its threads.
#ifndef DESFIRED_SERVER_CARD_SERVICE_H_
#define DESFIRED_SERVER_CARD_SERVICE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "desfired/v1/card.grpc.pb.h"
#include "server/card_session.h"
#include "server/change_recorder.h"
#include "server/event_hub.h"
#include "server/hooks.h"
#include "server/reader_worker.h"

namespace desfired::server {

// The workers, one per reader, created when a reader is first used.
class ReaderRegistry {
 public:
  struct Options {
    WorkerOptions worker;
    CardSession::Options session;
    // A job with no deadline from the client gets this one.
    absl::Duration default_deadline = absl::Seconds(30);
    // WriteData / WriteRecord data beyond this: INVALID_ARGUMENT naming `data` (card_ops'
    // Validate allows up to kMaxWriteBytes).
    size_t max_write_bytes = kMaxWriteBytes;
  };
  ReaderRegistry(const EventHub& hub, Options options) : hub_(hub), options_(std::move(options)) {}

  // The worker of `reader`; NOT_FOUND / READER_NOT_FOUND when pcscd does not list it.
  absl::StatusOr<ReaderWorker<CardSession>*> Worker(const std::string& reader)
      ABSL_LOCKS_EXCLUDED(mu_);
  // A card left `reader` (the reader monitor's CARD_REMOVED): its worker, if any, drops the
  // connection to it (CardSession::ReleaseIfCardGone) in a job of its own. Thread-safe.
  void CardLeft(const std::string& reader) ABSL_LOCKS_EXCLUDED(mu_);
  // Stops every worker: queued jobs get `grace` to finish.
  void Shutdown(absl::Duration grace) ABSL_LOCKS_EXCLUDED(mu_);
  const Options& options() const { return options_; }

 private:
  const EventHub& hub_;
  const Options options_;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, std::unique_ptr<ReaderWorker<CardSession>>> workers_ ABSL_GUARDED_BY(mu_);
};

class CardServiceImpl final : public v1::CardService::CallbackService {
 public:
  // `recorder` (may be null: changes are then neither recorded nor deduplicated) records every
  // change in the audit ledger and answers retries (server/change_recorder.h).
  CardServiceImpl(ReaderRegistry& readers, EventHub& hub, ServerHooks hooks,
                  ChangeRecorder* recorder = nullptr)
      : readers_(readers), hub_(hub), hooks_(std::move(hooks)), recorder_(recorder) {}

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
  DESFIRED_CARD_RPC(ChangeKey)
  DESFIRED_CARD_RPC(ChangeKeySettings)
#undef DESFIRED_CARD_RPC

  // How many WatchCards streams are open.
  size_t watchers() const { return watchers_.load(); }

 private:
  template <typename Request, typename Response>
  grpc::ServerUnaryReactor* RunCardJob(
      absl::string_view method, grpc::CallbackServerContext* context, const Request* request,
      Response* response, absl::StatusOr<Response> (*op)(CardContext&, const Request&));
  // Finishes `reactor` and reports the call to the hooks (`info` has method, request_id and
  // reader filled in).
  void Finish(grpc::ServerUnaryReactor* reactor, CallInfo info,
              grpc::CallbackServerContext* context, absl::Time start, const absl::Status& status);
  // Reports a finished call (any kind) to on_call_done.
  void Report(CallInfo& info, grpc::CallbackServerContext* context, absl::Time start,
              const grpc::Status& status) const;

  class WatchReactor;

  ReaderRegistry& readers_;
  EventHub& hub_;
  const ServerHooks hooks_;
  ChangeRecorder* const recorder_;
  std::atomic<size_t> watchers_{0};
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_CARD_SERVICE_H_
