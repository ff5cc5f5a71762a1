// Internal to core/ledger (sqlite_backend.cc): the SQLite file format of a ledger and the
// small wrappers the SQLite backend uses — connections and statements as unique_ptrs, the
// schema, opening a file as a ledger (meta checked), and moving Values (row.h) in and out of
// statements. docs/ledger.md, "The table", describes the format.
//
// Thread-compatible: a connection (Db) and its statements are used by one thread at a time
// (connections are opened with SQLITE_OPEN_NOMUTEX).
#ifndef DESFIRED_CORE_LEDGER_SQLITE_DB_H_
#define DESFIRED_CORE_LEDGER_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/ledger/row.h"

namespace desfired::ledger::sqlite {

// The meta table's values: a file without them is not a ledger.
inline constexpr char kMagic[] = "desfired-ledger";
// Version 2 added the Transaction MAC columns (tmc, tmv, reader_id): a writer migrates a
// version-1 file when it opens it (Migrate), a reader reads one with them absent.
inline constexpr int64_t kFormatVersion = 2;

// The schema (docs/ledger.md). Columns of `ledger` are in Column order.
extern const char kSchema[];
// "seq, time, ..., hash, tmc, tmv, reader_id": every column of `ledger`, in Column order.
extern const char kColumns[];
// The SELECT list of every Column for a file of format `version` (version 1: the Transaction MAC
// columns as NULL, '' and '').
std::string SelectColumns(int64_t version);

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbDeleter>;

// "<message> (SQLite code N)" of the last error on `db`.
std::string DbError(sqlite3* db);

// A persistent prepared statement. INTERNAL with DbError when `sql` does not compile.
absl::StatusOr<Stmt> Prepare(sqlite3* db, absl::string_view sql);

// Resets `s` (and clears its bindings) when it goes out of scope.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* s) : s_(s) {}
  ~ResetOnExit() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* s_;
};

// Runs `sql` (no rows expected); false on any error (DbError says which).
bool Exec(sqlite3* db, const char* sql);

// Column `col` of the current row of `s` as text (empty for NULL).
absl::string_view ColumnText(sqlite3_stmt* s, int col);
// Column `col` as a Value (type, integer and bytes as SQLite converts them).
Value ColumnValue(sqlite3_stmt* s, int col);
// The current row of a `SELECT <kColumns> ...` statement.
StoredRow ReadRow(sqlite3_stmt* s);

// Binds `text` as TEXT (never NULL, even when empty).
void BindText(sqlite3_stmt* s, int param, absl::string_view text);
// Binds `v` by its type (a kReal as its integer: appends carry none).
void BindValue(sqlite3_stmt* s, int param, const Value& v);

// A connection to `path` (flags: SQLITE_OPEN_READWRITE or SQLITE_OPEN_READONLY) with
// extended result codes and the busy timeout. UNAVAILABLE "cannot open ledger <path>: ...".
absl::StatusOr<Db> OpenDb(const std::string& path, int flags,
                          absl::Duration busy_timeout = absl::Seconds(5));

// FAILED_PRECONDITION "ledger <path> is not a desfired ledger: <why>".
absl::Status NotALedger(const std::string& path, absl::string_view why);

// Checks the meta table of an opened database: the magic and a format version this build
// reads. `*empty` is set (and OK returned) when the database has no tables at all.
// FAILED_PRECONDITION when it is not a ledger or is of a newer version, UNAVAILABLE when it
// cannot be read.
// `*version` (when given) gets the file's format version (kFormatVersion for an empty one).
absl::Status CheckMeta(sqlite3* db, const std::string& path, bool* empty,
                       int64_t* version = nullptr);

// Brings a ledger of format `version` to kFormatVersion in one transaction (version 1: adds the
// Transaction MAC columns and sets format_version 2; rows and hashes are untouched). Nothing to
// do for the current version. UNAVAILABLE when the file cannot be written.
absl::Status Migrate(sqlite3* db, const std::string& path, int64_t version);

// Opens an existing ledger read-only (no lock, nothing created): NOT_FOUND / PERMISSION_DENIED
// / UNAVAILABLE when it cannot be opened, FAILED_PRECONDITION when it is not a regular file or
// not a ledger (an empty file included).
// `*version` (when given) gets the file's format version, for SelectColumns.
absl::StatusOr<Db> OpenReadOnly(const std::string& path, int64_t* version = nullptr);

}  // namespace desfired::ledger::sqlite

#endif  // DESFIRED_CORE_LEDGER_SQLITE_DB_H_
