// The card side of LRP (desfire-sim --lrp) against the published LRP exchanges of
// ev3_vectors.md §2 (shared/vectors): the host's half is replayed, the card gets the
// published RndB and TI through its random source and must answer byte for byte.
#include <utility>

#include "core/crypto/lrp.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/card/secure_channel.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using testing::H;
using testing::RunTranscript;

// An AES application 000001 with four zero keys on a card in LRP mode.
Card LrpCard(RandomSource random) {
  CardState state;
  Application app;
  app.aid = 0x000001;
  app.key_family = crypto::KeyType::kAes128;
  app.keys.assign(4, Key{crypto::KeyType::kAes128, Bytes(16, 0), 0});
  state.applications.push_back(std::move(app));
  Card card(std::move(state), std::move(random));
  card.set_lrp_mode(true);
  return card;
}

// lrp-auth-first: icedevml/nfc-ev2-crypto@2667cc32 test_lrp_auth.py test_auth1_lrp (RndA and
// RndB of AN12343 p.49), key 00×16, KeyNo 03; the card's TI is 58EE9424 and its PDcap2 02 00..
// (what the published E deciphers to).
TEST(LrpCardTest, AuthenticateLrpFirstVector) {
  testing::ScriptedRandom rnd;
  rnd.Push(H("56109A31977C855319CD4618C9D2AED2"));  // RndB
  rnd.Push(H("58EE9424"));                          // TI
  Card card = LrpCard(rnd.Source());
  RunTranscript(card, {
                          {"905a00000301000000", "9100"},
                          {"907100000303010200", "0156109A31977C855319CD4618C9D2AED291AF"},
                          {"90AF00002074D7DF6A2CEC0B72B412DE0D2B1117E6"
                           "189B59DCEDC31A3D3F38EF8D4810B3B400",
                           "F4FC209D9D60623588B299FA5D6B2D710125F8547D9FB8D572C90D2C2A14E2359100"},
                      });
  EXPECT_EQ(card.channel().scheme(), AuthScheme::kLrp);
  EXPECT_EQ(HexEncode(card.channel().ti()), "58ee9424");
}

TEST(LrpCardTest, LrpModeRefusesAesAuthenticationsAndWrongMacs) {
  testing::ScriptedRandom rnd;
  rnd.Push(H("56109A31977C855319CD4618C9D2AED2"));
  Card card = LrpCard(rnd.Source());
  RunTranscript(card, {
                          {"905a00000301000000", "9100"},
                          {"90aa0000010300", "91AE"},      // AuthenticateAES
                          {"907100000303010000", "91AE"},  // EV2First without LRP
                          {"907100000303010200", "0156109A31977C855319CD4618C9D2AED291AF"},
                          {"90AF00002074D7DF6A2CEC0B72B412DE0D2B1117E6"
                           "189B59DCEDC31A3D3F38EF8D4810B3B500",  // last MAC byte changed
                           "91AE"},
                      });
  EXPECT_FALSE(card.channel().authenticated());
}

// lrp-sm-getcarduid: icedevml/nfc-ev2-crypto@2667cc32 test_lrp_cmd.py test_lrp_cmd: three
// GetCardUID in CommMode.FULL (the SV given directly, TI 4F5E8407, EncCtr from 1): the card's
// channel checks each command MAC and must produce each published response.
TEST(LrpCardTest, ThreeFullGetCardUidVector) {
  auto cmac = crypto::LrpCmac::Create(Bytes(16, 0));
  ASSERT_TRUE(cmac.ok());
  uint8_t master[16];
  cmac->Compute(H("00010080993C4EED466BFC0E7EE1D30C1EBD0DEA6F6481E0D70E9A174E789669"), master);
  SecureChannel ch;
  ASSERT_TRUE(ch.StartLrp(ByteSpan(master, 16), H("4F5E8407"), 0, 1).ok());
  const char* steps[][2] = {
      {"C37D6270F674CC6D", "5EC351196B8E2943DB04FCD4A952F53DA2830DC2258E4539"},
      {"D65CCB81E5591400", "D80B735F7B4C8E7E8A3CDAAA4410F35F752769C8EBC48E1A"},
      {"8C677D7DCC349371", "9CCD031474A50199C696D8EF272E231A10173FAF41B614E4"},
  };
  for (const auto& step : steps) {
    Bytes body = H(step[0]);
    ASSERT_EQ(ch.UnwrapCommand(0x51, CmdProtection::kMacEv2, {}, body), Sw::kOk) << step[0];
    EXPECT_TRUE(body.empty());
    Bytes reply = ch.WrapResponse(RespProtection::kFull, Sw::kOk, H("04940D2A2F7080"));
    EXPECT_EQ(HexEncode(reply), HexEncode(H(step[1])));
  }
  EXPECT_EQ(ch.command_counter(), 3);
  Bytes forged = H("C37D6270F674CC6D");
  EXPECT_EQ(ch.UnwrapCommand(0x51, CmdProtection::kMacEv2, {}, forged), Sw::kIntegrityError);
}

}  // namespace
}  // namespace desfired::sim
