// SUN verification end to end: TapService.VerifySun of the desfired binary with SDM keys from
// its key file and --sun_counters, through gRPC and desfirectl sun verify (the AN12196 p.12
// message of ev3_vectors.md §4, sdm-an12196-p12, from nfc-developer/sdm-backend@b459ca19
// tests/test_libsdm.py test_sun1).
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "desfired/v1/taps.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

constexpr char kSdmKeys[] =
    "key sdm-meta AES128 00000000000000000000000000000000\n"
    "key sdm-file AES128 00000000000000000000000000000000\n";

v1::SunMessage Message(const std::string& picc, const std::string& mac) {
  v1::SunMessage m;
  m.set_picc_data(picc);
  m.set_mac(mac);
  return m;
}

TEST(SunE2eTest, VerifySunWithKeyFileAndCounters) {
  std::unique_ptr<testing::PcscSandbox> sandbox;
  if (!testing::StartEmptySandbox(&sandbox)) return;
  absl::StatusOr<std::string> keys = testing::WriteKeyFile(sandbox->dir(), kSdmKeys);
  ASSERT_TRUE(keys.ok()) << keys.status();
  testing::LoopbackDesfired server(sandbox->dir(), {"--keys=" + *keys, "--sun_counters"});
  ASSERT_GT(server.port(), 0) << server.err();
  auto taps = v1::TapService::NewStub(testing::LoopbackChannel(server.port()));

  v1::VerifySunRequest req;
  req.set_meta_key_name("sdm-meta");
  req.set_file_key_name("sdm-file");
  *req.add_messages() = Message("EF963FF7828658A599F3041510671E88", "94EED9EE65337086");
  *req.add_messages() = Message("EF963FF7828658A599F3041510671E88", "94EED9EE65337086");  // again
  *req.add_messages() = Message("EF963FF7828658A599F3041510671E88", "94EED9EE65337087");  // forged
  *req.add_messages() = Message("EF963FF7828658A599F3041510671E8", "94EED9EE65337086");   // short
  v1::VerifySunResponse resp;
  grpc::Status s = taps->VerifySun(testing::Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.results_size(), 4);
  EXPECT_EQ(resp.results(0).status(), v1::TapResult::VALID);
  EXPECT_EQ(resp.results(0).uid(), std::string("\x04\xDE\x5F\x1E\xAC\xC0\x40", 7));
  EXPECT_EQ(resp.results(0).counter(), 61u);
  EXPECT_EQ(resp.results(1).status(), v1::TapResult::FLAGGED);
  ASSERT_EQ(resp.results(1).warnings_size(), 1);
  EXPECT_EQ(resp.results(1).warnings(0), v1::SUN_WARNING_COUNTER_NOT_NEWER);
  EXPECT_EQ(resp.results(2).status(), v1::TapResult::FLAGGED);
  EXPECT_EQ(resp.results(2).warnings(0), v1::SUN_WARNING_MAC_VERIFICATION_FAILED);
  EXPECT_EQ(resp.results(3).status(), v1::TapResult::REJECTED);
  EXPECT_NE(resp.results(3).error().find("picc_data"), std::string::npos);
  EXPECT_EQ(resp.valid(), 1u);
  EXPECT_EQ(resp.flagged(), 2u);
  EXPECT_EQ(resp.rejected(), 1u);

  // A key the store does not have fails the call.
  req.set_file_key_name("nope");
  s = taps->VerifySun(testing::Ctx().get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();

  // desfirectl: the plain-mirrored message of sdm-plain-uid-ctr (sdm-backend test_plain_sdm).
  const std::string server_flag = absl::StrCat("--server 127.0.0.1:", server.port());
  testing::CliRun cli = testing::RunDesfirectl(
      DESFIRECTL, absl::StrCat("sun verify ", server_flag,
                               " --file-key sdm-file --uid 041E3C8A2D6B80 --counter 000006"
                               " --mac 4B00064004B0B3D3"));
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("status     VALID\n"), std::string::npos) << cli.out;
  EXPECT_NE(cli.out.find("counter    6\n"), std::string::npos) << cli.out;
  cli = testing::RunDesfirectl(
      DESFIRECTL, absl::StrCat("sun verify ", server_flag,
                               " --file-key sdm-file --uid 041E3C8A2D6B80 --counter 000006"
                               " --mac AB00064004B0B3AB"));
  EXPECT_EQ(cli.exit_code, 1) << cli.err;
  EXPECT_NE(cli.out.find("FLAGGED MAC_VERIFICATION_FAILED"), std::string::npos) << cli.out;
  EXPECT_EQ(server.Stop(), 0) << server.err();
}

}  // namespace
}  // namespace desfired
