// Transaction MAC on the host side (core/desfire/tmac.h). The session keys against
// ../shared/vectors/ev3_vectors.md §6 `tmac-seskeys-pm3-1` (RfidResearchGroup/proxmark3
// client/src/mifare/desfiretest.c TestTransSessionKeys, formula MF2DLHX0 p.42). No public
// TMV vector exists (ev3_vectors.md §6: pm3 never computes one, AN12343's walk-throughs are
// not transcribed anywhere): the TMV is cross-checked against the emulator's independent
// implementation in tests/sim/tmac_crypto_test.cc.
#include "core/desfire/tmac.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace desfired::desfire {
namespace {

using testing::H;

TEST(TmacTest, SessionKeysPm3Vector) {
  absl::StatusOr<TmacSessionKeys> k =
      DeriveTmacSessionKeys(H("66A8CB93269DC9BC2885B7A91B9C697B"), 8, H("04010203040506"));
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(HexEncode(k->mac), "7c1ad2d9c5c08154a0a4914b401a6598");
  EXPECT_EQ(HexEncode(k->enc), "119b902a07b18a865b8e1b0060594784");
}

TEST(TmacTest, TmiEntriesArePaddedToBlocks) {
  Bytes tmi;
  AppendTmi(tmi, TmiValueEntry(0xDC, 1, 150));
  EXPECT_EQ(HexEncode(tmi), "dc0196000000" + std::string(20, '0'));
  AppendTmi(tmi, H("C7"));
  EXPECT_EQ(tmi.size(), 32u);
  AppendTmi(tmi, Bytes(16, 0xAA));
  EXPECT_EQ(tmi.size(), 48u);
  EXPECT_EQ(HexEncode(TmiValueEntry(0x6C, 2, -1)), "6c02ffffffff");
}

TEST(TmacTest, TmvIsTheOddBytesOfTheCmac) {
  const Bytes key = H("7C1AD2D9C5C08154A0A4914B401A6598");
  Bytes tmi;
  AppendTmi(tmi, TmiValueEntry(0xDC, 1, 150));
  absl::StatusOr<Bytes> tmv = ComputeTmv(key, tmi);
  ASSERT_TRUE(tmv.ok());
  EXPECT_EQ(tmv->size(), kTmvLength);
  EXPECT_TRUE(TmvMatches(key, tmi, *tmv));
  Bytes forged = *tmv;
  forged[0] ^= 1;
  EXPECT_FALSE(TmvMatches(key, tmi, forged));
  EXPECT_FALSE(TmvMatches(key, tmi, ByteSpan(*tmv).subspan(0, 7)));
}

TEST(TmacTest, BadSizesAreRefused) {
  EXPECT_FALSE(DeriveTmacSessionKeys(Bytes(8, 0), 0, Bytes(7, 0)).ok());
  EXPECT_FALSE(DeriveTmacSessionKeys(Bytes(16, 0), 0, Bytes(4, 0)).ok());
  EXPECT_FALSE(ComputeTmv(Bytes(24, 0), {}).ok());
}

}  // namespace
}  // namespace desfired::desfire
