#include "server/readers/event_hub.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "server/readers/reasons.h"

namespace desfired::server {
namespace {

// The gate whose notify runs on this thread (null outside notify). Lets a Subscription be
// destroyed from inside its own notify without waiting for itself.
thread_local const void* tls_firing_gate = nullptr;

absl::Status HubClosedError() {
  return apdu::WithReason(absl::UnavailableError("the card event hub is shutting down"),
                          kReasonShuttingDown);
}

EventHubOptions Normalize(EventHubOptions options) {
  options.history_size = std::max<size_t>(options.history_size, 1);
  options.max_queue = std::max<size_t>(options.max_queue, 1);
  return options;
}

}  // namespace

// Calls a subscriber's notify outside the hub's lock, and lets the Subscription's destructor
// wait until no call is running (so the callback never outlives what it captures).
class Subscription::NotifyGate {
 public:
  void Set(std::function<void()> fn) {
    std::shared_ptr<const std::function<void()>> next;
    if (fn) next = std::make_shared<const std::function<void()>>(std::move(fn));
    absl::MutexLock lock(&mu_);
    if (detached_) return;
    fn_.swap(next);
  }  // the previous callback, if any, is released here, after the lock

  void Fire() {
    std::shared_ptr<const std::function<void()>> fn;
    {
      absl::MutexLock lock(&mu_);
      if (fn_ == nullptr) return;
      fn = fn_;
      ++active_;
    }
    const void* outer = tls_firing_gate;
    tls_firing_gate = this;
    (*fn)();
    tls_firing_gate = outer;
    absl::MutexLock lock(&mu_);
    --active_;
  }

  // After Detach returns, no call is running (but the caller's own, when it is inside one) and
  // none will start.
  void Detach() {
    const int own_calls = tls_firing_gate == this ? 1 : 0;
    std::shared_ptr<const std::function<void()>> released;
    absl::MutexLock lock(&mu_);
    detached_ = true;
    released.swap(fn_);
    auto others_done = [this, own_calls]()
                           ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return active_ <= own_calls; };
    mu_.Await(absl::Condition(&others_done));
  }

 private:
  absl::Mutex mu_;
  std::shared_ptr<const std::function<void()>> fn_ ABSL_GUARDED_BY(mu_);
  int active_ ABSL_GUARDED_BY(mu_) = 0;
  bool detached_ ABSL_GUARDED_BY(mu_) = false;
};

// Fields are guarded by EventHub::mu_ (reached only through EventHub::subscribers_).
struct EventHub::Subscriber {
  uint64_t next = 0;       // the sequence of the next event to deliver
  uint64_t live_from = 0;  // next_sequence_ at Subscribe: events before it are a replay
  std::shared_ptr<const CardSnapshot> snapshot;  // the first item, until popped
  absl::Status end;                              // OK while the subscription goes on
  bool armed = false;                            // listed in armed_
  int waiters = 0;                               // threads in Next
  absl::CondVar cv;                              // signalled (with mu_) when armed and woken
  std::shared_ptr<Subscription::NotifyGate> gate;
};

Subscription::Subscription(EventHub& hub, uint64_t id, std::shared_ptr<NotifyGate> gate)
    : hub_(hub), id_(id), gate_(std::move(gate)) {}

Subscription::~Subscription() {
  gate_->Detach();
  hub_.Unsubscribe(id_);
}

absl::StatusOr<std::optional<WatchItem>> Subscription::TryPop() { return hub_.TryPop(id_); }

absl::StatusOr<WatchItem> Subscription::Next(absl::Duration timeout) {
  return hub_.Next(id_, timeout);
}

void Subscription::SetNotify(std::function<void()> notify) { gate_->Set(std::move(notify)); }

EventHub::EventHub(EventHubOptions options)
    : options_(Normalize(options)), next_sequence_(options_.first_sequence) {}

EventHub::~EventHub() = default;

uint64_t EventHub::Publish(CardEvent event) {
  auto stored = std::make_shared<CardEvent>(std::move(event));  // allocate outside the lock
  std::vector<std::shared_ptr<Subscription::NotifyGate>> wake;
  uint64_t sequence = 0;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return 0;
    sequence = next_sequence_++;
    stored->sequence = sequence;
    if (!ApplyLocked(*stored)) {
      --next_sequence_;  // dropped: no gap in the numbers
      return 0;
    }
    history_.push_back(std::move(stored));
    if (history_.size() > options_.history_size) history_.pop_front();
    snapshot_cache_.reset();
    wake.reserve(armed_.size());
    for (uint64_t id : armed_) {
      auto it = subscribers_.find(id);
      if (it == subscribers_.end()) continue;  // unsubscribed since
      Subscriber& sub = *it->second;
      sub.armed = false;
      if (sub.waiters > 0) sub.cv.SignalAll();
      wake.push_back(sub.gate);
    }
    armed_.clear();
  }
  for (const auto& gate : wake) gate->Fire();
  return sequence;
}

bool EventHub::ApplyLocked(CardEvent& event) {
  switch (event.kind) {
    case CardEventKind::kReaderAdded:
      readers_[event.reader] = ReaderState{.reader = event.reader, .card = std::nullopt};
      break;
    case CardEventKind::kReaderRemoved:
      readers_.erase(event.reader);
      break;
    case CardEventKind::kCardInserted: {
      ReaderState& reader = readers_[event.reader];
      reader.reader = event.reader;
      reader.card = CardState{.uid = event.uid,
                              .atr = event.atr,
                              .inserted_at = event.time,
                              .inserted_sequence = event.sequence,
                              .uid_unknown_reason = event.uid_unknown_reason};
      break;
    }
    case CardEventKind::kCardUpdated: {
      auto it = readers_.find(event.reader);
      if (it == readers_.end() || !it->second.card.has_value()) return false;  // gone since
      CardState& card = *it->second.card;
      card.uid = event.uid;
      card.uid_unknown_reason.clear();
      if (event.atr.empty()) event.atr = card.atr;
      break;
    }
    case CardEventKind::kCardRemoved: {
      auto it = readers_.find(event.reader);
      if (it == readers_.end() || !it->second.card.has_value()) break;
      CardState& card = *it->second.card;
      if (event.uid.empty() && event.atr.empty()) {
        event.uid = std::move(card.uid);
        event.atr = std::move(card.atr);
      }
      it->second.card.reset();
      break;
    }
    case CardEventKind::kPcscUnavailable:
      pcsc_available_ = false;
      break;
    case CardEventKind::kPcscAvailable:
      pcsc_available_ = true;
      break;
    case CardEventKind::kChange:
      break;  // no state: only the history
  }
  return true;
}

uint64_t EventHub::FirstRetainedLocked() const {
  return history_.empty() ? next_sequence_ : history_.front()->sequence;
}

std::shared_ptr<const CardSnapshot> EventHub::SnapshotLocked() const {
  if (snapshot_cache_ == nullptr) {
    auto snapshot = std::make_shared<CardSnapshot>();
    snapshot->sequence = next_sequence_ - 1;
    snapshot->pcsc_available = pcsc_available_;
    snapshot->readers.reserve(readers_.size());
    for (const auto& [name, state] : readers_) snapshot->readers.push_back(state);
    snapshot_cache_ = std::move(snapshot);
  }
  return snapshot_cache_;
}

absl::StatusOr<std::unique_ptr<Subscription>> EventHub::Subscribe(
    std::optional<uint64_t> resume_after) {
  auto gate = std::make_shared<Subscription::NotifyGate>();
  auto sub = std::make_unique<Subscriber>();
  absl::MutexLock lock(&mu_);
  if (closed_) return HubClosedError();
  const uint64_t last = next_sequence_ - 1;
  sub->live_from = next_sequence_;
  if (resume_after.has_value()) {
    const uint64_t first = FirstRetainedLocked();
    if (*resume_after > last) {
      return apdu::WithReason(
          absl::OutOfRangeError(absl::StrCat(
              "resume_after ", *resume_after, " is newer than the last event ", last,
              " (the server may have restarted); subscribe without resume_after for a snapshot")),
          kReasonHistoryExpired);
    }
    if (*resume_after + 1 < first) {
      return apdu::WithReason(
          absl::OutOfRangeError(absl::StrCat(
              "resume_after ", *resume_after, " is too old: the history starts after event ",
              first - 1, "; subscribe without resume_after for a snapshot")),
          kReasonHistoryExpired);
    }
    sub->next = *resume_after + 1;
  } else {
    sub->snapshot = SnapshotLocked();
    sub->next = next_sequence_;
  }
  sub->gate = gate;
  const uint64_t id = next_subscriber_id_++;
  subscribers_.emplace(id, std::move(sub));
  return std::unique_ptr<Subscription>(new Subscription(*this, id, std::move(gate)));
}

absl::StatusOr<std::optional<WatchItem>> EventHub::PopLocked(Subscriber& sub) {
  if (!sub.end.ok()) return sub.end;
  if (sub.snapshot != nullptr) {
    WatchItem item;
    item.snapshot = std::move(sub.snapshot);
    sub.snapshot = nullptr;
    return item;
  }
  if (sub.next >= next_sequence_) return std::nullopt;
  const uint64_t first = FirstRetainedLocked();
  const uint64_t unread_live = next_sequence_ - std::max(sub.next, sub.live_from);
  if (sub.next < first) {
    sub.end = apdu::WithReason(
        absl::ResourceExhaustedError(absl::StrCat(
            "WatchCards subscriber fell behind: event ", sub.next,
            " has left the history before it was read; it was cut off so that it does not hold "
            "up the others. Subscribe again without resume_after for a snapshot")),
        kReasonSlowConsumer);
    return sub.end;
  }
  if (unread_live > options_.max_queue) {
    sub.end = apdu::WithReason(
        absl::ResourceExhaustedError(absl::StrCat(
            "WatchCards subscriber fell behind: more than ", options_.max_queue,
            " events unread; it was cut off so that it does not hold up the others. Subscribe "
            "again with resume_after=",
            sub.next - 1, " to continue where it stopped")),
        kReasonSlowConsumer);
    return sub.end;
  }
  WatchItem item;
  item.event = history_[sub.next - first];
  ++sub.next;
  return item;
}

void EventHub::ArmLocked(uint64_t id, Subscriber& sub) {
  if (sub.armed) return;
  sub.armed = true;
  armed_.push_back(id);
}

absl::StatusOr<std::optional<WatchItem>> EventHub::TryPop(uint64_t id) {
  absl::MutexLock lock(&mu_);
  Subscriber& sub = *subscribers_.at(id);
  absl::StatusOr<std::optional<WatchItem>> item = PopLocked(sub);
  if (item.ok() && !item->has_value()) ArmLocked(id, sub);
  return item;
}

absl::StatusOr<WatchItem> EventHub::Next(uint64_t id, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  Subscriber& sub = *subscribers_.at(id);  // stays put: the Subscription is in use
  for (;;) {
    absl::StatusOr<std::optional<WatchItem>> item = PopLocked(sub);
    if (!item.ok()) return item.status();
    if (item->has_value()) return **std::move(item);
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("no card event within ", absl::FormatDuration(timeout)));
    }
    ArmLocked(id, sub);
    ++sub.waiters;
    sub.cv.WaitWithDeadline(&mu_, deadline);
    --sub.waiters;
  }
}

void EventHub::Unsubscribe(uint64_t id) {
  std::unique_ptr<Subscriber> gone;  // released after the lock
  absl::MutexLock lock(&mu_);
  auto it = subscribers_.find(id);
  if (it == subscribers_.end()) return;
  gone = std::move(it->second);
  subscribers_.erase(it);
}

void EventHub::Close() {
  std::vector<std::shared_ptr<Subscription::NotifyGate>> wake;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [id, sub] : subscribers_) {
      if (sub->end.ok()) sub->end = HubClosedError();
      if (sub->waiters > 0) sub->cv.SignalAll();
      if (sub->armed) {
        sub->armed = false;
        wake.push_back(sub->gate);
      }
    }
    armed_.clear();
  }
  for (const auto& gate : wake) gate->Fire();
}

std::shared_ptr<const CardSnapshot> EventHub::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return SnapshotLocked();
}

uint64_t EventHub::last_sequence() const {
  absl::MutexLock lock(&mu_);
  return next_sequence_ - 1;
}

size_t EventHub::subscriber_count() const {
  absl::MutexLock lock(&mu_);
  return subscribers_.size();
}

}  // namespace desfired::server
