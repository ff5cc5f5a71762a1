// The PostgreSQL backend of the ledger: the central audit trail of a fleet, the ledgers of many
// desfired instances in one database (docs/ledger.md, "The central ledger on PostgreSQL"). One
// PostgresBackend is one instance's ledger: its rows in `ledger_rows` and its chain head in
// `ledger_heads`, both keyed by the instance id.
//
//   - Append inserts the row and moves the instance's head in one transaction, only from the
//     head the caller names (the UPDATE names the old one; a trigger lets a head move only
//     forward, over rows that are all there: one row, or a shipped batch); a second appender on
//     another connection or machine fails instead of forking the chain (the primary key (instance,
//     seq) and the head's row lock). It returns after the commit (synchronous_commit as the server
//     has it); AppendDeferred commits with synchronous_commit off.
//   - Migrate (run once by the tables' owner) creates the tables and grants the shipping role
//     INSERT and SELECT on the rows — no UPDATE, DELETE or TRUNCATE: a box that is taken over
//     can add rows, not rewrite them.
//   - The connection string (libpq key=value or postgresql:// URI) comes from a file
//     (ReadConnInfoFile: mode 0600) or the environment (kConnInfoEnv), never from a command line.
//     TLS is the connection string's choice (sslmode=verify-full sslrootcert=...).
//
//   DESFIRED_ASSIGN_OR_RETURN(std::string conninfo, ReadConnInfoFile("/etc/desfired/pg.conn"));
//   DESFIRED_RETURN_IF_ERROR(PostgresBackend::Migrate(conninfo, "desfired_ship"));   // owner
//   DESFIRED_ASSIGN_OR_RETURN(auto backend, PostgresBackend::Open(conninfo, "gate-07"));
//
// Thread-safe (backend.h): appends are serialized on one connection; Latest, Unresolved, Count
// and Last share a second; every Snapshot has a connection of its own (a REPEATABLE READ, READ
// ONLY transaction). A connection lost is reset at the next call.
#ifndef DESFIRED_CORE_LEDGER_POSTGRES_BACKEND_H_
#define DESFIRED_CORE_LEDGER_POSTGRES_BACKEND_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/ledger/backend.h"

namespace desfired::ledger {

// The environment variable that may hold the connection string.
inline constexpr char kConnInfoEnv[] = "DESFIRED_POSTGRES";

// The connection string in `path` (surrounding white space removed). FAILED_PRECONDITION when
// group or others may read the file (it may hold a password), NOT_FOUND when it is missing.
absl::StatusOr<std::string> ReadConnInfoFile(const std::string& path);

class PostgresBackend final : public Backend {
 public:
  // Creates or completes the schema in the database `conninfo` names (the connecting role owns
  // the tables) and, unless `shipping_role` is empty, grants that role what shipping needs and
  // nothing more. Idempotent. UNAVAILABLE when the server cannot be reached or refuses.
  static absl::Status Migrate(const std::string& conninfo, absl::string_view shipping_role);

  // The ledger of `instance` (non-empty) in the central database; its empty chain is made the
  // first time. FAILED_PRECONDITION when the database was not migrated (or is newer),
  // UNAVAILABLE when the server cannot be reached.
  static absl::StatusOr<std::unique_ptr<PostgresBackend>> Open(const std::string& conninfo,
                                                               const std::string& instance);

  // A Snapshot of one instance's ledger (no chain head is made when there is none).
  static absl::StatusOr<std::unique_ptr<Snapshot>> OpenSnapshot(const std::string& conninfo,
                                                                const std::string& instance);
  // Every instance that has a chain head, sorted.
  static absl::StatusOr<std::vector<std::string>> Instances(const std::string& conninfo);

  // Backend (backend.h), for this instance's rows and head only.
  //
  // Reads on the second connection, each its own statement (autocommit):
  absl::StatusOr<int64_t> Count() override;
  absl::StatusOr<std::optional<StoredRow>> Latest(absl::string_view request_id) override;
  absl::StatusOr<std::vector<StoredRow>> Unresolved() override;
  absl::StatusOr<std::optional<LastRow>> Last() override;
  // INSERT of the row and UPDATE of the head in one transaction. INVALID_ARGUMENT also for a
  // value its column's type cannot hold (text in an integer column, a NUL byte in text).
  absl::Status Append(const StoredRow& row, const Head& from) override;
  // The same with synchronous_commit off for that transaction.
  absl::Status AppendDeferred(const StoredRow& row, const Head& from) override;
  // `rows` (consecutive seqs, each chained to the one before, the first to `from`) appended in
  // ONE transaction — all of them or none — with one binary COPY, and the head moved once from
  // `from` to the last (the trigger checks every row between is there): the shipper's batches.
  // Errors as Append's.
  absl::Status AppendBatch(const std::vector<StoredRow>& rows, const Head& from);
  // A transaction committed with a synchronous flush of the WAL (which covers the earlier ones).
  absl::Status Sync() override;
  // On the appending connection.
  absl::StatusOr<Head> ReadHead() override;
  // OpenSnapshot(conninfo, instance) on a new connection.
  absl::StatusOr<std::unique_ptr<Snapshot>> OpenSnapshot() override;
  // "postgresql <db> on <host>:<port>, instance <id>": never the password.
  const std::string& name() const override;

  ~PostgresBackend() override;
  PostgresBackend(const PostgresBackend&) = delete;
  PostgresBackend& operator=(const PostgresBackend&) = delete;

 private:
  struct Impl;  // the two connections, their locks, the instance
  explicit PostgresBackend(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

// One connection to the central database, its schema checked once: the instances, and a
// snapshot of each in turn (desfirectl ledger verify --postgres over a fleet).
//
// Thread-compatible; one snapshot open at a time (they share the connection), none outliving
// the reader.
class CentralReader {
 public:
  // FAILED_PRECONDITION when the database was not migrated (or is newer), UNAVAILABLE when the
  // server cannot be reached.
  static absl::StatusOr<std::unique_ptr<CentralReader>> Open(const std::string& conninfo);
  // Every instance that has a chain head or rows, sorted.
  absl::StatusOr<std::vector<std::string>> Instances();
  // A Snapshot of one instance's ledger on this reader's connection (not pinned yet).
  std::unique_ptr<Snapshot> OpenSnapshot(const std::string& instance);

  ~CentralReader();
  CentralReader(const CentralReader&) = delete;
  CentralReader& operator=(const CentralReader&) = delete;

 private:
  struct Connection;  // the connection (libpq's)
  explicit CentralReader(std::unique_ptr<Connection> c);
  std::unique_ptr<Connection> c_;
};

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_POSTGRES_BACKEND_H_
