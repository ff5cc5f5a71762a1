// GET /v1/events: CardService.WatchCards as Server-Sent Events (docs/api.md, "HTTP API").
//
//   id: <sequence>          the snapshot's sequence, or the event's
//   data: <proto3 JSON of the WatchCardsResponse>
//
// Resuming: the Last-Event-ID header (EventSource sends it when it reconnects) or
// ?resume_after=N becomes resume_after_sequence; when that is too old (HISTORY_EXPIRED) the
// stream sends "event: reset" (data: the error JSON) and goes on with a fresh snapshot.
// ?reader=NAME (repeatable) filters. ": heartbeat" comments keep proxies from closing a quiet
// stream. Once the answer has begun, each item's frame is handed from gRPC's thread straight to
// the connection's write queue (connection.h, Enqueue) and written by the I/O threads: no
// thread per stream wakes for an event. An event's frame is encoded once for all streams
// (sse_frames.h). The request's thread sleeps until the call ends, a write fails, the
// heartbeat is due or the server stops (Stop wakes it). The stream is a
// WatchCards call on the in-process channel, so a browser that reads too slowly is cut off as a
// gRPC watcher is (SLOW_CONSUMER, the write timeout), and its streams count against
// --max_streams_per_caller with the caller's gRPC ones. An error before the first item is an HTTP
// error (429 TOO_MANY_STREAMS, 401, 403, 400); after it, the stream ends with "event: end" (data:
// the error JSON).
// ?changes=1 adds the outcome of every card change (WatchCardsRequest.include_changes: callers
// who may read the ledger; others get 403 ROLE_DENIED).
#include <algorithm>
#include <deque>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/util/status_reason.h"
#include "desfired/v1/card.grpc.pb.h"
#include "proto/convert/status_convert.h"
#include "server/http/connection.h"
#include "server/http/http_error.h"
#include "server/http/http_server.h"
#include "server/http/sse_frames.h"

namespace desfired::server::http {
namespace {

// Items a stream may hold (queued, or handed to the connection and not yet written) before it
// stops reading (gRPC flow control and the server's watcher rules take it from there; a write
// that does not end within the write timeout cuts the browser off).
constexpr size_t kMaxBuffered = 16;

// One WatchCards call, read on gRPC's threads into a small queue, or once Push is called,
// straight into the connection's write queue. The call keeps itself alive until OnDone has
// returned (and until the writes of its frames have ended).
class WatchCall : public grpc::ClientReadReactor<v1::WatchCardsResponse>,
                  public std::enable_shared_from_this<WatchCall> {
 public:
  static std::shared_ptr<WatchCall> Start(v1::CardService::Stub& stub, const Caller& caller,
                                          const v1::WatchCardsRequest& request) {
    std::shared_ptr<WatchCall> call(new WatchCall(caller));
    call->self_ = call;
    stub.async()->WatchCards(call->context_.get(), &request, call.get());
    call->StartRead(&call->message_);
    call->StartCall();
    return call;
  }

  // Waits up to `timeout` for an item, the end, a failed write or Wake(): the item; nullopt
  // on timeout, at the end (then done() is true), after a failed write or once woken.
  std::optional<v1::WatchCardsResponse> Next(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return !queue_.empty() || done_ || woken_ || write_failed_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    if (queue_.empty()) return std::nullopt;
    v1::WatchCardsResponse item = std::move(queue_.front());
    queue_.pop_front();
    ResumeIfRoom();
    return item;
  }
  // From now on every item goes to `conn`'s write queue as it arrives (the queued ones first);
  // Next only waits. `conn` must outlive the call (CancelAndWait).
  void Push(Connection* conn) {
    absl::MutexLock lock(&mu_);
    conn_ = conn;
    for (const v1::WatchCardsResponse& item : queue_) Send(item);
    queue_.clear();
  }
  bool pushing() {
    absl::MutexLock lock(&mu_);
    return conn_ != nullptr;
  }
  // A frame handed to the connection could not be written: the browser is gone or too slow.
  bool write_failed() {
    absl::MutexLock lock(&mu_);
    return write_failed_;
  }
  // When the last frame was handed to the connection (InfinitePast: none).
  absl::Time last_push() {
    absl::MutexLock lock(&mu_);
    return last_push_;
  }
  // Ends every wait of Next, now and later (the server is stopping).
  void Wake() {
    absl::MutexLock lock(&mu_);
    woken_ = true;
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_ && queue_.empty();
  }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  // Cancels the call and waits for its end.
  void CancelAndWait() {
    context_->TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&finished_));
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    absl::MutexLock lock(&mu_);
    if (conn_ != nullptr) {
      Send(message_);
    } else {
      queue_.push_back(std::move(message_));
    }
    message_.Clear();
    if (queue_.size() + unwritten_ < kMaxBuffered) {
      StartRead(&message_);
    } else {
      paused_ = true;
    }
  }
  void OnDone(const grpc::Status& status) override {
    std::shared_ptr<WatchCall> self = std::move(self_);  // released after the lock
    absl::MutexLock lock(&mu_);
    status_ = FromGrpcStatus(status);
    done_ = true;
    finished_ = true;
  }

 private:
  explicit WatchCall(const Caller& caller)
      : context_(CallContext(caller, absl::InfiniteDuration())) {}

  // Hands `item`'s frame to the connection; reading resumes as the writes end.
  void Send(const v1::WatchCardsResponse& item) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++unwritten_;
    last_push_ = absl::Now();
    // The write may end after the request's thread has let the call go.
    conn_->Enqueue(SseFrames::Shared().Of(item), [this, self = shared_from_this()](bool ok) {
      absl::MutexLock lock(&mu_);
      --unwritten_;
      if (!ok) write_failed_ = true;
      ResumeIfRoom();
    });
  }
  void ResumeIfRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (paused_ && !done_ && !write_failed_ && queue_.size() + unwritten_ < kMaxBuffered) {
      paused_ = false;
      StartRead(&message_);
    }
  }

  std::shared_ptr<WatchCall> self_;
  std::unique_ptr<grpc::ClientContext> context_;
  v1::WatchCardsResponse message_;
  absl::Mutex mu_;
  std::deque<v1::WatchCardsResponse> queue_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool woken_ ABSL_GUARDED_BY(mu_) = false;
  Connection* conn_ ABSL_GUARDED_BY(mu_) = nullptr;  // set by Push
  size_t unwritten_ ABSL_GUARDED_BY(mu_) = 0;        // frames handed over, not yet written
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_push_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

// The resume point of the request: ?resume_after=, else Last-Event-ID.
absl::StatusOr<std::optional<uint64_t>> ResumeAfter(const Exchange& ex) {
  std::vector<std::string> values = QueryValues(ex.query, "resume_after");
  absl::string_view field = "resume_after";
  if (values.empty()) {
    if (std::optional<std::string> last = ex.Header("Last-Event-ID")) values.push_back(*last);
    field = "Last-Event-ID";
  }
  if (values.empty()) return std::nullopt;
  uint64_t sequence = 0;
  if (!absl::SimpleAtoi(values.back(), &sequence)) {
    return HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                     absl::StrCat(field, " must be an event id (a sequence number)"),
                     {{"field", std::string(field)}});
  }
  return sequence;
}

}  // namespace

void HandleEvents(HttpServer& server, Exchange& ex) {
  absl::StatusOr<std::optional<uint64_t>> resume = ResumeAfter(ex);
  if (!resume.ok()) return ex.Fail(resume.status());
  v1::WatchCardsRequest request;
  for (const std::string& reader : QueryValues(ex.query, "reader")) request.add_readers(reader);
  for (const std::string& changes : QueryValues(ex.query, "changes")) {
    if (changes != "0" && changes != "1") {
      return ex.Fail(HttpError(absl::StatusCode::kInvalidArgument, "INVALID_ARGUMENT",
                               "changes must be 0 or 1", {{"field", "changes"}}));
    }
    request.set_include_changes(changes == "1");
  }
  if (*resume) request.set_resume_after_sequence(**resume);
  auto stub = v1::CardService::NewStub(server.deps().channel);
  std::shared_ptr<WatchCall> call = WatchCall::Start(*stub, *ex.caller, request);
  const absl::Duration heartbeat = server.options().heartbeat;
  auto start = [&] {
    ex.StartStream(200, "text/event-stream", "X-Accel-Buffering: no\r\n");
    return ex.Write("retry: 2000\n\n");
  };
  bool open = true;
  absl::Time last_write = absl::Now();
  // The wait below ends at an item, the heartbeat, or the server's stop (Stop wakes the call
  // in use; a new call after a reset is woken at once once stopping).
  absl::Mutex call_mu;
  std::shared_ptr<WatchCall> woken_call = call;  // guarded by call_mu
  const uint64_t stream_id = server.StreamStarted([&] {
    absl::MutexLock lock(&call_mu);
    woken_call->Wake();
  });
  while (open && !server.stopping()) {
    // Once the answer has begun (its head and first frame written here), the items go
    // straight to the connection.
    if (ex.started() && !call->pushing()) call->Push(ex.conn());
    std::optional<v1::WatchCardsResponse> item =
        call->Next(std::max(last_write + heartbeat - absl::Now(), absl::ZeroDuration()));
    if (item) {
      if (!ex.started() && !start()) break;
      open = ex.Write(*SseFrames::Shared().Of(*item));
      last_write = absl::Now();
      continue;
    }
    if (call->write_failed()) break;  // the browser is gone or too slow: cut off
    last_write = std::max(last_write, call->last_push());
    if (!call->done()) {
      if (absl::Now() - last_write >= heartbeat) {
        if (ex.started()) open = ex.Write(": heartbeat\n\n");
        last_write = absl::Now();
      }
      continue;
    }
    const absl::Status status = call->status();
    if (request.has_resume_after_sequence() && GetReason(status) == "HISTORY_EXPIRED") {
      // Too old to resume: say so, then start over with a snapshot.
      if (!ex.started() && !start()) break;
      open = ex.Write(absl::StrCat("event: reset\ndata: ", ErrorJson(status), "\n\n"));
      request.clear_resume_after_sequence();
      call = WatchCall::Start(*stub, *ex.caller, request);
      absl::MutexLock lock(&call_mu);
      woken_call = call;
      if (server.stopping()) call->Wake();
      continue;
    }
    if (!ex.started()) {
      ex.Fail(status.ok() ? HttpError(absl::StatusCode::kUnavailable, "UNAVAILABLE",
                                      "the event stream ended")
                          : status);
    } else {
      ex.Write(absl::StrCat(
          "event: end\ndata: ",
          ErrorJson(status.ok() ? absl::UnavailableError("the stream ended") : status), "\n\n"));
    }
    open = false;
  }
  if (open && ex.started() && server.stopping()) {
    ex.Write(absl::StrCat("event: end\ndata: ",
                          ErrorJson(HttpError(absl::StatusCode::kUnavailable, "SHUTTING_DOWN",
                                              "desfired is shutting down")),
                          "\n\n"));
  }
  server.StreamEnded(stream_id);
  call->CancelAndWait();
}

}  // namespace desfired::server::http
