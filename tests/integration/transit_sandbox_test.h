// TransitSandboxTest: a gtest fixture with a sandboxed pcscd (pcsc_sandbox.h) and desfire-sim
// holding the transit image (sim/images/transit.json) on reader 0, and a PC/SC context on it.
// Skips when not root. The users define DESFIRE_SIM and SOURCE_DIR.
#ifndef DESFIRED_TESTS_INTEGRATION_TRANSIT_SANDBOX_TEST_H_
#define DESFIRED_TESTS_INTEGRATION_TRANSIT_SANDBOX_TEST_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/pcsc/pcsc.h"
#include "gtest/gtest.h"
#include "tests/integration/pcsc_sandbox.h"

namespace desfired::testing {

class TransitSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SandboxOptions options;
    options.sim_binary = DESFIRE_SIM;
    auto sandbox = PcscSandbox::StartWithCards(
        options, {std::string(SOURCE_DIR) + "/sim/images/transit.json"}, absl::Seconds(3));
    if (sandbox.status().code() == absl::StatusCode::kPermissionDenied) {
      GTEST_SKIP() << "needs root: " << sandbox.status();
    }
    ASSERT_TRUE(sandbox.ok()) << sandbox.status();
    sandbox_ = std::move(*sandbox);
    auto context = pcsc::PcscContext::Create();
    ASSERT_TRUE(context.ok()) << context.status();
    context_ = std::move(*context);
  }

  std::unique_ptr<PcscSandbox> sandbox_;
  std::unique_ptr<pcsc::PcscContext> context_;
};

}  // namespace desfired::testing

#endif  // DESFIRED_TESTS_INTEGRATION_TRANSIT_SANDBOX_TEST_H_
