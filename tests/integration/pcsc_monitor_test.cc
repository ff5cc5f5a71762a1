// ReaderMonitor (core/pcsc/monitor.h) against a real, sandboxed pcscd with vpcd readers and
// desfire-sim cards: the snapshot, insert/remove events with ATR and UID, two readers,
// prompt cancellation, and events after pcscd was killed and started again.
//
// Every wait has a time-out (shared/PCSC_TESTING.md: events within ~800 ms); nothing sleeps.
// One sandbox per process (libpcsclite reads PCSCLITE_CSOCK_NAME once): ctest runs each test
// in its own process.
#include <atomic>
#include <csignal>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "core/pcsc/monitor.h"
#include "core/pcsc/pcsc.h"
#include "core/util/bytes.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"

namespace desfired {
namespace {

using pcsc::ReaderEvent;
using pcsc::ReaderMonitor;
using Kind = ReaderEvent::Kind;

constexpr absl::Duration kEventTimeout = absl::Seconds(3);
constexpr absl::Duration kRestartTimeout = absl::Seconds(5);
constexpr char kDesfireAtr[] = "3b8180018080";
constexpr char kTransitUid[] = "04a1b2c3d4e5f6";  // sim/images/transit.json
constexpr char kBlankUid[] = "04063f72633480";    // sim/images/blank.json
const std::string kImages = std::string(SOURCE_DIR) + "/sim/images/";

std::string Describe(const ReaderEvent& e) {
  return absl::StrCat(pcsc::ReaderEventKindName(e.kind), " ", e.reader, " atr=", HexEncode(e.atr),
                      " uid=", HexEncode(e.uid), e.snapshot ? " (snapshot)" : "");
}

// Collects the monitor's events; tests wait for the next matching one.
class EventLog {
 public:
  ReaderMonitor::Callback Callback() {
    return [this](const ReaderEvent& e) {
      absl::MutexLock lock(&mu_);
      events_.push_back(e);
    };
  }

  // Waits for the first event of `kind` on `reader` at or after position *cursor, and moves
  // the cursor past it.
  absl::StatusOr<ReaderEvent> Next(Kind kind, const std::string& reader, size_t* cursor,
                                   absl::Duration timeout = kEventTimeout) {
    absl::MutexLock lock(&mu_);
    size_t found = 0;
    auto match = [&]() {
      for (size_t i = *cursor; i < events_.size(); ++i) {
        if (events_[i].kind == kind && events_[i].reader == reader) {
          found = i;
          return true;
        }
      }
      return false;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&match), timeout)) {
      return absl::DeadlineExceededError(absl::StrCat("no ", pcsc::ReaderEventKindName(kind),
                                                      " on ", reader, "; saw:\n", DumpLocked()));
    }
    *cursor = found + 1;
    return events_[found];
  }

  std::vector<ReaderEvent> Events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  std::string Dump() const {
    absl::MutexLock lock(&mu_);
    return DumpLocked();
  }

 private:
  std::string DumpLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string out;
    for (const ReaderEvent& e : events_) absl::StrAppend(&out, "  ", Describe(e), "\n");
    return out;
  }
  mutable absl::Mutex mu_;
  std::vector<ReaderEvent> events_ ABSL_GUARDED_BY(mu_);
};

class PcscMonitorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::SandboxOptions options;
    options.sim_binary = DESFIRE_SIM;
    auto sandbox = testing::PcscSandbox::Start(options);
    if (sandbox.status().code() == absl::StatusCode::kPermissionDenied) {
      GTEST_SKIP() << "needs root: " << sandbox.status();
    }
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = std::move(*sandbox);
    ASSERT_TRUE(sandbox_->WaitForReaders(2, kEventTimeout).ok());
  }

  void StartCard(int reader, const std::string& image) {
    ASSERT_TRUE(sandbox_->StartCard(reader, kImages + image).ok());
    ASSERT_TRUE(sandbox_->WaitForCard(reader, true, kEventTimeout).ok());
  }

  void StartMonitor(ReaderMonitor::Options options = {}) {
    auto monitor = ReaderMonitor::Start(options, log_.Callback());
    ASSERT_TRUE(monitor.ok()) << monitor.status();
    monitor_ = std::move(*monitor);
  }

  std::string Reader(int i) const { return sandbox_->ReaderName(i); }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  EventLog log_;
  // Declared after the log: destroyed (stopped) first.
  std::unique_ptr<ReaderMonitor> monitor_;
};

TEST_F(PcscMonitorTest, SnapshotListsReadersAndCards) {
  StartCard(0, "transit.json");
  StartMonitor();
  // Start returns once the snapshot has been delivered.
  const std::vector<ReaderEvent> events = log_.Events();
  ASSERT_EQ(events.size(), 3u) << log_.Dump();
  EXPECT_EQ(events[0].kind, Kind::kReaderAdded);
  EXPECT_EQ(events[0].reader, Reader(0));
  EXPECT_EQ(events[1].kind, Kind::kReaderAdded);
  EXPECT_EQ(events[1].reader, Reader(1));
  EXPECT_EQ(events[2].kind, Kind::kCardInserted);
  EXPECT_EQ(events[2].reader, Reader(0));
  EXPECT_EQ(HexEncode(events[2].atr), kDesfireAtr);
  EXPECT_EQ(HexEncode(events[2].uid), kTransitUid);
  for (const ReaderEvent& e : events) {
    EXPECT_TRUE(e.snapshot) << Describe(e);
    EXPECT_LE(e.time, absl::Now());
  }

  const std::vector<pcsc::ReaderState> readers = monitor_->Readers();
  ASSERT_EQ(readers.size(), 2u);
  EXPECT_EQ(readers[0].reader, Reader(0));
  EXPECT_TRUE(readers[0].card_present);
  EXPECT_EQ(HexEncode(readers[0].uid), kTransitUid);
  EXPECT_EQ(readers[1].reader, Reader(1));
  EXPECT_FALSE(readers[1].card_present);
  EXPECT_TRUE(monitor_->service_available());
}

TEST_F(PcscMonitorTest, InsertAndRemoveEvents) {
  StartMonitor();
  size_t cursor = log_.Events().size();
  ASSERT_EQ(cursor, 2u) << log_.Dump();  // two readers, no card

  ASSERT_TRUE(sandbox_->StartCard(0, kImages + "transit.json").ok());
  auto inserted = log_.Next(Kind::kCardInserted, Reader(0), &cursor);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(HexEncode(inserted->atr), kDesfireAtr);
  EXPECT_EQ(HexEncode(inserted->uid), kTransitUid);
  EXPECT_FALSE(inserted->snapshot);

  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  auto removed = log_.Next(Kind::kCardRemoved, Reader(0), &cursor);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_TRUE(removed->atr.empty());
  EXPECT_GE(removed->time, inserted->time);
  EXPECT_FALSE(monitor_->Readers()[0].card_present);

  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  auto again = log_.Next(Kind::kCardInserted, Reader(0), &cursor);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(HexEncode(again->uid), kTransitUid);

  // Nothing but these card events on reader 0.
  for (const ReaderEvent& e : log_.Events()) {
    if (e.snapshot) continue;
    EXPECT_EQ(e.reader, Reader(0)) << Describe(e);
    EXPECT_TRUE(e.kind == Kind::kCardInserted || e.kind == Kind::kCardRemoved) << Describe(e);
  }
}

TEST_F(PcscMonitorTest, TwoReadersAreReportedApart) {
  StartCard(0, "transit.json");
  StartCard(1, "blank.json");
  StartMonitor();
  size_t cursor = 0;
  auto first = log_.Next(Kind::kCardInserted, Reader(0), &cursor);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(HexEncode(first->uid), kTransitUid);
  cursor = 0;
  auto second = log_.Next(Kind::kCardInserted, Reader(1), &cursor);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(HexEncode(second->uid), kBlankUid);
  EXPECT_EQ(HexEncode(second->atr), kDesfireAtr);
  EXPECT_TRUE(second->snapshot);

  cursor = log_.Events().size();
  ASSERT_TRUE(sandbox_->Control(1, "remove").ok());
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(1), &cursor).ok()) << log_.Dump();
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(0), &cursor).ok()) << log_.Dump();
  ASSERT_TRUE(sandbox_->Control(1, "insert").ok());
  auto back = log_.Next(Kind::kCardInserted, Reader(1), &cursor);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(HexEncode(back->uid), kBlankUid);

  const std::vector<pcsc::ReaderState> readers = monitor_->Readers();
  ASSERT_EQ(readers.size(), 2u);
  EXPECT_FALSE(readers[0].card_present);
  EXPECT_TRUE(readers[1].card_present);
}

// A program (or a desfired worker) connecting, transmitting and disconnecting changes the
// reader state (INUSE, EXCLUSIVE) but is no card event.
TEST_F(PcscMonitorTest, ConnectionsAreNotCardEvents) {
  StartCard(0, "transit.json");
  StartMonitor();
  size_t cursor = log_.Events().size();
  {
    auto context = pcsc::PcscContext::Create();
    ASSERT_TRUE(context.ok()) << context.status();
    for (pcsc::ShareMode mode : {pcsc::ShareMode::kExclusive, pcsc::ShareMode::kShared}) {
      auto card = (*context)->Connect(Reader(0), mode);
      ASSERT_TRUE(card.ok()) << card.status();
      auto reply = (*card)->Transmit({0x90, 0x60, 0x00, 0x00, 0x00});
      ASSERT_TRUE(reply.ok()) << reply.status();
    }
  }
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(0), &cursor).ok()) << log_.Dump();
  EXPECT_EQ(log_.Events().size(), 4u) << log_.Dump();  // snapshot (3) + the removal
}

// A card held exclusively by another program is reported with its ATR but without UID.
TEST_F(PcscMonitorTest, UidIsEmptyWhileTheCardIsHeldExclusively) {
  StartCard(0, "transit.json");
  auto context = pcsc::PcscContext::Create();
  ASSERT_TRUE(context.ok()) << context.status();
  auto card = (*context)->Connect(Reader(0));
  ASSERT_TRUE(card.ok()) << card.status();
  StartMonitor();
  size_t cursor = 0;
  auto inserted = log_.Next(Kind::kCardInserted, Reader(0), &cursor);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(HexEncode(inserted->atr), kDesfireAtr);
  EXPECT_TRUE(inserted->uid.empty()) << HexEncode(inserted->uid);
}

// A UID read that fails (the reader answers GET DATA with an error, as while pcscd restarts) is
// tried again at once: the insertion carries the UID.
TEST_F(PcscMonitorTest, FailedUidReadIsRetried) {
  ASSERT_TRUE(sandbox_->StartCard(0, kImages + "transit.json", {"--removed"}).ok());
  StartMonitor();
  size_t cursor = log_.Events().size();
  ASSERT_TRUE(sandbox_->Control(0, "failuid 2").ok());
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  auto inserted = log_.Next(Kind::kCardInserted, Reader(0), &cursor);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_EQ(HexEncode(inserted->uid), kTransitUid);
  EXPECT_EQ(inserted->uid_unknown_reason, "");
}

// A UID that cannot be read at the insertion is reported as unknown, with the reason, and read
// again while the card stays: CARD_UPDATED carries it, and Readers() has it.
TEST_F(PcscMonitorTest, UnknownUidIsReadAgainWhileTheCardStays) {
  ASSERT_TRUE(sandbox_->StartCard(0, kImages + "transit.json", {"--removed"}).ok());
  ReaderMonitor::Options options;
  options.uid_reread_first = absl::Milliseconds(200);
  StartMonitor(options);
  size_t cursor = log_.Events().size();
  ASSERT_TRUE(sandbox_->Control(0, "failuid 1000000").ok());
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  auto inserted = log_.Next(Kind::kCardInserted, Reader(0), &cursor);
  ASSERT_TRUE(inserted.ok()) << inserted.status();
  EXPECT_TRUE(inserted->uid.empty()) << HexEncode(inserted->uid);
  EXPECT_EQ(inserted->uid_unknown_reason.rfind("UID unknown: ", 0), 0u)
      << inserted->uid_unknown_reason;
  std::vector<pcsc::ReaderState> readers = monitor_->Readers();
  ASSERT_FALSE(readers.empty());
  EXPECT_TRUE(readers[0].card_present);
  EXPECT_FALSE(readers[0].uid_unknown_reason.empty());

  ASSERT_TRUE(sandbox_->Control(0, "failuid 0").ok());  // the reader reads UIDs again
  auto updated = log_.Next(Kind::kCardUpdated, Reader(0), &cursor);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(HexEncode(updated->uid), kTransitUid);
  EXPECT_EQ(HexEncode(updated->atr), kDesfireAtr);
  readers = monitor_->Readers();
  EXPECT_EQ(HexEncode(readers[0].uid), kTransitUid);
  EXPECT_EQ(readers[0].uid_unknown_reason, "");
  // Nothing else happened to the card.
  for (const ReaderEvent& e : log_.Events()) {
    if (e.reader == Reader(0) && !e.snapshot) {
      EXPECT_NE(e.kind, Kind::kCardRemoved) << log_.Dump();
    }
  }
}

// A card that never answers GET DATA: SCardTransmit has no time-out, so the read runs on a
// helper thread; the monitor reports the card without UID and carries on.
TEST_F(PcscMonitorTest, HungCardDoesNotStallTheMonitor) {
  ASSERT_TRUE(sandbox_->StartCard(0, kImages + "transit.json", {"--removed"}).ok());
  ASSERT_TRUE(sandbox_->StartCard(1, kImages + "blank.json", {"--removed"}).ok());
  ReaderMonitor::Options options;
  options.uid_timeout = absl::Milliseconds(200);
  StartMonitor(options);
  size_t cursor = log_.Events().size();
  ASSERT_TRUE(sandbox_->Control(0, "hang 1").ok());  // the first APDU is never answered
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  auto hung = log_.Next(Kind::kCardInserted, Reader(0), &cursor);
  ASSERT_TRUE(hung.ok()) << hung.status();
  EXPECT_EQ(HexEncode(hung->atr), kDesfireAtr);
  EXPECT_TRUE(hung->uid.empty());
  // The other reader of the same pcscd keeps working, and so does the monitor.
  ASSERT_TRUE(sandbox_->Control(1, "insert").ok());
  auto other = log_.Next(Kind::kCardInserted, Reader(1), &cursor);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(HexEncode(other->uid), kBlankUid);
  // Removing the hung card releases the reader.
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  size_t c0 = 0;
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(0), &c0).ok()) << log_.Dump();
  const absl::Time start = absl::Now();
  monitor_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// Stop from inside the callback only asks the thread to end; the destructor joins it.
TEST_F(PcscMonitorTest, StopFromTheCallback) {
  StartCard(0, "transit.json");
  std::atomic<ReaderMonitor*> self{nullptr};
  std::atomic<int> after_stop{0};
  std::atomic<bool> stopped{false};
  auto monitor = ReaderMonitor::Start([&](const ReaderEvent& e) {
    if (stopped) ++after_stop;
    if (e.kind == Kind::kCardRemoved && self != nullptr) {
      self.load()->Stop();
      stopped = true;
    }
  });
  ASSERT_TRUE(monitor.ok()) << monitor.status();
  self = monitor->get();
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  ASSERT_TRUE(sandbox_->WaitForCard(0, false, kEventTimeout).ok());
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  ASSERT_TRUE(sandbox_->WaitForCard(0, true, kEventTimeout).ok());
  const absl::Time start = absl::Now();
  monitor->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_TRUE(stopped);
  EXPECT_EQ(after_stop, 0);
}

// Stop must not depend on the wait's time-out: with a 60 s wait only SCardCancel gets the
// thread out. Starting and stopping at once exercises a cancel that arrives before the wait.
TEST_F(PcscMonitorTest, StopReturnsPromptly) {
  StartCard(0, "transit.json");
  ReaderMonitor::Options options;
  options.relist_interval = absl::Seconds(60);
  for (int i = 0; i < 10; ++i) {
    EventLog log;
    auto monitor = ReaderMonitor::Start(options, log.Callback());
    ASSERT_TRUE(monitor.ok()) << monitor.status();
    const absl::Time start = absl::Now();
    (*monitor)->Stop();
    EXPECT_LT(absl::Now() - start, absl::Seconds(1)) << "round " << i;
    (*monitor)->Stop();  // idempotent
  }

  // Stopped in the middle of a wait, and by the destructor.
  StartMonitor(options);
  size_t cursor = log_.Events().size();
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(0), &cursor).ok()) << log_.Dump();
  const absl::Time start = absl::Now();
  monitor_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// While pcscd is away the monitor backs off; Stop still returns at once.
TEST_F(PcscMonitorTest, StopWhilePcscdIsAway) {
  StartCard(0, "transit.json");
  ReaderMonitor::Options options;
  options.first_backoff = absl::Seconds(30);
  options.max_backoff = absl::Seconds(30);
  StartMonitor(options);
  size_t cursor = log_.Events().size();
  ASSERT_TRUE(sandbox_->KillPcscd().ok());
  // The monitor reports the card gone when it notices pcscd went away.
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(0), &cursor).ok()) << log_.Dump();
  EXPECT_FALSE(monitor_->service_available());
  const absl::Time start = absl::Now();
  monitor_->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// pcscd not running at Start: the monitor starts anyway (its snapshot is the outage), and
// reports pcscd, its readers and cards when pcscd comes; an outage later is reported too.
TEST_F(PcscMonitorTest, StartsWithoutPcscdAndReportsTheService) {
  StartCard(0, "transit.json");
  ASSERT_TRUE(sandbox_->KillPcscd().ok());
  StartMonitor();
  std::vector<ReaderEvent> events = log_.Events();
  ASSERT_EQ(events.size(), 1u) << log_.Dump();
  EXPECT_EQ(events[0].kind, Kind::kServiceLost);
  EXPECT_TRUE(events[0].snapshot);
  EXPECT_FALSE(monitor_->service_available());

  size_t cursor = 1;
  ASSERT_TRUE(sandbox_->StartPcscd().ok());
  ASSERT_TRUE(log_.Next(Kind::kServiceRestored, "", &cursor, kRestartTimeout).ok()) << log_.Dump();
  auto back = log_.Next(Kind::kCardInserted, Reader(0), &cursor, kRestartTimeout);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(HexEncode(back->uid), kTransitUid);
  EXPECT_TRUE(monitor_->service_available());

  ASSERT_TRUE(sandbox_->KillPcscd().ok());
  ASSERT_TRUE(log_.Next(Kind::kServiceLost, "", &cursor).ok()) << log_.Dump();
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(0), &cursor).ok()) << log_.Dump();
  EXPECT_FALSE(monitor_->service_available());
}

TEST_F(PcscMonitorTest, EventsContinueAfterPcscdRestart) {
  StartCard(0, "transit.json");
  StartMonitor();
  size_t cursor = log_.Events().size();
  ASSERT_EQ(cursor, 3u) << log_.Dump();

  ASSERT_TRUE(sandbox_->RestartPcscd(SIGKILL).ok());
  // The card's connection died with pcscd: removed, then back once the new pcscd sees it.
  auto removed = log_.Next(Kind::kCardRemoved, Reader(0), &cursor);
  ASSERT_TRUE(removed.ok()) << removed.status();
  auto back = log_.Next(Kind::kCardInserted, Reader(0), &cursor, kRestartTimeout);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(HexEncode(back->atr), kDesfireAtr);
  EXPECT_EQ(HexEncode(back->uid), kTransitUid);
  EXPECT_FALSE(back->snapshot);
  EXPECT_GE(monitor_->reestablished(), 1);
  EXPECT_TRUE(monitor_->service_available());

  // And the monitor keeps going on the new pcscd, on both readers.
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(0), &cursor).ok()) << log_.Dump();
  ASSERT_TRUE(sandbox_->StartCard(1, kImages + "blank.json").ok());
  auto other = log_.Next(Kind::kCardInserted, Reader(1), &cursor);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(HexEncode(other->uid), kBlankUid);

  const std::vector<pcsc::ReaderState> readers = monitor_->Readers();
  ASSERT_EQ(readers.size(), 2u) << log_.Dump();
  EXPECT_FALSE(readers[0].card_present);
  EXPECT_TRUE(readers[1].card_present);
}

// A second restart, this time a clean one (SIGTERM), while a card is on each reader.
TEST_F(PcscMonitorTest, EventsContinueAfterTwoRestarts) {
  StartCard(0, "transit.json");
  StartCard(1, "blank.json");
  StartMonitor();
  size_t cursor = log_.Events().size();
  for (int sig : {SIGTERM, SIGKILL}) {
    ASSERT_TRUE(sandbox_->RestartPcscd(sig).ok()) << sig;
    for (int reader : {0, 1}) {
      size_t c = cursor;
      ASSERT_TRUE(log_.Next(Kind::kCardRemoved, Reader(reader), &c).ok()) << log_.Dump();
      auto back = log_.Next(Kind::kCardInserted, Reader(reader), &c, kRestartTimeout);
      ASSERT_TRUE(back.ok()) << back.status();
    }
    cursor = log_.Events().size();
  }
  EXPECT_GE(monitor_->reestablished(), 2);
  const std::vector<pcsc::ReaderState> readers = monitor_->Readers();
  ASSERT_EQ(readers.size(), 2u) << log_.Dump();
  EXPECT_EQ(HexEncode(readers[0].uid), kTransitUid);
  EXPECT_EQ(HexEncode(readers[1].uid), kBlankUid);
}

}  // namespace
}  // namespace desfired
