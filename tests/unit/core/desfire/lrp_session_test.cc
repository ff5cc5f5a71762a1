// LRP on the host: session keys, AuthenticateLRPFirst and LRP secure messaging against the
// vectors of ev3_vectors.md §2 (shared/vectors), replayed by ScriptedTransport.
#include <gtest/gtest.h>

#include "core/apdu/scripted_transport.h"
#include "core/crypto/lrp.h"
#include "core/desfire/lrp_messaging.h"
#include "core/desfire/session.h"
#include "core/desfire/session_keys.h"
#include "test_util.h"

namespace desfired::desfire {
namespace {

using crypto::KeyType;
using testing::H;
using testing::ReasonOf;
using Fixture = testing::ScriptedSession;

// lrp-seskey-an12343: RfidResearchGroup/proxmark3@1c8c3b78 desfiretest.c TestLRPSessionKeys
// (AN12343 p.49). lrp-seskey-pm3-nonzero: the same test's second vector.
TEST(LrpSessionTest, SessionMasterKeys) {
  auto an12343 = DeriveLrpSessionMasterKey(Bytes(16), H("74D7DF6A2CEC0B72B412DE0D2B1117E6"),
                                           H("56109A31977C855319CD4618C9D2AED2"));
  ASSERT_TRUE(an12343.ok()) << an12343.status();
  EXPECT_EQ(HexEncode(*an12343), "132d7e6f35ba861f39b37221214e25a5");
  auto nonzero = DeriveLrpSessionMasterKey(H("00112233445566778899AABBCCDDEEFF"),
                                           H("0123456789ABCDEF0123456789ABCDEF"),
                                           H("FEDCBA9876543210FEDCBA9876543210"));
  ASSERT_TRUE(nonzero.ok());
  EXPECT_EQ(HexEncode(*nonzero), "1ac2b1021f6ef99e79b703b6b33f65e6");
  EXPECT_FALSE(DeriveLrpSessionMasterKey(Bytes(16), Bytes(15), Bytes(16)).ok());
}

// lrp-auth-first: icedevml/nfc-ev2-crypto@2667cc32 test_lrp_auth.py test_auth1_lrp (RndA/RndB
// of AN12343 p.49), key 00×16, KeyNo 03.
constexpr char kAuthCApdu1[] = "90 71 00 00 03 03 01 02 00";
constexpr char kAuthRApdu1[] = "01 56109A31977C855319CD4618C9D2AED2 91AF";
constexpr char kAuthCApdu2[] =
    "90 AF 00 00 20 74D7DF6A2CEC0B72B412DE0D2B1117E6 189B59DCEDC31A3D3F38EF8D4810B3B4 00";
constexpr char kAuthRApdu2[] =
    "F4FC209D9D60623588B299FA5D6B2D71 0125F8547D9FB8D572C90D2C2A14E235 9100";
constexpr char kAuthRndA[] = "74D7DF6A2CEC0B72B412DE0D2B1117E6";

TEST(LrpSessionTest, AuthenticateLrpFirst) {
  Fixture f({{kAuthCApdu1, kAuthRApdu1}, {kAuthCApdu2, kAuthRApdu2}}, {H(kAuthRndA)});
  absl::Status s = f.session.Authenticate(AuthScheme::kLrp, 3, KeyType::kAes128, Bytes(16));
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(f.session.scheme(), AuthScheme::kLrp);
  EXPECT_EQ(HexEncode(f.session.transaction_id()), "58ee9424");
  EXPECT_EQ(f.session.command_counter(), 0);
  EXPECT_TRUE(f.transport.Finished());
}

TEST(LrpSessionTest, ForgedCardMacFails) {
  // The last byte of the card's MAC flipped.
  Fixture f(
      {{kAuthCApdu1, kAuthRApdu1},
       {kAuthCApdu2, "F4FC209D9D60623588B299FA5D6B2D71 0125F8547D9FB8D572C90D2C2A14E234 9100"}},
      {H(kAuthRndA)});
  absl::Status s = f.session.Authenticate(AuthScheme::kLrp, 3, KeyType::kAes128, Bytes(16));
  EXPECT_EQ(ReasonOf(s), "AUTHENTICATION_FAILED");
  EXPECT_FALSE(f.session.authenticated());
}

TEST(LrpSessionTest, NotLrpOrBadLengthsAreProtocolErrors) {
  {
    // AuthMode 00: the card did not switch to LRP (an AES-mode card).
    Fixture f({{kAuthCApdu1, "00 56109A31977C855319CD4618C9D2AED2 91AF"}}, {H(kAuthRndA)});
    EXPECT_EQ(ReasonOf(f.session.Authenticate(AuthScheme::kLrp, 3, KeyType::kAes128, Bytes(16))),
              "PROTOCOL_ERROR");
  }
  {
    Fixture f({{kAuthCApdu1, "01 56109A31977C855319CD4618C9D2AE 91AF"}}, {H(kAuthRndA)});
    EXPECT_EQ(ReasonOf(f.session.Authenticate(AuthScheme::kLrp, 3, KeyType::kAes128, Bytes(16))),
              "PROTOCOL_ERROR");
  }
  {
    Fixture f({{kAuthCApdu1, kAuthRApdu1}, {kAuthCApdu2, "F4FC209D9D60623588B299FA5D6B2D71 9100"}},
              {H(kAuthRndA)});
    EXPECT_EQ(ReasonOf(f.session.Authenticate(AuthScheme::kLrp, 3, KeyType::kAes128, Bytes(16))),
              "PROTOCOL_ERROR");
    EXPECT_FALSE(f.session.authenticated());
  }
}

// SesAuthMasterKey of lrp-sm-getcarduid: CMAC_LRP(00×16; SV), SV as the vector gives it.
Bytes GetCardUidMaster() {
  auto cmac = crypto::LrpCmac::Create(Bytes(16));
  Bytes master(16);
  if (cmac.ok()) {
    cmac->Compute(H("00010080993C4EED466BFC0E7EE1D30C1EBD0DEA6F6481E0D70E9A174E789669"),
                  master.data());
  }
  return master;
}

// lrp-sm-getcarduid: icedevml/nfc-ev2-crypto@2667cc32 test_lrp_cmd.py test_lrp_cmd: three
// GetCardUID (51) in CommMode.FULL; SV given directly, TI 4F5E8407, EncCtr from 1.
TEST(LrpSessionTest, ThreeFullGetCardUid) {
  const Bytes master = GetCardUidMaster();
  Fixture f({{"90 51 00 00 08 C37D6270F674CC6D 00",
              "5EC351196B8E2943DB04FCD4A952F53D A2830DC2258E4539 9100"},
             {"90 51 00 00 08 D65CCB81E5591400 00",
              "D80B735F7B4C8E7E8A3CDAAA4410F35F 752769C8EBC48E1A 9100"},
             {"90 51 00 00 08 8C677D7DCC349371 00",
              "9CCD031474A50199C696D8EF272E231A 10173FAF41B614E4 9100"}},
            {});
  SessionTestPeer::StartLrp(f.session, master, H("4F5E8407"), 0, 1);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<Bytes> r = f.session.Execute({.ins = Ins::kGetCardUid,
                                                 .command_mode = CommMode::kMac,
                                                 .response_mode = CommMode::kFull,
                                                 .response_length = 7});
    ASSERT_TRUE(r.ok()) << i << ": " << r.status();
    EXPECT_EQ(HexEncode(*r), "04940d2a2f7080");
  }
  EXPECT_EQ(f.session.command_counter(), 3);
  EXPECT_TRUE(f.transport.Finished()) << f.transport.Remaining();
}

TEST(LrpSessionTest, ForgedResponseMacDropsTheSession) {
  const Bytes master = GetCardUidMaster();
  Fixture f({{"90 51 00 00 08 C37D6270F674CC6D 00",
              "5EC351196B8E2943DB04FCD4A952F53D A2830DC2258E4538 9100"}},
            {});
  SessionTestPeer::StartLrp(f.session, master, H("4F5E8407"), 0, 1);
  absl::StatusOr<Bytes> r = f.session.Execute({.ins = Ins::kGetCardUid,
                                               .command_mode = CommMode::kMac,
                                               .response_mode = CommMode::kFull,
                                               .response_length = 7});
  EXPECT_EQ(ReasonOf(r.status()), "INTEGRITY_ERROR");
  EXPECT_FALSE(f.session.authenticated());
}

// EncCtr must never wrap under one key: the last value (FFFFFFFF) is used, then enciphered
// commands and responses fail with NOT_AUTHENTICATED until the next authentication.
TEST(LrpSessionTest, EncryptionCounterAtItsLimit) {
  auto lrp = LrpMessaging::Create(Bytes(16), 0xFFFFFFFE);
  ASSERT_TRUE(lrp.ok());
  Bytes two_blocks(20, 0x11);
  EXPECT_EQ(ReasonOf(lrp->Encrypt(two_blocks)), "<none>");  // FFFFFFFE, FFFFFFFF
  EXPECT_EQ(lrp->enc_counter(), 0u);
  Bytes one(3, 0x22);
  EXPECT_EQ(ReasonOf(lrp->Encrypt(one)), "NOT_AUTHENTICATED");
  Bytes block(16, 0);
  EXPECT_EQ(ReasonOf(lrp->Decrypt(absl::MakeSpan(block))), "NOT_AUTHENTICATED");
  auto last = LrpMessaging::Create(Bytes(16), 0xFFFFFFFF);
  ASSERT_TRUE(last.ok());
  Bytes too_long(16, 0x33);  // padded to two blocks: one more than is left
  EXPECT_EQ(ReasonOf(last->Encrypt(too_long)), "NOT_AUTHENTICATED");
}

}  // namespace
}  // namespace desfired::desfire
