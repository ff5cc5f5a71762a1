// Verify on ledger files tampered with through the SQLite API: every row at fault named, the
// head checked, and the running process's own head.
#include "core/ledger/verify.h"

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/util/status_reason.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/core/ledger/ledger_test_fixture.h"

namespace desfired::ledger {
namespace {

using ::testing::HasSubstr;

TEST_F(LedgerTest, VerifyPassesAGoodLedgerAlsoWhileItIsOpen) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  Ledger::VerifyResult empty = l->Verify();
  EXPECT_TRUE(empty.ok) << empty.problem;
  EXPECT_EQ(empty.rows, 0);
  EXPECT_EQ(empty.head_hash, kZeroHash);
  Row last;
  for (int i = 1; i <= 6; ++i) last = *l->Append(SampleRow(i));
  Ledger::VerifyResult v = l->Verify();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 6);
  EXPECT_EQ(v.head_hash, last.hash);
  // Read-only, beside the open writer (WAL).
  Ledger::VerifyResult f = VerifyFileOrDie();
  EXPECT_TRUE(f.ok) << f.problem;
  EXPECT_EQ(f.rows, 6);
  EXPECT_EQ(f.head_hash, last.hash);
  EXPECT_TRUE(l->Append(SampleRow(7)).ok());
}

TEST_F(LedgerTest, VerifyCatchesAnEditedField) {
  Ledger::VerifyResult v = TamperAndVerify(5, "UPDATE ledger SET amount = 999 WHERE seq = 3");
  ExpectBroken(v, 3, "row 3 was edited (hash mismatch)");
  EXPECT_EQ(v.rows, 3);
}

TEST_F(LedgerTest, VerifyCatchesAnEditedPayloadWhileOpen) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  for (int i = 1; i <= 4; ++i) ASSERT_TRUE(l->Append(SampleRow(i)).ok());
  Tamper("UPDATE ledger SET payload = x'00' WHERE seq = 2");
  Ledger::VerifyResult v = l->Verify();
  ExpectBroken(v, 2, "edited");
}

TEST_F(LedgerTest, VerifyRecentFollowsAppendsAndStillCatchesAnEditedRow) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  std::vector<Row> rows;
  for (int i = 1; i <= 4; ++i) rows.push_back(*l->Append(SampleRow(i)));
  const absl::Duration long_ago = absl::Hours(1);
  Ledger::VerifyResult v = l->VerifyRecent(1000, long_ago);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 4);
  EXPECT_EQ(v.head_hash, rows.back().hash);
  // A new row: verified at the next ask, whatever the age.
  rows.push_back(*l->Append(SampleRow(5)));
  v = l->VerifyRecent(1000, long_ago);
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 5);
  EXPECT_EQ(v.head_hash, rows.back().hash);
  // The tail asked for is part of the key.
  EXPECT_EQ(l->VerifyRecent(2, long_ago).rows, 2);
  EXPECT_EQ(l->VerifyRecent(1000, long_ago).rows, 5);
  // A row edited behind the Ledger's back: the result stands while the head stays (up to
  // max_age; a zero max_age verifies again at once) ...
  Tamper("UPDATE ledger SET amount = 999 WHERE seq = 2");
  EXPECT_TRUE(l->VerifyRecent(1000, long_ago).ok);
  // ... and the next append makes the next ask verify and fail.
  ASSERT_TRUE(l->Append(SampleRow(6)).ok());
  ExpectBroken(l->VerifyRecent(1000, long_ago), 2, "row 2 was edited");
  ExpectBroken(l->VerifyRecent(1000, long_ago), 2, "row 2 was edited");
  // A broken ledger takes no more rows (as after Verify).
  EXPECT_FALSE(l->Append(SampleRow(7)).ok());
}

TEST_F(LedgerTest, VerifyRecentWithZeroAgeVerifiesEachTime) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(l->Append(SampleRow(i)).ok());
  EXPECT_TRUE(l->VerifyRecent(0, absl::ZeroDuration()).ok);
  Tamper("UPDATE ledger SET amount = 999 WHERE seq = 3");
  ExpectBroken(l->VerifyRecent(0, absl::ZeroDuration()), 3, "edited");
}

TEST_F(LedgerTest, VerifyCatchesADeletedMiddleRow) {
  Ledger::VerifyResult v = TamperAndVerify(5, "DELETE FROM ledger WHERE seq = 3");
  ExpectBroken(v, 4, "row 3 is missing (deleted): row 4 follows row 2");
}

TEST_F(LedgerTest, VerifyCatchesDeletedLastRowsAndOpenRefusesToContinue) {
  Ledger::VerifyResult v = TamperAndVerify(5, "DELETE FROM ledger WHERE seq >= 4");
  ExpectBroken(v, /*bad_seq=*/0, "rows 4 to 5 are missing (deleted from the end)");  // the head
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("ledger verify"));
}

TEST_F(LedgerTest, VerifyCatchesSwappedRows) {
  Ledger::VerifyResult v = TamperAndVerify(
      5,
      "UPDATE ledger SET seq = -2 WHERE seq = 2; UPDATE ledger SET seq = 2 WHERE seq = 3; "
      "UPDATE ledger SET seq = 3 WHERE seq = -2;");
  ExpectBroken(v, 2, "row 2 is out of order (rows reordered)");
  EXPECT_THAT(v.problem, HasSubstr("hash of row 3"));
}

TEST_F(LedgerTest, VerifyCatchesATamperedHead) {
  Ledger::VerifyResult v = TamperAndVerify(
      3, absl::StrCat("UPDATE chain_head SET hash = '", std::string(63, '0'), "1'"));
  ExpectBroken(v, 0, "the head's hash is not row 3's hash");
  Tamper("UPDATE chain_head SET seq = 2");
  v = VerifyFileOrDie();
  EXPECT_THAT(v.problem, HasSubstr("the head names row 2 but rows go on to 3"));
  Tamper("DELETE FROM chain_head");
  v = VerifyFileOrDie();
  EXPECT_THAT(v.problem, HasSubstr("chain head row is missing"));
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("the chain head is missing"));
}

TEST_F(LedgerTest, VerifyCatchesMalformedValues) {
  Ledger::VerifyResult v = TamperAndVerify(4, "UPDATE ledger SET time = 'yesterday' WHERE seq = 2");
  EXPECT_EQ(v.bad_seq, 2);
  EXPECT_THAT(v.problem, HasSubstr("row 2 is malformed: time 'yesterday'"));
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  MakeLedger(4);
  Tamper("UPDATE ledger SET amount = 'ten' WHERE seq = 3");  // text in an integer column
  v = VerifyFileOrDie();
  EXPECT_EQ(v.bad_seq, 3);
  EXPECT_THAT(v.problem, HasSubstr("row 3 is malformed: column amount holds text"));
}

// Someone who removes the newest row and rewrites the head to match leaves a chain that checks
// out on its own: only the head anchored elsewhere (the head file, or the running process)
// shows it.
TEST_F(LedgerTest, ARewrittenEndIsCaughtByTheRunningProcessAndTheHeadFile) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  std::vector<Row> rows;
  for (int i = 1; i <= 4; ++i) rows.push_back(*l->Append(SampleRow(i)));
  Tamper(absl::StrCat("DELETE FROM ledger WHERE seq = 4; UPDATE chain_head SET seq = 3, hash = '",
                      rows[2].hash, "'"));
  Ledger::VerifyResult f = VerifyFileOrDie();
  EXPECT_TRUE(f.ok) << f.problem;
  EXPECT_NE(f.head_hash, rows[3].hash);  // differs from an anchored copy of the head
  absl::StatusOr<Ledger::VerifyResult> with_head =
      Ledger::VerifyFile(path_, HeadFilePathFor(path_));
  ASSERT_TRUE(with_head.ok()) << with_head.status();
  EXPECT_FALSE(with_head->ok);
  EXPECT_THAT(with_head->problem, HasSubstr("its head file"));
  Ledger::VerifyResult v = l->Verify();
  ExpectBroken(v, 0, "not the head this process wrote last");
  // And the process refuses to write past the rewritten end: no more appends once Verify
  // found the break.
  absl::StatusOr<Row> next = l->Append(SampleRow(5));
  EXPECT_EQ(next.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(next.status().message(), HasSubstr("failed verification while running"));
  EXPECT_EQ(GetReason(next.status()), "LEDGER_UNAVAILABLE");
  EXPECT_EQ(*l->Count(), 3);
}

}  // namespace
}  // namespace desfired::ledger
