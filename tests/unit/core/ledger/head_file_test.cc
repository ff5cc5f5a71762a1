// The head file (core/ledger/head_file.h) and the start-up checks and recovery of a Ledger
// (core/ledger/startup_check.h, Ledger::Options::recover_reason) on real files: the ledger
// emptied, deleted, cut short, replaced, edited, or its end rewritten with valid hashes.
#include "core/ledger/head_file.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/ledger/ledger.h"
#include "core/ledger/startup_check.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/unit/core/ledger/ledger_test_fixture.h"

namespace desfired::ledger {
namespace {

using ::testing::HasSubstr;

Head HeadOf(const Row& row) { return Head{row.seq, *ParseHashHex(row.hash)}; }

// ---- The file ----------------------------------------------------------------------------------

TEST(HeadFileFormatTest, PathsSlotsAndTornWrites) {
  EXPECT_EQ(HeadFilePathFor("/var/lib/desfired/ledger.sqlite"), "/var/lib/desfired/ledger.head");
  EXPECT_EQ(HeadFilePathFor("/tmp/x.db"), "/tmp/x.db.head");

  Head h{42, kGenesisHash};
  h.hash[0] = 0xab;
  const std::string slot = EncodeHeadSlot(h);
  ASSERT_EQ(slot.size(), kHeadSlotSize);
  EXPECT_EQ(slot.substr(0, 26), "desfired-ledger-head 1 42 ");
  EXPECT_EQ(slot.back(), '\n');
  std::optional<Head> back = DecodeHeadSlot(slot);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, h);

  // A changed digit, a torn slot, a bad check: not a head.
  std::string edited = slot;
  edited[24] = '3';  // seq 32
  EXPECT_FALSE(DecodeHeadSlot(edited).has_value());
  std::string torn = slot.substr(0, 60) + std::string(kHeadSlotSize - 60, '\0');
  EXPECT_FALSE(DecodeHeadSlot(torn).has_value());
  EXPECT_FALSE(DecodeHeadSlot("").has_value());
}

class HeadFileTest : public LedgerTest {
 protected:
  std::string head_path() const { return dir_ + "/ledger.head"; }

  // A closed ledger of five rows, then the newest two deleted and the head rewritten to row 3:
  // the file verifies on its own, only the head file knows.
  void CutShortToThreeRows() {
    const std::vector<Row> rows = AppendRows(5);
    ASSERT_EQ(rows.size(), 5u);
    Tamper(absl::StrCat("DELETE FROM ledger WHERE seq > 3; UPDATE chain_head SET seq = 3, hash = '",
                        rows[2].hash, "'"));
  }
};

TEST_F(HeadFileTest, WriteAlternatesSlotsAndReadTakesTheNewestValidOne) {
  Head h0{};
  absl::StatusOr<std::unique_ptr<HeadFile>> f = HeadFile::Create(head_path(), h0);
  ASSERT_TRUE(f.ok()) << f.status();
  struct stat st {};
  ASSERT_EQ(::stat(head_path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kHeadFileSize));
  Head h1{1, kGenesisHash};
  h1.hash[5] = 7;
  ASSERT_TRUE((*f)->Write(h1).ok());
  EXPECT_EQ(**HeadFile::Read(head_path(), true), h1);

  // A write of head 2 torn by a crash: slot 0 is garbage, slot 1 still holds head 1.
  {
    std::fstream io(head_path(), std::ios::in | std::ios::out | std::ios::binary);
    io.seekp(0);
    io << "desfired-ledger-head 1 2 ";
  }
  EXPECT_EQ(**HeadFile::Read(head_path(), true), h1);

  // Both slots broken: damaged. A missing file: nullopt.
  std::ofstream(head_path(), std::ios::trunc) << std::string(kHeadFileSize, 'x');
  EXPECT_EQ(HeadFile::Read(head_path(), true).status().code(), absl::StatusCode::kDataLoss);
  std::ofstream(head_path(), std::ios::trunc) << "short";
  EXPECT_EQ(HeadFile::Read(head_path(), true).status().code(), absl::StatusCode::kDataLoss);
  std::filesystem::remove(head_path());
  absl::StatusOr<std::optional<Head>> none = HeadFile::Read(head_path(), true);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
}

TEST_F(HeadFileTest, AHeadFileOthersCanReadIsRefused) {
  MakeLedger(2);
  ASSERT_EQ(::chmod(head_path().c_str(), 0644), 0);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  EXPECT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(l.status().message(), HasSubstr("chmod 600"));
}

// ---- The Ledger keeps it -----------------------------------------------------------------------

TEST_F(HeadFileTest, TheHeadFileFollowsEveryAppend) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  EXPECT_EQ(**HeadFile::Read(head_path(), true), Head{});  // a new ledger has one at once
  Row last;
  for (int i = 1; i <= 3; ++i) last = *l->Append(SampleRow(i));
  EXPECT_EQ(**HeadFile::Read(head_path(), true), HeadOf(last));
  l.reset();
  l = OpenOrDie();  // and opens again
  EXPECT_TRUE(l->Verify().ok);
}

TEST_F(HeadFileTest, AHeadFileOneRowBehindIsAcceptedAndCaughtUp) {
  const std::vector<Row> rows = AppendRows(3);
  // A crash between the row and its head-file write: the file holds row 2.
  ASSERT_TRUE((*HeadFile::OpenForWrite(head_path()))->Write(HeadOf(rows[1])).ok());
  ASSERT_TRUE((*HeadFile::OpenForWrite(head_path()))->Write(HeadOf(rows[0])).ok());
  EXPECT_EQ(**HeadFile::Read(head_path(), true), HeadOf(rows[1]));
  std::unique_ptr<Ledger> l = OpenOrDie();
  EXPECT_EQ(**HeadFile::Read(head_path(), true), HeadOf(rows[2]));
  absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path_, head_path());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->problem;
}

// A deferred row (Durability::kDeferred: a DONE row settled from the card if lost) is not named
// by the head file until a durable append follows: the head file never names a row a crash of
// the machine could lose. At most one deferred row waits: the next is made durable.
TEST_F(HeadFileTest, DeferredRowsWaitForTheNextDurableAppend) {
  std::unique_ptr<Ledger> l = OpenOrDie();
  const Row first = *l->Append(SampleRow(1));
  const Row deferred = *l->Append(SampleRow(2), Durability::kDeferred);
  EXPECT_EQ(**HeadFile::Read(head_path(), true), HeadOf(first));
  EXPECT_TRUE(l->Verify().ok);  // the head file lagging the deferred row is no break
  // Every reader sees it at once.
  EXPECT_EQ((**Ledger::LatestInFile(path_, deferred.request_id)).seq, deferred.seq);
  const Row second_deferred = *l->Append(SampleRow(3), Durability::kDeferred);
  EXPECT_EQ(**HeadFile::Read(head_path(), true), HeadOf(second_deferred));
  const Row last = *l->Append(SampleRow(4), Durability::kDeferred);
  EXPECT_EQ(**HeadFile::Read(head_path(), true), HeadOf(second_deferred));
  // Closing makes the deferred row durable and the head file names it.
  l.reset();
  EXPECT_EQ(**HeadFile::Read(head_path(), true), HeadOf(last));
  l = OpenOrDie();
  EXPECT_TRUE(l->Verify().ok);
}

// The head file is written without a sync: a crash of the machine may leave it several rows
// behind the store. Open accepts that only when the head file is older than the machine's boot;
// otherwise rows past it were added by someone else.
TEST_F(HeadFileTest, AHeadFileSeveralRowsBehindIsAcceptedOnlyAfterARestartOfTheMachine) {
  const std::vector<Row> rows = AppendRows(4);
  ASSERT_TRUE((*HeadFile::OpenForWrite(head_path()))->Write(HeadOf(rows[0])).ok());
  ASSERT_TRUE((*HeadFile::OpenForWrite(head_path()))->Write(HeadOf(rows[1])).ok());
  ASSERT_EQ(**HeadFile::Read(head_path(), true), HeadOf(rows[1]));  // two rows behind
  {
    absl::StatusOr<std::unique_ptr<SqliteBackend>> store = SqliteBackend::Open(path_);
    ASSERT_TRUE(store.ok()) << store.status();
    absl::StatusOr<StartupFinding> rebooted =
        CheckAtStartup(**store, head_path(), {.boot_time = absl::Now() + absl::Hours(1)});
    ASSERT_TRUE(rebooted.ok()) << rebooted.status();
    EXPECT_EQ(rebooted->problem, "");
    EXPECT_TRUE(rebooted->head_file_stale);
    absl::StatusOr<StartupFinding> same_boot =
        CheckAtStartup(**store, head_path(), {.boot_time = absl::InfinitePast()});
    ASSERT_TRUE(same_boot.ok()) << same_boot.status();
    EXPECT_THAT(same_boot->problem, HasSubstr("the ledger goes on to row 4"));
  }
  // This machine has not restarted since the head file was written: refused.
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("rows were added by another program"));
  // A head file whose row is not in the store is refused after a restart too.
  Head other = HeadOf(rows[1]);
  other.hash[0] ^= 1;
  ASSERT_TRUE((*HeadFile::OpenForWrite(head_path()))->Write(other).ok());
  absl::StatusOr<std::unique_ptr<SqliteBackend>> store = SqliteBackend::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<StartupFinding> f =
      CheckAtStartup(**store, head_path(), {.boot_time = absl::Now() + absl::Hours(1)});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_THAT(f->problem, HasSubstr("the ledger goes on to row 4"));
}

// ---- What Open refuses -------------------------------------------------------------------------

TEST_F(HeadFileTest, AnEmptiedLedgerIsRefused) {
  MakeLedger(4);
  std::ofstream(path_, std::ios::trunc);  // : > ledger.sqlite
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("the ledger file is empty (0 bytes)"));
  EXPECT_THAT(l.status().message(), HasSubstr("4 rows"));
  EXPECT_EQ(std::filesystem::file_size(path_), 0u);  // left as it was
  // An empty store of another kind: the same check, by its rows.
  absl::StatusOr<std::unique_ptr<SqliteBackend>> store = SqliteBackend::Open(path_);
  ASSERT_TRUE(store.ok()) << store.status();
  l = Ledger::Open(*std::move(store), Ledger::Options{.head_file = head_path()});
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("the ledger is empty but its head file"));
  EXPECT_THAT(l.status().message(), HasSubstr("--ledger_recover"));
}

TEST_F(HeadFileTest, ADeletedLedgerIsRefusedAndNotCreated) {
  MakeLedger(2);
  std::filesystem::remove(path_);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("the ledger file is missing"));
  EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(HeadFileTest, ALedgerCutShortIsRefused) {
  CutShortToThreeRows();
  EXPECT_TRUE(VerifyFileOrDie().ok);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("rows 4 to 5 are missing"));
}

TEST_F(HeadFileTest, ALedgerReplacedByAnotherIsRefused) {
  MakeLedger(3);
  const std::string other_dir = dir_ + "/other";
  std::filesystem::create_directories(other_dir);
  {
    std::unique_ptr<Ledger> other = *Ledger::Open(other_dir + "/ledger.sqlite");
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(other->Append(SampleRow(i)).ok());
  }
  std::filesystem::copy_file(other_dir + "/ledger.sqlite", path_,
                             std::filesystem::copy_options::overwrite_existing);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("is not the one desfired wrote"));
}

TEST_F(HeadFileTest, AnEditedRowIsRefused) {
  MakeLedger(6);
  Tamper("UPDATE ledger SET amount = 1 WHERE seq = 2");
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("row 2 was edited"));
  // Only the newest rows are verified at start-up: with a bound below the row, it opens.
  EXPECT_TRUE(Ledger::Open(path_, Ledger::Options{.verify_rows = 3}).ok());
}

// The last row edited, its hash recomputed and the head moved to it: the file verifies on its
// own, only the head file shows it.
TEST_F(HeadFileTest, ARewrittenLastRowIsRefused) {
  const std::vector<Row> rows = AppendRows(3);
  Row forged = rows[2];
  forged.amount = 1;
  const std::string hash = HashHex(ChainHash(*ParseHashHex(forged.prev_hash), ToStored(forged)));
  Tamper(absl::StrCat("UPDATE ledger SET amount = 1, hash = '", hash,
                      "' WHERE seq = 3; UPDATE chain_head SET hash = '", hash, "'"));
  EXPECT_TRUE(VerifyFileOrDie().ok);
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("last row (row 3) is not the one desfired wrote"));
  absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path_, head_path());
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->ok);
}

TEST_F(HeadFileTest, ALedgerWithoutItsHeadFileIsRefused) {
  MakeLedger(2);
  std::filesystem::remove(head_path());
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_EQ(l.status().code(), absl::StatusCode::kFailedPrecondition) << l.status();
  EXPECT_THAT(l.status().message(), HasSubstr("but no head file"));
}

// ---- Recovery ----------------------------------------------------------------------------------

TEST_F(HeadFileTest, RecoveringAnEmptiedLedgerStartsAChainWithTheEvent) {
  const std::vector<Row> rows = AppendRows(4);
  std::ofstream(path_, std::ios::trunc);
  absl::StatusOr<std::unique_ptr<Ledger>> l =
      Ledger::Open(path_, Ledger::Options{.recover_reason = "disk replaced, ticket 7"});
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(*(*l)->Count(), 1);
  std::ostringstream out;
  ASSERT_TRUE((*l)->Export(out, Ledger::ExportFormat::kJsonLines).ok());
  EXPECT_THAT(out.str(), HasSubstr("\"event\":\"RECOVERED\""));
  EXPECT_THAT(out.str(), HasSubstr("disk replaced, ticket 7"));
  EXPECT_THAT(out.str(), HasSubstr(rows[3].hash));  // the old head, in the chained row
  l->reset();
  absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path_, head_path());
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->ok) << v->problem;
  // Recovered once: the flag is refused now, the ledger opens without it.
  absl::StatusOr<std::unique_ptr<Ledger>> again =
      Ledger::Open(path_, Ledger::Options{.recover_reason = "again"});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("nothing to recover"));
  EXPECT_TRUE(Ledger::Open(path_).ok());
}

TEST_F(HeadFileTest, RecoveringAnEditedLedgerKeepsTheOldFileAside) {
  MakeLedger(4);
  Tamper("UPDATE ledger SET amount = 1 WHERE seq = 2");
  absl::StatusOr<std::unique_ptr<Ledger>> l =
      Ledger::Open(path_, Ledger::Options{.recover_reason = "investigated"});
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(*(*l)->Count(), 1);
  std::optional<Row> none = *(*l)->Latest("req-1");
  EXPECT_FALSE(none.has_value());
  l->reset();
  std::vector<std::string> aside;
  for (const auto& e : std::filesystem::directory_iterator(dir_)) {
    if (e.path().filename().string().find("ledger.sqlite.before-recovery-") == 0) {
      aside.push_back(e.path().string());
    }
  }
  ASSERT_EQ(aside.size(), 1u);
  Ledger::VerifyResult old = *Ledger::VerifyFile(aside[0]);
  EXPECT_FALSE(old.ok);
  EXPECT_EQ(old.rows, 2);  // the old rows are all still there, the edit too
  EXPECT_TRUE(Ledger::VerifyFile(path_, head_path())->ok);
}

TEST_F(HeadFileTest, RecoveringALedgerCutShortGoesOnWithItsChain) {
  CutShortToThreeRows();
  absl::StatusOr<std::unique_ptr<Ledger>> l =
      Ledger::Open(path_, Ledger::Options{.recover_reason = "restored from backup"});
  ASSERT_TRUE(l.ok()) << l.status();
  EXPECT_EQ(*(*l)->Count(), 4);  // rows 1-3 kept, the RECOVERED row appended
  EXPECT_TRUE((*(*l)->Latest("req-1")).has_value());
  EXPECT_TRUE((*l)->Verify().ok);
}

}  // namespace
}  // namespace desfired::ledger
