// The Server-Sent Events frame of a WatchCards item ("id: <sequence>\ndata: <proto3 JSON>\n\n"),
// encoded once per event for all the event streams that send it: with 1,000 browsers open, an
// event costs one JSON encoding, not 1,000. The last kEvents events are kept, each under its
// sequence and its serialized bytes (an item is served from the cache only when its bytes are
// those of the cached one, so streams that see an event differently never share a frame).
// Snapshots, which differ per stream (?reader=), and change outcomes are encoded each time.
//
//   std::shared_ptr<const std::string> frame = SseFrames::Shared().Of(item);
//   ex.Write(*frame);
//
// Thread-safe.
#ifndef DESFIRED_SERVER_HTTP_SSE_FRAMES_H_
#define DESFIRED_SERVER_HTTP_SSE_FRAMES_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "desfired/v1/card.pb.h"

namespace desfired::server::http {

class SseFrames {
 public:
  static constexpr size_t kEvents = 64;

  // The frames of the process's event streams.
  static SseFrames& Shared();

  // The frame of `item`.
  std::shared_ptr<const std::string> Of(const v1::WatchCardsResponse& item)
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Entry {
    uint64_t sequence = 0;
    std::string bytes;  // the event, serialized
    std::shared_ptr<const std::string> frame;
  };

  absl::Mutex mu_;
  Entry entries_[kEvents] ABSL_GUARDED_BY(mu_);
};

// The frame of `item`, encoded now.
std::string SseFrame(const v1::WatchCardsResponse& item);

}  // namespace desfired::server::http

#endif  // DESFIRED_SERVER_HTTP_SSE_FRAMES_H_
