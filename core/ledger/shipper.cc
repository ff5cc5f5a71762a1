#include "core/ledger/shipper.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ledger/head_file.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/sqlite_backend.h"
#include "core/ledger/verify.h"
#include "core/util/status_macros.h"

namespace desfired::ledger {
namespace {

constexpr size_t kMaxSeen = 4096;  // Shipper::seen_ bound

// What the operator runs to look at both sides of a refused shipment.
std::string HowToLook(const ShipperOptions& o) {
  return absl::StrCat("nothing was shipped; compare: desfirectl ledger verify --ledger ",
                      o.ledger_path,
                      " and desfirectl ledger verify --postgres CONNFILE --instance ", o.instance,
                      " (docs/fleet.md, \"Refused shipments\")");
}

}  // namespace

absl::StatusOr<std::unique_ptr<Shipper>> Shipper::Create(ShipperOptions options) {
  if (options.ledger_path.empty()) return absl::InvalidArgumentError("shipper: no local ledger");
  if (options.conninfo.empty()) {
    return absl::InvalidArgumentError("shipper: no connection string for the central ledger");
  }
  if (options.instance.empty()) return absl::InvalidArgumentError("shipper: no instance id");
  if (options.batch_rows < 1) {
    return absl::InvalidArgumentError("shipper: the batch must hold 1 row or more");
  }
  if (options.state_path.empty()) options.state_path = options.ledger_path + ".shipped";
  return std::unique_ptr<Shipper>(new Shipper(std::move(options)));
}

Shipper::Shipper(ShipperOptions options) : options_(std::move(options)) {}
Shipper::~Shipper() = default;

ShipperStats Shipper::stats() const {
  absl::MutexLock l(&mu_);
  ShipperStats s = stats_;
  s.behind = absl::ZeroDuration();
  for (const auto& [seq, when] : seen_) {
    if (seq > s.central_seq) {
      s.behind = absl::FromChrono(std::chrono::steady_clock::now() - when);
      break;
    }
  }
  return s;
}

void Shipper::Observe(int64_t local_seq, int64_t central_seq) {
  absl::MutexLock l(&mu_);
  stats_.local_seq = local_seq;
  stats_.central_seq = central_seq;
  while (!seen_.empty() && seen_.front().first <= central_seq) seen_.pop_front();
  if (local_seq > central_seq && (seen_.empty() || seen_.back().first < local_seq) &&
      seen_.size() < kMaxSeen) {
    seen_.emplace_back(local_seq, std::chrono::steady_clock::now());
  }
}

absl::StatusOr<int64_t> Shipper::Ship() {
  absl::StatusOr<int64_t> sent = ShipOnce();
  absl::MutexLock l(&mu_);
  if (sent.ok()) {
    stats_.rows_shipped += *sent;
    stats_.last_error.clear();
  } else {
    ++stats_.failures;
    stats_.last_error = std::string(sent.status().message());
  }
  return sent;
}

absl::StatusOr<Head> Shipper::CentralHead() {
  if (!state_read_) {
    DESFIRED_ASSIGN_OR_RETURN(std::optional<Head> state, HeadFile::Read(options_.state_path, true));
    confirmed_ = state.value_or(Head{0, kGenesisHash});
    state_read_ = true;
  }
  if (central_ == nullptr) {
    DESFIRED_ASSIGN_OR_RETURN(central_,
                              PostgresBackend::Open(options_.conninfo, options_.instance));
  }
  DESFIRED_ASSIGN_OR_RETURN(const Head central, central_->ReadHead());
  if (central.seq < confirmed_.seq) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the central ledger of instance ", options_.instance, " ends at row ", central.seq,
        " but it confirmed row ", confirmed_.seq, " to this shipper before (", options_.state_path,
        "): the central head is BEHIND — rows were removed centrally or a central backup was put "
        "back; ",
        HowToLook(options_)));
  }
  if (central.seq == confirmed_.seq && central.hash != confirmed_.hash) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the central ledger of instance ", options_.instance, " holds another row ", central.seq,
        " than the one it confirmed to this shipper before: the chains FORKED; ",
        HowToLook(options_)));
  }
  return central;
}

absl::StatusOr<int64_t> Shipper::ShipOnce() {
  DESFIRED_ASSIGN_OR_RETURN(const Head central, CentralHead());
  // Local read errors are retried: desfired may be creating the file, a disk may come back.
  auto unreadable = [&](const absl::Status& s) {
    return absl::UnavailableError(
        absl::StrCat("cannot read the local ledger ", options_.ledger_path, ": ", s.message()));
  };
  absl::StatusOr<std::unique_ptr<Snapshot>> opened = SqliteBackend::OpenFile(options_.ledger_path);
  if (!opened.ok()) return unreadable(opened.status());
  std::unique_ptr<Snapshot> local = *std::move(opened);
  if (absl::Status s = local->Pin(); !s.ok()) return unreadable(s);
  absl::StatusOr<std::optional<StoredHead>> local_head = local->HeadAsStored();
  if (!local_head.ok()) return unreadable(local_head.status());
  const int64_t local_seq = local_head->has_value() ? (*local_head)->seq.integer : 0;

  // The local row the central head names, then the rows after it.
  absl::StatusOr<std::unique_ptr<RowCursor>> cursor =
      local->RowsFrom(central.seq == 0 ? 1 : central.seq);
  if (!cursor.ok()) return unreadable(cursor.status());
  std::unique_ptr<RowCursor> rows = *std::move(cursor);
  absl::StatusOr<bool> more = rows->Next();
  if (!more.ok()) return unreadable(more.status());
  if (central.seq > 0) {
    if (!*more || rows->row()[Column::kSeq].integer != central.seq) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the central ledger of instance ", options_.instance, " goes on to row ", central.seq,
          " but the local ledger ", options_.ledger_path, " ends at row ", local_seq,
          ": the central head is AHEAD of this box (a local backup put back, a new local ledger, "
          "or another box shipping as ",
          options_.instance, "); ", HowToLook(options_)));
    }
    const Value& hash = rows->row()[Column::kHash];
    if (hash.type != Value::Type::kText || hash.bytes != HashHex(central.hash)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "row ", central.seq, " of instance ", options_.instance,
          " differs centrally and locally (the central head's hash is not the local row's): the "
          "chains FORKED; ",
          HowToLook(options_)));
    }
    more = rows->Next();
    if (!more.ok()) return unreadable(more.status());
  }

  // Up to a batch of rows, each checked as verify would before it leaves the box.
  std::vector<StoredRow> batch;
  Head at = central;
  while (*more && static_cast<int64_t>(batch.size()) < options_.batch_rows) {
    const StoredRow& row = rows->row();
    const int64_t seq = row[Column::kSeq].integer;
    std::string problem = Malformed(row);
    if (problem.empty() && seq != at.seq + 1)
      problem = absl::StrCat("row ", at.seq + 1, " is missing");
    const Value& prev = row[Column::kPrevHash];
    if (problem.empty() && prev.bytes != HashHex(at.hash)) {
      problem = "its prev_hash is not the previous row's hash";
    }
    const Hash hash = ChainHash(at.hash, row);
    if (problem.empty() && row[Column::kHash].bytes != HashHex(hash)) {
      problem = "its hash does not match its content";
    }
    if (!problem.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the local ledger ", options_.ledger_path, " does not verify at row ", seq, ": ", problem,
          "; nothing past row ", at.seq, " is shipped; run: desfirectl ledger verify --ledger ",
          options_.ledger_path));
    }
    batch.push_back(row);
    at = Head{seq, hash};
    more = rows->Next();
    if (!more.ok()) return unreadable(more.status());
  }
  rows.reset();
  local.reset();  // the snapshot is not held while PostgreSQL works

  Observe(std::max(local_seq, at.seq), central.seq);
  if (batch.empty()) return 0;
  DESFIRED_RETURN_IF_ERROR(central_->AppendBatch(batch, central));
  Observe(std::max(local_seq, at.seq), at.seq);
  // The state file follows the central head; written without a sync (a crash of the machine
  // may leave it behind the central head, which is allowed; never ahead of it).
  confirmed_ = at;
  absl::Status kept = absl::OkStatus();
  if (state_ == nullptr) {
    absl::StatusOr<std::unique_ptr<HeadFile>> made = HeadFile::Create(options_.state_path, at);
    if (made.ok()) state_ = *std::move(made);
    kept = made.status();
  } else {
    kept = state_->Write(at);
  }
  if (!kept.ok()) {
    return absl::UnavailableError(absl::StrCat("shipped rows to ", at.seq,
                                               " but cannot keep that in ", options_.state_path,
                                               ": ", kept.message()));
  }
  return static_cast<int64_t>(batch.size());
}

std::string ShipperMetricsText(const ShipperStats& s, const std::string& instance) {
  std::string label = "{instance=\"";
  for (char c : instance) {  // the text format's escapes of a label value
    if (c == '\\' || c == '"') {
      label += '\\';
      label += c;
    } else if (c == '\n') {
      label += "\\n";
    } else {
      label += c;
    }
  }
  label += "\"}";
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& v) {
    absl::StrAppend(&out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name,
                    label, " ", v, "\n");
  };
  metric("desfired_ship_rows_behind", "gauge",
         "Rows of the local ledger not yet in the central ledger.",
         absl::StrCat(std::max<int64_t>(0, s.local_seq - s.central_seq)));
  metric("desfired_ship_seconds_behind", "gauge",
         "How long the oldest row not yet shipped has waited (monotonic clock; 0: caught up).",
         absl::StrCat(absl::ToDoubleSeconds(s.behind)));
  metric("desfired_ship_local_seq", "gauge", "The local ledger's last row.",
         absl::StrCat(s.local_seq));
  metric("desfired_ship_central_seq", "gauge", "The central chain head of this instance.",
         absl::StrCat(s.central_seq));
  metric("desfired_ship_rows_shipped_total", "counter", "Rows committed to the central ledger.",
         absl::StrCat(s.rows_shipped));
  metric("desfired_ship_failures_total", "counter",
         "Shipping attempts that failed (central or local ledger unreachable, or refused).",
         absl::StrCat(s.failures));
  return out;
}

}  // namespace desfired::ledger
