#include "core/ledger/ledger.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/ledger/startup_check.h"
#include "core/util/status_macros.h"
#include "core/util/status_reason.h"

namespace desfired::ledger {

namespace {

std::string HeadText(const std::optional<Head>& head) {
  if (!head) return "none";
  return absl::StrCat("row ", head->seq, ", hash ", HashHex(head->hash));
}

// FAILED_PRECONDITION naming what is wrong and what the operator does.
absl::Status Refused(const std::string& name, const std::string& head_file,
                     absl::string_view problem) {
  return absl::FailedPreconditionError(absl::StrCat(
      "ledger ", name, " fails the start-up checks: ", problem,
      ". Nothing was appended. See: desfirectl ledger verify --ledger ", name,
      head_file.empty() ? "" : absl::StrCat(" --head_file ", head_file),
      ". Then restore the ledger with its head file from a backup, or recover: desfired "
      "--ledger_recover=REASON records the event and goes on (docs/ledger.md, \"Start-up checks "
      "and recovery\")"));
}

// A marker in the message of a recovery that needs a new store (Open(path) makes one).
constexpr absl::string_view kNeedsNewStore = "the ledger does not verify on its own";

// <path>.before-recovery-<UTC time>, and its -wal and -shm files beside it.
absl::StatusOr<std::string> MoveAside(const std::string& path) {
  const std::string aside =
      absl::StrCat(path, ".before-recovery-",
                   absl::FormatTime("%Y%m%dT%H%M%E6SZ", absl::Now(), absl::UTCTimeZone()));
  for (const char* suffix : {"-wal", "-shm", ""}) {
    const std::string from = path + suffix, to = aside + suffix;
    if (::access(from.c_str(), F_OK) != 0) continue;
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return absl::UnavailableError(
          absl::StrCat("cannot rename ledger ", from, " to ", to, ": ", std::strerror(errno)));
    }
  }
  return aside;
}

}  // namespace

Ledger::Ledger(std::unique_ptr<Backend> backend, Head head, std::unique_ptr<HeadFile> head_file,
               bool head_file_stale)
    : backend_(std::move(backend)),
      head_(head),
      head_file_(std::move(head_file)),
      head_file_stale_(head_file_stale) {}
Ledger::~Ledger() {
  // Closing: a deferred last row is made durable and the head file names it; the head file,
  // written without syncs, is synced. (If the sync fails it lags one row, which Open accepts.)
  if (!head_file_) return;
  absl::MutexLock l(&mu_);
  if (deferred_ && backend_->Sync().ok()) (void)head_file_->Write(head_);
  (void)head_file_->Sync();
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path, Options options) {
  if (options.head_file.empty()) options.head_file = HeadFilePathFor(path);
  const SqliteBackend::Options sqlite{.check_permissions = options.check_permissions,
                                      .busy_timeout = options.busy_timeout};
  // A missing or empty file is left as it is (not created, no schema written) when its head
  // file says there was a ledger.
  struct stat st {};
  const bool missing = ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
  if ((missing || (S_ISREG(st.st_mode) && st.st_size == 0)) && options.recover_reason.empty()) {
    absl::StatusOr<std::optional<Head>> recorded =
        HeadFile::Read(options.head_file, options.check_permissions);
    if (recorded.ok() && recorded->has_value() && (*recorded)->seq > 0) {
      return Refused(
          path, options.head_file,
          absl::StrCat("the ledger file is ", missing ? "missing" : "empty (0 bytes)",
                       " but its head file ", options.head_file, " says it had ", (*recorded)->seq,
                       " rows: it was ", missing ? "deleted or moved" : "emptied"));
    }
  }
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<SqliteBackend> backend,
                            SqliteBackend::Open(path, sqlite));
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Open(std::move(backend), options);
  if (ledger.ok() || options.recover_reason.empty() ||
      !absl::StrContains(ledger.status().message(), kNeedsNewStore)) {
    return ledger;
  }
  // Recovery with a new file: the old one kept aside (the failed Open closed it).
  DESFIRED_ASSIGN_OR_RETURN(std::string aside, MoveAside(path));
  DESFIRED_ASSIGN_OR_RETURN(backend, SqliteBackend::Open(path, sqlite));
  absl::StatusOr<std::optional<Head>> recorded =
      HeadFile::Read(options.head_file, options.check_permissions);
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<HeadFile> head_file,
                            HeadFile::Create(options.head_file, Head{}));
  std::unique_ptr<Ledger> fresh(new Ledger(std::move(backend), Head{}, std::move(head_file),
                                           /*head_file_stale=*/false));
  DESFIRED_RETURN_IF_ERROR(fresh->AppendRecovery(
      options.recover_reason,
      absl::StrCat(ledger.status().message(), "; head file before: ",
                   recorded.ok() ? HeadText(*recorded) : std::string(recorded.status().message()),
                   "; the old ledger file was renamed to ", aside, "; a new chain starts here")));
  return fresh;
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(std::unique_ptr<Backend> backend,
                                                     Options options) {
  const std::string name = backend->name();
  DESFIRED_ASSIGN_OR_RETURN(StartupFinding f,
                            CheckAtStartup(*backend, options.head_file,
                                           {.check_permissions = options.check_permissions,
                                            .verify_rows = options.verify_rows}));
  const bool recover = !options.recover_reason.empty();
  if (f.problem.empty()) {
    if (recover) {
      return absl::FailedPreconditionError(
          absl::StrCat("ledger ", name,
                       " passes the start-up checks: there is nothing to recover. Start without "
                       "--ledger_recover (left set, it would hide the next incident)"));
    }
    std::unique_ptr<HeadFile> head_file;
    if (!options.head_file.empty()) {
      if (!f.recorded) {
        DESFIRED_ASSIGN_OR_RETURN(head_file, HeadFile::Create(options.head_file, f.store_head));
      } else {
        DESFIRED_ASSIGN_OR_RETURN(head_file, HeadFile::OpenForWrite(options.head_file));
        if (f.head_file_stale) {
          DESFIRED_RETURN_IF_ERROR(head_file->Write(f.store_head));
          DESFIRED_RETURN_IF_ERROR(head_file->Sync());
        }
      }
    }
    return std::unique_ptr<Ledger>(
        new Ledger(std::move(backend), f.store_head, std::move(head_file), false));
  }
  if (!recover) return Refused(name, options.head_file, f.problem);

  // Recovery in place: only a store that verifies from its first row to its head.
  std::string why_not;
  if (!f.store_head_ok) {
    why_not = f.problem;
  } else {
    DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> snapshot, backend->OpenSnapshot());
    if (absl::Status pinned = snapshot->Pin(); !pinned.ok()) {
      return absl::UnavailableError(
          absl::StrCat("cannot read ledger ", name, ": ", pinned.message()));
    }
    VerifyResult full = ledger::Verify(*snapshot, f.store_head);
    if (full.read_error) return absl::UnavailableError(full.problem);
    if (!full.ok) why_not = full.problem;
  }
  const std::string found =
      absl::StrCat("ledger recovered: ", f.problem,
                   "; ledger found: ", f.store_head_ok ? HeadText(f.store_head) : "unusable");
  if (!why_not.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat(found, "; ", kNeedsNewStore, " (", why_not,
                     ") and needs a new store, which this backend cannot make"));
  }
  std::unique_ptr<HeadFile> head_file;
  if (!options.head_file.empty()) {
    DESFIRED_ASSIGN_OR_RETURN(head_file, HeadFile::Create(options.head_file, f.store_head));
  }
  std::unique_ptr<Ledger> ledger(
      new Ledger(std::move(backend), f.store_head, std::move(head_file), false));
  DESFIRED_RETURN_IF_ERROR(ledger->AppendRecovery(
      options.recover_reason,
      absl::StrCat(found, "; head file before: ", HeadText(f.recorded),
                   "; the ledger verifies on its own and its chain goes on")));
  return ledger;
}

absl::Status Ledger::AppendRecovery(const std::string& reason, const std::string& detail) {
  Row row;
  row.event = Event::kRecovered;
  row.method = "LedgerRecover";
  row.caller = "operator";
  row.reason = reason;
  row.detail = detail;
  return Append(std::move(row)).status();
}

absl::StatusOr<Row> Ledger::Append(Row row, Durability durability) {
  absl::MutexLock l(&mu_);
  if (!broken_.empty()) {
    return WithReason(absl::UnavailableError(absl::StrCat(
                          "ledger ", backend_->name(), " failed verification while running (",
                          broken_, "): no more changes until desfired is restarted")),
                      kReasonLedgerUnavailable);
  }
  if (head_file_ && head_file_stale_) {
    if (absl::Status s = head_file_->Write(head_); !s.ok()) {
      return WithReason(std::move(s), kReasonLedgerUnavailable);
    }
    head_file_stale_ = false;
  }
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
  // At most one deferred row waits for a sync: the head file then lags one row, which Open
  // accepts (a second would make it lag two).
  const bool deferred = durability == Durability::kDeferred && !deferred_;
  if (absl::Status s =
          deferred ? backend_->AppendDeferred(stored, head_) : backend_->Append(stored, head_);
      !s.ok()) {
    return WithReason(std::move(s), kReasonLedgerUnavailable);
  }
  head_ = Head{seq, hash};
  deferred_ = deferred;
  // The head file names durable rows only (a crash of the machine must not leave it ahead of
  // the store): a deferred row is named by the next durable append. The row is stored: a head
  // file that cannot follow lags one row (Open accepts that) and is written before the next
  // append.
  if (head_file_ && !deferred && !head_file_->Write(head_).ok()) head_file_stale_ = true;
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

absl::Status Ledger::ExportNewest(std::ostream& out, ExportFormat format, int64_t limit) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> snapshot, backend_->OpenSnapshot());
  return ledger::ExportNewest(*snapshot, out, format, limit);
}

VerifyResult Ledger::VerifyRecent(int64_t tail_rows, absl::Duration max_age) {
  Head head;
  {
    absl::MutexLock l(&mu_);
    head = head_;
  }
  absl::MutexLock l(&verify_mu_);  // one verify at a time; the others take its result
  const absl::Time now = absl::Now();
  if (recent_ && recent_head_ == head && recent_tail_ == tail_rows && now - recent_at_ < max_age) {
    return *recent_;
  }
  recent_ = Verify(tail_rows);
  recent_head_ = head;  // the snapshot ended there or later: a later append re-verifies
  recent_tail_ = tail_rows;
  recent_at_ = now;
  return *recent_;
}

VerifyResult Ledger::Verify(int64_t tail_rows) {
  absl::StatusOr<std::unique_ptr<Snapshot>> snapshot = backend_->OpenSnapshot();
  if (!snapshot.ok()) {
    VerifyResult r;
    r.ok = false;
    r.read_error = true;
    r.problem = std::string(snapshot.status().message());
    return r;
  }
  Head expected;
  std::optional<Head> in_head_file;
  bool head_file_read = false;
  {
    // The snapshot starts while no append is under way, so it ends at the head we know.
    absl::MutexLock l(&mu_);
    if (absl::Status pinned = (*snapshot)->Pin(); !pinned.ok()) {
      VerifyResult r;
      r.ok = false;
      r.read_error = true;
      r.problem = absl::StrCat("cannot read the ledger: ", pinned.message());
      return r;
    }
    expected = head_;
    if (head_file_ && !head_file_stale_ && !deferred_) {
      absl::StatusOr<std::optional<Head>> h = HeadFile::Read(head_file_->path(), false);
      head_file_read = true;
      if (h.ok() && h->has_value()) in_head_file = **h;
    }
  }
  const int64_t from = tail_rows > 0 ? std::max<int64_t>(1, expected.seq - tail_rows + 1) : 1;
  VerifyResult r = ledger::Verify(**snapshot, expected, from);
  if (r.ok && head_file_read && in_head_file != expected) {
    r.ok = false;
    r.problem = absl::StrCat("the head file ", head_file_->path(), " holds ",
                             HeadText(in_head_file), ", not the head this process wrote last (",
                             HeadText(expected), "): it was changed or removed");
  }
  if (!r.ok && !r.read_error) {
    absl::MutexLock l(&mu_);
    if (broken_.empty()) broken_ = r.problem;
  }
  return r;
}

absl::StatusOr<VerifyResult> Ledger::VerifyFile(const std::string& path,
                                                const std::string& head_file) {
  DESFIRED_ASSIGN_OR_RETURN(std::unique_ptr<Snapshot> snapshot, SqliteBackend::OpenFile(path));
  if (absl::Status pinned = snapshot->Pin(); !pinned.ok()) {
    return absl::UnavailableError(
        absl::StrCat("cannot read ledger ", path, ": ", pinned.message()));
  }
  VerifyResult r = ledger::Verify(*snapshot, std::nullopt);
  if (!r.ok || head_file.empty()) return r;
  DESFIRED_ASSIGN_OR_RETURN(std::optional<Head> recorded, HeadFile::Read(head_file, false));
  if (!recorded) return r;
  // The ledger must end at the head file's head, or one row past it (an append whose head-file
  // write is under way, or was cut short).
  std::optional<Hash> last = ParseHashHex(r.head_hash);
  const int64_t last_seq = r.rows;
  const bool at = last_seq == recorded->seq && last && *last == recorded->hash;
  const bool one_past =
      last_seq == recorded->seq + 1 &&
      (recorded->seq == 0 || snapshot->SeqOfHash(HashHex(recorded->hash)) == recorded->seq);
  if (!at && !one_past) {
    r.ok = false;
    r.bad_seq = 0;
    r.problem = absl::StrCat("the ledger ends at row ", last_seq, " (", r.head_hash,
                             ") but its head file ", head_file, " holds ", HeadText(recorded),
                             ": the ledger was emptied, cut short, replaced or its end rewritten");
  }
  return r;
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
