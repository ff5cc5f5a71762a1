#include "core/tap/reconciler.h"

#include <algorithm>
#include <cstdlib>

namespace desfired::tap {
namespace {

// Initial sizes of the dedup set and the clock table (bounded by the options).
constexpr size_t kDedupReserve = 1 << 14;
constexpr size_t kClockReserve = 1 << 10;
// Stale dedup entries tolerated beyond half the remembered keys before a sweep.
constexpr size_t kMinSweep = 1 << 14;

}  // namespace

TapReconciler::TapReconciler(const ReconcilerOptions& options, const IdTable* terminals,
                             const IdTable* tariffs)
    : options_(options), terminals_(terminals), tariffs_(tariffs) {
  if (options_.offset_window == 0) options_.offset_window = 1;
  // Sized ahead for a busy stream, so the tables rarely grow while records flow.
  seen_.reserve(std::min<size_t>(options_.dedup_capacity, kDedupReserve));
  clocks_.reserve(std::min<size_t>(options_.max_terminals, kClockReserve));
}

void TapReconciler::TimeRing::push_back(uint32_t t) {
  if (size_ == times_.size()) {  // full: grow, oldest first again
    std::vector<uint32_t> grown;
    grown.reserve(times_.empty() ? 1024 : times_.size() * 2);
    for (size_t i = 0; i < size_; ++i) grown.push_back(times_[(head_ + i) % times_.size()]);
    grown.resize(grown.capacity());
    times_ = std::move(grown);
    head_ = 0;
  }
  size_t tail = head_ + size_;
  if (tail >= times_.size()) tail -= times_.size();
  times_[tail] = t;
  ++size_;
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
        int64_t& slot = w.offsets[w.next];
        w.next = (w.next + 1) % options_.offset_window;
        if (slot != offset) {  // a steady clock replaces an offset by the same one
          w.sorted.erase(std::lower_bound(w.sorted.begin(), w.sorted.end(), slot));
          w.sorted.insert(std::upper_bound(w.sorted.begin(), w.sorted.end(), offset), offset);
          slot = offset;
        }
      }
      if (w.sorted.size() < w.offsets.size()) {  // still filling the window
        w.sorted.insert(std::upper_bound(w.sorted.begin(), w.sorted.end(), offset), offset);
      }
    }
  }
  if (it == clocks_.end() || it->second.sorted.empty()) return;
  const std::vector<int64_t>& sorted = it->second.sorted;
  const size_t mid = sorted.size() / 2;
  int64_t median = sorted[mid];
  if (sorted.size() % 2 == 0) {  // even count: mean of the two middle values
    const int64_t lower = sorted[mid - 1];
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
  while (!seen_order_.empty() &&
         static_cast<int64_t>(seen_order_.front()) < newest_time_ - options_.dedup_window_seconds) {
    PopOldest();
  }
  if (options_.dedup_capacity == 0) return;
  auto [it, inserted] = seen_.try_emplace(key, pushed_);
  if (!inserted) {
    if (it->second >= popped_) {  // remembered
      r->add(TapWarning::kDuplicateTap);
      return;
    }
    it->second = pushed_;  // stale: first seen again
  }
  seen_order_.push_back(r->fields.timestamp);
  ++pushed_;
  if (seen_order_.size() > options_.dedup_capacity) {
    ++dedup_evictions_;  // still inside the window: its duplicates go unnoticed
    PopOldest();
  }
  // Sweep the stale entries once they are half as many as the remembered keys (amortized
  // constant time per record; the table stays within 1.5 times the remembered keys).
  if (seen_.size() > seen_order_.size() + seen_order_.size() / 2 + kMinSweep) {
    for (auto e = seen_.begin(); e != seen_.end();) {
      if (e->second < popped_) {
        seen_.erase(e++);
      } else {
        ++e;
      }
    }
  }
}

}  // namespace desfired::tap
