// Faults on a real transport (pcscd + vpcd + desfire-sim with the transit image): a card
// torn away mid-transaction leaves its value unchanged, and a forged or damaged reply is
// refused. The value is always read back on a fresh connection after the card returns.
#include <functional>
#include <memory>
#include <string>

#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/status.h"
#include "core/pcsc/pcsc.h"
#include "gtest/gtest.h"
#include "tests/integration/transit_sandbox_test.h"
#include "tests/unit/hex_testing.h"

namespace desfired {
namespace {

using apdu::CommitState;
using desfire::CardKey;
using desfire::DesfireCard;
using test_util::Hex;

// sim/images/transit.json: application F51001; value file 1 (full mode, 2500) read by key 1,
// debited by key 2; cyclic record file 3 (MAC mode).
constexpr uint32_t kTransitAid = 0xF51001;
constexpr uint8_t kValueFile = 1;
constexpr uint8_t kRecordFile = 3;
constexpr int32_t kInitialValue = 2500;
constexpr char kReadKey[] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
constexpr char kDebitKey[] = "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

// Damages the reply to the `target`-th APDU (1-based) with `damage`; the fault a real card
// cannot be made to produce on demand.
class DamagingTransport final : public apdu::CardTransport {
 public:
  DamagingTransport(apdu::CardTransport& inner, int target, std::function<void(Bytes&)> damage)
      : inner_(inner), target_(target), damage_(std::move(damage)) {}
  absl::StatusOr<Bytes> Transmit(ByteSpan command) override {
    absl::StatusOr<Bytes> reply = inner_.Transmit(command);
    if (reply.ok() && ++count_ == target_) damage_(*reply);
    return reply;
  }
  void Arm(int target_from_now) { target_ = count_ + target_from_now; }

 private:
  apdu::CardTransport& inner_;
  int target_;
  int count_ = 0;
  std::function<void(Bytes&)> damage_;
};

class CardFaultTest : public testing::TransitSandboxTest {
 protected:
  std::unique_ptr<pcsc::PcscCard> Connect() {
    auto card = context_->Connect(sandbox_->ReaderName(0));
    EXPECT_TRUE(card.ok()) << card.status();
    return card.ok() ? *std::move(card) : nullptr;
  }

  // The card's value as a fresh connection with the read key sees it.
  int32_t ValueOnCard() {
    auto pcsc_card = Connect();
    if (!pcsc_card) return -1;
    DesfireCard card(*pcsc_card);
    const Bytes key = Hex(kReadKey);
    EXPECT_TRUE(card.SelectApplication(kTransitAid).ok());
    EXPECT_TRUE(card.Authenticate(1, {crypto::KeyType::kAes128, key}).ok());
    auto value = card.GetValue(kValueFile);
    EXPECT_TRUE(value.ok()) << value.status();
    return value.ok() ? *value : -1;
  }

  // Selects the application, authenticates with the debit key and caches file 1's settings
  // (so that the next APDU is the Debit itself).
  void Prepare(DesfireCard& card) {
    const Bytes key = Hex(kDebitKey);
    ASSERT_TRUE(card.SelectApplication(kTransitAid).ok());
    ASSERT_TRUE(card.Authenticate(2, {crypto::KeyType::kAes128, key}).ok());
    auto value = card.GetValue(kValueFile);
    ASSERT_TRUE(value.ok()) << value.status();
    ASSERT_EQ(*value, kInitialValue);
  }

  // A Debit torn by `tear` (desfire-sim's control command) fails as CARD_REMOVED with
  // `commit_state`; after the card is back its value is the initial one.
  void TornDebitLeavesTheValueUnchanged(const std::string& tear, CommitState commit_state) {
    auto pcsc_card = Connect();
    ASSERT_NE(pcsc_card, nullptr);
    DesfireCard card(*pcsc_card);
    ASSERT_NO_FATAL_FAILURE(Prepare(card));
    ASSERT_TRUE(sandbox_->Control(0, tear).ok());
    absl::Status s = card.Debit(kValueFile, 100);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_EQ(apdu::GetReason(s), std::string(apdu::kReasonCardRemoved)) << s;
    EXPECT_EQ(apdu::GetCommitState(s), commit_state) << s;
    pcsc_card.reset();
    ASSERT_NO_FATAL_FAILURE(ReinsertCard());
    EXPECT_EQ(ValueOnCard(), kInitialValue);
  }

  void ReinsertCard() {
    ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
    ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
    ASSERT_TRUE(sandbox_->WaitForCard(0, true, absl::Seconds(3)).ok());
  }
};

// The control: without a fault the debit lands, so the tests below can tell.
TEST_F(CardFaultTest, DebitWithoutFaultChangesTheValue) {
  auto pcsc_card = Connect();
  ASSERT_NE(pcsc_card, nullptr);
  DesfireCard card(*pcsc_card);
  ASSERT_NO_FATAL_FAILURE(Prepare(card));
  ASSERT_TRUE(card.Debit(kValueFile, 100).ok());
  pcsc_card.reset();
  EXPECT_EQ(ValueOnCard(), kInitialValue - 100);
}

TEST_F(CardFaultTest, TornDuringDebitLeavesTheValueUnchanged) {
  // The Debit APDU torn: nothing was changed.
  TornDebitLeavesTheValueUnchanged("tear 1", CommitState::kNotCommitted);
}

TEST_F(CardFaultTest, TornDuringCommitLeavesTheValueUnchanged) {
  // Debit answered, CommitTransaction torn: the host cannot know whether the commit reached the
  // card, and says so.
  TornDebitLeavesTheValueUnchanged("tear 2", CommitState::kUnknown);
}

// A forged "success" to Debit (91 00 without the CMAC the session requires) is refused; the
// pending debit is aborted on the card.
TEST_F(CardFaultTest, DebitReplyWithoutMacIsRefusedAndAborted) {
  auto pcsc_card = Connect();
  ASSERT_NE(pcsc_card, nullptr);
  DamagingTransport damaging(*pcsc_card, -1, [](Bytes& reply) { reply = {0x91, 0x00}; });
  DesfireCard card(damaging);
  ASSERT_NO_FATAL_FAILURE(Prepare(card));
  damaging.Arm(1);
  absl::Status s = card.Debit(kValueFile, 100);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_EQ(apdu::GetReason(s), std::string(desfire::kReasonIntegrityError)) << s;
  EXPECT_EQ(apdu::GetCommitState(s), CommitState::kNotCommitted) << s;
  EXPECT_FALSE(card.session().authenticated());
  pcsc_card.reset();
  EXPECT_EQ(ValueOnCard(), kInitialValue);
}

// One flipped bit in the MAC of a MACed reply (the tap log) is refused.
TEST_F(CardFaultTest, FlippedResponseMacIsRefused) {
  auto pcsc_card = Connect();
  ASSERT_NE(pcsc_card, nullptr);
  DamagingTransport damaging(*pcsc_card, -1, [](Bytes& reply) {
    if (reply.size() > 3) reply[reply.size() - 3] ^= 0x01;  // the last MAC byte
  });
  DesfireCard card(damaging);
  const Bytes key = Hex(kReadKey);
  ASSERT_TRUE(card.SelectApplication(kTransitAid).ok());
  ASSERT_TRUE(card.Authenticate(1, {crypto::KeyType::kAes128, key}).ok());
  ASSERT_TRUE(card.GetFileSettings(kRecordFile).ok());
  auto good = card.ReadRecords(kRecordFile, 0, 1);
  ASSERT_TRUE(good.ok()) << good.status();
  damaging.Arm(1);
  auto bad = card.ReadRecords(kRecordFile, 0, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  EXPECT_EQ(apdu::GetReason(bad.status()), std::string(desfire::kReasonIntegrityError));
}

}  // namespace
}  // namespace desfired
