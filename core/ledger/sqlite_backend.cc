#include "core/ledger/sqlite_backend.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "core/ledger/sqlite_db.h"
#include "core/util/private_file.h"
#include "core/util/status_macros.h"

namespace desfired::ledger {
namespace {

using sqlite::Db;
using sqlite::DbError;
using sqlite::Exec;
using sqlite::Prepare;
using sqlite::ResetOnExit;
using sqlite::Stmt;

// The newest row of a request_id (Latest, LatestInFile).
absl::StatusOr<Stmt> PrepareLatest(sqlite3* db, int64_t version = sqlite::kFormatVersion) {
  return Prepare(db, absl::StrCat("SELECT ", sqlite::SelectColumns(version),
                                  " FROM ledger WHERE request_id = ?1 ORDER BY seq DESC LIMIT 1"));
}

absl::StatusOr<std::optional<StoredRow>> StepLatest(sqlite3_stmt* s, sqlite3* db,
                                                    const std::string& path,
                                                    absl::string_view request_id) {
  ResetOnExit reset(s);
  sqlite::BindText(s, 1, request_id);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<StoredRow>();
  if (rc != SQLITE_ROW) {
    return absl::UnavailableError(absl::StrCat("ledger ", path, ": cannot read: ", DbError(db)));
  }
  return std::optional<StoredRow>(sqlite::ReadRow(s));
}

class SqliteCursor final : public RowCursor {
 public:
  SqliteCursor(sqlite3* db, Stmt stmt) : db_(db), stmt_(std::move(stmt)) {}

  absl::StatusOr<bool> Next() override {
    const int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW) return absl::UnavailableError(DbError(db_));
    row_ = sqlite::ReadRow(stmt_.get());
    return true;
  }
  const StoredRow& row() const override { return row_; }

 private:
  sqlite3* db_;
  Stmt stmt_;
  StoredRow row_;
};

// A read-only connection in one read transaction: BEGIN (deferred) at the first read or Pin,
// so that the snapshot is the state of that moment.
class SqliteSnapshot final : public Snapshot {
 public:
  // `version`: the file's format version (a version-1 file is read with the Transaction MAC
  // columns absent).
  SqliteSnapshot(std::string path, Db db, int64_t version)
      : path_(std::move(path)), db_(std::move(db)), columns_(sqlite::SelectColumns(version)) {}
  ~SqliteSnapshot() override {
    if (!sqlite3_get_autocommit(db_.get())) Exec(db_.get(), "COMMIT");
  }

  const std::string& name() const override { return path_; }

  absl::Status Pin() override {
    // The snapshot starts at the first read: here, of the head.
    if (!Begin() || !Exec(db_.get(), "SELECT count(*) FROM chain_head")) {
      return absl::UnavailableError(DbError(db_.get()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<RowCursor>> Rows() override { return Cursor("ORDER BY seq", 0); }

  absl::StatusOr<std::unique_ptr<RowCursor>> RowsFrom(int64_t first_seq) override {
    return Cursor("WHERE seq >= ?1 ORDER BY seq", first_seq);
  }

  absl::StatusOr<std::unique_ptr<RowCursor>> NewestFirst(int64_t limit) override {
    if (limit < 1) return absl::InvalidArgumentError("the newest rows: limit must be 1 or more");
    return Cursor("ORDER BY seq DESC LIMIT ?1", limit);
  }

  absl::StatusOr<std::optional<std::string>> LastHash() override {
    if (!Begin()) return absl::UnavailableError(DbError(db_.get()));
    DESFIRED_ASSIGN_OR_RETURN(
        Stmt last, Prepare(db_.get(), "SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1"));
    const int rc = sqlite3_step(last.get());
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return absl::UnavailableError(DbError(db_.get()));
    return std::optional<std::string>(sqlite::ColumnText(last.get(), 0));
  }

  int64_t SeqOfHash(absl::string_view hash) override {
    if (!Begin()) return 0;
    absl::StatusOr<Stmt> q = Prepare(db_.get(), "SELECT seq FROM ledger WHERE hash = ?1 LIMIT 1");
    if (!q.ok()) return 0;
    sqlite::BindText(q->get(), 1, hash);
    return sqlite3_step(q->get()) == SQLITE_ROW ? sqlite3_column_int64(q->get(), 0) : 0;
  }

  absl::StatusOr<std::optional<StoredHead>> HeadAsStored() override {
    if (!Begin()) return absl::UnavailableError(DbError(db_.get()));
    absl::StatusOr<Stmt> q = Prepare(db_.get(), "SELECT seq, hash FROM chain_head WHERE id = 1");
    if (!q.ok()) return absl::NotFoundError(q.status().message());
    const int rc = sqlite3_step(q->get());
    if (rc == SQLITE_DONE) return std::optional<StoredHead>();
    if (rc != SQLITE_ROW) return absl::UnavailableError(DbError(db_.get()));
    return std::optional<StoredHead>(
        StoredHead{sqlite::ColumnValue(q->get(), 0), sqlite::ColumnValue(q->get(), 1)});
  }

 private:
  // Opens the read transaction unless it is open.
  bool Begin() { return !sqlite3_get_autocommit(db_.get()) || Exec(db_.get(), "BEGIN"); }

  // The rows of "SELECT <columns> FROM ledger <tail>", ?1 bound to `arg` when the tail has it.
  absl::StatusOr<std::unique_ptr<RowCursor>> Cursor(absl::string_view tail, int64_t arg) {
    if (!Begin()) return absl::UnavailableError(DbError(db_.get()));
    DESFIRED_ASSIGN_OR_RETURN(
        Stmt stmt, Prepare(db_.get(), absl::StrCat("SELECT ", columns_, " FROM ledger ", tail)));
    if (sqlite3_bind_parameter_count(stmt.get()) > 0) sqlite3_bind_int64(stmt.get(), 1, arg);
    return std::unique_ptr<RowCursor>(new SqliteCursor(db_.get(), std::move(stmt)));
  }

  const std::string path_;
  Db db_;
  const std::string columns_;
};

}  // namespace

struct SqliteBackend::Impl {
  std::string path;
  // Our descriptor of the file, held until the connections are closed: it carries the flock
  // that keeps a second desfired out, and closing any descriptor of the file would drop
  // SQLite's POSIX locks.
  int fd = -1;

  absl::Mutex mu;
  Db db ABSL_GUARDED_BY(mu);  // the writing connection
  Stmt begin ABSL_GUARDED_BY(mu), commit ABSL_GUARDED_BY(mu), rollback ABSL_GUARDED_BY(mu);
  Stmt insert ABSL_GUARDED_BY(mu), update_head ABSL_GUARDED_BY(mu), read_head ABSL_GUARDED_BY(mu);
  bool synced_commits ABSL_GUARDED_BY(mu) = true;  // synchronous=FULL is set (OpenWriter)

  absl::Mutex read_mu;
  Db reader ABSL_GUARDED_BY(read_mu);  // Latest, Unresolved, Count, Last
  Stmt latest ABSL_GUARDED_BY(read_mu), unresolved ABSL_GUARDED_BY(read_mu),
      count ABSL_GUARDED_BY(read_mu), last ABSL_GUARDED_BY(read_mu);

  ~Impl() {
    {
      absl::MutexLock l(&read_mu);
      latest.reset();
      unresolved.reset();
      count.reset();
      last.reset();
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
    return absl::UnavailableError(
        absl::StrCat("ledger ", path, ": ", what, ": ", DbError(db.get())));
  }

  // The head as the file has it.
  absl::StatusOr<Head> ReadHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ResetOnExit reset(read_head.get());
    const int rc = sqlite3_step(read_head.get());
    std::optional<Hash> h;
    if (rc == SQLITE_ROW) h = ParseHashHex(sqlite::ColumnText(read_head.get(), 1));
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

  // Opens the file (0600), checks its modes and takes the flock.
  absl::Status OpenFile(const Options& options) {
    // Created 0600 here, before SQLite sees it (SQLite would use 0644 & ~umask).
    fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
      const int err = errno;
      const std::string msg = absl::StrCat("cannot open ledger ", path, ": ", std::strerror(err));
      if (err == ENOENT) {
        return absl::NotFoundError(absl::StrCat(msg, " (the directory must exist)"));
      }
      if (err == EACCES) return absl::PermissionDeniedError(msg);
      return absl::UnavailableError(msg);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
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
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger ", path,
          " is in use by another desfired (or another Ledger in this process holds its lock)"));
    }
    return absl::OkStatus();
  }

  // The writing connection: WAL, synchronous=FULL, the schema of a new file, its statements.
  absl::Status OpenWriter(const Options& options) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    DESFIRED_ASSIGN_OR_RETURN(db,
                              sqlite::OpenDb(path, SQLITE_OPEN_READWRITE, options.busy_timeout));
    sqlite3* w = db.get();
    bool empty = false;
    int64_t version = sqlite::kFormatVersion;
    DESFIRED_RETURN_IF_ERROR(sqlite::CheckMeta(w, path, &empty, &version));
    // WAL: readers (verify, export) do not block appends. FULL: a commit is on disk when it
    // returns (in WAL mode NORMAL would only be crash-safe, not durable).
    if (!Exec(w, "PRAGMA journal_mode=WAL") || !Exec(w, "PRAGMA synchronous=FULL")) {
      return absl::UnavailableError(absl::StrCat("cannot set up ledger ", path, ": ", DbError(w)));
    }
    if (empty) DESFIRED_RETURN_IF_ERROR(CreateSchema(w));
    if (!empty) DESFIRED_RETURN_IF_ERROR(sqlite::Migrate(w, path, version));

    DESFIRED_ASSIGN_OR_RETURN(begin, Prepare(w, "BEGIN IMMEDIATE"));
    DESFIRED_ASSIGN_OR_RETURN(commit, Prepare(w, "COMMIT"));
    DESFIRED_ASSIGN_OR_RETURN(rollback, Prepare(w, "ROLLBACK"));
    DESFIRED_ASSIGN_OR_RETURN(
        insert, Prepare(w, absl::StrCat("INSERT INTO ledger (", sqlite::kColumns,
                                        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                                        "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, "
                                        "?23, ?24, ?25)")));
    // Moves the head only from the one the caller knows: a file changed under us fails here.
    DESFIRED_ASSIGN_OR_RETURN(update_head, Prepare(w,
                                                   "UPDATE chain_head SET seq = ?1, hash = ?2 "
                                                   "WHERE id = 1 AND seq = ?3 AND hash = ?4"));
    DESFIRED_ASSIGN_OR_RETURN(read_head,
                              Prepare(w, "SELECT seq, hash FROM chain_head WHERE id = 1"));
    return absl::OkStatus();
  }

  // The tables, the meta rows and the empty chain's head, unless another process was first.
  absl::Status CreateSchema(sqlite3* w) {
    if (!Exec(w, "BEGIN IMMEDIATE")) {
      return absl::UnavailableError(absl::StrCat("cannot create ledger ", path, ": ", DbError(w)));
    }
    bool still_empty = false;
    absl::Status s = sqlite::CheckMeta(w, path, &still_empty);  // another process may have won
    if (s.ok() && still_empty) {
      const std::string init = absl::StrCat(
          sqlite::kSchema, "INSERT INTO meta (key, value) VALUES ('magic', '", sqlite::kMagic,
          "'), ('format_version', '", sqlite::kFormatVersion, "');",
          "INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '", HashHex(kGenesisHash), "');");
      if (!Exec(w, init.c_str()) || !Exec(w, "COMMIT")) {
        s = absl::UnavailableError(absl::StrCat("cannot create ledger ", path, ": ", DbError(w)));
      }
    } else if (s.ok() && !Exec(w, "COMMIT")) {
      s = absl::UnavailableError(absl::StrCat("cannot open ledger ", path, ": ", DbError(w)));
    }
    if (!s.ok() && !sqlite3_get_autocommit(w)) Exec(w, "ROLLBACK");
    return s;
  }

  // The read-only connection of Latest, Unresolved, Count and Last.
  absl::Status OpenReader() ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu) {
    DESFIRED_ASSIGN_OR_RETURN(reader, sqlite::OpenDb(path, SQLITE_OPEN_READONLY));
    sqlite3* r = reader.get();
    DESFIRED_ASSIGN_OR_RETURN(latest, PrepareLatest(r));
    DESFIRED_ASSIGN_OR_RETURN(
        unresolved,
        Prepare(r, absl::StrCat("SELECT ", sqlite::kColumns,
                                " FROM ledger AS p WHERE p.event = 'PENDING' "
                                "AND NOT EXISTS (SELECT 1 FROM ledger AS s WHERE s.pending_seq = "
                                "p.seq AND s.pending_seq != 0 AND s.event IN ('DONE', "
                                "'RECONCILED')) ORDER BY p.seq")));
    DESFIRED_ASSIGN_OR_RETURN(count, Prepare(r, "SELECT count(*) FROM ledger"));
    DESFIRED_ASSIGN_OR_RETURN(last,
                              Prepare(r, "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1"));
    return absl::OkStatus();
  }

  absl::Status ReadError() ABSL_EXCLUSIVE_LOCKS_REQUIRED(read_mu) {
    return absl::UnavailableError(
        absl::StrCat("ledger ", path, ": cannot read: ", DbError(reader.get())));
  }
};

SqliteBackend::SqliteBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteBackend::~SqliteBackend() = default;

absl::StatusOr<std::unique_ptr<SqliteBackend>> SqliteBackend::Open(const std::string& path,
                                                                   Options options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  DESFIRED_RETURN_IF_ERROR(impl->OpenFile(options));
  {
    absl::MutexLock l(&impl->mu);
    DESFIRED_RETURN_IF_ERROR(impl->OpenWriter(options));
  }
  {
    absl::MutexLock l(&impl->read_mu);
    DESFIRED_RETURN_IF_ERROR(impl->OpenReader());
  }
  return std::unique_ptr<SqliteBackend>(new SqliteBackend(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Snapshot>> SqliteBackend::OpenFile(const std::string& path) {
  int64_t version = sqlite::kFormatVersion;
  DESFIRED_ASSIGN_OR_RETURN(Db db, sqlite::OpenReadOnly(path, &version));
  return std::unique_ptr<Snapshot>(new SqliteSnapshot(path, std::move(db), version));
}

absl::StatusOr<std::optional<StoredRow>> SqliteBackend::LatestInFile(const std::string& path,
                                                                     absl::string_view request_id) {
  int64_t version = sqlite::kFormatVersion;
  DESFIRED_ASSIGN_OR_RETURN(Db db, sqlite::OpenReadOnly(path, &version));
  DESFIRED_ASSIGN_OR_RETURN(Stmt latest, PrepareLatest(db.get(), version));
  return StepLatest(latest.get(), db.get(), path, request_id);
}

const std::string& SqliteBackend::name() const { return impl_->path; }

absl::Status SqliteBackend::Append(const StoredRow& row, const Head& from) {
  return AppendRow(row, from, /*sync=*/true);
}

absl::Status SqliteBackend::AppendDeferred(const StoredRow& row, const Head& from) {
  return AppendRow(row, from, /*sync=*/false);
}

absl::Status SqliteBackend::Sync() {
  Impl& m = *impl_;
  absl::MutexLock l(&m.mu);
  int in_wal = 0, copied = 0;
  const int rc =
      sqlite3_wal_checkpoint_v2(m.db.get(), nullptr, SQLITE_CHECKPOINT_FULL, &in_wal, &copied);
  if (rc != SQLITE_OK || copied != in_wal) return m.Unavailable("cannot sync the ledger");
  return absl::OkStatus();
}

absl::Status SqliteBackend::AppendRow(const StoredRow& row, const Head& from, bool sync) {
  DESFIRED_ASSIGN_OR_RETURN(const Head to, HeadAfter(row));

  Impl& m = *impl_;
  absl::MutexLock l(&m.mu);
  sqlite3* db = m.db.get();
  auto fail = [&](absl::string_view what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(m.mu) -> absl::Status {
    absl::Status s = m.Unavailable(what);
    if (!sqlite3_get_autocommit(db)) {
      ResetOnExit reset(m.rollback.get());
      sqlite3_step(m.rollback.get());
    }
    return s;
  };
  // The commit's WAL sync (synchronous=FULL) or none (NORMAL); set outside a transaction.
  if (sync != m.synced_commits) {
    if (!Exec(db, sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")) {
      return fail("cannot set the append's durability");
    }
    m.synced_commits = sync;
  }
  {
    ResetOnExit reset(m.begin.get());
    if (sqlite3_step(m.begin.get()) != SQLITE_DONE) return fail("cannot begin the append");
  }
  {
    sqlite3_stmt* s = m.insert.get();
    ResetOnExit reset(s);
    for (int col = 0; col < kColumnCount; ++col) sqlite::BindValue(s, col + 1, row.values[col]);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("cannot append a row");
  }
  {
    sqlite3_stmt* s = m.update_head.get();
    ResetOnExit reset(s);
    const std::string new_hash = HashHex(to.hash), old_hash = HashHex(from.hash);
    sqlite3_bind_int64(s, 1, to.seq);
    sqlite::BindText(s, 2, new_hash);
    sqlite3_bind_int64(s, 3, from.seq);
    sqlite::BindText(s, 4, old_hash);
    if (sqlite3_step(s) != SQLITE_DONE) return fail("cannot move the chain head");
    if (sqlite3_changes(db) != 1) {
      (void)fail("cannot move the chain head");  // rolls back
      return absl::UnavailableError(absl::StrCat(
          "ledger ", m.path,
          ": the chain head in the file is not the one this process wrote "
          "last (the file was changed by another program); run: desfirectl ledger verify "
          "--ledger ",
          m.path));
    }
  }
  {
    ResetOnExit reset(m.commit.get());
    if (sqlite3_step(m.commit.get()) != SQLITE_DONE) {
      absl::Status s = fail("cannot commit the append");
      // A failed COMMIT normally rolls back; should the row have landed all the same, the
      // file's head says so, and then the row is stored.
      if (absl::StatusOr<Head> now = m.ReadHead(); now.ok() && *now == to) {
        return absl::OkStatus();
      }
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Head> SqliteBackend::ReadHead() {
  absl::MutexLock l(&impl_->mu);
  return impl_->ReadHead();
}

absl::StatusOr<std::optional<LastRow>> SqliteBackend::Last() {
  Impl& m = *impl_;
  absl::MutexLock l(&m.read_mu);
  sqlite3_stmt* s = m.last.get();
  ResetOnExit reset(s);
  const int rc = sqlite3_step(s);
  if (rc == SQLITE_DONE) return std::optional<LastRow>();
  if (rc != SQLITE_ROW) {
    return absl::UnavailableError(
        absl::StrCat("cannot read ledger ", m.path, ": ", DbError(m.reader.get())));
  }
  return std::optional<LastRow>(
      LastRow{sqlite3_column_int64(s, 0), std::string(sqlite::ColumnText(s, 1))});
}

absl::StatusOr<std::optional<StoredRow>> SqliteBackend::Latest(absl::string_view request_id) {
  Impl& m = *impl_;
  absl::MutexLock l(&m.read_mu);
  return StepLatest(m.latest.get(), m.reader.get(), m.path, request_id);
}

absl::StatusOr<std::vector<StoredRow>> SqliteBackend::Unresolved() {
  Impl& m = *impl_;
  absl::MutexLock l(&m.read_mu);
  sqlite3_stmt* s = m.unresolved.get();
  ResetOnExit reset(s);
  std::vector<StoredRow> out;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.push_back(sqlite::ReadRow(s));
  if (rc != SQLITE_DONE) return m.ReadError();
  return out;
}

absl::StatusOr<int64_t> SqliteBackend::Count() {
  Impl& m = *impl_;
  absl::MutexLock l(&m.read_mu);
  sqlite3_stmt* s = m.count.get();
  ResetOnExit reset(s);
  if (sqlite3_step(s) != SQLITE_ROW) return m.ReadError();
  return sqlite3_column_int64(s, 0);
}

absl::StatusOr<std::unique_ptr<Snapshot>> SqliteBackend::OpenSnapshot() {
  return OpenFile(impl_->path);
}

}  // namespace desfired::ledger
