#include "tests/testing/ledger_backend_test_suite.h"

#include <atomic>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"

namespace desfired::testing {

using ledger::Column;
using ledger::Event;
using ledger::Head;
using ledger::StoredRow;
using ledger::Value;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;

void PrintTo(const LedgerBackendParam& param, std::ostream* os) { *os << param.name; }

std::string LedgerBackendParamName(const ::testing::TestParamInfo<LedgerBackendParam>& info) {
  return info.param.name;
}

void LedgerBackendTestSuite::SetUp() {
  container_ = GetParam().factory();
  if (IsSkipped()) return;  // the container's storage is not there (e.g. a server not installed)
  absl::StatusOr<std::unique_ptr<ledger::Backend>> opened = container_->Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  backend_ = *std::move(opened);
}

void LedgerBackendTestSuite::TearDown() {
  backend_.reset();
  container_.reset();
}

void LedgerBackendTestSuite::Reopen() {
  backend_.reset();
  absl::StatusOr<std::unique_ptr<ledger::Backend>> opened = container_->Open();
  ASSERT_TRUE(opened.ok()) << opened.status();
  backend_ = *std::move(opened);
}

StoredRow LedgerBackendTestSuite::NextRow(Event event, const std::string& request_id,
                                          int64_t pending_seq) const {
  const int64_t seq = head_.seq + 1;
  ledger::Row r;
  r.seq = seq;
  r.time = absl::FromUnixMicros(1'795'000'000'000'000 + seq * 1'000'001);
  r.event = event;
  r.request_id = request_id;
  r.request_hash = std::string(64, static_cast<char>('a' + seq % 6));
  r.caller = absl::StrCat("token:caller-", seq);
  r.method = seq % 2 == 0 ? "Credit" : "Debit";
  r.uid = "04a1b2c3d4e5f6";
  r.reader = "Reader \xc3\xa9 00 00";  // UTF-8
  r.aid = seq % 3 == 0 ? -1 : 0xF51001;
  r.file_no = seq % 3 == 0 ? -1 : 1;
  r.amount = seq % 2 == 0 ? std::optional<int64_t>() : seq * 10;
  r.value_before = 0;  // present and zero
  r.value_after = -seq;
  r.outcome = event == Event::kDone ? "OK" : "";
  r.detail = absl::StrCat("line 1\nline \"", seq, "\"");
  r.payload = std::string("\x00\x01\xff", 3) + std::string(static_cast<size_t>(seq), 'p');
  r.pending_seq = pending_seq;
  // Transaction MAC columns (format version 2): a DONE row has all three, a PENDING row the
  // reader id, other rows none.
  if (event == Event::kDone) {
    r.tmc = seq;
    r.tmv = absl::StrCat("a1a2a3a4a5a6a7", seq % 10, seq % 10);
  }
  if (event == Event::kDone || event == Event::kPending) {
    r.reader_id = "28bf1982be086fbc60a22daeb66613ee";
  }
  r.prev_hash = ledger::HashHex(head_.hash);
  StoredRow stored = ledger::ToStored(r);
  stored[Column::kHash] = Value::Text(ledger::HashHex(ledger::ChainHash(head_.hash, stored)));
  return stored;
}

StoredRow LedgerBackendTestSuite::AppendNext(Event event, const std::string& request_id,
                                             int64_t pending_seq) {
  StoredRow row = NextRow(event, request_id, pending_seq);
  absl::Status s = backend_->Append(row, head_);
  EXPECT_TRUE(s.ok()) << s;
  if (s.ok())
    head_ = Head{row[Column::kSeq].integer, *ledger::ParseHashHex(row[Column::kHash].bytes)};
  return row;
}

namespace {

// Every row of a cursor, in the order it gives them.
std::vector<StoredRow> RowsOf(absl::StatusOr<std::unique_ptr<ledger::RowCursor>> rows) {
  std::vector<StoredRow> out;
  EXPECT_TRUE(rows.ok()) << rows.status();
  if (!rows.ok()) return out;
  while (true) {
    absl::StatusOr<bool> more = (*rows)->Next();
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back((*rows)->row());
  }
  return out;
}

// Every row of a new snapshot, in the order it gives them.
std::vector<StoredRow> RowsOf(ledger::Snapshot& snapshot) { return RowsOf(snapshot.Rows()); }

std::vector<StoredRow> RowsOf(ledger::Backend& backend) {
  absl::StatusOr<std::unique_ptr<ledger::Snapshot>> snapshot = backend.OpenSnapshot();
  EXPECT_TRUE(snapshot.ok()) << snapshot.status();
  return snapshot.ok() ? RowsOf(**snapshot) : std::vector<StoredRow>{};
}

std::vector<int64_t> SeqsOf(const std::vector<StoredRow>& rows) {
  std::vector<int64_t> seqs;
  for (const StoredRow& r : rows) seqs.push_back(r[Column::kSeq].integer);
  return seqs;
}

std::optional<int64_t> LatestSeq(ledger::Backend& backend, const std::string& request_id) {
  absl::StatusOr<std::optional<StoredRow>> row = backend.Latest(request_id);
  EXPECT_TRUE(row.ok()) << row.status();
  if (!row.ok() || !row->has_value()) return std::nullopt;
  return (**row)[Column::kSeq].integer;
}

}  // namespace

TEST_P(LedgerBackendTestSuite, AnEmptyBackendHasNoRowsAndTheGenesisHead) {
  EXPECT_FALSE(backend_->name().empty());
  absl::StatusOr<Head> head = backend_->ReadHead();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(*head, Head{});
  EXPECT_EQ(*head, (Head{0, ledger::kGenesisHash}));
  EXPECT_EQ(*backend_->Count(), 0);
  EXPECT_FALSE(backend_->Last()->has_value());
  EXPECT_FALSE(backend_->Latest("r-1")->has_value());
  EXPECT_FALSE(backend_->Latest("")->has_value());
  EXPECT_THAT(*backend_->Unresolved(), IsEmpty());

  absl::StatusOr<std::unique_ptr<ledger::Snapshot>> snapshot = backend_->OpenSnapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ledger::Snapshot& view = **snapshot;
  ASSERT_TRUE(view.Pin().ok());
  EXPECT_FALSE(view.name().empty());
  EXPECT_THAT(RowsOf(view), IsEmpty());
  EXPECT_FALSE(view.LastHash()->has_value());
  EXPECT_EQ(view.SeqOfHash(ledger::HashHex(ledger::kGenesisHash)), 0);
  absl::StatusOr<std::optional<ledger::StoredHead>> stored = view.HeadAsStored();
  ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status();
  EXPECT_EQ((*stored)->seq, Value::Integer(0));
  EXPECT_EQ((*stored)->hash, Value::Text(ledger::HashHex(ledger::kGenesisHash)));
}

TEST_P(LedgerBackendTestSuite, RowsReadBackExactlyAsAppended) {
  std::vector<StoredRow> appended;
  appended.push_back(AppendNext(Event::kPending, "r-1"));
  appended.push_back(AppendNext(Event::kDone, "r-1", 1));
  appended.push_back(AppendNext(Event::kTaps, ""));
  // Through a snapshot: every column of every row, type and content.
  std::vector<StoredRow> read = RowsOf(*backend_);
  ASSERT_THAT(read, SizeIs(3));
  for (size_t i = 0; i < read.size(); ++i) {
    for (int col = 0; col < ledger::kColumnCount; ++col) {
      EXPECT_EQ(read[i].values[col], appended[i].values[col])
          << "row " << i + 1 << ", column " << ledger::ColumnName(static_cast<Column>(col));
    }
  }
  // Through Latest: the same.
  absl::StatusOr<std::optional<StoredRow>> latest = backend_->Latest("r-1");
  ASSERT_TRUE(latest.ok() && latest->has_value()) << latest.status();
  EXPECT_EQ(**latest, appended[1]);
  // The empty payload and empty text are stored as such, not as NULL.
  AppendNext(Event::kPending, "r-empty");
  StoredRow empty = NextRow(Event::kPending, "r-empty-2");
  empty[Column::kPayload] = Value::Blob("");
  empty[Column::kDetail] = Value::Text("");
  empty[Column::kHash] = Value::Text(ledger::HashHex(ledger::ChainHash(head_.hash, empty)));
  ASSERT_TRUE(backend_->Append(empty, head_).ok());
  latest = backend_->Latest("r-empty-2");
  ASSERT_TRUE(latest.ok() && latest->has_value()) << latest.status();
  EXPECT_EQ((**latest)[Column::kPayload], Value::Blob(""));
  EXPECT_EQ((**latest)[Column::kDetail], Value::Text(""));
  EXPECT_EQ(**latest, empty);
}

// The Transaction MAC columns (tmc an optional integer, tmv and reader_id text) read back as
// appended: NULL stays NULL, '' stays '', and the hashes the chain computed over them hold.
TEST_P(LedgerBackendTestSuite, TransactionMacColumnsReadBack) {
  const StoredRow pending = AppendNext(Event::kPending, "t-1");
  const StoredRow done = AppendNext(Event::kDone, "t-1", 1);
  const StoredRow taps = AppendNext(Event::kTaps, "");
  std::vector<StoredRow> read = RowsOf(*backend_);
  ASSERT_THAT(read, SizeIs(3));
  EXPECT_EQ(read[0][Column::kTmc], Value::Null());
  EXPECT_EQ(read[0][Column::kTmv], Value::Text(""));
  EXPECT_EQ(read[0][Column::kReaderId], pending[Column::kReaderId]);
  EXPECT_EQ(read[1][Column::kTmc], Value::Integer(2));
  EXPECT_EQ(read[1][Column::kTmv], done[Column::kTmv]);
  EXPECT_EQ(read[2][Column::kReaderId], Value::Text(""));
  ledger::Hash prev = ledger::kGenesisHash;
  for (const StoredRow& r : read) {
    const ledger::Hash h = ledger::ChainHash(prev, r);
    EXPECT_EQ(ledger::HashHex(h), r[Column::kHash].bytes) << r[Column::kSeq].integer;
    prev = h;
  }
  EXPECT_EQ(read[2], taps);
}

TEST_P(LedgerBackendTestSuite, RowsComeInSeqOrder) {
  for (int i = 0; i < 5; ++i) AppendNext(Event::kTaps, absl::StrCat("r-", i % 2));
  EXPECT_THAT(SeqsOf(RowsOf(*backend_)), ElementsAre(1, 2, 3, 4, 5));
  absl::StatusOr<std::optional<ledger::LastRow>> last = backend_->Last();
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status();
  EXPECT_EQ((*last)->seq, 5);
  EXPECT_EQ((*last)->hash, ledger::HashHex(head_.hash));
  EXPECT_EQ(*backend_->Count(), 5);
}

TEST_P(LedgerBackendTestSuite, NewestFirstReadsTheTailNewestFirst) {
  {
    absl::StatusOr<std::unique_ptr<ledger::Snapshot>> empty = backend_->OpenSnapshot();
    ASSERT_TRUE(empty.ok()) << empty.status();
    EXPECT_THAT(RowsOf((*empty)->NewestFirst(3)), IsEmpty());
  }
  for (int i = 0; i < 5; ++i) AppendNext(Event::kTaps, absl::StrCat("r-", i));
  absl::StatusOr<std::unique_ptr<ledger::Snapshot>> snapshot = backend_->OpenSnapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ledger::Snapshot& view = **snapshot;
  ASSERT_TRUE(view.Pin().ok());
  EXPECT_THAT(SeqsOf(RowsOf(view.NewestFirst(3))), ElementsAre(5, 4, 3));
  EXPECT_THAT(SeqsOf(RowsOf(view.NewestFirst(1))), ElementsAre(5));
  // More than there are: all of them, each exactly as appended.
  std::vector<StoredRow> all = RowsOf(view);
  std::vector<StoredRow> newest = RowsOf(view.NewestFirst(10));
  ASSERT_THAT(newest, SizeIs(5));
  for (size_t i = 0; i < newest.size(); ++i) EXPECT_EQ(newest[i], all[all.size() - 1 - i]);
  absl::StatusOr<std::unique_ptr<ledger::RowCursor>> none = view.NewestFirst(0);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  // The snapshot keeps its state; a new one sees the next row.
  AppendNext(Event::kTaps, "r-5");
  EXPECT_THAT(SeqsOf(RowsOf(view.NewestFirst(2))), ElementsAre(5, 4));
  absl::StatusOr<std::unique_ptr<ledger::Snapshot>> later = backend_->OpenSnapshot();
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_THAT(SeqsOf(RowsOf((*later)->NewestFirst(2))), ElementsAre(6, 5));
}

TEST_P(LedgerBackendTestSuite, TheHeadMovesWithEachAppend) {
  for (int i = 1; i <= 3; ++i) {
    const StoredRow row = AppendNext(Event::kPending, absl::StrCat("r-", i));
    absl::StatusOr<Head> head = backend_->ReadHead();
    ASSERT_TRUE(head.ok()) << head.status();
    EXPECT_EQ(head->seq, i);
    EXPECT_EQ(ledger::HashHex(head->hash), row[Column::kHash].bytes);
    EXPECT_EQ(*head, head_);
    absl::StatusOr<std::unique_ptr<ledger::Snapshot>> view = backend_->OpenSnapshot();
    ASSERT_TRUE(view.ok()) << view.status();
    absl::StatusOr<std::optional<ledger::StoredHead>> stored = (*view)->HeadAsStored();
    ASSERT_TRUE(stored.ok() && stored->has_value()) << stored.status();
    EXPECT_EQ((*stored)->seq, Value::Integer(i));
    EXPECT_EQ((*stored)->hash, row[Column::kHash]);
    EXPECT_EQ(*(*view)->LastHash(), row[Column::kHash].bytes);
  }
}

// The head moves only from the head the caller names: a stale one appends nothing at all.
TEST_P(LedgerBackendTestSuite, AnAppendFromAnotherHeadAppendsNothing) {
  AppendNext(Event::kPending, "r-1");
  const Head after_first = head_;
  AppendNext(Event::kDone, "r-1", 1);
  const Head after_second = head_;

  head_ = after_first;  // as if the second row were not there
  StoredRow stale = NextRow(Event::kPending, "r-stale");
  EXPECT_EQ(backend_->Append(stale, after_first).code(), absl::StatusCode::kUnavailable);
  // The right seq with another hash is not the head either.
  head_ = after_second;
  StoredRow third = NextRow(Event::kPending, "r-3");
  Head wrong_hash = after_second;
  wrong_hash.hash[0] ^= 1;
  EXPECT_EQ(backend_->Append(third, wrong_hash).code(), absl::StatusCode::kUnavailable);

  EXPECT_EQ(*backend_->Count(), 2);
  EXPECT_EQ(*backend_->ReadHead(), after_second);
  EXPECT_FALSE(backend_->Latest("r-stale")->has_value());
  EXPECT_FALSE(backend_->Latest("r-3")->has_value());
  EXPECT_THAT(SeqsOf(RowsOf(*backend_)), ElementsAre(1, 2));
  // And the chain goes on from the stored head.
  ASSERT_TRUE(backend_->Append(third, after_second).ok());
  EXPECT_EQ(*backend_->Count(), 3);
  EXPECT_EQ(*LatestSeq(*backend_, "r-3"), 3);
}

TEST_P(LedgerBackendTestSuite, AnAppendWithoutAHexHashIsRefused) {
  StoredRow row = NextRow(Event::kPending, "r-1");
  row[Column::kHash] = Value::Text("not a hash");
  EXPECT_EQ(backend_->Append(row, head_).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*backend_->Count(), 0);
  EXPECT_EQ(*backend_->ReadHead(), Head{});
}

TEST_P(LedgerBackendTestSuite, LatestIsTheNewestRowOfExactlyThatRequestId) {
  AppendNext(Event::kPending, "r-1");  // 1
  AppendNext(Event::kPending, "r-2");  // 2
  AppendNext(Event::kDone, "r-1", 1);  // 3
  AppendNext(Event::kTaps, "");        // 4
  AppendNext(Event::kDone, "r-2", 2);  // 5
  EXPECT_EQ(LatestSeq(*backend_, "r-1"), 3);
  EXPECT_EQ(LatestSeq(*backend_, "r-2"), 5);
  EXPECT_EQ(LatestSeq(*backend_, ""), 4);  // the backend matches any id exactly, "" too
  EXPECT_EQ(LatestSeq(*backend_, "R-1"), std::nullopt);
  EXPECT_EQ(LatestSeq(*backend_, "r-"), std::nullopt);
  EXPECT_EQ(LatestSeq(*backend_, "r-1 "), std::nullopt);
  EXPECT_EQ(LatestSeq(*backend_, "r-9"), std::nullopt);
}

TEST_P(LedgerBackendTestSuite, UnresolvedAreThePendingRowsNothingSettles) {
  AppendNext(Event::kPending, "r-1");                           // 1: settled by 3
  const StoredRow second = AppendNext(Event::kPending, "r-2");  // 2: never settled
  AppendNext(Event::kDone, "r-1", 1);                           // 3
  AppendNext(Event::kPending, "r-3");                           // 4: reconciled by 5
  AppendNext(Event::kReconciled, "r-3", 4);                     // 5
  AppendNext(Event::kPending, "r-4");      // 6: a DONE without pending_seq does not settle it
  AppendNext(Event::kDone, "r-4");         // 7
  AppendNext(Event::kPending, "r-5");      // 8: a TAPS row naming it does not settle it
  AppendNext(Event::kTaps, "", 8);         // 9
  AppendNext(Event::kPending, "r-6");      // 10: nor does a PENDING row
  AppendNext(Event::kPending, "r-6", 10);  // 11
  absl::StatusOr<std::vector<StoredRow>> open = backend_->Unresolved();
  ASSERT_TRUE(open.ok()) << open.status();
  EXPECT_THAT(SeqsOf(*open), ElementsAre(2, 6, 8, 10, 11));
  EXPECT_EQ((*open)[0], second);
  EXPECT_EQ(*backend_->Count(), 11);
}

TEST_P(LedgerBackendTestSuite, EverythingIsStillThereAfterReopening) {
  std::vector<StoredRow> appended;
  for (int i = 1; i <= 3; ++i)
    appended.push_back(AppendNext(Event::kPending, absl::StrCat("r-", i)));
  const Head head = head_;
  Reopen();
  ASSERT_NE(backend_, nullptr);
  EXPECT_EQ(*backend_->Count(), 3);
  EXPECT_EQ(*backend_->ReadHead(), head);
  EXPECT_EQ((*backend_->Last())->seq, 3);
  EXPECT_EQ(RowsOf(*backend_), appended);
  absl::StatusOr<std::optional<StoredRow>> second = backend_->Latest("r-2");
  ASSERT_TRUE(second.ok() && second->has_value()) << second.status();
  EXPECT_EQ(**second, appended[1]);
  EXPECT_THAT(SeqsOf(*backend_->Unresolved()), ElementsAre(1, 2, 3));
  // The chain goes on from the stored head.
  AppendNext(Event::kDone, "r-3", 3);
  EXPECT_EQ(*backend_->Count(), 4);
  Reopen();
  EXPECT_EQ(*backend_->ReadHead(), head_);
  EXPECT_THAT(SeqsOf(RowsOf(*backend_)), ElementsAre(1, 2, 3, 4));
}

// A pinned snapshot keeps the state of Pin(): rows, the last hash and the head, while appends
// go on; a new snapshot sees them.
TEST_P(LedgerBackendTestSuite, APinnedSnapshotKeepsItsState) {
  const StoredRow first = AppendNext(Event::kPending, "r-1");
  absl::StatusOr<std::unique_ptr<ledger::Snapshot>> snapshot = backend_->OpenSnapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ledger::Snapshot& view = **snapshot;
  ASSERT_TRUE(view.Pin().ok());
  const StoredRow second = AppendNext(Event::kDone, "r-1", 1);
  EXPECT_EQ(*backend_->Count(), 2);  // the backend's own reads see it at once

  EXPECT_EQ(SeqsOf(RowsOf(view)), std::vector<int64_t>{1});
  EXPECT_EQ(*view.LastHash(), first[Column::kHash].bytes);
  EXPECT_EQ((*view.HeadAsStored())->seq, Value::Integer(1));
  EXPECT_EQ(view.SeqOfHash(second[Column::kHash].bytes), 0);
  EXPECT_EQ(view.SeqOfHash(first[Column::kHash].bytes), 1);

  EXPECT_THAT(SeqsOf(RowsOf(*backend_)), ElementsAre(1, 2));
}

// Without Pin(), the first read fixes the state.
TEST_P(LedgerBackendTestSuite, AnUnpinnedSnapshotKeepsTheStateOfItsFirstRead) {
  AppendNext(Event::kPending, "r-1");
  absl::StatusOr<std::unique_ptr<ledger::Snapshot>> snapshot = backend_->OpenSnapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  ledger::Snapshot& view = **snapshot;
  const StoredRow second = AppendNext(Event::kPending, "r-2");  // before the first read
  EXPECT_EQ(*view.LastHash(), second[Column::kHash].bytes);
  AppendNext(Event::kPending, "r-3");  // after it
  EXPECT_THAT(SeqsOf(RowsOf(view)), ElementsAre(1, 2));
  EXPECT_EQ((*view.HeadAsStored())->seq, Value::Integer(2));
}

TEST_P(LedgerBackendTestSuite, SeqOfHashFindsTheRowWithThatHash) {
  std::vector<StoredRow> rows;
  for (int i = 1; i <= 4; ++i) rows.push_back(AppendNext(Event::kTaps, ""));
  absl::StatusOr<std::unique_ptr<ledger::Snapshot>> snapshot = backend_->OpenSnapshot();
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ((*snapshot)->SeqOfHash(rows[i][Column::kHash].bytes), i + 1);
  }
  EXPECT_EQ((*snapshot)->SeqOfHash(std::string(64, 'f')), 0);
  EXPECT_EQ((*snapshot)->SeqOfHash(""), 0);
}

// Latest and Count go on while another thread appends; every append lands.
TEST_P(LedgerBackendTestSuite, ReadsGoOnAlongsideAppends) {
  constexpr int kRows = 40;
  std::atomic<bool> done{false};
  std::atomic<int> read_errors{0};
  std::thread reader([&] {
    while (!done.load()) {
      if (!backend_->Latest("r-7").ok()) ++read_errors;
      if (!backend_->Count().ok()) ++read_errors;
    }
  });
  for (int i = 1; i <= kRows; ++i) AppendNext(Event::kPending, absl::StrCat("r-", i));
  done = true;
  reader.join();
  EXPECT_EQ(read_errors.load(), 0);
  EXPECT_EQ(*backend_->Count(), kRows);
  EXPECT_EQ(LatestSeq(*backend_, "r-7"), 7);
  EXPECT_EQ(*backend_->ReadHead(), head_);
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(LedgerBackendTestSuite);

}  // namespace desfired::testing
