// The card side of SDM (sim/card/sdm.h) against the SUN vectors of ev3_vectors.md §4
// (shared/vectors): the pieces (PICCData, session keys, SDMMAC, file data) and whole reads of a
// file configured by ChangeFileSettings, where the card's random source supplies the padding
// and PICCRand the published messages carry.
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/card/sdm.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using testing::H;
using testing::ScriptedRandom;
using testing::SendWrapped;

const Bytes kZeroKey(16, 0);

std::string Ascii(const Bytes& b) { return std::string(b.begin(), b.end()); }

// sdm-an12196-t1-seskeys: AN12196 §3.3 Table 1 (Amperstrand/ntag424-crypto@76c42e32
// test/an12196-vectors.test.ts; johnnyb/ntag424-java@04db0fca testSDMAESKeyGeneration).
TEST(SdmCardTest, AesSessionKeysAn12196Table1) {
  EXPECT_EQ(HexEncode(SdmSessionKeys(H("5ACE7E50AB65D5D51FD5BF5A16B8205B"), H("04C767F2066180"),
                                     H("010000"), false)),
            HexEncode(H("66DA61797E23DECA5D8ECA13BBADF7A9"
                        "3A3E8110E05311F7A3FCF0D969BF2B48")));
}

// sdm-an12196-p12: AN12196 §3.4 p.12 (nfc-developer/sdm-backend@b459ca19 test_sun1; PICCData
// from Amperstrand/ntag424-crypto Tables 2, 4).
TEST(SdmCardTest, AesPiccDataAndMacAn12196Page12) {
  EXPECT_EQ(HexEncode(SdmPiccEncAes(kZeroKey, H("C704DE5F1EACC0403D0000DA5CF60941"))),
            HexEncode(H("EF963FF7828658A599F3041510671E88")));
  EXPECT_EQ(HexEncode(SdmMac(kZeroKey, H("04DE5F1EACC040"), H("3D0000"), {}, false)),
            HexEncode(H("94EED9EE65337086")));
}

// sdm-an12196-p14-file: AN12196 p.14 (johnnyb/ntag424-java@04db0fca
// testFileEncryptionAESFromFeaturesHints).
TEST(SdmCardTest, AesFileDataAn12196Page14) {
  EXPECT_EQ(
      HexEncode(SdmEncFileData(kZeroKey, H("04958CAA5C5E80"), H("010000"), Bytes(16, 'x'), false)),
      HexEncode(H("94592FDE69FA06E8E3B6CA686A22842B")));
}

// sdm-plain-uid-ctr: sdm-backend@b459ca19 test_plain_sdm (uid=041E3C8A2D6B80&ctr=000006).
TEST(SdmCardTest, AesPlainMirrorMac) {
  EXPECT_EQ(HexEncode(SdmMac(kZeroKey, H("041E3C8A2D6B80"), H("060000"), {}, false)),
            HexEncode(H("4B00064004B0B3D3")));
}

// sdm-johnnyb-aes-file: johnnyb/ntag424-java@04db0fca testFileEncryptionAES.
TEST(SdmCardTest, AesFileDataAndMacJohnnyb) {
  const Bytes enc = SdmEncFileData(kZeroKey, H("04B07F12647380"), H("010000"),
                                   H("0102030405060708090A0B0C0D0E0F10"), false);
  EXPECT_EQ(HexEncode(enc), HexEncode(H("A0DED1861CC740B47240AC0C944DC2EF")));
  const std::string input = "A0DED1861CC740B47240AC0C944DC2EF/";
  EXPECT_EQ(HexEncode(SdmMac(kZeroKey, H("04B07F12647380"), H("010000"), AsBytes(input), false)),
            HexEncode(H("4FF9720BC3FE5910")));
}

// sdm-lrp-ev2c-url: icedevml/nfc-ev2-crypto@2667cc32 test_lrp_sdm.py (MAC input = PICCData hex
// ‖ 'x').
TEST(SdmCardTest, LrpPiccDataAndMacEv2Crypto) {
  EXPECT_EQ(HexEncode(SdmPiccEncLrp(kZeroKey, H("AAE1508939ECF6FF"),
                                    H("C7042E1D222A63806A000016E2CA89D1"))),
            HexEncode(H("AAE1508939ECF6FF26BCE407959AB1A5EC022819A35CD293")));
  EXPECT_EQ(HexEncode(SdmSessionKeys(kZeroKey, H("042E1D222A6380"), H("6A0000"), true)),
            HexEncode(H("99C2FD9C885C2CA3C9089C20057310C0")));
  const std::string input = "AAE1508939ECF6FF26BCE407959AB1A5EC022819A35CD293x";
  EXPECT_EQ(HexEncode(SdmMac(kZeroKey, H("042E1D222A6380"), H("6A0000"), AsBytes(input), true)),
            HexEncode(H("5E3DB82C19E3865F")));
}

// sdm-lrp-johnnyb-plainmac (testSdmLRPMac) and sdm-lrp-johnnyb-ctr-only
// (testPICCEncryptionLRPNoUid: counter only, PICCDataTag 40): johnnyb/ntag424-java@04db0fca.
TEST(SdmCardTest, LrpMacsJohnnyb) {
  EXPECT_EQ(HexEncode(SdmMac(kZeroKey, H("04827F12647380"), H("070000"), {}, true)),
            HexEncode(H("A9DAF6E5B2E583ED")));
  EXPECT_EQ(HexEncode(SdmPiccEncLrp(kZeroKey, H("D99C1B274606743E"),
                                    H("401A00009D3D57A0A31A852C51543BC0"))),
            HexEncode(H("D99C1B274606743ECE77E01D0D46CCE69F00C0C246363639")));
  EXPECT_EQ(HexEncode(SdmMac(kZeroKey, {}, H("1A0000"), {}, true)),
            HexEncode(H("15CA6F05740D1AE2")));
}

// sdm-lrp-johnnyb-file2: johnnyb/ntag424-java@04db0fca testFileEncryption2LRP.
TEST(SdmCardTest, LrpFileDataJohnnyb) {
  const Bytes enc = SdmEncFileData(kZeroKey, H("04827F12647380"), H("250000"),
                                   H("0102030405060708090A0B0C0D0E0F10"), true);
  EXPECT_EQ(HexEncode(enc), HexEncode(H("A8335B51B0A252AFEAFEEB38FCA0D810")));
  const std::string input = "A8335B51B0A252AFEAFEEB38FCA0D810/";
  EXPECT_EQ(HexEncode(SdmMac(kZeroKey, H("04827F12647380"), H("250000"), AsBytes(input), true)),
            HexEncode(H("02E985A8AE05ED05")));
}

// An AES application 000001 (four zero keys, free listing) with standard file 2 of 128 bytes
// created with SDM allowed, read free, change free.
Card SdmCard(Bytes uid, RandomSource random, bool lrp) {
  CardState state;
  state.uid = std::move(uid);
  Application app;
  app.aid = 0x000001;
  app.key_settings = 0x0F;
  app.key_family = crypto::KeyType::kAes128;
  app.keys.assign(4, Key{crypto::KeyType::kAes128, Bytes(16, 0), 0});
  File file;
  file.id = 2;
  file.type = FileType::kStandard;
  file.access = AccessRights{kAccessFree, 0, 0, kAccessFree};
  file.data.assign(128, '0');
  file.sdm_allowed = true;
  app.files.push_back(std::move(file));
  state.applications.push_back(std::move(app));
  Card card(std::move(state), std::move(random));
  card.set_lrp_mode(lrp);
  Sw sw;
  SendWrapped(card, 0x5A, H("010000"), &sw);
  EXPECT_EQ(sw, Sw::kOk);
  return card;
}

Bytes ReadFile2(Card& card, uint32_t offset, uint32_t length, Sw* sw) {
  Bytes header = {0x02};
  for (uint32_t v : {offset, length}) {
    header.push_back(static_cast<uint8_t>(v));
    header.push_back(static_cast<uint8_t>(v >> 8));
    header.push_back(static_cast<uint8_t>(v >> 16));
  }
  Bytes out = SendWrapped(card, 0xBD, header, sw);
  while (*sw == Sw::kAdditionalFrame) {
    const Bytes more = SendWrapped(card, 0xAF, {}, sw);
    out.insert(out.end(), more.begin(), more.end());
  }
  return out;
}

// AN12196 §6.9 p.34 settings (PICCData at 0x20, MAC at 0x43 over an empty input, keys 0),
// plain ChangeFileSettings; the 0x3D-th read gives the p.12 message (sdm-an12196-p12) once the
// card draws the published padding.
TEST(SdmCardTest, AesReadGivesAn12196Page12Message) {
  ScriptedRandom rnd;
  rnd.Push(H("0000000000000000000000DA5CF60941"));  // PICCData padding (last 5 bytes)
  Card card = SdmCard(H("04DE5F1EACC040"), rnd.Source(), false);
  Sw sw;
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FF00 200000 430000 430000"), &sw);
  ASSERT_EQ(sw, Sw::kOk);
  const Bytes settings = SendWrapped(card, 0xF5, H("02"), &sw);
  EXPECT_EQ(HexEncode(settings), HexEncode(H("00 40 0EE0 800000 C1 FF00 200000 430000 430000")));
  card.mutable_state().applications[0].files[0].sdm_read_counter = 0x3C;
  const Bytes shown = ReadFile2(card, 32, 51, &sw);
  ASSERT_EQ(sw, Sw::kOk);
  EXPECT_EQ(Ascii(shown),
            "EF963FF7828658A599F3041510671E88000"
            "94EED9EE65337086");
  EXPECT_EQ(card.state().applications[0].files[0].sdm_read_counter, 0x3Du);
}

// sdm-lrp-ev2c-url on a card in LRP mode: PICCData at 0, MAC input from 0 to the MAC at 49
// (the 48 PICCData characters and an 'x').
TEST(SdmCardTest, LrpReadGivesEv2CryptoMessage) {
  ScriptedRandom rnd;
  rnd.Push(H("000000000000000000000016E2CA89D1"));  // PICCData padding (last 5 bytes)
  rnd.Push(H("AAE1508939ECF6FF"));                  // PICCRand
  Card card = SdmCard(H("042E1D222A6380"), rnd.Source(), true);
  card.mutable_state().applications[0].files[0].data[48] = 'x';
  Sw sw;
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FF00 000000 000000 310000"), &sw);
  ASSERT_EQ(sw, Sw::kOk);
  card.mutable_state().applications[0].files[0].sdm_read_counter = 0x69;
  const Bytes shown = ReadFile2(card, 0, 65, &sw);
  ASSERT_EQ(sw, Sw::kOk);
  EXPECT_EQ(Ascii(shown), "AAE1508939ECF6FF26BCE407959AB1A5EC022819A35CD293x5E3DB82C19E3865F");
}

// Plain mirrors: the counter counts every read, most significant digit first in the file.
TEST(SdmCardTest, PlainMirrorCountsReads) {
  Card card = SdmCard(H("041E3C8A2D6B80"), nullptr, false);
  Sw sw;
  // UID at 0, counter at 20, MAC over 0..40 at 40 (SDMMetaRead E, SDMFileRead 0).
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FFE0 000000 140000 000000 280000"), &sw);
  ASSERT_EQ(sw, Sw::kOk);
  for (int read = 1; read <= 3; ++read) {
    const Bytes shown = ReadFile2(card, 0, 56, &sw);
    ASSERT_EQ(sw, Sw::kOk);
    EXPECT_EQ(Ascii(Bytes(shown.begin(), shown.begin() + 14)), "041E3C8A2D6B80");
    EXPECT_EQ(Ascii(Bytes(shown.begin() + 20, shown.begin() + 26)), "00000" + std::to_string(read));
    uint8_t ctr[3] = {static_cast<uint8_t>(read), 0, 0};
    EXPECT_EQ(
        Ascii(Bytes(shown.begin() + 40, shown.end())),
        absl::AsciiStrToUpper(HexEncode(SdmMac(kZeroKey, H("041E3C8A2D6B80"), ByteSpan(ctr, 3),
                                               ByteSpan(shown.data(), 40), false))))
        << "read " << read;
  }
}

// ISO READ BINARY (how a phone reads the NDEF file) mirrors and counts like ReadData; at the
// read-counter limit it is refused with 6985.
TEST(SdmCardTest, IsoReadBinaryMirrorsAndCounts) {
  Card card = SdmCard(H("041E3C8A2D6B80"), nullptr, false);
  Sw sw;
  // UID at 0, counter at 20, MAC over 0..40 at 40, read-counter limit 2.
  SendWrapped(card, 0x5F, H("02 40 0EE0 E1 FFE0 000000 140000 000000 280000 020000"), &sw);
  ASSERT_EQ(sw, Sw::kOk);
  for (int read = 1; read <= 2; ++read) {
    const Bytes answer = card.Transmit(H("00 B0 82 00 38"));
    ASSERT_EQ(answer.size(), 56u + 2) << "read " << read;
    EXPECT_EQ(HexEncode(Bytes(answer.end() - 2, answer.end())), "9000");
    EXPECT_EQ(Ascii(Bytes(answer.begin(), answer.begin() + 14)), "041E3C8A2D6B80");
    EXPECT_EQ(Ascii(Bytes(answer.begin() + 20, answer.begin() + 26)),
              "00000" + std::to_string(read));
  }
  EXPECT_EQ(card.state().applications[0].files[0].sdm_read_counter, 2u);
  EXPECT_EQ(HexEncode(card.Transmit(H("00 B0 82 00 38"))), "6985");
}

// sdm-plain-uid-ctr end to end: the sixth read of a plain mirror with an empty MAC input.
TEST(SdmCardTest, PlainMirrorSdmBackendVector) {
  Card card = SdmCard(H("041E3C8A2D6B80"), nullptr, false);
  Sw sw;
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FFE0 000000 140000 280000 280000"), &sw);
  ASSERT_EQ(sw, Sw::kOk);
  card.mutable_state().applications[0].files[0].sdm_read_counter = 5;
  const Bytes shown = ReadFile2(card, 0, 56, &sw);
  ASSERT_EQ(sw, Sw::kOk);
  EXPECT_EQ(Ascii(Bytes(shown.begin() + 20, shown.begin() + 26)), "000006");
  EXPECT_EQ(Ascii(Bytes(shown.begin() + 40, shown.end())), "4B00064004B0B3D3");
}

// Settings the card refuses, and the read counter limit.
TEST(SdmCardTest, RefusesBadSettingsAndStopsAtTheLimit) {
  Card card = SdmCard(H("041E3C8A2D6B80"), nullptr, false);
  Sw sw;
  // The MAC beyond the 128-byte file.
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FF00 200000 430000 7A0000"), &sw);
  EXPECT_EQ(sw, Sw::kParameterError);
  // Overlapping PICCData and MAC.
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FF00 200000 300000 300000"), &sw);
  EXPECT_EQ(sw, Sw::kParameterError);
  // Binary encoding (ASCII bit clear), a missing offset, a byte too many.
  SendWrapped(card, 0x5F, H("02 40 0EE0 C0 FF00 200000 430000 430000"), &sw);
  EXPECT_EQ(sw, Sw::kParameterError);
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FF00 200000 430000"), &sw);
  EXPECT_EQ(sw, Sw::kLengthError);
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FF00 200000 430000 430000 00"), &sw);
  EXPECT_EQ(sw, Sw::kLengthError);
  // Counter limit 2 (option 20): two reads, then PERMISSION_DENIED.
  SendWrapped(card, 0x5F, H("02 40 0EE0 E1 FFE0 000000 140000 280000 280000 020000"), &sw);
  ASSERT_EQ(sw, Sw::kOk);
  ReadFile2(card, 0, 8, &sw);
  EXPECT_EQ(sw, Sw::kOk);
  ReadFile2(card, 0, 8, &sw);
  EXPECT_EQ(sw, Sw::kOk);
  ReadFile2(card, 0, 8, &sw);
  EXPECT_EQ(sw, Sw::kPermissionDenied);
}

// EV3: a file created without FileOption bit 6 never gets SDM.
TEST(SdmCardTest, SdmNeedsTheCreationOption) {
  Card card = SdmCard(H("041E3C8A2D6B80"), nullptr, false);
  card.mutable_state().applications[0].files[0].sdm_allowed = false;
  Sw sw;
  SendWrapped(card, 0x5F, H("02 40 0EE0 C1 FF00 200000 430000 430000"), &sw);
  EXPECT_EQ(sw, Sw::kParameterError);
}

}  // namespace
}  // namespace desfired::sim
