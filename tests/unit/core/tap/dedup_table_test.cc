// DedupTable (the reconciler's duplicate set) against a std::set model: Insert answers whether
// the key is there, Erase removes exactly that key (backward-shift deletion keeps every other
// key reachable), and growth keeps them all.
#include "core/tap/dedup_table.h"

#include <deque>
#include <random>
#include <set>
#include <tuple>

#include "gtest/gtest.h"

namespace desfired::tap {
namespace {

using ModelKey = std::tuple<uint64_t, uint32_t, uint32_t>;

TEST(DedupTableTest, InsertFindsErasedKeysGone) {
  DedupTable t(16);
  const DedupTable::Key a{0x04112233445566, 1700000000, 7};
  const DedupTable::Key b{0x04112233445566, 1700000000, 8};  // another terminal
  EXPECT_FALSE(t.Insert(a));
  EXPECT_TRUE(t.Insert(a));
  EXPECT_FALSE(t.Insert(b));
  t.Erase(a);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.Insert(b));
  EXPECT_FALSE(t.Insert(a));
  t.Erase(DedupTable::Key{1, 2, 3});  // not there: nothing
  EXPECT_EQ(t.size(), 2u);
}

// Random keys from a small space (many repeats) and a window of the last N keys entered: every
// answer equals the model's, through collisions, deletions inside runs, and growth from 16 slots.
TEST(DedupTableTest, EqualsSetModelWithErasesAndGrowth) {
  std::mt19937_64 rng(5);
  for (uint64_t space : {50, 5000, 200000}) {
    for (size_t window : {1, 40, 3000}) {
      DedupTable t(16);
      std::set<ModelKey> model;
      std::deque<DedupTable::Key> order;
      for (int step = 0; step < 100000; ++step) {
        const uint64_t v = rng() % space;
        const DedupTable::Key k{v * 0x100000001ull, static_cast<uint32_t>(v % 977),
                                static_cast<uint32_t>(v % 13)};
        const bool want = !model.insert({k.uid, k.time, k.terminal}).second;
        ASSERT_EQ(t.Insert(k), want)
            << "space " << space << " window " << window << " step " << step;
        if (want) continue;
        order.push_back(k);
        if (order.size() > window) {
          const DedupTable::Key& old = order.front();
          model.erase({old.uid, old.time, old.terminal});
          t.Erase(old);
          order.pop_front();
        }
        ASSERT_EQ(t.size(), model.size());
      }
      EXPECT_LE(t.capacity(), 2 * 8192u) << "space " << space;  // at most 3000 keys at once
    }
  }
}

}  // namespace
}  // namespace desfired::tap
