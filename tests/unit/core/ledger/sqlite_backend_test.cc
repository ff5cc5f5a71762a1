// The SQLite backend: the conformance suite of every backend (tests/testing/
// ledger_backend_test_suite.h), then what is particular to the file — its mode and the -wal /
// -shm files', files that are not ledgers, missing files, the lock that keeps a second writer
// out, and another program holding the write lock.
#include "core/ledger/sqlite_backend.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/ledger_backend_test_suite.h"
#include "tests/unit/core/ledger/ledger_test_fixture.h"

namespace desfired::ledger {
namespace {

using ::desfired::testing::LedgerBackendContainer;
using ::desfired::testing::LedgerBackendParam;
using ::desfired::testing::LedgerBackendParamName;
using ::desfired::testing::LedgerBackendTestSuite;
using ::testing::HasSubstr;

// ---- The conformance suite ----------------------------------------------------------------------

// A ledger file in a temporary directory of its own, removed with the container.
class SqliteContainer : public LedgerBackendContainer {
 public:
  SqliteContainer() {
    static std::atomic<int> next{0};
    dir_ = absl::StrCat(::testing::TempDir(), "/ledger_backend_test_", getpid(), "_", next++);
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  ~SqliteContainer() override { std::filesystem::remove_all(dir_); }

  absl::StatusOr<std::unique_ptr<Backend>> Open() override {
    absl::StatusOr<std::unique_ptr<SqliteBackend>> b = SqliteBackend::Open(dir_ + "/ledger.sqlite");
    if (!b.ok()) return b.status();
    return std::unique_ptr<Backend>(*std::move(b));
  }

 private:
  std::string dir_;
};

INSTANTIATE_TEST_SUITE_P(All, LedgerBackendTestSuite,
                         ::testing::Values(LedgerBackendParam{
                             "Sqlite", [] { return std::make_unique<SqliteContainer>(); }}),
                         LedgerBackendParamName);

// ---- The file -----------------------------------------------------------------------------------

TEST_F(LedgerTest, NewFileAndSideFilesAreOwnerOnly) {
  ::umask(022);  // the usual default: SQLite alone would make the file 0644
  std::unique_ptr<Ledger> l = OpenOrDie();
  ASSERT_TRUE(l->Append(SampleRow(1)).ok());
  EXPECT_EQ(ModeOf(path_), 0600);
  ASSERT_TRUE(std::filesystem::exists(path_ + "-wal"));
  EXPECT_EQ(ModeOf(path_ + "-wal"), 0600);
  EXPECT_EQ(ModeOf(path_ + "-shm"), 0600);
}

TEST_F(LedgerTest, RefusesAFileOthersCanRead) {
  MakeLedger(1);
  ASSERT_EQ(::chmod(path_.c_str(), 0644), 0);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr(path_));
  EXPECT_THAT(l.status().message(), HasSubstr("chmod 600"));
  EXPECT_THAT(l.status().message(), HasSubstr("0644"));
  // Without the check it opens (and the rows are there).
  absl::StatusOr<std::unique_ptr<Ledger>> unchecked =
      Ledger::Open(path_, Ledger::Options{.check_permissions = false});
  ASSERT_TRUE(unchecked.ok()) << unchecked.status();
  EXPECT_EQ(*(*unchecked)->Count(), 1);
}

TEST_F(LedgerTest, RefusesAWorldReadableWalFile) {
  MakeLedger(1);
  std::ofstream(path_ + "-wal");  // an empty WAL: harmless to SQLite
  ASSERT_EQ(::chmod((path_ + "-wal").c_str(), 0604), 0);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr(path_ + "-wal"));
}

TEST_F(LedgerTest, RefusesWhatIsNotALedger) {
  // A text file.
  std::ofstream(path_) << "id,amount\n1,2\n";
  ::chmod(path_.c_str(), 0600);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("not a desfired ledger"));
  EXPECT_THAT(l.status().message(), HasSubstr(path_));
  EXPECT_EQ(Ledger::VerifyFile(path_).status().code(), absl::StatusCode::kFailedPrecondition);

  // Another program's SQLite database: refused, and left as it was (not switched to WAL).
  std::filesystem::remove(path_);
  Tamper("CREATE TABLE accounts (id INTEGER, balance INTEGER)", SQLITE_OPEN_CREATE);
  ::chmod(path_.c_str(), 0600);
  l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("no meta table"));
  std::ostringstream out;
  EXPECT_EQ(Ledger::ExportFile(path_, out, Ledger::ExportFormat::kCsv).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));

  // A ledger of a newer format.
  std::filesystem::remove(path_);
  MakeLedger(0);
  Tamper("UPDATE meta SET value = '99' WHERE key = 'format_version'");
  l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("format version 99"));
}

// A ledger of format version 1 (no Transaction MAC columns): read-only it verifies and exports
// as it is (the columns absent); opened by a writer it is migrated to version 2 in place, its
// rows and hashes untouched, and rows with the new columns append and verify.
TEST_F(LedgerTest, MigratesAVersion1File) {
  MakeLedger(4);
  Tamper(
      "ALTER TABLE ledger DROP COLUMN tmc; ALTER TABLE ledger DROP COLUMN tmv;"
      "ALTER TABLE ledger DROP COLUMN reader_id;"
      "UPDATE meta SET value = '1' WHERE key = 'format_version';");
  Ledger::VerifyResult v = VerifyFileOrDie();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 4);
  const std::string head_v1 = v.head_hash;
  std::ostringstream exported;
  ASSERT_TRUE(Ledger::ExportFile(path_, exported, Ledger::ExportFormat::kJsonLines).ok());
  EXPECT_THAT(exported.str(), HasSubstr("\"tmc\":null,\"tmv\":\"\",\"reader_id\":\"\"}"));

  {
    std::unique_ptr<Ledger> l = OpenOrDie();
    ASSERT_NE(l, nullptr);
    Row done = SampleRow(6);
    done.tmc = 1;
    done.tmv = "a1a2a3a4a5a6a7a8";
    done.reader_id = "28bf1982be086fbc60a22daeb66613ee";
    ASSERT_TRUE(l->Append(SampleRow(5)).ok());
    ASSERT_TRUE(l->Append(done).ok());
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'format_version'", -1, &q,
                               nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(sqlite3_column_text(q, 0))), "2");
  sqlite3_finalize(q);
  sqlite3_close(db);

  v = VerifyFileOrDie();
  EXPECT_TRUE(v.ok) << v.problem;
  EXPECT_EQ(v.rows, 6);
  std::ostringstream after;
  ASSERT_TRUE(Ledger::ExportFile(path_, after, Ledger::ExportFormat::kJsonLines).ok());
  EXPECT_THAT(after.str(), HasSubstr("\"tmc\":1,\"tmv\":\"a1a2a3a4a5a6a7a8\",\"reader_id\":"
                                     "\"28bf1982be086fbc60a22daeb66613ee\"}"));
  // The rows of version 1 kept their hashes: the old head is row 4's hash.
  EXPECT_THAT(after.str(), HasSubstr(absl::StrCat("\"hash\":\"", head_v1, "\"")));
  // An edited Transaction MAC column shows.
  Tamper("UPDATE ledger SET tmv = 'a1a2a3a4a5a6a7a9' WHERE seq = 6");
  ExpectBroken(VerifyFileOrDie(), 6, "hash");
}

TEST_F(LedgerTest, MissingFilesAndDirectoriesAreNamed) {
  absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path_);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(v.status().message(), HasSubstr(path_));
  EXPECT_FALSE(std::filesystem::exists(path_));  // read-only: nothing created
  const std::string nodir = dir_ + "/missing/ledger.sqlite";
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(nodir);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(l.status().message(), HasSubstr(nodir));
}

TEST_F(LedgerTest, ASecondWriterIsRefused) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  absl::StatusOr<std::unique_ptr<Ledger>> second = Ledger::Open(path_);
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("in use"));
  ASSERT_TRUE(l->Append(SampleRow(1)).ok());  // the first one is unaffected
  l.reset();
  EXPECT_TRUE(Ledger::Open(path_).ok());
}

// ---- Failures -----------------------------------------------------------------------------------

// Another program holds the write lock (an sqlite3 shell in a transaction): the append gives up
// after busy_timeout with UNAVAILABLE and works once the lock is gone.
TEST_F(LedgerTest, AnAppendBlockedByAnotherWriterFailsCleanly) {
  absl::StatusOr<std::unique_ptr<Ledger>> opened =
      Ledger::Open(path_, Ledger::Options{.busy_timeout = absl::Milliseconds(200)});
  ASSERT_TRUE(opened.ok());
  std::unique_ptr<Ledger> l = *std::move(opened);
  ASSERT_TRUE(l->Append(SampleRow(1)).ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path_.c_str(), &other, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  absl::StatusOr<Row> failed = l->Append(SampleRow(2));
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  EXPECT_THAT(failed.status().message(), HasSubstr("locked"));
  sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(other);
  absl::StatusOr<Row> next = l->Append(SampleRow(2));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->seq, 2);
  EXPECT_TRUE(l->Verify().ok);
}

}  // namespace
}  // namespace desfired::ledger
