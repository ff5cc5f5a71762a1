// EventHub: numbers card events, keeps the current state of the readers and a bounded history,
// and fans the events out to many subscribers (WatchCards) without ever waiting for them.
//
//   reader monitor ── Publish(event) ──▶ EventHub ─┬─▶ Subscription (a WatchCards stream)
//                     seq = last + 1               ├─▶ Subscription
//                     state: readers, their cards  └─▶ ... (1,000 of them)
//                     history: the last N events
//
// A subscription yields, in order:
//   - without resume_after: a snapshot (the readers and their cards after event S) first,
//     then the events S+1, S+2, ...;
//   - with resume_after = R, R still in the history: the events R+1, R+2, ... (no snapshot).
//     When R is too old (events after it have left the history) or newer than the last event
//     (this server never published it, e.g. it restarted), Subscribe fails with
//     OUT_OF_RANGE/HISTORY_EXPIRED. It does not fall back to a snapshot: a client that asked to
//     resume applies deltas, and must learn that it has to start over from a snapshot; it does
//     so by subscribing again without resume_after.
//
// Slow subscribers: each subscriber may have at most `max_queue` published events it has not
// read yet (events replayed for resume_after are not counted, as long as they stay in the
// history). One more and it is cut off: its next read returns RESOURCE_EXHAUSTED/SLOW_CONSUMER
// (and every read after it). Publish never waits for a subscriber and costs the same however
// slow they are. The subscriber queues are views into the shared history (a per-subscriber
// cursor), so an event is stored once, whatever the number of subscribers.
//
// Reading, callback style (a gRPC ServerWriteReactor), never blocking:
//
//   auto sub = hub.Subscribe(resume_after);            // StatusOr<std::unique_ptr<...>>
//   (*sub)->SetNotify([reactor] { reactor->OnItemsAvailable(); });
//   // OnItemsAvailable / OnWriteDone, with no write in flight:
//   absl::StatusOr<std::optional<WatchItem>> item = sub->TryPop();
//   if (!item.ok())            -> Finish(item.status())
//   else if (item->has_value()) -> StartWrite(ToProto(**item))
//   else                        -> wait: notify comes once something is available
//
// notify is called at most once per TryPop (or Next) that found nothing, as soon as an event,
// or the end of the subscription, is available. It runs on the publishing thread, outside the
// hub's lock: it must be quick and must not block or call Publish; it may call TryPop. It may
// even destroy its own Subscription.
//
// Reading, blocking (tests, simple tools): Next(timeout).
//
// Close(): every subscription ends (UNAVAILABLE/SHUTTING_DOWN on the next read), Subscribe
// fails, Publish is ignored.
//
// Thread-safe: EventHub and Subscription (TryPop, Next, SetNotify from any thread). The hub
// must outlive its subscriptions.
#ifndef DESFIRED_SERVER_READERS_EVENT_HUB_H_
#define DESFIRED_SERVER_READERS_EVENT_HUB_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/readers/card_event.h"

namespace desfired::server {

struct CardState {
  Bytes uid = {};
  Bytes atr = {};
  absl::Time inserted_at = absl::UnixEpoch();
  uint64_t inserted_sequence = 0;       // the CARD_INSERTED event
  std::string uid_unknown_reason = {};  // uid is empty: why (until a CARD_UPDATED)
};

struct ReaderState {
  std::string reader = {};
  std::optional<CardState> card = std::nullopt;  // empty: no card on the reader
};

// The state after event `sequence` (0: before any event). Readers sorted by name.
struct CardSnapshot {
  uint64_t sequence = 0;
  std::vector<ReaderState> readers = {};
  // False after PCSC_UNAVAILABLE until PCSC_AVAILABLE: `readers` are the last known.
  bool pcsc_available = true;
};

// One item of a subscription: a snapshot or an event. Shared and immutable: the hub stores an
// event once, whatever the number of subscribers.
struct WatchItem {
  std::shared_ptr<const CardSnapshot> snapshot = nullptr;  // set for a snapshot, else null
  std::shared_ptr<const CardEvent> event = nullptr;        // set for an event, else null
  bool is_snapshot() const { return snapshot != nullptr; }
};

struct EventHubOptions {
  // Events kept for resume_after. Keep it ≥ max_queue.
  size_t history_size = 1024;
  // Published events a subscriber may have unread before it is cut off.
  size_t max_queue = 256;
  // The sequence of the first event. A server may start from a clock-derived value so that
  // sequences of an earlier run look old (HISTORY_EXPIRED) instead of unknown.
  uint64_t first_sequence = 1;
};

class EventHub;

// One subscriber's view of the hub. Destroying it unsubscribes; once the destructor returns,
// notify is not running and is never called again (unless the destructor runs inside notify,
// then the current call is the last).
class Subscription {
 public:
  ~Subscription();
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;

  // The next item, without blocking: a value, nullopt when nothing is available yet (then
  // notify will be called once something is), or the end of the subscription, returned by
  // every later call too:
  //   RESOURCE_EXHAUSTED/SLOW_CONSUMER   the subscriber fell behind and was cut off
  //   UNAVAILABLE/SHUTTING_DOWN          the hub was closed
  absl::StatusOr<std::optional<WatchItem>> TryPop();

  // The next item, waiting up to `timeout`: the errors of TryPop, or DEADLINE_EXCEEDED when
  // nothing came in time (the subscription goes on; call again).
  absl::StatusOr<WatchItem> Next(absl::Duration timeout);

  // Sets (or replaces; empty clears) the callback described at the top of this file. To start,
  // set it, then TryPop until nullopt.
  void SetNotify(std::function<void()> notify);

 private:
  friend class EventHub;
  class NotifyGate;
  Subscription(EventHub& hub, uint64_t id, std::shared_ptr<NotifyGate> gate);

  EventHub& hub_;
  const uint64_t id_;
  const std::shared_ptr<NotifyGate> gate_;
};

class EventHub {
 public:
  explicit EventHub(EventHubOptions options = {});
  ~EventHub();
  EventHub(const EventHub&) = delete;
  EventHub& operator=(const EventHub&) = delete;

  // Assigns the next sequence number, updates the state, appends to the history and wakes the
  // waiting subscribers. Returns the sequence (0 when the hub is closed or the event is
  // dropped).
  // Never blocks on subscribers; the lock is held for O(1) work plus O(subscribers waiting).
  // CARD_INSERTED on an unknown reader adds the reader to the state; CARD_REMOVED without
  // uid/atr gets them from the state; CARD_UPDATED sets the UID of the card present (and gets
  // the ATR from the state), and is dropped (returns 0) when no card is present.
  // PCSC_UNAVAILABLE / PCSC_AVAILABLE set the snapshot's pcsc_available. CHANGE (a card
  // call's outcome, change_event.h) changes no state: it is numbered and kept like the others.
  uint64_t Publish(CardEvent event) ABSL_LOCKS_EXCLUDED(mu_);

  // A new subscription (see the top of this file). Errors:
  //   OUT_OF_RANGE/HISTORY_EXPIRED   resume_after is no longer (or not) in the history
  //   UNAVAILABLE/SHUTTING_DOWN      the hub was closed
  absl::StatusOr<std::unique_ptr<Subscription>> Subscribe(
      std::optional<uint64_t> resume_after = std::nullopt) ABSL_LOCKS_EXCLUDED(mu_);

  // The current state (ListReaders).
  std::shared_ptr<const CardSnapshot> Snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

  // Ends every subscription with UNAVAILABLE/SHUTTING_DOWN; later Subscribe calls fail and
  // Publish calls are dropped. Idempotent.
  void Close() ABSL_LOCKS_EXCLUDED(mu_);

  // The sequence of the last event published (first_sequence - 1 before any).
  uint64_t last_sequence() const ABSL_LOCKS_EXCLUDED(mu_);
  size_t subscriber_count() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  friend class Subscription;
  struct Subscriber;

  absl::StatusOr<std::optional<WatchItem>> TryPop(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<WatchItem> Next(uint64_t id, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  void Unsubscribe(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  absl::StatusOr<std::optional<WatchItem>> PopLocked(Subscriber& sub)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmLocked(uint64_t id, Subscriber& sub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The sequence of the oldest event in the history (next_sequence_ when it is empty).
  uint64_t FirstRetainedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<const CardSnapshot> SnapshotLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Updates the state; false when the event is to be dropped (see Publish).
  bool ApplyLocked(CardEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EventHubOptions options_;

  mutable absl::Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_sequence_ ABSL_GUARDED_BY(mu_);
  // The last history_size events, sequences contiguous.
  std::deque<std::shared_ptr<const CardEvent>> history_ ABSL_GUARDED_BY(mu_);
  // Reader name -> state, kept from the events.
  std::map<std::string, ReaderState, std::less<>> readers_ ABSL_GUARDED_BY(mu_);
  bool pcsc_available_ ABSL_GUARDED_BY(mu_) = true;
  // The snapshot of readers_ at next_sequence_ - 1, built on demand; reset by Publish.
  mutable std::shared_ptr<const CardSnapshot> snapshot_cache_ ABSL_GUARDED_BY(mu_);
  uint64_t next_subscriber_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Subscriber>> subscribers_ ABSL_GUARDED_BY(mu_);
  // Subscribers that found nothing on their last read and wait for a wake-up (may name
  // subscribers that have gone since).
  std::vector<uint64_t> armed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_READERS_EVENT_HUB_H_
