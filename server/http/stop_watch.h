// Wakes the HTTP API's waiting streams when their server starts stopping, without each stream
// polling: one thread per process checks the registered `stopping` functions every 100 ms
// while any is registered (none runs otherwise) and calls each `wake` once when its
// `stopping` turns true. An event stream thus sleeps until an event, its heartbeat or the stop.
//
//   StopWatch watch([&] { return server.stopping(); }, [&] { inbox.Wake(); });
//   ... wait on inbox ...
//
// Thread-safe. `wake` runs on the watch's thread with the registry locked: it must not
// construct or destroy a StopWatch. The destructor returns after any wake in progress.
#ifndef DESFIRED_SERVER_HTTP_STOP_WATCH_H_
#define DESFIRED_SERVER_HTTP_STOP_WATCH_H_

#include <functional>

namespace desfired::server::http {

class StopWatch {
 public:
  StopWatch(std::function<bool()> stopping, std::function<void()> wake);
  ~StopWatch();
  StopWatch(const StopWatch&) = delete;
  StopWatch& operator=(const StopWatch&) = delete;

 private:
  friend class StopWatchRegistry;
  std::function<bool()> stopping_;
  std::function<void()> wake_;
  bool woken_ = false;  // guarded by the registry's mutex
};

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_STOP_WATCH_H_
