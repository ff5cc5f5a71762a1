// A ledger row: its events, its typed form (Row, what the Ledger appends and returns) and its
// stored form (StoredRow: the 25 columns of docs/ledger.md as a backend keeps them, malformed
// or not). The conversions between the two, and the column list that the schema, the chain,
// verify and export share.
//
//   Row r{.event = Event::kPending, .request_id = "r-1", .method = "Debit"};
//   StoredRow stored = ToStored(r);   // time and event as text, the hashes as given
//   Row back = FromStored(stored);    // == r for every field
//
// Thread-safe: plain values and pure functions.
#ifndef DESFIRED_CORE_LEDGER_ROW_H_
#define DESFIRED_CORE_LEDGER_ROW_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace desfired::ledger {

enum class Event {
  // The change is about to be committed on the card (written before CommitTransaction, or
  // before the command itself for changes without a transaction).
  kPending,
  // The call finished: `outcome` says how.
  kDone,
  // An attempt left pending (crash, lost commit answer) was settled by reading the card, or
  // marked UNKNOWN when it cannot be (docs/ledger.md).
  kReconciled,
  // Reserved for ParseTaps results kept for forensic replay: no desfired writes it yet (verify
  // and export accept it).
  kTaps,
  // The operator restarted a ledger that desfired refused at start-up (--ledger_recover): the
  // row records the reason and the head the ledger had (docs/ledger.md, "Recovery").
  kRecovered,
};

// "PENDING", "DONE", "RECONCILED", "TAPS", "RECOVERED": the `event` column.
absl::string_view EventName(Event event);
// The event a name stands for; nullopt for any other text (names are case-sensitive).
std::optional<Event> ParseEvent(absl::string_view name);

struct Row {
  int64_t seq = 0;  // set by Append: 1, 2, 3, ...
  absl::Time time;  // set by Append (UTC, microseconds)
  Event event = Event::kPending;
  std::string request_id;    // may be empty (a change without idempotency key)
  std::string request_hash;  // hex SHA-256 of the request's canonical form (server/idempotency)
  std::string caller;        // who asked (token name, certificate subject, or peer)
  std::string method;        // "Debit", "WriteData", "FormatCard", ...
  std::string uid;           // hex, the card's UID
  std::string reader;
  int64_t aid = -1;                     // -1: none
  int64_t file_no = -1;                 // -1: none
  std::optional<int64_t> amount;        // value changes
  std::optional<int64_t> value_before;  // value changes, when read
  std::optional<int64_t> value_after;   // DONE: as read; PENDING: the value expected
  // DONE: "OK", or the error's code name ("NOT_FOUND", ...). RECONCILED: "COMMITTED",
  // "NOT_COMMITTED", "CONFLICT" or "UNKNOWN". PENDING: empty.
  std::string outcome;
  std::string reason;        // the error reason (ErrorInfo.reason), when there is one
  std::string commit_state;  // "NOT_COMMITTED", "UNKNOWN" or empty
  std::string detail;        // free text (an error message, a reconciliation note)
  // DONE (OK): the serialized response, replayed for a retry. PENDING: the serialized request
  // (what reconciliation needs: aid, file, key name, mode).
  std::string payload;
  // DONE and RECONCILED rows that settle a PENDING row carry its seq here; 0 otherwise.
  int64_t pending_seq = 0;
  std::string prev_hash;  // set by Append: hex
  std::string hash;       // set by Append: hex
  // Transaction MAC (format version 2; docs/ev3.md): DONE rows of a change committed with the
  // card's Transaction MAC carry its counter and value (hex); PENDING and DONE rows the reader
  // id the change committed with CommitReaderID (hex). Absent / empty otherwise.
  std::optional<int64_t> tmc;
  std::string tmv;
  std::string reader_id;
};

// The `time` column: RFC 3339 UTC with exactly 6 fractional digits
// ("2026-11-21T09:30:00.000000Z"). ParseLedgerTime accepts only what FormatLedgerTime writes.
std::string FormatLedgerTime(absl::Time t);
std::optional<absl::Time> ParseLedgerTime(absl::string_view text);

// ---- The stored form ---------------------------------------------------------------------------

// The columns, in canonical order (docs/ledger.md, "The table"): `hash` after the 21 of format
// version 1, then the Transaction MAC columns of version 2 (in the chain only when set:
// chain.h).
enum class Column : int {
  kSeq,
  kTime,
  kEvent,
  kRequestId,
  kRequestHash,
  kCaller,
  kMethod,
  kUid,
  kReader,
  kAid,
  kFileNo,
  kAmount,
  kValueBefore,
  kValueAfter,
  kOutcome,
  kReason,
  kCommitState,
  kDetail,
  kPayload,
  kPendingSeq,
  kPrevHash,
  kHash,
  kTmc,
  kTmv,
  kReaderId,
};
inline constexpr int kColumnCount = 25;
// The columns of format version 1 (seq .. hash).
inline constexpr int kColumnCountV1 = 22;

// "seq", "time", ..., "hash": the column's name in the schema and in exports.
absl::string_view ColumnName(Column column);

// What a column holds when a row is well-formed.
enum class ColumnKind {
  kInteger,          // seq, aid, file_no, pending_seq
  kOptionalInteger,  // amount, value_before, value_after, tmc: an integer or null
  kText,             // time, event, the strings, prev_hash, hash
  kBytes,            // payload
};
ColumnKind KindOf(Column column);

// One stored column value. A backend fills in all three fields, as the storage has the value:
// `type` is its storage type, whatever the column's kind; `integer` is the value as an
// integer (for a non-integer, the backend's conversion: export writes that for integer
// columns); `bytes` is the value as bytes (text or blob; a number's decimal text; empty for
// null).
struct Value {
  enum class Type { kNull, kInteger, kReal, kText, kBlob };
  Type type = Type::kNull;
  int64_t integer = 0;
  std::string bytes;

  static Value Null() { return Value{}; }
  static Value Integer(int64_t v) { return Value{Type::kInteger, v, std::to_string(v)}; }
  static Value Text(absl::string_view s) { return Value{Type::kText, 0, std::string(s)}; }
  static Value Blob(absl::string_view b) { return Value{Type::kBlob, 0, std::string(b)}; }
  static Value OptionalInteger(const std::optional<int64_t>& v) { return v ? Integer(*v) : Null(); }
};
// Same type and the same content for it (integer for kInteger, bytes for text and blobs).
bool operator==(const Value& a, const Value& b);
inline bool operator!=(const Value& a, const Value& b) { return !(a == b); }

// "an integer", "a real", "text", "a blob", "NULL" (verify's messages).
absl::string_view TypeName(Value::Type type);

// A row as stored: one Value per column.
struct StoredRow {
  std::array<Value, kColumnCount> values;

  Value& operator[](Column c) { return values[static_cast<size_t>(c)]; }
  const Value& operator[](Column c) const { return values[static_cast<size_t>(c)]; }
};
bool operator==(const StoredRow& a, const StoredRow& b);

// `row` as Append stores it: time through FormatLedgerTime, the event by name, prev_hash and hash
// as they are in `row` (Append sets them first).
StoredRow ToStored(const Row& row);
// The typed row of a stored one. Meant for well-formed rows (verify says which are not): a
// time or event that does not parse becomes absl::InfinitePast() or kPending; integers are
// Value::integer; an optional integer is absent when null; text and payload are Value::bytes.
Row FromStored(const StoredRow& stored);

}  // namespace desfired::ledger

#endif  // DESFIRED_CORE_LEDGER_ROW_H_
