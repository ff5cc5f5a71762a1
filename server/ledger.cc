#include "server/ledger.h"

#include <fcntl.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "core/apdu/status_payload.h"
#include "core/util/bytes.h"
#include "core/util/private_file.h"
#include "core/util/status_macros.h"

namespace desfired::server {
namespace {

// The meta table's values: a file without them is not a ledger.
constexpr char kMagic[] = "desfired-ledger";
constexpr int64_t kFormatVersion = 1;
constexpr absl::string_view kReasonLedgerUnavailable = "LEDGER_UNAVAILABLE";
constexpr size_t kHashSize = SHA256_DIGEST_LENGTH;  // 32
constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E6SZ";

// The schema (docs/ledger.md). Columns of `ledger` are in canonical order, `hash` last.
constexpr char kSchema[] = R"sql(
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
  hash         TEXT NOT NULL
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

constexpr char kColumns[] =
    "seq, time, event, request_id, request_hash, caller, method, uid, reader, aid, file_no, "
    "amount, value_before, value_after, outcome, reason, commit_state, detail, payload, "
    "pending_seq, prev_hash, hash";

// Column indexes in kColumns.
enum Col {
  kSeq,
  kTime,
  kEvent,
  kRequestId,
  kRequestHash,
  kCaller,
  kMethod,
  kUid,
  kReader,
  kAid,
  kFileNo,
  kAmount,
  kValueBefore,
  kValueAfter,
  kOutcome,
  kReason,
  kCommitState,
  kDetail,
  kPayload,
  kPendingSeq,
  kPrevHash,
  kHash,
  kColumnCount
};

constexpr const char* kColumnNames[kColumnCount] = {
    "seq",          "time",        "event",     "request_id", "request_hash", "caller",
    "method",       "uid",         "reader",    "aid",        "file_no",      "amount",
    "value_before", "value_after", "outcome",   "reason",     "commit_state", "detail",
    "payload",      "pending_seq", "prev_hash", "hash"};

enum class ColType { kInt, kOptionalInt, kText, kBlob };

constexpr ColType ColumnType(int col) {
  switch (col) {
    case kSeq:
    case kAid:
    case kFileNo:
    case kPendingSeq:
      return ColType::kInt;
    case kAmount:
    case kValueBefore:
    case kValueAfter:
      return ColType::kOptionalInt;
    case kPayload:
      return ColType::kBlob;
    default:
      return ColType::kText;
  }
}

constexpr LedgerEvent kEvents[] = {LedgerEvent::kPending, LedgerEvent::kDone,
                                   LedgerEvent::kReconciled, LedgerEvent::kTaps};

std::optional<LedgerEvent> ParseEvent(absl::string_view name) {
  for (LedgerEvent e : kEvents) {
    if (LedgerEventName(e) == name) return e;
  }
  return std::nullopt;
}

// ---- SQLite helpers ---------------------------------------------------------------------------

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

struct DbDeleter {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Db = std::unique_ptr<sqlite3, DbDeleter>;

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

bool Exec(sqlite3* db, const char* sql) {
  return sqlite3_exec(db, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
}

absl::string_view ColumnText(sqlite3_stmt* s, int col) {
  const unsigned char* p = sqlite3_column_text(s, col);
  if (p == nullptr) return {};
  return absl::string_view(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s, col)));
}

absl::string_view ColumnBlob(sqlite3_stmt* s, int col) {
  const void* p = sqlite3_column_blob(s, col);
  if (p == nullptr) return {};
  return absl::string_view(static_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(s, col)));
}

std::optional<int64_t> ColumnOptional(sqlite3_stmt* s, int col) {
  if (sqlite3_column_type(s, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, col);
}

void BindText(sqlite3_stmt* s, int param, absl::string_view text) {
  // A non-null pointer even for "": a null one would store NULL.
  sqlite3_bind_text(s, param, text.empty() ? "" : text.data(), static_cast<int>(text.size()),
                    SQLITE_STATIC);
}

void BindBlob(sqlite3_stmt* s, int param, absl::string_view bytes) {
  static const char kEmpty = 0;
  sqlite3_bind_blob(s, param, bytes.empty() ? &kEmpty : bytes.data(),
                    static_cast<int>(bytes.size()), SQLITE_STATIC);
}

void BindOptional(sqlite3_stmt* s, int param, const std::optional<int64_t>& v) {
  if (v) {
    sqlite3_bind_int64(s, param, *v);
  } else {
    sqlite3_bind_null(s, param);
  }
}

// ---- The chain ----------------------------------------------------------------------------------

using Hash = std::array<uint8_t, kHashSize>;

std::string HashHex(const Hash& h) { return HexEncode(ByteSpan(h.data(), h.size())); }

// 64 lower-case hex digits -> 32 bytes.
std::optional<Hash> ParseHashHex(absl::string_view hex) {
  if (hex.size() != 2 * kHashSize) return std::nullopt;
  Hash h{};
  for (size_t i = 0; i < kHashSize; ++i) {
    const char a = hex[2 * i], b = hex[2 * i + 1];
    if ((a >= 'A' && a <= 'F') || (b >= 'A' && b <= 'F')) return std::nullopt;  // lower case only
    const int hi = HexDigitValue(a), lo = HexDigitValue(b);
    if (hi < 0 || lo < 0) return std::nullopt;
    h[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return h;
}

// The canonical encoding (docs/ledger.md, "The chain"): every column but `hash`, in column
// order, each as an 8-byte big-endian length and that many bytes.
class Canonical {
 public:
  // Starts the hash input with prev_hash's 32 bytes.
  explicit Canonical(const Hash& prev) {
    buf_.reserve(512);
    buf_.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  }
  void Bytes(absl::string_view b) {
    uint64_t n = b.size();
    char len[8];
    for (int i = 7; i >= 0; --i) {
      len[i] = static_cast<char>(n & 0xff);
      n >>= 8;
    }
    buf_.append(len, 8);
    buf_.append(b.data(), b.size());
  }
  void Int(int64_t v) {
    char be[8];
    uint64_t u = static_cast<uint64_t>(v);
    for (int i = 7; i >= 0; --i) {
      be[i] = static_cast<char>(u & 0xff);
      u >>= 8;
    }
    Bytes(absl::string_view(be, 8));
  }
  void Optional(const std::optional<int64_t>& v) {
    if (v) {
      Int(*v);
    } else {
      Bytes("");
    }
  }
  // SHA-256(prev_hash ‖ canonical).
  Hash Digest() const {
    Hash h{};
    SHA256(reinterpret_cast<const unsigned char*>(buf_.data()), buf_.size(), h.data());
    return h;
  }

 private:
  std::string buf_;
};

// The fields of a row as they are hashed (views into the row or a statement's columns).
struct RowView {
  int64_t seq = 0;
  absl::string_view time, event, request_id, request_hash, caller, method, uid, reader;
  int64_t aid = -1, file_no = -1;
  std::optional<int64_t> amount, value_before, value_after;
  absl::string_view outcome, reason, commit_state, detail, payload;
  int64_t pending_seq = 0;
};

Hash ChainHash(const Hash& prev, const RowView& r) {
  Canonical c(prev);
  c.Int(r.seq);
  c.Bytes(r.time);
  c.Bytes(r.event);
  c.Bytes(r.request_id);
  c.Bytes(r.request_hash);
  c.Bytes(r.caller);
  c.Bytes(r.method);
  c.Bytes(r.uid);
  c.Bytes(r.reader);
  c.Int(r.aid);
  c.Int(r.file_no);
  c.Optional(r.amount);
  c.Optional(r.value_before);
  c.Optional(r.value_after);
  c.Bytes(r.outcome);
  c.Bytes(r.reason);
  c.Bytes(r.commit_state);
  c.Bytes(r.detail);
  c.Bytes(r.payload);
  c.Int(r.pending_seq);
  c.Bytes(absl::string_view(reinterpret_cast<const char*>(prev.data()), prev.size()));
  return c.Digest();
}

RowView ViewOf(const LedgerRow& row, absl::string_view time, absl::string_view event) {
  RowView v;
  v.seq = row.seq;
  v.time = time;
  v.event = event;
  v.request_id = row.request_id;
  v.request_hash = row.request_hash;
  v.caller = row.caller;
  v.method = row.method;
  v.uid = row.uid;
  v.reader = row.reader;
  v.aid = row.aid;
  v.file_no = row.file_no;
  v.amount = row.amount;
  v.value_before = row.value_before;
  v.value_after = row.value_after;
  v.outcome = row.outcome;
  v.reason = row.reason;
  v.commit_state = row.commit_state;
  v.detail = row.detail;
  v.payload = row.payload;
  v.pending_seq = row.pending_seq;
  return v;
}

// The columns of a SELECT kColumns row, as stored (types are checked by Malformed()).
RowView ViewOf(sqlite3_stmt* s) {
  RowView v;
  v.seq = sqlite3_column_int64(s, kSeq);
  v.time = ColumnText(s, kTime);
  v.event = ColumnText(s, kEvent);
  v.request_id = ColumnText(s, kRequestId);
  v.request_hash = ColumnText(s, kRequestHash);
  v.caller = ColumnText(s, kCaller);
  v.method = ColumnText(s, kMethod);
  v.uid = ColumnText(s, kUid);
  v.reader = ColumnText(s, kReader);
  v.aid = sqlite3_column_int64(s, kAid);
  v.file_no = sqlite3_column_int64(s, kFileNo);
  v.amount = ColumnOptional(s, kAmount);
  v.value_before = ColumnOptional(s, kValueBefore);
  v.value_after = ColumnOptional(s, kValueAfter);
  v.outcome = ColumnText(s, kOutcome);
  v.reason = ColumnText(s, kReason);
  v.commit_state = ColumnText(s, kCommitState);
  v.detail = ColumnText(s, kDetail);
  v.payload = ColumnBlob(s, kPayload);
  v.pending_seq = sqlite3_column_int64(s, kPendingSeq);
  return v;
}

std::string FormatLedgerTime(absl::Time t) {
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

// A time column written by Append: RFC 3339 UTC with exactly 6 fractional digits.
std::optional<absl::Time> ParseLedgerTime(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(kTimeFormat, text, absl::UTCTimeZone(), &t, &err)) return std::nullopt;
  if (FormatLedgerTime(t) != text) return std::nullopt;
  return t;
}

// Why row `s` (a SELECT kColumns row) is not a row Append could have written, or "".
std::string Malformed(sqlite3_stmt* s) {
  for (int col = 0; col < kColumnCount; ++col) {
    const int type = sqlite3_column_type(s, col);
    bool ok = false;
    switch (ColumnType(col)) {
      case ColType::kInt:
        ok = type == SQLITE_INTEGER;
        break;
      case ColType::kOptionalInt:
        ok = type == SQLITE_INTEGER || type == SQLITE_NULL;
        break;
      case ColType::kText:
        ok = type == SQLITE_TEXT;
        break;
      case ColType::kBlob:
        ok = type == SQLITE_BLOB;
        break;
    }
    if (!ok) {
      static constexpr const char* kTypeNames[] = {"",     "an integer", "a real",
                                                   "text", "a blob",     "NULL"};
      return absl::StrCat("column ", kColumnNames[col], " holds ",
                          type >= 1 && type <= 5 ? kTypeNames[type] : "an unknown type");
    }
  }
  const int64_t seq = sqlite3_column_int64(s, kSeq);
  if (seq < 1) return absl::StrCat("seq ", seq, " is not positive");
  if (!ParseLedgerTime(ColumnText(s, kTime))) {
    return absl::StrCat("time '", absl::CHexEscape(ColumnText(s, kTime)),
                        "' is not RFC 3339 UTC with microseconds (YYYY-MM-DDTHH:MM:SS.ffffffZ)");
  }
  if (!ParseEvent(ColumnText(s, kEvent))) {
    return absl::StrCat("event '", absl::CHexEscape(ColumnText(s, kEvent)),
                        "' is not a ledger event");
  }
  if (sqlite3_column_int64(s, kAid) < -1) return "aid is below -1";
  if (sqlite3_column_int64(s, kFileNo) < -1) return "file_no is below -1";
  const int64_t pending = sqlite3_column_int64(s, kPendingSeq);
  if (pending < 0 || pending >= seq) {
    return absl::StrCat("pending_seq ", pending, " does not name an earlier row");
  }
  if (!ParseHashHex(ColumnText(s, kPrevHash))) return "prev_hash is not 64 lower-case hex digits";
  if (!ParseHashHex(ColumnText(s, kHash))) return "hash is not 64 lower-case hex digits";
  return "";
}

LedgerRow RowFrom(sqlite3_stmt* s) {
  LedgerRow r;
  r.seq = sqlite3_column_int64(s, kSeq);
  r.time = ParseLedgerTime(ColumnText(s, kTime)).value_or(absl::InfinitePast());
  r.event = ParseEvent(ColumnText(s, kEvent)).value_or(LedgerEvent::kPending);
  r.request_id = std::string(ColumnText(s, kRequestId));
  r.request_hash = std::string(ColumnText(s, kRequestHash));
  r.caller = std::string(ColumnText(s, kCaller));
  r.method = std::string(ColumnText(s, kMethod));
  r.uid = std::string(ColumnText(s, kUid));
  r.reader = std::string(ColumnText(s, kReader));
  r.aid = sqlite3_column_int64(s, kAid);
  r.file_no = sqlite3_column_int64(s, kFileNo);
  r.amount = ColumnOptional(s, kAmount);
  r.value_before = ColumnOptional(s, kValueBefore);
  r.value_after = ColumnOptional(s, kValueAfter);
  r.outcome = std::string(ColumnText(s, kOutcome));
  r.reason = std::string(ColumnText(s, kReason));
  r.commit_state = std::string(ColumnText(s, kCommitState));
  r.detail = std::string(ColumnText(s, kDetail));
  r.payload = std::string(ColumnBlob(s, kPayload));
  r.pending_seq = sqlite3_column_int64(s, kPendingSeq);
  r.prev_hash = std::string(ColumnText(s, kPrevHash));
  r.hash = std::string(ColumnText(s, kHash));
  return r;
}

// ---- Opening ------------------------------------------------------------------------------------

absl::Status NotALedger(const std::string& path, absl::string_view why) {
  return absl::FailedPreconditionError(
      absl::StrCat("ledger ", path, " is not a desfired ledger: ", why));
}

// Checks the meta table of an opened database. `empty` is set when it has no tables at all.
absl::Status CheckMeta(sqlite3* db, const std::string& path, bool* empty) {
  *empty = false;
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
  return absl::OkStatus();
}

absl::StatusOr<Db> OpenDb(const std::string& path, int flags,
                          absl::Duration busy_timeout = absl::Seconds(5)) {
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

// Opens an existing ledger read-only (VerifyFile, ExportFile, and Verify / Export of an open
// Ledger: their own connection, so that appends go on meanwhile).
absl::StatusOr<Db> OpenReadOnly(const std::string& path) {
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
  if (absl::Status s = CheckMeta(db.get(), path, &empty); !s.ok()) return s;
  if (empty) return NotALedger(path, "it is empty");
  return db;
}

// The newest row of a request_id (Latest, LatestInFile).
absl::StatusOr<Stmt> PrepareLatest(sqlite3* db) {
  return Prepare(db, absl::StrCat("SELECT ", kColumns,
                                  " FROM ledger WHERE request_id = ?1 ORDER BY seq DESC LIMIT 1"));
}

absl::StatusOr<std::optional<LedgerRow>> StepLatest(sqlite3_stmt* s, sqlite3* db,
                                                    const std::string& path,
                                                    absl::string_view request_id) {
  ResetOnExit reset(s);
  BindText(s, 1, request_id);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<LedgerRow>();
  if (rc != SQLITE_ROW) {
    return absl::UnavailableError(absl::StrCat("ledger ", path, ": cannot read: ", DbError(db)));
  }
  return std::optional<LedgerRow>(RowFrom(s));
}

// ---- Export -------------------------------------------------------------------------------------

// Appends `s` as a JSON string: quotes, backslashes and control characters escaped; bytes
// that are not valid UTF-8 become U+FFFD.
void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\r':
          out->append("\\r");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\f':
          out->append("\\f");
          break;
        default:
          if (c < 0x20) {
            absl::StrAppendFormat(out, "\\u%04x", c);
          } else {
            out->push_back(static_cast<char>(c));
          }
      }
      ++i;
      continue;
    }
    // A multi-byte UTF-8 sequence: its length and the smallest code point it may encode.
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    }
    bool valid = len != 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) valid = false;
      cp = cp << 6 | (cc & 0x3f);
    }
    valid = valid && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    if (valid) {
      out->append(s.data() + i, len);
      i += len;
    } else {
      out->append("\\ufffd");
      ++i;
    }
  }
  out->push_back('"');
}

void AppendCsvField(std::string* out, absl::string_view s) {
  if (s.find_first_of(",\"\r\n") == absl::string_view::npos) {
    out->append(s.data(), s.size());
    return;
  }
  out->push_back('"');
  for (char c : s) {
    if (c == '"') out->push_back('"');
    out->push_back(c);
  }
  out->push_back('"');
}

absl::Status ExportDb(sqlite3* db, const std::string& path, std::ostream& out,
                      Ledger::ExportFormat format) {
  DESFIRED_ASSIGN_OR_RETURN(
      Stmt stmt, Prepare(db, absl::StrCat("SELECT ", kColumns, " FROM ledger ORDER BY seq")));
  std::string line;
  if (format == Ledger::ExportFormat::kCsv) {
    for (int col = 0; col < kColumnCount; ++col) {
      absl::StrAppend(&line, col == 0 ? "" : ",", kColumnNames[col]);
    }
    out << line << '\n';
  }
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    sqlite3_stmt* s = stmt.get();
    line.clear();
    if (format == Ledger::ExportFormat::kJsonLines) line.push_back('{');
    for (int col = 0; col < kColumnCount; ++col) {
      if (format == Ledger::ExportFormat::kJsonLines) {
        absl::StrAppend(&line, col == 0 ? "\"" : ",\"", kColumnNames[col], "\":");
      } else if (col != 0) {
        line.push_back(',');
      }
      const int type = sqlite3_column_type(s, col);
      if (type == SQLITE_NULL) {
        if (format == Ledger::ExportFormat::kJsonLines) line.append("null");
        continue;
      }
      switch (ColumnType(col)) {
        case ColType::kInt:
        case ColType::kOptionalInt:
          absl::StrAppend(&line, sqlite3_column_int64(s, col));
          break;
        case ColType::kBlob: {
          const absl::string_view b = ColumnBlob(s, col);
          const std::string hex = HexEncode(AsBytes(b));
          if (format == Ledger::ExportFormat::kJsonLines) {
            absl::StrAppend(&line, "\"", hex, "\"");
          } else {
            line.append(hex);
          }
          break;
        }
        case ColType::kText:
          if (format == Ledger::ExportFormat::kJsonLines) {
            AppendJsonString(&line, ColumnText(s, col));
          } else {
            AppendCsvField(&line, ColumnText(s, col));
          }
          break;
      }
    }
    if (format == Ledger::ExportFormat::kJsonLines) line.push_back('}');
    line.push_back('\n');
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    if (!out) return absl::UnavailableError("export: writing the output failed");
  }
  if (rc != SQLITE_DONE) {
    return absl::UnavailableError(absl::StrCat("cannot read ledger ", path, ": ", DbError(db)));
  }
  out.flush();
  if (!out) return absl::UnavailableError("export: writing the output failed");
  return absl::OkStatus();
}

// ---- Verify -------------------------------------------------------------------------------------

struct Head {
  int64_t seq = 0;
  Hash hash{};
  bool operator==(const Head& o) const { return seq == o.seq && hash == o.hash; }
};

std::string SeqRange(int64_t from, int64_t to) {
  return from == to ? absl::StrCat("row ", from, " is")
                    : absl::StrCat("rows ", from, " to ", to, " are");
}

// Walks the rows of `db` (inside a read transaction the caller opened, so rows and head are
// one snapshot). `expected` is the head the open Ledger last wrote, if any.
Ledger::VerifyResult VerifyDb(sqlite3* db, const std::optional<Head>& expected) {
  Ledger::VerifyResult r;
  auto fail = [&r](int64_t seq, std::string problem) {
    r.ok = false;
    r.bad_seq = seq;
    r.problem = std::move(problem);
    return r;
  };
  auto read_error = [&](int64_t seq) {
    return fail(seq, absl::StrCat("cannot read the ledger: ", DbError(db)));
  };

  // The last row's hash, reported whatever the outcome.
  {
    absl::StatusOr<Stmt> last = Prepare(db, "SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1");
    if (!last.ok()) return read_error(0);
    const int rc = sqlite3_step(last->get());
    if (rc == SQLITE_ROW) {
      r.head_hash = std::string(ColumnText(last->get(), 0));
    } else if (rc == SQLITE_DONE) {
      r.head_hash = HashHex(Hash{});
    } else {
      return read_error(0);
    }
  }

  absl::StatusOr<Stmt> rows =
      Prepare(db, absl::StrCat("SELECT ", kColumns, " FROM ledger ORDER BY seq"));
  if (!rows.ok()) return read_error(0);
  // Which row has this hash (to tell a reordered row from a replaced one; only on a fault).
  auto row_with_hash = [db](absl::string_view hex) -> int64_t {
    absl::StatusOr<Stmt> q = Prepare(db, "SELECT seq FROM ledger WHERE hash = ?1 LIMIT 1");
    if (!q.ok()) return 0;
    BindText(q->get(), 1, hex);
    return sqlite3_step(q->get()) == SQLITE_ROW ? sqlite3_column_int64(q->get(), 0) : 0;
  };

  Hash prev{};
  int64_t prev_seq = 0;
  int rc;
  while ((rc = sqlite3_step(rows->get())) == SQLITE_ROW) {
    sqlite3_stmt* s = rows->get();
    ++r.rows;
    const int64_t seq = sqlite3_column_int64(s, kSeq);
    if (std::string why = Malformed(s); !why.empty()) {
      return fail(seq, absl::StrCat("row ", seq, " is malformed: ", why));
    }
    if (seq != prev_seq + 1) {
      return fail(seq, absl::StrCat(SeqRange(prev_seq + 1, seq - 1), " missing (deleted): row ",
                                    seq, " follows ", prev_seq == 0 ? "the start" : "row ",
                                    prev_seq == 0 ? "" : absl::StrCat(prev_seq)));
    }
    const Hash stored_prev = *ParseHashHex(ColumnText(s, kPrevHash));
    const Hash stored = *ParseHashHex(ColumnText(s, kHash));
    const bool content_ok = ChainHash(stored_prev, ViewOf(s)) == stored;
    const std::string prev_name = prev_seq == 0 ? "the start of the chain (32 zero bytes)"
                                                : absl::StrCat("row ", prev_seq, "'s hash");
    if (stored_prev != prev) {
      if (const int64_t q = row_with_hash(ColumnText(s, kPrevHash)); q != 0 && q != prev_seq) {
        return fail(seq, absl::StrCat("row ", seq,
                                      " is out of order (rows reordered): its "
                                      "prev_hash is the hash of row ",
                                      q, ", not ", prev_name));
      }
      if (!content_ok) {
        return fail(seq, absl::StrCat("row ", seq,
                                      " was edited (hash mismatch), and its prev_hash "
                                      "is not ",
                                      prev_name));
      }
      return fail(seq, absl::StrCat("row ", seq, " does not follow row ", prev_seq,
                                    ": its prev_hash is not ", prev_name, " (row ", prev_seq,
                                    " was replaced, or rows before it were deleted and the rest "
                                    "renumbered)"));
    }
    if (!content_ok) {
      return fail(seq, absl::StrCat("row ", seq,
                                    " was edited (hash mismatch): its hash does not "
                                    "match its content"));
    }
    prev = stored;
    prev_seq = seq;
  }
  if (rc != SQLITE_DONE) return read_error(prev_seq + 1);

  // The head.
  absl::StatusOr<Stmt> head_stmt = Prepare(db, "SELECT seq, hash FROM chain_head WHERE id = 1");
  if (!head_stmt.ok()) return fail(0, "the chain_head table is missing");
  rc = sqlite3_step(head_stmt->get());
  if (rc == SQLITE_DONE) return fail(0, "the chain head row is missing (chain_head is empty)");
  if (rc != SQLITE_ROW) return read_error(0);
  sqlite3_stmt* h = head_stmt->get();
  if (sqlite3_column_type(h, 0) != SQLITE_INTEGER || sqlite3_column_type(h, 1) != SQLITE_TEXT ||
      !ParseHashHex(ColumnText(h, 1))) {
    return fail(0, "the chain head is malformed");
  }
  Head head{sqlite3_column_int64(h, 0), *ParseHashHex(ColumnText(h, 1))};
  if (head.seq > prev_seq) {
    return fail(
        0, absl::StrCat("the head names row ", head.seq, " but the last row is ", prev_seq, ": ",
                        SeqRange(prev_seq + 1, head.seq), " missing (deleted from the end)"));
  }
  if (head.seq < prev_seq) {
    return fail(0, absl::StrCat("the head names row ", head.seq, " but rows go on to ", prev_seq,
                                " (the head was rolled back, or rows were added without it)"));
  }
  if (head.hash != prev) {
    return fail(0, absl::StrCat("the head's hash is not row ", prev_seq,
                                "'s hash (the head was tampered with, or the last row replaced)"));
  }
  if (expected && !(*expected == head)) {
    return fail(0, absl::StrCat("the file's head (row ", head.seq, ", ", HashHex(head.hash),
                                ") is not the head this process wrote last (row ", expected->seq,
                                ", ", HashHex(expected->hash), "): the file was changed under it"));
  }
  return r;
}

// A read transaction whose snapshot starts at the first read (here: of the head).
bool BeginRead(sqlite3* db) {
  return Exec(db, "BEGIN") && Exec(db, "SELECT count(*) FROM chain_head");
}

}  // namespace

absl::string_view LedgerEventName(LedgerEvent event) {
  switch (event) {
    case LedgerEvent::kPending:
      return "PENDING";
    case LedgerEvent::kDone:
      return "DONE";
    case LedgerEvent::kReconciled:
      return "RECONCILED";
    case LedgerEvent::kTaps:
      return "TAPS";
  }
  return "UNKNOWN";
}

struct Ledger::Impl {
  std::string path;
  // Our descriptor of the file, held until the connections are closed: it carries the flock
  // that keeps a second desfired out, and closing any descriptor of the file would drop
  // SQLite's POSIX locks.
  int fd = -1;

  absl::Mutex mu;
  Db db ABSL_GUARDED_BY(mu);  // the writing connection
  Stmt begin ABSL_GUARDED_BY(mu), commit ABSL_GUARDED_BY(mu), rollback ABSL_GUARDED_BY(mu);
  Stmt insert ABSL_GUARDED_BY(mu), update_head ABSL_GUARDED_BY(mu), read_head ABSL_GUARDED_BY(mu);
  Head head ABSL_GUARDED_BY(mu);  // the last row this process wrote (or found at Open)

  absl::Mutex read_mu;
  Db reader ABSL_GUARDED_BY(read_mu);  // Latest, Unresolved, Count
  Stmt latest ABSL_GUARDED_BY(read_mu),
      unresolved ABSL_GUARDED_BY(read_mu), count ABSL_GUARDED_BY(read_mu);

  ~Impl() {
    {
      absl::MutexLock l(&read_mu);
      latest.reset();
      unresolved.reset();
      count.reset();
      reader.reset();
    }
    {
      absl::MutexLock l(&mu);
      begin.reset();
      commit.reset();
      rollback.reset();
      insert.reset();
      update_head.reset();
      read_head.reset();
      db.reset();
    }
    if (fd >= 0) ::close(fd);
  }

  absl::Status Unavailable(absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return apdu::WithReason(
        absl::UnavailableError(absl::StrCat("ledger ", path, ": ", what, ": ", DbError(db.get()))),
        kReasonLedgerUnavailable);
  }

  // The head as the file has it.
  absl::StatusOr<Head> ReadHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ResetOnExit reset(read_head.get());
    const int rc = sqlite3_step(read_head.get());
    std::optional<Hash> h;
    if (rc == SQLITE_ROW) h = ParseHashHex(ColumnText(read_head.get(), 1));
    if (rc == SQLITE_DONE || (rc == SQLITE_ROW && !h)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger ", path, ": the chain head is ", rc == SQLITE_DONE ? "missing" : "malformed",
          "; run: desfirectl ledger verify --ledger ", path));
    }
    if (rc != SQLITE_ROW) {
      return absl::UnavailableError(
          absl::StrCat("ledger ", path, ": cannot read the chain head: ", DbError(db.get())));
    }
    return Head{sqlite3_column_int64(read_head.get(), 0), *h};
  }
};

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path, Options options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  // Created 0600 here, before SQLite sees it (SQLite would use 0644 & ~umask).
  impl->fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (impl->fd < 0) {
    const int err = errno;
    const std::string msg = absl::StrCat("cannot open ledger ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(absl::StrCat(msg, " (the directory must exist)"));
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::UnavailableError(msg);
  }
  struct stat st {};
  if (::fstat(impl->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("ledger ", path, " is not a regular file"));
  }
  if (options.check_permissions) {
    for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
      struct stat fst {};
      if (file != path && ::stat(file.c_str(), &fst) != 0) continue;  // no side file yet
      if (file == path) fst = st;
      DESFIRED_RETURN_IF_ERROR(CheckPrivateMode(fst.st_mode, "ledger file", file));
    }
  }
  if (::flock(impl->fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
    return absl::FailedPreconditionError(absl::StrCat(
        "ledger ", path,
        " is in use by another desfired (or another Ledger in this process holds its lock)"));
  }

  absl::MutexLock l(&impl->mu);
  DESFIRED_ASSIGN_OR_RETURN(impl->db, OpenDb(path, SQLITE_OPEN_READWRITE, options.busy_timeout));
  sqlite3* db = impl->db.get();
  bool empty = false;
  DESFIRED_RETURN_IF_ERROR(CheckMeta(db, path, &empty));
  // WAL: readers (verify, export) do not block appends. FULL: a commit is on disk when it
  // returns (in WAL mode NORMAL would only be crash-safe, not durable).
  if (!Exec(db, "PRAGMA journal_mode=WAL") || !Exec(db, "PRAGMA synchronous=FULL")) {
    return absl::UnavailableError(absl::StrCat("cannot set up ledger ", path, ": ", DbError(db)));
  }
  if (empty) {
    if (!Exec(db, "BEGIN IMMEDIATE")) {
      return absl::UnavailableError(absl::StrCat("cannot create ledger ", path, ": ", DbError(db)));
    }
    bool still_empty = false;
    absl::Status s = CheckMeta(db, path, &still_empty);  // another process may have won
    if (s.ok() && still_empty) {
      const std::string init = absl::StrCat(
          kSchema, "INSERT INTO meta (key, value) VALUES ('magic', '", kMagic,
          "'), ('format_version', '", kFormatVersion, "');",
          "INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '", HashHex(Hash{}), "');");
      if (!Exec(db, init.c_str()) || !Exec(db, "COMMIT")) {
        s = absl::UnavailableError(absl::StrCat("cannot create ledger ", path, ": ", DbError(db)));
      }
    } else if (s.ok() && !Exec(db, "COMMIT")) {
      s = absl::UnavailableError(absl::StrCat("cannot open ledger ", path, ": ", DbError(db)));
    }
    if (!s.ok()) {
      if (!sqlite3_get_autocommit(db)) Exec(db, "ROLLBACK");
      return s;
    }
  }

  DESFIRED_ASSIGN_OR_RETURN(impl->begin, Prepare(db, "BEGIN IMMEDIATE"));
  DESFIRED_ASSIGN_OR_RETURN(impl->commit, Prepare(db, "COMMIT"));
  DESFIRED_ASSIGN_OR_RETURN(impl->rollback, Prepare(db, "ROLLBACK"));
  DESFIRED_ASSIGN_OR_RETURN(
      impl->insert,
      Prepare(db, absl::StrCat("INSERT INTO ledger (", kColumns,
                               ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                               "?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22)")));
  // Moves the head only from the one this process knows: a file changed under us fails here.
  DESFIRED_ASSIGN_OR_RETURN(impl->update_head, Prepare(db,
                                                       "UPDATE chain_head SET seq = ?1, hash = ?2 "
                                                       "WHERE id = 1 AND seq = ?3 AND hash = ?4"));
  DESFIRED_ASSIGN_OR_RETURN(impl->read_head,
                            Prepare(db, "SELECT seq, hash FROM chain_head WHERE id = 1"));

  // The head must be the last row's: appending to a broken end would hide the break.
  DESFIRED_ASSIGN_OR_RETURN(impl->head, impl->ReadHead());
  {
    DESFIRED_ASSIGN_OR_RETURN(
        Stmt last, Prepare(db, "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1"));
    const int rc = sqlite3_step(last.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
      return absl::UnavailableError(absl::StrCat("cannot read ledger ", path, ": ", DbError(db)));
    }
    const int64_t last_seq = rc == SQLITE_ROW ? sqlite3_column_int64(last.get(), 0) : 0;
    const std::string last_hash =
        rc == SQLITE_ROW ? std::string(ColumnText(last.get(), 1)) : HashHex(Hash{});
    if (last_seq != impl->head.seq || last_hash != HashHex(impl->head.hash)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger ", path, ": the chain head (row ", impl->head.seq,
          ") does not match the last row (row ", last_seq,
          "); the file was changed outside desfired. Run: desfirectl ledger verify --ledger ",
          path));
    }
  }

  absl::MutexLock rl(&impl->read_mu);
  DESFIRED_ASSIGN_OR_RETURN(impl->reader, OpenDb(path, SQLITE_OPEN_READONLY));
  sqlite3* rdb = impl->reader.get();
  DESFIRED_ASSIGN_OR_RETURN(impl->latest, PrepareLatest(rdb));
  DESFIRED_ASSIGN_OR_RETURN(
      impl->unresolved,
      Prepare(rdb, absl::StrCat("SELECT ", kColumns,
                                " FROM ledger AS p WHERE p.event = 'PENDING' "
                                "AND NOT EXISTS (SELECT 1 FROM ledger AS s WHERE s.pending_seq = "
                                "p.seq AND s.pending_seq != 0 AND s.event IN ('DONE', "
                                "'RECONCILED')) ORDER BY p.seq")));
  DESFIRED_ASSIGN_OR_RETURN(impl->count, Prepare(rdb, "SELECT count(*) FROM ledger"));
  return std::unique_ptr<Ledger>(new Ledger(std::move(impl)));
}

absl::StatusOr<LedgerRow> Ledger::Append(LedgerRow row) {
  Impl& m = *impl_;
  absl::MutexLock l(&m.mu);
  const int64_t seq = m.head.seq + 1;
  if (row.pending_seq < 0 || row.pending_seq >= seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("ledger: pending_seq ", row.pending_seq, " does not name an earlier row"));
  }
  if (row.aid < -1 || row.file_no < -1) {
    return absl::InvalidArgumentError("ledger: aid and file_no must be -1 (none) or positive");
  }
  row.seq = seq;
  row.time = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  const std::string time = FormatLedgerTime(row.time);
  const absl::string_view event = LedgerEventName(row.event);
  const Hash hash = ChainHash(m.head.hash, ViewOf(row, time, event));
  row.prev_hash = HashHex(m.head.hash);
  row.hash = HashHex(hash);

  sqlite3* db = m.db.get();
  auto fail = [&](absl::string_view what) -> absl::Status {
    absl::Status s = m.Unavailable(what);
    if (!sqlite3_get_autocommit(db)) {
      ResetOnExit reset(m.rollback.get());
      sqlite3_step(m.rollback.get());
    }
    return s;
  };
  {
    ResetOnExit reset(m.begin.get());
    if (sqlite3_step(m.begin.get()) != SQLITE_DONE) return fail("cannot begin the append");
  }
  {
    sqlite3_stmt* s = m.insert.get();
    ResetOnExit reset(s);
    sqlite3_bind_int64(s, kSeq + 1, row.seq);
    BindText(s, kTime + 1, time);
    BindText(s, kEvent + 1, event);
    BindText(s, kRequestId + 1, row.request_id);
    BindText(s, kRequestHash + 1, row.request_hash);
    BindText(s, kCaller + 1, row.caller);
    BindText(s, kMethod + 1, row.method);
    BindText(s, kUid + 1, row.uid);
    BindText(s, kReader + 1, row.reader);
    sqlite3_bind_int64(s, kAid + 1, row.aid);
    sqlite3_bind_int64(s, kFileNo + 1, row.file_no);
    BindOptional(s, kAmount + 1, row.amount);
    BindOptional(s, kValueBefore + 1, row.value_before);
    BindOptional(s, kValueAfter + 1, row.value_after);
    BindText(s, kOutcome + 1, row.outcome);
    BindText(s, kReason + 1, row.reason);
    BindText(s, kCommitState + 1, row.commit_state);
    BindText(s, kDetail + 1, row.detail);
    BindBlob(s, kPayload + 1, row.payload);
    sqlite3_bind_int64(s, kPendingSeq + 1, row.pending_seq);
    BindText(s, kPrevHash + 1, row.prev_hash);
    BindText(s, kHash + 1, row.hash);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("cannot append a row");
  }
  {
    sqlite3_stmt* s = m.update_head.get();
    ResetOnExit reset(s);
    const std::string old_hash = HashHex(m.head.hash);
    sqlite3_bind_int64(s, 1, row.seq);
    BindText(s, 2, row.hash);
    sqlite3_bind_int64(s, 3, m.head.seq);
    BindText(s, 4, old_hash);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("cannot move the chain head");
    if (sqlite3_changes(db) != 1) {
      (void)fail("cannot move the chain head");  // rolls back
      return apdu::WithReason(
          absl::UnavailableError(absl::StrCat(
              "ledger ", m.path,
              ": the chain head in the file is not the one this process wrote "
              "last (the file was changed by another program); run: desfirectl ledger verify "
              "--ledger ",
              m.path)),
          kReasonLedgerUnavailable);
    }
  }
  {
    ResetOnExit reset(m.commit.get());
    if (sqlite3_step(m.commit.get()) != SQLITE_DONE) {
      absl::Status s = fail("cannot commit the append");
      // A failed COMMIT normally rolls back; should the row have landed all the same, the
      // file's head says so, and then the row is stored.
      if (absl::StatusOr<Head> now = m.ReadHead();
          now.ok() && now->seq == seq && now->hash == hash) {
        m.head = *now;
        return row;
      }
      return s;
    }
  }
  m.head = Head{seq, hash};
  return row;
}

absl::StatusOr<std::optional<LedgerRow>> Ledger::Latest(absl::string_view request_id) {
  if (request_id.empty()) return std::optional<LedgerRow>();
  Impl& m = *impl_;
  absl::MutexLock l(&m.read_mu);
  return StepLatest(m.latest.get(), m.reader.get(), m.path, request_id);
}

absl::StatusOr<std::optional<LedgerRow>> Ledger::LatestInFile(const std::string& path,
                                                              absl::string_view request_id) {
  if (request_id.empty()) return std::optional<LedgerRow>();
  DESFIRED_ASSIGN_OR_RETURN(Db db, OpenReadOnly(path));
  DESFIRED_ASSIGN_OR_RETURN(Stmt latest, PrepareLatest(db.get()));
  return StepLatest(latest.get(), db.get(), path, request_id);
}

absl::StatusOr<std::vector<LedgerRow>> Ledger::Unresolved() {
  Impl& m = *impl_;
  absl::MutexLock l(&m.read_mu);
  sqlite3_stmt* s = m.unresolved.get();
  ResetOnExit reset(s);
  std::vector<LedgerRow> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(RowFrom(s));
  if (rc != SQLITE_DONE) {
    return absl::UnavailableError(
        absl::StrCat("ledger ", m.path, ": cannot read: ", DbError(m.reader.get())));
  }
  return out;
}

absl::StatusOr<int64_t> Ledger::Count() {
  Impl& m = *impl_;
  absl::MutexLock l(&m.read_mu);
  sqlite3_stmt* s = m.count.get();
  ResetOnExit reset(s);
  if (sqlite3_step(s) != SQLITE_ROW) {
    return absl::UnavailableError(
        absl::StrCat("ledger ", m.path, ": cannot read: ", DbError(m.reader.get())));
  }
  return sqlite3_column_int64(s, 0);
}

Ledger::VerifyResult Ledger::Verify() {
  Impl& m = *impl_;
  absl::StatusOr<Db> db = OpenReadOnly(m.path);
  if (!db.ok()) {
    VerifyResult r;
    r.ok = false;
    r.problem = std::string(db.status().message());
    return r;
  }
  Head expected;
  {
    // The snapshot starts while no append is under way, so it ends at the head we know.
    absl::MutexLock l(&m.mu);
    if (!BeginRead(db->get())) {
      VerifyResult r;
      r.ok = false;
      r.problem = absl::StrCat("cannot read the ledger: ", DbError(db->get()));
      return r;
    }
    expected = m.head;
  }
  VerifyResult r = VerifyDb(db->get(), expected);
  Exec(db->get(), "COMMIT");
  return r;
}

absl::StatusOr<Ledger::VerifyResult> Ledger::VerifyFile(const std::string& path) {
  DESFIRED_ASSIGN_OR_RETURN(Db db, OpenReadOnly(path));
  if (!BeginRead(db.get())) {
    return absl::UnavailableError(
        absl::StrCat("cannot read ledger ", path, ": ", DbError(db.get())));
  }
  VerifyResult r = VerifyDb(db.get(), std::nullopt);
  Exec(db.get(), "COMMIT");
  return r;
}

absl::Status Ledger::Export(std::ostream& out, ExportFormat format) {
  return ExportFile(impl_->path, out, format);
}

absl::Status Ledger::ExportFile(const std::string& path, std::ostream& out, ExportFormat format) {
  DESFIRED_ASSIGN_OR_RETURN(Db db, OpenReadOnly(path));
  return ExportDb(db.get(), path, out, format);
}

}  // namespace desfired::server
