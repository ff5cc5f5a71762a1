#include "core/ledger/central_verify.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/internal/endian.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/postgres_db.h"
#include "core/util/status_macros.h"

namespace desfired::ledger {
namespace {

using postgres::Conn;
using postgres::Params;
using postgres::Result;
using postgres::Run;

// An instance's chain is cut into slices of at least this many rows, checked at once.
constexpr int64_t kMinSliceRows = 20000;

// The signature that starts a binary COPY (PostgreSQL's "Binary Format" of COPY).
constexpr char kCopySignature[] = "PGCOPY\n\377\r\n";
constexpr size_t kCopySignatureSize = 11;

absl::Status CopyError(PGconn* c) {
  return absl::UnavailableError(absl::StripTrailingAsciiWhitespace(PQerrorMessage(c)));
}

// The rows of a `COPY (SELECT <columns> ...) TO STDOUT (FORMAT binary)`, decoded as they arrive
// (no result set in between): the header, then one tuple (a field count, then each field's
// length and bytes) after the other, up to the trailer.
class CopyCursor final : public RowCursor {
 public:
  explicit CopyCursor(PGconn* c) : c_(c) {}
  ~CopyCursor() override {
    // A cursor left early: the COPY is read to its end, the connection free again.
    while (!done_ && Fetch()) {
    }
    (void)Collect();
  }

  absl::StatusOr<bool> Next() override {
    if (!header_) {
      if (!Need(kCopySignatureSize + 8)) return Failure();
      if (std::memcmp(buf_.data() + pos_, kCopySignature, kCopySignatureSize) != 0) {
        return absl::DataLossError("not a binary COPY");
      }
      const uint32_t extension = absl::big_endian::Load32(buf_.data() + pos_ + 15);
      pos_ += kCopySignatureSize + 8;
      if (!Need(extension)) return Failure();
      pos_ += extension;
      header_ = true;
    }
    if (!Need(2)) return Failure();
    const auto fields = static_cast<int16_t>(absl::big_endian::Load16(buf_.data() + pos_));
    pos_ += 2;
    if (fields == -1) {  // the trailer
      while (!done_ && Fetch()) {
      }
      if (absl::Status s = Collect(); !s.ok()) return s;
      return false;
    }
    if (fields != kColumnCount) {
      return absl::DataLossError(absl::StrCat("a COPY row of ", fields, " fields"));
    }
    for (int col = 0; col < kColumnCount; ++col) {
      if (!Need(4)) return Failure();
      const auto size = static_cast<int32_t>(absl::big_endian::Load32(buf_.data() + pos_));
      pos_ += 4;
      if (size > 0 && !Need(static_cast<size_t>(size))) return Failure();
      postgres::SetBinaryValue(static_cast<Column>(col), buf_.data() + pos_, std::max(size, 0),
                               size < 0, &row_.values[col]);
      pos_ += static_cast<size_t>(std::max(size, 0));
    }
    return true;
  }
  const StoredRow& row() const override { return row_; }

 private:
  // At least `n` bytes unread in buf_ (fetching messages as needed); false at the end of the
  // data or on an error.
  bool Need(size_t n) {
    while (buf_.size() - pos_ < n) {
      if (done_ || !Fetch()) return false;
    }
    return true;
  }
  // Appends the next message of the COPY; false when there is none (the COPY ended or failed).
  bool Fetch() {
    char* data = nullptr;
    const int n = PQgetCopyData(c_, &data, 0);
    if (n < 0) {
      done_ = true;
      if (n == -2) error_ = CopyError(c_);
      return false;
    }
    if (pos_ > 0 && pos_ * 2 >= buf_.size()) {  // drop what was read
      buf_.erase(0, pos_);
      pos_ = 0;
    }
    buf_.append(data, static_cast<size_t>(n));
    PQfreemem(data);
    return true;
  }
  // The COPY's outcome, once it has ended (its results read, the connection idle).
  absl::Status Collect() {
    if (!collected_ && done_) {
      collected_ = true;
      for (Result r(PQgetResult(c_)); r != nullptr; r.reset(PQgetResult(c_))) {
        if (PQresultStatus(r.get()) != PGRES_COMMAND_OK && error_.ok()) {
          error_ = absl::UnavailableError(
              absl::StripTrailingAsciiWhitespace(PQresultErrorMessage(r.get())));
        }
      }
    }
    return error_;
  }
  absl::Status Failure() {
    absl::Status s = Collect();
    if (!s.ok()) return s;
    return absl::DataLossError("the COPY ended inside a row");
  }

  PGconn* const c_;
  std::string buf_;
  size_t pos_ = 0;
  bool header_ = false, done_ = false, collected_ = false;
  absl::Status error_;
  StoredRow row_;
};

// One slice of an instance's chain — its rows up to `last_seq` (0: to the end) — in the
// transaction the connection is in (the snapshot every slice shares). As a Snapshot for Verify:
// a slice before the last ends at a head that is its last row as stored, which the next slice
// takes as its anchor; the last one ends at the instance's chain head.
class SliceSnapshot final : public Snapshot {
 public:
  SliceSnapshot(PGconn* c, std::string instance, int64_t last_seq)
      : c_(c), instance_(std::move(instance)), last_seq_(last_seq) {}

  const std::string& name() const override { return instance_; }
  absl::Status Pin() override { return absl::OkStatus(); }  // the transaction's snapshot
  absl::StatusOr<std::unique_ptr<RowCursor>> Rows() override { return RowsFrom(1); }
  absl::StatusOr<std::unique_ptr<RowCursor>> RowsFrom(int64_t first_seq) override {
    char* literal = PQescapeLiteral(c_, instance_.data(), instance_.size());
    if (literal == nullptr) return CopyError(c_);
    const std::string sql = absl::StrCat(
        "COPY (SELECT ", postgres::Columns(), " FROM ledger_rows WHERE instance = ", literal,
        " AND seq >= ", first_seq, Bound(), " ORDER BY seq) TO STDOUT (FORMAT binary)");
    PQfreemem(literal);
    Result r(PQexec(c_, sql.c_str()));
    if (r == nullptr || PQresultStatus(r.get()) != PGRES_COPY_OUT) {
      return absl::UnavailableError(absl::StripTrailingAsciiWhitespace(
          r == nullptr ? PQerrorMessage(c_) : PQresultErrorMessage(r.get())));
    }
    return std::unique_ptr<RowCursor>(new CopyCursor(c_));
  }
  absl::StatusOr<std::unique_ptr<RowCursor>> NewestFirst(int64_t) override {
    return absl::UnimplementedError("a slice is read oldest first");
  }
  absl::StatusOr<std::optional<std::string>> LastHash() override {
    DESFIRED_ASSIGN_OR_RETURN(
        Result r, Query(absl::StrCat("SELECT hash FROM ledger_rows WHERE instance = $1", Bound(),
                                     " ORDER BY seq DESC LIMIT 1")));
    if (PQntuples(r.get()) == 0) return std::optional<std::string>();
    return std::optional<std::string>(std::string(postgres::GetBytes(r.get(), 0, 0)));
  }
  int64_t SeqOfHash(absl::string_view hash) override {
    absl::StatusOr<Result> r =
        Query("SELECT seq FROM ledger_rows WHERE instance = $1 AND hash = $2 LIMIT 1", hash);
    if (!r.ok() || PQntuples(r->get()) == 0) return 0;
    return postgres::GetInt(r->get(), 0, 0);
  }
  absl::StatusOr<std::optional<StoredHead>> HeadAsStored() override {
    DESFIRED_ASSIGN_OR_RETURN(
        Result r,
        Query(last_seq_ == 0 ? "SELECT seq, hash FROM ledger_heads WHERE instance = $1"
                             : absl::StrCat("SELECT seq, hash FROM ledger_rows WHERE instance = "
                                            "$1 AND seq = ",
                                            last_seq_)));
    if (PQntuples(r.get()) == 0) return std::optional<StoredHead>();
    return std::optional<StoredHead>(StoredHead{Value::Integer(postgres::GetInt(r.get(), 0, 0)),
                                                Value::Text(postgres::GetBytes(r.get(), 0, 1))});
  }

 private:
  std::string Bound() const {
    return last_seq_ == 0 ? "" : absl::StrCat(" AND seq <= ", last_seq_);
  }
  absl::StatusOr<Result> Query(const std::string& sql, absl::string_view second = {}) {
    Params p;
    p.Text(instance_);
    if (!second.empty()) p.Text(second);
    return Run(c_, sql, &p);
  }

  PGconn* const c_;
  const std::string instance_;
  const int64_t last_seq_;
};

// A part of the work: rows from_seq .. last_seq (0: to the end) of instance `index`.
struct Slice {
  size_t index;
  int64_t from_seq, last_seq;
  VerifyResult result;
};

// What Verify reports when the ledger cannot be read at all.
VerifyResult ReadError(const absl::Status& s) {
  VerifyResult r;
  r.ok = false;
  r.read_error = true;
  r.problem = absl::StrCat("cannot read the ledger: ", s.message());
  return r;
}

// Verifies `slice` on `c` in a transaction of the exported snapshot `snapshot_id`.
void VerifySlice(PGconn* c, const std::string& snapshot_id, const std::string& instance,
                 Slice& slice) {
  absl::Status s = Run(c, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status();
  if (s.ok()) {
    s = Run(c, absl::StrCat("SET TRANSACTION SNAPSHOT '", snapshot_id, "'")).status();
  }
  if (s.ok()) {
    SliceSnapshot view(c, instance, slice.last_seq);
    slice.result = Verify(view, std::nullopt, slice.from_seq);
  } else {
    slice.result = ReadError(s);
  }
  if (PQtransactionStatus(c) != PQTRANS_IDLE) (void)Run(c, "COMMIT");
}

}  // namespace

absl::StatusOr<std::vector<InstanceVerify>> VerifyInstances(
    const std::string& conninfo, const std::vector<std::string>& instances, int threads) {
  const size_t workers = static_cast<size_t>(std::max(threads, 1));
  // The snapshot every slice reads: exported by a transaction held open until the end.
  DESFIRED_ASSIGN_OR_RETURN(Conn owner, postgres::Connect(conninfo));
  DESFIRED_RETURN_IF_ERROR(postgres::CheckMeta(owner.get(), postgres::Where(owner.get())));
  DESFIRED_RETURN_IF_ERROR(
      Run(owner.get(), "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").status());
  DESFIRED_ASSIGN_OR_RETURN(Result exported,
                            Run(owner.get(), "SELECT pg_export_snapshot()", nullptr, false));
  const std::string snapshot_id = PQgetvalue(exported.get(), 0, 0);
  // The slices: each instance's rows up to its head cut into at most `workers` parts of at
  // least kMinSliceRows rows; the last part of each runs to the end (rows past the head, too).
  std::vector<Slice> slices;
  for (size_t i = 0; i < instances.size(); ++i) {
    Params p;
    p.Text(instances[i]);
    DESFIRED_ASSIGN_OR_RETURN(
        Result head, Run(owner.get(), "SELECT seq FROM ledger_heads WHERE instance = $1", &p));
    const int64_t rows = PQntuples(head.get()) == 1 ? postgres::GetInt(head.get(), 0, 0) : 0;
    const int64_t parts =
        std::clamp<int64_t>(rows / kMinSliceRows, 1, static_cast<int64_t>(workers));
    const int64_t size = (rows + parts - 1) / parts;
    for (int64_t k = 0; k < parts; ++k) {
      slices.push_back(Slice{i, 1 + k * size, k + 1 == parts ? 0 : (k + 1) * size, {}});
    }
  }
  std::vector<Conn> connections;
  for (size_t i = 0; i < std::min(workers, slices.size()); ++i) {
    DESFIRED_ASSIGN_OR_RETURN(Conn c, postgres::Connect(conninfo));
    connections.push_back(std::move(c));
  }
  std::atomic<size_t> next{0};
  auto work = [&](PGconn* c) {
    for (size_t s = next++; s < slices.size(); s = next++) {
      VerifySlice(c, snapshot_id, instances[slices[s].index], slices[s]);
    }
  };
  std::vector<std::thread> running;
  for (size_t i = 1; i < connections.size(); ++i) running.emplace_back(work, connections[i].get());
  if (!connections.empty()) work(connections[0].get());
  for (std::thread& t : running) t.join();
  (void)Run(owner.get(), "COMMIT");

  // Each instance's result: its slices' together when they all passed; otherwise the whole
  // chain once more in one snapshot, so that what is reported (the first bad row, the problem)
  // is exactly what a verify from the start reports.
  std::vector<InstanceVerify> out(instances.size());
  std::vector<bool> broken(instances.size(), false);
  for (size_t i = 0; i < instances.size(); ++i) out[i].instance = instances[i];
  for (const Slice& s : slices) {
    VerifyResult& r = out[s.index].result;
    if (!s.result.ok) broken[s.index] = true;
    r.rows += s.result.rows;
    if (s.last_seq == 0) r.head_hash = s.result.head_hash;
  }
  std::unique_ptr<CentralReader> again;
  for (size_t i = 0; i < instances.size(); ++i) {
    if (!broken[i]) continue;
    if (again == nullptr) {
      DESFIRED_ASSIGN_OR_RETURN(again, CentralReader::Open(conninfo));
    }
    std::unique_ptr<Snapshot> view = again->OpenSnapshot(instances[i]);
    if (absl::Status pinned = view->Pin(); !pinned.ok()) {
      out[i].result = ReadError(pinned);
      continue;
    }
    out[i].result = Verify(*view, std::nullopt);
  }
  return out;
}

}  // namespace desfired::ledger
