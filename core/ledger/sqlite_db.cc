#include "core/ledger/sqlite_db.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/util/status_macros.h"

namespace desfired::ledger::sqlite {

const char kSchema[] = R"sql(
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE ledger (
  seq          INTEGER PRIMARY KEY,
  time         TEXT NOT NULL,
  event        TEXT NOT NULL,
  request_id   TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  caller       TEXT NOT NULL,
  method       TEXT NOT NULL,
  uid          TEXT NOT NULL,
  reader       TEXT NOT NULL,
  aid          INTEGER NOT NULL,
  file_no      INTEGER NOT NULL,
  amount       INTEGER,
  value_before INTEGER,
  value_after  INTEGER,
  outcome      TEXT NOT NULL,
  reason       TEXT NOT NULL,
  commit_state TEXT NOT NULL,
  detail       TEXT NOT NULL,
  payload      BLOB NOT NULL,
  pending_seq  INTEGER NOT NULL,
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL,
  tmc          INTEGER,
  tmv          TEXT NOT NULL DEFAULT '',
  reader_id    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ledger_request_id ON ledger (request_id);
CREATE INDEX ledger_pending_seq ON ledger (pending_seq) WHERE pending_seq != 0;
CREATE INDEX ledger_pending_rows ON ledger (seq) WHERE event = 'PENDING';
CREATE TABLE chain_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT NOT NULL
);
)sql";

const char kColumns[] =
    "seq, time, event, request_id, request_hash, caller, method, uid, reader, aid, file_no, "
    "amount, value_before, value_after, outcome, reason, commit_state, detail, payload, "
    "pending_seq, prev_hash, hash, tmc, tmv, reader_id";

// What version 1 lacks (the Transaction MAC columns), as SELECT expressions and as columns.
constexpr char kV1Select[] =
    "seq, time, event, request_id, request_hash, caller, method, uid, reader, aid, file_no, "
    "amount, value_before, value_after, outcome, reason, commit_state, detail, payload, "
    "pending_seq, prev_hash, hash, NULL, '', ''";
constexpr char kV2Migration[] =
    "ALTER TABLE ledger ADD COLUMN tmc INTEGER;"
    "ALTER TABLE ledger ADD COLUMN tmv TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE ledger ADD COLUMN reader_id TEXT NOT NULL DEFAULT '';"
    "UPDATE meta SET value = '2' WHERE key = 'format_version';";

std::string SelectColumns(int64_t version) { return version < 2 ? kV1Select : kColumns; }

std::string DbError(sqlite3* db) {
  return absl::StrCat(sqlite3_errmsg(db), " (SQLite code ", sqlite3_extended_errcode(db), ")");
}

absl::StatusOr<Stmt> Prepare(sqlite3* db, absl::string_view sql) {
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &s, nullptr) != SQLITE_OK) {
    return absl::InternalError(DbError(db));
  }
  return Stmt(s);
}

bool Exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

absl::string_view ColumnText(sqlite3_stmt* s, int col) {
  const unsigned char* p = sqlite3_column_text(s, col);
  if (p == nullptr) return {};
  return absl::string_view(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s, col)));
}

Value ColumnValue(sqlite3_stmt* s, int col) {
  Value v;
  // The type first: the conversions below may change what sqlite3_column_type reports.
  switch (sqlite3_column_type(s, col)) {
    case SQLITE_INTEGER:
      v.type = Value::Type::kInteger;
      break;
    case SQLITE_FLOAT:
      v.type = Value::Type::kReal;
      break;
    case SQLITE_TEXT:
      v.type = Value::Type::kText;
      break;
    case SQLITE_BLOB:
      v.type = Value::Type::kBlob;
      break;
    default:
      return v;  // NULL
  }
  v.integer = sqlite3_column_int64(s, col);
  // As text for numbers and text, the raw bytes for a blob (sqlite3_column_text would give the
  // same bytes for a blob, NUL-terminated).
  const void* p = sqlite3_column_blob(s, col);
  if (p != nullptr) {
    v.bytes.assign(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s, col)));
  }
  return v;
}

StoredRow ReadRow(sqlite3_stmt* s) {
  StoredRow row;
  for (int col = 0; col < kColumnCount; ++col) row.values[col] = ColumnValue(s, col);
  return row;
}

void BindText(sqlite3_stmt* s, int param, absl::string_view text) {
  // A non-null pointer even for "": a null one would store NULL.
  sqlite3_bind_text(s, param, text.empty() ? "" : text.data(), static_cast<int>(text.size()),
                    SQLITE_STATIC);
}

void BindValue(sqlite3_stmt* s, int param, const Value& v) {
  static const char kEmpty = 0;
  switch (v.type) {
    case Value::Type::kNull:
      sqlite3_bind_null(s, param);
      break;
    case Value::Type::kInteger:
    case Value::Type::kReal:
      sqlite3_bind_int64(s, param, v.integer);
      break;
    case Value::Type::kText:
      BindText(s, param, v.bytes);
      break;
    case Value::Type::kBlob:
      sqlite3_bind_blob(s, param, v.bytes.empty() ? &kEmpty : v.bytes.data(),
                        static_cast<int>(v.bytes.size()), SQLITE_STATIC);
      break;
  }
}

absl::StatusOr<Db> OpenDb(const std::string& path, int flags, absl::Duration busy_timeout) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  Db db(raw);
  if (rc != SQLITE_OK) {
    return absl::UnavailableError(absl::StrCat("cannot open ledger ", path, ": ",
                                               raw != nullptr ? DbError(raw) : sqlite3_errstr(rc)));
  }
  sqlite3_busy_timeout(db.get(), static_cast<int>(absl::ToInt64Milliseconds(busy_timeout)));
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

absl::Status NotALedger(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("ledger ", path, " is not a desfired ledger: ", why));
}

absl::Status CheckMeta(sqlite3* db, const std::string& path, bool* empty, int64_t* version_out) {
  *empty = false;
  if (version_out != nullptr) *version_out = kFormatVersion;
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema", -1, &raw, nullptr) !=
      SQLITE_OK) {
    const int code = sqlite3_errcode(db);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return NotALedger(path, DbError(db));
    return absl::UnavailableError(absl::StrCat("cannot read ledger ", path, ": ", DbError(db)));
  }
  Stmt count(raw);
  const int rc = sqlite3_step(count.get());
  if (rc != SQLITE_ROW) {
    const int code = sqlite3_errcode(db);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return NotALedger(path, DbError(db));
    return absl::UnavailableError(absl::StrCat("cannot read ledger ", path, ": ", DbError(db)));
  }
  if (sqlite3_column_int64(count.get(), 0) == 0) {
    *empty = true;
    return absl::OkStatus();
  }
  raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &raw, nullptr) != SQLITE_OK) {
    return NotALedger(path, "it has no meta table (an SQLite database of something else?)");
  }
  Stmt meta(raw);
  std::optional<std::string> magic, version;
  while (sqlite3_step(meta.get()) == SQLITE_ROW) {
    const absl::string_view key = ColumnText(meta.get(), 0);
    if (key == "magic") magic = std::string(ColumnText(meta.get(), 1));
    if (key == "format_version") version = std::string(ColumnText(meta.get(), 1));
  }
  if (magic != kMagic) return NotALedger(path, "its meta table has no desfired-ledger magic");
  int64_t v = 0;
  if (!version || !absl::SimpleAtoi(*version, &v) || v < 1) {
    return NotALedger(path, "its meta table has no valid format_version");
  }
  if (v > kFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat("ledger ", path, " has format version ", v,
                                                      "; this build reads version ", kFormatVersion,
                                                      " (upgrade desfired)"));
  }
  if (version_out != nullptr) *version_out = v;
  return absl::OkStatus();
}

absl::Status Migrate(sqlite3* db, const std::string& path, int64_t version) {
  if (version >= kFormatVersion) return absl::OkStatus();
  if (!Exec(db, "BEGIN IMMEDIATE")) {
    return absl::UnavailableError(absl::StrCat("cannot migrate ledger ", path, ": ", DbError(db)));
  }
  bool empty = false;
  int64_t now = 0;
  absl::Status s = CheckMeta(db, path, &empty, &now);  // another process may have migrated it
  if (s.ok() && now < 2 && !Exec(db, kV2Migration)) {
    s = absl::UnavailableError(
        absl::StrCat("cannot migrate ledger ", path, " to format version 2: ", DbError(db)));
  }
  if (s.ok() && !Exec(db, "COMMIT")) {
    s = absl::UnavailableError(absl::StrCat("cannot migrate ledger ", path, ": ", DbError(db)));
  }
  if (!s.ok() && !sqlite3_get_autocommit(db)) Exec(db, "ROLLBACK");
  return s;
}

absl::StatusOr<Db> OpenReadOnly(const std::string& path, int64_t* version) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("cannot open ledger ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("ledger ", path, " is not a regular file"));
  }
  DESFIRED_ASSIGN_OR_RETURN(Db db, OpenDb(path, SQLITE_OPEN_READONLY));
  bool empty = false;
  if (absl::Status s = CheckMeta(db.get(), path, &empty, version); !s.ok()) return s;
  if (empty) return NotALedger(path, "it is empty");
  return db;
}

}  // namespace desfired::ledger::sqlite
