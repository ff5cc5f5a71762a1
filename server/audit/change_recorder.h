// ChangeRecorder: every change desfired makes to a card goes through here — it is written to
// the audit ledger (core/ledger/ledger.h), and a retry with the same request_id gets the first
// outcome instead of a second change. docs/ledger.md states the rules; in short:
//
//   RPC thread                 Begin(change)   claim the request_id (REQUEST_IN_PROGRESS when a
//                                              call with it runs), look up its newest row:
//                                                none, DONE with an error, RECONCILED
//                                                NOT_COMMITTED       → run (a new attempt)
//                                                DONE OK, RECONCILED COMMITTED → replay()
//                                                PENDING (unsettled) → run, settling it first
//                                                RECONCILED CONFLICT/UNKNOWN → OUTCOME_UNKNOWN
//                                                another request    → REQUEST_ID_REUSED
//   worker, card connected     SettleEarlier   read the card: the earlier attempt committed →
//                                              answer from it; it did not → go on
//                              Pending(...)    PENDING row, durable: for value changes from
//                                              cardops::CardContext::before_commit (just
//                                              before CommitTransaction, with the value before
//                                              and the value expected after); for the others
//                                              before the operation starts
//                              Done(status)    DONE row with the outcome and the response
//                                              (synced with the next row when its loss is
//                                              settled from the card: docs/ledger.md) —
//                                              except when the commit went out and its answer
//                                              was lost (commit state UNKNOWN): the PENDING row
//                                              stays unsettled until the card is seen again
//
// Settling (Settle): a PENDING value change is settled by reading the value with the key the
// request named: the expected value → COMMITTED (the call's response is rebuilt and kept for
// replays), the value before → NOT_COMMITTED, anything else → CONFLICT. A change that cannot
// be read back (no value before, not a value change) is settled UNKNOWN without the card.
// Start-up (Recover) loads the unsettled rows; DesfiredServer settles them when their card is
// next on a reader (and a retry of the request settles its own).
//
// Fault injection for the crash tests (Options::crash_*): the process exits (_exit) at that
// point, as if killed there. Never set outside tests.
//
// Thread-safe.
#ifndef DESFIRED_SERVER_AUDIT_CHANGE_RECORDER_H_
#define DESFIRED_SERVER_AUDIT_CHANGE_RECORDER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/cardops/context.h"
#include "core/ledger/ledger.h"
#include "desfired/v1/card.pb.h"
#include "google/protobuf/message.h"

namespace desfired::server {

// What the service knows about a change before it runs.
struct ChangeRequest {
  std::string method;  // "Debit", ...
  std::string request_id;
  std::string caller;
  std::string reader;
  int64_t aid = -1;
  int64_t file_no = -1;
  std::optional<int64_t> amount;
  std::string request_hash;  // RequestHash()
  std::string payload;       // the serialized request (what settling needs)
  std::string reader_id;     // hex: the reader id the change commits (Transaction MAC)
};

// Hex SHA-256 over the method name and the request's deterministic serialization with
// request_id cleared: two requests with the same hash ask for the same change.
std::string RequestHash(absl::string_view method, const google::protobuf::Message& request);

class ChangeRecorder;

// One call's passage through the recorder. Releases the request_id when destroyed.
class ChangeAttempt {
 public:
  ~ChangeAttempt();
  ChangeAttempt(const ChangeAttempt&) = delete;
  ChangeAttempt& operator=(const ChangeAttempt&) = delete;

  // Set when the call is answered from the ledger (the serialized response, replayed = false
  // as first sent).
  const std::optional<std::string>& replay() const { return replay_; }

  // Worker thread, before the operation. When an earlier attempt of this request is
  // unsettled: settles it on the card in `ctx` (OUTCOME_UNKNOWN when it is another card or the
  // outcome cannot be known) and returns the response to replay when it had committed.
  absl::StatusOr<std::optional<std::string>> SettleEarlier(cardops::CardContext& ctx);
  // Writes the PENDING row (durably). LEDGER_UNAVAILABLE when it cannot: the change must not
  // be made.
  absl::Status Pending(const cardops::CardContext& ctx, const cardops::PendingValue* value);
  // Records the outcome (once; later calls do nothing). `response` is the serialized response
  // of a successful call. Nothing is recorded while an earlier attempt is unsettled (its
  // PENDING row must stay the request's newest) or after SettleEarlier returned a replay.
  // `change`: a value change's outcome (its values, and its Transaction MAC's TMC and TMV, go
  // in the row's columns).
  void Done(const cardops::CardContext* ctx, const absl::Status& status,
            const std::string& response, const v1::ValueChange* change = nullptr);
  // The call ended with `status` and this attempt did not get to the change (no card on the
  // reader, the job never ran, a check before the first APDU of the change): when nothing was
  // recorded yet and `status` has no commit state, it gets NOT_COMMITTED — UNKNOWN while an
  // earlier attempt of the request is unsettled — and the outcome is recorded (Done). Returns
  // `status` with that commit state; unchanged once the outcome was recorded.
  absl::Status Refused(absl::Status status);

  // The ledger row holding this call's outcome, once it is known: the DONE row written; the
  // row a replay was answered from (replay(), or SettleEarlier's); the PENDING row left
  // unsettled (commit answer lost). nullopt while none (nothing written, or the write failed).
  // Not thread-safe: read it after the call's job is done.
  std::optional<int64_t> ledger_seq() const { return ledger_seq_; }

 private:
  friend class ChangeRecorder;
  ChangeAttempt(ChangeRecorder& recorder, ChangeRequest request)
      : recorder_(recorder), request_(std::move(request)) {}
  void ReleaseClaim();
  // A row of this change: its identity, the card in `ctx` (when known) and its arguments.
  ledger::Row RowOf(ledger::Event event, const cardops::CardContext* ctx) const;

  ChangeRecorder& recorder_;
  const ChangeRequest request_;
  bool claimed_ = false;
  std::optional<std::string> replay_;
  std::optional<ledger::Row> earlier_;  // an unsettled PENDING row of this request
  std::optional<ledger::Row> pending_;  // this attempt's PENDING row
  bool done_ = false;
  std::optional<int64_t> ledger_seq_;
};

class ChangeRecorder {
 public:
  struct Options {
    // Called for every row written ("PENDING", "DONE", "RECONCILED") and, with "ERROR", for a
    // failed write (metrics).
    std::function<void(absl::string_view event)> on_write = nullptr;
    // Tests only: exit right after the card committed, before the DONE row (a crash there).
    bool crash_after_commit = false;
    // Tests only: exit right after the PENDING row of a value change, before CommitTransaction.
    bool crash_before_commit = false;
    // Tests only: exit right after a DONE row is written (deferred rows: not synced yet).
    bool crash_after_done = false;
  };

  ChangeRecorder(std::unique_ptr<ledger::Ledger> ledger, Options options);

  // Start-up: loads the unsettled PENDING rows; those that can never be read back are settled
  // UNKNOWN at once. Returns how many wait for their card.
  absl::StatusOr<size_t> Recover();

  // RPC thread: admits a change (see the top of this file).
  absl::StatusOr<std::unique_ptr<ChangeAttempt>> Begin(ChangeRequest request);

  // True when an unsettled change of the card `uid` (raw bytes) waits.
  bool HasUnsettled(ByteSpan uid) const;
  // Worker thread: settles every unsettled change of the card in `ctx`. Returns how many were
  // settled; the first error stops (the rest wait for the next contact).
  absl::StatusOr<size_t> SettleCard(cardops::CardContext& ctx);

  ledger::Ledger& ledger() { return *ledger_; }

 private:
  friend class ChangeAttempt;

  absl::StatusOr<ledger::Row> Append(ledger::Row row,
                                     ledger::Durability durability = ledger::Durability::kSynced);
  // Settles one PENDING row on the card in `ctx` (which must be its card).
  absl::StatusOr<ledger::Row> Settle(cardops::CardContext& ctx, const ledger::Row& pending);
  // Settles UNKNOWN without the card.
  absl::StatusOr<ledger::Row> SettleUnknown(const ledger::Row& pending, absl::string_view why);
  void AddUnsettled(const ledger::Row& row) ABSL_LOCKS_EXCLUDED(mu_);
  // Takes the row out of the unsettled set; false when another thread settled it already.
  bool TakeUnsettled(int64_t seq) ABSL_LOCKS_EXCLUDED(mu_);
  void Release(const std::string& request_id) ABSL_LOCKS_EXCLUDED(mu_);

  const std::unique_ptr<ledger::Ledger> ledger_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, ledger::Row> unsettled_ ABSL_GUARDED_BY(mu_);  // by seq
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_AUDIT_CHANGE_RECORDER_H_
