// Wakes the HTTP API's waiting streams when their server starts stopping, without each stream
// polling: one thread per process checks each server that has a registered watch (its
// stopping(), once per server) every 100 ms while any watch is registered — none runs
// otherwise — and calls each watch's `wake` once when its server stops. An event stream thus
// sleeps until an event, its heartbeat or the stop.
//
//   StopWatch watch(server, [&] { inbox.Wake(); });
//   ... wait on inbox ...
//
// Thread-safe. `wake` runs on the watch's thread with the registry locked: it must not
// construct or destroy a StopWatch. The destructor returns after any wake in progress.
#ifndef DESFIRED_SERVER_HTTP_STOP_WATCH_H_
#define DESFIRED_SERVER_HTTP_STOP_WATCH_H_

#include <functional>

#include "server/http/http_server.h"

namespace desfired::server::http {

class StopWatch {
 public:
  // `server` must outlive the watch.
  StopWatch(const HttpServer& server, std::function<void()> wake);
  ~StopWatch();
  StopWatch(const StopWatch&) = delete;
  StopWatch& operator=(const StopWatch&) = delete;

 private:
  friend class StopWatchRegistry;
  const HttpServer& server_;
  std::function<void()> wake_;
};

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_STOP_WATCH_H_
