#include "server/readers/event_hub.h"

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

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

CardEvent ReaderAdded(const std::string& reader) {
  return {.kind = CardEventKind::kReaderAdded, .reader = reader, .time = kT0};
}
CardEvent ReaderRemoved(const std::string& reader) {
  return {.kind = CardEventKind::kReaderRemoved, .reader = reader, .time = kT0};
}
CardEvent CardInserted(const std::string& reader, uint8_t uid_tag) {
  return {.kind = CardEventKind::kCardInserted,
          .reader = reader,
          .uid = {0x04, uid_tag, 0x22, 0x33, 0x44, 0x55, 0x66},
          .atr = {0x3b, 0x81, 0x80, 0x01, 0x80, 0x80},
          .time = kT0 + absl::Seconds(uid_tag)};
}
CardEvent CardRemoved(const std::string& reader) {
  return {.kind = CardEventKind::kCardRemoved, .reader = reader, .time = kT0};
}

std::unique_ptr<Subscription> MustSubscribe(EventHub& hub,
                                            std::optional<uint64_t> resume_after = std::nullopt) {
  absl::StatusOr<std::unique_ptr<Subscription>> sub = hub.Subscribe(resume_after);
  EXPECT_TRUE(sub.ok()) << sub.status();
  return sub.ok() ? *std::move(sub) : nullptr;
}

// The next item, which must be an event; its sequence (0 on failure).
uint64_t NextEventSequence(Subscription& sub) {
  absl::StatusOr<WatchItem> item = sub.Next(kWait);
  EXPECT_TRUE(item.ok()) << item.status();
  if (!item.ok()) return 0;
  EXPECT_FALSE(item->is_snapshot());
  return item->event ? item->event->sequence : 0;
}

// An item available right now, or a failure.
std::optional<WatchItem> PopNow(Subscription& sub) {
  absl::StatusOr<std::optional<WatchItem>> item = sub.TryPop();
  EXPECT_TRUE(item.ok()) << item.status();
  return item.ok() ? *item : std::nullopt;
}

TEST(CardEventTest, KindNames) {
  EXPECT_EQ(CardEventKindName(CardEventKind::kReaderAdded), "READER_ADDED");
  EXPECT_EQ(CardEventKindName(CardEventKind::kReaderRemoved), "READER_REMOVED");
  EXPECT_EQ(CardEventKindName(CardEventKind::kCardInserted), "CARD_INSERTED");
  EXPECT_EQ(CardEventKindName(CardEventKind::kCardRemoved), "CARD_REMOVED");
  EXPECT_EQ(CardEventKindName(CardEventKind::kCardUpdated), "CARD_UPDATED");
}

// pcscd's outage and return are events of the hub; the snapshot in between says so, and keeps
// the readers as last known.
TEST(EventHubTest, PcscOutageIsInTheSnapshot) {
  EventHub hub;
  hub.Publish(ReaderAdded("r0"));
  EXPECT_TRUE(hub.Snapshot()->pcsc_available);
  EXPECT_GT(hub.Publish({.kind = CardEventKind::kPcscUnavailable, .time = kT0}), 0u);
  EXPECT_FALSE(hub.Snapshot()->pcsc_available);
  EXPECT_EQ(hub.Snapshot()->readers.size(), 1u);
  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  absl::StatusOr<WatchItem> first = sub->Next(kWait);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->is_snapshot());
  EXPECT_FALSE(first->snapshot->pcsc_available);
  hub.Publish({.kind = CardEventKind::kPcscAvailable, .time = kT0});
  absl::StatusOr<WatchItem> back = sub->Next(kWait);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_FALSE(back->is_snapshot());
  EXPECT_EQ(back->event->kind, CardEventKind::kPcscAvailable);
  EXPECT_TRUE(hub.Snapshot()->pcsc_available);
  EXPECT_EQ(CardEventKindName(CardEventKind::kPcscUnavailable), "PCSC_UNAVAILABLE");
}

// A card call's outcome (CHANGE) is numbered and kept like the card events, and resumed from
// the same history; it changes no state: the snapshot after it is the one before.
TEST(EventHubTest, ChangeOutcomesAreNumberedWithTheEventsAndChangeNoState) {
  EventHub hub;
  const uint64_t added = hub.Publish(ReaderAdded("r0"));
  std::shared_ptr<const CardSnapshot> before = hub.Snapshot();
  const uint64_t change =
      hub.Publish({.kind = CardEventKind::kChange,
                   .reader = "r0",
                   .time = kT0,
                   .change = ChangeRecord{
                       .outcome = ChangeOutcome::kReplayed, .method = "Debit", .ledger_seq = 7}});
  EXPECT_EQ(change, added + 1);
  EXPECT_EQ(hub.Snapshot()->sequence, change);
  EXPECT_EQ(hub.Snapshot()->readers.size(), before->readers.size());
  EXPECT_FALSE(hub.Snapshot()->readers[0].card.has_value());
  absl::StatusOr<std::unique_ptr<Subscription>> resumed = hub.Subscribe(added);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  absl::StatusOr<WatchItem> item = (*resumed)->Next(kWait);
  ASSERT_TRUE(item.ok()) << item.status();
  ASSERT_FALSE(item->is_snapshot());
  EXPECT_EQ(item->event->sequence, change);
  EXPECT_EQ(item->event->kind, CardEventKind::kChange);
  ASSERT_TRUE(item->event->change.has_value());
  EXPECT_EQ(item->event->change->outcome, ChangeOutcome::kReplayed);
  EXPECT_EQ(item->event->change->ledger_seq, 7);
  EXPECT_EQ(CardEventKindName(CardEventKind::kChange), "CHANGE");
  EXPECT_EQ(ChangeOutcomeName(ChangeOutcome::kCommitted), "COMMITTED");
  EXPECT_EQ(ChangeOutcomeName(ChangeOutcome::kReplayed), "REPLAYED");
  EXPECT_EQ(ChangeOutcomeName(ChangeOutcome::kNotCommitted), "NOT_COMMITTED");
  EXPECT_EQ(ChangeOutcomeName(ChangeOutcome::kUnknown), "UNKNOWN");
}

TEST(EventHubTest, AssignsIncreasingSequenceNumbers) {
  EventHub hub;
  EXPECT_EQ(hub.last_sequence(), 0u);
  EXPECT_EQ(hub.Publish(ReaderAdded("r0")), 1u);
  EXPECT_EQ(hub.Publish(CardInserted("r0", 1)), 2u);
  EXPECT_EQ(hub.Publish(CardRemoved("r0")), 3u);
  EXPECT_EQ(hub.last_sequence(), 3u);

  EventHub later({.first_sequence = 1000});
  EXPECT_EQ(later.last_sequence(), 999u);
  EXPECT_EQ(later.Publish(ReaderAdded("r0")), 1000u);
  EXPECT_EQ(later.Publish(ReaderAdded("r1")), 1001u);
}

TEST(EventHubTest, SnapshotComesFirstThenLiveEvents) {
  EventHub hub;
  hub.Publish(ReaderAdded("reader B"));
  hub.Publish(ReaderAdded("reader A"));
  hub.Publish(CardInserted("reader A", 7));

  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  absl::StatusOr<WatchItem> first = sub->Next(kWait);
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->is_snapshot());
  EXPECT_EQ(first->event, nullptr);
  const CardSnapshot& snapshot = *first->snapshot;
  EXPECT_EQ(snapshot.sequence, 3u);
  ASSERT_EQ(snapshot.readers.size(), 2u);
  EXPECT_EQ(snapshot.readers[0].reader, "reader A");
  ASSERT_TRUE(snapshot.readers[0].card.has_value());
  EXPECT_EQ(snapshot.readers[0].card->uid, CardInserted("r", 7).uid);
  EXPECT_EQ(snapshot.readers[0].card->atr, CardInserted("r", 7).atr);
  EXPECT_EQ(snapshot.readers[0].card->inserted_at, kT0 + absl::Seconds(7));
  EXPECT_EQ(snapshot.readers[0].card->inserted_sequence, 3u);
  EXPECT_EQ(snapshot.readers[1].reader, "reader B");
  EXPECT_FALSE(snapshot.readers[1].card.has_value());

  // Nothing else yet.
  absl::StatusOr<std::optional<WatchItem>> none = sub->TryPop();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());

  hub.Publish(CardRemoved("reader A"));
  absl::StatusOr<WatchItem> removed = sub->Next(kWait);
  ASSERT_TRUE(removed.ok()) << removed.status();
  ASSERT_FALSE(removed->is_snapshot());
  EXPECT_EQ(removed->event->sequence, 4u);
  EXPECT_EQ(removed->event->kind, CardEventKind::kCardRemoved);
  EXPECT_EQ(removed->event->reader, "reader A");
  // The hub filled in the card that left.
  EXPECT_EQ(removed->event->uid, CardInserted("r", 7).uid);
  EXPECT_EQ(removed->event->atr, CardInserted("r", 7).atr);
}

TEST(EventHubTest, SnapshotFollowsTheEvents) {
  EventHub hub;
  EXPECT_EQ(hub.Snapshot()->sequence, 0u);
  EXPECT_TRUE(hub.Snapshot()->readers.empty());

  hub.Publish(CardInserted("r1", 1));  // a card on an unknown reader adds the reader
  hub.Publish(ReaderAdded("r2"));
  hub.Publish(CardInserted("r2", 2));
  std::shared_ptr<const CardSnapshot> s = hub.Snapshot();
  EXPECT_EQ(s->sequence, 3u);
  ASSERT_EQ(s->readers.size(), 2u);
  EXPECT_TRUE(s->readers[0].card.has_value());
  EXPECT_TRUE(s->readers[1].card.has_value());

  hub.Publish(ReaderRemoved("r1"));  // its card goes with it
  hub.Publish(CardRemoved("r2"));
  s = hub.Snapshot();
  EXPECT_EQ(s->sequence, 5u);
  ASSERT_EQ(s->readers.size(), 1u);
  EXPECT_EQ(s->readers[0].reader, "r2");
  EXPECT_FALSE(s->readers[0].card.has_value());

  hub.Publish(ReaderAdded("r1"));
  s = hub.Snapshot();
  ASSERT_EQ(s->readers.size(), 2u);
  EXPECT_EQ(s->readers[0].reader, "r1");
  EXPECT_FALSE(s->readers[0].card.has_value());
}

// A card inserted without UID keeps the reason in the state until CARD_UPDATED brings the UID;
// an update for a card that has left is dropped (no event, no sequence number).
TEST(EventHubTest, CardUpdatedSetsTheUnknownUid) {
  EventHub hub;
  CardEvent inserted = CardInserted("r1", 1);
  inserted.uid.clear();
  inserted.uid_unknown_reason = "UID unknown: the reader refused GET DATA (UID)";
  EXPECT_EQ(hub.Publish(inserted), 1u);
  std::shared_ptr<const CardSnapshot> s = hub.Snapshot();
  ASSERT_TRUE(s->readers[0].card.has_value());
  EXPECT_TRUE(s->readers[0].card->uid.empty());
  EXPECT_EQ(s->readers[0].card->uid_unknown_reason, inserted.uid_unknown_reason);

  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  ASSERT_TRUE(PopNow(*sub)->is_snapshot());
  EXPECT_EQ(hub.Publish({.kind = CardEventKind::kCardUpdated,
                         .reader = "r1",
                         .uid = CardInserted("r", 1).uid,
                         .time = kT0}),
            2u);
  s = hub.Snapshot();
  EXPECT_EQ(s->readers[0].card->uid, CardInserted("r", 1).uid);
  EXPECT_EQ(s->readers[0].card->uid_unknown_reason, "");
  EXPECT_EQ(s->readers[0].card->inserted_sequence, 1u);  // the same card
  std::optional<WatchItem> updated = PopNow(*sub);
  ASSERT_TRUE(updated.has_value() && updated->event != nullptr);
  EXPECT_EQ(updated->event->kind, CardEventKind::kCardUpdated);
  EXPECT_EQ(updated->event->atr, CardInserted("r", 1).atr);  // from the state

  hub.Publish(CardRemoved("r1"));
  EXPECT_EQ(hub.Publish({.kind = CardEventKind::kCardUpdated, .reader = "r1", .uid = {1, 2, 3, 4}}),
            0u);
  EXPECT_EQ(hub.last_sequence(), 3u);
  EXPECT_FALSE(hub.Snapshot()->readers[0].card.has_value());
}

TEST(EventHubTest, ResumeReplaysTheHistoryWithoutSnapshot) {
  EventHub hub;
  for (int i = 0; i < 5; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));

  std::unique_ptr<Subscription> sub = MustSubscribe(hub, 2);
  EXPECT_EQ(NextEventSequence(*sub), 3u);
  EXPECT_EQ(NextEventSequence(*sub), 4u);
  EXPECT_EQ(NextEventSequence(*sub), 5u);
  hub.Publish(ReaderAdded("r5"));
  EXPECT_EQ(NextEventSequence(*sub), 6u);
}

TEST(EventHubTest, ResumeFromTheLastEventGetsOnlyNewEvents) {
  EventHub hub;
  std::unique_ptr<Subscription> at_start = MustSubscribe(hub, 0);
  hub.Publish(ReaderAdded("r0"));
  hub.Publish(ReaderAdded("r1"));
  std::unique_ptr<Subscription> sub = MustSubscribe(hub, 2);
  absl::StatusOr<std::optional<WatchItem>> none = sub->TryPop();
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  hub.Publish(ReaderAdded("r2"));
  EXPECT_EQ(NextEventSequence(*sub), 3u);
  EXPECT_EQ(NextEventSequence(*at_start), 1u);
}

TEST(EventHubTest, ResumeFromAnExpiredOrUnknownSequenceFails) {
  EventHub hub({.history_size = 4, .max_queue = 4});
  for (int i = 0; i < 10; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  // The history holds events 7..10: resuming after 6 still works.
  std::unique_ptr<Subscription> sub = MustSubscribe(hub, 6);
  EXPECT_EQ(NextEventSequence(*sub), 7u);

  absl::StatusOr<std::unique_ptr<Subscription>> too_old = hub.Subscribe(5);
  EXPECT_EQ(too_old.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ReasonOf(too_old.status()), "HISTORY_EXPIRED");
  EXPECT_NE(too_old.status().message().find("without resume_after"), absl::string_view::npos)
      << too_old.status();

  absl::StatusOr<std::unique_ptr<Subscription>> unknown = hub.Subscribe(11);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(ReasonOf(unknown.status()), "HISTORY_EXPIRED");
  EXPECT_EQ(hub.subscriber_count(), 1u);
}

TEST(EventHubTest, SlowConsumerIsCutOffWhileOthersReceiveEverything) {
  EventHub hub({.history_size = 64, .max_queue = 4});
  std::unique_ptr<Subscription> slow = MustSubscribe(hub);
  std::unique_ptr<Subscription> fast = MustSubscribe(hub);
  ASSERT_TRUE(slow->Next(kWait).ok());  // the snapshot; then it stops reading
  ASSERT_TRUE(fast->Next(kWait).ok());

  std::vector<uint64_t> fast_got;
  for (int i = 0; i < 20; ++i) {
    const uint64_t seq = hub.Publish(ReaderAdded("r" + std::to_string(i)));
    ASSERT_EQ(seq, static_cast<uint64_t>(i + 1));
    fast_got.push_back(NextEventSequence(*fast));
  }
  for (uint64_t i = 0; i < 20; ++i) EXPECT_EQ(fast_got[i], i + 1);

  absl::StatusOr<std::optional<WatchItem>> cut = slow->TryPop();
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(cut.status()), "SLOW_CONSUMER");
  EXPECT_NE(cut.status().message().find("resume_after=0"), absl::string_view::npos) << cut.status();
  // The end is final.
  EXPECT_EQ(slow->TryPop().status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(slow->Next(kWait).status().code(), absl::StatusCode::kResourceExhausted);

  // The others go on.
  hub.Publish(ReaderAdded("r20"));
  EXPECT_EQ(NextEventSequence(*fast), 21u);

  // The cut-off subscriber can resume from where it stopped while that is in the history.
  std::unique_ptr<Subscription> again = MustSubscribe(hub, 0);
  EXPECT_EQ(NextEventSequence(*again), 1u);
}

TEST(EventHubTest, AFullQueueIsNotYetCutOff) {
  EventHub hub({.history_size = 64, .max_queue = 4});
  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  ASSERT_TRUE(PopNow(*sub).has_value());  // snapshot
  for (int i = 0; i < 4; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  for (uint64_t seq = 1; seq <= 4; ++seq) EXPECT_EQ(NextEventSequence(*sub), seq);

  // Reading makes room again.
  for (int i = 4; i < 8; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  EXPECT_EQ(NextEventSequence(*sub), 5u);
  hub.Publish(ReaderAdded("r8"));  // 4 unread again: 6, 7, 8, 9
  for (uint64_t seq = 6; seq <= 9; ++seq) EXPECT_EQ(NextEventSequence(*sub), seq);

  // One more than the queue holds: cut off.
  for (int i = 9; i < 14; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  EXPECT_EQ(sub->TryPop().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(EventHubTest, ReplayedEventsDoNotCountAgainstTheQueue) {
  EventHub hub({.history_size = 64, .max_queue = 2});
  for (int i = 0; i < 10; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  std::unique_ptr<Subscription> sub = MustSubscribe(hub, 0);
  hub.Publish(ReaderAdded("r10"));
  hub.Publish(ReaderAdded("r11"));
  for (uint64_t seq = 1; seq <= 12; ++seq) EXPECT_EQ(NextEventSequence(*sub), seq);
}

TEST(EventHubTest, ReplayThatLeavesTheHistoryIsCutOff) {
  EventHub hub({.history_size = 4, .max_queue = 100});
  for (int i = 0; i < 4; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  std::unique_ptr<Subscription> sub = MustSubscribe(hub, 0);
  EXPECT_EQ(NextEventSequence(*sub), 1u);
  hub.Publish(ReaderAdded("r4"));
  hub.Publish(ReaderAdded("r5"));  // the history holds 3..6: event 2 left it unread
  absl::StatusOr<WatchItem> item = sub->Next(kWait);
  EXPECT_EQ(item.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(item.status()), "SLOW_CONSUMER");
}

TEST(EventHubTest, NotifyIsCalledOnceWhenSomethingArrives) {
  EventHub hub;
  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  std::atomic<int> calls{0};
  sub->SetNotify([&calls] { ++calls; });
  ASSERT_TRUE(PopNow(*sub).has_value());   // the snapshot
  ASSERT_FALSE(PopNow(*sub).has_value());  // nothing: notify is armed
  EXPECT_EQ(calls, 0);

  hub.Publish(ReaderAdded("r0"));
  hub.Publish(ReaderAdded("r1"));
  EXPECT_EQ(calls, 1);  // once, on the publishing thread, until the next empty read
  ASSERT_TRUE(PopNow(*sub).has_value());
  ASSERT_TRUE(PopNow(*sub).has_value());
  hub.Publish(ReaderAdded("r2"));
  EXPECT_EQ(calls, 1);  // not armed: the last read found something
  ASSERT_TRUE(PopNow(*sub).has_value());
  ASSERT_FALSE(PopNow(*sub).has_value());
  hub.Publish(ReaderAdded("r3"));
  EXPECT_EQ(calls, 2);

  sub->SetNotify(nullptr);
  ASSERT_TRUE(PopNow(*sub).has_value());
  ASSERT_FALSE(PopNow(*sub).has_value());
  hub.Publish(ReaderAdded("r4"));
  EXPECT_EQ(calls, 2);
}

TEST(EventHubTest, NextTimesOutWithoutEndingTheSubscription) {
  EventHub hub;
  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  ASSERT_TRUE(sub->Next(kWait).ok());
  EXPECT_EQ(sub->Next(absl::ZeroDuration()).status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(sub->Next(absl::Milliseconds(1)).status().code(), absl::StatusCode::kDeadlineExceeded);
  hub.Publish(ReaderAdded("r0"));
  EXPECT_EQ(NextEventSequence(*sub), 1u);
}

TEST(EventHubTest, NextWakesUpWhenAnotherThreadPublishes) {
  EventHub hub;
  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  ASSERT_TRUE(sub->Next(kWait).ok());
  std::thread publisher([&hub] {
    for (int i = 0; i < 100; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  });
  for (uint64_t seq = 1; seq <= 100; ++seq) ASSERT_EQ(NextEventSequence(*sub), seq);
  publisher.join();
}

TEST(EventHubTest, CloseEndsEverySubscription) {
  EventHub hub;
  std::unique_ptr<Subscription> waiting = MustSubscribe(hub);
  std::unique_ptr<Subscription> armed = MustSubscribe(hub);
  std::atomic<int> calls{0};
  armed->SetNotify([&calls] { ++calls; });
  ASSERT_TRUE(PopNow(*armed).has_value());
  ASSERT_FALSE(PopNow(*armed).has_value());
  ASSERT_TRUE(waiting->Next(kWait).ok());

  absl::StatusOr<WatchItem> ended;
  std::thread reader([&] { ended = waiting->Next(kWait); });
  hub.Close();
  reader.join();
  EXPECT_EQ(ended.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(ended.status()), "SHUTTING_DOWN");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(armed->TryPop().status().code(), absl::StatusCode::kUnavailable);

  EXPECT_EQ(hub.Subscribe().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(hub.Publish(ReaderAdded("r")), 0u);
  hub.Close();  // idempotent
}

TEST(EventHubTest, SubscriptionMayBeDestroyedInsideItsOwnNotify) {
  EventHub hub;
  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  std::unique_ptr<Subscription> other = MustSubscribe(hub);
  sub->SetNotify([&sub] { sub.reset(); });
  ASSERT_TRUE(PopNow(*sub).has_value());
  ASSERT_FALSE(PopNow(*sub).has_value());
  EXPECT_EQ(hub.subscriber_count(), 2u);
  hub.Publish(ReaderAdded("r0"));
  EXPECT_EQ(sub, nullptr);
  EXPECT_EQ(hub.subscriber_count(), 1u);
  hub.Publish(ReaderAdded("r1"));
}

TEST(EventHubTest, DestructorWaitsForARunningNotify) {
  EventHub hub;
  std::unique_ptr<Subscription> sub = MustSubscribe(hub);
  absl::Notification in_notify, release;
  std::atomic<bool> notify_finished{false};
  sub->SetNotify([&] {
    in_notify.Notify();
    release.WaitForNotificationWithTimeout(kWait);
    notify_finished = true;
  });
  ASSERT_TRUE(PopNow(*sub).has_value());
  ASSERT_FALSE(PopNow(*sub).has_value());
  std::thread publisher([&hub] { hub.Publish(ReaderAdded("r0")); });
  ASSERT_TRUE(in_notify.WaitForNotificationWithTimeout(kWait));
  std::thread releaser([&release] { release.Notify(); });
  sub.reset();  // returns only once the notify has returned
  EXPECT_TRUE(notify_finished);
  releaser.join();
  publisher.join();
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

// A reactor-like consumer: drains on notify, as a ServerWriteReactor would (without the
// network: every "write" completes at once).
class Drainer {
 public:
  explicit Drainer(std::unique_ptr<Subscription> sub) : sub_(std::move(sub)) {
    sub_->SetNotify([this] { Drain(); });
    Drain();
  }
  void Drain() {
    for (;;) {
      absl::StatusOr<std::optional<WatchItem>> item = sub_->TryPop();
      absl::MutexLock lock(&mu_);
      if (!item.ok()) {
        end_ = item.status();
        return;
      }
      if (!item->has_value()) return;
      if ((*item)->is_snapshot()) {
        ++snapshots_;
      } else {
        sequences_.push_back((*item)->event->sequence);
      }
    }
  }
  std::vector<uint64_t> sequences() const {
    absl::MutexLock lock(&mu_);
    return sequences_;
  }
  int snapshots() const {
    absl::MutexLock lock(&mu_);
    return snapshots_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<uint64_t> sequences_ ABSL_GUARDED_BY(mu_);
  int snapshots_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status end_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Subscription> sub_;  // last: unsubscribes before the fields above go
};

TEST(EventHubTest, ThousandSubscribersEachReceiveEveryEvent) {
  EventHub hub;
  constexpr int kSubscribers = 1000;
  constexpr uint64_t kEvents = 5;
  std::vector<std::unique_ptr<Drainer>> drainers;
  for (int i = 0; i < kSubscribers; ++i) {
    drainers.push_back(std::make_unique<Drainer>(MustSubscribe(hub)));
  }
  ASSERT_EQ(hub.subscriber_count(), static_cast<size_t>(kSubscribers));
  std::thread publisher([&hub] {
    for (uint64_t i = 0; i < kEvents; ++i) hub.Publish(CardInserted("r0", uint8_t(i)));
  });
  publisher.join();
  const std::vector<uint64_t> expected = {1, 2, 3, 4, 5};
  for (const auto& d : drainers) {
    EXPECT_EQ(d->snapshots(), 1);
    EXPECT_EQ(d->sequences(), expected);
  }
  drainers.clear();
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

TEST(EventHubTest, ThousandSubscribersReadFromSeveralThreads) {
  EventHub hub({.history_size = 1024, .max_queue = 256});
  constexpr int kThreads = 4, kPerThread = 250;
  constexpr uint64_t kEvents = 20;
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < kThreads * kPerThread; ++i) subs.push_back(MustSubscribe(hub));

  std::atomic<int> received{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < kThreads; ++t) {
    readers.emplace_back([&, t] {
      for (int i = t * kPerThread; i < (t + 1) * kPerThread; ++i) {
        Subscription& sub = *subs[i];
        absl::StatusOr<WatchItem> snapshot = sub.Next(kWait);
        ASSERT_TRUE(snapshot.ok() && snapshot->is_snapshot());
        for (uint64_t seq = snapshot->snapshot->sequence + 1; seq <= kEvents; ++seq) {
          absl::StatusOr<WatchItem> item = sub.Next(kWait);
          ASSERT_TRUE(item.ok()) << item.status();
          ASSERT_EQ(item->event->sequence, seq);
          ++received;
        }
      }
    });
  }
  // Subscribed before any event: every subscriber gets all of them.
  std::thread publisher([&hub] {
    for (uint64_t i = 0; i < kEvents; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i)));
  });
  publisher.join();
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(received, static_cast<int>(kThreads * kPerThread * kEvents));
}

TEST(EventHubTest, SubscribersComeAndGoWhilePublishing) {
  EventHub hub({.history_size = 64, .max_queue = 64});
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int i = 0; !stop; ++i) hub.Publish(ReaderAdded("r" + std::to_string(i % 8)));
  });
  std::vector<std::thread> churn;
  for (int t = 0; t < 3; ++t) {
    churn.emplace_back([&hub] {
      for (int i = 0; i < 200; ++i) {
        std::atomic<int> calls{0};  // outlives the subscription, hence its notify
        absl::StatusOr<std::unique_ptr<Subscription>> sub = hub.Subscribe();
        ASSERT_TRUE(sub.ok());
        (*sub)->SetNotify([&calls] { ++calls; });
        uint64_t last = 0;
        for (int k = 0; k < 3; ++k) {
          absl::StatusOr<std::optional<WatchItem>> item = (*sub)->TryPop();
          if (!item.ok() || !item->has_value()) continue;
          if ((*item)->is_snapshot()) {
            last = (*item)->snapshot->sequence;
          } else {
            EXPECT_EQ((*item)->event->sequence, last + 1);
            last = (*item)->event->sequence;
          }
        }
      }  // destroyed with notify possibly running on the publisher
    });
  }
  for (std::thread& t : churn) t.join();
  stop = true;
  publisher.join();
  EXPECT_EQ(hub.subscriber_count(), 0u);
}

}  // namespace
}  // namespace desfired::server
