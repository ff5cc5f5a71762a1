// ReaderMonitor: watches the PC/SC readers of one pcscd and reports reader and card events
// (SCardGetStatusChange turned into a stream of ReaderEvent).
//
// One monitor feeds many consumers: a WatchCards broadcaster keeps a mirror of the readers,
// updated in the callback under its own lock, and hands each new subscriber that mirror as
// its snapshot followed by the events published after it. The callback therefore runs on the
// monitor's own thread, one event at a time and in order, and must return quickly (copy the
// event into the subscribers' queues; never call the card from it).
//
//   class CardEventHub {
//    public:
//     absl::Status Start() {
//       DESFIRED_ASSIGN_OR_RETURN(
//           monitor_, pcsc::ReaderMonitor::Start([this](const pcsc::ReaderEvent& event) {
//             absl::MutexLock lock(&mu_);
//             ApplyToMirror(event);                 // the snapshot for new subscribers
//             for (auto& s : subscribers_) s->Push(event);
//           }));
//       return absl::OkStatus();                    // the mirror holds the initial snapshot
//     }
//     ~CardEventHub() { monitor_->Stop(); }         // returns promptly; no callback after it
//     ...
//   };
//
// Events. The monitor starts with a snapshot: READER_ADDED for every reader pcscd lists, then
// CARD_INSERTED for every card present, all with `snapshot` set; Start returns after the
// callback has seen them. Then:
//   READER_ADDED / READER_REMOVED  the reader list changed (\\?PnP?\Notification, and a
//                                  re-list every `relist_interval` for drivers that never
//                                  notify, such as vpcd). A reader removed with a card on it
//                                  gives CARD_REMOVED first.
//   CARD_INSERTED                  the reader reports PRESENT: `atr` from the reader state,
//                                  `uid` from GET DATA (FF CA 00 00 00) through a short
//                                  shared connection, tried `uid_attempts` times with a short
//                                  back-off (a pcscd that is restarting, a reader not ready).
//                                  When every attempt failed, or the reader did not answer
//                                  within `uid_timeout` (a hung card; another program holding
//                                  the card exclusively), `uid` is empty and
//                                  `uid_unknown_reason` says why ("UID unknown: ...").
//   CARD_UPDATED                   the UID of a card reported without one has been read: the
//                                  monitor reads it again while the card stays (first after
//                                  `uid_reread_first`, the wait doubling up to
//                                  `uid_reread_max`; never while an earlier read still hangs,
//                                  whose late answer counts too) and reports it here (`uid`
//                                  set, `atr` as at the insertion).
//   CARD_REMOVED                   the reader reports EMPTY. A card replaced between two
//                                  observations (event counter moved by two or more, or a
//                                  different ATR) gives CARD_REMOVED then CARD_INSERTED.
//
// pcscd restarts: the codes IsServiceGone() names (SCARD_F_COMM_ERROR, SCARD_E_NO_SERVICE,
// SCARD_W_SECURITY_VIOLATION ...; see core/pcsc/pcsc.h) make the monitor report
// PCSC_UNAVAILABLE (kServiceLost, no reader), then CARD_REMOVED for every card it knew (their
// connections and sessions are gone with pcscd), release the context and establish a new one
// with back-off (first_backoff doubling up to max_backoff, for as long as it takes), list the
// readers again (READER_ADDED/REMOVED for the difference; readers that come back under the
// same name give no event) and re-arm every reader from SCARD_STATE_UNAWARE, so the cards
// come back as CARD_INSERTED. A new context reports PCSC_AVAILABLE (kServiceRestored, no
// reader) before the re-list.
//
// pcscd not running at Start: the monitor starts anyway, with service_available() false and
// a PCSC_UNAVAILABLE event (snapshot) as its whole snapshot, and waits for pcscd as after a
// restart (PCSC_AVAILABLE, then READER_ADDED for its readers).
//
// Thread-safe: Readers(), service_available(), reestablished() and Stop() may be called from
// any thread. The destructor calls Stop(). Stop() cancels the wait (SCardCancel from the
// calling thread) and joins the monitor thread; after it returns the callback is not called
// again. Called from inside the callback, Stop() only asks the thread to end (it cannot
// join itself); never destroy the monitor from its callback.
#ifndef DESFIRED_CORE_PCSC_MONITOR_H_
#define DESFIRED_CORE_PCSC_MONITOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/util/bytes.h"

namespace desfired::pcsc {

struct ReaderEvent {
  enum class Kind {
    kReaderAdded,
    kReaderRemoved,
    kCardInserted,
    kCardRemoved,
    kCardUpdated,
    kServiceLost,      // pcscd cannot be reached (reader empty)
    kServiceRestored,  // pcscd answers again (reader empty)
  };

  Kind kind = Kind::kReaderAdded;
  std::string reader;
  Bytes atr;  // kCardInserted, kCardUpdated: as the reader state reported it; else empty
  Bytes uid;  // kCardInserted, kCardUpdated: the GET DATA answer without SW1 SW2; may be empty
  // kCardInserted with an empty uid: why ("UID unknown: ..."); empty otherwise.
  std::string uid_unknown_reason;
  absl::Time time;        // when the monitor saw the change
  bool snapshot = false;  // one of the events describing the state at Start
};

// "READER_ADDED", "READER_REMOVED", "CARD_INSERTED", "CARD_REMOVED", "CARD_UPDATED",
// "PCSC_UNAVAILABLE", "PCSC_AVAILABLE".
absl::string_view ReaderEventKindName(ReaderEvent::Kind kind);

// A reader as the events delivered so far describe it.
struct ReaderState {
  std::string reader;
  bool card_present = false;
  Bytes atr;                       // of the card present
  Bytes uid;                       // of the card present; may be empty
  std::string uid_unknown_reason;  // why uid is empty while a card is present
};

class ReaderMonitor {
 public:
  struct Options {
    // How long one SCardGetStatusChange waits; the reader list is re-read after every quiet
    // wait (vpcd never fires \\?PnP?\Notification).
    absl::Duration relist_interval = absl::Seconds(1);
    // Back-off while pcscd is away: first_backoff, doubling, at most max_backoff.
    absl::Duration first_backoff = absl::Milliseconds(25);
    absl::Duration max_backoff = absl::Seconds(1);
    // Read the UID of an inserted card (FF CA 00 00 00). The read runs on a helper thread
    // with its own context; a card that does not answer within uid_timeout is reported
    // without UID (a hung card never stalls the monitor: SCardTransmit has no time-out).
    bool read_uid = true;
    absl::Duration uid_timeout = absl::Milliseconds(500);
    // Attempts of one read (GET DATA on a fresh connection), `uid_retry_backoff` apart (then
    // twice that, ...), all within uid_timeout.
    int uid_attempts = 3;
    absl::Duration uid_retry_backoff = absl::Milliseconds(20);
    // A card reported without UID: when to read it again (doubling up to uid_reread_max). The
    // monitor looks every relist_interval at most.
    absl::Duration uid_reread_first = absl::Seconds(1);
    absl::Duration uid_reread_max = absl::Minutes(1);
  };
  using Callback = std::function<void(const ReaderEvent&)>;

  // Establishes a context, starts the monitor thread and returns once the snapshot has been
  // delivered to `callback`. When pcscd cannot be reached it still starts (see "pcscd not
  // running at Start" above). Errors: another SCardEstablishContext failure (e.g. INTERNAL),
  // INTERNAL when the thread cannot start. Do not hold a lock that the callback
  // takes while calling Start.
  static absl::StatusOr<std::unique_ptr<ReaderMonitor>> Start(Options options, Callback callback);
  static absl::StatusOr<std::unique_ptr<ReaderMonitor>> Start(Callback callback) {
    return Start(Options{}, std::move(callback));
  }

  ~ReaderMonitor();
  ReaderMonitor(const ReaderMonitor&) = delete;
  ReaderMonitor& operator=(const ReaderMonitor&) = delete;

  // Ends the monitor: cancels the pending SCardGetStatusChange and joins the thread.
  // Idempotent. Returns within a few ms, or after an event callback in progress returns.
  void Stop();

  // The readers as the events delivered so far describe them (updated just before each
  // callback), in the order they were added.
  std::vector<ReaderState> Readers() const;
  // False from the moment pcscd went away until a new context answers.
  bool service_available() const;
  // How many times the context was re-established after pcscd went away.
  int64_t reestablished() const;

 private:
  struct Tracked;
  struct UidRead;

  ReaderMonitor(Options options, Callback callback, uintptr_t context);
  void Run();
  bool Stopping() const;
  uintptr_t Context() const;
  // Emits the difference between the tracked readers and pcscd's list; returns the PC/SC
  // code of SCardListReaders.
  int64_t Relist(bool snapshot);
  // One SCardGetStatusChange over the tracked readers and \\?PnP?\Notification.
  int64_t WaitOnce(absl::Duration timeout, bool snapshot, bool* relist);
  void Apply(Tracked& tracked, uint64_t event_state, ByteSpan atr, bool snapshot);
  // Releases the context and reports PCSC_UNAVAILABLE, then every card known as removed.
  void ServiceLost(bool snapshot);
  bool Reestablish();  // false when stopping
  // Starts a UID read on a helper thread and waits up to uid_timeout; the read (done or still
  // running) is returned.
  std::shared_ptr<UidRead> ReadUid(const std::string& reader);
  // Reads the UID of the cards reported without one, as the schedule of each says.
  void RereadUids();
  // Takes the outcome of `read` into `tracked` and `event` (uid, or the reason it is
  // unknown); true when the UID is known.
  bool TakeUid(Tracked& tracked, std::shared_ptr<UidRead> read, ReaderEvent& event);
  void Emit(ReaderEvent event);

  const Options options_;
  const Callback callback_;
  std::thread thread_;
  std::vector<Tracked> tracked_;  // monitor thread only
  uint64_t pnp_state_ = 0;        // monitor thread only

  absl::Mutex join_mu_;  // one joiner when Stop() races with Stop()
  mutable absl::Mutex mu_;
  uintptr_t context_ ABSL_GUARDED_BY(mu_) = 0;  // SCARDCONTEXT; 0 while pcscd is away
  std::thread::id thread_id_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool snapshot_done_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool service_available_ ABSL_GUARDED_BY(mu_) = true;
  int64_t reestablished_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<UidRead> uid_read_ ABSL_GUARDED_BY(mu_);  // the read being waited for
  std::vector<ReaderState> readers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace desfired::pcsc

#endif  // DESFIRED_CORE_PCSC_MONITOR_H_
