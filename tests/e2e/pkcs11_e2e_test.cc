// Keys in a PKCS#11 token, end to end: the desfired binary with a key store whose card keys
// live in a SoftHSM2 token (its own directory, SOFTHSM2_CONF), over a sandboxed pcscd with
// desfire-sim's transit card. GetValue, Debit and GetCardInfo give the same answers as with the
// same keys in the file; desfired refuses to start, naming the key and never a value or the
// PIN, on a wrong PIN, a missing object, a key of the wrong type or a module that is not there;
// a SIGHUP reload keeps the token keys; the token's daemon restarting under a running desfired
// (p11-kit server) costs no call. The server's log lines are checked for the key values
// (logs_have_no_keys: kTransitKeyFile's values). Skipped when not root or without SoftHSM2.
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "desfired/v1/card.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/softhsm.h"

namespace desfired {
namespace {

using testing::kTransitAid;

// The transit keys that desfired presents to the card in these tests.
const std::vector<std::string> kTokenKeys = {"transit-read", "transit-debit", "picc"};

class Pkcs11E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    hsm_ = testing::SoftHsmOrSkip();
    if (hsm_ == nullptr) return;
    reader_ = sandbox_->ReaderName(0);
  }

  // The answers of GetValue, a Debit of 150, GetValue and GetCardInfo (with the PICC key) from
  // a desfired with the key file `keys`.
  std::vector<std::string> Run(const std::string& keys, const std::string& request_id) {
    absl::StatusOr<std::string> path = testing::WriteKeyFile(sandbox_->dir(), keys);
    EXPECT_TRUE(path.ok()) << path.status();
    testing::LoopbackDesfired server(sandbox_->dir(), {"--keys=" + *path});
    EXPECT_GT(server.port(), 0) << server.err();
    std::vector<std::string> out;
    out.push_back(absl::StrCat("value ", testing::TransitValue(server.cards(), reader_)));
    v1::DebitResponse debit;
    grpc::Status s = server.cards().Debit(testing::Ctx().get(),
                                          testing::TransitDebit(reader_, 150, request_id), &debit);
    EXPECT_TRUE(s.ok()) << s.error_message() << "\n" << server.err();
    out.push_back(absl::StrCat("debit ", debit.change().committed(), " ",
                               debit.change().value_before(), "->", debit.change().value_after()));
    out.push_back(absl::StrCat("value ", testing::TransitValue(server.cards(), reader_)));
    v1::GetCardInfoRequest info_req;
    info_req.mutable_target()->set_reader(reader_);
    info_req.mutable_auth()->set_key_name("picc");
    v1::GetCardInfoResponse info;
    s = server.cards().GetCardInfo(testing::Ctx().get(), info_req, &info);
    EXPECT_TRUE(s.ok()) << s.error_message();
    out.push_back(absl::StrCat("info ", info.aids_size(), " aids listed ", info.aids_listed()));
    EXPECT_EQ(server.Stop(), 0) << server.err();
    return out;
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::unique_ptr<testing::SoftHsmToken> hsm_;
  std::string reader_;
};

TEST_F(Pkcs11E2eTest, TokenKeysGiveTheSameAnswersAsFileKeys) {
  absl::StatusOr<std::string> token_keys = hsm_->ImportKeys(testing::kTransitKeyFile, kTokenKeys);
  ASSERT_TRUE(token_keys.ok()) << token_keys.status();
  EXPECT_TRUE(absl::StrContains(*token_keys, "pkcs11:token=desfired;object=transit-debit"));
  const std::vector<std::string> with_token = Run(*token_keys, "p11-token-1");
  const std::vector<std::string> with_file = Run(testing::kTransitKeyFile, "p11-file-1");
  ASSERT_EQ(with_token.size(), 4u);
  EXPECT_EQ(with_token[0], "value 2500");
  EXPECT_EQ(with_token[1], "debit 1 2500->2350");
  EXPECT_EQ(with_file[1], "debit 1 2350->2200");
  EXPECT_EQ(with_token[3], with_file[3]);
  EXPECT_EQ(with_file[2], "value 2200");
}

TEST_F(Pkcs11E2eTest, StartUpRefusesABadTokenNamingTheKey) {
  absl::StatusOr<std::string> token_keys = hsm_->ImportKeys(testing::kTransitKeyFile, kTokenKeys);
  ASSERT_TRUE(token_keys.ok()) << token_keys.status();
  const std::string line = "key transit-debit AES128 pkcs11:token=desfired;object=";
  struct Case {
    std::string keys;
    std::string says;
  } cases[] = {
      {absl::StrCat("pkcs11 module=", testing::kSoftHsmModule, " pin-env=DESFIRED_E2E_WRONG_PIN\n",
                    line, "transit-debit\n"),
       "CKR_PIN_INCORRECT"},
      {hsm_->SettingsLine() + line + "no-such-key\n", "no secret key object"},
      {hsm_->SettingsLine() +
           "key transit-debit 3TDEA pkcs11:token=desfired;object=transit-debit\n",
       "the key file says 3TDEA but the token object is CKK_AES"},
      {absl::StrCat("pkcs11 module=/nonexistent/libtoken.so pin-file=", hsm_->pin_file(), "\n",
                    line, "transit-debit\n"),
       "cannot load the PKCS#11 module /nonexistent/libtoken.so"},
  };
  setenv("DESFIRED_E2E_WRONG_PIN", "8642097531", 1);
  for (const Case& c : cases) {
    absl::StatusOr<std::string> path = testing::WriteKeyFile(sandbox_->dir(), c.keys);
    ASSERT_TRUE(path.ok());
    testing::DesfiredRun run = testing::RunDesfired({"--listen=127.0.0.1:0", "--keys=" + *path},
                                                    sandbox_->dir(), /*stop_when_listening=*/true);
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_TRUE(absl::StrContains(run.err, "key 'transit-debit'")) << run.err;
    EXPECT_TRUE(absl::StrContains(run.err, c.says)) << run.err;
    EXPECT_FALSE(absl::StrContains(run.err, "8642097531")) << run.err;
    EXPECT_FALSE(absl::StrContains(run.err, testing::kSoftHsmPin)) << run.err;
    EXPECT_FALSE(absl::StrContains(run.err, "b0b1b2b3")) << run.err;
  }
  unsetenv("DESFIRED_E2E_WRONG_PIN");
}

// The token behind a daemon (p11-kit server): it restarts under a running desfired, and the
// next Debit logs in again; a SIGHUP reload keeps the token keys working.
TEST_F(Pkcs11E2eTest, TokenDaemonRestartAndReloadUnderARunningServer) {
  if (!testing::P11KitServer::Available()) GTEST_SKIP() << "p11-kit server is not installed";
  absl::StatusOr<std::string> token_keys = hsm_->ImportKeys(testing::kTransitKeyFile, kTokenKeys);
  ASSERT_TRUE(token_keys.ok()) << token_keys.status();
  std::string keys = *token_keys;
  keys.replace(keys.find(testing::kSoftHsmModule), std::string(testing::kSoftHsmModule).size(),
               testing::kP11KitClientModule);
  testing::P11KitServer daemon(*hsm_);
  ASSERT_TRUE(daemon.running());
  absl::StatusOr<std::string> path = testing::WriteKeyFile(sandbox_->dir(), keys);
  ASSERT_TRUE(path.ok());
  testing::LoopbackDesfired server(sandbox_->dir(), {"--keys=" + *path});
  ASSERT_GT(server.port(), 0) << server.err();
  v1::DebitResponse debit;
  auto debit_once = [&](const std::string& id) {
    return server.cards().Debit(testing::Ctx().get(), testing::TransitDebit(reader_, 100, id),
                                &debit);
  };
  grpc::Status s = debit_once("p11-daemon-1");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(debit.change().value_after(), 2400);
  ASSERT_TRUE(daemon.Restart());
  s = debit_once("p11-daemon-2");
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.err();
  EXPECT_EQ(debit.change().value_after(), 2300);
  ASSERT_EQ(kill(server.pid(), SIGHUP), 0);
  for (int i = 0; i < 250 && server.err().find("keys reloaded") == std::string::npos; ++i) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_NE(server.err().find("SIGHUP: keys reloaded"), std::string::npos) << server.err();
  s = debit_once("p11-daemon-3");
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << server.err();
  EXPECT_EQ(debit.change().value_after(), 2200);
  EXPECT_EQ(testing::TransitValue(server.cards(), reader_), 2200);
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

}  // namespace
}  // namespace desfired
