#include "server/http/sse_frames.h"

#include "absl/strings/str_cat.h"
#include "server/http/exchange.h"

namespace desfired::server::http {

SseFrames& SseFrames::Shared() {
  static auto* frames = new SseFrames();
  return *frames;
}

std::string SseFrame(const v1::WatchCardsResponse& item) {
  const uint64_t sequence = item.has_snapshot() ? item.snapshot().sequence()
                            : item.has_change() ? item.change().sequence()
                                                : item.event().sequence();
  return absl::StrCat("id: ", sequence, "\ndata: ", ProtoJson(item), "\n\n");
}

std::shared_ptr<const std::string> SseFrames::Of(const v1::WatchCardsResponse& item) {
  if (!item.has_event()) return std::make_shared<const std::string>(SseFrame(item));
  const uint64_t sequence = item.event().sequence();
  std::string bytes;
  item.SerializeToString(&bytes);
  Entry* const e = &entries_[sequence % kEvents];
  {
    absl::MutexLock lock(&mu_);
    const bool same = e->sequence == sequence && e->bytes == bytes;
    if (same && e->frame != nullptr) return e->frame;
    if (same) {
      // Another stream encodes it: wait for its frame (or for the entry to be taken over).
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return e->frame != nullptr || e->sequence != sequence;
      };
      mu_.Await(absl::Condition(&ready));
      if (e->sequence == sequence && e->bytes == bytes) return e->frame;
    } else {
      e->sequence = sequence;
      e->bytes = bytes;
      e->frame = nullptr;
    }
  }
  auto frame = std::make_shared<const std::string>(SseFrame(item));
  absl::MutexLock lock(&mu_);
  if (e->sequence == sequence && e->bytes == bytes && e->frame == nullptr) e->frame = frame;
  return frame;
}

}  // namespace desfired::server::http
