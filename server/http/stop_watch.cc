#include "server/http/stop_watch.h"

#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace desfired::server::http {

constexpr absl::Duration kCheckEvery = absl::Milliseconds(100);

// The registered watches and the thread that checks them (running while any is registered).
class StopWatchRegistry {
 public:
  static StopWatchRegistry& Get() {
    static auto* registry = new StopWatchRegistry();  // never destroyed: its thread may run
    return *registry;
  }

  void Add(StopWatch* watch) {
    absl::MutexLock lock(&mu_);
    watches_.insert(watch);
    if (!running_) {
      running_ = true;
      std::thread([this] { Run(); }).detach();
    }
  }
  void Remove(StopWatch* watch) {
    absl::MutexLock lock(&mu_);
    watches_.erase(watch);
  }

 private:
  void Run() {
    absl::MutexLock lock(&mu_);
    while (!watches_.empty()) {
      for (StopWatch* watch : watches_) {
        if (!watch->woken_ && watch->stopping_()) {
          watch->woken_ = true;
          watch->wake_();
        }
      }
      // Sleeps, the lock released; an empty registry ends the thread at once.
      auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return watches_.empty(); };
      mu_.AwaitWithTimeout(absl::Condition(&empty), kCheckEvery);
    }
    running_ = false;
  }

  absl::Mutex mu_;
  std::set<StopWatch*> watches_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;
};

StopWatch::StopWatch(std::function<bool()> stopping, std::function<void()> wake)
    : stopping_(std::move(stopping)), wake_(std::move(wake)) {
  StopWatchRegistry::Get().Add(this);
}

StopWatch::~StopWatch() { StopWatchRegistry::Get().Remove(this); }

}  // namespace desfired::server::http
