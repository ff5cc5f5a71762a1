#include "core/tap/reconciler.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace desfired::tap {
namespace {

// Initial sizes of the dedup table (slots) and the clock table (bounded by the options).
constexpr size_t kDedupSlots = 1 << 16;
constexpr size_t kClockReserve = 1 << 10;
// Records ahead of the current one whose dedup slot is prefetched (ApplyBatch), and keys ahead
// of the one forgotten (PopOldest).
constexpr size_t kPrefetchAhead = 16;

DedupTable::Key KeyOf(const TapResult& r) {
  uint64_t uid;
  std::memcpy(&uid, r.fields.uid, sizeof(uid));
  return DedupTable::Key{uid, r.fields.timestamp, r.fields.terminal_id};
}

// The smallest power of two >= n (n >= 1).
size_t Pow2AtLeast(size_t n) {
  size_t p = 1;
  while (p < n) p *= 2;
  return p;
}

}  // namespace

TapReconciler::TapReconciler(const ReconcilerOptions& options, const IdTable* terminals,
                             const IdTable* tariffs)
    : options_(options),
      terminals_(terminals),
      tariffs_(tariffs),
      // Sized ahead for a busy stream, so the tables rarely grow while records flow.
      seen_(std::min(kDedupSlots, Pow2AtLeast(2 * options.dedup_capacity + 2))) {
  if (options_.offset_window == 0) options_.offset_window = 1;
  clocks_.reserve(std::min<size_t>(options_.max_terminals, kClockReserve));
}

void TapReconciler::KeyRing::push_back(const DedupTable::Key& key) {
  if (size_ == keys_.size()) {  // full: grow, oldest first again
    std::vector<DedupTable::Key> grown;
    grown.reserve(keys_.empty() ? 1024 : keys_.size() * 2);
    for (size_t i = 0; i < size_; ++i) grown.push_back(at(i));
    grown.resize(grown.capacity());
    keys_ = std::move(grown);
    head_ = 0;
  }
  size_t tail = head_ + size_;
  if (tail >= keys_.size()) tail -= keys_.size();
  keys_[tail] = key;
  ++size_;
}

void TapReconciler::PopOldest() {
  // The keys forgotten next are known: their slots are loaded ahead.
  if (seen_order_.size() > kPrefetchAhead) seen_.Prefetch(seen_order_.at(kPrefetchAhead));
  seen_.Erase(seen_order_.front());
  seen_order_.pop_front();
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

void TapReconciler::ApplyBatch(const std::optional<int64_t>* backend_times, TapResult* results,
                               size_t count) {
  for (size_t i = 0; i < count && i < kPrefetchAhead; ++i) {
    if (results[i].status != TapStatus::kRejected) seen_.Prefetch(KeyOf(results[i]));
  }
  for (size_t i = 0; i < count; ++i) {
    const size_t ahead = i + kPrefetchAhead;
    if (ahead < count && results[ahead].status != TapStatus::kRejected) {
      seen_.Prefetch(KeyOf(results[ahead]));
    }
    Apply(backend_times != nullptr ? backend_times[i] : std::nullopt, &results[i]);
  }
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
  const int64_t t = r->fields.timestamp;
  if (t > newest_time_) newest_time_ = t;
  while (!seen_order_.empty() && static_cast<int64_t>(seen_order_.front().time) <
                                     newest_time_ - options_.dedup_window_seconds) {
    PopOldest();
  }
  if (options_.dedup_capacity == 0) return;
  const DedupTable::Key key = KeyOf(*r);
  if (seen_.Insert(key)) {  // remembered
    r->add(TapWarning::kDuplicateTap);
    return;
  }
  seen_order_.push_back(key);
  if (seen_order_.size() > options_.dedup_capacity) {
    ++dedup_evictions_;  // still inside the window: its duplicates go unnoticed
    PopOldest();
  }
}

}  // namespace desfired::tap
