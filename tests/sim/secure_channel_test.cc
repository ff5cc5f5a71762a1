// SecureChannel behaviour that the published vectors do not cover: wrong MACs and CRCs are
// integrity errors, lengths are checked, and the EV1 IV advances on plain commands.
#include "sim/card/secure_channel.h"

#include "gtest/gtest.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;
using testing::H;

TEST(SecureChannelTest, Ev1WrongCmacIsIntegrityError) {
  SecureChannel ch;
  ASSERT_TRUE(ch.StartEv1(KeyType::kAes128, H("40E7D271626FFBD49C530E3D304F5B17"), 0).ok());
  Bytes body = H("0102030405060708 0000000000000000");
  EXPECT_EQ(ch.UnwrapCommand(0x3D, CmdProtection::kMac, H("01000000020000"), body),
            Sw::kIntegrityError);
  Bytes short_body = H("0102");
  EXPECT_EQ(ch.UnwrapCommand(0x3D, CmdProtection::kMac, {}, short_body), Sw::kLengthError);
}

TEST(SecureChannelTest, Ev1EncipheredWithBadCrcOrLength) {
  SecureChannel ch;
  ASSERT_TRUE(ch.StartEv1(KeyType::kAes128, Bytes(16, 0x42), 0).ok());
  Bytes body(16, 0x00);
  EXPECT_EQ(ch.UnwrapCommand(0x54, CmdProtection::kFull, {}, body, 1), Sw::kIntegrityError);
  Bytes odd(15, 0x00);
  EXPECT_EQ(ch.UnwrapCommand(0x54, CmdProtection::kFull, {}, odd, 1), Sw::kLengthError);
}

TEST(SecureChannelTest, Ev1PlainCommandAdvancesIv) {
  SecureChannel ch;
  ASSERT_TRUE(ch.StartEv1(KeyType::kAes128, Bytes(16, 0x42), 0).ok());
  const std::string before = HexEncode(ch.iv());
  Bytes body;
  EXPECT_EQ(ch.UnwrapCommand(0x6F, CmdProtection::kPlain, {}, body), Sw::kOk);
  EXPECT_NE(HexEncode(ch.iv()), before);
}

TEST(SecureChannelTest, LegacyMacRoundTrip) {
  SecureChannel ch;
  ASSERT_TRUE(ch.StartLegacy(KeyType::kDes, H("0011223344556677"), 1).ok());
  // The card's MAC on a response must verify as a command MAC over the same data.
  const Bytes data = H("00112233445566778899");
  Bytes wrapped = ch.WrapResponse(RespProtection::kMac, Sw::kOk, data);
  ASSERT_EQ(wrapped.size(), data.size() + 4);
  EXPECT_EQ(ch.UnwrapCommand(0x3D, CmdProtection::kMac, {}, wrapped), Sw::kOk);
  EXPECT_EQ(HexEncode(wrapped), HexEncode(data));
  Bytes bad = data;
  bad.insert(bad.end(), {0, 0, 0, 0});
  EXPECT_EQ(ch.UnwrapCommand(0x3D, CmdProtection::kMac, {}, bad), Sw::kIntegrityError);
}

TEST(SecureChannelTest, Ev2FullRoundTripAndWireLength) {
  SecureChannel ch;
  ASSERT_TRUE(ch.StartEv2(Bytes(16, 1), Bytes(16, 2), H("01020304"), 0).ok());
  EXPECT_EQ(ch.WireLength(CmdProtection::kFull, 10), 16u + 8u);
  EXPECT_EQ(ch.WireLength(CmdProtection::kFull, 16), 32u + 8u);  // always a padding byte
  EXPECT_EQ(ch.WireLength(CmdProtection::kMacEv2, 3), 11u);
  EXPECT_EQ(ch.WireLength(CmdProtection::kPlain, 3), 3u);
  Bytes wrong(24, 0);
  EXPECT_EQ(ch.UnwrapCommand(0x8D, CmdProtection::kFull, {}, wrong), Sw::kIntegrityError);
}

TEST(SecureChannelTest, NoSessionIsTransparent) {
  SecureChannel ch;
  Bytes body = H("0102");
  EXPECT_EQ(ch.UnwrapCommand(0x3D, CmdProtection::kFull, {}, body), Sw::kOk);
  EXPECT_EQ(HexEncode(ch.WrapResponse(RespProtection::kFull, Sw::kOk, body)), "0102");
}

}  // namespace
}  // namespace desfired::sim
