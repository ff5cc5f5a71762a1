#include "core/ledger/postgres_db.h"

#include <cstring>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "core/ledger/chain.h"
#include "core/util/status_macros.h"

namespace desfired::ledger::postgres {
namespace {

// The type OIDs of the parameters (pg_type.h).
constexpr unsigned int kInt8Oid = 20, kTextOid = 25, kByteaOid = 17;

// Format version 1 -> 2: the Transaction MAC columns (docs/ledger.md); a no-op on a table that
// has them. Rows and their hashes are untouched (chain.h: unset columns are not hashed).
constexpr char kV2Migration[] =
    "ALTER TABLE ledger_rows ADD COLUMN IF NOT EXISTS \"tmc\" BIGINT;\n"
    "ALTER TABLE ledger_rows ADD COLUMN IF NOT EXISTS \"tmv\" TEXT NOT NULL DEFAULT '';\n"
    "ALTER TABLE ledger_rows ADD COLUMN IF NOT EXISTS \"reader_id\" TEXT NOT NULL DEFAULT '';\n"
    "UPDATE ledger_meta SET value = '2' WHERE key = 'format_version' AND value = '1';\n";

std::string ColumnList() {
  std::vector<std::string> names;
  for (int col = 0; col < kColumnCount; ++col) {
    names.push_back(absl::StrCat("\"", ColumnName(static_cast<Column>(col)), "\""));
  }
  return absl::StrJoin(names, ", ");
}

// The SQL type of a column of `ledger_rows`, by ColumnKind (row.h: integer, optional integer,
// text, bytes).
const char* SqlType(ColumnKind kind) {
  static constexpr const char* kTypes[] = {"BIGINT NOT NULL", "BIGINT", "TEXT NOT NULL",
                                           "BYTEA NOT NULL"};
  return kTypes[static_cast<int>(kind)];
}

// The schema: one table of rows and one of chain heads for every instance, keyed by instance
// (and seq). A head moves forward only, to a row that is there with that hash, with every row
// between the old head and the new one there (one row, or a shipped batch).
std::string Schema() {
  std::string rows = "CREATE TABLE IF NOT EXISTS ledger_rows (instance TEXT NOT NULL";
  for (int col = 0; col < kColumnCount; ++col) {
    const auto c = static_cast<Column>(col);
    absl::StrAppend(&rows, ", \"", ColumnName(c), "\" ", SqlType(KindOf(c)));
  }
  absl::StrAppend(&rows, ", PRIMARY KEY (instance, seq));\n");
  return absl::StrCat(
      "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n", rows,
      "CREATE INDEX IF NOT EXISTS ledger_rows_request_id ON ledger_rows (instance, request_id, "
      "seq);\n"
      "CREATE INDEX IF NOT EXISTS ledger_rows_pending_seq ON ledger_rows (instance, pending_seq) "
      "WHERE pending_seq <> 0;\n"
      "CREATE TABLE IF NOT EXISTS ledger_heads (instance TEXT PRIMARY KEY, seq BIGINT NOT NULL, "
      "hash TEXT NOT NULL);\n"
      "CREATE OR REPLACE FUNCTION ledger_heads_forward() RETURNS trigger LANGUAGE plpgsql AS $f$\n"
      "BEGIN\n"
      "  IF NEW.instance <> OLD.instance OR NEW.seq <= OLD.seq OR NOT EXISTS (SELECT 1 FROM "
      "ledger_rows r WHERE r.instance = NEW.instance AND r.seq = NEW.seq AND r.hash = NEW.hash) "
      "OR (SELECT count(*) FROM ledger_rows r WHERE r.instance = NEW.instance AND r.seq > "
      "OLD.seq AND r.seq <= NEW.seq) <> NEW.seq - OLD.seq THEN\n"
      "    RAISE EXCEPTION 'the chain head of instance % moves forward only, over appended rows "
      "(one appended row forward, or a batch)', OLD.instance USING ERRCODE = 'check_violation';\n"
      "  END IF;\n"
      "  RETURN NEW;\n"
      "END $f$;\n"
      "DROP TRIGGER IF EXISTS ledger_heads_forward ON ledger_heads;\n"
      "CREATE TRIGGER ledger_heads_forward BEFORE UPDATE ON ledger_heads FOR EACH ROW EXECUTE "
      "FUNCTION ledger_heads_forward();\n"
      "REVOKE ALL ON ledger_meta, ledger_rows, ledger_heads FROM PUBLIC;\n"
      "INSERT INTO ledger_meta (key, value) VALUES ('magic', '",
      kMagic, "'), ('format_version', '", kFormatVersion, "') ON CONFLICT (key) DO NOTHING;\n",
      kV2Migration);
}

// How a value of `column` is sent: as int8, as NULL, or as its bytes (text, bytea); kBad for a
// type the column cannot hold (BadType says so).
enum class Wire { kInt, kNull, kBytes, kBad };
Wire WireOf(Column column, const Value& v) {
  const ColumnKind kind = KindOf(column);
  if ((kind == ColumnKind::kInteger || kind == ColumnKind::kOptionalInteger) &&
      v.type == Value::Type::kInteger) {
    return Wire::kInt;
  }
  if (kind == ColumnKind::kOptionalInteger && v.type == Value::Type::kNull) return Wire::kNull;
  if ((kind == ColumnKind::kText && v.type == Value::Type::kText) ||
      (kind == ColumnKind::kBytes && v.type == Value::Type::kBlob)) {
    return Wire::kBytes;
  }
  return Wire::kBad;
}
absl::Status BadType(Column column, const Value& v) {
  return absl::InvalidArgumentError(absl::StrCat("column ", ColumnName(column), " holds ",
                                                 TypeName(v.type),
                                                 ": PostgreSQL keeps typed columns"));
}

}  // namespace

const std::string& Columns() {
  static const std::string* list = new std::string(ColumnList());
  return *list;
}

absl::StatusOr<Conn> Connect(const std::string& conninfo) {
  Conn c(PQconnectdb(conninfo.c_str()));
  if (c == nullptr) return absl::UnavailableError("cannot connect to PostgreSQL: out of memory");
  if (PQstatus(c.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL: ",
                     absl::StripTrailingAsciiWhitespace(PQerrorMessage(c.get()))));
  }
  return c;
}

std::string Where(PGconn* c) {
  const char* host = PQhost(c);
  const std::string h = host == nullptr ? "" : host;
  return absl::StrCat("postgresql ", PQdb(c), " on ", h.empty() || h[0] == '/' ? "socket " : "", h,
                      ":", PQport(c));
}

bool EnsureConnected(PGconn* c) {
  if (PQstatus(c) == CONNECTION_OK) return true;
  PQreset(c);
  return PQstatus(c) == CONNECTION_OK;
}

void Params::Add(unsigned int type, std::string bytes, bool null) {
  types_.push_back(type);
  lengths_.push_back(static_cast<int>(bytes.size()));
  formats_.push_back(1);
  buffers_.push_back(std::move(bytes));
  nulls_.push_back(null);
}

void Params::Int(int64_t v) {
  std::string b(8, '\0');
  absl::big_endian::Store64(b.data(), static_cast<uint64_t>(v));
  Add(kInt8Oid, std::move(b), false);
}
void Params::Text(absl::string_view v) { Add(kTextOid, std::string(v), false); }
void Params::Bytes(absl::string_view v) { Add(kByteaOid, std::string(v), false); }
void Params::Null() { Add(kInt8Oid, "", true); }

absl::Status Params::Row(const StoredRow& row) {
  for (int col = 0; col < kColumnCount; ++col) {
    const auto c = static_cast<Column>(col);
    const Value& v = row[c];
    switch (WireOf(c, v)) {
      case Wire::kInt:
        Int(v.integer);
        break;
      case Wire::kNull:
        Null();
        break;
      case Wire::kBytes:
        KindOf(c) == ColumnKind::kText ? Text(v.bytes) : Bytes(v.bytes);
        break;
      case Wire::kBad:
        return BadType(c, v);
    }
  }
  return absl::OkStatus();
}

void Params::Seal() {
  pointers_.clear();
  for (size_t i = 0; i < buffers_.size(); ++i) {
    pointers_.push_back(nulls_[i] ? nullptr : buffers_[i].data());
  }
}

absl::StatusOr<Result> Checked(PGconn* c, Result r, std::string* sqlstate) {
  const ExecStatusType st = r == nullptr ? PGRES_FATAL_ERROR : PQresultStatus(r.get());
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_COPY_IN) return r;
  const char* state = r == nullptr ? nullptr : PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
  const std::string code = state == nullptr ? "" : state;
  if (sqlstate != nullptr) *sqlstate = code;
  const std::string message(absl::StripTrailingAsciiWhitespace(
      r == nullptr ? PQerrorMessage(c) : PQresultErrorMessage(r.get())));
  if (code.rfind("22", 0) == 0) return absl::InvalidArgumentError(message);
  return absl::UnavailableError(message);
}

absl::StatusOr<Result> Run(PGconn* c, absl::string_view sql, Params* params, bool binary,
                           std::string* sqlstate) {
  const std::string text(sql);
  if (params != nullptr) params->Seal();
  Result r(params == nullptr
               ? PQexecParams(c, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, binary)
               : PQexecParams(c, text.c_str(), params->size(), params->types(), params->values(),
                              params->lengths(), params->formats(), binary));
  return Checked(c, std::move(r), sqlstate);
}

absl::StatusOr<Result> RunPrepared(PGconn* c, const char* name, Params& params,
                                   std::string* sqlstate) {
  params.Seal();
  Result r(PQexecPrepared(c, name, params.size(), params.values(), params.lengths(),
                          params.formats(), 1));
  return Checked(c, std::move(r), sqlstate);
}

absl::Status Prepare(PGconn* c, const char* name, absl::string_view sql,
                     const std::vector<unsigned int>& types) {
  const std::string text(sql);
  Result r(PQprepare(c, name, text.c_str(), static_cast<int>(types.size()), types.data()));
  return Checked(c, std::move(r)).status();
}

std::vector<unsigned int> RowTypes(std::vector<unsigned int> first) {
  static constexpr unsigned int kByKind[] = {kInt8Oid, kInt8Oid, kTextOid, kByteaOid};
  for (int col = 0; col < kColumnCount; ++col) {
    first.push_back(kByKind[static_cast<int>(KindOf(static_cast<Column>(col)))]);
  }
  return first;
}

unsigned int TextType() { return kTextOid; }
unsigned int IntType() { return kInt8Oid; }

absl::Status CopyRows(PGconn* c, absl::string_view instance, const std::vector<StoredRow>& rows,
                      std::string* sqlstate) {
  std::string buf("PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0", 19);  // signature, flags, no extension
  auto put16 = [&buf](uint16_t v) {
    char b[2];
    absl::big_endian::Store16(b, v);
    buf.append(b, 2);
  };
  auto field = [&buf](absl::string_view bytes) {
    char b[4];
    absl::big_endian::Store32(b, static_cast<uint32_t>(bytes.size()));
    buf.append(b, 4);
    buf.append(bytes.data(), bytes.size());
  };
  for (const StoredRow& row : rows) {
    put16(kColumnCount + 1);
    field(instance);
    for (int col = 0; col < kColumnCount; ++col) {
      const auto column = static_cast<Column>(col);
      const Value& v = row[column];
      char b[8];
      switch (WireOf(column, v)) {
        case Wire::kInt:
          absl::big_endian::Store64(b, static_cast<uint64_t>(v.integer));
          field(absl::string_view(b, 8));
          break;
        case Wire::kNull:
          buf.append("\xff\xff\xff\xff", 4);  // length -1
          break;
        case Wire::kBytes:
          field(v.bytes);
          break;
        case Wire::kBad:
          return BadType(column, v);
      }
    }
  }
  put16(0xffff);  // the trailer
  DESFIRED_RETURN_IF_ERROR(Run(c, absl::StrCat("COPY ledger_rows (instance, ", Columns(),
                                               ") FROM STDIN (FORMAT binary)"))
                               .status());
  if (PQputCopyData(c, buf.data(), static_cast<int>(buf.size())) != 1 ||
      PQputCopyEnd(c, nullptr) != 1) {
    return absl::UnavailableError(absl::StripTrailingAsciiWhitespace(PQerrorMessage(c)));
  }
  Result first;
  for (;;) {  // the COPY's result, then null
    Result r(PQgetResult(c));
    if (r == nullptr) break;
    if (first == nullptr) first = std::move(r);
  }
  return Checked(c, std::move(first), sqlstate).status();
}

int64_t GetInt(PGresult* r, int row, int col) {
  return static_cast<int64_t>(absl::big_endian::Load64(PQgetvalue(r, row, col)));
}

absl::string_view GetBytes(PGresult* r, int row, int col) {
  return absl::string_view(PQgetvalue(r, row, col), PQgetlength(r, row, col));
}

StoredRow ReadRow(PGresult* r, int row) {
  StoredRow out;
  ReadRowInto(r, row, &out);
  return out;
}

void ReadRowInto(PGresult* r, int row, StoredRow* out) {
  for (int col = 0; col < kColumnCount; ++col) {
    SetBinaryValue(static_cast<Column>(col), PQgetvalue(r, row, col), PQgetlength(r, row, col),
                   PQgetisnull(r, row, col), &out->values[col]);
  }
}

void SetBinaryValue(Column column, const char* data, int size, bool null, Value* v) {
  v->integer = 0;
  v->bytes.clear();
  if (null) {
    v->type = Value::Type::kNull;
    return;
  }
  switch (KindOf(column)) {
    case ColumnKind::kInteger:
    case ColumnKind::kOptionalInteger:
      v->type = Value::Type::kInteger;  // as Value::Integer: the decimal text in bytes too
      v->integer = size == 8 ? static_cast<int64_t>(absl::big_endian::Load64(data)) : 0;
      absl::StrAppend(&v->bytes, v->integer);
      break;
    case ColumnKind::kText:
      v->type = Value::Type::kText;
      v->bytes.assign(data, size);
      break;
    case ColumnKind::kBytes:
      v->type = Value::Type::kBlob;
      v->bytes.assign(data, size);
      break;
  }
}

absl::Status CheckMeta(PGconn* c, const std::string& where) {
  const std::string fix =
      "; the owner of the tables runs the migration first (docs/ledger.md, \"The central "
      "ledger on PostgreSQL\")";
  DESFIRED_ASSIGN_OR_RETURN(
      Result has, Run(c, "SELECT to_regclass('ledger_meta') IS NOT NULL", nullptr, false));
  if (std::strcmp(PQgetvalue(has.get(), 0, 0), "t") != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, " holds no central desfired ledger (no table ledger_meta)", fix));
  }
  DESFIRED_ASSIGN_OR_RETURN(
      Result meta,
      Run(c, "SELECT key, value FROM ledger_meta WHERE key IN ('magic', 'format_version')", nullptr,
          false));
  std::string magic, version;
  for (int i = 0; i < PQntuples(meta.get()); ++i) {
    (std::strcmp(PQgetvalue(meta.get(), i, 0), "magic") == 0 ? magic : version) =
        PQgetvalue(meta.get(), i, 1);
  }
  if (magic != kMagic) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, " is not a central desfired ledger (no magic in ledger_meta)", fix));
  }
  if (version != std::to_string(kFormatVersion)) {
    int v = 0;
    const bool older = absl::SimpleAtoi(version, &v) && v < kFormatVersion;
    return absl::FailedPreconditionError(
        absl::StrCat(where, " holds a central ledger of format version ", version,
                     "; this build reads ", kFormatVersion, older ? fix : " (upgrade desfired)"));
  }
  return absl::OkStatus();
}

absl::Status Migrate(PGconn* c, absl::string_view shipping_role) {
  std::string grants;
  if (!shipping_role.empty()) {
    char* quoted = PQescapeIdentifier(c, shipping_role.data(), shipping_role.size());
    if (quoted == nullptr) return absl::InvalidArgumentError("bad shipping role name");
    const std::string role = quoted;
    PQfreemem(quoted);
    // Rows: add and read, never rewrite. Heads: add an instance's, move it (the trigger lets
    // it move one appended row forward only).
    grants = absl::StrCat("REVOKE ALL ON ledger_meta, ledger_rows, ledger_heads FROM ", role,
                          ";\nGRANT SELECT ON ledger_meta TO ", role,
                          ";\nGRANT SELECT, INSERT ON ledger_rows TO ", role,
                          ";\nGRANT SELECT, INSERT ON ledger_heads TO ", role,
                          ";\nGRANT UPDATE (seq, hash) ON ledger_heads TO ", role, ";\n");
  }
  const std::string sql = absl::StrCat(
      "BEGIN;\nSET LOCAL client_min_messages = warning;\nSELECT "
      "pg_advisory_xact_lock(7305546042348240486);\n",
      Schema(), grants, "COMMIT;");
  // Several statements: the simple protocol (PQexec).
  Result r(PQexec(c, sql.c_str()));
  if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    const std::string message(absl::StripTrailingAsciiWhitespace(
        r == nullptr ? PQerrorMessage(c) : PQresultErrorMessage(r.get())));
    Result rollback(PQexec(c, "ROLLBACK"));
    return absl::UnavailableError(
        absl::StrCat("cannot migrate the central ledger in ", Where(c), ": ", message));
  }
  return absl::OkStatus();
}

}  // namespace desfired::ledger::postgres
