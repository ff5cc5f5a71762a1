// Originality signatures end to end: desfire-sim posing as a DESFire EV3 signs its UID with a
// P-224 key pair generated here (never NXP's); desfired, asked through gRPC and desfirectl,
// finds it genuine when --originality_keys names the test public key, and not genuine (no
// NXP key verifies) without it.
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/crypto/ecdsa_p224.h"
#include "core/util/bytes.h"
#include "desfired/v1/card.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

TEST(OriginalityE2eTest, GenuineWithTheTestKeyNotGenuineWithout) {
  std::unique_ptr<testing::PcscSandbox> sandbox;
  if (!testing::StartEmptySandbox(&sandbox)) return;
  absl::StatusOr<crypto::P224KeyPair> pair = crypto::GenerateP224KeyPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  ASSERT_TRUE(
      sandbox
          ->StartCard(0, testing::ImagePath("blank.json"),
                      {"--product", "ev3", "--originality-key", HexEncode(pair->private_key)})
          .ok());
  ASSERT_TRUE(sandbox->WaitForCard(0, true, absl::Seconds(3)).ok());
  const std::string key_file = sandbox->dir() + "/originality.conf";
  {
    std::ofstream out(key_file);
    out << "# desfire-sim's test key pair, made by this test\n"
        << "sim-test=" << HexEncode(pair->public_key) << "\n";
  }
  const std::string reader = sandbox->ReaderName(0);
  // VerifyOriginality through gRPC and `desfirectl originality ARGS` from a desfired started
  // with `args`.
  auto check = [&](std::vector<std::string> args, const std::string& cli_args,
                   v1::VerifyOriginalityResponse* resp, testing::CliRun* cli) {
    testing::LoopbackDesfired server(sandbox->dir(), std::move(args));
    ASSERT_GT(server.port(), 0) << server.err();
    v1::VerifyOriginalityRequest req;
    req.mutable_target()->set_reader(reader);
    grpc::Status s = server.cards().VerifyOriginality(testing::Ctx().get(), req, resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    *cli = testing::RunDesfirectl(
        DESFIRECTL, absl::StrCat("originality ", cli_args, " --server 127.0.0.1:", server.port(),
                                 " --reader '", reader, "'"));
    EXPECT_EQ(cli->exit_code, 0) << cli->err;
    EXPECT_EQ(server.Stop(), 0) << server.err();
  };

  v1::VerifyOriginalityResponse resp;
  testing::CliRun cli;
  check({"--originality_keys=" + key_file}, "", &resp, &cli);
  EXPECT_EQ(resp.verdict(), v1::ORIGINALITY_VERDICT_GENUINE);
  EXPECT_EQ(resp.key_name(), "sim-test");
  ASSERT_EQ(resp.keys_tried_size(), 2);
  EXPECT_EQ(resp.keys_tried(0), "NXP DESFire EV3");
  EXPECT_EQ(resp.version().product(), v1::CARD_PRODUCT_DESFIRE_EV3);
  EXPECT_EQ(resp.uid().size(), 7u);
  EXPECT_EQ(resp.signature().size(), 56u);
  EXPECT_NE(cli.out.find("verdict     genuine\n"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("key         sim-test\n"), std::string::npos) << cli.out;

  check({}, "--json", &resp, &cli);
  EXPECT_EQ(resp.verdict(), v1::ORIGINALITY_VERDICT_NOT_GENUINE);
  EXPECT_EQ(resp.key_name(), "");
  ASSERT_EQ(resp.keys_tried_size(), 1);
  EXPECT_EQ(resp.keys_tried(0), "NXP DESFire EV3");
  EXPECT_NE(cli.out.find("ORIGINALITY_VERDICT_NOT_GENUINE"), std::string::npos) << cli.out;

  // A bad key file stops desfired at start, naming the flag's config field.
  {
    const std::string bad = sandbox->dir() + "/bad.conf";
    std::ofstream(bad) << "broken=0411\n";
    testing::DesfiredRun run =
        testing::RunDesfired({"--listen=127.0.0.1:0", "--originality_keys=" + bad,
                              absl::StrCat("--pcsc_socket=", sandbox->dir(), "/run/pcscd.comm")},
                             sandbox->dir(), /*stop_when_listening=*/true);
    EXPECT_NE(run.exit_code, 0);
    EXPECT_NE(run.err.find("originality_keys_file"), std::string::npos) << run.err;
  }
}

}  // namespace
}  // namespace desfired
