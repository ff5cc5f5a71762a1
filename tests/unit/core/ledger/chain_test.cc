// The canonical encoding and the hash chain of docs/ledger.md: recomputed here independently
// (from the document alone) and compared with what the Ledger stores, and the library's own
// encoder on the document's worked example.
#include "core/ledger/chain.h"

#include <openssl/sha.h>
#include <sqlite3.h>

#include <cctype>
#include <optional>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/core/ledger/ledger_test_fixture.h"

namespace desfired::ledger {
namespace {

// ---- The canonical encoding, written from docs/ledger.md alone --------------------------------

std::string Field(const std::string& bytes) {
  std::string out(8, '\0');
  uint64_t n = bytes.size();
  for (int i = 7; i >= 0; --i, n >>= 8) out[static_cast<size_t>(i)] = static_cast<char>(n & 0xff);
  return out + bytes;
}
std::string IntField(int64_t v) {
  std::string be(8, '\0');
  auto u = static_cast<uint64_t>(v);
  for (int i = 7; i >= 0; --i, u >>= 8) be[static_cast<size_t>(i)] = static_cast<char>(u & 0xff);
  return Field(be);
}
std::string OptField(std::optional<int64_t> v) { return v ? IntField(*v) : Field(""); }
std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}
std::string Hex(const std::string& bytes) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(d[c >> 4]);
    out.push_back(d[c & 15]);
  }
  return out;
}

std::string DocumentedHash(const Row& r, const std::string& time_text,
                           const std::string& event_text) {
  const std::string prev = Unhex(r.prev_hash);
  const std::string canonical =
      IntField(r.seq) + Field(time_text) + Field(event_text) + Field(r.request_id) +
      Field(r.request_hash) + Field(r.caller) + Field(r.method) + Field(r.uid) + Field(r.reader) +
      IntField(r.aid) + IntField(r.file_no) + OptField(r.amount) + OptField(r.value_before) +
      OptField(r.value_after) + Field(r.outcome) + Field(r.reason) + Field(r.commit_state) +
      Field(r.detail) + Field(r.payload) + IntField(r.pending_seq) + Field(prev);
  const std::string input = prev + canonical;
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(), md);
  return Hex(std::string(reinterpret_cast<char*>(md), sizeof(md)));
}

// The row of docs/ledger.md's worked example (a PENDING debit, the first row).
Row WorkedExampleRow() {
  Row r;
  r.seq = 1;
  r.request_id = "order-4711";
  r.method = "Debit";
  r.uid = "04a1b2c3d4e5f6";
  r.aid = 0xF51001;
  r.file_no = 1;
  r.amount = 150;
  r.value_after = 2350;
  return r;
}

// A RECONCILED credit with every kind of field: text to quote, a blob, and values that are
// present but 0 or negative (not the same as absent).
Row ReconciledRow() {
  Row r;
  r.event = Event::kReconciled;
  r.request_hash = std::string(64, 'a');
  r.caller = "token:ops";
  r.method = "Credit";
  r.uid = "04a1b2c3d4e5f6";
  r.reader = "ACS ACR122U 00 00";
  r.aid = 0;
  r.file_no = -1;
  r.amount = 0;  // present and 0: not the same as absent
  r.value_after = -5;
  r.outcome = "COMMITTED";
  r.payload = std::string("\x00\x01\xff", 3);
  return r;
}

// The worked example of docs/ledger.md, through this file's encoder.
TEST(LedgerEncodingTest, DocumentedWorkedExample) {
  Row r = WorkedExampleRow();
  r.prev_hash = kZeroHash;
  EXPECT_EQ(DocumentedHash(r, "2026-11-21T09:30:00.000000Z", "PENDING"),
            "c3855b33ebac22f1a9b034c9ce706dc6c101a9bc4ebc8fa1d480e10c50c30103");
}

TEST_F(LedgerTest, HashFollowsTheDocumentedCanonicalEncoding) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(SampleRow(1)).ok());
  Row r = ReconciledRow();
  r.request_id = "r-\xc3\xa9t\xc3\xa9";  // UTF-8
  r.detail = "line 1\nline \"2\"";
  r.pending_seq = 1;
  absl::StatusOr<Row> stored = l->Append(r);
  ASSERT_TRUE(stored.ok()) << stored.status();

  // The time and event as the file has them.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT time, event, hash FROM ledger WHERE seq = 2", -1, &s, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  const std::string time_text = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
  const std::string event_text = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  const std::string file_hash = reinterpret_cast<const char*>(sqlite3_column_text(s, 2));
  sqlite3_finalize(s);
  sqlite3_close(db);

  EXPECT_EQ(event_text, "RECONCILED");
  EXPECT_THAT(time_text, ::testing::MatchesRegex(
                             "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z"));
  EXPECT_EQ(stored->hash, file_hash);
  EXPECT_EQ(DocumentedHash(*stored, time_text, event_text), stored->hash);

  // Absent is encoded differently from 0.
  Row absent = *stored;
  absent.amount.reset();
  EXPECT_NE(DocumentedHash(absent, time_text, event_text), stored->hash);
}

// ---- The library's encoder ----------------------------------------------------------------------

// The worked example of docs/ledger.md, through the library: 311 bytes, and the documented hash.
TEST(ChainTest, TheLibraryEncodesTheDocumentedWorkedExample) {
  Row r = WorkedExampleRow();
  r.time = *ParseLedgerTime("2026-11-21T09:30:00.000000Z");
  r.event = Event::kPending;
  const StoredRow stored = ToStored(r);
  const std::string canonical = CanonicalBytes(kGenesisHash, stored);
  EXPECT_EQ(canonical.size(), 311u);
  EXPECT_EQ(Hex(canonical.substr(0, 16)), "00000000000000080000000000000001");  // seq
  EXPECT_EQ(Hex(canonical.substr(canonical.size() - 40)),
            "0000000000000020" + std::string(64, '0'));  // prev_hash: its 32 bytes
  EXPECT_EQ(HashHex(ChainHash(kGenesisHash, stored)),
            "c3855b33ebac22f1a9b034c9ce706dc6c101a9bc4ebc8fa1d480e10c50c30103");
  // The hash and prev_hash columns are not hashed (prev_hash is the chain's, as bytes).
  StoredRow other = stored;
  other[Column::kPrevHash] = Value::Text(std::string(64, 'f'));
  other[Column::kHash] = Value::Text("x");
  EXPECT_EQ(ChainHash(kGenesisHash, other), ChainHash(kGenesisHash, stored));
}

// Format version 2's Transaction MAC columns are hashed after prev_hash only when one is set: a
// row without them hashes as in version 1 (the worked example's documented hash), and each of
// them, once set, is covered.
TEST(ChainTest, TransactionMacColumnsAreHashedOnlyWhenSet) {
  Row r = WorkedExampleRow();
  r.time = *ParseLedgerTime("2026-11-21T09:30:00.000000Z");
  const StoredRow plain = ToStored(r);
  EXPECT_EQ(CanonicalBytes(kGenesisHash, plain).size(), 311u);
  EXPECT_EQ(HashHex(ChainHash(kGenesisHash, plain)),
            "c3855b33ebac22f1a9b034c9ce706dc6c101a9bc4ebc8fa1d480e10c50c30103");
  r.tmc = 7;
  r.tmv = "0102030405060708";
  r.reader_id = "28bf1982be086fbc60a22daeb66613ee";
  const StoredRow with = ToStored(r);
  const std::string canonical = CanonicalBytes(kGenesisHash, with);
  // 311 bytes, then tmc (8 + 8), tmv (8 + 16) and reader_id (8 + 32).
  EXPECT_EQ(canonical.size(), 311u + 16 + 24 + 40);
  EXPECT_EQ(Hex(canonical.substr(311, 16)), "00000000000000080000000000000007");
  const Hash h = ChainHash(kGenesisHash, with);
  EXPECT_NE(h, ChainHash(kGenesisHash, plain));
  for (Column c : {Column::kTmc, Column::kTmv, Column::kReaderId}) {
    StoredRow changed = with;
    changed[c] = c == Column::kTmc ? Value::Integer(8) : Value::Text("00");
    EXPECT_NE(ChainHash(kGenesisHash, changed), h) << ColumnName(c);
    StoredRow only = plain;  // one of them alone is hashed too
    only[c] = with[c];
    EXPECT_NE(ChainHash(kGenesisHash, only), ChainHash(kGenesisHash, plain)) << ColumnName(c);
  }
}

TEST(ChainTest, AbsentAndZeroHashDifferently) {
  Row r;
  r.seq = 1;
  r.amount = 0;
  const Hash with_zero = ChainHash(kGenesisHash, ToStored(r));
  r.amount.reset();
  EXPECT_NE(ChainHash(kGenesisHash, ToStored(r)), with_zero);
}

TEST(ChainTest, HashesAreLowerCaseHex) {
  Hash h{};
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(i * 9);
  const std::string hex = HashHex(h);
  EXPECT_THAT(hex, ::testing::MatchesRegex("[0-9a-f]{64}"));
  EXPECT_EQ(ParseHashHex(hex), std::optional<Hash>(h));
  EXPECT_EQ(HashHex(kGenesisHash), kZeroHash);
  std::string upper = hex;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(ParseHashHex(upper), std::nullopt);
  EXPECT_EQ(ParseHashHex(hex.substr(1)), std::nullopt);
  EXPECT_EQ(ParseHashHex(hex + "0"), std::nullopt);
  EXPECT_EQ(ParseHashHex(std::string(64, 'g')), std::nullopt);
}

// ---- The row's stored form ----------------------------------------------------------------------

TEST(RowTest, StoredAndBackAgainIsTheSameRow) {
  Row r = ReconciledRow();
  r.seq = 7;
  r.time = *ParseLedgerTime("2026-11-21T09:30:00.123456Z");
  r.request_id = "r-\xc3\xa9";
  r.reason = "CARD_REMOVED";
  r.commit_state = "UNKNOWN";
  r.detail = "line 1\nline 2";
  r.pending_seq = 6;
  r.prev_hash = std::string(64, 'b');
  r.hash = std::string(64, 'c');
  const StoredRow s = ToStored(r);
  EXPECT_EQ(s[Column::kTime], Value::Text("2026-11-21T09:30:00.123456Z"));
  EXPECT_EQ(s[Column::kEvent], Value::Text("RECONCILED"));
  EXPECT_EQ(s[Column::kValueBefore], Value::Null());
  EXPECT_EQ(s[Column::kAmount], Value::Integer(0));
  EXPECT_EQ(s[Column::kPayload], Value::Blob(r.payload));
  const Row back = FromStored(s);
  EXPECT_EQ(back.seq, r.seq);
  EXPECT_EQ(back.time, r.time);
  EXPECT_EQ(back.event, r.event);
  EXPECT_EQ(back.request_id, r.request_id);
  EXPECT_EQ(back.amount, r.amount);
  EXPECT_EQ(back.value_before, std::nullopt);
  EXPECT_EQ(back.value_after, r.value_after);
  EXPECT_EQ(back.payload, r.payload);
  EXPECT_EQ(back.pending_seq, r.pending_seq);
  EXPECT_EQ(back.hash, r.hash);
  EXPECT_TRUE(ToStored(back) == s);
}

TEST(RowTest, EventsAndColumnsByName) {
  for (Event e : {Event::kPending, Event::kDone, Event::kReconciled, Event::kTaps}) {
    EXPECT_EQ(ParseEvent(EventName(e)), e);
  }
  EXPECT_EQ(ParseEvent("pending"), std::nullopt);
  EXPECT_EQ(ColumnName(Column::kSeq), "seq");
  EXPECT_EQ(ColumnName(Column::kHash), "hash");
  EXPECT_EQ(KindOf(Column::kPayload), ColumnKind::kBytes);
  EXPECT_EQ(KindOf(Column::kValueAfter), ColumnKind::kOptionalInteger);
  EXPECT_EQ(ParseLedgerTime("2026-11-21T09:30:00Z"), std::nullopt);  // 6 digits or nothing
}

// The times FormatLedgerTime writes, and only those: every instant of a leap year's edges
// round-trips, and what is not a real date or time, or not in the canonical form, is refused.
TEST(RowTest, LedgerTimesRoundTripAndOnlyCanonicalOnesParse) {
  const absl::Time base =
      absl::FromCivil(absl::CivilSecond(2024, 2, 28, 23, 59, 58), absl::UTCTimeZone());
  for (int64_t us : {int64_t{0}, int64_t{1}, int64_t{999999}, int64_t{1000000}, int64_t{2000001},
                     int64_t{86400} * 1000000 + 7, int64_t{2} * 86400 * 1000000 + 123456}) {
    const absl::Time t = base + absl::Microseconds(us);
    const std::string text = FormatLedgerTime(t);
    EXPECT_EQ(ParseLedgerTime(text), t) << text;
  }
  EXPECT_EQ(ParseLedgerTime("1999-12-31T23:59:59.999999Z"),
            absl::FromCivil(absl::CivilSecond(1999, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
                absl::Microseconds(999999));
  for (const char* bad :
       {"2026-02-30T09:30:00.000000Z", "2025-02-29T09:30:00.000000Z", "2026-11-21T24:00:00.000000Z",
        "2026-11-21T09:60:00.000000Z", "2026-11-21T09:30:60.000000Z", "2026-13-01T09:30:00.000000Z",
        "2026-00-01T09:30:00.000000Z", "2026-11-00T09:30:00.000000Z", "2026-11-21 09:30:00.000000Z",
        "2026-11-21T09:30:00.00000aZ", "2026-11-21T09:30:00.000000z", "+026-11-21T09:30:00.000000Z",
        "2026-11-21T09:30:00.000000+00:00", "2026-11-21T09:30:00.0000000Z"}) {
    EXPECT_EQ(ParseLedgerTime(bad), std::nullopt) << bad;
  }
}

}  // namespace
}  // namespace desfired::ledger
