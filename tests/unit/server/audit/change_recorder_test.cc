// ChangeRecorder on a real ledger file and the in-process emulator (the transit card): the
// admission rules of a request_id, and settling an unfinished value change by what the card
// holds — COMMITTED, NOT_COMMITTED, CONFLICT — or UNKNOWN when it cannot be read back
// (docs/ledger.md, "Idempotency and reconciliation").
#include "server/audit/change_recorder.h"

#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/apdu/status_payload.h"
#include "core/cardops/context.h"
#include "core/desfire/card.h"
#include "core/keys/key_store.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/image/image.h"
#include "tests/testing/emulated_card_test.h"

namespace desfired::server {
namespace {

constexpr uint32_t kTransitAid = desfired::testing::kEmulatedTransitAid;
constexpr const char* kReader = desfired::testing::kEmulatedReader;
constexpr char kKeys[] =
    "key transit-read  AES128 a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n"
    "key transit-debit AES128 b0b1b2b3b4b5b6b7b8b9babbbcbdbebf\n";

std::string Reason(const absl::Status& s) { return apdu::GetReason(s).value_or(""); }

class ChangeRecorderTest : public desfired::testing::EmulatedCardTest {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/change-recorder-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/ledger.sqlite";
    Load("transit.json", kKeys);
    if (HasFatalFailure()) return;
    Reopen();
  }
  void TearDown() override {
    recorder_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // A new recorder on the same file (as after a restart).
  void Reopen() {
    recorder_.reset();
    auto ledger = ledger::Ledger::Open(path_);
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    recorder_ = std::make_unique<ChangeRecorder>(*std::move(ledger), ChangeRecorder::Options{});
  }

  v1::DebitRequest DebitReq(int32_t amount, const std::string& id) const {
    v1::DebitRequest r;
    r.mutable_target()->set_reader(kReader);
    r.set_aid(kTransitAid);
    r.set_file_no(1);
    r.mutable_auth()->set_key_name("transit-debit");
    r.mutable_auth()->set_key_number(2);
    r.set_amount(amount);
    r.set_request_id(id);
    return r;
  }
  ChangeRequest Change(const v1::DebitRequest& r) const {
    ChangeRequest c;
    c.method = "Debit";
    c.request_id = r.request_id();
    c.caller = "test";
    c.reader = kReader;
    c.aid = r.aid();
    c.file_no = r.file_no();
    c.amount = r.amount();
    c.request_hash = RequestHash("Debit", r);
    c.payload = r.SerializeAsString();
    return c;
  }

  int32_t& CardValue() { return SimFile(kTransitAid, 1).value; }

  // A debit that wrote its PENDING row (value before, expected after) and then "crashed": no
  // outcome row, then a restart. Returns the unsettled count Recover reports.
  size_t PendingThenCrash(const v1::DebitRequest& r) {
    const int32_t before = CardValue();
    {
      auto attempt = recorder_->Begin(Change(r));
      EXPECT_TRUE(attempt.ok()) << attempt.status();
      cardops::PendingValue value{.value_before = before, .expected_after = before - r.amount()};
      EXPECT_TRUE((*attempt)->Pending(ctx_, &value).ok());
    }
    Reopen();
    auto waiting = recorder_->Recover();
    EXPECT_TRUE(waiting.ok()) << waiting.status();
    return waiting.ok() ? *waiting : 0;
  }

  std::optional<ledger::Row> Latest(const std::string& id) {
    auto row = recorder_->ledger().Latest(id);
    EXPECT_TRUE(row.ok()) << row.status();
    return row.ok() ? *row : std::nullopt;
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<ChangeRecorder> recorder_;
};

TEST_F(ChangeRecorderTest, RequestHashIgnoresTheIdAndSeesEverythingElse) {
  EXPECT_EQ(RequestHash("Debit", DebitReq(5, "a")), RequestHash("Debit", DebitReq(5, "b")));
  EXPECT_NE(RequestHash("Debit", DebitReq(5, "a")), RequestHash("Debit", DebitReq(6, "a")));
  EXPECT_NE(RequestHash("Debit", DebitReq(5, "a")), RequestHash("Credit", DebitReq(5, "a")));
  v1::DebitRequest other_reader = DebitReq(5, "a");
  other_reader.mutable_target()->set_reader("another");
  EXPECT_NE(RequestHash("Debit", DebitReq(5, "a")), RequestHash("Debit", other_reader));
}

TEST_F(ChangeRecorderTest, AdmissionOfARequestId) {
  const v1::DebitRequest r = DebitReq(5, "id-1");
  auto first = recorder_->Begin(Change(r));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE((*first)->replay().has_value());

  // While it runs, the same id is told to retry.
  auto concurrent = recorder_->Begin(Change(r));
  EXPECT_EQ(Reason(concurrent.status()), "REQUEST_IN_PROGRESS") << concurrent.status();

  // It succeeds: the same id is answered from its DONE row from now on.
  v1::DebitResponse done;
  done.mutable_change()->set_committed(true);
  done.mutable_change()->set_value_after(42);
  (*first)->Done(&ctx_, absl::OkStatus(), done.SerializeAsString());
  first->reset();
  auto replay = recorder_->Begin(Change(r));
  ASSERT_TRUE(replay.ok()) << replay.status();
  ASSERT_TRUE((*replay)->replay().has_value()) << "a DONE OK row is replayed";
  v1::DebitResponse replayed;
  ASSERT_TRUE(replayed.ParseFromString(*(*replay)->replay()));
  EXPECT_EQ(replayed.change().value_after(), 42);
  replay->reset();

  auto reused = recorder_->Begin(Change(DebitReq(6, "id-1")));
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Reason(reused.status()), "REQUEST_ID_REUSED") << reused.status();

  const v1::DebitRequest r2 = DebitReq(5, "id-2");
  auto failing = recorder_->Begin(Change(r2));
  ASSERT_TRUE(failing.ok());
  (*failing)->Done(&ctx_, apdu::WithReason(absl::OutOfRangeError("no"), "INSUFFICIENT_VALUE"), "");
  failing->reset();
  std::optional<ledger::Row> row = Latest("id-2");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->outcome, "OUT_OF_RANGE");
  EXPECT_EQ(row->reason, "INSUFFICIENT_VALUE");
  auto again = recorder_->Begin(Change(r2));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE((*again)->replay().has_value()) << "a failed change must run again";
}

// A change refused before it reached the card (no card on the reader) is NOT_COMMITTED, in the
// status and in its DONE row; UNKNOWN while an earlier attempt of the request is unsettled.
TEST_F(ChangeRecorderTest, RefusedBeforeTheCardIsNotCommitted) {
  auto attempt = recorder_->Begin(Change(DebitReq(5, "no-card")));
  ASSERT_TRUE(attempt.ok()) << attempt.status();
  absl::Status s = (*attempt)->Refused(
      apdu::WithReason(absl::FailedPreconditionError("no card on the reader"), "NO_CARD"));
  EXPECT_EQ(apdu::GetCommitState(s), apdu::CommitState::kNotCommitted) << s;
  EXPECT_EQ(Reason(s), "NO_CARD");
  // Recorded once: a second call changes nothing.
  EXPECT_EQ((*attempt)->Refused(absl::UnavailableError("later")).code(),
            absl::StatusCode::kUnavailable);
  attempt->reset();
  std::optional<ledger::Row> row = Latest("no-card");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event, ledger::Event::kDone);
  EXPECT_EQ(row->reason, "NO_CARD");
  EXPECT_EQ(row->commit_state, "NOT_COMMITTED");

  const v1::DebitRequest r = DebitReq(7, "pending-then-no-card");
  ASSERT_EQ(PendingThenCrash(r), 1u);
  auto retry = recorder_->Begin(Change(r));
  ASSERT_TRUE(retry.ok()) << retry.status();
  s = (*retry)->Refused(
      apdu::WithReason(absl::FailedPreconditionError("no card on the reader"), "NO_CARD"));
  EXPECT_EQ(apdu::GetCommitState(s), apdu::CommitState::kUnknown) << s;
}

TEST_F(ChangeRecorderTest, SettledCommittedWhenTheCardHoldsTheExpectedValue) {
  const v1::DebitRequest r = DebitReq(5, "settle-committed");
  const int32_t before = CardValue();
  ASSERT_EQ(PendingThenCrash(r), 1u);
  CardValue() = before - 5;  // the card committed before the crash
  EXPECT_TRUE(recorder_->HasUnsettled(ctx_.uid));
  auto settled = recorder_->SettleCard(ctx_);
  ASSERT_TRUE(settled.ok()) << settled.status();
  EXPECT_EQ(*settled, 1u);
  EXPECT_FALSE(recorder_->HasUnsettled(ctx_.uid));
  std::optional<ledger::Row> row = Latest("settle-committed");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event, ledger::Event::kReconciled);
  EXPECT_EQ(row->outcome, "COMMITTED");
  EXPECT_EQ(row->value_after, before - 5);

  auto retry = recorder_->Begin(Change(r));
  ASSERT_TRUE(retry.ok()) << retry.status();
  ASSERT_TRUE((*retry)->replay().has_value());
  v1::DebitResponse replayed;
  ASSERT_TRUE(replayed.ParseFromString(*(*retry)->replay()));
  EXPECT_TRUE(replayed.change().committed());
  EXPECT_EQ(replayed.change().value_before(), before);
  EXPECT_EQ(replayed.change().value_after(), before - 5);
}

TEST_F(ChangeRecorderTest, SettledNotCommittedWhenTheCardHoldsTheValueBefore) {
  const v1::DebitRequest r = DebitReq(5, "settle-rolled-back");
  ASSERT_EQ(PendingThenCrash(r), 1u);
  // The retry settles it itself (the card is on the reader), then runs.
  auto retry = recorder_->Begin(Change(r));
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_FALSE((*retry)->replay().has_value());
  auto earlier = (*retry)->SettleEarlier(ctx_);
  ASSERT_TRUE(earlier.ok()) << earlier.status();
  EXPECT_FALSE(earlier->has_value()) << "nothing to replay: the change must be made";
  std::optional<ledger::Row> row = Latest("settle-rolled-back");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->outcome, "NOT_COMMITTED");
}

TEST_F(ChangeRecorderTest, ConflictWhenTheValueMovedElsewhereNeedsAPerson) {
  const v1::DebitRequest r = DebitReq(5, "settle-conflict");
  const int32_t before = CardValue();
  ASSERT_EQ(PendingThenCrash(r), 1u);
  CardValue() = before + 100;  // changed by someone else meanwhile
  ASSERT_TRUE(recorder_->SettleCard(ctx_).ok());
  std::optional<ledger::Row> row = Latest("settle-conflict");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->outcome, "CONFLICT");
  auto retry = recorder_->Begin(Change(r));
  EXPECT_EQ(Reason(retry.status()), "OUTCOME_UNKNOWN") << retry.status();
  EXPECT_EQ(apdu::GetCommitState(retry.status()), apdu::CommitState::kUnknown);
  EXPECT_EQ(CardValue(), before + 100) << "settling never changes the card";
}

TEST_F(ChangeRecorderTest, AnotherCardCannotSettleIt) {
  const v1::DebitRequest r = DebitReq(5, "settle-other-card");
  ASSERT_EQ(PendingThenCrash(r), 1u);
  cardops::CardContext other = ctx_;
  other.uid = Bytes{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
  EXPECT_FALSE(recorder_->HasUnsettled(other.uid));
  auto retry = recorder_->Begin(Change(r));
  ASSERT_TRUE(retry.ok());
  auto earlier = (*retry)->SettleEarlier(other);
  EXPECT_EQ(Reason(earlier.status()), "OUTCOME_UNKNOWN") << earlier.status();
  retry->reset();
  EXPECT_TRUE(recorder_->HasUnsettled(ctx_.uid)) << "it still waits for its own card";
}

TEST_F(ChangeRecorderTest, ChangesThatCannotBeReadBackAreSettledUnknownAtStart) {
  ChangeRequest write;
  write.method = "WriteData";
  write.request_id = "write-1";
  write.reader = kReader;
  write.request_hash = "00";
  {
    auto attempt = recorder_->Begin(write);
    ASSERT_TRUE(attempt.ok());
    ASSERT_TRUE((*attempt)->Pending(ctx_, nullptr).ok());
  }
  Reopen();
  auto waiting = recorder_->Recover();
  ASSERT_TRUE(waiting.ok()) << waiting.status();
  EXPECT_EQ(*waiting, 0u);
  std::optional<ledger::Row> row = Latest("write-1");
  ASSERT_TRUE(row.has_value());
  EXPECT_EQ(row->event, ledger::Event::kReconciled);
  EXPECT_EQ(row->outcome, "UNKNOWN");
  auto retry = recorder_->Begin(write);
  EXPECT_EQ(Reason(retry.status()), "OUTCOME_UNKNOWN") << retry.status();
}

}  // namespace
}  // namespace desfired::server
