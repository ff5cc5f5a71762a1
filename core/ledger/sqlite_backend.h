// The SQLite backend of the ledger: one file, its format in docs/ledger.md.
//
//   - WAL journal, synchronous=FULL: a row is on disk (fsync) when Append returns; readers
//     (verify, export, the sqlite3 shell) do not block appends. AppendDeferred commits with
//     synchronous=NORMAL (no sync; the next Append's WAL sync covers it).
//   - The file is created with mode 0600 (before SQLite sees it: the umask does not matter);
//     Open refuses a file, or an existing -wal / -shm file, that group or others may access.
//   - An exclusive flock on the file while it is open keeps a second desfired out.
//   - The `chain_head` table is moved in the same transaction as each insert, and only from
//     the head the caller names (the UPDATE names the old one).
//
//   DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<SqliteBackend> backend,
//                             SqliteBackend::Open("/var/lib/desfired/ledger.sqlite"));
//   // tools, read-only beside a running desfired:
//   DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> view, SqliteBackend::OpenFile(path));
//
// Thread-safe (backend.h): appends are serialized on one writing connection; Latest,
// Unresolved and Count share a second, read-only connection; every Snapshot has a read-only
// connection of its own.
#ifndef DESFIRED_CORE_LEDGER_SQLITE_BACKEND_H_
#define DESFIRED_CORE_LEDGER_SQLITE_BACKEND_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/ledger/backend.h"

namespace desfired::ledger {

class SqliteBackend final : public Backend {
 public:
  struct Options {
    // Refuse to open a file readable or writable by group or others (like the key store); the
    // -wal and -shm files beside it too, when they exist.
    bool check_permissions = true;
    // How long an append (or Open) waits for a lock another program holds on the file (e.g.
    // an sqlite3 shell in a write transaction) before it fails with UNAVAILABLE.
    absl::Duration busy_timeout = absl::Seconds(5);
  };

  // Opens (creating with mode 0600, and its schema) the ledger file at `path`. The directory
  // must exist (NOT_FOUND otherwise). FAILED_PRECONDITION when the file is group/other
  // accessible, is not a ledger (or has a newer format version), or is open in another
  // process (or by another SqliteBackend of this one). Errors name the path, but INTERNAL
  // with SQLite's message alone when the file's tables lack what the statements need. The
  // chain is not checked here (Ledger::Open does).
  static absl::StatusOr<std::unique_ptr<SqliteBackend>> Open(const std::string& path,
                                                             Options options);
  static absl::StatusOr<std::unique_ptr<SqliteBackend>> Open(const std::string& path) {
    return Open(path, Options{});
  }

  // A Snapshot of an existing ledger file opened read-only, without a lock (desfired may be
  // appending): NOT_FOUND / PERMISSION_DENIED / UNAVAILABLE when it cannot be opened,
  // FAILED_PRECONDITION when it is not a regular file or not a ledger (an empty one included).
  // Nothing is created.
  static absl::StatusOr<std::unique_ptr<Snapshot>> OpenFile(const std::string& path);
  // Backend::Latest on a file opened as by OpenFile.
  static absl::StatusOr<std::optional<StoredRow>> LatestInFile(const std::string& path,
                                                               absl::string_view request_id);

  ~SqliteBackend() override;
  SqliteBackend(const SqliteBackend&) = delete;
  SqliteBackend& operator=(const SqliteBackend&) = delete;

  // Backend (backend.h). Append's errors carry no reason payload (the Ledger adds one).
  const std::string& name() const override;
  absl::Status Append(const StoredRow& row, const Head& from) override;
  // The commit without its WAL sync (synchronous=NORMAL for it): the next Append's sync
  // covers the row.
  absl::Status AppendDeferred(const StoredRow& row, const Head& from) override;
  // A full checkpoint (the WAL synced, copied into the file, the file synced).
  absl::Status Sync() override;
  absl::StatusOr<Head> ReadHead() override;
  absl::StatusOr<std::optional<LastRow>> Last() override;
  absl::StatusOr<std::optional<StoredRow>> Latest(absl::string_view request_id) override;
  absl::StatusOr<std::vector<StoredRow>> Unresolved() override;
  absl::StatusOr<int64_t> Count() override;
  // OpenFile(name()).
  absl::StatusOr<std::unique_ptr<Snapshot>> OpenSnapshot() override;

 private:
  struct Impl;
  explicit SqliteBackend(std::unique_ptr<Impl> impl);
  absl::Status AppendRow(const StoredRow& row, const Head& from, bool sync);
  std::unique_ptr<Impl> impl_;
};

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_SQLITE_BACKEND_H_
