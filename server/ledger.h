// Ledger: the audit ledger and idempotency record of every change desfired makes to a card.
// One SQLite file in the data directory (WAL, synchronous=FULL: a row is on disk when Append
// returns), append-only, each row hash-chained to the one before it. docs/ledger.md describes
// the rows, the chain and the reconciliation rules.
//
//   DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Ledger> ledger, Ledger::Open(path));
//   LedgerRow pending{.event = LedgerEvent::kPending, .request_id = "r-1", ...};
//   DESFIRED_ASSIGN_OR_RETURN(int64_t seq, ledger->Append(pending));   // durable
//   ... CommitTransaction on the card ...
//   ledger->Append({.event = LedgerEvent::kDone, .request_id = "r-1", .outcome = "OK", ...});
//
//   Ledger::VerifyResult v = ledger->Verify();     // or Ledger::VerifyFile(path)
//   if (!v.ok) std::cerr << "row " << v.bad_seq << ": " << v.problem;
//
// The chain. Row n carries hash_n = SHA-256(hash_{n-1} ‖ canonical(row n)), hash_0 being 32
// zero bytes; canonical() covers every column but `hash` itself (seq and prev_hash included)
// in a fixed, length-prefixed encoding. A `chain_head` table holds the last seq and hash and
// is updated in the same SQLite transaction as each append, so that removing the newest rows
// is caught too. Verify() reports the first row that breaks the chain: an edited row (its hash
// does not match its content), a deleted row (a gap in seq, or a prev_hash that is not the
// previous row's hash), a reordered row (seq out of order / prev_hash mismatch), or a head that
// does not match the last row.
//
// Thread-safe: every method may be called from any thread. Appends are serialized on one
// writing connection; Latest, Unresolved and Count share a second, read-only connection; Verify
// and Export open their own read-only connection for one consistent snapshot, so appends go on
// while they run (WAL).
#ifndef DESFIRED_SERVER_LEDGER_H_
#define DESFIRED_SERVER_LEDGER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace desfired::server {

enum class LedgerEvent {
  // The change is about to be committed on the card (written before CommitTransaction, or
  // before the command itself for changes without a transaction).
  kPending,
  // The call finished: `outcome` says how.
  kDone,
  // An attempt left pending (crash, lost commit answer) was settled by reading the card, or
  // marked UNKNOWN when it cannot be (docs/ledger.md).
  kReconciled,
  // ParseTaps results kept for forensic replay (optional, --ledger_taps).
  kTaps,
};

// "PENDING", "DONE", "RECONCILED", "TAPS".
absl::string_view LedgerEventName(LedgerEvent event);

struct LedgerRow {
  int64_t seq = 0;  // set by Append: 1, 2, 3, ...
  absl::Time time;  // set by Append (UTC, microseconds)
  LedgerEvent event = LedgerEvent::kPending;
  std::string request_id;    // may be empty (a change without idempotency key)
  std::string request_hash;  // hex SHA-256 of the request's canonical form (server/idempotency)
  std::string caller;        // who asked (token name, certificate subject, or peer)
  std::string method;        // "Debit", "WriteData", "FormatCard", ...
  std::string uid;           // hex, the card's UID
  std::string reader;
  int64_t aid = -1;                     // -1: none
  int64_t file_no = -1;                 // -1: none
  std::optional<int64_t> amount;        // value changes
  std::optional<int64_t> value_before;  // value changes, when read
  std::optional<int64_t> value_after;   // DONE: as read; PENDING: the value expected
  // DONE: "OK", or the error's code name ("NOT_FOUND", ...). RECONCILED: "COMMITTED",
  // "NOT_COMMITTED", "CONFLICT" or "UNKNOWN". PENDING: empty.
  std::string outcome;
  std::string reason;        // the error reason (ErrorInfo.reason), when there is one
  std::string commit_state;  // "NOT_COMMITTED", "UNKNOWN" or empty
  std::string detail;        // free text (an error message, a reconciliation note)
  // DONE (OK): the serialized response, replayed for a retry. PENDING: the serialized request
  // (what reconciliation needs: aid, file, key name, mode). TAPS: the serialized ParseTaps
  // request and response.
  std::string payload;
  // DONE and RECONCILED rows that settle a PENDING row carry its seq here; 0 otherwise.
  int64_t pending_seq = 0;
  std::string prev_hash;  // set by Append: hex
  std::string hash;       // set by Append: hex
};

class Ledger {
 public:
  struct Options {
    // Refuse to open a file readable or writable by group or others (like the key store); the
    // -wal and -shm files beside it too, when they exist.
    bool check_permissions = true;
    // How long an append (or Open) waits for a lock another program holds on the file (e.g.
    // an sqlite3 shell in a write transaction) before it fails with UNAVAILABLE.
    absl::Duration busy_timeout = absl::Seconds(5);
  };

  // Opens (creating with mode 0600, and its schema) the ledger at `path`. The directory must
  // exist (NOT_FOUND otherwise). FAILED_PRECONDITION when the file is group/other accessible,
  // is not a ledger (or has a newer format version), is open in another process (an flock on
  // the file keeps a second desfired out), or its chain head does not match its last row (the
  // file was changed outside desfired: `desfirectl ledger verify` says how). Errors name the
  // path.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path, Options options);
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path) {
    return Open(path, Options{});
  }
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends `row` (seq, time, prev_hash and hash are filled in) durably; returns the row as
  // stored. UNAVAILABLE with reason LEDGER_UNAVAILABLE when the write fails (disk full, I/O
  // error, the file locked by another program past busy_timeout, or its head changed by
  // another program): nothing was appended and the chain goes on from the last stored row.
  // INVALID_ARGUMENT when pending_seq does not name an earlier row (or is negative) or aid /
  // file_no is below -1.
  absl::StatusOr<LedgerRow> Append(LedgerRow row);

  // The newest row with this request_id (nullopt: never seen). An empty request_id is never
  // found (rows without one are not an idempotency record).
  absl::StatusOr<std::optional<LedgerRow>> Latest(absl::string_view request_id);

  // PENDING rows that no later row settles (no DONE or RECONCILED row has pending_seq equal to
  // their seq): attempts that never finished. Oldest first.
  absl::StatusOr<std::vector<LedgerRow>> Unresolved();

  // Number of rows.
  absl::StatusOr<int64_t> Count();

  struct VerifyResult {
    bool ok = true;
    int64_t rows = 0;       // rows checked (up to and including a bad one)
    int64_t bad_seq = 0;    // the first row at fault (0: the head, or none)
    std::string problem;    // what is wrong, e.g. "row 7 was edited (hash mismatch): ..."
    std::string head_hash;  // hex hash of the last row, 64 zeros when empty (anchor it elsewhere)
  };
  // Besides the file's own head, checks that the file ends at the head this process wrote
  // last (catches rows removed from the end together with a rewritten head while it runs).
  VerifyResult Verify();
  // Verify() on a file opened read-only (desfirectl ledger verify); an error when it cannot
  // be opened or is not a ledger.
  static absl::StatusOr<VerifyResult> VerifyFile(const std::string& path);
  // Latest() on a file opened read-only (while desfired holds it, e.g. for tools and tests).
  static absl::StatusOr<std::optional<LedgerRow>> LatestInFile(const std::string& path,
                                                               absl::string_view request_id);

  enum class ExportFormat { kJsonLines, kCsv };
  // Every row, oldest first, every column (payload as hex; absent optional values null in JSON,
  // empty in CSV; CSV with a header line, RFC 4180 quoting, LF line ends). docs/ledger.md has
  // the formats. UNAVAILABLE when the file cannot be read or `out` fails.
  absl::Status Export(std::ostream& out, ExportFormat format);
  static absl::Status ExportFile(const std::string& path, std::ostream& out, ExportFormat format);

 private:
  struct Impl;
  explicit Ledger(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_LEDGER_H_
