// Transaction MAC through a real, sandboxed pcscd: the host (core/desfire over core/pcsc)
// creates a TransactionMAC file on desfire-sim, debits with CommitReaderID and verifies the
// card's TMV with the key. No public TMV vector exists (../shared/vectors/ev3_vectors.md §6), so
// this cross-check of two independent implementations is the TMV's test on the wire.
#include <string>

#include "core/desfire/card.h"
#include "core/desfire/tmac.h"
#include "core/pcsc/pcsc.h"
#include "gtest/gtest.h"
#include "tests/integration/transit_sandbox_test.h"
#include "tests/unit/hex_testing.h"

namespace desfired {
namespace {

using desfire::AuthScheme;
using desfire::CardKey;
using test_util::Hex;

class TmacSimTest : public testing::TransitSandboxTest {};

TEST_F(TmacSimTest, DebitCommitsReaderIdAndTheTmvVerifies) {
  auto pcsc_card = context_->Connect(sandbox_->ReaderName(0));
  ASSERT_TRUE(pcsc_card.ok()) << pcsc_card.status();
  auto uid = (*pcsc_card)->Uid();
  ASSERT_TRUE(uid.ok()) << uid.status();
  desfire::DesfireCard card(**pcsc_card);
  const Bytes tmac_key = Hex("f7d23e0c44afade542bfdf2dc5c6ae02");
  const Bytes reader_id = Hex("28bf1982be086fbc60a22daeb66613ee");

  ASSERT_TRUE(card.SelectApplication(0xF51001).ok());
  ASSERT_TRUE(card.Authenticate(0, CardKey{.value = Hex("00112233445566778899aabbccddeeff")},
                                AuthScheme::kEv2)
                  .ok());
  absl::Status created = card.CreateTransactionMacFile(
      {.file_no = 0x0F,
       .comm_mode = desfire::CommMode::kFull,
       .access = {.read = 1, .write = 0xF, .read_write = 2, .change = 0},
       .key = tmac_key,
       .key_version = 0});
  ASSERT_TRUE(created.ok()) << created;

  for (uint32_t round = 1; round <= 2; ++round) {
    ASSERT_TRUE(card.SelectApplication(0xF51001).ok());
    ASSERT_TRUE(card.Authenticate(2, CardKey{.value = Hex("b0b1b2b3b4b5b6b7b8b9babbbcbdbebf")},
                                  AuthScheme::kEv2)
                    .ok());
    ASSERT_TRUE(card.GetValue(1).ok());
    absl::Status debit =
        card.Debit(1, 25, desfire::TxOptions{.reader_id = reader_id, .transaction_mac = true});
    ASSERT_TRUE(debit.ok()) << debit;
    ASSERT_TRUE(card.last_transaction_mac().has_value());
    const desfire::TransactionMac& mac = *card.last_transaction_mac();
    EXPECT_EQ(mac.tmc, round);
    EXPECT_TRUE(desfire::VerifyTransactionMac(tmac_key, *uid, mac)) << "round " << round;
    desfire::TransactionMac forged = mac;
    forged.tmv[0] ^= 0x80;
    EXPECT_FALSE(desfire::VerifyTransactionMac(tmac_key, *uid, forged));
  }

  // The file, enciphered (comm full, read key 1): TMC ‖ TMV of the last transaction.
  const Bytes last_tmv = card.last_transaction_mac()->tmv;
  ASSERT_TRUE(card.SelectApplication(0xF51001).ok());
  ASSERT_TRUE(card.Authenticate(1, CardKey{.value = Hex("a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")},
                                AuthScheme::kEv2)
                  .ok());
  absl::StatusOr<Bytes> content = card.ReadData(0x0F, 0, 12);
  ASSERT_TRUE(content.ok()) << content.status();
  EXPECT_EQ(HexEncode(*content), "02000000" + HexEncode(last_tmv));
}

}  // namespace
}  // namespace desfired
