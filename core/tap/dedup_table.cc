#include "core/tap/dedup_table.h"

namespace desfired::tap {

DedupTable::DedupTable(size_t initial_slots)
    : slots_((initial_slots < 16 ? 16 : initial_slots) + 1, Slot{0, 0, 0}),
      mask_(slots_.size() - 2) {}

bool DedupTable::Insert(const Key& key) {
  size_t i = Index(key);
  while (slots_[i].tag != 0) {
    if (Holds(slots_[i], key)) return true;
    i = (i + 1) & mask_;
  }
  slots_[i] = Slot{key.uid, key.time, kUsed | key.terminal};
  if (++size_ * 2 > mask_ + 1) Grow();
  return false;
}

void DedupTable::Erase(const Key& key) {
  size_t i = Index(key);
  while (!Holds(slots_[i], key)) {
    if (slots_[i].tag == 0) return;  // not here
    i = (i + 1) & mask_;
  }
  // Backward-shift deletion: move up each later key of the run whose home slot is not
  // between the hole and itself, so that every key stays reachable from its home.
  size_t hole = i;
  for (size_t j = (i + 1) & mask_; slots_[j].tag != 0; j = (j + 1) & mask_) {
    const Slot& s = slots_[j];
    const size_t home = Index(Key{s.uid, s.time, s.tag & ~kUsed});
    if (((j - home) & mask_) >= ((j - hole) & mask_)) {
      slots_[hole] = s;
      hole = j;
    }
  }
  slots_[hole] = Slot{0, 0, 0};
  --size_;
}

void DedupTable::Grow() {
  std::vector<Slot> old(2 * (mask_ + 1) + 1, Slot{0, 0, 0});
  old.swap(slots_);
  mask_ = slots_.size() - 2;
  for (const Slot& s : old) {
    if (s.tag == 0) continue;
    size_t i = Index(Key{s.uid, s.time, s.tag & ~kUsed});
    while (slots_[i].tag != 0) i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

}  // namespace desfired::tap
