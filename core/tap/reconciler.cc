#include "core/tap/reconciler.h"

#include <algorithm>
#include <cstdlib>

namespace desfired::tap {

TapReconciler::TapReconciler(const ReconcilerOptions& options, const IdTable* terminals,
                             const IdTable* tariffs)
    : options_(options), terminals_(terminals), tariffs_(tariffs) {
  if (options_.offset_window == 0) options_.offset_window = 1;
}

void TapReconciler::Apply(std::optional<int64_t> backend_time, TapResult* r) {
  if (r->status == TapStatus::kRejected) return;
  if (terminals_ != nullptr) {
    r->terminal_name = terminals_->Find(r->fields.terminal_id);
    if (r->terminal_name == nullptr) r->add(TapWarning::kUnknownTerminal);
  }
  if (tariffs_ != nullptr) {
    r->fare_product_name = tariffs_->Find(r->fields.fare_product);
    if (r->fare_product_name == nullptr) r->add(TapWarning::kUnknownFareProduct);
  }
  ApplyClock(backend_time, r);
  ApplyDedup(r);
}

void TapReconciler::ApplyClock(std::optional<int64_t> backend_time, TapResult* r) {
  const int64_t tap_time = r->fields.timestamp;
  auto it = clocks_.find(r->fields.terminal_id);
  if (backend_time.has_value()) {
    const int64_t offset = tap_time - *backend_time;
    if (std::llabs(offset) > options_.clock_tolerance_seconds) {
      r->add(TapWarning::kClockDriftDetected);
    }
    if (it == clocks_.end() && clocks_.size() < options_.max_terminals) {
      it = clocks_.emplace(r->fields.terminal_id, OffsetWindow{}).first;
    }
    if (it != clocks_.end()) {
      OffsetWindow& w = it->second;
      if (w.offsets.size() < options_.offset_window) {
        w.offsets.push_back(offset);
      } else {
        w.offsets[w.next] = offset;
        w.next = (w.next + 1) % options_.offset_window;
      }
    }
  }
  if (it == clocks_.end() || it->second.offsets.empty()) return;
  scratch_.assign(it->second.offsets.begin(), it->second.offsets.end());
  const size_t mid = scratch_.size() / 2;
  std::nth_element(scratch_.begin(), scratch_.begin() + static_cast<ptrdiff_t>(mid),
                   scratch_.end());
  int64_t median = scratch_[mid];
  if (scratch_.size() % 2 == 0) {  // even count: mean of the two middle values
    const int64_t lower =
        *std::max_element(scratch_.begin(), scratch_.begin() + static_cast<ptrdiff_t>(mid));
    median = lower + (median - lower) / 2;
  }
  r->has_clock_offset = true;
  r->clock_offset = median;
  r->corrected_time = tap_time - median;
}

void TapReconciler::ApplyDedup(TapResult* r) {
  uint64_t uid = 0;
  for (size_t i = 0; i < kUidLength; ++i) uid = uid << 8 | r->fields.uid[i];
  const DedupKey key{uid, r->fields.timestamp, r->fields.terminal_id};
  const int64_t t = r->fields.timestamp;
  if (t > newest_time_) newest_time_ = t;
  while (!seen_order_.empty() && static_cast<int64_t>(seen_order_.front().time) <
                                     newest_time_ - options_.dedup_window_seconds) {
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
  if (options_.dedup_capacity == 0) return;
  if (!seen_.insert(key).second) {
    r->add(TapWarning::kDuplicateTap);
    return;
  }
  seen_order_.push_back(key);
  if (seen_order_.size() > options_.dedup_capacity) {
    ++dedup_evictions_;  // still inside the window: its duplicates go unnoticed
    seen_.erase(seen_order_.front());
    seen_order_.pop_front();
  }
}

}  // namespace desfired::tap
