// DedupTable: the duplicate-detection set of TapReconciler, a flat open-addressing table of
// tap keys (card UID, tap time, terminal): 16-byte slots in one array, linear probing, no
// per-entry allocation. The reconciler erases a key when it forgets it (backward-shift
// deletion, no tombstones), so the table holds only remembered keys; it doubles when they
// fill half of it. Prefetch() lets a caller start the memory access of a later look-up while
// it works on the current one.
//
//   DedupTable t;
//   t.Prefetch(next_key);                   // optional
//   if (!t.Insert(key)) { /* new */ } else { /* a duplicate */ }
//   t.Erase(oldest_key);
//
// Thread-compatible.
#ifndef DESFIRED_CORE_TAP_DEDUP_TABLE_H_
#define DESFIRED_CORE_TAP_DEDUP_TABLE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace desfired::tap {

class DedupTable {
 public:
  struct Key {
    uint64_t uid;       // the 8 UID bytes
    uint32_t time;      // tap time
    uint32_t terminal;  // terminal id (24 bits)
  };

  // `initial_slots`: a power of two, the starting size.
  explicit DedupTable(size_t initial_slots = 1 << 16);

  // Starts loading the slot where `key` would be found and the one after it (an erase looks
  // at the next slot, which may start the next cache line): a hint, no effect on the contents.
  void Prefetch(const Key& key) const {
    const Slot* slot = slots_.data() + Index(key);
    PrefetchLine(slot);
    PrefetchLine(slot + 1);  // within the array: slots_ has a spare slot at the end
  }

  // True when `key` is in the table; else enters it and returns false.
  bool Insert(const Key& key);
  // Removes `key` (nothing when it is not in the table).
  void Erase(const Key& key);

  size_t size() const { return size_; }
  // Slots in the table (for tests of the growth rule).
  size_t capacity() const { return mask_ + 1; }

 private:
  static constexpr uint32_t kUsed = 0x80000000u;  // in Slot::tag: the slot holds a key
  struct Slot {
    uint64_t uid;
    uint32_t time;
    uint32_t tag;  // kUsed | terminal; 0: free
  };
  size_t Index(const Key& k) const {
    uint64_t h = k.uid ^ (uint64_t{k.time} << 32 | k.terminal) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return static_cast<size_t>(h ^ (h >> 32)) & mask_;
  }
  static bool Holds(const Slot& s, const Key& k) {
    return s.uid == k.uid && s.time == k.time && s.tag == (kUsed | k.terminal);
  }
  void Grow();
  static void PrefetchLine(const Slot* slot) {
#if defined(__x86_64__)
    // GCC 12 drops __builtin_prefetch of this address (a multiplied hash) as dead code.
    asm volatile("prefetchw %0" : : "m"(*reinterpret_cast<const char*>(slot)));
#else
    __builtin_prefetch(slot, 1);
#endif
  }

  std::vector<Slot> slots_;  // capacity() slots, then one spare (never used) for Prefetch
  size_t mask_;
  size_t size_ = 0;
};

}  // namespace desfired::tap

#endif  // DESFIRED_CORE_TAP_DEDUP_TABLE_H_
