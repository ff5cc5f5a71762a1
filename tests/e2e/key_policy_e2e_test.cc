// Keys scoped by role, end to end: the desfired binary with a tokens file and a key store, over a
// sandboxed pcscd with desfire-sim's transit card. A viewer cannot have desfired authenticate
// with the card (PICC) master key (GetCardInfo, `desfirectl info --key picc`) nor with the
// application master key (ReadData of the enciphered file 5): PERMISSION_DENIED /
// KEY_ROLE_DENIED, and the card's APDU count (desfire-sim's `status`) does not move, so nothing
// reached the card. An admin (and an operator the key store grants it to) can. Skipped when not
// root.
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "desfired/v1/card.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/security/auth.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"
#include "tests/testing/test_certs.h"

namespace desfired {
namespace {

constexpr char kViewerToken[] = "vw-6d0e4b2a9c1f4e73a8b5c2d9e1f0a7b3";
constexpr char kOperatorToken[] = "op-1b7c3e9d5a2f4c08b6e1d3a9f7c2e5b4";
constexpr char kAdminToken[] = "ad-9e4a2c7b1d5f4e38a0c6b2d8f1e3a7c9";

// The transit card's keys as a key store written before roles existed: no roles=, no use=.
constexpr char kUnscopedKeys[] =
    "key transit-master AES128 00112233445566778899aabbccddeeff\n"
    "key transit-read   AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
    "key picc           DES    0000000000000000\n";

// The same keys, the masters granted to operators (and admins) explicitly.
constexpr char kOperatorMasterKeys[] =
    "key transit-master AES128 00112233445566778899aabbccddeeff roles=operator,admin "
    "use=app-master\n"
    "key transit-read   AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf roles=viewer,operator,admin "
    "use=read\n"
    "key picc           DES    0000000000000000 roles=operator,admin use=picc-master\n";

using ::testing::HasSubstr;
using testing::InfoOf;
using testing::kTransitAid;
using ::testing::Not;

// File 5 of the transit application: standard, fully enciphered, read with key 1 (and key 0,
// the master, which has every right). Its first bytes are "SECRET\0\0".
constexpr uint32_t kSecretFile = 5;

class KeyPolicyE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    reader_ = sandbox_->ReaderName(0);
    tokens_ = sandbox_->dir() + "/tokens.conf";
    const std::string tokens =
        absl::StrCat("token ci-view viewer ", server::TokenHash(kViewerToken), "\n",
                     "token kiosk operator ", server::TokenHash(kOperatorToken), "\n",
                     "token issuer admin ", server::TokenHash(kAdminToken), "\n");
    ASSERT_TRUE(testing::WriteFileWithMode(tokens_, tokens).ok());
  }

  // desfired with the tokens and the key store `keys`.
  void Start(const char* keys) {
    absl::StatusOr<std::string> path = testing::WriteKeyFile(sandbox_->dir(), keys);
    ASSERT_TRUE(path.ok()) << path.status();
    server_ = std::make_unique<testing::DesfiredProcess>(
        sandbox_->dir(),
        std::vector<std::string>{"--listen=127.0.0.1:0", "--keys=" + *path, "--tokens=" + tokens_});
    ASSERT_GT(server_->port(), 0) << server_->err();
    cards_ = v1::CardService::NewStub(server_->Channel());
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(const char* token) {
    std::unique_ptr<grpc::ClientContext> ctx = testing::Ctx();
    ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return ctx;
  }

  // The APDUs the card has answered so far (desfire-sim's `status`).
  int64_t Apdus() { return testing::CardApdus(*sandbox_, 0); }

  grpc::Status CardInfo(const char* token) {
    v1::GetCardInfoRequest req;
    req.mutable_target()->set_reader(reader_);
    req.mutable_auth()->set_key_name("picc");
    v1::GetCardInfoResponse resp;
    return cards_->GetCardInfo(Ctx(token).get(), req, &resp);
  }

  grpc::Status ReadSecret(const char* token, const char* key, uint32_t key_no,
                          std::string* data = nullptr) {
    v1::ReadDataRequest req;
    req.mutable_target()->set_reader(reader_);
    req.set_aid(kTransitAid);
    req.set_file_no(kSecretFile);
    req.mutable_auth()->set_key_name(key);
    req.mutable_auth()->set_key_number(key_no);
    req.set_length(8);
    v1::ReadDataResponse resp;
    grpc::Status s = cards_->ReadData(Ctx(token).get(), req, &resp);
    if (data != nullptr) *data = resp.data();
    return s;
  }

  // PERMISSION_DENIED / KEY_ROLE_DENIED for `key` as `use`, and the card saw no APDU.
  void ExpectDenied(const std::function<grpc::Status()>& call, const std::string& key,
                    const std::string& use, const std::string& role) {
    const int64_t before = Apdus();
    const grpc::Status s = call();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    const google::rpc::ErrorInfo info = InfoOf(s);
    EXPECT_EQ(info.reason(), "KEY_ROLE_DENIED") << s.error_message();
    EXPECT_EQ(info.metadata().count("key_name") ? info.metadata().at("key_name") : "", key);
    EXPECT_EQ(info.metadata().count("key_use") ? info.metadata().at("key_use") : "", use);
    EXPECT_EQ(info.metadata().count("role") ? info.metadata().at("role") : "", role);
    EXPECT_EQ(Apdus(), before) << "an APDU reached the card for a refused key";
  }

  // Succeeds, and talks to the card.
  void ExpectAllowed(const std::function<grpc::Status()>& call) {
    const int64_t before = Apdus();
    const grpc::Status s = call();
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_GT(Apdus(), before);
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string reader_;
  std::string tokens_;
  std::unique_ptr<testing::DesfiredProcess> server_;
  std::unique_ptr<v1::CardService::Stub> cards_;
};

TEST_F(KeyPolicyE2eTest, WithoutGrantsOnlyAdminsUseTheMasterKeys) {
  Start(kUnscopedKeys);
  // The start-up warning names each key without grants, never its value.
  EXPECT_THAT(server_->err(), HasSubstr("key 'picc' has no roles= or use="));
  EXPECT_THAT(server_->err(), HasSubstr("key 'transit-master' has no roles= or use="));
  EXPECT_THAT(server_->err(), Not(HasSubstr("00112233445566778899aabbccddeeff")));

  const std::pair<const char*, const char*> lower_roles[] = {{kViewerToken, "viewer"},
                                                             {kOperatorToken, "operator"}};
  for (const auto& [token, role] : lower_roles) {
    ExpectDenied([&, t = token] { return CardInfo(t); }, "picc", "picc-master", role);
    ExpectDenied([&, t = token] { return ReadSecret(t, "transit-master", 0); }, "transit-master",
                 "app-master", role);
  }
  // The read key stays every role's.
  ExpectAllowed([&] { return ReadSecret(kViewerToken, "transit-read", 1); });
  // Admins keep every use of a key without grants.
  ExpectAllowed([&] { return CardInfo(kAdminToken); });
  std::string data;
  ExpectAllowed([&] { return ReadSecret(kAdminToken, "transit-master", 0, &data); });
  EXPECT_EQ(data.substr(0, 6), "SECRET");
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
}

TEST_F(KeyPolicyE2eTest, AGrantLetsOperatorsUseTheMastersAndStillNotViewers) {
  Start(kOperatorMasterKeys);
  EXPECT_THAT(server_->err(), Not(HasSubstr("has no roles= or use=")));
  ExpectDenied([&] { return CardInfo(kViewerToken); }, "picc", "picc-master", "viewer");
  ExpectDenied([&] { return ReadSecret(kViewerToken, "transit-master", 0); }, "transit-master",
               "app-master", "viewer");
  ExpectAllowed([&] { return CardInfo(kOperatorToken); });
  std::string data;
  ExpectAllowed([&] { return ReadSecret(kOperatorToken, "transit-master", 0, &data); });
  EXPECT_EQ(data.substr(0, 6), "SECRET");
  ExpectAllowed([&] { return CardInfo(kAdminToken); });
  // transit-read is granted for reading only: not as the master key 0.
  ExpectDenied([&] { return ReadSecret(kAdminToken, "transit-read", 0); }, "transit-read",
               "app-master", "admin");
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
}

// desfirectl info --key picc with a viewer's token: refused with the reason and the key named.
TEST_F(KeyPolicyE2eTest, DesfirectlInfoWithThePiccKeyIsRefusedForAViewer) {
  Start(kUnscopedKeys);
  const int64_t before = Apdus();
  const testing::CliRun run =
      testing::RunDesfirectl(DESFIRECTL,
                             absl::StrCat("info --server 127.0.0.1:", server_->port(),
                                          " --reader '", reader_, "' --key picc"),
                             {{"DESFIRED_TOKEN", kViewerToken}});
  EXPECT_NE(run.exit_code, 0) << run.out;
  EXPECT_THAT(run.err, HasSubstr("KEY_ROLE_DENIED")) << run.err;
  EXPECT_THAT(run.err, HasSubstr("picc-master")) << run.err;
  EXPECT_EQ(Apdus(), before);
  EXPECT_EQ(server_->Stop(), 0) << server_->err();
}

}  // namespace
}  // namespace desfired
