// The emulator's Transaction MAC arithmetic (sim/card/tmac_crypto.h): the session keys against
// ../shared/vectors/ev3_vectors.md §6 `tmac-seskeys-pm3-1` (RfidResearchGroup/proxmark3
// desfiretest.c TestTransSessionKeys). No public TMV vector exists (ev3_vectors.md §6), so the
// TMV is cross-checked against the host's independent implementation (core/desfire/tmac.h)
// over TMIs of one to three commands and several counters.
#include "sim/card/tmac_crypto.h"

#include "core/desfire/tmac.h"
#include "gtest/gtest.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using testing::H;

TEST(TmacCryptoTest, SessionKeysPm3Vector) {
  const TmacCardKeys k =
      TmacCardKeys::For(H("66A8CB93269DC9BC2885B7A91B9C697B"), 8, H("04010203040506"));
  EXPECT_EQ(HexEncode(k.ses_mac), "7c1ad2d9c5c08154a0a4914b401a6598");
  EXPECT_EQ(HexEncode(k.ses_enc), "119b902a07b18a865b8e1b0060594784");
}

TEST(TmacCryptoTest, TmvAgreesWithTheHost) {
  const Bytes key = H("F7D23E0C44AFADE542BFDF2DC5C6AE02");  // AN12343 pp.83-84 (TTYDC)
  const Bytes uid = H("04DE5F1EACC040");
  for (uint32_t tmc : {0u, 1u, 0xFFFEu, 0x12345678u}) {
    const TmacCardKeys card = TmacCardKeys::For(key, tmc, uid);
    absl::StatusOr<desfire::TmacSessionKeys> host = desfire::DeriveTmacSessionKeys(key, tmc, uid);
    ASSERT_TRUE(host.ok());
    EXPECT_EQ(card.ses_mac, host->mac);
    EXPECT_EQ(card.ses_enc, host->enc);
    Bytes card_tmi, host_tmi;
    const Bytes parts[] = {H("DC0196000000"), H("0C0264000000"), Bytes(20, 0x5A)};
    for (const Bytes& part : parts) {
      AddToTmi(part, card_tmi);
      desfire::AppendTmi(host_tmi, part);
      EXPECT_EQ(card_tmi, host_tmi);
      EXPECT_EQ(card.Tmv(card_tmi), *desfire::ComputeTmv(host->mac, host_tmi)) << tmc;
    }
  }
}

}  // namespace
}  // namespace desfired::sim
