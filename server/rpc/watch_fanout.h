// WatchFanout: the threads that start the writes of WatchCards streams. The thread that
// publishes a card event (the reader monitor) only hands each waiting stream to a lane; the
// lanes (one thread each, by default one per core) start the writes, so the writes of one event
// to many streams (each one a write on its own connection) run on several threads at once and
// the monitor is free for the next event.
//
//   EventHub::Publish ─ notify ─▶ fanout.Wake(s) ─▶ lane k: ready queue ─▶ s->Drain()
//   (monitor thread: O(1) per stream, never a write)     (thread k: TryPop, StartWrite, return)
//
//   class Reactor : public grpc::ServerWriteReactor<...>, public WatchFanout::Stream {
//     Reactor(...)  { fanout.Add(this); sub->SetNotify([this] { fanout_.Wake(this); }); }
//     void Drain() override { /* pop what is available, StartWrite when no write is in flight */ }
//     void OnDone() override { subscription_.reset(); fanout.Remove(this); delete this; }
//   };
//
// A stream is placed on the lane with the fewest streams when it is added and stays there. A
// lane runs the Drain of its streams one after the other; a stream is queued at most once at a
// time (a burst of wakes costs one Drain). Drain must not block: it starts a write and returns.
// A stream whose client takes nothing therefore holds no lane; only its own writes wait (and
// the write watchdog, write_watchdog.h, ends it), so a slow or dead watcher delays no other.
//
// Thread-safe. Remove(s) waits while s->Drain runs on its lane (unless called from inside that
// Drain), so that after it returns s may be destroyed; Wake(s) must not be called after
// Remove(s) has begun. The destructor stops the threads; every stream must be removed before.
#ifndef DESFIRED_SERVER_RPC_WATCH_FANOUT_H_
#define DESFIRED_SERVER_RPC_WATCH_FANOUT_H_

#include <cstddef>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace desfired::server {

class WatchFanout {
 public:
  // What a stream gives the fan-out: its Drain. Not owned (see Remove).
  class Stream {
   public:
    // Writes what is available, without blocking (see above). Runs on the stream's lane.
    virtual void Drain() = 0;

   protected:
    virtual ~Stream() = default;

   private:
    friend class WatchFanout;
    // Set by Add; the rest is guarded by that lane's mutex.
    size_t lane_ = 0;
    bool queued_ = false;
    bool removed_ = false;
  };

  // `lanes` threads; 0: one per core.
  explicit WatchFanout(size_t lanes = 0);
  ~WatchFanout();
  WatchFanout(const WatchFanout&) = delete;
  WatchFanout& operator=(const WatchFanout&) = delete;

  size_t lanes() const { return lanes_.size(); }

  // Places `stream` on a lane. Once per stream, before any Wake.
  void Add(Stream* stream);
  // Asks for stream->Drain() on its lane soon. Never blocks on a Drain; O(1).
  void Wake(Stream* stream);
  // No Drain of `stream` from now on (see the top of this file).
  void Remove(Stream* stream);

 private:
  struct Lane {
    absl::Mutex mu;
    std::deque<Stream*> ready ABSL_GUARDED_BY(mu);
    Stream* running ABSL_GUARDED_BY(mu) = nullptr;
    size_t streams ABSL_GUARDED_BY(mu) = 0;
    bool stop ABSL_GUARDED_BY(mu) = false;
    std::thread thread;
  };

  static void Run(Lane& lane);

  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_RPC_WATCH_FANOUT_H_
