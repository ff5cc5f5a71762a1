#include "core/ledger/row.h"

namespace desfired::ledger {
namespace {

constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E6SZ";

constexpr Event kEvents[] = {Event::kPending, Event::kDone, Event::kReconciled, Event::kTaps,
                             Event::kRecovered};

constexpr absl::string_view kColumnNames[kColumnCount] = {
    "seq",          "time",        "event",     "request_id", "request_hash", "caller",
    "method",       "uid",         "reader",    "aid",        "file_no",      "amount",
    "value_before", "value_after", "outcome",   "reason",     "commit_state", "detail",
    "payload",      "pending_seq", "prev_hash", "hash"};

}  // namespace

absl::string_view EventName(Event event) {
  switch (event) {
    case Event::kPending:
      return "PENDING";
    case Event::kDone:
      return "DONE";
    case Event::kReconciled:
      return "RECONCILED";
    case Event::kTaps:
      return "TAPS";
    case Event::kRecovered:
      return "RECOVERED";
  }
  return "UNKNOWN";
}

std::optional<Event> ParseEvent(absl::string_view name) {
  for (Event e : kEvents) {
    if (EventName(e) == name) return e;
  }
  return std::nullopt;
}

std::string FormatLedgerTime(absl::Time t) {
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

std::optional<absl::Time> ParseLedgerTime(absl::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(kTimeFormat, text, absl::UTCTimeZone(), &t, &err)) return std::nullopt;
  if (FormatLedgerTime(t) != text) return std::nullopt;
  return t;
}

absl::string_view ColumnName(Column column) { return kColumnNames[static_cast<size_t>(column)]; }

ColumnKind KindOf(Column column) {
  switch (column) {
    case Column::kSeq:
    case Column::kAid:
    case Column::kFileNo:
    case Column::kPendingSeq:
      return ColumnKind::kInteger;
    case Column::kAmount:
    case Column::kValueBefore:
    case Column::kValueAfter:
      return ColumnKind::kOptionalInteger;
    case Column::kPayload:
      return ColumnKind::kBytes;
    default:
      return ColumnKind::kText;
  }
}

bool operator==(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Value::Type::kNull:
      return true;
    case Value::Type::kInteger:
      return a.integer == b.integer;
    default:
      return a.bytes == b.bytes;
  }
}

absl::string_view TypeName(Value::Type type) {
  switch (type) {
    case Value::Type::kNull:
      return "NULL";
    case Value::Type::kInteger:
      return "an integer";
    case Value::Type::kReal:
      return "a real";
    case Value::Type::kText:
      return "text";
    case Value::Type::kBlob:
      return "a blob";
  }
  return "an unknown type";
}

bool operator==(const StoredRow& a, const StoredRow& b) { return a.values == b.values; }

StoredRow ToStored(const Row& row) {
  StoredRow s;
  s[Column::kSeq] = Value::Integer(row.seq);
  s[Column::kTime] = Value::Text(FormatLedgerTime(row.time));
  s[Column::kEvent] = Value::Text(EventName(row.event));
  s[Column::kRequestId] = Value::Text(row.request_id);
  s[Column::kRequestHash] = Value::Text(row.request_hash);
  s[Column::kCaller] = Value::Text(row.caller);
  s[Column::kMethod] = Value::Text(row.method);
  s[Column::kUid] = Value::Text(row.uid);
  s[Column::kReader] = Value::Text(row.reader);
  s[Column::kAid] = Value::Integer(row.aid);
  s[Column::kFileNo] = Value::Integer(row.file_no);
  s[Column::kAmount] = Value::OptionalInteger(row.amount);
  s[Column::kValueBefore] = Value::OptionalInteger(row.value_before);
  s[Column::kValueAfter] = Value::OptionalInteger(row.value_after);
  s[Column::kOutcome] = Value::Text(row.outcome);
  s[Column::kReason] = Value::Text(row.reason);
  s[Column::kCommitState] = Value::Text(row.commit_state);
  s[Column::kDetail] = Value::Text(row.detail);
  s[Column::kPayload] = Value::Blob(row.payload);
  s[Column::kPendingSeq] = Value::Integer(row.pending_seq);
  s[Column::kPrevHash] = Value::Text(row.prev_hash);
  s[Column::kHash] = Value::Text(row.hash);
  return s;
}

Row FromStored(const StoredRow& s) {
  auto optional = [&s](Column c) -> std::optional<int64_t> {
    if (s[c].type == Value::Type::kNull) return std::nullopt;
    return s[c].integer;
  };
  Row r;
  r.seq = s[Column::kSeq].integer;
  r.time = ParseLedgerTime(s[Column::kTime].bytes).value_or(absl::InfinitePast());
  r.event = ParseEvent(s[Column::kEvent].bytes).value_or(Event::kPending);
  r.request_id = s[Column::kRequestId].bytes;
  r.request_hash = s[Column::kRequestHash].bytes;
  r.caller = s[Column::kCaller].bytes;
  r.method = s[Column::kMethod].bytes;
  r.uid = s[Column::kUid].bytes;
  r.reader = s[Column::kReader].bytes;
  r.aid = s[Column::kAid].integer;
  r.file_no = s[Column::kFileNo].integer;
  r.amount = optional(Column::kAmount);
  r.value_before = optional(Column::kValueBefore);
  r.value_after = optional(Column::kValueAfter);
  r.outcome = s[Column::kOutcome].bytes;
  r.reason = s[Column::kReason].bytes;
  r.commit_state = s[Column::kCommitState].bytes;
  r.detail = s[Column::kDetail].bytes;
  r.payload = s[Column::kPayload].bytes;
  r.pending_seq = s[Column::kPendingSeq].integer;
  r.prev_hash = s[Column::kPrevHash].bytes;
  r.hash = s[Column::kHash].bytes;
  return r;
}

}  // namespace desfired::ledger
