// The fixture of the ledger's unit tests: a ledger file in a temporary directory of its own,
// tampered with through the SQLite API (what someone with write access to the file could do).
#ifndef DESFIRED_TESTS_UNIT_CORE_LEDGER_LEDGER_TEST_FIXTURE_H_
#define DESFIRED_TESTS_UNIT_CORE_LEDGER_LEDGER_TEST_FIXTURE_H_

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "core/ledger/ledger.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace desfired::ledger {

inline constexpr char kZeroHash[] =
    "0000000000000000000000000000000000000000000000000000000000000000";

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = absl::StrCat(::testing::TempDir(), "/ledger_test_", getpid(), "_", info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/ledger.sqlite";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Ledger> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
    EXPECT_TRUE(l.ok()) << l.status();
    return l.ok() ? *std::move(l) : nullptr;
  }

  // Runs SQL on the file through a connection of its own (what someone with write access to
  // the file could do).
  void Tamper(const std::string& sql, int extra_flags = 0) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | extra_flags, nullptr),
              SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
    EXPECT_EQ(rc, SQLITE_OK) << (err ? err : "") << " in: " << sql;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  Ledger::VerifyResult VerifyFileOrDie() {
    absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path_);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : Ledger::VerifyResult{};
  }

  // Verify (of the file) after `sql` on a closed ledger of `rows` rows (MakeLedger).
  Ledger::VerifyResult TamperAndVerify(int rows, const std::string& sql) {
    MakeLedger(rows);
    Tamper(sql);
    return VerifyFileOrDie();
  }

  // `v` failed at `bad_seq` (0: the head) with `problem` in its text.
  static void ExpectBroken(const Ledger::VerifyResult& v, int64_t bad_seq,
                           absl::string_view problem) {
    EXPECT_FALSE(v.ok);
    EXPECT_EQ(v.bad_seq, bad_seq);
    EXPECT_THAT(v.problem, ::testing::HasSubstr(problem));
  }

  // The rows of a new ledger of `n` rows (SampleRow 1..n) as appended; the ledger is closed.
  std::vector<Row> AppendRows(int n) {
    std::vector<Row> rows;
    std::unique_ptr<Ledger> l = OpenOrDie();
    if (l == nullptr) return rows;
    for (int i = 1; i <= n; ++i) {
      absl::StatusOr<Row> row = l->Append(SampleRow(i));
      EXPECT_TRUE(row.ok()) << row.status();
      if (row.ok()) rows.push_back(*std::move(row));
    }
    return rows;
  }

  // A ledger of `n` rows (a PENDING / DONE pair per change), closed.
  void MakeLedger(int n) {
    std::unique_ptr<Ledger> l = OpenOrDie();
    for (int i = 1; i <= n; ++i) ASSERT_TRUE(l->Append(SampleRow(i)).ok());
  }

  static Row SampleRow(int i) {
    Row r;
    r.event = i % 2 == 1 ? Event::kPending : Event::kDone;
    r.request_id = absl::StrCat("req-", (i + 1) / 2);
    r.method = "Debit";
    r.uid = "04a1b2c3d4e5f6";
    r.reader = "Test PCD 00 00";
    r.aid = 0xF51001;
    r.file_no = 1;
    r.amount = 10 * i;
    if (i % 2 == 0) {
      r.pending_seq = i - 1;
      r.outcome = "OK";
      r.value_after = 1000 - i;
    }
    return r;
  }

  std::string dir_;
  std::string path_;
};

inline mode_t ModeOf(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

}  // namespace desfired::ledger

#endif  // DESFIRED_TESTS_UNIT_CORE_LEDGER_LEDGER_TEST_FIXTURE_H_
