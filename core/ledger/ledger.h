// Ledger: the audit ledger and idempotency record of every change desfired makes to a card.
// Append-only, each row hash-chained to the one before it (chain.h), stored by a Backend
// (backend.h): by default one SQLite file in the data directory (sqlite_backend.h: WAL,
// synchronous=FULL, so a row is on disk when Append returns). docs/ledger.md describes the
// rows, the chain and the reconciliation rules.
//
//   DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Ledger> ledger, Ledger::Open(path));
//   Row pending{.event = Event::kPending, .request_id = "r-1", ...};
//   DESFIRED_ASSIGN_OR_RETURN(Row stored, ledger->Append(pending));   // durable
//   ... CommitTransaction on the card ...
//   ledger->Append({.event = Event::kDone, .request_id = "r-1", .outcome = "OK", ...});
//
//   VerifyResult v = ledger->Verify();     // or Ledger::VerifyFile(path)
//   if (!v.ok) std::cerr << "row " << v.bad_seq << ": " << v.problem;
//
// The Ledger numbers the rows (seq 1, 2, 3, ...), stamps their time, computes prev_hash and
// hash, and keeps the chain head it wrote last: each append moves the stored head from that
// one only, so that a store changed by another program is not written past. At Open the
// stored head must be the last row's (appending to a broken end would hide the break).
//
// Thread-safe: every method may be called from any thread. Appends are serialized; Latest,
// Unresolved and Count go on alongside them (the SQLite backend reads on a second connection);
// Verify and Export read a snapshot of their own, so appends go on while they run.
#ifndef DESFIRED_CORE_LEDGER_LEDGER_H_
#define DESFIRED_CORE_LEDGER_LEDGER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/ledger/backend.h"
#include "core/ledger/chain.h"
#include "core/ledger/export.h"
#include "core/ledger/row.h"
#include "core/ledger/sqlite_backend.h"
#include "core/ledger/verify.h"

namespace desfired::ledger {

// The reason (core/util/status_reason.h) of a failed append.
inline constexpr absl::string_view kReasonLedgerUnavailable = "LEDGER_UNAVAILABLE";

class Ledger {
 public:
  // The SQLite file's options (sqlite_backend.h): check_permissions, busy_timeout.
  using Options = SqliteBackend::Options;
  using VerifyResult = ::desfired::ledger::VerifyResult;
  using ExportFormat = ::desfired::ledger::ExportFormat;

  // Opens (creating with mode 0600, and its schema) the SQLite ledger at `path`. The directory
  // must exist (NOT_FOUND otherwise). FAILED_PRECONDITION when the file is group/other
  // accessible, is not a ledger (or has a newer format version), is open in another process
  // (an flock on the file keeps a second desfired out), or its chain head does not match its
  // last row (the file was changed outside desfired: `desfirectl ledger verify` says how).
  // Errors name the path.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path, Options options);
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path) {
    return Open(path, Options{});
  }
  // A ledger on `backend` (any Backend). FAILED_PRECONDITION when the stored head is missing
  // or malformed or is not the last row's; UNAVAILABLE when it cannot be read.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(std::unique_ptr<Backend> backend);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends `row` (seq, time, prev_hash and hash are filled in) durably; returns the row as
  // stored. UNAVAILABLE with reason LEDGER_UNAVAILABLE when the write fails (disk full, I/O
  // error, the file locked by another program past busy_timeout, or its head changed by
  // another program): nothing was appended and the chain goes on from the last stored row.
  // INVALID_ARGUMENT when pending_seq does not name an earlier row (or is negative) or aid /
  // file_no is below -1.
  absl::StatusOr<Row> Append(Row row) ABSL_LOCKS_EXCLUDED(mu_);

  // The newest row with this request_id (nullopt: never seen). An empty request_id is never
  // found (rows without one are not an idempotency record).
  absl::StatusOr<std::optional<Row>> Latest(absl::string_view request_id);

  // PENDING rows that no later row settles (no DONE or RECONCILED row has pending_seq equal to
  // their seq): attempts that never finished. Oldest first.
  absl::StatusOr<std::vector<Row>> Unresolved();

  // Number of rows.
  absl::StatusOr<int64_t> Count();

  // Verify (verify.h) on a snapshot taken while no append is under way. Besides the stored
  // head, checks that the ledger ends at the head this Ledger wrote last (catches rows removed
  // from the end together with a rewritten head while it runs). A snapshot that cannot be
  // opened is reported as the problem.
  VerifyResult Verify() ABSL_LOCKS_EXCLUDED(mu_);
  // Verify() on a SQLite file opened read-only (desfirectl ledger verify); an error when it
  // cannot be opened or is not a ledger.
  static absl::StatusOr<VerifyResult> VerifyFile(const std::string& path);
  // Latest() on a SQLite file opened read-only (while desfired holds it, e.g. for tools and
  // tests).
  static absl::StatusOr<std::optional<Row>> LatestInFile(const std::string& path,
                                                         absl::string_view request_id);

  // Every row, oldest first, every column, in one snapshot (export.h: payload as hex; absent
  // optional values null in JSON, empty in CSV; CSV with a header line, RFC 4180 quoting, LF
  // line ends). docs/ledger.md has the formats. UNAVAILABLE when the ledger cannot be read or
  // `out` fails.
  absl::Status Export(std::ostream& out, ExportFormat format);
  // Export() of a SQLite file opened read-only (desfirectl ledger export).
  static absl::Status ExportFile(const std::string& path, std::ostream& out, ExportFormat format);

 private:
  Ledger(std::unique_ptr<Backend> backend, Head head);

  const std::unique_ptr<Backend> backend_;
  absl::Mutex mu_;
  Head head_ ABSL_GUARDED_BY(mu_);  // the last row this Ledger wrote (or found at Open)
};

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_LEDGER_H_
