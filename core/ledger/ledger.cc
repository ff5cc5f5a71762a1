#include "core/ledger/ledger.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/util/status_macros.h"
#include "core/util/status_reason.h"

namespace desfired::ledger {

Ledger::Ledger(std::unique_ptr<Backend> backend, Head head)
    : backend_(std::move(backend)), head_(head) {}
Ledger::~Ledger() = default;

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path, Options options) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<SqliteBackend> backend,
                            SqliteBackend::Open(path, options));
  return Open(std::move(backend));
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(std::unique_ptr<Backend> backend) {
  DESFIRED_ASSIGN_OR_RETURN(Head head, backend->ReadHead());
  // The head must be the last row's: appending to a broken end would hide the break.
  DESFIRED_ASSIGN_OR_RETURN(std::optional<LastRow> last, backend->Last());
  const int64_t last_seq = last ? last->seq : 0;
  const std::string last_hash = last ? last->hash : HashHex(kGenesisHash);
  if (last_seq != head.seq || last_hash != HashHex(head.hash)) {
    const std::string& name = backend->name();
    return absl::FailedPreconditionError(absl::StrCat(
        "ledger ", name, ": the chain head (row ", head.seq, ") does not match the last row (row ",
        last_seq,
        "); the file was changed outside desfired. Run: desfirectl ledger verify --ledger ", name));
  }
  return std::unique_ptr<Ledger>(new Ledger(std::move(backend), head));
}

absl::StatusOr<Row> Ledger::Append(Row row) {
  absl::MutexLock l(&mu_);
  const int64_t seq = head_.seq + 1;
  if (row.pending_seq < 0 || row.pending_seq >= seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("ledger: pending_seq ", row.pending_seq, " does not name an earlier row"));
  }
  if (row.aid < -1 || row.file_no < -1) {
    return absl::InvalidArgumentError("ledger: aid and file_no must be -1 (none) or positive");
  }
  row.seq = seq;
  row.time = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  row.prev_hash = HashHex(head_.hash);
  StoredRow stored = ToStored(row);
  const Hash hash = ChainHash(head_.hash, stored);
  row.hash = HashHex(hash);
  stored[Column::kHash] = Value::Text(row.hash);
  if (absl::Status s = backend_->Append(stored, head_); !s.ok()) {
    return WithReason(std::move(s), kReasonLedgerUnavailable);
  }
  head_ = Head{seq, hash};
  return row;
}

absl::StatusOr<std::optional<Row>> Ledger::Latest(absl::string_view request_id) {
  if (request_id.empty()) return std::optional<Row>();
  DESFIRED_ASSIGN_OR_RETURN(std::optional<StoredRow> row, backend_->Latest(request_id));
  if (!row) return std::optional<Row>();
  return std::optional<Row>(FromStored(*row));
}

absl::StatusOr<std::optional<Row>> Ledger::LatestInFile(const std::string& path,
                                                        absl::string_view request_id) {
  if (request_id.empty()) return std::optional<Row>();
  DESFIRED_ASSIGN_OR_RETURN(std::optional<StoredRow> row,
                            SqliteBackend::LatestInFile(path, request_id));
  if (!row) return std::optional<Row>();
  return std::optional<Row>(FromStored(*row));
}

absl::StatusOr<std::vector<Row>> Ledger::Unresolved() {
  DESFIRED_ASSIGN_OR_RETURN(std::vector<StoredRow> rows, backend_->Unresolved());
  std::vector<Row> out;
  out.reserve(rows.size());
  for (const StoredRow& r : rows) out.push_back(FromStored(r));
  return out;
}

absl::StatusOr<int64_t> Ledger::Count() { return backend_->Count(); }

VerifyResult Ledger::Verify() {
  absl::StatusOr<std::unique_ptr<Snapshot>> snapshot = backend_->OpenSnapshot();
  if (!snapshot.ok()) {
    VerifyResult r;
    r.ok = false;
    r.problem = std::string(snapshot.status().message());
    return r;
  }
  Head expected;
  {
    // The snapshot starts while no append is under way, so it ends at the head we know.
    absl::MutexLock l(&mu_);
    if (absl::Status pinned = (*snapshot)->Pin(); !pinned.ok()) {
      VerifyResult r;
      r.ok = false;
      r.problem = absl::StrCat("cannot read the ledger: ", pinned.message());
      return r;
    }
    expected = head_;
  }
  return ledger::Verify(**snapshot, expected);
}

absl::StatusOr<VerifyResult> Ledger::VerifyFile(const std::string& path) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> snapshot, SqliteBackend::OpenFile(path));
  if (absl::Status pinned = snapshot->Pin(); !pinned.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read ledger ", path, ": ", pinned.message()));
  }
  return ledger::Verify(*snapshot, std::nullopt);
}

absl::Status Ledger::Export(std::ostream& out, ExportFormat format) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> snapshot, backend_->OpenSnapshot());
  return ledger::Export(*snapshot, out, format);
}

absl::Status Ledger::ExportFile(const std::string& path, std::ostream& out, ExportFormat format) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> snapshot, SqliteBackend::OpenFile(path));
  return ledger::Export(*snapshot, out, format);
}

}  // namespace desfired::ledger
