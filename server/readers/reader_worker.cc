#include "server/readers/reader_worker.h"

#include <utility>
#include <vector>

#ifdef __linux__
#include <pthread.h>
#endif

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "server/readers/reasons.h"

namespace desfired::server {

absl::Status JobControl::CheckAlive() const {
  if (worker_.Now() >= deadline_) {
    return absl::DeadlineExceededError(
        absl::StrCat("deadline passed during a job on reader '", worker_.name(), "'"));
  }
  if (is_cancelled_ && is_cancelled_()) {
    return absl::CancelledError(
        absl::StrCat("client went away during a job on reader '", worker_.name(), "'"));
  }
  if (worker_.DrainExpired()) return worker_.ShuttingDownError();
  return absl::OkStatus();
}

absl::Time JobControl::Now() const { return worker_.Now(); }

WorkerThread::WorkerThread(std::string name, WorkerOptions options, std::function<void()> on_exit)
    : name_(std::move(name)),
      max_queued_(options.max_queued),
      clock_(options.clock ? std::move(options.clock) : [] { return absl::Now(); }),
      on_exit_(std::move(on_exit)),
      thread_([this] { Run(); }),
      thread_id_(thread_.get_id()) {}

WorkerThread::~WorkerThread() { Shutdown(absl::ZeroDuration()); }

absl::Status WorkerThread::Submit(Task task) {
  if (!task.body || !task.done) return absl::InvalidArgumentError("job without a body or done");
  const absl::Time now = clock_();
  if (now >= task.deadline) {
    return absl::DeadlineExceededError(
        absl::StrCat("deadline passed before the job reached reader '", name_, "'"));
  }
  absl::MutexLock lock(&mu_);
  if (stopping_) return ShuttingDownError();
  if (queue_.size() >= max_queued_) {
    return apdu::WithReason(
        absl::ResourceExhaustedError(absl::StrCat("reader '", name_, "' is busy: ", queue_.size(),
                                                  " jobs are already waiting; retry later")),
        kReasonQueueFull);
  }
  queue_.push_back(std::move(task));
  return absl::OkStatus();
}

void WorkerThread::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    const absl::Time deadline = clock_() + grace;
    if (!stopping_ || deadline < drain_deadline_) drain_deadline_ = deadline;
    stopping_ = true;
  }
  if (std::this_thread::get_id() == thread_id_) return;  // from a job: cannot wait
  std::call_once(join_once_, [this] { thread_.join(); });
}

size_t WorkerThread::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

bool WorkerThread::DrainExpired() const {
  absl::MutexLock lock(&mu_);
  return DrainExpiredLocked();
}

bool WorkerThread::DrainExpiredLocked() const { return stopping_ && clock_() >= drain_deadline_; }

absl::Status WorkerThread::ShuttingDownError() const {
  return apdu::WithReason(
      absl::UnavailableError(absl::StrCat("the worker of reader '", name_, "' is shutting down")),
      kReasonShuttingDown);
}

void WorkerThread::Run() {
#ifdef __linux__
  pthread_setname_np(pthread_self(), name_.substr(0, 15).c_str());
#endif
  for (;;) {
    Task task;
    std::vector<Task> abandoned;
    {
      absl::MutexLock lock(&mu_);
      auto has_work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&has_work));
      if (queue_.empty()) break;  // stopping, and nothing left
      if (DrainExpiredLocked()) {
        abandoned.assign(std::make_move_iterator(queue_.begin()),
                         std::make_move_iterator(queue_.end()));
        queue_.clear();
      } else {
        task = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    for (Task& t : abandoned) t.done(ShuttingDownError());
    if (task.body) RunOne(task);
  }
  if (on_exit_) on_exit_();
}

void WorkerThread::RunOne(Task& task) {
  if (clock_() >= task.deadline) {
    task.done(absl::DeadlineExceededError(absl::StrCat(
        "deadline passed while the job waited for reader '", name_, "'; it did not run")));
    return;
  }
  if (task.is_cancelled && task.is_cancelled()) {
    task.done(absl::CancelledError(absl::StrCat(
        "client went away while the job waited for reader '", name_, "'; it did not run")));
    return;
  }
  JobControl control(*this, task.deadline, task.is_cancelled);
  absl::Status status = task.body(control);
  task.done(std::move(status));
}

}  // namespace desfired::server
