// The prologue (session.h) over the emulated transit card: the expected-UID guard, the key from
// the store and its scheme, the card's refusal of a wrong key, and the job check between steps.
#include "core/cardops/session.h"

#include <string>

#include "core/cardops/card_info.h"
#include "core/cardops/data.h"
#include "core/cardops/values.h"
#include "core/desfire/status.h"
#include "gtest/gtest.h"
#include "tests/unit/core/cardops/fixture.h"

namespace desfired::cardops {
namespace {

TEST_F(CardOpsTest, ExpectedUidMismatchSendsNothing) {
  auto debit = On<ValueChangeRequest>();
  debit.target.expected_uid = Hex("04ffffffffffff");
  debit.file_no = 1;
  debit.auth = Key("app_debit", 2);
  debit.amount = 100;
  auto debited = Debit(ctx_, debit);
  ASSERT_FALSE(debited.ok());
  EXPECT_EQ(debited.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(debited.status()), kReasonCardMismatch);
  EXPECT_EQ(GetErrorMetadata(debited.status(), kMetadataExpectedUid), "04ffffffffffff");
  EXPECT_EQ(GetErrorMetadata(debited.status(), kMetadataUid), "04a1b2c3d4e5f6");
  EXPECT_EQ(GetErrorMetadata(debited.status(), kMetadataReader), kReader);
  EXPECT_EQ(transport_->transmitted(), 0u);
  EXPECT_EQ(SimValue(), 2500);

  debit.target.expected_uid = ctx_.uid;
  auto matched = Debit(ctx_, debit);
  ASSERT_TRUE(matched.ok()) << matched.status();
  EXPECT_EQ(SimValue(), 2400);
}

TEST_F(CardOpsTest, UnknownKeyNameIsKeyNotFoundBeforeAnyApdu) {
  auto read = OnFile<ReadDataRequest>(5, Key("no_such_key", 1));
  auto refused = ReadData(ctx_, read);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(refused.status()), kReasonKeyNotFound);
  EXPECT_EQ(GetErrorMetadata(refused.status(), kMetadataKeyName), "no_such_key");
  EXPECT_EQ(transport_->transmitted(), 0u);

  ctx_.keys = nullptr;  // no key store at all
  read.auth = Key("app_read", 1);
  EXPECT_EQ(Reason(ReadData(ctx_, read).status()), kReasonKeyNotFound);
}

TEST_F(CardOpsTest, KeyTypeThatDoesNotSuitTheSchemeNamesAuthScheme) {
  auto read = OnFile<ReadDataRequest>(5, Key("app_read", 1, desfire::AuthScheme::kLegacy));
  auto refused = ReadData(ctx_, read);
  EXPECT_EQ(Field(refused.status()), "auth.scheme") << refused.status();
  EXPECT_EQ(refused.status().message().find("a0a1a2"), std::string::npos);
  EXPECT_EQ(transport_->transmitted(), 0u);
  // EV2 secure messaging with the same AES key works.
  read.auth = Key("app_read", 1, desfire::AuthScheme::kEv2);
  auto ev2 = ReadData(ctx_, read);
  EXPECT_TRUE(ev2.ok()) << ev2.status();
}

TEST_F(CardOpsTest, WrongKeyIsAuthenticationFailed) {
  auto read = On<ReadDataRequest>();
  read.file_no = 5;
  read.auth = Key("app_read", 2);  // key 2 holds another value
  auto refused = ReadData(ctx_, read);
  EXPECT_EQ(Reason(refused.status()), desfire::kReasonAuthenticationFailed) << refused.status();
}

TEST_F(CardOpsTest, CheckAliveStopsBetweenSteps) {
  int checks = 0;
  ctx_.check_alive = [&checks] {
    return ++checks > 2 ? absl::DeadlineExceededError("deadline passed") : absl::OkStatus();
  };
  auto info = GetCardInfo(ctx_, {.target = {.reader = kReader}});
  EXPECT_EQ(info.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(checks, 3);
  EXPECT_FALSE(ctx_.session.open);
}

}  // namespace
}  // namespace desfired::cardops
