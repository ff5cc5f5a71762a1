// LRP through the whole stack: the transit card in LRP mode (desfire-sim --lrp) behind a
// sandboxed pcscd, the desfired binary, and requests with AUTH_SCHEME_LRP over gRPC and
// `desfirectl --scheme lrp`: AuthenticateLRPFirst, an enciphered GetValue and a Debit under
// LRP secure messaging, while the AES authentication is refused by the card.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "desfired/v1/card.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

TEST(LrpE2eTest, ValueAndDebitUnderLrp) {
  std::unique_ptr<testing::PcscSandbox> sandbox;
  if (!testing::StartEmptySandbox(&sandbox)) return;
  ASSERT_TRUE(sandbox->StartCard(0, testing::ImagePath("transit.json"), {"--lrp"}).ok());
  ASSERT_TRUE(sandbox->WaitForCard(0, true, absl::Seconds(3)).ok());
  absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox->dir());
  ASSERT_TRUE(keys.ok()) << keys.status();
  testing::LoopbackDesfired server(sandbox->dir(), {"--keys=" + *keys});
  ASSERT_GT(server.port(), 0) << server.err();
  const std::string reader = sandbox->ReaderName(0);

  // AES (the key type's default) is refused by a card in LRP mode.
  v1::GetValueResponse value;
  v1::GetValueRequest aes = testing::TransitGetValue(reader);
  EXPECT_FALSE(server.cards().GetValue(testing::Ctx().get(), aes, &value).ok());

  v1::GetValueRequest lrp = testing::TransitGetValue(reader);
  lrp.mutable_auth()->set_scheme(v1::AUTH_SCHEME_LRP);
  grpc::Status s = server.cards().GetValue(testing::Ctx().get(), lrp, &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const int32_t before = value.value();

  v1::DebitRequest debit = testing::TransitDebit(reader, 150, "lrp-debit-1");
  debit.mutable_auth()->set_scheme(v1::AUTH_SCHEME_LRP);
  v1::DebitResponse debited;
  s = server.cards().Debit(testing::Ctx().get(), debit, &debited);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = server.cards().GetValue(testing::Ctx().get(), lrp, &value);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(value.value(), before - 150);

  testing::CliRun cli = testing::RunDesfirectl(
      DESFIRECTL, absl::StrCat("value --server 127.0.0.1:", server.port(), " --reader '", reader,
                               "' --aid F51001 --file 1 --key transit-read --key-no 1 "
                               "--scheme lrp"));
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(cli.out, absl::StrCat("value: ", before - 150, "\n"));
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

}  // namespace
}  // namespace desfired
