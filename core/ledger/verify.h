// Verifying a ledger's hash chain (docs/ledger.md, "What verify detects"): every row in seq
// order against the one before it, then the chain head against the last row. The first row at
// fault is reported: an edited row (its hash does not match its content), a deleted row (a gap
// in seq, or a prev_hash that is not the previous row's hash), a reordered row (its prev_hash
// is the hash of another row), a value no append writes (malformed), or a head that does not
// match the last row.
//
//   std::unique_ptr<Snapshot> view = *SqliteBackend::OpenFile(path);
//   if (!view->Pin().ok()) ...;
//   VerifyResult v = Verify(*view, std::nullopt);
//   if (!v.ok) std::cerr << "row " << v.bad_seq << ": " << v.problem;
//
// Thread-compatible: Verify reads the snapshot it is given, from one thread.
#ifndef DESFIRED_CORE_LEDGER_VERIFY_H_
#define DESFIRED_CORE_LEDGER_VERIFY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "core/ledger/backend.h"
#include "core/ledger/chain.h"
#include "core/ledger/row.h"

namespace desfired::ledger {

struct VerifyResult {
  bool ok = true;
  int64_t rows = 0;         // rows checked (up to and including a bad one)
  int64_t bad_seq = 0;      // the first row at fault (0: the head, or none)
  std::string problem;      // what is wrong, e.g. "row 7 was edited (hash mismatch): ..."
  std::string head_hash;    // hex hash of the last row, 64 zeros when empty (anchor it elsewhere)
  bool read_error = false;  // the problem is that the ledger could not be read (not tampering)
};

// Walks the rows of `snapshot` (pinned by the caller, so that rows and head are one state).
// `expected` is the head the process that appends last wrote, if it is the caller: the file
// must end there too (which catches the newest rows removed together with a rewritten head).
// A read error is reported as a problem ("cannot read the ledger: ...") at the row it hit.
//
// `from_seq` > 1 checks the tail only: row from_seq - 1 is taken as it is (its hash is the
// anchor, its content not checked) and the rows after it are checked as above; `rows` then
// counts the rows checked from from_seq on. Row from_seq - 1 missing is a problem.
VerifyResult Verify(Snapshot& snapshot, const std::optional<Head>& expected, int64_t from_seq = 1);

// Why `row` is not a row Append could have written (a column of the wrong type, a time that is
// not FormatLedgerTime's, an unknown event, aid or file_no below -1, a pending_seq that is not an
// earlier row, a hash that is not 64 lower-case hex digits), or "" when it could be.
std::string Malformed(const StoredRow& row);

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_VERIFY_H_
