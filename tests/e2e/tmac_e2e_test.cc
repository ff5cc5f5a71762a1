// Transaction MAC end to end: desfired over a sandboxed pcscd and desfire-sim (transit card)
// creates a TransactionMAC file (CreateFile, the key named from the key store), debits with a
// reader id and the TMAC key named, and answers TMC, TMV and whether the TMV verified; the
// ledger's rows carry TMC, TMV and the reader id, `desfirectl ledger verify` passes and
// `ledger export` shows them; desfirectl debit --reader-id --tmac-key prints them. No public TMV
// vector exists (../shared/vectors/ev3_vectors.md §6): the TMV is checked by the server from
// the commands it exchanged, against the emulator's independent implementation.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "desfired/v1/card.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/transit_keys.h"

namespace desfired {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kTmacFile = 15;
const std::string kReaderId =
    std::string("\x28\xbf\x19\x82\xbe\x08\x6f\xbc\x60\xa2\x2d\xae\xb6\x66\x13\xee", 16);

class TmacE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    const std::string keys_text = absl::StrCat(
        testing::kTransitKeyFile,
        "key transit-tmac AES128 f7d23e0c44afade542bfdf2dc5c6ae02 roles=operator,admin "
        "use=write,change\n");
    absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox_->dir(), keys_text);
    ASSERT_TRUE(keys.ok()) << keys.status();
    server_ = std::make_unique<testing::LoopbackDesfired>(
        sandbox_->dir(), std::vector<std::string>{"--keys=" + *keys});
    ASSERT_GT(server_->port(), 0) << server_->err();
  }
  static void TearDownTestSuite() {
    if (server_) {
      EXPECT_EQ(server_->Stop(), 0) << server_->err();
    }
    server_.reset();
    sandbox_.reset();
  }
  void SetUp() override {
    if (!server_) GTEST_SKIP() << "no sandbox";
  }

  static v1::KeyRef Key(const std::string& name, uint32_t no) {
    v1::KeyRef k;
    k.set_key_name(name);
    k.set_key_number(no);
    k.set_scheme(v1::AUTH_SCHEME_EV2);
    return k;
  }

  static grpc::Status Debit(const std::string& reader_id, v1::DebitResponse* resp,
                            const std::string& request_id) {
    v1::DebitRequest req;
    req.mutable_target()->set_reader(sandbox_->ReaderName(0));
    req.set_aid(testing::kTransitAid);
    req.set_file_no(testing::kTransitValueFile);
    *req.mutable_auth() = Key("transit-debit", testing::kTransitDebitKeyNo);
    req.set_amount(40);
    req.set_request_id(request_id);
    req.mutable_transaction_mac()->set_key_name("transit-tmac");
    req.mutable_transaction_mac()->set_reader_id(reader_id);
    return server_->cards().Debit(testing::Ctx().get(), req, resp);
  }

  static std::unique_ptr<testing::PcscSandbox> sandbox_;
  static std::unique_ptr<testing::LoopbackDesfired> server_;
};

std::unique_ptr<testing::PcscSandbox> TmacE2eTest::sandbox_;
std::unique_ptr<testing::LoopbackDesfired> TmacE2eTest::server_;

TEST_F(TmacE2eTest, CreateDebitVerifyAndLedger) {
  v1::CreateFileRequest create;
  create.mutable_target()->set_reader(sandbox_->ReaderName(0));
  create.set_aid(testing::kTransitAid);
  *create.mutable_auth() = Key("transit-master", 0);
  create.set_file_no(kTmacFile);
  create.set_request_id("tmac-create-1");
  v1::FileSettings* s = create.mutable_settings();
  s->set_file_type(v1::FILE_TYPE_TRANSACTION_MAC);
  s->set_communication_mode(v1::COMMUNICATION_MODE_PLAIN);
  s->mutable_access_rights()->set_read(14);
  s->mutable_access_rights()->set_write(15);
  s->mutable_access_rights()->set_read_write(testing::kTransitDebitKeyNo);
  s->mutable_access_rights()->set_change_settings(0);
  s->mutable_transaction_mac()->set_key_name("transit-tmac");
  s->mutable_transaction_mac()->set_key_version(3);
  v1::CreateFileResponse created;
  grpc::Status st = server_->cards().CreateFile(testing::Ctx().get(), create, &created);
  ASSERT_TRUE(st.ok()) << st.error_message();

  v1::GetFileSettingsRequest get;
  get.mutable_target()->set_reader(sandbox_->ReaderName(0));
  get.set_aid(testing::kTransitAid);
  get.set_file_no(kTmacFile);
  v1::GetFileSettingsResponse got;
  st = server_->cards().GetFileSettings(testing::Ctx().get(), get, &got);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(got.settings().file_type(), v1::FILE_TYPE_TRANSACTION_MAC);
  EXPECT_EQ(got.settings().transaction_mac().key_version(), 3u);
  EXPECT_TRUE(got.settings().transaction_mac().key_name().empty());

  // CommitReaderID is enabled (debit key): a debit without a reader id is refused.
  v1::DebitResponse refused;
  st = Debit("", &refused, "tmac-debit-0");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();

  std::string last_tmv;
  for (uint32_t round = 1; round <= 2; ++round) {
    v1::DebitResponse resp;
    st = Debit(kReaderId, &resp, absl::StrCat("tmac-debit-", round));
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_TRUE(resp.change().has_transaction_mac());
    const v1::TransactionMac& mac = resp.change().transaction_mac();
    EXPECT_EQ(mac.tmc(), round);
    EXPECT_EQ(mac.tmv().size(), 8u);
    EXPECT_EQ(mac.reader_id(), kReaderId);
    EXPECT_TRUE(mac.verified()) << mac.unverified_reason();
    EXPECT_NE(mac.tmv(), last_tmv);
    last_tmv = mac.tmv();
  }
  // A retry is answered from the ledger with the same Transaction MAC.
  v1::DebitResponse replay;
  st = Debit(kReaderId, &replay, "tmac-debit-2");
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(replay.change().replayed());
  EXPECT_EQ(replay.change().transaction_mac().tmv(), last_tmv);

  // desfirectl prints it.
  const std::string server = absl::StrCat("127.0.0.1:", server_->port());
  testing::CliRun cli = testing::RunDesfirectl(
      DESFIRECTL,
      absl::StrCat(
          "debit --server ", server, " --reader '", sandbox_->ReaderName(0),
          "' --aid F51001 --file 1 --key transit-debit --key-no 2 --amount 5 "
          "--scheme ev2 --tmac-key transit-tmac --reader-id 28bf1982be086fbc60a22daeb66613ee"));
  EXPECT_EQ(cli.exit_code, 0) << cli.out << cli.err;
  EXPECT_THAT(cli.out, HasSubstr("transaction MAC: TMC 3, TMV "));
  EXPECT_THAT(cli.out, HasSubstr("(verified)"));

  // The ledger: DONE rows carry TMC and TMV, PENDING and DONE rows the reader id; the chain
  // verifies, by desfirectl and by the independent Python verifier of docs/examples.
  const std::string ledger = sandbox_->dir() + "/ledger.sqlite";
  testing::CliRun verify =
      testing::RunDesfirectl(DESFIRECTL, absl::StrCat("ledger verify --ledger ", ledger));
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  testing::CliRun exported = testing::RunDesfirectl(
      DESFIRECTL, absl::StrCat("ledger export --ledger ", ledger, " --format jsonl"));
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  EXPECT_THAT(exported.out, HasSubstr("\"tmc\":2,\"tmv\":\""));
  EXPECT_THAT(exported.out, HasSubstr("\"reader_id\":\"28bf1982be086fbc60a22daeb66613ee\""));
  testing::CliRun python = testing::RunShell(
      absl::StrCat("/usr/bin/python3 ", SOURCE_DIR, "/docs/examples/ledger_verify_export.py -"),
      exported.out);
  EXPECT_EQ(python.exit_code, 0) << python.out << python.err;
  EXPECT_THAT(python.out, HasSubstr("OK: "));
}

}  // namespace
}  // namespace desfired
