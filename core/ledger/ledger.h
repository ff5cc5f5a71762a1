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
// Durability: Append(row) is durable when it returns; Append(row, Durability::kDeferred) is
// seen by every reader at once but durable only with the next durable append (a crash of the
// machine before then may lose that row alone). At most one deferred row waits: the next
// deferred append is made durable.
//
// The ledger knows it existed: the head file (head_file.h, `ledger.head` beside
// `ledger.sqlite`) holds the head outside the store and is moved after every durable append
// (written, not synced: it only ever names a durable row). At Open the store must end at that
// head (or one row past it: a deferred row, or an append whose head-file write a crash cut
// short; further past it only when the machine restarted since the head file was written, see
// startup_check.h), and the newest `verify_rows` rows must verify; an
// emptied, deleted, cut short, replaced or edited ledger is refused (FAILED_PRECONDITION,
// naming the cause and the remedy) unless the operator asks for recovery (Options::
// recover_reason): then the event is recorded as a RECOVERED row. docs/ledger.md, "Start-up
// checks and recovery".
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
#include "absl/time/time.h"
#include "core/ledger/backend.h"
#include "core/ledger/chain.h"
#include "core/ledger/export.h"
#include "core/ledger/head_file.h"
#include "core/ledger/row.h"
#include "core/ledger/sqlite_backend.h"
#include "core/ledger/verify.h"

namespace desfired::ledger {

// The reason (core/util/status_reason.h) of a failed append.
inline constexpr absl::string_view kReasonLedgerUnavailable = "LEDGER_UNAVAILABLE";

// The rows verified at Open (the newest ones; all of a ledger this small): about 0.3 s.
inline constexpr int64_t kDefaultVerifyRows = 100000;

// How durable an append is when it returns (see the top of the file).
enum class Durability {
  kSynced,    // on disk
  kDeferred,  // on disk with the next synced append; lost only with the machine before then
};

class Ledger {
 public:
  struct Options {
    // Refuse a ledger file (and its -wal / -shm files) or head file that group or others may
    // access.
    bool check_permissions = true;
    // How long an append (or Open) waits for a lock another program holds on the file (e.g.
    // an sqlite3 shell in a write transaction) before it fails with UNAVAILABLE.
    absl::Duration busy_timeout = absl::Seconds(5);
    // The head file. Open(path): empty means HeadFilePathFor(path). Open(backend): empty
    // means none (the store is trusted to have existed; tests of a backend).
    std::string head_file = "";
    // Rows verified at Open, the newest first counted (0: every row).
    int64_t verify_rows = kDefaultVerifyRows;
    // Non-empty: the operator's reason to go on with a ledger Open would refuse (--ledger_recover).
    // A ledger that verifies on its own is kept and a RECOVERED row appended to it; otherwise
    // (Open(path) only) the file is renamed aside (<path>.before-recovery-<UTC time>, never
    // deleted) and a new ledger starts with the RECOVERED row. FAILED_PRECONDITION when there is
    // nothing to recover (the flag must not stay set and hide the next incident).
    std::string recover_reason = "";
  };
  using VerifyResult = ::desfired::ledger::VerifyResult;
  using ExportFormat = ::desfired::ledger::ExportFormat;

  // Opens (creating with mode 0600, and its schema) the SQLite ledger at `path` and checks it
  // against its head file. The directory must exist (NOT_FOUND otherwise).
  // FAILED_PRECONDITION when the file or head file is group/other accessible, the file is not
  // a ledger (or has a newer format version), is open in another process (an flock on the
  // file keeps a second desfired out), its chain head does not match its last row, or it
  // fails the start-up checks above (the message names the cause, and says to run
  // `desfirectl ledger verify` and how to recover). Errors name the path.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path, Options options);
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path) {
    return Open(path, Options{});
  }
  // A ledger on `backend` (any Backend), checked against options.head_file when one is named
  // (check_permissions and busy_timeout are the backend's business). FAILED_PRECONDITION when
  // the stored head is missing or malformed or is not the last row's, or the start-up checks
  // fail (a recovery that would need a new store included); UNAVAILABLE when it cannot be read.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(std::unique_ptr<Backend> backend,
                                                      Options options);
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(std::unique_ptr<Backend> backend) {
    return Open(std::move(backend), Options{});
  }
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends `row` (seq, time, prev_hash and hash are filled in) durably, then moves the head
  // file; returns the row as stored. UNAVAILABLE with reason LEDGER_UNAVAILABLE when the write
  // fails (disk full, I/O error, the file locked by another program past busy_timeout, its
  // head changed by another program, the head file of an earlier append still not written) or
  // a Verify of this Ledger found the chain broken: nothing was appended and the chain goes on
  // from the last stored row. A head-file write that fails after the row is stored still
  // returns the row (the file then lags one row, which Open accepts) and is made good by the
  // next append, or that append fails.
  // INVALID_ARGUMENT when pending_seq does not name an earlier row (or is negative) or aid /
  // file_no is below -1.
  // With Durability::kDeferred: see the top of the file.
  absl::StatusOr<Row> Append(Row row, Durability durability = Durability::kSynced)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The newest row with this request_id (nullopt: never seen). An empty request_id is never
  // found (rows without one are not an idempotency record).
  absl::StatusOr<std::optional<Row>> Latest(absl::string_view request_id);

  // PENDING rows that no later row settles (no DONE or RECONCILED row has pending_seq equal to
  // their seq): attempts that never finished. Oldest first.
  absl::StatusOr<std::vector<Row>> Unresolved();

  // Number of rows.
  absl::StatusOr<int64_t> Count();

  // Verify (verify.h) on a snapshot taken while no append is under way: the newest
  // `tail_rows` rows (0: all). Besides the stored head, checks that the ledger ends at the head
  // this Ledger wrote last (catches rows removed from the end together with a rewritten head
  // while it runs) and that the head file holds it. A snapshot that cannot be opened is
  // reported as the problem (read_error). Any other problem is kept: from then on Append fails
  // (no more changes on a broken ledger; a restart runs the start-up checks).
  VerifyResult Verify(int64_t tail_rows = 0) ABSL_LOCKS_EXCLUDED(mu_);
  // Verify() on a SQLite file opened read-only (desfirectl ledger verify); an error when it
  // cannot be opened or is not a ledger. With `head_file` (not empty; a missing file is
  // skipped), the ledger must also end at the head that file holds, or one row past it.
  static absl::StatusOr<VerifyResult> VerifyFile(const std::string& path,
                                                 const std::string& head_file = "");
  // Latest() on a SQLite file opened read-only (while desfired holds it, e.g. for tools and
  // tests).
  static absl::StatusOr<std::optional<Row>> LatestInFile(const std::string& path,
                                                         absl::string_view request_id);

  // Every row, oldest first, every column, in one snapshot (export.h: payload as hex; absent
  // optional values null in JSON, empty in CSV; CSV with a header line, RFC 4180 quoting, LF
  // line ends). docs/ledger.md has the formats. UNAVAILABLE when the ledger cannot be read or
  // `out` fails.
  absl::Status Export(std::ostream& out, ExportFormat format);
  // The newest `limit` rows in the format of Export, NEWEST FIRST, read without the older ones
  // (export.h, ExportNewest): the latest changes a dashboard shows. INVALID_ARGUMENT when
  // limit < 1; UNAVAILABLE as Export.
  absl::Status ExportNewest(std::ostream& out, ExportFormat format, int64_t limit);
  // Verify(tail_rows), or the result of the last one when this Ledger's head has not moved
  // since and that result is younger than `max_age`: for callers that ask often (the
  // dashboard's ledger panel polls), so that concurrent and repeated asks verify once. An
  // append re-verifies at the next ask; a row changed by another program without moving the
  // head shows at the latest `max_age` later (or at the next Verify).
  VerifyResult VerifyRecent(int64_t tail_rows, absl::Duration max_age)
      ABSL_LOCKS_EXCLUDED(mu_, verify_mu_);
  // Export() of a SQLite file opened read-only (desfirectl ledger export).
  static absl::Status ExportFile(const std::string& path, std::ostream& out, ExportFormat format);

 private:
  Ledger(std::unique_ptr<Backend> backend, Head head, std::unique_ptr<HeadFile> head_file,
         bool head_file_stale);
  // Appends a RECOVERED row (Options::recover_reason) describing what was found.
  absl::Status AppendRecovery(const std::string& reason, const std::string& detail);

  const std::unique_ptr<Backend> backend_;
  absl::Mutex mu_;
  Head head_ ABSL_GUARDED_BY(mu_);             // the last row this Ledger wrote (or found at Open)
  const std::unique_ptr<HeadFile> head_file_;  // null: none
  bool head_file_stale_ ABSL_GUARDED_BY(mu_);  // a head-file write failed: it lags head_
  std::string broken_ ABSL_GUARDED_BY(mu_);    // what Verify found wrong; empty: nothing
  // head_ is a deferred row: the head file names the row before it.
  bool deferred_ ABSL_GUARDED_BY(mu_) = false;
  // VerifyRecent's last result, the head and tail it was computed for, and when.
  absl::Mutex verify_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::optional<VerifyResult> recent_ ABSL_GUARDED_BY(verify_mu_);
  Head recent_head_ ABSL_GUARDED_BY(verify_mu_);
  int64_t recent_tail_ ABSL_GUARDED_BY(verify_mu_) = 0;
  absl::Time recent_at_ ABSL_GUARDED_BY(verify_mu_);
};

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_LEDGER_H_
