// WriteWatchdog: ends streams whose write does not complete in time. A client that stops
// reading (one that grants no HTTP/2 flow-control window, say) never completes a server's
// write: without a deadline its stream, and what the server keeps for it, would stay forever.
//
//   WriteWatchdog watchdog(absl::Seconds(5));
//   // in the reactor:
//   watchdog.Started(this);   StartWrite(&out_);      // Stream::OnWriteStalled after 5 s...
//   OnWriteDone(ok):  watchdog.Finished(this); ...    // ...unless the write completes first
//   OnDone():         watchdog.Finished(this); delete this;
//
// One thread per watchdog sleeps until the earliest deadline; a stalled stream is called on it
// (OnWriteStalled, once per Started), outside the watchdog's lock. Deadlines are checked within
// a few milliseconds of their time; the cost is O(log n) per write.
//
// Thread-safe. Finished(s) waits while s->OnWriteStalled runs on the watchdog thread, so that
// after it returns s may be destroyed (when OnWriteStalled itself leads to Finished(s), on the
// watchdog thread, it does not wait: OnWriteStalled must then not touch s after that point).
// The destructor stops the thread; every stream must be Finished before.
#ifndef DESFIRED_SERVER_RPC_WRITE_WATCHDOG_H_
#define DESFIRED_SERVER_RPC_WRITE_WATCHDOG_H_

#include <map>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace desfired::server {

class WriteWatchdog {
 public:
  class Stream {
   public:
    virtual ~Stream() = default;
    // The write started last did not complete within the timeout.
    virtual void OnWriteStalled() = 0;
  };

  // `timeout` > 0.
  explicit WriteWatchdog(absl::Duration timeout);
  ~WriteWatchdog();
  WriteWatchdog(const WriteWatchdog&) = delete;
  WriteWatchdog& operator=(const WriteWatchdog&) = delete;

  absl::Duration timeout() const { return timeout_; }

  // A write of `stream` started now (replaces an earlier deadline of it).
  void Started(Stream* stream) ABSL_LOCKS_EXCLUDED(mu_);
  // Its write completed, or the stream ends: no OnWriteStalled for it from now on.
  void Finished(Stream* stream) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  void EraseLocked(Stream* stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration timeout_;
  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::map<Stream*, absl::Time> deadline_of_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, Stream*>> by_deadline_ ABSL_GUARDED_BY(mu_);
  Stream* running_ ABSL_GUARDED_BY(mu_) = nullptr;  // in OnWriteStalled on the thread
  std::thread thread_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_WRITE_WATCHDOG_H_
