// The ledger's start-up checks through the real desfired binary (docs/ledger.md, "Start-up
// checks and recovery"): after two debits, the ledger is emptied, deleted, cut short, replaced
// by another ledger, has a row edited, or has its last row and head rewritten with valid
// hashes — and desfired refuses to start, exit code 1, naming the cause, appending nothing.
// --ledger_recover then starts it again with the event recorded as a RECOVERED row.
#include <sqlite3.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "core/ledger/head_file.h"
#include "core/ledger/ledger.h"
#include "desfired/v1/card.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

using testing::Ctx;
using testing::kTransitAid;

class LedgerGuardE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    reader_ = sandbox_->ReaderName(0);
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir());
    ASSERT_TRUE(keys.ok()) << keys.status();
    key_path_ = *keys;
    data_dir_ = absl::StrCat(sandbox_->dir(), "/data");
    ASSERT_EQ(::mkdir(data_dir_.c_str(), 0700), 0);
    ledger_path_ = data_dir_ + "/ledger.sqlite";
    head_path_ = data_dir_ + "/ledger.head";
  }

  std::vector<std::string> Flags(std::vector<std::string> more = {}) const {
    std::vector<std::string> flags = {
        "--keys=" + key_path_, "--data_dir=" + data_dir_, "--shutdown_grace=1s",
        absl::StrCat("--pcsc_socket=", sandbox_->dir(), "/run/pcscd.comm")};
    flags.insert(flags.end(), more.begin(), more.end());
    return flags;
  }

  v1::DebitRequest DebitReq(int32_t amount, const std::string& request_id) const {
    return testing::TransitDebit(reader_, amount, request_id);
  }

  int32_t Value(v1::CardService::Stub& cards) const {
    return testing::TransitValue(cards, reader_);
  }

  // desfired debits 1 twice (request ids guard-1 and guard-2: rows 1 to 4) and stops cleanly.
  // The value after.
  int32_t MakeHistory() {
    testing::LoopbackDesfired server(sandbox_->dir(), Flags());
    EXPECT_GT(server.port(), 0) << server.err();
    for (const char* id : {"guard-1", "guard-2"}) {
      v1::DebitResponse resp;
      grpc::Status s = server.cards().Debit(Ctx().get(), DebitReq(1, id), &resp);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    const int32_t value = Value(server.cards());
    EXPECT_EQ(server.Stop(), 0) << server.err();
    return value;
  }

  // desfired refuses to start: exit code 1, the cause and the remedy named; nothing appended.
  void ExpectRefused(const std::string& cause) {
    const std::string before = Fingerprint();
    testing::LoopbackDesfired server(sandbox_->dir(), Flags());
    EXPECT_EQ(server.port(), 0) << "desfired started on a broken ledger: " << server.err();
    EXPECT_EQ(server.Wait(), 1) << server.err();
    EXPECT_NE(server.err().find(cause), std::string::npos) << server.err();
    EXPECT_NE(server.err().find("--ledger_recover"), std::string::npos) << server.err();
    EXPECT_EQ(Fingerprint(), before) << "the refused start changed the ledger";
  }

  // The ledger file's size and a hash of its bytes (or "missing"), to show a refused start
  // wrote nothing.
  std::string Fingerprint() const {
    if (!std::filesystem::exists(ledger_path_)) return "missing";
    std::ifstream in(ledger_path_, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return absl::StrCat(bytes.str().size(), " bytes, hash ", std::hash<std::string>()(bytes.str()));
  }

  void Sql(const std::string& sql) const {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(ledger_path_.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr),
              SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "") << " in: " << sql;
    sqlite3_free(err);
    sqlite3_close(db);
  }

  std::string Export() const {
    std::ostringstream out;
    absl::Status s =
        ledger::Ledger::ExportFile(ledger_path_, out, ledger::Ledger::ExportFormat::kJsonLines);
    EXPECT_TRUE(s.ok()) << s;
    return out.str();
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string reader_;
  std::string key_path_;
  std::string data_dir_;
  std::string ledger_path_;
  std::string head_path_;
};

// The reported incident: `: > ledger.sqlite`, restart. desfired refuses; with --ledger_recover
// it starts a new chain whose first row records the event and the old head, and then refuses
// the flag once there is nothing left to recover.
TEST_F(LedgerGuardE2eTest, AnEmptiedLedgerIsRefusedThenRecovered) {
  MakeHistory();
  const ledger::Head old_head = **ledger::HeadFile::Read(head_path_, true);
  ASSERT_EQ(old_head.seq, 4);
  std::ofstream(ledger_path_, std::ios::trunc);
  ExpectRefused("the ledger file is empty (0 bytes)");

  {
    testing::LoopbackDesfired server(sandbox_->dir(),
                                     Flags({"--ledger_recover=disk swapped, INC-42"}));
    ASSERT_GT(server.port(), 0) << server.err();
    EXPECT_NE(server.err().find("recovered"), std::string::npos) << server.err();
    EXPECT_EQ(server.Stop(), 0) << server.err();
  }
  const std::string rows = Export();
  EXPECT_NE(rows.find("\"seq\":1,"), std::string::npos) << rows;
  EXPECT_EQ(rows.find("\"seq\":2,"), std::string::npos) << rows;
  EXPECT_NE(rows.find("\"event\":\"RECOVERED\""), std::string::npos) << rows;
  EXPECT_NE(rows.find("disk swapped, INC-42"), std::string::npos) << rows;
  EXPECT_NE(rows.find(ledger::HashHex(old_head.hash)), std::string::npos) << rows;
  auto verified = ledger::Ledger::VerifyFile(ledger_path_, head_path_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;

  testing::LoopbackDesfired again(sandbox_->dir(), Flags({"--ledger_recover=again"}));
  EXPECT_EQ(again.Wait(), 1) << again.err();
  EXPECT_NE(again.err().find("nothing to recover"), std::string::npos) << again.err();
  testing::LoopbackDesfired normal(sandbox_->dir(), Flags());
  ASSERT_GT(normal.port(), 0) << normal.err();
  EXPECT_EQ(normal.Stop(), 0) << normal.err();
}

TEST_F(LedgerGuardE2eTest, ADeletedLedgerIsRefused) {
  MakeHistory();
  std::filesystem::remove(ledger_path_);
  ExpectRefused("the ledger file is missing");
}

// The newest rows deleted and the head rewritten to match (or an older copy put back): the
// file verifies on its own. Recovery keeps it (the operator restored a backup), so a retry of a
// request id it still holds is replayed, not made again.
TEST_F(LedgerGuardE2eTest, ALedgerCutShortIsRefusedThenRecoveredKeepingItsRows) {
  const int32_t value = MakeHistory();
  std::optional<ledger::Row> first = *ledger::Ledger::LatestInFile(ledger_path_, "guard-1");
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ(first->seq, 2);
  Sql(absl::StrCat("DELETE FROM ledger WHERE seq > 2; UPDATE chain_head SET seq = 2, hash = '",
                   first->hash, "'"));
  ASSERT_TRUE(ledger::Ledger::VerifyFile(ledger_path_)->ok);
  ExpectRefused("rows 3 to 4 are missing");

  testing::LoopbackDesfired server(sandbox_->dir(),
                                   Flags({"--ledger_recover=restored the backup of 09:00"}));
  ASSERT_GT(server.port(), 0) << server.err();
  v1::DebitResponse retry;
  grpc::Status s = server.cards().Debit(Ctx().get(), DebitReq(1, "guard-1"), &retry);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(retry.change().replayed());
  EXPECT_EQ(Value(server.cards()), value) << "the retry debited the card again";
  EXPECT_EQ(server.Stop(), 0) << server.err();
  const std::string rows = Export();
  EXPECT_NE(rows.find("\"seq\":3,\"time\""), std::string::npos) << rows;
  EXPECT_NE(rows.find("\"event\":\"RECOVERED\""), std::string::npos) << rows;
  auto verified = ledger::Ledger::VerifyFile(ledger_path_, head_path_);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(verified->ok) << verified->problem;
}

// Another good ledger, of as many rows, put in place of this one.
TEST_F(LedgerGuardE2eTest, ALedgerReplacedByAnotherIsRefused) {
  MakeHistory();
  const std::string other_dir = sandbox_->dir() + "/other";
  std::filesystem::create_directories(other_dir);
  {
    auto other = ledger::Ledger::Open(other_dir + "/ledger.sqlite");
    ASSERT_TRUE(other.ok()) << other.status();
    for (int i = 1; i <= 4; ++i) {
      ledger::Row r;
      r.event = ledger::Event::kDone;
      r.request_id = absl::StrCat("other-", i);
      r.method = "Debit";
      ASSERT_TRUE((*other)->Append(r).ok());
    }
  }
  std::filesystem::copy_file(other_dir + "/ledger.sqlite", ledger_path_,
                             std::filesystem::copy_options::overwrite_existing);
  ExpectRefused("is not the one desfired wrote");
}

TEST_F(LedgerGuardE2eTest, AnEditedRowIsRefused) {
  MakeHistory();
  Sql("UPDATE ledger SET amount = 100 WHERE seq = 2");
  ExpectRefused("row 2 was edited");
}

// The last row edited, its hash recomputed and the head moved to it: the file verifies on its
// own, only the head file tells.
TEST_F(LedgerGuardE2eTest, ARewrittenHeadIsRefused) {
  MakeHistory();
  std::optional<ledger::Row> last = *ledger::Ledger::LatestInFile(ledger_path_, "guard-2");
  ASSERT_TRUE(last.has_value());
  ASSERT_EQ(last->seq, 4);
  ledger::Row forged = *last;
  forged.amount = 100;
  const std::string hash = ledger::HashHex(
      ledger::ChainHash(*ledger::ParseHashHex(forged.prev_hash), ledger::ToStored(forged)));
  Sql(absl::StrCat("UPDATE ledger SET amount = 100, hash = '", hash,
                   "' WHERE seq = 4; UPDATE chain_head SET hash = '", hash, "'"));
  ASSERT_TRUE(ledger::Ledger::VerifyFile(ledger_path_)->ok);
  ExpectRefused("last row (row 4) is not the one desfired wrote");
}

// A row edited while desfired runs: the background verification finds it, logs it, and card
// changes are refused from then on (the card is not changed); reads go on.
TEST_F(LedgerGuardE2eTest, ARowEditedWhileRunningStopsCardChanges) {
  testing::LoopbackDesfired server(sandbox_->dir(), Flags({"--ledger_verify_interval=200ms"}));
  ASSERT_GT(server.port(), 0) << server.err();
  v1::DebitResponse resp;
  grpc::Status s = server.cards().Debit(Ctx().get(), DebitReq(1, "running-1"), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const int32_t value = Value(server.cards());
  Sql("UPDATE ledger SET amount = 100 WHERE seq = 1");
  for (int i = 0; i < 250 && server.err().find("failed verification") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_NE(server.err().find("the audit ledger failed verification"), std::string::npos)
      << server.err();
  s = server.cards().Debit(Ctx().get(), DebitReq(1, "running-2"), &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  EXPECT_EQ(testing::InfoOf(s).reason(), "LEDGER_UNAVAILABLE") << s.error_message();
  EXPECT_EQ(Value(server.cards()), value) << "a change was made on a broken ledger";
  EXPECT_EQ(server.Stop(), 0) << server.err();
  ExpectRefused("row 1 was edited");
}

}  // namespace
}  // namespace desfired
