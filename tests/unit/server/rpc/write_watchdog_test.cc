// WriteWatchdog: a write not finished in time is reported once; a finished one never; Finished
// waits for a report running on the watchdog thread.
#include "server/rpc/write_watchdog.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace desfired::server {
namespace {

class FakeStream : public WriteWatchdog::Stream {
 public:
  void OnWriteStalled() override {
    ++stalls;
    stalled.Notify();
  }
  std::atomic<int> stalls{0};
  absl::Notification stalled;
};

TEST(WriteWatchdogTest, AWriteNotFinishedInTimeIsReportedOnce) {
  WriteWatchdog watchdog(absl::Milliseconds(50));
  FakeStream stream;
  watchdog.Started(&stream);
  ASSERT_TRUE(stream.stalled.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(stream.stalls.load(), 1);
  watchdog.Finished(&stream);
}

TEST(WriteWatchdogTest, AFinishedWriteIsNeverReported) {
  WriteWatchdog watchdog(absl::Milliseconds(100));
  FakeStream finished, stalled;
  watchdog.Started(&finished);
  watchdog.Started(&stalled);
  watchdog.Finished(&finished);
  ASSERT_TRUE(stalled.stalled.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(finished.stalls.load(), 0);
  watchdog.Finished(&stalled);
}

// Finished, called while the report runs, returns only after it.
class SlowStream : public WriteWatchdog::Stream {
 public:
  void OnWriteStalled() override {
    entered.Notify();
    release.WaitForNotification();
    done = true;
  }
  absl::Notification entered, release;
  std::atomic<bool> done{false};
};

TEST(WriteWatchdogTest, FinishedWaitsForARunningReport) {
  WriteWatchdog watchdog(absl::Milliseconds(10));
  SlowStream stream;
  watchdog.Started(&stream);
  ASSERT_TRUE(stream.entered.WaitForNotificationWithTimeout(absl::Seconds(10)));
  std::thread finisher([&] {
    watchdog.Finished(&stream);
    EXPECT_TRUE(stream.done.load());
  });
  absl::SleepFor(absl::Milliseconds(50));
  stream.release.Notify();
  finisher.join();
}

}  // namespace
}  // namespace desfired::server
