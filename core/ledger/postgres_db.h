// Internal to core/ledger (postgres_backend.cc): the PostgreSQL form of the ledgers of many
// instances (docs/ledger.md, "The central ledger on PostgreSQL") and the small libpq wrappers
// the PostgreSQL backend uses — connections and results as unique_ptrs, statements with binary
// parameters and results, rows in and out, the schema migration and its grants.
//
// Thread-compatible: a connection (Conn) is used by one thread at a time.
#ifndef DESFIRED_CORE_LEDGER_POSTGRES_DB_H_
#define DESFIRED_CORE_LEDGER_POSTGRES_DB_H_

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/ledger/row.h"
#include "core/util/free_with.h"

namespace desfired::ledger::postgres {

// The meta table's values: a database without them is not a central ledger.
inline constexpr char kMagic[] = "desfired-ledger-central";
// Version 2 added the Transaction MAC columns; Migrate brings a version-1 database to it.
inline constexpr int kFormatVersion = 2;
// "\"seq\", \"time\", ..., \"hash\"": the row columns of `ledger_rows`, in Column order.
const std::string& Columns();

// Owners of libpq's objects, freed by PQfinish and PQclear.
using Conn = std::unique_ptr<PGconn, FreeWith<PQfinish>>;
using Result = std::unique_ptr<PGresult, FreeWith<PQclear>>;

// A connection to `conninfo` (a libpq connection string or URI). UNAVAILABLE with libpq's
// message (which never holds the password) when it cannot be made.
absl::StatusOr<Conn> Connect(const std::string& conninfo);
// Where `c` is connected, for messages: "postgresql <db> on <host>:<port>".
std::string Where(PGconn* c);
// Makes the connection usable again after the server or the network went away (PQreset);
// false when it is still down.
bool EnsureConnected(PGconn* c);

// One statement's parameters, all sent in binary: int8, text, bytea or NULL.
class Params {
 public:
  void Int(int64_t v);
  void Text(absl::string_view v);
  void Bytes(absl::string_view v);
  void Null();
  // Every column of `row`, in Column order, as its column's kind asks (row.h KindOf): a value
  // of another type is INVALID_ARGUMENT naming the column.
  absl::Status Row(const StoredRow& row);

  int size() const { return static_cast<int>(types_.size()); }
  const unsigned int* types() const { return types_.data(); }
  const char* const* values() const { return pointers_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }
  // Must be called after the last parameter is added (the pointers into the buffers).
  void Seal();

 private:
  void Add(unsigned int type, std::string bytes, bool null);
  std::vector<unsigned int> types_;
  std::vector<std::string> buffers_;
  std::vector<bool> nulls_;
  std::vector<const char*> pointers_;
  std::vector<int> lengths_, formats_;
};

// Runs `sql` with `params` (binary results when `binary`). The result (of a COPY FROM STDIN:
// the connection is then in COPY mode), or an error: UNAVAILABLE
// with the server's message (INVALID_ARGUMENT for a value the server refuses: SQLSTATE class 22)
// and the SQLSTATE in `*sqlstate` when not null.
absl::StatusOr<Result> Run(PGconn* c, absl::string_view sql, Params* params = nullptr,
                           bool binary = true, std::string* sqlstate = nullptr);
// Run for the statement `name` prepared on `c` (Prepare), binary results.
absl::StatusOr<Result> RunPrepared(PGconn* c, const char* name, Params& params,
                                   std::string* sqlstate = nullptr);
// The outcome of one statement's result `r` as Run reports it (`r` null: the connection's error).
absl::StatusOr<Result> Checked(PGconn* c, Result r, std::string* sqlstate = nullptr);
// Prepares `sql` as the statement `name` on `c`, with parameters of `types` (OIDs, as Params
// sends them). UNAVAILABLE with the server's message when it fails.
absl::Status Prepare(PGconn* c, const char* name, absl::string_view sql,
                     const std::vector<unsigned int>& types);
// The parameter types of Params::Row (every column of a row, in Column order), after `first`.
std::vector<unsigned int> RowTypes(std::vector<unsigned int> first);
// The OID of a text parameter (Params::Text) and of an integer one (Params::Int).
unsigned int TextType();
unsigned int IntType();

// Inserts `rows` of `instance` into ledger_rows with one binary COPY (the shipper's batches):
// INVALID_ARGUMENT for a value its column's type cannot hold, else as Run (`*sqlstate` set).
absl::Status CopyRows(PGconn* c, absl::string_view instance, const std::vector<StoredRow>& rows,
                      std::string* sqlstate = nullptr);

// Binary result values.
int64_t GetInt(PGresult* r, int row, int col);
absl::string_view GetBytes(PGresult* r, int row, int col);
// Row `row` of a binary `SELECT <kColumns> ...` result.
StoredRow ReadRow(PGresult* r, int row);
// The same into `*out`, reusing its strings' memory (a cursor's rows, one after the other).
void ReadRowInto(PGresult* r, int row, StoredRow* out);
// One column's value from its binary form (`size` bytes at `data`, or NULL) into `*v`, reusing
// its memory: int8 big-endian, text and bytea as their bytes (a result's or a binary COPY's).
void SetBinaryValue(Column column, const char* data, int size, bool null, Value* v);

// Checks that the database holds the central ledger's tables of a format this build reads:
// FAILED_PRECONDITION naming `where` and the migration when not.
absl::Status CheckMeta(PGconn* c, const std::string& where);

// Creates (or completes) the schema, idempotently and under an advisory lock, then grants
// `shipping_role` (unless empty) INSERT and SELECT on the rows and what moving its chain heads
// needs — never UPDATE, DELETE or TRUNCATE of rows. Run by the tables' owner.
absl::Status Migrate(PGconn* c, absl::string_view shipping_role);

}  // namespace desfired::ledger::postgres

#endif  // DESFIRED_CORE_LEDGER_POSTGRES_DB_H_
