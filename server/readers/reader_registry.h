// ReaderRegistry: the job workers of desfired, one per reader (reader_worker.h), each over a
// CardSession (card_session.h), created when a reader is first used and only for readers the
// event hub knows (pcscd lists them).
//
//   absl::StatusOr<ReaderWorker<CardSession>*> worker = registry.Worker(reader);
//   if (!worker.ok()) return worker.status();   // NOT_FOUND / READER_NOT_FOUND
//   (*worker)->Submit(job);
//
// Thread-safe.
#ifndef DESFIRED_SERVER_READERS_READER_REGISTRY_H_
#define DESFIRED_SERVER_READERS_READER_REGISTRY_H_

#include <map>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/cardops/data.h"
#include "server/readers/card_session.h"
#include "server/readers/event_hub.h"
#include "server/readers/reader_worker.h"

namespace desfired::server {

// The workers, one per reader, created when a reader is first used.
class ReaderRegistry {
 public:
  struct Options {
    WorkerOptions worker;
    CardSession::Options session;
    // A job with no deadline from the client gets this one.
    absl::Duration default_deadline = absl::Seconds(30);
    // WriteData / WriteRecord data beyond this: INVALID_ARGUMENT naming `data` (the request
    // validation, server/rpc/card_validation.h, allows up to cardops::kMaxWriteBytes).
    size_t max_write_bytes = cardops::kMaxWriteBytes;
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

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_READERS_READER_REGISTRY_H_
