// ReaderWorker: one thread per reader. The thread owns the reader's resource (the PC/SC card
// connection and the DESFire session) and runs jobs on it one at a time, in submission order.
// RPC handlers never touch the card: they submit a job and return.
//
//   RPC handler thread                         worker thread (one per reader)
//   Submit(job) ──▶ bounded FIFO (max_queued) ──▶ take the oldest job:
//     │  full:   RESOURCE_EXHAUSTED/QUEUE_FULL      deadline passed → done(DEADLINE_EXCEEDED)
//     │  closed: UNAVAILABLE/SHUTTING_DOWN          client gone     → done(CANCELLED)
//     ▼  (done is never called then)                otherwise       → done(body(context))
//   return                                            the body calls context.CheckAlive()
//                                                     between APDUs and stops on an error
//
// With gRPC's callback API (ServerUnaryReactor), `done` finishes the reactor:
//
//   ReaderWorker<CardSession> worker("ACS ACR122U 00 00", std::make_unique<CardSession>(...),
//                                    {.max_queued = 32});
//   absl::Status submitted = worker.Submit({
//       .deadline = absl::FromChrono(context->deadline()),
//       .is_cancelled = [context] { return context->IsCancelled(); },
//       .body = [request, response](JobContext<CardSession>& job) -> absl::Status {
//         DESFIRED_RETURN_IF_ERROR(job.CheckAlive());
//         ... job.resource() ...   // one APDU exchange
//         DESFIRED_RETURN_IF_ERROR(job.CheckAlive());
//         ...
//       },
//       .done = [reactor](absl::Status status) { reactor->Finish(ToGrpcStatus(status)); },
//   });
//   if (!submitted.ok()) reactor->Finish(ToGrpcStatus(submitted));
//
// Aborting an open transaction: when a job ends with an error (cancelled, deadline, card gone),
// whatever the body left half done must be undone before the next job. If `Resource` has a
// member `void AfterJob(const absl::Status& status)`, the worker calls it on the worker thread
// after every body, with the body's status (a DESFire session aborts its open transaction
// there). The body should also return promptly once CheckAlive() fails.
//
// Shutdown(grace): Submit fails from then on; queued jobs keep running until the grace period
// ends; jobs still queued then complete with UNAVAILABLE/SHUTTING_DOWN without running, and
// CheckAlive() in the running job returns the same, so the body stops at its next check.
// Shutdown returns when the thread has exited (a body that never calls CheckAlive can hold it
// up). The destructor calls Shutdown(absl::ZeroDuration()).
//
// Threads: `body` and `AfterJob` run on the worker thread; `done` runs on the worker thread
// (never inside Submit or Shutdown); `is_cancelled` runs on the worker thread and must be
// cheap and non-blocking (ServerContext::IsCancelled is). Callbacks must not call Shutdown or
// destroy the worker; they may Submit further jobs.
//
// Thread-safe: Submit, Shutdown and queued() may be called from any thread.
#ifndef DESFIRED_SERVER_READERS_READER_WORKER_H_
#define DESFIRED_SERVER_READERS_READER_WORKER_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace desfired::server {

class WorkerThread;

struct WorkerOptions {
  // Jobs that may wait behind the running one. Submit beyond that fails with
  // RESOURCE_EXHAUSTED/QUEUE_FULL. Jobs that expired while queued still hold their slot until
  // the worker reaches them (it skips them without running them).
  size_t max_queued = 16;
  // The time source for deadlines and the shutdown grace period. Empty: absl::Now. Tests pass
  // a fake clock. It must be thread-safe and must not call into the worker.
  std::function<absl::Time()> clock = nullptr;
};

// What a running job may ask about itself. Created by the worker; valid during the body only.
class JobControl {
 public:
  JobControl(const JobControl&) = delete;
  JobControl& operator=(const JobControl&) = delete;

  // OK while the job should go on. Otherwise, checked in this order:
  //   DEADLINE_EXCEEDED           the job's deadline has passed
  //   CANCELLED                   the cancellation probe says the client went away
  //   UNAVAILABLE/SHUTTING_DOWN   the worker's shutdown grace period is over
  // Call it between APDUs; return its error from the body.
  absl::Status CheckAlive() const;

  absl::Time deadline() const { return deadline_; }
  // The worker's clock.
  absl::Time Now() const;

 private:
  friend class WorkerThread;
  JobControl(const WorkerThread& worker, absl::Time deadline,
             const std::function<bool()>& is_cancelled)
      : worker_(worker), deadline_(deadline), is_cancelled_(is_cancelled) {}

  const WorkerThread& worker_;
  const absl::Time deadline_;
  const std::function<bool()>& is_cancelled_;
};

// The type-erased engine behind ReaderWorker<Resource>: one thread, one bounded FIFO of jobs.
// Use ReaderWorker unless a job needs no resource.
class WorkerThread {
 public:
  struct Task {
    absl::Time deadline = absl::InfiniteFuture();
    // True when the client went away. May be empty (never cancelled).
    std::function<bool()> is_cancelled = nullptr;
    // Required. Its status goes to `done`.
    std::function<absl::Status(JobControl&)> body = nullptr;
    // Required. Called exactly once, on the worker thread, if and only if Submit returned OK.
    std::function<void(absl::Status)> done = nullptr;
  };

  // Starts the thread. `on_exit` (may be empty) runs on the worker thread after the last job:
  // release thread-owned resources there. `name` appears in error messages and, cut to 15
  // characters, as the thread name.
  WorkerThread(std::string name, WorkerOptions options, std::function<void()> on_exit = nullptr);
  // Shutdown(absl::ZeroDuration()) unless already shut down.
  ~WorkerThread();
  WorkerThread(const WorkerThread&) = delete;
  WorkerThread& operator=(const WorkerThread&) = delete;

  // Queues `task`. Errors (then `done` is not called and the task is dropped):
  //   INVALID_ARGUMENT                    body or done is empty
  //   DEADLINE_EXCEEDED                   the deadline has already passed
  //   RESOURCE_EXHAUSTED/QUEUE_FULL       max_queued jobs are already waiting
  //   UNAVAILABLE/SHUTTING_DOWN           Shutdown has been called
  absl::Status Submit(Task task) ABSL_LOCKS_EXCLUDED(mu_);

  // Stops accepting jobs, lets queued jobs run for up to `grace` (measured by the options'
  // clock), fails the rest with UNAVAILABLE/SHUTTING_DOWN, and waits for the thread to exit.
  // A second call may shorten the grace period; every call returns once the thread has exited.
  // Called from a job on this worker's own thread, it only starts the shutdown (no wait).
  void Shutdown(absl::Duration grace) ABSL_LOCKS_EXCLUDED(mu_);

  // Jobs waiting (not counting the running one).
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);
  const std::string& name() const { return name_; }
  absl::Time Now() const { return clock_(); }

 private:
  friend class JobControl;

  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void RunOne(Task& task);
  // True once the shutdown grace period is over.
  bool DrainExpired() const ABSL_LOCKS_EXCLUDED(mu_);
  bool DrainExpiredLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ShuttingDownError() const;

  const std::string name_;
  const size_t max_queued_;
  const std::function<absl::Time()> clock_;
  const std::function<void()> on_exit_;

  mutable absl::Mutex mu_;
  std::deque<Task> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time drain_deadline_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();

  std::once_flag join_once_;
  std::thread thread_;  // starts after the members above are initialised
  const std::thread::id thread_id_;
};

// What the body of a ReaderWorker<Resource> job gets.
template <typename Resource>
class JobContext {
 public:
  JobContext(JobControl& control, Resource& resource) : control_(control), resource_(resource) {}

  // See JobControl::CheckAlive.
  absl::Status CheckAlive() const { return control_.CheckAlive(); }
  absl::Time deadline() const { return control_.deadline(); }
  absl::Time Now() const { return control_.Now(); }
  // The worker's resource; only the worker thread touches it.
  Resource& resource() const { return resource_; }

 private:
  JobControl& control_;
  Resource& resource_;
};

template <typename Resource>
class ReaderWorker {
 public:
  struct Job {
    absl::Time deadline = absl::InfiniteFuture();
    // True when the client went away (ServerContext::IsCancelled). May be empty.
    std::function<bool()> is_cancelled = nullptr;
    // Required. Runs on the worker thread; its status goes to `done`.
    std::function<absl::Status(JobContext<Resource>&)> body = nullptr;
    // Required. Called exactly once, on the worker thread, if and only if Submit returned OK.
    std::function<void(absl::Status)> done = nullptr;
  };

  // Takes `resource` (not null); from now on only the worker thread touches it, and it is
  // destroyed there when the thread exits. `reader` names the worker in errors.
  ReaderWorker(std::string reader, std::unique_ptr<Resource> resource, WorkerOptions options = {})
      : resource_(std::move(resource)),
        thread_(std::move(reader), std::move(options), [this] { resource_.reset(); }) {}
  ~ReaderWorker() { thread_.Shutdown(absl::ZeroDuration()); }
  ReaderWorker(const ReaderWorker&) = delete;
  ReaderWorker& operator=(const ReaderWorker&) = delete;

  // See WorkerThread::Submit for the errors.
  absl::Status Submit(Job job) {
    if (!job.body) return absl::InvalidArgumentError("job without a body");
    return thread_.Submit({
        .deadline = job.deadline,
        .is_cancelled = std::move(job.is_cancelled),
        .body = [this, body = std::move(job.body)](JobControl& control) -> absl::Status {
          JobContext<Resource> context(control, *resource_);
          absl::Status status = body(context);
          if constexpr (requires(Resource & r, const absl::Status& s) { r.AfterJob(s); }) {
            resource_->AfterJob(status);
          }
          return status;
        },
        .done = std::move(job.done),
    });
  }

  // See WorkerThread::Shutdown.
  void Shutdown(absl::Duration grace) { thread_.Shutdown(grace); }
  size_t queued() const { return thread_.queued(); }
  const std::string& reader() const { return thread_.name(); }

 private:
  // Confined to the worker thread after construction (the thread start and join order the
  // hand-over and the release).
  std::unique_ptr<Resource> resource_;
  WorkerThread thread_;  // after resource_: starts last, and is joined first
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_READERS_READER_WORKER_H_
