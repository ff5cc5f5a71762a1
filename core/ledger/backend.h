// The storage of a ledger: where the rows and the chain head live. The Ledger (ledger.h)
// computes seq, time and the chain and checks what is appended; a Backend stores rows
// (StoredRow, row.h) and the head (chain.h) and answers the reads the Ledger needs. The SQLite
// file (sqlite_backend.h) is one; another store implements the same interface and passes the
// same conformance suite (tests/testing/ledger_backend_test_suite.h).
//
//   std::unique_ptr<Backend> backend = ...;                 // e.g. SqliteBackend::Open(path)
//   Head head = *backend->ReadHead();                       // {0, kGenesisHash} when empty
//   StoredRow row = ...;                                    // row[kSeq] = head.seq + 1, hashed
//   absl::Status s = backend->Append(row, head);            // row and new head, or nothing
//   std::unique_ptr<Snapshot> view = *backend->OpenSnapshot();   // verify, export
//
// A backend promises:
//   - Append stores the row and moves the head to {row's seq, row's hash} atomically and
//     durably (both are stored when it returns OK; neither when it fails), and only from the
//     head the caller names: a store whose head was changed by someone else appends nothing.
//   - Reads see every row appended before they start, and the rows exactly as appended (each
//     Value's type and content, row.h): the backend checks nothing but the hash it moves the
//     head to.
//   - Rows are ordered by seq; the backend does not number them (the Ledger does, with no
//     gaps).
// Errors name the ledger (name()) unless said otherwise; UNAVAILABLE when the storage cannot be
// reached or read (retry later), FAILED_PRECONDITION when what it holds is not a usable ledger,
// INTERNAL when the storage does not understand a query (e.g. a table without a column).
//
// Thread-safe: every method of a Backend may be called from any thread, reads alongside an
// append. A Snapshot and a RowCursor are thread-compatible (one thread at a time).
#ifndef DESFIRED_CORE_LEDGER_BACKEND_H_
#define DESFIRED_CORE_LEDGER_BACKEND_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/ledger/chain.h"
#include "core/ledger/row.h"

namespace desfired::ledger {

// The newest row's seq and `hash` column (the text as stored).
struct LastRow {
  int64_t seq = 0;
  std::string hash;
};

// The stored chain head as it is, for verify to judge (Backend::ReadHead checks it instead).
struct StoredHead {
  Value seq;
  Value hash;
};

// Every row of a snapshot, seq ascending. Must not outlive its Snapshot.
class RowCursor {
 public:
  virtual ~RowCursor() = default;

  // Moves to the next row (the first, on the first call): true when there is one (row() is
  // it), false after the last. UNAVAILABLE when reading fails, with the storage's own message
  // (the caller says what it was reading).
  virtual absl::StatusOr<bool> Next() = 0;
  // The current row: valid after Next() returned true, until the next call to Next().
  virtual const StoredRow& row() const = 0;
};

// A read-only view of the ledger. Every read sees the same state: the one when Pin() was
// called, or else the one of the first read. Appends go on meanwhile.
//
// The reads return the storage's own error message (e.g. SQLite's), without the ledger's name:
// verify and export put it in context.
class Snapshot {
 public:
  virtual ~Snapshot() = default;

  // Where the ledger is, for messages (a file path).
  virtual const std::string& name() const = 0;

  // Fixes the view now: reads after it see no later append. UNAVAILABLE when it cannot.
  virtual absl::Status Pin() = 0;
  // Every row, seq ascending. INTERNAL when the rows cannot be queried at all.
  virtual absl::StatusOr<std::unique_ptr<RowCursor>> Rows() = 0;
  // The rows whose seq is `first_seq` or more, seq ascending (the tail verified at start-up).
  virtual absl::StatusOr<std::unique_ptr<RowCursor>> RowsFrom(int64_t first_seq) = 0;
  // The newest `limit` rows (all when there are fewer), seq DESCENDING: the latest changes a
  // dashboard shows, read without walking the older rows. INVALID_ARGUMENT when limit < 1.
  virtual absl::StatusOr<std::unique_ptr<RowCursor>> NewestFirst(int64_t limit) = 0;
  // The newest row's `hash` column as stored; nullopt when there are no rows.
  virtual absl::StatusOr<std::optional<std::string>> LastHash() = 0;
  // The seq of a row whose `hash` column is `hash`; 0 when none is (or it cannot be read).
  virtual int64_t SeqOfHash(absl::string_view hash) = 0;
  // The stored head. NOT_FOUND when the store has no place for a head at all (an SQLite file
  // without its chain_head table); nullopt when there is none; UNAVAILABLE when reading fails.
  virtual absl::StatusOr<std::optional<StoredHead>> HeadAsStored() = 0;
};

// The head an append of `row` moves to: {row[kSeq].integer, the bytes row[kHash] spells}.
// INVALID_ARGUMENT when row[kHash] is not text of 64 lower-case hex digits (Backend::Append).
inline absl::StatusOr<Head> HeadAfter(const StoredRow& row) {
  const Value& hash_text = row[Column::kHash];
  const std::optional<Hash> hash =
      hash_text.type == Value::Type::kText ? ParseHashHex(hash_text.bytes) : std::nullopt;
  if (!hash) return absl::InvalidArgumentError("ledger: a row's hash must be 64 hex digits");
  return Head{row[Column::kSeq].integer, *hash};
}

class Backend {
 public:
  virtual ~Backend() = default;

  // Where the ledger is, for messages (a file path).
  virtual const std::string& name() const = 0;

  // Stores `row` and moves the head from `from` to {row[kSeq].integer, the bytes row[kHash]
  // spells}, atomically and durably. UNAVAILABLE when nothing was appended: the storage failed
  // (disk full, I/O error, locked by another program past a timeout), or the stored head is
  // not `from` (the store was changed by someone else). INVALID_ARGUMENT when row[kHash] is not
  // text of 64 lower-case hex digits. The row's values are of type kNull, kInteger, kText or
  // kBlob (kReal is only read back, from a store someone else changed).
  virtual absl::Status Append(const StoredRow& row, const Head& from) = 0;
  // Append, except that the row need not be durable when it returns: it is once the next
  // Append returns (or the store is closed). Every reader, a process opening the store after
  // this one crashed included, sees it at once; only a crash of the machine (the OS, the power)
  // before then may lose it (the row alone: the store then ends at `from`). The default is
  // Append.
  virtual absl::Status AppendDeferred(const StoredRow& row, const Head& from) {
    return Append(row, from);
  }
  // Makes every row appended so far durable (a deferred one included). UNAVAILABLE when it
  // cannot (the rows stay as they are). The default: nothing to do.
  virtual absl::Status Sync() { return absl::OkStatus(); }

  // The stored head. FAILED_PRECONDITION when it is missing or malformed (the message says to
  // run `desfirectl ledger verify`), UNAVAILABLE when it cannot be read.
  virtual absl::StatusOr<Head> ReadHead() = 0;
  // The newest row's seq and hash; nullopt when there are no rows.
  virtual absl::StatusOr<std::optional<LastRow>> Last() = 0;

  // The newest row (highest seq) whose request_id is exactly `request_id` (an empty one
  // included); nullopt when there is none.
  virtual absl::StatusOr<std::optional<StoredRow>> Latest(absl::string_view request_id) = 0;
  // PENDING rows that no DONE or RECONCILED row settles (none has pending_seq equal to their
  // seq), seq ascending.
  virtual absl::StatusOr<std::vector<StoredRow>> Unresolved() = 0;
  // The number of rows.
  virtual absl::StatusOr<int64_t> Count() = 0;

  // A new read-only view (see Snapshot), not pinned yet. Its errors name the ledger.
  virtual absl::StatusOr<std::unique_ptr<Snapshot>> OpenSnapshot() = 0;
};

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_BACKEND_H_
