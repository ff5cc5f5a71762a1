#include "core/ledger/row.h"

#include "core/util/enum_table.h"

namespace desfired::ledger {
namespace {

constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E6SZ";

constexpr EnumRow<Event, absl::string_view> kEventNames[] = {
    {Event::kPending, "PENDING"},       {Event::kDone, "DONE"},
    {Event::kReconciled, "RECONCILED"}, {Event::kTaps, "TAPS"},
    {Event::kRecovered, "RECOVERED"},
};

// How errors name a stored value's type.
constexpr EnumRow<Value::Type, absl::string_view> kTypeNames[] = {
    {Value::Type::kNull, "NULL"},   {Value::Type::kInteger, "an integer"},
    {Value::Type::kReal, "a real"}, {Value::Type::kText, "text"},
    {Value::Type::kBlob, "a blob"},
};

constexpr absl::string_view kColumnNames[kColumnCount] = {
    "seq",       "time",         "event",        "request_id",  "request_hash",
    "caller",    "method",       "uid",          "reader",      "aid",
    "file_no",   "amount",       "value_before", "value_after", "outcome",
    "reason",    "commit_state", "detail",       "payload",     "pending_seq",
    "prev_hash", "hash",         "tmc",          "tmv",         "reader_id"};

// The columns that hold a Row field as it is (time, event and payload are converted apart).
template <typename T>
struct FieldColumn {
  Column column;
  T Row::*field;
};

constexpr FieldColumn<std::string> kTextFields[] = {
    {Column::kRequestId, &Row::request_id},
    {Column::kRequestHash, &Row::request_hash},
    {Column::kCaller, &Row::caller},
    {Column::kMethod, &Row::method},
    {Column::kUid, &Row::uid},
    {Column::kReader, &Row::reader},
    {Column::kOutcome, &Row::outcome},
    {Column::kReason, &Row::reason},
    {Column::kCommitState, &Row::commit_state},
    {Column::kDetail, &Row::detail},
    {Column::kPrevHash, &Row::prev_hash},
    {Column::kHash, &Row::hash},
    {Column::kTmv, &Row::tmv},
    {Column::kReaderId, &Row::reader_id},
};

constexpr FieldColumn<int64_t> kIntegerFields[] = {
    {Column::kSeq, &Row::seq},
    {Column::kAid, &Row::aid},
    {Column::kFileNo, &Row::file_no},
    {Column::kPendingSeq, &Row::pending_seq},
};

constexpr FieldColumn<std::optional<int64_t>> kOptionalFields[] = {
    {Column::kAmount, &Row::amount},
    {Column::kValueBefore, &Row::value_before},
    {Column::kValueAfter, &Row::value_after},
    {Column::kTmc, &Row::tmc},
};

}  // namespace

absl::string_view EventName(Event event) { return ValueOf(kEventNames, event).value_or("UNKNOWN"); }

std::optional<Event> ParseEvent(absl::string_view name) { return KeyOf(kEventNames, name); }

std::string FormatLedgerTime(absl::Time t) {
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

namespace {

// The digits text[at, at + n) as a number; -1 unless all are digits.
int Digits(absl::string_view text, size_t at, size_t n) {
  int v = 0;
  for (size_t i = at; i < at + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

// ParseLedgerTime for the form FormatLedgerTime writes for years 1000..9999
// ("2026-12-07T20:03:28.123456Z"), without absl's general parser and a format back (a verify
// parses every row's time); nullopt when `text` is not of that form (the caller then goes the
// general way, which accepts or refuses it). A date or time out of range is refused here.
std::optional<std::optional<absl::Time>> ParseCanonicalTime(absl::string_view text) {
  if (text.size() != 27 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != '.' || text[26] != 'Z') {
    return std::nullopt;
  }
  const int year = Digits(text, 0, 4), month = Digits(text, 5, 2), day = Digits(text, 8, 2),
            hour = Digits(text, 11, 2), minute = Digits(text, 14, 2), second = Digits(text, 17, 2),
            micros = Digits(text, 20, 6);
  if (year < 1000 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0 || micros < 0) {
    return std::nullopt;
  }
  const absl::CivilSecond civil(year, month, day, hour, minute, second);
  if (civil.month() != month || civil.day() != day || civil.hour() != hour ||
      civil.minute() != minute || civil.second() != second) {
    return std::optional<absl::Time>();  // normalized: not a real date and time
  }
  return std::optional<absl::Time>(absl::FromCivil(civil, absl::UTCTimeZone()) +
                                   absl::Microseconds(micros));
}

}  // namespace

std::optional<absl::Time> ParseLedgerTime(absl::string_view text) {
  if (std::optional<std::optional<absl::Time>> fast = ParseCanonicalTime(text)) return *fast;
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
    case Column::kTmc:
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
  return ValueOf(kTypeNames, type).value_or("an unknown type");
}

bool operator==(const StoredRow& a, const StoredRow& b) { return a.values == b.values; }

StoredRow ToStored(const Row& row) {
  StoredRow s;
  s[Column::kTime] = Value::Text(FormatLedgerTime(row.time));
  s[Column::kEvent] = Value::Text(EventName(row.event));
  s[Column::kPayload] = Value::Blob(row.payload);
  for (const auto& [c, field] : kTextFields) s[c] = Value::Text(row.*field);
  for (const auto& [c, field] : kIntegerFields) s[c] = Value::Integer(row.*field);
  for (const auto& [c, field] : kOptionalFields) s[c] = Value::OptionalInteger(row.*field);
  return s;
}

Row FromStored(const StoredRow& s) {
  Row r;
  r.time = ParseLedgerTime(s[Column::kTime].bytes).value_or(absl::InfinitePast());
  r.event = ParseEvent(s[Column::kEvent].bytes).value_or(Event::kPending);
  r.payload = s[Column::kPayload].bytes;
  for (const auto& [c, field] : kTextFields) r.*field = s[c].bytes;
  for (const auto& [c, field] : kIntegerFields) r.*field = s[c].integer;
  for (const auto& [c, field] : kOptionalFields) {
    if (s[c].type == Value::Type::kNull) {
      r.*field = std::nullopt;
    } else {
      r.*field = s[c].integer;
    }
  }
  return r;
}

}  // namespace desfired::ledger
