#include "server/rpc/watch_fanout.h"

#include <algorithm>
#include <limits>

namespace desfired::server {

WatchFanout::WatchFanout(size_t lanes) {
  if (lanes == 0) lanes = std::max(1u, std::thread::hardware_concurrency());
  lanes_.reserve(lanes);
  for (size_t i = 0; i < lanes; ++i) lanes_.push_back(std::make_unique<Lane>());
  for (auto& lane : lanes_) {
    Lane* raw = lane.get();
    lane->thread = std::thread([raw] { Run(*raw); });
  }
}

WatchFanout::~WatchFanout() {
  for (auto& lane : lanes_) {
    absl::MutexLock lock(&lane->mu);
    lane->stop = true;
  }
  for (auto& lane : lanes_) lane->thread.join();
}

void WatchFanout::Add(Stream* stream) {
  size_t best = 0;
  size_t fewest = std::numeric_limits<size_t>::max();
  for (size_t i = 0; i < lanes_.size(); ++i) {
    absl::MutexLock lock(&lanes_[i]->mu);
    if (lanes_[i]->streams < fewest) {
      fewest = lanes_[i]->streams;
      best = i;
    }
  }
  Lane& lane = *lanes_[best];
  absl::MutexLock lock(&lane.mu);
  ++lane.streams;
  stream->lane_ = best;
}

void WatchFanout::Wake(Stream* stream) {
  Lane& lane = *lanes_[stream->lane_];
  absl::MutexLock lock(&lane.mu);
  if (stream->queued_ || stream->removed_) return;
  stream->queued_ = true;
  lane.ready.push_back(stream);
}

void WatchFanout::Remove(Stream* stream) {
  Lane& lane = *lanes_[stream->lane_];
  absl::MutexLock lock(&lane.mu);
  if (stream->removed_) return;
  stream->removed_ = true;
  --lane.streams;
  if (stream->queued_) {
    lane.ready.erase(std::find(lane.ready.begin(), lane.ready.end(), stream));
    stream->queued_ = false;
  }
  if (std::this_thread::get_id() == lane.thread.get_id()) return;  // from inside its Drain
  auto not_running = [&lane, stream]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(lane.mu) { return lane.running != stream; };
  lane.mu.Await(absl::Condition(&not_running));
}

void WatchFanout::Run(Lane& lane) {
  auto has_work = [&lane]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(lane.mu) {
    return lane.stop || !lane.ready.empty();
  };
  absl::MutexLock lock(&lane.mu);
  for (;;) {
    lane.mu.Await(absl::Condition(&has_work));
    if (lane.stop) return;
    Stream* stream = lane.ready.front();
    lane.ready.pop_front();
    stream->queued_ = false;
    lane.running = stream;
    lane.mu.Unlock();
    stream->Drain();
    lane.mu.Lock();
    lane.running = nullptr;
  }
}

}  // namespace desfired::server
