#include "server/http/stop_watch.h"

#include <map>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace desfired::server::http {

constexpr absl::Duration kCheckEvery = absl::Milliseconds(100);

// The registered watches by server, and the thread that checks the servers (running while any
// watch is registered).
class StopWatchRegistry {
 public:
  static StopWatchRegistry& Get() {
    static auto* registry = new StopWatchRegistry();  // never destroyed: its thread may run
    return *registry;
  }

  void Add(StopWatch* watch) {
    absl::MutexLock lock(&mu_);
    Server& server = servers_[&watch->server_];
    ++server.count;
    if (server.stopped) {
      watch->wake_();  // stopping before it started to wait
    } else {
      server.watches.insert(watch);
    }
    ++count_;
    if (!running_) {
      running_ = true;
      std::thread([this] { Run(); }).detach();
    }
  }
  void Remove(StopWatch* watch) {
    absl::MutexLock lock(&mu_);
    auto it = servers_.find(&watch->server_);
    it->second.watches.erase(watch);
    if (--it->second.count == 0) servers_.erase(it);
    --count_;
  }

 private:
  struct Server {
    std::set<StopWatch*> watches;  // not woken yet
    size_t count = 0;              // registered
    bool stopped = false;
  };

  void Run() {
    absl::MutexLock lock(&mu_);
    while (count_ > 0) {
      for (auto& [http, server] : servers_) {
        if (server.stopped || !http->stopping()) continue;
        server.stopped = true;
        for (StopWatch* watch : server.watches) watch->wake_();
        server.watches.clear();
      }
      // Sleeps, the lock released; an empty registry ends the thread at once.
      auto empty = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ == 0; };
      mu_.AwaitWithTimeout(absl::Condition(&empty), kCheckEvery);
    }
    running_ = false;
  }

  absl::Mutex mu_;
  std::map<const HttpServer*, Server> servers_ ABSL_GUARDED_BY(mu_);
  size_t count_ ABSL_GUARDED_BY(mu_) = 0;
  bool running_ ABSL_GUARDED_BY(mu_) = false;
};

StopWatch::StopWatch(const HttpServer& server, std::function<void()> wake)
    : server_(server), wake_(std::move(wake)) {
  StopWatchRegistry::Get().Add(this);
}

StopWatch::~StopWatch() { StopWatchRegistry::Get().Remove(this); }

}  // namespace desfired::server::http
