#include "server/rpc/change_events.h"

#include <gtest/gtest.h>

#include "core/apdu/status_payload.h"

namespace desfired::server {
namespace {

TEST(ChangeOutcomeTest, FromTheCallsStatus) {
  const absl::Status ok = absl::OkStatus();
  EXPECT_EQ(ChangeOutcomeOf(ok, false, false), ChangeOutcome::kCommitted);
  EXPECT_EQ(ChangeOutcomeOf(ok, true, false), ChangeOutcome::kReplayed);
  EXPECT_EQ(ChangeOutcomeOf(ok, true, true), ChangeOutcome::kReplayed);
  EXPECT_EQ(ChangeOutcomeOf(ok, false, true), ChangeOutcome::kNotCommitted);  // defer_commit
  const absl::Status failed = absl::OutOfRangeError("insufficient value");
  EXPECT_EQ(ChangeOutcomeOf(failed, false, false), ChangeOutcome::kNotCommitted);
  EXPECT_EQ(ChangeOutcomeOf(apdu::WithCommitState(failed, apdu::CommitState::kNotCommitted), false,
                            false),
            ChangeOutcome::kNotCommitted);
  EXPECT_EQ(ChangeOutcomeOf(apdu::WithCommitState(absl::UnavailableError("card removed"),
                                                  apdu::CommitState::kUnknown),
                            false, false),
            ChangeOutcome::kUnknown);
}

}  // namespace
}  // namespace desfired::server
