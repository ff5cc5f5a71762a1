// GetValue, Credit, Debit, LimitedCredit (values.h) and the transactions they leave open
// (transactions.h) over the emulated transit card.
#include "core/cardops/values.h"

#include "core/cardops/data.h"
#include "core/cardops/transactions.h"
#include "core/desfire/status.h"
#include "gtest/gtest.h"
#include "tests/unit/core/cardops/fixture.h"

namespace desfired::cardops {
namespace {

TEST_F(CardOpsTest, ValueOperationsReportValueBeforeAndAfter) {
  auto get = OnFile<GetValueRequest>(1, Key("app_read", 1));
  auto value = GetValue(ctx_, get);
  ASSERT_TRUE(value.ok()) << value.status();
  EXPECT_EQ(*value, 2500);

  auto debited = DebitBy(100);
  ASSERT_TRUE(debited.ok()) << debited.status();
  EXPECT_TRUE(debited->committed);
  EXPECT_EQ(debited->value_before, 2500);
  EXPECT_EQ(debited->value_after, 2400);

  // A refund of part of the last debit, with the debit key.
  auto limited = OnFile<ValueChangeRequest>(1, Key("app_debit", 2));
  limited.amount = 40;
  auto refunded = LimitedCredit(ctx_, limited);
  ASSERT_TRUE(refunded.ok()) << refunded.status();
  EXPECT_EQ(refunded->value_before, 2400);
  EXPECT_EQ(refunded->value_after, 2440);

  auto credit = OnFile<ValueChangeRequest>(1, Key("app_credit", 3));
  credit.amount = 500;
  auto credited = Credit(ctx_, credit);
  ASSERT_TRUE(credited.ok()) << credited.status();
  EXPECT_TRUE(credited->committed);
  EXPECT_EQ(credited->value_before, 2440);
  EXPECT_EQ(credited->value_after, 2940);
  EXPECT_EQ(SimValue(), 2940);

  // Credit needs the read-write key: the debit key is refused.
  credit.auth = Key("app_debit", 2);
  auto refused = Credit(ctx_, credit);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_EQ(SimValue(), 2940);
}

TEST_F(CardOpsTest, DebitBeyondValueIsInsufficientValue) {
  auto debited = DebitBy(1000000);
  ASSERT_FALSE(debited.ok());
  EXPECT_EQ(debited.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Reason(debited.status()), desfire::kReasonInsufficientValue);
  EXPECT_EQ(apdu::GetCommitState(debited.status()), apdu::CommitState::kNotCommitted);
  EXPECT_EQ(Reason(debited.status()), "INSUFFICIENT_VALUE");  // ErrorInfo.reason on the wire
  EXPECT_EQ(SimValue(), 2500);
  EXPECT_FALSE(ctx_.session.open);
}

TEST_F(CardOpsTest, DeferredDebitsCommitTogether) {
  auto first = DebitBy(100, /*defer=*/true);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->committed);
  EXPECT_EQ(first->value_before, 2500);
  EXPECT_FALSE(first->value_after.has_value());
  EXPECT_TRUE(ctx_.session.pending);
  // The same application and key: the session (and its transaction) goes on, no new select.
  const size_t before_second = transport_->transmitted();
  auto second = DebitBy(50, /*defer=*/true);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->committed);
  EXPECT_LE(transport_->transmitted() - before_second, 2u);  // GetValue and Debit only
  EXPECT_EQ(SimValue(), 2500);

  const TransactionRequest commit = DebitTransaction();
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_TRUE(*committed);
  EXPECT_EQ(SimValue(), 2350);
}

TEST_F(CardOpsTest, AbortTransactionDiscardsDeferredDebit) {
  auto debited = DebitBy(100, /*defer=*/true);
  ASSERT_TRUE(debited.ok()) << debited.status();
  const TransactionRequest abort = DebitTransaction();
  ASSERT_TRUE(AbortTransaction(ctx_, abort).ok());
  EXPECT_FALSE(SimFile(kTransitAid, 1).pending_value.has_value());
  const TransactionRequest commit = DebitTransaction();
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_FALSE(*committed);
  EXPECT_EQ(SimValue(), 2500);
}

TEST_F(CardOpsTest, CallWithAnotherKeyLosesDeferredDebit) {
  ASSERT_TRUE(DebitBy(100, /*defer=*/true).ok());
  auto read = On<ReadDataRequest>();
  read.file_no = 4;  // no key: another session
  ASSERT_TRUE(ReadData(ctx_, read).ok());
  const TransactionRequest commit = DebitTransaction();
  const size_t before = transport_->transmitted();
  auto committed = CommitTransaction(ctx_, commit);
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_FALSE(*committed);
  EXPECT_EQ(transport_->transmitted(), before);  // nothing to send
  EXPECT_EQ(SimValue(), 2500);
}

// CardContext::before_commit: called once per committed value change, with the value before
// and the value expected after; its error aborts the change.
TEST_F(CardOpsTest, BeforeCommitSeesThePendingValueAndCanAbort) {
  int calls = 0;
  PendingValue seen;
  ctx_.before_commit = [&](const PendingValue& value) {
    ++calls;
    seen = value;
    return absl::OkStatus();
  };
  ASSERT_TRUE(DebitBy(100).ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen.value_before, 2500);
  EXPECT_EQ(seen.expected_after, 2400);

  ctx_.before_commit = [](const PendingValue&) { return absl::UnavailableError("no ledger"); };
  auto refused = DebitBy(100);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable) << refused.status();
  EXPECT_EQ(apdu::GetCommitState(refused.status()), apdu::CommitState::kNotCommitted);
  EXPECT_EQ(SimValue(), 2400);
}

}  // namespace
}  // namespace desfired::cardops
