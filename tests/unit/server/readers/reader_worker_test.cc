#include "server/readers/reader_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "core/apdu/status_payload.h"

namespace desfired::server {
namespace {

// Long enough never to fire on a healthy run; only bounds a broken one.
constexpr absl::Duration kWait = absl::Seconds(30);

std::string ReasonOf(const absl::Status& status) { return apdu::GetReason(status).value_or(""); }

class FakeClock {
 public:
  absl::Time Now() const {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }
  std::function<absl::Time()> Function() {
    return [this] { return Now(); };
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1'700'000'000);
};

// Collects what jobs report, from any thread.
class Recorder {
 public:
  std::function<void(absl::Status)> Done(int job) {
    return [this, job](absl::Status status) {
      absl::MutexLock lock(&mu_);
      done_.push_back({job, std::move(status)});
    };
  }
  void Ran(int job) {
    absl::MutexLock lock(&mu_);
    ran_.push_back(job);
    threads_.push_back(std::this_thread::get_id());
  }
  // Waits until `n` jobs have called done.
  bool WaitForDone(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait);
  }
  std::vector<std::pair<int, absl::Status>> done() const {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  std::vector<int> ran() const {
    absl::MutexLock lock(&mu_);
    return ran_;
  }
  std::vector<std::thread::id> threads() const {
    absl::MutexLock lock(&mu_);
    return threads_;
  }
  absl::Status StatusOf(int job) const {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, status] : done_) {
      if (id == job) return status;
    }
    return absl::UnknownError("no result");
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::pair<int, absl::Status>> done_ ABSL_GUARDED_BY(mu_);
  std::vector<int> ran_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
};

// The resource: touched only by the worker thread.
struct FakeCard {
  explicit FakeCard(std::thread::id* destroyed_on_thread = nullptr)
      : destroyed_on(destroyed_on_thread) {}
  ~FakeCard() {
    if (destroyed_on != nullptr) *destroyed_on = std::this_thread::get_id();
  }
  void AfterJob(const absl::Status& status) { after_job.push_back(status); }

  std::thread::id* destroyed_on;
  std::vector<absl::Status> after_job;
  int apdus = 0;
};

using Worker = ReaderWorker<FakeCard>;
using Context = JobContext<FakeCard>;

// A job that holds the worker until `release` is notified.
Worker::Job Blocker(Recorder& rec, int id, absl::Notification& started,
                    absl::Notification& release) {
  return {.body =
              [&rec, id, &started, &release](Context&) {
                rec.Ran(id);
                started.Notify();
                release.WaitForNotificationWithTimeout(kWait);
                return absl::OkStatus();
              },
          .done = rec.Done(id)};
}

Worker::Job Simple(Recorder& rec, int id, absl::Time deadline = absl::InfiniteFuture()) {
  return {.deadline = deadline,
          .body =
              [&rec, id](Context&) {
                rec.Ran(id);
                return absl::OkStatus();
              },
          .done = rec.Done(id)};
}

TEST(ReaderWorkerTest, RunsJobsInOrderOnOneThread) {
  Recorder rec;
  Worker worker("reader 0", std::make_unique<FakeCard>(), {.max_queued = 64});
  constexpr int kJobs = 50;
  for (int i = 0; i < kJobs; ++i) {
    ASSERT_TRUE(worker
                    .Submit({.body =
                                 [&rec, i](Context& job) {
                                   ++job.resource().apdus;
                                   rec.Ran(i);
                                   return absl::OkStatus();
                                 },
                             .done = rec.Done(i)})
                    .ok());
  }
  ASSERT_TRUE(rec.WaitForDone(kJobs));
  std::vector<int> expected;
  for (int i = 0; i < kJobs; ++i) expected.push_back(i);
  EXPECT_EQ(rec.ran(), expected);
  std::vector<std::thread::id> threads = rec.threads();
  for (const std::thread::id& t : threads) EXPECT_EQ(t, threads.front());
  EXPECT_NE(threads.front(), std::this_thread::get_id());
  for (const auto& [id, status] : rec.done()) EXPECT_TRUE(status.ok()) << id << ": " << status;

  // The resource saw every job, and AfterJob ran after each of them.
  std::atomic<int> apdus{0};
  std::atomic<size_t> after_jobs{0};
  ASSERT_TRUE(worker
                  .Submit({.body =
                               [&](Context& job) {
                                 apdus = job.resource().apdus;
                                 after_jobs = job.resource().after_job.size();
                                 return absl::OkStatus();
                               },
                           .done = rec.Done(kJobs)})
                  .ok());
  ASSERT_TRUE(rec.WaitForDone(kJobs + 1));
  EXPECT_EQ(apdus, kJobs);
  EXPECT_EQ(after_jobs, static_cast<size_t>(kJobs));
}

TEST(ReaderWorkerTest, DoneCarriesTheBodyStatus) {
  Recorder rec;
  Worker worker("reader 0", std::make_unique<FakeCard>());
  ASSERT_TRUE(worker
                  .Submit({.body = [](Context&) { return apdu::CardRemovedError("card left"); },
                           .done = rec.Done(1)})
                  .ok());
  ASSERT_TRUE(rec.WaitForDone(1));
  EXPECT_EQ(rec.StatusOf(1).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(rec.StatusOf(1)), "CARD_REMOVED");
}

TEST(ReaderWorkerTest, FullQueueReturnsResourceExhausted) {
  Recorder rec;
  absl::Notification started, release;
  Worker worker("ACS ACR122U 00 00", std::make_unique<FakeCard>(), {.max_queued = 2});
  ASSERT_TRUE(worker.Submit(Blocker(rec, 0, started, release)).ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  // The running job does not count: two more may wait.
  ASSERT_TRUE(worker.Submit(Simple(rec, 1)).ok());
  ASSERT_TRUE(worker.Submit(Simple(rec, 2)).ok());
  EXPECT_EQ(worker.queued(), 2u);

  absl::Status full = worker.Submit(Simple(rec, 3));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(full), "QUEUE_FULL");
  EXPECT_NE(full.message().find("ACS ACR122U 00 00"), absl::string_view::npos) << full;

  release.Notify();
  ASSERT_TRUE(rec.WaitForDone(3));
  // The rejected job never ran and its done was never called.
  EXPECT_EQ(rec.ran(), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(rec.StatusOf(3).code(), absl::StatusCode::kUnknown);

  // Room again once the queue drained.
  ASSERT_TRUE(worker.Submit(Simple(rec, 4)).ok());
  ASSERT_TRUE(rec.WaitForDone(4));
  EXPECT_TRUE(rec.StatusOf(4).ok());
}

TEST(ReaderWorkerTest, JobWhoseDeadlinePassedWhileQueuedDoesNotRun) {
  FakeClock clock;
  Recorder rec;
  absl::Notification started, release;
  Worker worker("reader 0", std::make_unique<FakeCard>(), {.clock = clock.Function()});
  ASSERT_TRUE(worker.Submit(Blocker(rec, 0, started, release)).ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(worker.Submit(Simple(rec, 1, clock.Now() + absl::Seconds(1))).ok());
  ASSERT_TRUE(worker.Submit(Simple(rec, 2, clock.Now() + absl::Hours(1))).ok());

  clock.Advance(absl::Seconds(2));
  release.Notify();
  ASSERT_TRUE(rec.WaitForDone(3));
  EXPECT_EQ(rec.StatusOf(1).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(rec.StatusOf(2).ok());
  EXPECT_EQ(rec.ran(), (std::vector<int>{0, 2}));
}

TEST(ReaderWorkerTest, SubmitAfterTheDeadlineFailsAtOnce) {
  FakeClock clock;
  Recorder rec;
  Worker worker("reader 0", std::make_unique<FakeCard>(), {.clock = clock.Function()});
  absl::Status s = worker.Submit(Simple(rec, 1, clock.Now()));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(rec.done().empty());
}

TEST(ReaderWorkerTest, CheckAliveReportsTheDeadlineMidJob) {
  FakeClock clock;
  Recorder rec;
  std::atomic<int> apdus_sent{0};
  Worker worker("reader 0", std::make_unique<FakeCard>(), {.clock = clock.Function()});
  ASSERT_TRUE(worker
                  .Submit({.deadline = clock.Now() + absl::Seconds(1),
                           .body = [&](Context& job) -> absl::Status {
                             for (int apdu = 0; apdu < 3; ++apdu) {
                               if (absl::Status alive = job.CheckAlive(); !alive.ok()) {
                                 return alive;
                               }
                               ++apdus_sent;  // one exchange with the card
                               clock.Advance(absl::Milliseconds(600));
                             }
                             return absl::OkStatus();
                           },
                           .done = rec.Done(1)})
                  .ok());
  ASSERT_TRUE(rec.WaitForDone(1));
  EXPECT_EQ(rec.StatusOf(1).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(apdus_sent, 2);

  // AfterJob saw the failure (this is where an open transaction is aborted).
  std::vector<absl::Status> after;
  ASSERT_TRUE(worker
                  .Submit({.body =
                               [&after](Context& job) {
                                 after = job.resource().after_job;
                                 return absl::OkStatus();
                               },
                           .done = rec.Done(2)})
                  .ok());
  ASSERT_TRUE(rec.WaitForDone(2));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0].code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ReaderWorkerTest, CancellationProbeStopsTheJobBetweenApdus) {
  Recorder rec;
  std::atomic<bool> client_gone{false};
  std::atomic<int> apdus_sent{0};
  Worker worker("reader 0", std::make_unique<FakeCard>());
  ASSERT_TRUE(worker
                  .Submit({.is_cancelled = [&client_gone] { return client_gone.load(); },
                           .body = [&](Context& job) -> absl::Status {
                             for (int apdu = 0; apdu < 5; ++apdu) {
                               if (absl::Status alive = job.CheckAlive(); !alive.ok()) {
                                 return alive;
                               }
                               if (++apdus_sent == 2) client_gone = true;
                             }
                             return absl::OkStatus();
                           },
                           .done = rec.Done(1)})
                  .ok());
  ASSERT_TRUE(rec.WaitForDone(1));
  EXPECT_EQ(rec.StatusOf(1).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(apdus_sent, 2);
}

TEST(ReaderWorkerTest, JobCancelledWhileQueuedDoesNotRun) {
  Recorder rec;
  absl::Notification started, release;
  std::atomic<bool> client_gone{false};
  Worker worker("reader 0", std::make_unique<FakeCard>());
  ASSERT_TRUE(worker.Submit(Blocker(rec, 0, started, release)).ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  Worker::Job job = Simple(rec, 1);
  job.is_cancelled = [&client_gone] { return client_gone.load(); };
  ASSERT_TRUE(worker.Submit(std::move(job)).ok());
  ASSERT_TRUE(worker.Submit(Simple(rec, 2)).ok());

  client_gone = true;
  release.Notify();
  ASSERT_TRUE(rec.WaitForDone(3));
  EXPECT_EQ(rec.StatusOf(1).code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(rec.StatusOf(2).ok());
  EXPECT_EQ(rec.ran(), (std::vector<int>{0, 2}));
}

TEST(ReaderWorkerTest, ShutdownWaitsForQueuedJobsWithinTheGracePeriod) {
  Recorder rec;
  absl::Notification started, release;
  Worker worker("reader 0", std::make_unique<FakeCard>());
  ASSERT_TRUE(worker.Submit(Blocker(rec, 0, started, release)).ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(worker.Submit(Simple(rec, i)).ok());

  // Shutdown blocks until the queue is drained: call it from another thread, then let the
  // running job finish (in either order the result is the same).
  std::thread stopper([&worker] { worker.Shutdown(absl::Hours(1)); });
  release.Notify();
  stopper.join();

  EXPECT_EQ(rec.done().size(), 4u);
  for (int i = 0; i <= 3; ++i) EXPECT_TRUE(rec.StatusOf(i).ok()) << i;
  absl::Status late = worker.Submit(Simple(rec, 9));
  EXPECT_EQ(late.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(late), "SHUTTING_DOWN");
}

TEST(ReaderWorkerTest, ShutdownFailsJobsLeftWhenTheGracePeriodEnds) {
  FakeClock clock;
  Recorder rec;
  absl::Status alive_after_grace;
  Worker worker("reader 0", std::make_unique<FakeCard>(), {.clock = clock.Function()});
  absl::Notification started, release;
  // The first job starts the shutdown itself (so that it happens before the queue drains),
  // and the grace period runs out while it works.
  ASSERT_TRUE(worker
                  .Submit({.body =
                               [&](Context& job) {
                                 started.Notify();
                                 release.WaitForNotificationWithTimeout(kWait);
                                 worker.Shutdown(absl::Seconds(10));
                                 EXPECT_TRUE(job.CheckAlive().ok());
                                 clock.Advance(absl::Seconds(11));
                                 alive_after_grace = job.CheckAlive();
                                 return alive_after_grace;
                               },
                           .done = rec.Done(0)})
                  .ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kWait));
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(worker.Submit(Simple(rec, i)).ok());
  release.Notify();
  worker.Shutdown(absl::Hours(1));  // does not extend the grace period; waits for the thread

  EXPECT_EQ(alive_after_grace.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(alive_after_grace), "SHUTTING_DOWN");
  EXPECT_EQ(rec.done().size(), 4u);
  for (int i = 1; i <= 3; ++i) {
    EXPECT_EQ(rec.StatusOf(i).code(), absl::StatusCode::kUnavailable) << i;
    EXPECT_EQ(ReasonOf(rec.StatusOf(i)), "SHUTTING_DOWN") << i;
  }
  EXPECT_TRUE(rec.ran().empty());
}

TEST(ReaderWorkerTest, DestructorReleasesTheResourceOnTheWorkerThread) {
  Recorder rec;
  std::thread::id destroyed_on;
  auto worker = std::make_unique<Worker>("reader 0", std::make_unique<FakeCard>(&destroyed_on));
  ASSERT_TRUE(worker->Submit(Simple(rec, 1)).ok());
  ASSERT_TRUE(rec.WaitForDone(1));
  worker.reset();
  EXPECT_EQ(destroyed_on, rec.threads().front());
  EXPECT_NE(destroyed_on, std::this_thread::get_id());
}

TEST(ReaderWorkerTest, ShutdownIsIdempotentAndSafeFromManyThreads) {
  Recorder rec;
  Worker worker("reader 0", std::make_unique<FakeCard>());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(worker.Submit(Simple(rec, i)).ok());
  std::vector<std::thread> stoppers;
  for (int i = 0; i < 4; ++i) {
    stoppers.emplace_back([&worker] { worker.Shutdown(absl::Hours(1)); });
  }
  for (std::thread& t : stoppers) t.join();
  worker.Shutdown(absl::ZeroDuration());
  EXPECT_EQ(rec.done().size(), 5u);
}

TEST(ReaderWorkerTest, DoneMaySubmitTheNextJob) {
  Recorder rec;
  Worker worker("reader 0", std::make_unique<FakeCard>());
  ASSERT_TRUE(
      worker
          .Submit({.body = [](Context&) { return absl::OkStatus(); },
                   .done = [&](absl::Status) { EXPECT_TRUE(worker.Submit(Simple(rec, 2)).ok()); }})
          .ok());
  ASSERT_TRUE(rec.WaitForDone(1));
  EXPECT_TRUE(rec.StatusOf(2).ok());
}

TEST(ReaderWorkerTest, RejectsJobsWithoutBodyOrDone) {
  Worker worker("reader 0", std::make_unique<FakeCard>());
  EXPECT_EQ(worker.Submit({.done = [](absl::Status) {}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(worker.Submit({.body = [](Context&) { return absl::OkStatus(); }}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ReaderWorkerTest, ManyThreadsSubmitConcurrently) {
  Recorder rec;
  Worker worker("reader 0", std::make_unique<FakeCard>(), {.max_queued = 1000});
  constexpr int kThreads = 4, kPerThread = 100;
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t) {
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int id = t * kPerThread + i;
        EXPECT_TRUE(worker
                        .Submit({.body =
                                     [&rec, id](Context& job) {
                                       ++job.resource().apdus;
                                       rec.Ran(id);
                                       return absl::OkStatus();
                                     },
                                 .done = rec.Done(id)})
                        .ok());
      }
    });
  }
  for (std::thread& t : submitters) t.join();
  ASSERT_TRUE(rec.WaitForDone(kThreads * kPerThread));
  // Each submitter's jobs ran in its submission order.
  std::vector<int> last(kThreads, -1);
  for (int id : rec.ran()) {
    EXPECT_GT(id % kPerThread, last[id / kPerThread]);
    last[id / kPerThread] = id % kPerThread;
  }
}

}  // namespace
}  // namespace desfired::server
