// Reasons (status payload, core/apdu/status_payload.h) produced by the server's own machinery:
// the per-reader job queues (reader_worker.h) and the card event fan-out (event_hub.h).
//
//   absl::Status s = worker.Submit(std::move(job));
//   if (apdu::GetReason(s) == kReasonQueueFull) { ... }   // RESOURCE_EXHAUSTED: retry later
//
// Thread-safe: constants only.
#ifndef DESFIRED_SERVER_READERS_REASONS_H_
#define DESFIRED_SERVER_READERS_REASONS_H_

#include "absl/strings/string_view.h"

namespace desfired::server {

// RESOURCE_EXHAUSTED: the reader's job queue is full. Retry with back-off.
inline constexpr absl::string_view kReasonQueueFull = "QUEUE_FULL";
// UNAVAILABLE: the worker or the event hub is shutting down. Retry against a running server.
inline constexpr absl::string_view kReasonShuttingDown = "SHUTTING_DOWN";
// RESOURCE_EXHAUSTED: a WatchCards subscriber fell too far behind and was cut off. Resubscribe
// (with resume_after set to the last sequence received, if still in the history).
inline constexpr absl::string_view kReasonSlowConsumer = "SLOW_CONSUMER";
// OUT_OF_RANGE: resume_after names an event no longer in the history (or one this server never
// published, e.g. after a restart). Subscribe without resume_after to get a snapshot.
inline constexpr absl::string_view kReasonHistoryExpired = "HISTORY_EXPIRED";

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_READERS_REASONS_H_
