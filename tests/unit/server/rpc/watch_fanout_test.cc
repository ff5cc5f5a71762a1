// WatchFanout: a wake runs Drain on a lane thread, wakes of a queued stream are one Drain,
// streams are spread over the lanes, a stream stuck in its Drain holds up no stream of another
// lane, and Remove drops a queued wake and waits for a running Drain.
#include "server/rpc/watch_fanout.h"

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace desfired::server {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

// Counts its drains and notes the thread of the last one; with `block_first`, the first Drain
// waits for `release`.
class CountingStream : public WatchFanout::Stream {
 public:
  explicit CountingStream(bool block_first = false) : block_first_(block_first) {}

  void Drain() override {
    if (block_first_ && drains_.load() == 0) {
      entered.Notify();
      release.WaitForNotification();
    }
    {
      absl::MutexLock lock(&mu_);
      thread_ = std::this_thread::get_id();
    }
    drains_.fetch_add(1);
  }

  int drains() const { return drains_.load(); }
  bool WaitDrains(int n) {
    for (absl::Time end = absl::Now() + kWait; drains_.load() < n;) {
      if (absl::Now() > end) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
    return true;
  }
  std::thread::id thread() const {
    absl::MutexLock lock(&mu_);
    return thread_;
  }

  absl::Notification entered, release;

 private:
  const bool block_first_;
  std::atomic<int> drains_{0};
  mutable absl::Mutex mu_;
  std::thread::id thread_ ABSL_GUARDED_BY(mu_);
};

TEST(WatchFanoutTest, AWakeDrainsOnALaneThread) {
  WatchFanout fanout(2);
  EXPECT_EQ(fanout.lanes(), 2u);
  CountingStream s;
  fanout.Add(&s);
  fanout.Wake(&s);
  ASSERT_TRUE(s.WaitDrains(1));
  EXPECT_NE(s.thread(), std::this_thread::get_id());
  fanout.Remove(&s);
}

TEST(WatchFanoutTest, DefaultIsOneLanePerCore) {
  WatchFanout fanout;
  EXPECT_EQ(fanout.lanes(), std::max(1u, std::thread::hardware_concurrency()));
}

// One lane held up by `blocker`'s Drain, with `s` and `marker` behind it.
class HeldLaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (CountingStream* c : {&blocker, &s, &marker}) fanout.Add(c);
    fanout.Wake(&blocker);
    ASSERT_TRUE(blocker.entered.WaitForNotificationWithTimeout(kWait));
  }
  // Lets the lane go on and waits until it has run `marker` (woken last: the lane runs its
  // queue in order).
  void ReleaseAndPassMarker() {
    fanout.Wake(&marker);
    blocker.release.Notify();
    ASSERT_TRUE(marker.WaitDrains(1));
  }
  void TearDown() override {
    if (!blocker.release.HasBeenNotified()) blocker.release.Notify();
    for (CountingStream* c : {&blocker, &s, &marker}) fanout.Remove(c);
  }

  WatchFanout fanout{1};
  CountingStream blocker{/*block_first=*/true}, s, marker;
};

TEST_F(HeldLaneTest, WakesOfAQueuedStreamAreOneDrain) {
  for (int i = 0; i < 5; ++i) fanout.Wake(&s);
  ASSERT_NO_FATAL_FAILURE(ReleaseAndPassMarker());
  EXPECT_EQ(s.drains(), 1);
  // Woken after its Drain: drained again.
  fanout.Wake(&s);
  ASSERT_TRUE(s.WaitDrains(2));
}

TEST_F(HeldLaneTest, RemoveDropsAQueuedWake) {
  fanout.Wake(&s);
  fanout.Remove(&s);
  fanout.Wake(&s);  // after Remove: ignored
  ASSERT_NO_FATAL_FAILURE(ReleaseAndPassMarker());
  EXPECT_EQ(s.drains(), 0);
}

TEST(WatchFanoutTest, StreamsAreSpreadOverTheLanes) {
  WatchFanout fanout(2);
  std::vector<CountingStream> streams(6);
  for (auto& s : streams) fanout.Add(&s);
  for (auto& s : streams) fanout.Wake(&s);
  std::set<std::thread::id> threads;
  for (auto& s : streams) {
    ASSERT_TRUE(s.WaitDrains(1));
    threads.insert(s.thread());
  }
  EXPECT_EQ(threads.size(), 2u);
  for (auto& s : streams) fanout.Remove(&s);
}

// A stream stuck in its Drain (which a Drain must never be) holds up its own lane only.
TEST(WatchFanoutTest, AStuckDrainHoldsUpNoOtherLane) {
  WatchFanout fanout(2);
  CountingStream stuck(/*block_first=*/true), other;
  fanout.Add(&stuck);  // lane 0
  fanout.Add(&other);  // lane 1
  fanout.Wake(&stuck);
  ASSERT_TRUE(stuck.entered.WaitForNotificationWithTimeout(kWait));
  for (int i = 1; i <= 3; ++i) {
    fanout.Wake(&other);
    ASSERT_TRUE(other.WaitDrains(i));
  }
  stuck.release.Notify();
  fanout.Remove(&stuck);
  fanout.Remove(&other);
}

TEST(WatchFanoutTest, RemoveWaitsForARunningDrain) {
  WatchFanout fanout(1);
  CountingStream s(/*block_first=*/true);
  fanout.Add(&s);
  fanout.Wake(&s);
  ASSERT_TRUE(s.entered.WaitForNotificationWithTimeout(kWait));
  std::atomic<bool> removed{false};
  std::thread remover([&] {
    fanout.Remove(&s);
    removed = true;
  });
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(removed.load());
  s.release.Notify();
  remover.join();
  EXPECT_EQ(s.drains(), 1);  // the Drain had finished when Remove returned
}

// A stream that removes itself from inside its Drain does not wait for itself.
class SelfRemovingStream : public WatchFanout::Stream {
 public:
  explicit SelfRemovingStream(WatchFanout& fanout) : fanout_(fanout) {}
  void Drain() override {
    fanout_.Remove(this);
    done.Notify();
  }
  absl::Notification done;

 private:
  WatchFanout& fanout_;
};

TEST(WatchFanoutTest, RemoveFromInsideDrainReturns) {
  WatchFanout fanout(1);
  SelfRemovingStream s(fanout);
  fanout.Add(&s);
  fanout.Wake(&s);
  ASSERT_TRUE(s.done.WaitForNotificationWithTimeout(kWait));
}

}  // namespace
}  // namespace desfired::server
