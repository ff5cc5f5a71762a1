// Shipping while desfired runs (docs/fleet.md): debits through the real desfired binary on the
// sandboxed pcscd + vpcd + desfire-sim transit card, while desfired-ship ships desfired's
// ledger file to a throwaway PostgreSQL (postgres_sandbox.h). The central ledger ends equal to
// the local one row for row (both exports), both chains verify with `desfirectl ledger verify`
// and end at the same head hash; desfired-ship restarted in the middle resumes without a row
// twice.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/ledger/export.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/sqlite_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/postgres_sandbox.h"

namespace desfired {
namespace {

using ::testing::HasSubstr;

constexpr char kShipRole[] = "desfired_ship";
constexpr char kInstance[] = "gate-e2e";

std::string ExportOf(absl::StatusOr<std::unique_ptr<ledger::Snapshot>> view) {
  EXPECT_TRUE(view.ok()) << view.status();
  if (!view.ok()) return "";
  std::ostringstream out;
  absl::Status s = ledger::Export(**view, out, ledger::ExportFormat::kJsonLines);
  EXPECT_TRUE(s.ok()) << s;
  return out.str();
}

// The "head <hex>" `desfirectl ledger verify` prints, with the whole output when it failed.
std::string VerifiedHead(const std::string& args) {
  testing::CliRun v = testing::RunDesfirectl(DESFIRECTL, "ledger verify " + args);
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  EXPECT_THAT(v.out, HasSubstr("ledger OK"));
  const size_t at = v.out.find("head ");
  return at == std::string::npos ? v.out : v.out.substr(at + 5, 64);
}

class LedgerShipE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pg_ = testing::SharedPostgresOrSkip();
    if (pg_ == nullptr) GTEST_SKIP() << "no PostgreSQL sandbox";
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    ASSERT_TRUE(pg_->Exec(absl::StrCat("CREATE ROLE ", kShipRole, " LOGIN")).ok());
    ASSERT_TRUE(ledger::PostgresBackend::Migrate(pg_->ConnInfo(), kShipRole).ok());
    conn_file_ = sandbox_->dir() + "/central.conn";
    std::ofstream(conn_file_) << pg_->ConnInfo(kShipRole) << "\n";
    ASSERT_EQ(chmod(conn_file_.c_str(), 0600), 0);
    data_dir_ = sandbox_->dir() + "/data";
    ASSERT_EQ(mkdir(data_dir_.c_str(), 0700), 0);
    ledger_ = data_dir_ + "/ledger.sqlite";
  }
  void TearDown() override { StopShipper(); }

  void StartShipper() {
    const std::vector<std::string> argv = {DESFIRED_SHIP,    "--ledger",
                                           ledger_,          "--central",
                                           conn_file_,       "--instance",
                                           kInstance,        "--poll_interval=20ms",
                                           "--batch_rows=7", "--max_retry_interval=200ms"};
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    shipper_ = fork();
    if (shipper_ == 0) {
      execv(args[0], args.data());
      _exit(127);
    }
  }
  int StopShipper() {
    if (shipper_ <= 0) return -1;
    kill(shipper_, SIGTERM);
    int status = 0;
    waitpid(shipper_, &status, 0);
    shipper_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // Seq of the central head (-1: none yet).
  int64_t CentralSeq() {
    absl::StatusOr<std::string> seq =
        pg_->Query(absl::StrCat("SELECT seq FROM ledger_heads WHERE instance = '", kInstance, "'"));
    if (!seq.ok() || seq->empty()) return -1;
    return std::stoll(*seq);
  }
  int64_t LocalSeq() {
    absl::StatusOr<std::unique_ptr<ledger::Snapshot>> view =
        ledger::SqliteBackend::OpenFile(ledger_);
    if (!view.ok()) return -1;
    absl::StatusOr<std::optional<ledger::StoredHead>> head = (*view)->HeadAsStored();
    return head.ok() && head->has_value() ? (*head)->seq.integer : -1;
  }
  // Debits of 1 on the transit card, each checked.
  void Debit(v1::CardService::Stub& cards, int n, const std::string& tag) {
    for (int i = 0; i < n; ++i) {
      v1::DebitResponse resp;
      grpc::Status s = cards.Debit(
          testing::Ctx().get(),
          testing::TransitDebit(sandbox_->ReaderName(0), 1, absl::StrCat(tag, "-", i)), &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }

  testing::PostgresSandbox* pg_ = nullptr;
  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string conn_file_, data_dir_, ledger_;
  pid_t shipper_ = -1;
};

TEST_F(LedgerShipE2eTest, CentralEqualsTheLedgerOfARunningDesfired) {
  absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir());
  ASSERT_TRUE(keys.ok()) << keys.status();
  testing::LoopbackDesfired server(
      sandbox_->dir(), {"--keys=" + *keys, "--data_dir=" + data_dir_,
                        absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm")});
  ASSERT_GT(server.port(), 0) << server.err();
  StartShipper();
  const int before = testing::TransitValue(server.cards(), sandbox_->ReaderName(0));
  ASSERT_NO_FATAL_FAILURE(Debit(server.cards(), 12, "first"));
  // Shipping goes on beside desfired's appends; the shipper is stopped and started again in
  // the middle (a restart of its unit), then more debits.
  EXPECT_EQ(StopShipper(), 0);
  ASSERT_NO_FATAL_FAILURE(Debit(server.cards(), 9, "second"));
  StartShipper();
  ASSERT_NO_FATAL_FAILURE(Debit(server.cards(), 9, "third"));
  EXPECT_EQ(testing::TransitValue(server.cards(), sandbox_->ReaderName(0)), before - 30);
  // Caught up: the central head reaches the local one (every debit: a PENDING and a DONE row).
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline && (LocalSeq() < 60 || CentralSeq() != LocalSeq())) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GE(LocalSeq(), 60);
  ASSERT_EQ(CentralSeq(), LocalSeq());
  // Row for row, while desfired still has the file open.
  const std::string local = ExportOf(ledger::SqliteBackend::OpenFile(ledger_));
  const std::string central =
      ExportOf(ledger::PostgresBackend::OpenSnapshot(pg_->ConnInfo(), kInstance));
  EXPECT_FALSE(local.empty());
  EXPECT_TRUE(local == central) << "the central export differs from the local one (" << local.size()
                                << " and " << central.size() << " bytes)";
  // Both chains verify and end at the same hash.
  const std::string local_head = VerifiedHead("--ledger " + ledger_);
  const std::string central_head =
      VerifiedHead(absl::StrCat("--postgres ", conn_file_, " --instance ", kInstance));
  EXPECT_EQ(local_head.size(), 64u) << local_head;
  EXPECT_EQ(local_head, central_head);
  EXPECT_EQ(StopShipper(), 0);
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

}  // namespace
}  // namespace desfired
