#include "core/pcsc/monitor.h"

#include <winscard.h>

#include <algorithm>
#include <functional>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/apdu/status_payload.h"
#include "core/pcsc/pcsc.h"
#include "core/util/enum_table.h"

namespace desfired::pcsc {
namespace {

constexpr char kPnpReader[] = "\\\\?PnP?\\Notification";
constexpr int kListAttempts = 3;  // the list may grow between the size and the data call
constexpr int kErrorsBeforeReset = 3;

DWORD ToMilliseconds(absl::Duration d) {
  return static_cast<DWORD>(std::max<int64_t>(0, absl::ToInt64Milliseconds(d)));
}

// Lists the readers of `context`; SCARD_E_NO_READERS_AVAILABLE is an empty list.
LONG ListReaderNames(SCARDCONTEXT context, std::vector<std::string>* names) {
  names->clear();
  LONG rv = SCARD_S_SUCCESS;
  for (int attempt = 0; attempt < kListAttempts; ++attempt) {
    DWORD len = 0;
    rv = SCardListReaders(context, nullptr, nullptr, &len);
    std::string buf;
    if (rv == SCARD_S_SUCCESS) {
      buf.resize(len);
      rv = SCardListReaders(context, nullptr, buf.data(), &len);
    }
    if (rv == SCARD_E_INSUFFICIENT_BUFFER) continue;
    if (rv == SCARD_E_NO_READERS_AVAILABLE) return SCARD_S_SUCCESS;
    if (rv != SCARD_S_SUCCESS) return rv;
    for (size_t i = 0; i < buf.size() && buf[i] != '\0';) {
      const size_t end = buf.find('\0', i);
      names->push_back(buf.substr(i, end - i));
      i = end + 1;
    }
    return rv;
  }
  return rv;
}

// GET DATA (UID) through a shared connection on a context of its own.
absl::StatusOr<Bytes> ReadUidOnce(const std::string& reader) {
  // No re-establishing here: a pcscd that went away is the monitor's business.
  auto context = PcscContext::Create({.reconnect_attempts = 0});
  if (!context.ok()) return context.status();
  auto card = (*context)->Connect(reader, ShareMode::kShared);
  if (!card.ok()) return card.status();
  absl::StatusOr<Bytes> uid = (*card)->Uid();
  if (!uid.ok() && apdu::GetReason(uid.status()) == apdu::kReasonIsoStatus) {
    // Its message holds the whole answer, which may hold the UID: never passed on.
    return absl::UnavailableError("the reader refused GET DATA (UID)");
  }
  if (uid.ok() && uid->empty()) {
    return absl::UnavailableError("the reader answered GET DATA without a UID");
  }
  return uid;
}

// A UID read on a helper thread: `attempts` tries, `backoff` then twice that ... apart, until
// one succeeds or `stop` says the waiter is gone.
absl::StatusOr<Bytes> ReadUidWithRetries(const std::string& reader, int attempts,
                                         absl::Duration backoff,
                                         const std::function<bool()>& stop) {
  absl::StatusOr<Bytes> uid = ReadUidOnce(reader);
  for (int i = 1; i < attempts && !uid.ok() && !stop(); ++i) {
    absl::SleepFor(backoff);
    backoff *= 2;
    uid = ReadUidOnce(reader);
  }
  return uid;
}

ReaderEvent Event(ReaderEvent::Kind kind, const std::string& reader, bool snapshot) {
  ReaderEvent event;
  event.kind = kind;
  event.reader = reader;
  event.snapshot = snapshot;
  return event;
}

constexpr EnumRow<ReaderEvent::Kind, absl::string_view> kKindNames[] = {
    {ReaderEvent::Kind::kReaderAdded, "READER_ADDED"},
    {ReaderEvent::Kind::kReaderRemoved, "READER_REMOVED"},
    {ReaderEvent::Kind::kCardInserted, "CARD_INSERTED"},
    {ReaderEvent::Kind::kCardRemoved, "CARD_REMOVED"},
    {ReaderEvent::Kind::kCardUpdated, "CARD_UPDATED"},
    {ReaderEvent::Kind::kServiceLost, "PCSC_UNAVAILABLE"},
    {ReaderEvent::Kind::kServiceRestored, "PCSC_AVAILABLE"},
};

}  // namespace

absl::string_view ReaderEventKindName(ReaderEvent::Kind kind) {
  return ValueOf(kKindNames, kind).value_or("UNKNOWN");
}

// What the monitor thread knows of one reader.
struct ReaderMonitor::Tracked {
  std::string name;
  DWORD current = SCARD_STATE_UNAWARE;  // dwCurrentState for the next wait
  bool present = false;                 // a CARD_INSERTED was reported and not yet removed
  uint16_t counter = 0;                 // pcscd's event counter (high word of the state)
  Bytes atr;
  bool uid_known = false;             // present, and its UID was reported
  std::shared_ptr<UidRead> uid_read;  // a read of its UID that still runs (hangs)
  absl::Time next_uid_read;           // when to read the unknown UID again
  absl::Duration uid_backoff;         // and the wait after that
};

// A UID read on a helper thread. The helper keeps it alive; the monitor may stop waiting.
struct ReaderMonitor::UidRead {
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  bool abandoned ABSL_GUARDED_BY(mu) = false;  // Stop() wants the monitor back
  Bytes uid ABSL_GUARDED_BY(mu);
  std::string error ABSL_GUARDED_BY(mu);  // done without a UID: why

  bool Finished() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return done || abandoned; }
};

absl::StatusOr<std::unique_ptr<ReaderMonitor>> ReaderMonitor::Start(Options options,
                                                                    Callback callback) {
  SCARDCONTEXT context = 0;
  const LONG established = SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context);
  if (IsServiceGone(established)) {
    context = 0;  // pcscd is not there (yet): Run waits for it
  } else if (absl::Status s = PcscStatus(established, "SCardEstablishContext"); !s.ok()) {
    return s;
  }
  std::unique_ptr<ReaderMonitor> monitor(
      new ReaderMonitor(options, std::move(callback), static_cast<uintptr_t>(context)));
  try {
    monitor->thread_ = std::thread(&ReaderMonitor::Run, monitor.get());
  } catch (const std::system_error& e) {
    return absl::InternalError(absl::StrCat("monitor thread: ", e.what()));
  }
  absl::MutexLock lock(&monitor->mu_);
  monitor->mu_.Await(absl::Condition(&monitor->snapshot_done_));
  return monitor;
}

ReaderMonitor::ReaderMonitor(Options options, Callback callback, uintptr_t context)
    : options_(options), callback_(std::move(callback)), context_(context) {}

ReaderMonitor::~ReaderMonitor() {
  Stop();
  absl::MutexLock lock(&mu_);
  if (context_ != 0) SCardReleaseContext(static_cast<SCARDCONTEXT>(context_));
  context_ = 0;
}

void ReaderMonitor::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (uid_read_ != nullptr) {
      absl::MutexLock read_lock(&uid_read_->mu);
      uid_read_->abandoned = true;
    }
    if (std::this_thread::get_id() == thread_id_) return;  // from the callback: cannot join
    if (!thread_.joinable()) return;
    // SCardCancel only interrupts a wait in progress: repeat it until the thread is out.
    while (!finished_) {
      if (context_ != 0) SCardCancel(static_cast<SCARDCONTEXT>(context_));
      mu_.AwaitWithTimeout(absl::Condition(&finished_), absl::Milliseconds(10));
    }
  }
  absl::MutexLock join_lock(&join_mu_);
  if (thread_.joinable()) thread_.join();
}

std::vector<ReaderState> ReaderMonitor::Readers() const {
  absl::MutexLock lock(&mu_);
  return readers_;
}

bool ReaderMonitor::service_available() const {
  absl::MutexLock lock(&mu_);
  return service_available_;
}

int64_t ReaderMonitor::reestablished() const {
  absl::MutexLock lock(&mu_);
  return reestablished_;
}

bool ReaderMonitor::Stopping() const {
  absl::MutexLock lock(&mu_);
  return stopping_;
}

uintptr_t ReaderMonitor::Context() const {
  absl::MutexLock lock(&mu_);
  return context_;
}

void ReaderMonitor::Run() {
  {
    absl::MutexLock lock(&mu_);
    thread_id_ = std::this_thread::get_id();
  }
  // The snapshot: the reader list, then one look at every reader without waiting.
  const LONG listed =
      Context() == 0 ? SCARD_E_NO_SERVICE : static_cast<LONG>(Relist(/*snapshot=*/true));
  bool relist = false;
  if (IsServiceGone(listed)) {
    ServiceLost(/*snapshot=*/true);
  } else if (listed == SCARD_S_SUCCESS) {
    const LONG rv = static_cast<LONG>(WaitOnce(absl::ZeroDuration(), /*snapshot=*/true, &relist));
    if (IsServiceGone(rv)) ServiceLost(/*snapshot=*/true);
  } else {
    relist = true;
  }
  {
    absl::MutexLock lock(&mu_);
    snapshot_done_ = true;
  }

  int errors = 0;
  absl::Duration backoff = options_.first_backoff;
  while (!Stopping()) {
    if (Context() == 0) {
      if (!Reestablish()) break;
      Emit(Event(ReaderEvent::Kind::kServiceRestored, "", /*snapshot=*/false));
      relist = true;
    }
    LONG rv = SCARD_S_SUCCESS;
    if (relist) {
      rv = static_cast<LONG>(Relist(/*snapshot=*/false));
      if (rv == SCARD_S_SUCCESS) relist = false;
    }
    if (rv == SCARD_S_SUCCESS) {
      rv = static_cast<LONG>(WaitOnce(options_.relist_interval, /*snapshot=*/false, &relist));
    }
    if (Stopping()) break;
    switch (rv) {
      case SCARD_S_SUCCESS:
      case SCARD_E_CANCELLED:
        break;
      case SCARD_E_TIMEOUT:
        relist = true;  // quiet: re-read the list (drivers without PnP notification)
        break;
      case SCARD_E_UNKNOWN_READER:
      case SCARD_E_READER_UNAVAILABLE:
        relist = true;  // a reader went away under the wait
        break;
      default:
        if (IsServiceGone(rv)) {
          ServiceLost(/*snapshot=*/false);
          break;
        }
        // Anything else: back off, and start from a fresh context if it persists.
        relist = true;
        if (++errors >= kErrorsBeforeReset) {
          ServiceLost(/*snapshot=*/false);
          errors = 0;
          backoff = options_.first_backoff;
          break;
        }
        {
          absl::MutexLock lock(&mu_);
          mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
        }
        backoff = std::min(backoff * 2, options_.max_backoff);
        continue;
    }
    if (Context() != 0) RereadUids();
    if (rv == SCARD_S_SUCCESS || rv == SCARD_E_TIMEOUT) {
      errors = 0;
      backoff = options_.first_backoff;
    }
  }
  absl::MutexLock lock(&mu_);
  finished_ = true;
}

int64_t ReaderMonitor::Relist(bool snapshot) {
  std::vector<std::string> names;
  const LONG rv = ListReaderNames(static_cast<SCARDCONTEXT>(Context()), &names);
  if (rv != SCARD_S_SUCCESS) return rv;
  for (auto it = tracked_.begin(); it != tracked_.end();) {
    if (std::find(names.begin(), names.end(), it->name) != names.end()) {
      ++it;
      continue;
    }
    if (it->present) {
      Emit(Event(ReaderEvent::Kind::kCardRemoved, it->name, snapshot));
    }
    Emit(Event(ReaderEvent::Kind::kReaderRemoved, it->name, snapshot));
    it = tracked_.erase(it);
  }
  for (const std::string& name : names) {
    const bool known = std::any_of(tracked_.begin(), tracked_.end(),
                                   [&](const Tracked& t) { return t.name == name; });
    if (known) continue;
    tracked_.emplace_back().name = name;
    Emit(Event(ReaderEvent::Kind::kReaderAdded, name, snapshot));
  }
  return rv;
}

int64_t ReaderMonitor::WaitOnce(absl::Duration timeout, bool snapshot, bool* relist) {
  std::vector<SCARD_READERSTATE> states(tracked_.size() + 1);
  for (size_t i = 0; i < tracked_.size(); ++i) {
    states[i].szReader = tracked_[i].name.c_str();
    states[i].dwCurrentState = tracked_[i].current;
    states[i].dwEventState = tracked_[i].current;
  }
  SCARD_READERSTATE& pnp = states.back();
  pnp.szReader = kPnpReader;
  pnp.dwCurrentState = static_cast<DWORD>(pnp_state_);
  pnp.dwEventState = static_cast<DWORD>(pnp_state_);
  const LONG rv =
      SCardGetStatusChange(static_cast<SCARDCONTEXT>(Context()), ToMilliseconds(timeout),
                           states.data(), static_cast<DWORD>(states.size()));
  if (rv != SCARD_S_SUCCESS) return rv;
  if (pnp.dwEventState & SCARD_STATE_CHANGED) {
    pnp_state_ = pnp.dwEventState & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
    *relist = true;
  }
  // Apply may emit, and a callback may take a while; the states were read together.
  for (size_t i = 0; i < tracked_.size(); ++i) {
    const SCARD_READERSTATE& st = states[i];
    if (!(st.dwEventState & SCARD_STATE_CHANGED)) continue;
    if (st.dwEventState & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE)) *relist = true;
    Apply(tracked_[i], st.dwEventState,
          ByteSpan(st.rgbAtr, std::min<DWORD>(st.cbAtr, MAX_ATR_SIZE)), snapshot);
  }
  return rv;
}

void ReaderMonitor::Apply(Tracked& tracked, uint64_t event_state, ByteSpan atr, bool snapshot) {
  const DWORD state = static_cast<DWORD>(event_state);
  tracked.current = state & ~static_cast<DWORD>(SCARD_STATE_CHANGED);
  if (state & (SCARD_STATE_UNKNOWN | SCARD_STATE_IGNORE)) return;  // the re-list removes it
  const uint16_t counter = static_cast<uint16_t>(state >> 16);
  const bool present = (state & SCARD_STATE_PRESENT) != 0;
  if (present && tracked.present) {
    // Still present: replaced when pcscd counted a removal and an insertion in between.
    const uint16_t moved = static_cast<uint16_t>(counter - tracked.counter);
    if (moved >= 2 || !std::equal(atr.begin(), atr.end(), tracked.atr.begin(), tracked.atr.end())) {
      tracked.present = false;
      Emit(Event(ReaderEvent::Kind::kCardRemoved, tracked.name, snapshot));
    }
  }
  if (present && !tracked.present) {
    tracked.present = true;
    tracked.atr.assign(atr.begin(), atr.end());
    ReaderEvent event = Event(ReaderEvent::Kind::kCardInserted, tracked.name, snapshot);
    event.atr = tracked.atr;
    tracked.uid_known = false;
    tracked.uid_read.reset();
    tracked.uid_backoff = options_.uid_reread_first;
    tracked.next_uid_read = absl::Now() + tracked.uid_backoff;
    if (options_.read_uid) TakeUid(tracked, ReadUid(tracked.name), event);
    Emit(std::move(event));
  } else if (!present && tracked.present) {
    tracked.present = false;
    tracked.atr.clear();
    Emit(Event(ReaderEvent::Kind::kCardRemoved, tracked.name, snapshot));
  }
  tracked.counter = counter;
}

void ReaderMonitor::ServiceLost(bool snapshot) {
  {
    absl::MutexLock lock(&mu_);
    if (context_ != 0) SCardReleaseContext(static_cast<SCARDCONTEXT>(context_));
    context_ = 0;
    service_available_ = false;
  }
  Emit(Event(ReaderEvent::Kind::kServiceLost, "", snapshot));
  // The cards' connections and sessions died with pcscd: report them removed now; they come
  // back as CARD_INSERTED once the new pcscd sees them.
  for (Tracked& t : tracked_) {
    if (t.present) {
      t.present = false;
      t.atr.clear();
      Emit(Event(ReaderEvent::Kind::kCardRemoved, t.name, snapshot));
    }
    t.current = SCARD_STATE_UNAWARE;
  }
  pnp_state_ = SCARD_STATE_UNAWARE;
}

bool ReaderMonitor::Reestablish() {
  absl::Duration backoff = options_.first_backoff;
  while (true) {
    if (Stopping()) return false;
    SCARDCONTEXT context = 0;
    if (SCardEstablishContext(SCARD_SCOPE_SYSTEM, nullptr, nullptr, &context) == SCARD_S_SUCCESS) {
      // pcscd may accept a context before it answers: probe it.
      DWORD len = 0;
      if (!IsServiceGone(SCardListReaders(context, nullptr, nullptr, &len))) {
        absl::MutexLock lock(&mu_);
        context_ = static_cast<uintptr_t>(context);
        service_available_ = true;
        ++reestablished_;
        return true;
      }
      SCardReleaseContext(context);
    }
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stopping_), backoff);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

std::shared_ptr<ReaderMonitor::UidRead> ReaderMonitor::ReadUid(const std::string& reader) {
  auto read = std::make_shared<UidRead>();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      absl::MutexLock read_lock(&read->mu);
      read->error = "the monitor is stopping";
      read->done = true;
      return read;
    }
    uid_read_ = read;
  }
  try {
    // Detached: a hung card blocks SCardTransmit for good, and must not block the monitor.
    std::thread([read, reader, attempts = std::max(1, options_.uid_attempts),
                 backoff = options_.uid_retry_backoff] {
      absl::StatusOr<Bytes> result = ReadUidWithRetries(reader, attempts, backoff, [&read] {
        absl::MutexLock lock(&read->mu);
        return read->abandoned;
      });
      absl::MutexLock lock(&read->mu);
      if (result.ok()) {
        read->uid = *std::move(result);
      } else {
        read->error = std::string(result.status().message());
      }
      read->done = true;
    }).detach();
    absl::MutexLock lock(&read->mu);
    read->mu.AwaitWithTimeout(absl::Condition(read.get(), &UidRead::Finished),
                              options_.uid_timeout);
  } catch (const std::system_error&) {
    absl::MutexLock lock(&read->mu);
    read->error = "no thread for the read";
    read->done = true;
  }
  absl::MutexLock lock(&mu_);
  uid_read_.reset();
  return read;
}

bool ReaderMonitor::TakeUid(Tracked& tracked, std::shared_ptr<UidRead> read, ReaderEvent& event) {
  absl::MutexLock lock(&read->mu);
  if (read->done && read->error.empty()) {
    event.uid = read->uid;
    event.uid_unknown_reason.clear();
    tracked.uid_known = true;
    tracked.uid_read.reset();
    return true;
  }
  // A read that still hangs is kept: no other starts until it ends, and its answer counts.
  tracked.uid_read = read->done ? nullptr : read;
  event.uid_unknown_reason = absl::StrCat(
      "UID unknown: ", read->done ? read->error
                                  : absl::StrCat("the reader did not answer GET DATA within ",
                                                 absl::FormatDuration(options_.uid_timeout)));
  return false;
}

void ReaderMonitor::RereadUids() {
  if (!options_.read_uid) return;
  const absl::Time now = absl::Now();
  for (Tracked& t : tracked_) {
    if (!t.present || t.uid_known) continue;
    std::shared_ptr<UidRead> read = t.uid_read;
    if (read == nullptr) {
      if (now < t.next_uid_read) continue;
      t.next_uid_read = now + t.uid_backoff;
      t.uid_backoff = std::min(t.uid_backoff * 2, options_.uid_reread_max);
      read = ReadUid(t.name);
    } else {
      absl::MutexLock lock(&read->mu);
      if (!read->done) continue;  // still hangs
    }
    ReaderEvent event = Event(ReaderEvent::Kind::kCardUpdated, t.name, /*snapshot=*/false);
    event.atr = t.atr;
    if (TakeUid(t, std::move(read), event)) Emit(std::move(event));
  }
}

void ReaderMonitor::Emit(ReaderEvent event) {
  event.time = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // Stop() promises no callback after it returns
    auto it = std::find_if(readers_.begin(), readers_.end(),
                           [&](const ReaderState& r) { return r.reader == event.reader; });
    switch (event.kind) {
      case ReaderEvent::Kind::kReaderAdded:
        if (it == readers_.end()) readers_.emplace_back().reader = event.reader;
        break;
      case ReaderEvent::Kind::kReaderRemoved:
        if (it != readers_.end()) readers_.erase(it);
        break;
      case ReaderEvent::Kind::kCardInserted:
        if (it != readers_.end()) {
          it->card_present = true;
          it->atr = event.atr;
          it->uid = event.uid;
          it->uid_unknown_reason = event.uid_unknown_reason;
        }
        break;
      case ReaderEvent::Kind::kCardUpdated:
        if (it != readers_.end()) {
          it->uid = event.uid;
          it->uid_unknown_reason.clear();
        }
        break;
      case ReaderEvent::Kind::kCardRemoved:
        if (it != readers_.end()) {
          it->card_present = false;
          it->atr.clear();
          it->uid.clear();
          it->uid_unknown_reason.clear();
        }
        break;
      case ReaderEvent::Kind::kServiceLost:
      case ReaderEvent::Kind::kServiceRestored:
        break;
    }
  }
  callback_(event);
}

}  // namespace desfired::pcsc
