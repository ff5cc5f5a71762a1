#include "core/ledger/postgres_backend.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "core/ledger/postgres_db.h"
#include "core/util/private_file.h"
#include "core/util/status_macros.h"

namespace desfired::ledger {
namespace {

using postgres::Conn;
using postgres::Params;
using postgres::Result;
using postgres::Run;

constexpr int kFetchRows = 10000;  // rows per FETCH of a snapshot's cursor

// Params holding only the instance id (the first parameter of every query of one instance).
Params InstanceParam(const std::string& instance) {
  Params p;
  p.Text(instance);
  return p;
}

// Every row of one instance (from a seq on), fetched in batches through a server-side cursor
// of the snapshot's transaction. The next batch is asked for as soon as one arrives, so that
// the server produces it while the caller checks this one; a query of the snapshot meanwhile
// first collects it (Drain, through *active).
class PostgresCursor final : public RowCursor {
 public:
  PostgresCursor(PGconn* c, std::string name, PostgresCursor** active)
      : c_(c), name_(std::move(name)), active_(active) {}
  ~PostgresCursor() override {
    Drain();
    if (PQstatus(c_) == CONNECTION_OK) (void)Run(c_, absl::StrCat("CLOSE ", name_));
  }

  absl::StatusOr<bool> Next() override {
    if (batch_ == nullptr || ++index_ >= PQntuples(batch_.get())) {
      if (batch_ != nullptr && PQntuples(batch_.get()) < kFetchRows) return false;
      if (!in_flight_ && !ready_) Send();
      Drain();
      ready_ = false;
      if (!next_.ok()) return absl::UnavailableError(next_.status().message());
      batch_ = *std::move(next_);
      index_ = 0;
      if (PQntuples(batch_.get()) == 0) return false;
      if (PQntuples(batch_.get()) == kFetchRows) Send();  // the next batch, meanwhile
    }
    postgres::ReadRowInto(batch_.get(), index_, &row_);
    return true;
  }
  const StoredRow& row() const override { return row_; }

  // Collects the batch asked for, if one is on its way (the connection is then free).
  void Drain() {
    if (!in_flight_) return;
    in_flight_ = false;
    if (*active_ == this) *active_ = nullptr;
    Result first;
    for (;;) {  // one result, then null
      Result r(PQgetResult(c_));
      if (r == nullptr) break;
      if (first == nullptr) first = std::move(r);
    }
    next_ = postgres::Checked(c_, std::move(first));
    ready_ = true;
  }

 private:
  void Send() {
    if (*active_ != nullptr) (*active_)->Drain();
    const std::string sql = absl::StrCat("FETCH FORWARD ", kFetchRows, " FROM ", name_);
    if (PQsendQueryParams(c_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1) != 1) {
      next_ = absl::UnavailableError(absl::StripTrailingAsciiWhitespace(PQerrorMessage(c_)));
      ready_ = true;
      return;
    }
    in_flight_ = true;
    *active_ = this;
  }

  PGconn* c_;
  const std::string name_;
  PostgresCursor** const active_;  // the snapshot's cursor with a batch on its way
  Result batch_;
  absl::StatusOr<Result> next_;  // the next batch, collected (ready_), or why not
  bool in_flight_ = false, ready_ = false;
  int index_ = 0;
  StoredRow row_;
};

// One instance's rows in one REPEATABLE READ, READ ONLY transaction, begun at the first read
// or Pin (the snapshot is taken at its first query).
class PostgresSnapshot final : public Snapshot {
 public:
  // On a connection of its own (`owned`), or on `c` (owned elsewhere, one snapshot at a time).
  PostgresSnapshot(Conn owned, PGconn* c, std::string instance, std::string name)
      : owned_(std::move(owned)),
        c_(owned_ != nullptr ? owned_.get() : c),
        instance_(std::move(instance)),
        name_(std::move(name)) {}
  ~PostgresSnapshot() override {
    Quiesce();
    if (begun_ && PQstatus(c_) == CONNECTION_OK) (void)Run(c_, "COMMIT");
  }

  const std::string& name() const override { return name_; }

  absl::Status Pin() override {
    DESFIRED_RETURN_IF_ERROR(Begin());
    Params p = InstanceParam(instance_);
    return Run(c_, "SELECT 1 FROM ledger_heads WHERE instance = $1", &p).status();
  }

  absl::StatusOr<std::unique_ptr<RowCursor>> Rows() override { return RowsFrom(1); }

  absl::StatusOr<std::unique_ptr<RowCursor>> RowsFrom(int64_t first_seq) override {
    return Cursor(absl::StrCat(" AND seq >= ", first_seq, " ORDER BY seq"));
  }

  absl::StatusOr<std::unique_ptr<RowCursor>> NewestFirst(int64_t limit) override {
    if (limit < 1) return absl::InvalidArgumentError("the newest rows: limit must be 1 or more");
    return Cursor(absl::StrCat(" ORDER BY seq DESC LIMIT ", limit));
  }

  absl::StatusOr<std::optional<std::string>> LastHash() override {
    DESFIRED_RETURN_IF_ERROR(Begin());
    Params p = InstanceParam(instance_);
    DESFIRED_ASSIGN_OR_RETURN(
        Result r,
        Run(c_, "SELECT hash FROM ledger_rows WHERE instance = $1 ORDER BY seq DESC LIMIT 1", &p));
    if (PQntuples(r.get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::string(postgres::GetBytes(r.get(), 0, 0)));
  }

  int64_t SeqOfHash(absl::string_view hash) override {
    if (!Begin().ok()) return 0;
    Params p = InstanceParam(instance_);
    p.Text(hash);
    absl::StatusOr<Result> r =
        Run(c_, "SELECT seq FROM ledger_rows WHERE instance = $1 AND hash = $2 LIMIT 1", &p);
    if (!r.ok() || PQntuples(r->get()) == 0) return 0;
    return postgres::GetInt(r->get(), 0, 0);
  }

  absl::StatusOr<std::optional<StoredHead>> HeadAsStored() override {
    DESFIRED_RETURN_IF_ERROR(Begin());
    Params p = InstanceParam(instance_);
    DESFIRED_ASSIGN_OR_RETURN(
        Result r, Run(c_, "SELECT seq, hash FROM ledger_heads WHERE instance = $1", &p));
    if (PQntuples(r.get()) == 0) return std::optional<StoredHead>();
    return std::optional<StoredHead>(StoredHead{Value::Integer(postgres::GetInt(r.get(), 0, 0)),
                                                Value::Text(postgres::GetBytes(r.get(), 0, 1))});
  }

 private:
  // A cursor over this instance's rows; `tail`: the rest of the query after the instance.
  absl::StatusOr<std::unique_ptr<RowCursor>> Cursor(absl::string_view tail) {
    DESFIRED_RETURN_IF_ERROR(Begin());
    const std::string cursor = absl::StrCat("ledger_rows_", ++cursors_);
    char* literal = PQescapeLiteral(c_, instance_.data(), instance_.size());
    if (literal == nullptr) return absl::UnavailableError(PQerrorMessage(c_));
    const std::string sql =
        absl::StrCat("DECLARE ", cursor, " BINARY NO SCROLL CURSOR FOR SELECT ",
                     postgres::Columns(), " FROM ledger_rows WHERE instance = ", literal, tail);
    PQfreemem(literal);
    absl::StatusOr<Result> declared = Run(c_, sql);
    if (!declared.ok()) return absl::InternalError(declared.status().message());
    return std::unique_ptr<RowCursor>(new PostgresCursor(c_, cursor, &active_));
  }

  // The connection free for a query: a cursor's batch on its way collected first.
  void Quiesce() {
    if (active_ != nullptr) active_->Drain();
  }

  absl::Status Begin() {
    Quiesce();
    if (begun_) return absl::OkStatus();
    DESFIRED_RETURN_IF_ERROR(Run(c_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
    begun_ = true;
    return absl::OkStatus();
  }

  const Conn owned_;
  PGconn* const c_;
  const std::string instance_, name_;
  bool begun_ = false;
  int cursors_ = 0;
  PostgresCursor* active_ = nullptr;  // a cursor with a batch on its way
};

std::string NameOf(PGconn* c, const std::string& instance) {
  return absl::StrCat(postgres::Where(c), ", instance ", instance);
}

}  // namespace

absl::StatusOr<std::string> ReadConnInfoFile(const std::string& path) {
  DESFIRED_ASSIGN_OR_RETURN(
      std::string text,
      ReadSmallFile(path, {.what = "PostgreSQL connection file", .max_bytes = 64 << 10}));
  // Trimmed in place: no second copy of text that may hold a password is left unwiped (the
  // bytes moved away from or cut off the end are zeroed before the size shrinks).
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  const size_t start = static_cast<size_t>(trimmed.data() - text.data());
  const size_t size = trimmed.size();
  if (start > 0) std::memmove(text.data(), text.data() + start, size);
  explicit_bzero(text.data() + size, text.size() - size);
  text.resize(size);
  return text;
}

struct PostgresBackend::Impl {
  std::string conninfo, instance, name;

  absl::Mutex mu;
  Conn writer ABSL_GUARDED_BY(mu);
  // The server process `writer` prepared its statements on (0: none): a reset connection
  // talks to a new process, which has to prepare them again.
  int prepared_pid ABSL_GUARDED_BY(mu) = 0;
  absl::Mutex read_mu;
  Conn reader ABSL_GUARDED_BY(read_mu);

  absl::Status Unavailable(absl::string_view what, const absl::Status& why) const {
    return absl::UnavailableError(absl::StrCat("ledger ", name, ": ", what, ": ", why.message()));
  }

  // The connection, reset when it was lost.
  absl::Status Ready(PGconn* c) const {
    if (postgres::EnsureConnected(c)) return absl::OkStatus();
    return absl::UnavailableError(absl::StrCat(
        "ledger ", name,
        ": the server cannot be reached: ", absl::StripTrailingAsciiWhitespace(PQerrorMessage(c))));
  }

  // `sql` (binary results) on the reading connection, with the instance as $1 and `second`
  // (unless null) as $2.
  absl::StatusOr<Result> Read(absl::string_view sql,
                              std::optional<absl::string_view> second = std::nullopt) {
    absl::MutexLock l(&read_mu);
    DESFIRED_RETURN_IF_ERROR(Ready(reader.get()));
    Params p = InstanceParam(instance);
    if (second) p.Text(*second);
    absl::StatusOr<Result> r = Run(reader.get(), sql, &p);
    if (!r.ok()) return Unavailable("cannot read", r.status());
    return r;
  }

  // Backend::Append (`sync`) or AppendDeferred.
  absl::Status Append(const StoredRow& row, const Head& from, bool sync);
  // PostgresBackend::AppendBatch.
  absl::Status AppendBatch(const std::vector<StoredRow>& rows, const Head& from);
  // One append's transaction: `insert` puts the rows in (the SQLSTATE of its failure in
  // *sqlstate), then the head moves from `from` to `to`; `first_seq` names the first row.
  absl::Status Write(const Head& from, const Head& to, bool sync, int64_t first_seq,
                     const std::function<absl::Status(PGconn*, std::string*)>& insert);

  // The writer connected, with the append's statements prepared once per connection:
  // kInsert (the instance, then every column) and kMove (instance, new seq and hash, old seq
  // and hash).
  absl::Status ReadyToAppend() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    DESFIRED_RETURN_IF_ERROR(Ready(writer.get()));
    PGconn* c = writer.get();
    if (prepared_pid == PQbackendPID(c)) return absl::OkStatus();
    std::string insert =
        absl::StrCat("INSERT INTO ledger_rows (instance, ", postgres::Columns(), ") VALUES ($1");
    for (int i = 2; i <= kColumnCount + 1; ++i) absl::StrAppend(&insert, ", $", i);
    insert += ")";
    const unsigned int text = postgres::TextType(), integer = postgres::IntType();
    absl::Status s = postgres::Prepare(c, kInsert, insert, postgres::RowTypes({text}));
    if (s.ok()) {
      s = postgres::Prepare(c, kMove,
                            "UPDATE ledger_heads SET seq = $2, hash = $3 WHERE instance = $1 AND "
                            "seq = $4 AND hash = $5",
                            {text, integer, text, integer, text});
    }
    if (!s.ok()) return Unavailable("cannot prepare the append", s);
    prepared_pid = PQbackendPID(c);
    return absl::OkStatus();
  }
  static constexpr char kInsert[] = "ledger_insert", kMove[] = "ledger_move";

  // The parameters of kInsert for `row` and of kMove from `from` to `to`.
  absl::StatusOr<Params> InsertParams(const StoredRow& row) const {
    Params insert = InstanceParam(instance);
    if (absl::Status s = insert.Row(row); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("ledger ", name, ": ", s.message()));
    }
    return insert;
  }
  Params MoveParams(const Head& from, const Head& to) const {
    Params move = InstanceParam(instance);
    move.Int(to.seq);
    move.Text(HashHex(to.hash));
    move.Int(from.seq);
    move.Text(HashHex(from.hash));
    return move;
  }
  // The errors of an append that failed because another appender was first.
  absl::Status StoredAlready(int64_t seq) const {
    return absl::UnavailableError(absl::StrCat(
        "ledger ", name, ": row ", seq,
        " is stored already: the chain head is not the one this process wrote last (another "
        "appender); run: desfirectl ledger verify --postgres CONNFILE --instance ",
        instance));
  }
  absl::Status HeadMoved() const {
    return absl::UnavailableError(absl::StrCat(
        "ledger ", name,
        ": the chain head is not the one this process wrote last (changed by another appender); "
        "run: desfirectl ledger verify --postgres CONNFILE --instance ",
        instance));
  }
  // Ends a failed append: the transaction rolled back; `why` as Append reports it.
  absl::Status Failed(absl::string_view what, const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    PGconn* c = writer.get();
    if (PQtransactionStatus(c) != PQTRANS_IDLE) (void)Run(c, "ROLLBACK");
    if (absl::IsInvalidArgument(why)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ledger ", name, ": ", what, ": ", why.message()));
    }
    return Unavailable(what, why);
  }
  // After a COMMIT whose answer failed: OK when the stored head says the append landed.
  absl::Status CommitFailed(const absl::Status& why, const Head& to)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    absl::Status failed = Failed("cannot commit the append", why);
    if (absl::StatusOr<Head> now = ReadHead(); now.ok() && *now == to) return absl::OkStatus();
    return failed;
  }

  absl::StatusOr<Head> ReadHead() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    DESFIRED_RETURN_IF_ERROR(Ready(writer.get()));
    Params p = InstanceParam(instance);
    absl::StatusOr<Result> r =
        Run(writer.get(), "SELECT seq, hash FROM ledger_heads WHERE instance = $1", &p);
    if (!r.ok()) return Unavailable("cannot read the chain head", r.status());
    std::optional<Hash> h;
    const bool found = PQntuples(r->get()) == 1;
    if (found) h = ParseHashHex(postgres::GetBytes(r->get(), 0, 1));
    if (!h) {
      return absl::FailedPreconditionError(absl::StrCat(
          "ledger ", name, ": the chain head is ", found ? "malformed" : "missing",
          "; run: desfirectl ledger verify --postgres CONNFILE --instance ", instance));
    }
    return Head{postgres::GetInt(r->get(), 0, 0), *h};
  }
};

absl::Status PostgresBackend::Impl::Write(
    const Head& from, const Head& to, bool sync, int64_t first_seq,
    const std::function<absl::Status(PGconn*, std::string*)>& insert) {
  Params move = MoveParams(from, to);
  absl::MutexLock l(&mu);
  DESFIRED_RETURN_IF_ERROR(ReadyToAppend());
  PGconn* c = writer.get();
  if (absl::Status s = Run(c, "BEGIN").status(); !s.ok()) {
    return Failed("cannot begin the append", s);
  }
  if (!sync) {
    if (absl::Status s = Run(c, "SET LOCAL synchronous_commit = off").status(); !s.ok()) {
      return Failed("cannot set the append's durability", s);
    }
  }
  std::string sqlstate;
  if (absl::Status s = insert(c, &sqlstate); !s.ok()) {
    if (sqlstate == "23505") {  // unique_violation: a row is there already
      (void)Failed("", s);
      return StoredAlready(first_seq);
    }
    return Failed("cannot append a row", s);
  }
  absl::StatusOr<Result> moved = postgres::RunPrepared(c, kMove, move);
  if (!moved.ok()) return Failed("cannot move the chain head", moved.status());
  if (std::strcmp(PQcmdTuples(moved->get()), "1") != 0) {
    (void)Failed("", absl::OkStatus());
    return HeadMoved();
  }
  if (absl::Status s = Run(c, "COMMIT").status(); !s.ok()) return CommitFailed(s, to);
  return absl::OkStatus();
}

absl::Status PostgresBackend::Impl::Append(const StoredRow& row, const Head& from, bool sync) {
  DESFIRED_ASSIGN_OR_RETURN(const Head to, HeadAfter(row));
  DESFIRED_ASSIGN_OR_RETURN(Params insert, InsertParams(row));
  return Write(from, to, sync, to.seq, [&insert](PGconn* c, std::string* sqlstate) {
    return postgres::RunPrepared(c, kInsert, insert, sqlstate).status();
  });
}

absl::Status PostgresBackend::Impl::AppendBatch(const std::vector<StoredRow>& rows,
                                                const Head& from) {
  if (rows.empty()) return absl::OkStatus();
  for (const StoredRow& row : rows) DESFIRED_RETURN_IF_ERROR(HeadAfter(row).status());
  DESFIRED_ASSIGN_OR_RETURN(const Head to, HeadAfter(rows.back()));
  // The rows in one binary COPY, then the head moved once over all of them (the trigger checks
  // that every row between is there).
  return Write(from, to, /*sync=*/true, rows.front()[Column::kSeq].integer,
               [this, &rows](PGconn* c, std::string* sqlstate) {
                 return postgres::CopyRows(c, instance, rows, sqlstate);
               });
}

PostgresBackend::PostgresBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PostgresBackend::~PostgresBackend() = default;

absl::Status PostgresBackend::Migrate(const std::string& conninfo,
                                      absl::string_view shipping_role) {
  DESFIRED_ASSIGN_OR_RETURN(Conn c, postgres::Connect(conninfo));
  return postgres::Migrate(c.get(), shipping_role);
}

absl::StatusOr<std::unique_ptr<PostgresBackend>> PostgresBackend::Open(
    const std::string& conninfo, const std::string& instance) {
  if (instance.empty()) return absl::InvalidArgumentError("the ledger's instance id is empty");
  auto impl = std::make_unique<Impl>();
  impl->conninfo = conninfo;
  impl->instance = instance;
  {
    absl::MutexLock l(&impl->mu);
    DESFIRED_ASSIGN_OR_RETURN(impl->writer, postgres::Connect(conninfo));
    impl->name = NameOf(impl->writer.get(), instance);
    DESFIRED_RETURN_IF_ERROR(postgres::CheckMeta(impl->writer.get(), impl->name));
    Params p = InstanceParam(instance);
    p.Text(HashHex(kGenesisHash));
    absl::StatusOr<Result> made =
        Run(impl->writer.get(),
            "INSERT INTO ledger_heads (instance, seq, hash) VALUES ($1, 0, $2) "
            "ON CONFLICT (instance) DO NOTHING",
            &p);
    if (!made.ok()) return impl->Unavailable("cannot make the chain head", made.status());
  }
  {
    absl::MutexLock l(&impl->read_mu);
    DESFIRED_ASSIGN_OR_RETURN(impl->reader, postgres::Connect(conninfo));
  }
  return std::unique_ptr<PostgresBackend>(new PostgresBackend(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<Snapshot>> PostgresBackend::OpenSnapshot(
    const std::string& conninfo, const std::string& instance) {
  DESFIRED_ASSIGN_OR_RETURN(Conn c, postgres::Connect(conninfo));
  const std::string name = NameOf(c.get(), instance);
  DESFIRED_RETURN_IF_ERROR(postgres::CheckMeta(c.get(), name));
  return std::unique_ptr<Snapshot>(new PostgresSnapshot(std::move(c), nullptr, instance, name));
}

absl::StatusOr<std::vector<std::string>> PostgresBackend::Instances(const std::string& conninfo) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<CentralReader> central, CentralReader::Open(conninfo));
  return central->Instances();
}

struct CentralReader::Connection {
  Conn c;
  PGconn* get() const { return c.get(); }
};

CentralReader::CentralReader(std::unique_ptr<Connection> c) : c_(std::move(c)) {}
CentralReader::~CentralReader() = default;

absl::StatusOr<std::unique_ptr<CentralReader>> CentralReader::Open(const std::string& conninfo) {
  DESFIRED_ASSIGN_OR_RETURN(Conn c, postgres::Connect(conninfo));
  DESFIRED_RETURN_IF_ERROR(postgres::CheckMeta(c.get(), postgres::Where(c.get())));
  return std::unique_ptr<CentralReader>(
      new CentralReader(std::make_unique<Connection>(Connection{std::move(c)})));
}

absl::StatusOr<std::vector<std::string>> CentralReader::Instances() {
  DESFIRED_ASSIGN_OR_RETURN(
      Result r, Run(c_->get(),
                    "SELECT instance FROM ledger_heads UNION SELECT DISTINCT instance FROM "
                    "ledger_rows ORDER BY 1"));
  std::vector<std::string> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    out.emplace_back(postgres::GetBytes(r.get(), i, 0));
  }
  return out;
}

std::unique_ptr<Snapshot> CentralReader::OpenSnapshot(const std::string& instance) {
  return std::make_unique<PostgresSnapshot>(nullptr, c_->get(), instance,
                                            NameOf(c_->get(), instance));
}

const std::string& PostgresBackend::name() const { return impl_->name; }

absl::Status PostgresBackend::Append(const StoredRow& row, const Head& from) {
  return impl_->Append(row, from, /*sync=*/true);
}

absl::Status PostgresBackend::AppendDeferred(const StoredRow& row, const Head& from) {
  return impl_->Append(row, from, /*sync=*/false);
}

absl::Status PostgresBackend::AppendBatch(const std::vector<StoredRow>& rows, const Head& from) {
  return impl_->AppendBatch(rows, from);
}

absl::Status PostgresBackend::Sync() {
  Impl& m = *impl_;
  absl::MutexLock l(&m.mu);
  DESFIRED_RETURN_IF_ERROR(m.Ready(m.writer.get()));
  // A transaction with an id commits with a synchronous flush of the WAL, every earlier
  // (deferred) commit's record included.
  Result r(PQexec(m.writer.get(),
                  "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_current_xact_id(); COMMIT"));
  if (r == nullptr || PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    const absl::Status why = absl::UnavailableError(absl::StripTrailingAsciiWhitespace(
        r == nullptr ? PQerrorMessage(m.writer.get()) : PQresultErrorMessage(r.get())));
    if (PQtransactionStatus(m.writer.get()) != PQTRANS_IDLE) (void)Run(m.writer.get(), "ROLLBACK");
    return m.Unavailable("cannot sync the ledger", why);
  }
  return absl::OkStatus();
}

absl::StatusOr<Head> PostgresBackend::ReadHead() {
  absl::MutexLock l(&impl_->mu);
  return impl_->ReadHead();
}

absl::StatusOr<std::optional<LastRow>> PostgresBackend::Last() {
  DESFIRED_ASSIGN_OR_RETURN(
      Result r,
      impl_->Read(
          "SELECT seq, hash FROM ledger_rows WHERE instance = $1 ORDER BY seq DESC LIMIT 1"));
  if (PQntuples(r.get()) == 0) return std::optional<LastRow>();
  return std::optional<LastRow>(
      LastRow{postgres::GetInt(r.get(), 0, 0), std::string(postgres::GetBytes(r.get(), 0, 1))});
}

absl::StatusOr<std::optional<StoredRow>> PostgresBackend::Latest(absl::string_view request_id) {
  DESFIRED_ASSIGN_OR_RETURN(
      Result r, impl_->Read(absl::StrCat("SELECT ", postgres::Columns(),
                                         " FROM ledger_rows WHERE instance = $1 AND request_id = "
                                         "$2 ORDER BY seq DESC LIMIT 1"),
                            request_id));
  if (PQntuples(r.get()) == 0) return std::optional<StoredRow>();
  return std::optional<StoredRow>(postgres::ReadRow(r.get(), 0));
}

absl::StatusOr<std::vector<StoredRow>> PostgresBackend::Unresolved() {
  DESFIRED_ASSIGN_OR_RETURN(
      Result r,
      impl_->Read(absl::StrCat(
          "SELECT ", postgres::Columns(),
          " FROM ledger_rows AS p WHERE p.instance = $1 AND p.event = 'PENDING' AND NOT EXISTS "
          "(SELECT 1 FROM ledger_rows AS s WHERE s.instance = $1 AND s.pending_seq = p.seq AND "
          "s.pending_seq <> 0 AND s.event IN ('DONE', 'RECONCILED')) ORDER BY p.seq")));
  std::vector<StoredRow> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(postgres::ReadRow(r.get(), i));
  return out;
}

absl::StatusOr<int64_t> PostgresBackend::Count() {
  DESFIRED_ASSIGN_OR_RETURN(Result r,
                            impl_->Read("SELECT count(*) FROM ledger_rows WHERE instance = $1"));
  return postgres::GetInt(r.get(), 0, 0);
}

absl::StatusOr<std::unique_ptr<Snapshot>> PostgresBackend::OpenSnapshot() {
  absl::StatusOr<std::unique_ptr<Snapshot>> s = OpenSnapshot(impl_->conninfo, impl_->instance);
  if (!s.ok())
    return absl::Status(s.status().code(),
                        absl::StrCat("ledger ", impl_->name, ": ", s.status().message()));
  return s;
}

}  // namespace desfired::ledger
