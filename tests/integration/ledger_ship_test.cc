// The shipper (core/ledger/shipper.h, desfired-ship) from real SQLite ledgers to a real
// PostgreSQL (tests/testing/postgres_sandbox.h, one server for the whole binary), with faults:
// PostgreSQL killed by pid while rows are shipped and started again, the shipper killed with
// SIGKILL inside a batch and started again, a central head ahead of, forked from or behind the
// box (refused, nothing changed centrally), and rows whose times jump backwards. After each
// recovery the central export equals the local export row for row, and the central chain
// verifies with `desfirectl ledger verify --postgres`.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "bench/ledger_rows.h"
#include "core/ledger/export.h"
#include "core/ledger/ledger.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/postgres_db.h"
#include "core/ledger/shipper.h"
#include "core/ledger/sqlite_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/postgres_sandbox.h"

namespace desfired::ledger {
namespace {

using ::testing::HasSubstr;

constexpr char kShipRole[] = "desfired_ship";

// The shared sandbox, migrated once, with the shipping role.
testing::PostgresSandbox* Central() {
  static bool migrated = false;
  testing::PostgresSandbox* pg = testing::SharedPostgresOrSkip();
  if (pg == nullptr || migrated) return pg;
  absl::Status role = pg->Exec(absl::StrCat("CREATE ROLE ", kShipRole, " LOGIN"));
  absl::Status s = PostgresBackend::Migrate(pg->ConnInfo(), kShipRole);
  EXPECT_TRUE(role.ok() && s.ok()) << role << s;
  migrated = role.ok() && s.ok();
  return migrated ? pg : nullptr;
}

class ShipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = Central();
    if (pg_ == nullptr) GTEST_SKIP() << "no PostgreSQL sandbox";
    // tmpfs when there is one: the local ledger syncs every row.
    const std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : ::testing::TempDir();
    dir_ = absl::StrCat(base, "/ship-test-", getpid(), "-",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    chmod(dir_.c_str(), 0700);
    conn_file_ = dir_ + "/central.conn";
    {
      std::ofstream f(conn_file_);
      f << pg_->ConnInfo(kShipRole) << "\n";
    }
    chmod(conn_file_.c_str(), 0600);
  }
  void TearDown() override {
    if (shipper_pid_ > 0) {
      kill(shipper_pid_, SIGKILL);
      waitpid(shipper_pid_, nullptr, 0);
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string LedgerPath(const std::string& name = "ledger") const {
    return absl::StrCat(dir_, "/", name, ".sqlite");
  }

  // Appends `n` rows to `ledger` (a debit's PENDING and DONE rows, request ids from `tag`).
  static void AppendRows(Ledger& ledger, int n, const std::string& tag) {
    for (int i = 0; i < n; ++i) {
      Row row = TypicalRow(i);  // what desfired writes for a debit
      row.request_id = absl::StrCat(tag, "-", i / 2);
      absl::StatusOr<Row> stored = ledger.Append(row);
      ASSERT_TRUE(stored.ok()) << stored.status();
    }
  }
  // A new local ledger of `n` rows at `path`, closed again.
  static void MakeLedger(const std::string& path, int n, const std::string& tag) {
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(path);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    AppendRows(**ledger, n, tag);
  }

  std::unique_ptr<Shipper> NewShipper(const std::string& path, const std::string& instance,
                                      int64_t batch = 1000) {
    absl::StatusOr<std::unique_ptr<Shipper>> s =
        Shipper::Create({.ledger_path = path,
                         .conninfo = pg_->ConnInfo(kShipRole),
                         .instance = instance,
                         .state_path = "",
                         .batch_rows = batch});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? *std::move(s) : nullptr;
  }

  // Ships until caught up; the rows sent.
  static int64_t ShipAll(Shipper& shipper) {
    int64_t total = 0;
    for (;;) {
      absl::StatusOr<int64_t> sent = shipper.Ship();
      EXPECT_TRUE(sent.ok()) << sent.status();
      if (!sent.ok() || *sent == 0) return total;
      total += *sent;
    }
  }

  int64_t CentralSeq(const std::string& instance) const {
    absl::StatusOr<std::unique_ptr<PostgresBackend>> b =
        PostgresBackend::Open(pg_->ConnInfo(), instance);
    if (!b.ok()) return -1;
    absl::StatusOr<Head> h = (*b)->ReadHead();
    return h.ok() ? h->seq : -1;
  }

  static std::string ExportOf(Snapshot& view) {
    std::ostringstream out;
    absl::Status s = Export(view, out, ExportFormat::kJsonLines);
    EXPECT_TRUE(s.ok()) << s;
    return out.str();
  }
  std::string LocalExport(const std::string& path) const {
    absl::StatusOr<std::unique_ptr<Snapshot>> view = SqliteBackend::OpenFile(path);
    EXPECT_TRUE(view.ok()) << view.status();
    return view.ok() ? ExportOf(**view) : "";
  }
  std::string CentralExport(const std::string& instance) const {
    absl::StatusOr<std::unique_ptr<Snapshot>> view =
        PostgresBackend::OpenSnapshot(pg_->ConnInfo(), instance);
    EXPECT_TRUE(view.ok()) << view.status();
    return view.ok() ? ExportOf(**view) : "";
  }

  // The central ledger equals the local one row for row, and verifies with desfirectl.
  void ExpectSameAndVerified(const std::string& path, const std::string& instance) {
    const std::string local = LocalExport(path), central = CentralExport(instance);
    EXPECT_FALSE(local.empty());
    EXPECT_TRUE(local == central) << "the central export differs from the local one ("
                                  << local.size() << " and " << central.size() << " bytes)";
    testing::CliRun v = testing::RunDesfirectl(
        DESFIRECTL,
        absl::StrCat("ledger verify --postgres ", conn_file_, " --instance ", instance));
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    EXPECT_THAT(v.out, HasSubstr("ledger OK"));
  }

  // desfired-ship in the background.
  void StartShipper(const std::string& path, const std::string& instance,
                    const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {DESFIRED_SHIP,
                                     "--ledger",
                                     path,
                                     "--central",
                                     conn_file_,
                                     "--instance",
                                     instance,
                                     "--poll_interval=20ms",
                                     "--max_retry_interval=200ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    shipper_pid_ = Spawn(argv);
  }
  static pid_t Spawn(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t pid = fork();
    if (pid == 0) {
      execv(args[0], args.data());
      _exit(127);
    }
    return pid;
  }
  // Waits (up to 60 s) until `done` holds.
  template <typename F>
  static bool WaitFor(F done) {
    for (int i = 0; i < 3000; ++i) {
      if (done()) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return done();
  }
  // Stops the background shipper (SIGTERM); its exit code.
  int StopShipper() {
    kill(shipper_pid_, SIGTERM);
    int status = 0;
    waitpid(shipper_pid_, &status, 0);
    shipper_pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // desfired-ship --once to the end; its exit code.
  int ShipOnceProcess(const std::string& path, const std::string& instance) {
    const pid_t pid = Spawn({DESFIRED_SHIP, "--ledger", path, "--central", conn_file_, "--instance",
                             instance, "--once"});
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  testing::PostgresSandbox* pg_ = nullptr;
  std::string dir_, conn_file_;
  pid_t shipper_pid_ = -1;
};

TEST_F(ShipTest, ShipsEveryRowOnceInOrderInBatches) {
  const std::string path = LedgerPath();
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(path);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  AppendRows(**ledger, 2500, "order");
  std::unique_ptr<Shipper> shipper = NewShipper(path, "in-order", 1000);
  ASSERT_NE(shipper, nullptr);
  for (int64_t expected : {1000, 1000, 500, 0}) {
    absl::StatusOr<int64_t> sent = shipper->Ship();
    ASSERT_TRUE(sent.ok()) << sent.status();
    EXPECT_EQ(*sent, expected);
  }
  EXPECT_EQ(CentralSeq("in-order"), 2500);
  // desfired goes on appending (the file stays open and locked): the shipper reads beside it.
  AppendRows(**ledger, 7, "more");
  EXPECT_EQ(ShipAll(*shipper), 7);
  const ShipperStats stats = shipper->stats();
  EXPECT_EQ(stats.rows_shipped, 2507);
  EXPECT_EQ(stats.local_seq, 2507);
  EXPECT_EQ(stats.central_seq, 2507);
  EXPECT_EQ(stats.behind, absl::ZeroDuration());
  const std::string metrics = ShipperMetricsText(stats, "in-order");
  EXPECT_THAT(metrics, HasSubstr("desfired_ship_rows_behind{instance=\"in-order\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr("desfired_ship_rows_shipped_total{instance=\"in-order\"} 2507\n"));
  EXPECT_THAT(ShipperMetricsText(stats, "a\"b\\c\nd"),
              HasSubstr("desfired_ship_rows_behind{instance=\"a\\\"b\\\\c\\nd\"} 0\n"));
  ExpectSameAndVerified(path, "in-order");
  // A restarted shipper resumes from the central head: nothing is sent twice.
  std::unique_ptr<Shipper> again = NewShipper(path, "in-order");
  EXPECT_EQ(ShipAll(*again), 0);
}

TEST_F(ShipTest, PostgresKilledWhileShippingResumesAfterRestart) {
  const std::string path = LedgerPath();
  absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(path);
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  AppendRows(**ledger, 4000, "before");
  const std::string metrics = dir_ + "/ship.prom";
  StartShipper(path, "pg-killed", {"--batch_rows=200", "--metrics_file=" + metrics});
  ASSERT_TRUE(WaitFor([&] { return CentralSeq("pg-killed") > 0; }));
  pg_->Kill();  // SIGKILL to the postmaster, most likely inside a batch
  // The station keeps debiting while the central database is away.
  AppendRows(**ledger, 300, "during");
  // ... and the shipper counts its failed attempts.
  ASSERT_TRUE(WaitFor([&] {
    const std::string m = testing::ReadFile(metrics);
    return m.find("desfired_ship_failures_total{instance=\"pg-killed\"} ") != std::string::npos &&
           m.find("desfired_ship_failures_total{instance=\"pg-killed\"} 0\n") == std::string::npos;
  }));
  ASSERT_TRUE(pg_->Restart().ok());
  AppendRows(**ledger, 100, "after");
  ASSERT_TRUE(WaitFor([&] { return CentralSeq("pg-killed") == 4400; }))
      << "central head " << CentralSeq("pg-killed");
  EXPECT_EQ(StopShipper(), 0);
  EXPECT_THAT(testing::ReadFile(metrics),
              HasSubstr("desfired_ship_rows_behind{instance=\"pg-killed\"} 0\n"));
  ExpectSameAndVerified(path, "pg-killed");
}

TEST_F(ShipTest, ShipperKilledInsideABatchResumesFromTheCentralHead) {
  const std::string path = LedgerPath();
  MakeLedger(path, 8000, "big");
  std::unique_ptr<Shipper> first = NewShipper(path, "ship-killed", 2000);
  ASSERT_EQ(*first->Ship(), 2000);
  // Hold the heads' table so that the next batch stops inside its transaction: its rows
  // copied, its head move waiting.
  absl::StatusOr<postgres::Conn> holder = postgres::Connect(pg_->ConnInfo());
  ASSERT_TRUE(holder.ok()) << holder.status();
  ASSERT_TRUE(postgres::Run(holder->get(), "BEGIN").ok());
  ASSERT_TRUE(postgres::Run(holder->get(), "LOCK TABLE ledger_heads IN EXCLUSIVE MODE").ok());
  StartShipper(path, "ship-killed", {"--batch_rows=2000"});
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> waiting =
        pg_->Query(absl::StrCat("SELECT 1 FROM pg_stat_activity WHERE usename = '", kShipRole,
                                "' AND wait_event_type = 'Lock' AND xact_start IS NOT NULL"));
    return waiting.ok() && !waiting->empty();
  }));
  kill(shipper_pid_, SIGKILL);  // inside the batch
  waitpid(shipper_pid_, nullptr, 0);
  shipper_pid_ = -1;
  ASSERT_TRUE(postgres::Run(holder->get(), "COMMIT").ok());
  // The killed batch left nothing: not its head move, not one of its rows.
  absl::StatusOr<std::string> rows =
      pg_->Query("SELECT count(*) FROM ledger_rows WHERE instance = 'ship-killed'");
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(*rows, "2000\n");
  EXPECT_EQ(CentralSeq("ship-killed"), 2000);
  // Started again, it goes on from the central head.
  EXPECT_EQ(ShipOnceProcess(path, "ship-killed"), 0);
  EXPECT_EQ(CentralSeq("ship-killed"), 8000);
  ExpectSameAndVerified(path, "ship-killed");
}

TEST_F(ShipTest, CentralHeadAheadOfTheBoxIsRefused) {
  // A local backup of 20 rows put back after 30 rows were shipped.
  const std::string path = LedgerPath(), backup = LedgerPath("backup");
  MakeLedger(path, 20, "a");
  std::filesystem::copy_file(path, backup);
  {
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(path);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    AppendRows(**ledger, 10, "b");
  }
  std::unique_ptr<Shipper> shipper = NewShipper(path, "ahead");
  EXPECT_EQ(ShipAll(*shipper), 30);
  std::unique_ptr<Shipper> restored = NewShipper(backup, "ahead");
  absl::StatusOr<int64_t> sent = restored->Ship();
  EXPECT_TRUE(absl::IsFailedPrecondition(sent.status())) << sent.status();
  EXPECT_THAT(sent.status().message(), HasSubstr("AHEAD"));
  EXPECT_THAT(sent.status().message(), HasSubstr("ends at row 20"));
  // The process says the same and exits 1 (a person decides): no retry loop.
  EXPECT_EQ(ShipOnceProcess(backup, "ahead"), 1);
  EXPECT_EQ(CentralSeq("ahead"), 30);
}

TEST_F(ShipTest, ForkedChainIsRefusedNotRepaired) {
  const std::string path = LedgerPath(), other = LedgerPath("other");
  MakeLedger(path, 30, "first");
  MakeLedger(other, 40, "second");  // another chain: a new ledger under the same instance id
  std::unique_ptr<Shipper> shipper = NewShipper(path, "forked");
  EXPECT_EQ(ShipAll(*shipper), 30);
  const std::string before = CentralExport("forked");
  std::unique_ptr<Shipper> fork = NewShipper(other, "forked");
  absl::StatusOr<int64_t> sent = fork->Ship();
  EXPECT_TRUE(absl::IsFailedPrecondition(sent.status())) << sent.status();
  EXPECT_THAT(sent.status().message(), HasSubstr("FORKED"));
  EXPECT_THAT(sent.status().message(), HasSubstr("row 30"));
  EXPECT_EQ(CentralExport("forked"), before);
  ExpectSameAndVerified(path, "forked");
}

TEST_F(ShipTest, CentralHeadBehindWhatItConfirmedIsRefused) {
  const std::string path = LedgerPath();
  MakeLedger(path, 30, "c");
  std::unique_ptr<Shipper> shipper = NewShipper(path, "behind");
  EXPECT_EQ(ShipAll(*shipper), 30);
  // A central backup of row 20 put back (the owner's doing: the shipping role cannot).
  ASSERT_TRUE(pg_->Exec("DELETE FROM ledger_rows WHERE instance = 'behind' AND seq > 20; "
                        "DELETE FROM ledger_heads WHERE instance = 'behind'; "
                        "INSERT INTO ledger_heads SELECT instance, seq, hash FROM ledger_rows "
                        "WHERE instance = 'behind' AND seq = 20")
                  .ok());
  for (std::unique_ptr<Shipper>* s : {&shipper}) {
    absl::StatusOr<int64_t> sent = (*s)->Ship();
    EXPECT_TRUE(absl::IsFailedPrecondition(sent.status())) << sent.status();
    EXPECT_THAT(sent.status().message(), HasSubstr("BEHIND"));
  }
  // A restarted shipper finds the state file and refuses too.
  std::unique_ptr<Shipper> restarted = NewShipper(path, "behind");
  absl::StatusOr<int64_t> sent = restarted->Ship();
  EXPECT_TRUE(absl::IsFailedPrecondition(sent.status())) << sent.status();
  EXPECT_EQ(CentralSeq("behind"), 20);
}

TEST_F(ShipTest, TimesThatJumpBackDoNotReorderRows) {
  // Rows written as desfired would, but with its clock stepped back an hour and then forward a
  // day in the middle: seq orders them, their times are shipped as they are.
  const std::string path = LedgerPath();
  {
    absl::StatusOr<std::unique_ptr<SqliteBackend>> backend = SqliteBackend::Open(path);
    ASSERT_TRUE(backend.ok()) << backend.status();
    Head head{0, kGenesisHash};
    const absl::Time start = absl::FromUnixSeconds(1795000000);
    for (int i = 1; i <= 60; ++i) {
      absl::Time t = start + absl::Seconds(i);
      if (i > 20) t -= absl::Hours(1);
      if (i > 40) t += absl::Hours(24);
      Row typed;
      typed.seq = i;
      typed.time = t;
      typed.request_id = absl::StrCat("t-", i);
      typed.method = "Debit";
      typed.amount = i;
      StoredRow row = ToStored(typed);
      row[Column::kPrevHash] = Value::Text(HashHex(head.hash));
      const Hash hash = ChainHash(head.hash, row);
      row[Column::kHash] = Value::Text(HashHex(hash));
      ASSERT_TRUE((*backend)->Append(row, head).ok());
      head = Head{i, hash};
    }
  }
  std::unique_ptr<Shipper> shipper = NewShipper(path, "clock-jump", 25);
  EXPECT_EQ(ShipAll(*shipper), 60);
  ExpectSameAndVerified(path, "clock-jump");
}

}  // namespace
}  // namespace desfired::ledger
