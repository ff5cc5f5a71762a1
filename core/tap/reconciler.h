// TapReconciler: the stateful steps after parsing — backend clock check and per-terminal
// clock-offset estimate, duplicate suppression, terminal registry and tariff look-ups.
//
//   TapReconciler rec(ReconcilerOptions{}, &terminals, &tariffs);  // tables may be nullptr
//   parser.Parse(i, bytes, &result);
//   rec.Apply(backend_time, &result);
//
// Memory is bounded: at most `max_terminals` clock windows and `dedup_capacity` dedup keys.
// At the capacity the oldest key still inside the window is dropped, so a later duplicate of
// it is no longer detected: dedup_evictions() counts such drops, and a caller for which that
// matters (the server's ParseTapStream) stops when it becomes non-zero.
//
// Thread-compatible. The tables must outlive the reconciler.
#ifndef DESFIRED_CORE_TAP_RECONCILER_H_
#define DESFIRED_CORE_TAP_RECONCILER_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/tap/dedup_table.h"
#include "core/tap/id_table.h"
#include "core/tap/result.h"

namespace desfired::tap {

struct ReconcilerOptions {
  // A tap more than this many seconds from its backend time gets CLOCK_DRIFT_DETECTED.
  int64_t clock_tolerance_seconds = 5;
  // How many recent offsets per terminal the median is taken over.
  size_t offset_window = 15;
  // Terminals whose clock is tracked at once; further terminals are not estimated.
  size_t max_terminals = 65536;
  // A key seen within this many seconds of tap time before the newest tap is a duplicate.
  int64_t dedup_window_seconds = 86400;
  // At most this many dedup keys are remembered (oldest dropped first; dedup_evictions()).
  size_t dedup_capacity = 1'000'000;
};

class TapReconciler {
 public:
  TapReconciler(const ReconcilerOptions& options, const IdTable* terminals, const IdTable* tariffs);

  // Applies the steps to a parsed result; REJECTED results are left alone.
  void Apply(std::optional<int64_t> backend_time, TapResult* r);
  // Apply() to results[0..count) in order, with backend_times[i] (backend_times may be
  // nullptr: none); the look-ups of later records are started ahead. Equals Apply() per record.
  void ApplyBatch(const std::optional<int64_t>* backend_times, TapResult* results, size_t count);

  // Dedup keys dropped at `dedup_capacity` before their window expired: from the first one on,
  // a duplicate of a dropped key is no longer flagged.
  uint64_t dedup_evictions() const { return dedup_evictions_; }

 private:
  struct OffsetWindow {
    std::vector<int64_t> offsets;  // ring buffer, in arrival order
    std::vector<int64_t> sorted;   // the same values, sorted: the median without a selection
    size_t next = 0;
  };
  // The remembered keys in the order they were first seen (oldest first), a ring that grows
  // by doubling up to dedup_capacity + 1 entries.
  class KeyRing {
   public:
    bool empty() const { return size_ == 0; }
    size_t size() const { return size_; }
    const DedupTable::Key& front() const { return keys_[head_]; }
    // The key `k` places behind the front (k < size()).
    const DedupTable::Key& at(size_t k) const {
      const size_t i = head_ + k;
      return keys_[i < keys_.size() ? i : i - keys_.size()];
    }
    void pop_front() {
      head_ = head_ + 1 == keys_.size() ? 0 : head_ + 1;
      --size_;
    }
    void push_back(const DedupTable::Key& key);

   private:
    std::vector<DedupTable::Key> keys_;
    size_t head_ = 0;
    size_t size_ = 0;
  };
  // Forgets the oldest remembered key.
  void PopOldest();

  void ApplyClock(std::optional<int64_t> backend_time, TapResult* r);
  void ApplyDedup(TapResult* r);

  ReconcilerOptions options_;
  const IdTable* terminals_;
  const IdTable* tariffs_;
  absl::flat_hash_map<uint32_t, OffsetWindow> clocks_;
  // The remembered keys: in the table for the look-up, in the ring for their order.
  DedupTable seen_;
  KeyRing seen_order_;
  int64_t newest_time_ = 0;
  uint64_t dedup_evictions_ = 0;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_RECONCILER_H_
