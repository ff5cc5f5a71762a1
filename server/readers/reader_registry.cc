#include "server/readers/reader_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/apdu/error_metadata.h"
#include "core/apdu/status_payload.h"
#include "core/pcsc/pcsc.h"
#include "core/util/echo.h"
#include "server/readers/reasons.h"

namespace desfired::server {

absl::StatusOr<ReaderWorker<CardSession>*> ReaderRegistry::Worker(const std::string& reader) {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) {
      return apdu::WithReason(absl::UnavailableError("the server is shutting down"),
                              kReasonShuttingDown);
    }
    auto it = workers_.find(reader);
    if (it != workers_.end()) return it->second.get();
  }
  // A reader used for the first time: only one pcscd lists gets a worker.
  std::shared_ptr<const CardSnapshot> snapshot = hub_.Snapshot();
  bool known = false;
  for (const ReaderState& r : snapshot->readers) known = known || r.reader == reader;
  if (!known) {
    return apdu::WithErrorMetadata(
        apdu::WithReason(absl::NotFoundError(absl::StrCat("no reader named '", Echo(reader), "'")),
                         pcsc::kReasonReaderNotFound),
        apdu::kMetadataReader, Echo(reader));
  }
  absl::MutexLock lock(&mu_);
  if (shut_down_) {
    return apdu::WithReason(absl::UnavailableError("the server is shutting down"),
                            kReasonShuttingDown);
  }
  auto [it, inserted] = workers_.try_emplace(reader);
  if (inserted) {
    it->second = std::make_unique<ReaderWorker<CardSession>>(
        reader, std::make_unique<CardSession>(reader, options_.session), options_.worker);
  }
  return it->second.get();
}

void ReaderRegistry::CardLeft(const std::string& reader) {
  absl::MutexLock lock(&mu_);
  auto it = workers_.find(reader);
  if (shut_down_ || it == workers_.end()) return;
  // A full queue or a stopping worker: the next job's Begin replaces the connection anyway.
  (void)it->second->Submit({
      .body =
          [](JobContext<CardSession>& job) {
            job.resource().ReleaseIfCardGone();
            return absl::OkStatus();
          },
      .done = [](absl::Status) {},
  });
}

void ReaderRegistry::Shutdown(absl::Duration grace) {
  std::map<std::string, std::unique_ptr<ReaderWorker<CardSession>>> workers;
  {
    absl::MutexLock lock(&mu_);
    shut_down_ = true;
    workers.swap(workers_);
  }
  const absl::Time until = absl::Now() + grace;
  for (auto& [name, worker] : workers)
    worker->Shutdown(std::max(until - absl::Now(), absl::ZeroDuration()));
}

}  // namespace desfired::server
