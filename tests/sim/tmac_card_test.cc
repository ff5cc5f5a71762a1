// The emulator's Transaction MAC file (sim/card/card_tmac.cc) driven by the host's DesfireCard
// (core/desfire/card_tmac.cc) in this process: the two are written independently, so this is
// where they are checked against each other. No public TMV vector exists
// (../shared/vectors/ev3_vectors.md §6: proxmark3 derives the session keys but never a TMV, and
// AN12343's walk-throughs are not transcribed anywhere public): the TMV the card computes is
// verified by the host from what the host itself sent and received. The EncTMRI response
// encryption is checked against `tmac-tmri-an12343-p64` (AN12343 p. 64, quoted in
// MichaelsPlayground/TalkToYourDESFireCard DesfireEv3.java).
#include <string>

#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "core/desfire/tmac.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/card/secure_channel.h"
#include "sim/image/image.h"
#include "tests/sim/sim_test_util.h"
#include "tests/testing/emulator_transport.h"

namespace desfired::sim {
namespace {

using desfire::AccessRights;
using desfire::CardKey;
using desfire::CommMode;
using desfire::TransactionMac;
using desfire::TransactionMacFileSpec;
using desfire::TxOptions;
using testing::H;

constexpr uint32_t kAid = 0xF51001;
constexpr uint8_t kValueFile = 1;
constexpr uint8_t kTmacFile = 0x0F;
const Bytes kMasterKey = H("00112233445566778899aabbccddeeff");
const Bytes kDebitKey = H("b0b1b2b3b4b5b6b7b8b9babbbcbdbebf");
const Bytes kTmacKey = H("F7D23E0C44AFADE542BFDF2DC5C6AE02");   // AN12343 pp. 83-84 (TTYDC)
const Bytes kReaderId = H("28BF1982BE086FBC60A22DAEB66613EE");  // AN12343 pp. 61-65 (TTYDC)
const Bytes kOtherReaderId = H("00112233445566778899AABBCCDDEEFF");

// tmac-tmri-an12343-p64: the card enciphers CommitReaderID's 16-byte answer without padding
// under SesAuthENCKey with the response IV of command counter 2.
TEST(TmacCardTest, EncTmriResponseAn12343Page64) {
  SecureChannel channel;
  ASSERT_TRUE(channel
                  .StartEv2(H("78240CC5596B751D90023827B0B7E73D"),
                            H("8248134A386E86EB7FAF54A52E536CB6"), H("2D0611EC"), 0)
                  .ok());
  (void)channel.WrapResponse(RespProtection::kPlain, Sw::kOk, {});  // counter 0 -> 1
  const Bytes wire = channel.WrapResponse(RespProtection::kFullNoPad, Sw::kOk,
                                          H("BDD40ED9F434F9DDCBF5821299CD2119"));
  ASSERT_EQ(wire.size(), 16u + 8u);  // one block, no padding block, MACt
  EXPECT_EQ(HexEncode(ByteSpan(wire).subspan(0, 16)), "a1963f1bb9fc916a8b15b2dc58002531");
}

class TmacHostCardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto state = LoadImage(std::string(SOURCE_DIR) + "/sim/images/transit.json");
    ASSERT_TRUE(state.ok()) << state.status();
    uid_ = state->uid;
    transport_ = std::make_unique<desfired::testing::EmulatorTransport>(*std::move(state));
    card_ = std::make_unique<desfire::DesfireCard>(*transport_);
  }

  void Auth(uint8_t key_no, const Bytes& key) {
    ASSERT_TRUE(card_->SelectApplication(kAid).ok());
    absl::Status s = card_->Authenticate(key_no, CardKey{.value = key}, desfire::AuthScheme::kEv2);
    ASSERT_TRUE(s.ok()) << s;
  }

  // A TransactionMAC file whose CommitReaderID needs key `reader_key` (0xE free, 0xF off).
  void CreateTmacFile(uint8_t reader_key) {
    Auth(0, kMasterKey);
    absl::Status s = card_->CreateTransactionMacFile({.file_no = kTmacFile,
                                                      .comm_mode = CommMode::kPlain,
                                                      .access = {.read = desfire::kAccessFree,
                                                                 .write = 0xF,
                                                                 .read_write = reader_key,
                                                                 .change = 0},
                                                      .key = kTmacKey,
                                                      .key_version = 1});
    ASSERT_TRUE(s.ok()) << s;
  }

  const File* CardTmacFile() {
    Application* app = transport_->card().mutable_state().FindApplication(kAid);
    return app ? app->FindFile(kTmacFile) : nullptr;
  }

  // Debits 10 in a session of the debit key, committing `reader_id` and asking for the MAC.
  absl::Status Debit(const Bytes& reader_id) {
    Auth(2, kDebitKey);
    absl::StatusOr<int32_t> before = card_->GetValue(kValueFile);
    if (!before.ok()) return before.status();
    return card_->Debit(kValueFile, 10, TxOptions{.reader_id = reader_id, .transaction_mac = true});
  }

  Bytes uid_;
  std::unique_ptr<desfired::testing::EmulatorTransport> transport_;
  std::unique_ptr<desfire::DesfireCard> card_;
};

TEST_F(TmacHostCardTest, CreatedFileShowsItsSettings) {
  CreateTmacFile(2);
  absl::StatusOr<desfire::FileSettings> s = card_->GetFileSettings(kTmacFile);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->type, desfire::FileType::kTransactionMac);
  EXPECT_EQ(s->tmac_key_option, 0x02);
  EXPECT_EQ(s->tmac_key_version, 1);
  EXPECT_EQ(s->access.read_write, 2);
  const File* f = CardTmacFile();
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->tmac_key, kTmacKey);  // deciphered by the card
  // A second one in the same application is refused.
  absl::Status again = card_->CreateTransactionMacFile(
      {.file_no = 0x0E, .access = {}, .key = kTmacKey, .key_version = 1});
  EXPECT_EQ(apdu::GetDesfireStatus(again), static_cast<uint8_t>(Sw::kDuplicateError)) << again;
}

TEST_F(TmacHostCardTest, CreateNeedsASession) {
  ASSERT_TRUE(card_->SelectApplication(kAid).ok());
  absl::Status s = card_->CreateTransactionMacFile(
      {.file_no = kTmacFile, .access = {}, .key = kTmacKey, .key_version = 1});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_EQ(
      card_->CreateTransactionMacFile({.file_no = kTmacFile, .access = {}, .key = Bytes(8, 1)})
          .code(),
      absl::StatusCode::kInvalidArgument);
}

// The card's TMV verifies under the host's TMI (GetValue, Debit, CommitReaderID), TMC counts
// the transactions, the file reads TMC ‖ TMV, and the next transaction's EncTMRI deciphers to
// the reader id committed before.
TEST_F(TmacHostCardTest, DebitWithReaderIdVerifies) {
  CreateTmacFile(2);
  ASSERT_TRUE(Debit(kReaderId).ok());
  ASSERT_TRUE(card_->last_transaction_mac().has_value());
  TransactionMac mac = *card_->last_transaction_mac();
  EXPECT_EQ(mac.tmc, 1u);
  EXPECT_EQ(mac.reader_id, kReaderId);
  EXPECT_EQ(mac.tmi.size(), 16u * 5);  // GetValue, Debit, CommitReaderID (3 blocks)
  EXPECT_TRUE(desfire::VerifyTransactionMac(kTmacKey, uid_, mac));
  EXPECT_EQ(CardTmacFile()->tmv, mac.tmv);
  EXPECT_EQ(CardTmacFile()->tmri, kReaderId);

  // Forgeries: another key, another UID, a flipped TMV bit, a TMI the host did not send.
  EXPECT_FALSE(desfire::VerifyTransactionMac(kDebitKey, uid_, mac));
  EXPECT_FALSE(desfire::VerifyTransactionMac(kTmacKey, H("04000000000000"), mac));
  TransactionMac flipped = mac;
  flipped.tmv[3] ^= 0x01;
  EXPECT_FALSE(desfire::VerifyTransactionMac(kTmacKey, uid_, flipped));
  TransactionMac other = mac;
  other.tmi[5] ^= 0x01;  // the debited amount
  EXPECT_FALSE(desfire::VerifyTransactionMac(kTmacKey, uid_, other));

  // The file reads TMC ‖ TMV (free read right).
  absl::StatusOr<Bytes> content = card_->ReadData(kTmacFile, 0, 0);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(HexEncode(*content), "01000000" + HexEncode(mac.tmv));

  // Second transaction: EncTMRI is the first reader id under the keys of TMC 1 -> 2.
  Auth(2, kDebitKey);
  ASSERT_TRUE(card_->Debit(kValueFile, 5, TxOptions{.commit = false}).ok());
  absl::StatusOr<Bytes> enc = card_->CommitReaderId(kOtherReaderId);
  ASSERT_TRUE(enc.ok()) << enc.status();
  auto keys = desfire::DeriveTmacSessionKeys(kTmacKey, 1, uid_);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*desfire::DecryptPreviousReaderId(*keys, *enc), kReaderId);
  absl::StatusOr<TransactionMac> second = card_->CommitTransactionMac();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->tmc, 2u);
  EXPECT_TRUE(desfire::VerifyTransactionMac(kTmacKey, uid_, *second));
  EXPECT_NE(second->tmv, mac.tmv);
}

// CommitReaderID enabled: a transaction without it is refused at the commit and rolled back.
TEST_F(TmacHostCardTest, CommitWithoutReaderIdIsRefusedWhenEnabled) {
  CreateTmacFile(2);
  const int32_t value =
      transport_->card().mutable_state().FindApplication(kAid)->FindFile(1)->value;
  absl::Status s = Debit({});
  EXPECT_EQ(apdu::GetDesfireStatus(s), static_cast<uint8_t>(Sw::kPermissionDenied)) << s;
  EXPECT_EQ(apdu::GetCommitState(s), apdu::CommitState::kNotCommitted);
  EXPECT_EQ(transport_->card().mutable_state().FindApplication(kAid)->FindFile(1)->value, value);
  EXPECT_EQ(CardTmacFile()->tmc, 0u);
}

// CommitReaderID needs the key the RW nibble names; disabled (F) it is refused, and the commit
// needs none.
TEST_F(TmacHostCardTest, ReaderIdRights) {
  CreateTmacFile(3);  // the credit key
  absl::Status s = Debit(kReaderId);
  EXPECT_EQ(apdu::GetDesfireStatus(s), static_cast<uint8_t>(Sw::kPermissionDenied)) << s;

  Auth(0, kMasterKey);
  ASSERT_TRUE(card_->DeleteFile(kTmacFile).ok());
  CreateTmacFile(0xF);
  s = Debit(kReaderId);
  EXPECT_EQ(apdu::GetDesfireStatus(s), static_cast<uint8_t>(Sw::kPermissionDenied)) << s;
  ASSERT_TRUE(Debit({}).ok());
  ASSERT_TRUE(card_->last_transaction_mac().has_value());
  EXPECT_TRUE(card_->last_transaction_mac()->reader_id.empty());
  EXPECT_TRUE(desfire::VerifyTransactionMac(kTmacKey, uid_, *card_->last_transaction_mac()));
}

// Without a TransactionMAC file option 01 is a parameter error; a plain commit still works.
TEST_F(TmacHostCardTest, NoTmacFile) {
  Auth(2, kDebitKey);
  absl::Status s = card_->Debit(kValueFile, 10, TxOptions{.transaction_mac = true});
  EXPECT_EQ(apdu::GetDesfireStatus(s), static_cast<uint8_t>(Sw::kParameterError)) << s;
  Auth(2, kDebitKey);
  EXPECT_TRUE(card_->Debit(kValueFile, 10).ok());
  EXPECT_FALSE(card_->last_transaction_mac().has_value());
}

// A value file in the image keeps its TMAC state through save and load.
TEST_F(TmacHostCardTest, ImageKeepsTheTmacFile) {
  CreateTmacFile(2);
  ASSERT_TRUE(Debit(kReaderId).ok());
  absl::StatusOr<CardState> back = ParseImage(SerializeImage(transport_->card().state()));
  ASSERT_TRUE(back.ok()) << back.status();
  const File* f = back->FindApplication(kAid)->FindFile(kTmacFile);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->type, FileType::kTransactionMac);
  EXPECT_EQ(f->tmac_key, kTmacKey);
  EXPECT_EQ(f->tmac_key_version, 1);
  EXPECT_EQ(f->tmc, 1u);
  EXPECT_EQ(f->tmv, CardTmacFile()->tmv);
  EXPECT_EQ(f->tmri, kReaderId);
  EXPECT_EQ(f->access.read_write, 2);
  EXPECT_FALSE(ParseImage(R"({"format":"desfire-sim-image/1","applications":[{"aid":"f51001",
      "key_settings":11,"key_type":"AES128","keys":[{"value":"00000000000000000000000000000000"}],
      "files":[{"id":15,"type":"transaction_mac","access":{"read":14,"write":15,
      "read_write":2,"change":0},"tmac_key":"0011"}]}]})")
                   .ok());
}

}  // namespace
}  // namespace desfired::sim
