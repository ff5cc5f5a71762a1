// The emulator's ISO/IEC 7816-4 file commands (sim/card/card_iso.cc): SELECT FILE by FID, EF
// FID and DF name, READ/UPDATE BINARY by short file id and on the current EF, READ RECORD(S),
// APPEND RECORD, and their status words. No public APDU trace of these commands on a DESFire
// EV2/EV3 was found; the expected answers follow ISO/IEC 7816-4 and docs/ev3.md.
#include <string>

#include "gtest/gtest.h"
#include "sim/card/card.h"
#include "sim/card/model.h"
#include "sim/card/protocol.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using testing::H;

// An application laid out as an NTAG 424 DNA's NDEF application (DF name D2760000850101, DF
// id E110, files E103, E104) plus a backup, a cyclic record and a full-mode file.
class IsoCardTest : public ::testing::Test {
 protected:
  IsoCardTest() : card_(CardState::Blank()) {
    Native(0xCA, "332211 0F A2 10E1 D2760000850101");  // AES, 2 keys, ISO ids
    Native(0x5A, "332211");
    Native(0xCD, "01 03E1 00 EEEE 100000");                    // 16 bytes, free
    Native(0xCD, "02 04E1 00 00E0 2C0100");                    // 300 bytes, read free, write key 0
    Native(0xCB, "03 05E1 00 EEEE 200000");                    // backup, 32 bytes
    Native(0xC0, "04 06E1 00 EEEE 040000 030000");             // cyclic, 4-byte records, 3
    Native(0xCD, "05 07E1 03 1011 100000");                    // full mode, key 1
    Native(0xCC, "06 00 EEEE 00000000 E8030000 00000000 00");  // value file
  }
  void Native(uint8_t ins, const char* data) {
    Sw sw;
    testing::SendWrapped(card_, ins, H(data), &sw);
    EXPECT_EQ(sw, Sw::kOk) << data;
  }
  std::string Iso(const char* apdu) { return HexEncode(card_.Transmit(H(apdu))); }

  Card card_;
};

TEST_F(IsoCardTest, SelectsByDfNameFileIdAndChildEf) {
  EXPECT_EQ(Iso("00 A4 00 0C 02 3F00"), "9000");  // the PICC level
  EXPECT_FALSE(card_.selected_aid().has_value());
  EXPECT_EQ(Iso("00 A4 04 0C 07 D2760000850101"), "9000");
  EXPECT_EQ(card_.selected_aid(), 0x112233u);
  EXPECT_EQ(Iso("00 A4 00 0C 02 3F00"), "9000");
  EXPECT_EQ(Iso("00 A4 00 0C 02 E110"), "9000");
  EXPECT_EQ(card_.selected_aid(), 0x112233u);
  EXPECT_EQ(Iso("00 A4 02 0C 02 E104"), "9000");
  EXPECT_EQ(Iso("00 A4 02 0C 02 E199"), "6a82");
  EXPECT_EQ(Iso("00 A4 04 0C 07 D2760000850102"), "6a82");
  EXPECT_EQ(Iso("00 A4 02 0C 03 E10400"), "6700");
  EXPECT_EQ(Iso("00 A4 02 00 02 E104 00"), "9000");  // with Le: no FCI either
  EXPECT_EQ(Iso("00 A4 02 01 02 E104"), "6a86");
  EXPECT_EQ(Iso("00 A4 01 0C 02 E104"), "6a86");
  // The native DESFire DF name selects the PICC level.
  EXPECT_EQ(Iso("00 A4 04 00 07 D2760000850100"), "9000");
  EXPECT_FALSE(card_.selected_aid().has_value());
}

TEST_F(IsoCardTest, ReadAndUpdateBinaryByShortFileId) {
  EXPECT_EQ(Iso("00 B0 81 00 04"), "000000009000");
  EXPECT_EQ(Iso("00 D6 81 02 02 ABCD"), "9000");
  EXPECT_EQ(Iso("00 B0 81 00 04"), "0000abcd9000");
  EXPECT_EQ(Iso("00 B0 81 00 00"), "0000abcd" + std::string(24, '0') + "9000");  // Le 00: all
  EXPECT_EQ(Iso("00 B0 81 10 00"), "6b00");  // offset 16 = the size
  EXPECT_EQ(Iso("00 B0 81 0E 04"), "6700");  // beyond the end
  EXPECT_EQ(Iso("00 D6 81 0F 02 ABCD"), "6700");
  EXPECT_EQ(Iso("00 B0 81 00"), "6700");             // no Le
  EXPECT_EQ(Iso("00 D6 81 00 02 ABCD 00"), "6700");  // Le on UPDATE
  EXPECT_EQ(Iso("00 B0 89 00 04"), "6a82");          // no file 9
  EXPECT_EQ(Iso("00 B0 C1 00 04"), "6a86");          // b7 set with an SFI
  EXPECT_EQ(Iso("00 B0 84 00 04"), "6981");          // a record file
  EXPECT_EQ(Iso("00 B0 86 00 04"), "6981");          // a value file
  EXPECT_EQ(Iso("00 B0 85 00 04"), "6982");          // full mode, key 1
  EXPECT_EQ(Iso("00 D6 82 00 01 AA"), "6982");       // write needs key 0
}

TEST_F(IsoCardTest, CurrentEfOffsetsBeyond255) {
  EXPECT_EQ(Iso("00 B0 01 00 04"), "6986");  // no current EF yet
  EXPECT_EQ(Iso("00 A4 02 0C 02 E104"), "9000");
  EXPECT_EQ(Iso("00 B0 01 28 04"), "000000009000");  // offset 296
  EXPECT_EQ(Iso("00 B0 01 2C 01"), "6b00");          // offset 300
  const std::string all = Iso("00 B0 00 00 00");
  EXPECT_EQ(all.size(), 2 * 256 + 4u);
  // A short-file-id read makes that file the current EF.
  EXPECT_EQ(Iso("00 D6 81 00 01 77"), "9000");
  EXPECT_EQ(Iso("00 B0 00 00 01"), "779000");
}

TEST_F(IsoCardTest, BackupFileUpdatesNeedCommit) {
  EXPECT_EQ(Iso("00 D6 83 00 02 1234"), "9000");
  EXPECT_EQ(Iso("00 B0 83 00 02"), "00009000");
  Native(0xC7, "");
  EXPECT_EQ(Iso("00 B0 83 00 02"), "12349000");
  // Selecting the application again rolls an open change back; selecting an EF does not.
  EXPECT_EQ(Iso("00 D6 83 00 02 5678"), "9000");
  EXPECT_EQ(Iso("00 A4 02 0C 02 E105"), "9000");
  Native(0xC7, "");
  EXPECT_EQ(Iso("00 B0 83 00 02"), "56789000");
  EXPECT_EQ(Iso("00 D6 83 00 02 9999"), "9000");
  EXPECT_EQ(Iso("00 A4 04 0C 07 D2760000850101"), "9000");
  Native(0xC7, "");
  EXPECT_EQ(Iso("00 B0 83 00 02"), "56789000");
}

TEST_F(IsoCardTest, AppendAndReadRecords) {
  EXPECT_EQ(Iso("00 B2 01 24 00"), "6a83");  // empty
  EXPECT_EQ(Iso("00 E2 00 20 02 1122"), "9000");
  EXPECT_EQ(Iso("00 E2 00 20 02 3344"), "6985");  // one record per transaction
  Native(0xC7, "");
  EXPECT_EQ(Iso("00 E2 00 20 03 334455"), "9000");
  Native(0xC7, "");
  EXPECT_EQ(Iso("00 B2 01 24 00"), "334455009000");  // 1: the newest
  EXPECT_EQ(Iso("00 B2 02 24 00"), "112200009000");
  EXPECT_EQ(Iso("00 B2 01 25 00"), "33445500112200009000");  // and the older ones
  EXPECT_EQ(Iso("00 B2 03 24 00"), "6a83");
  EXPECT_EQ(Iso("00 B2 01 25 04"), "6700");             // 8 bytes do not fit Le 4
  EXPECT_EQ(Iso("00 E2 00 20 05 1122334455"), "6700");  // over the record size
  EXPECT_EQ(Iso("00 E2 01 20 01 11"), "6a86");
  EXPECT_EQ(Iso("00 B2 00 24 00"), "6a86");
  EXPECT_EQ(Iso("00 B2 01 26 00"), "6a86");
  EXPECT_EQ(Iso("00 E2 00 08 01 11"), "6981");  // a data file
  // SFI 0: the current EF.
  EXPECT_EQ(Iso("00 A4 02 0C 02 E106"), "9000");
  EXPECT_EQ(Iso("00 B2 02 04 00"), "112200009000");
}

TEST_F(IsoCardTest, PiccLevelHasNoFilesAndUnknownInsIsRefused) {
  EXPECT_EQ(Iso("00 A4 00 0C 02 3F00"), "9000");
  EXPECT_EQ(Iso("00 B0 81 00 04"), "6a82");
  EXPECT_EQ(Iso("00 84 00 00 08"), "6d00");  // GET CHALLENGE: not offered
  EXPECT_EQ(Iso("00 B0"), "6700");
}

}  // namespace
}  // namespace desfired::sim
