#include "server/rpc/write_watchdog.h"

namespace desfired::server {

WriteWatchdog::WriteWatchdog(absl::Duration timeout)
    : timeout_(timeout), thread_([this] { Run(); }) {}

WriteWatchdog::~WriteWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void WriteWatchdog::EraseLocked(Stream* stream) {
  auto it = deadline_of_.find(stream);
  if (it == deadline_of_.end()) return;
  by_deadline_.erase({it->second, stream});
  deadline_of_.erase(it);
}

void WriteWatchdog::Started(Stream* stream) {
  absl::MutexLock lock(&mu_);
  EraseLocked(stream);
  const absl::Time deadline = absl::Now() + timeout_;
  deadline_of_[stream] = deadline;
  by_deadline_.insert({deadline, stream});
}

void WriteWatchdog::Finished(Stream* stream) {
  absl::MutexLock lock(&mu_);
  EraseLocked(stream);
  if (std::this_thread::get_id() == thread_.get_id()) return;  // from inside OnWriteStalled
  auto not_running = [this, stream]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return running_ != stream; };
  mu_.Await(absl::Condition(&not_running));
}

void WriteWatchdog::Run() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    const absl::Time now = absl::Now();
    if (by_deadline_.empty() || by_deadline_.begin()->first > now) {
      const absl::Time wake =
          by_deadline_.empty() ? now + absl::Seconds(1) : by_deadline_.begin()->first;
      // Stop, or a deadline earlier than the one slept for.
      auto woken = [this, wake]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || (!by_deadline_.empty() && by_deadline_.begin()->first < wake);
      };
      mu_.AwaitWithDeadline(absl::Condition(&woken), wake);
      continue;
    }
    Stream* stalled = by_deadline_.begin()->second;
    EraseLocked(stalled);
    running_ = stalled;
    mu_.Unlock();
    stalled->OnWriteStalled();
    mu_.Lock();
    running_ = nullptr;
  }
}

}  // namespace desfired::server
