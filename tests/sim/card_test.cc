// Behaviour of the card model and dispatcher without secure messaging: applications, files,
// access rights, transactions, chaining, status bytes and malformed APDUs.
#include "sim/card/card.h"

#include <string>

#include "gtest/gtest.h"
#include "sim/card/model.h"
#include "sim/card/protocol.h"
#include "tests/sim/sim_test_util.h"

namespace desfired::sim {
namespace {

using crypto::KeyType;
using testing::H;

// Sends a wrapped native command and returns the reply data; `sw` gets the status.
class Host {
 public:
  explicit Host(Card& card) : card_(card) {}

  Bytes Send(Ins ins, const Bytes& data, Sw* sw = nullptr) {
    Bytes r = testing::SendWrapped(card_, static_cast<uint8_t>(ins), data, &last_);
    if (sw) *sw = last_;
    return r;
  }
  // Sends and follows 0xAF frames, concatenating the data.
  Bytes SendAll(Ins ins, const Bytes& data) {
    Bytes out = Send(ins, data);
    while (last_ == Sw::kAdditionalFrame) {
      Bytes more = Send(Ins::kAdditionalFrame, {});
      out.insert(out.end(), more.begin(), more.end());
    }
    return out;
  }
  Sw Status(Ins ins, const Bytes& data) {
    Send(ins, data);
    return last_;
  }
  Sw last() const { return last_; }

 private:
  Card& card_;
  Sw last_ = Sw::kOk;
};

Bytes Le24(uint32_t v) { return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16)}; }
Bytes Le32(uint32_t v) { return {uint8_t(v), uint8_t(v >> 8), uint8_t(v >> 16), uint8_t(v >> 24)}; }
Bytes Cat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A blank card with settings 0x0F (free create, free listing) and application 0x010203
// whose key settings allow free create/delete, holding one file of each type with free
// access.
class CardTest : public ::testing::Test {
 protected:
  CardTest() : card_(CardState::Blank()), host_(card_) {
    EXPECT_EQ(host_.Status(Ins::kCreateApplication, H("030201 0F 82")), Sw::kOk);
    EXPECT_EQ(host_.Status(Ins::kSelectApplication, H("030201")), Sw::kOk);
    // rights EEEE: everything free.
    EXPECT_EQ(host_.Status(Ins::kCreateStdDataFile, Cat({H("01 00 EEEE"), Le24(100)})), Sw::kOk);
    EXPECT_EQ(host_.Status(Ins::kCreateBackupDataFile, Cat({H("02 00 EEEE"), Le24(32)})), Sw::kOk);
    EXPECT_EQ(host_.Status(Ins::kCreateValueFile,
                           Cat({H("03 00 EEEE"), Le32(0), Le32(1000), Le32(100), H("01")})),
              Sw::kOk);
    EXPECT_EQ(host_.Status(Ins::kCreateLinearRecordFile, Cat({H("04 00 EEEE"), Le24(4), Le24(2)})),
              Sw::kOk);
    EXPECT_EQ(host_.Status(Ins::kCreateCyclicRecordFile, Cat({H("05 00 EEEE"), Le24(4), Le24(3)})),
              Sw::kOk);
  }
  Card card_;
  Host host_;
};

TEST_F(CardTest, ListsApplicationsAndFiles) {
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetFileIds, {})), "0102030405");
  EXPECT_EQ(host_.Status(Ins::kSelectApplication, H("000000")), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetApplicationIds, {})), "030201");
  EXPECT_EQ(host_.Status(Ins::kSelectApplication, H("040404")), Sw::kApplicationNotFound);
  EXPECT_EQ(host_.Status(Ins::kCreateApplication, H("030201 0F 82")), Sw::kDuplicateError);
}

TEST_F(CardTest, FileSettingsOfEachType) {
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetFileSettings, H("01"))), "0000eeee640000");
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetFileSettings, H("03"))),
            "0200eeee00000000e8030000000000000"
            "1");
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetFileSettings, H("05"))), "0400eeee040000030000000000");
  EXPECT_EQ(host_.Status(Ins::kGetFileSettings, H("09")), Sw::kFileNotFound);
}

TEST_F(CardTest, StandardFileReadWriteAndBoundaries) {
  EXPECT_EQ(host_.Status(Ins::kWriteData, Cat({H("01"), Le24(98), Le24(2), H("abcd")})), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kReadData, Cat({H("01"), Le24(97), Le24(3)}))), "00abcd");
  EXPECT_EQ(host_.Status(Ins::kReadData, Cat({H("01"), Le24(98), Le24(3)})), Sw::kBoundaryError);
  EXPECT_EQ(host_.Status(Ins::kWriteData, Cat({H("01"), Le24(99), Le24(2), H("abcd")})),
            Sw::kBoundaryError);
  // Whole file: 100 bytes in two frames (59 + 41).
  Bytes all = host_.Send(Ins::kReadData, Cat({H("01"), Le24(0), Le24(0)}));
  EXPECT_EQ(host_.last(), Sw::kAdditionalFrame);
  EXPECT_EQ(all.size(), 59u);
  Bytes rest = host_.Send(Ins::kAdditionalFrame, {});
  EXPECT_EQ(host_.last(), Sw::kOk);
  EXPECT_EQ(rest.size(), 41u);
}

TEST_F(CardTest, WriteDataChainsInput) {
  Bytes data(80, 0x5A);
  Bytes cmd = Cat({H("01"), Le24(0), Le24(80), data});
  // First frame: header + 40 bytes, then the rest.
  Bytes first(cmd.begin(), cmd.begin() + 47);
  Bytes second(cmd.begin() + 47, cmd.end());
  EXPECT_EQ(host_.Status(Ins::kWriteData, first), Sw::kAdditionalFrame);
  EXPECT_EQ(host_.Status(Ins::kAdditionalFrame, second), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.SendAll(Ins::kReadData, Cat({H("01"), Le24(0), Le24(80)}))),
            HexEncode(data));
}

TEST_F(CardTest, BackupFileNeedsCommit) {
  EXPECT_EQ(host_.Status(Ins::kWriteData, Cat({H("02"), Le24(0), Le24(2), H("1234")})), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kReadData, Cat({H("02"), Le24(0), Le24(2)}))), "0000");
  EXPECT_EQ(host_.Status(Ins::kAbortTransaction, {}), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kReadData, Cat({H("02"), Le24(0), Le24(2)}))), "0000");
  EXPECT_EQ(host_.Status(Ins::kWriteData, Cat({H("02"), Le24(0), Le24(2), H("1234")})), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kReadData, Cat({H("02"), Le24(0), Le24(2)}))), "1234");
}

TEST_F(CardTest, SelectRollsBackTransaction) {
  EXPECT_EQ(host_.Status(Ins::kCredit, Cat({H("03"), Le32(50)})), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kSelectApplication, H("030201")), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetValue, H("03"))), "64000000");
}

TEST_F(CardTest, PowerOffRollsBackTransaction) {
  EXPECT_EQ(host_.Status(Ins::kDebit, Cat({H("03"), Le32(50)})), Sw::kOk);
  card_.PowerOff();
  EXPECT_EQ(host_.Status(Ins::kSelectApplication, H("030201")), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetValue, H("03"))), "64000000");
}

TEST_F(CardTest, ValueFileLimitsAndLimitedCredit) {
  EXPECT_EQ(host_.Status(Ins::kDebit, Cat({H("03"), Le32(101)})), Sw::kBoundaryError);
  EXPECT_EQ(host_.Status(Ins::kCredit, Cat({H("03"), Le32(901)})), Sw::kBoundaryError);
  EXPECT_EQ(host_.Status(Ins::kDebit, Cat({H("03"), Le32(30)})), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kDebit, Cat({H("03"), Le32(10)})), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetValue, H("03"))), "3c000000");  // 60
  // Limited credit up to the debits of the last transaction (40).
  EXPECT_EQ(host_.Status(Ins::kLimitedCredit, Cat({H("03"), Le32(41)})), Sw::kBoundaryError);
  EXPECT_EQ(host_.Status(Ins::kLimitedCredit, Cat({H("03"), Le32(40)})), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetValue, H("03"))), "64000000");
  EXPECT_EQ(host_.Status(Ins::kLimitedCredit, Cat({H("03"), Le32(1)})), Sw::kBoundaryError);
  EXPECT_EQ(host_.Status(Ins::kCredit, Cat({H("03"), Le32(0x80000000)})), Sw::kParameterError);
}

TEST_F(CardTest, LinearRecordFileFillsUp) {
  EXPECT_EQ(host_.Status(Ins::kReadRecords, Cat({H("04"), Le24(0), Le24(0)})), Sw::kBoundaryError);
  for (uint8_t i = 1; i <= 2; ++i) {
    EXPECT_EQ(host_.Status(Ins::kWriteRecord, Cat({H("04"), Le24(0), Le24(4), Bytes(4, i)})),
              Sw::kOk);
    EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  }
  EXPECT_EQ(host_.Status(Ins::kWriteRecord, Cat({H("04"), Le24(0), Le24(4), Bytes(4, 3)})),
            Sw::kBoundaryError);
  EXPECT_EQ(HexEncode(host_.Send(Ins::kReadRecords, Cat({H("04"), Le24(0), Le24(0)}))),
            "0101010102020202");
  EXPECT_EQ(HexEncode(host_.Send(Ins::kReadRecords, Cat({H("04"), Le24(0), Le24(1)}))), "02020202");
  EXPECT_EQ(host_.Status(Ins::kClearRecordFile, H("04")), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kReadRecords, Cat({H("04"), Le24(0), Le24(0)})), Sw::kBoundaryError);
}

TEST_F(CardTest, CyclicRecordFileKeepsMaxMinusOne) {
  for (uint8_t i = 1; i <= 4; ++i) {
    EXPECT_EQ(host_.Status(Ins::kWriteRecord, Cat({H("05"), Le24(0), Le24(4), Bytes(4, i)})),
              Sw::kOk);
    EXPECT_EQ(host_.Status(Ins::kCommitTransaction, {}), Sw::kOk);
  }
  EXPECT_EQ(HexEncode(host_.Send(Ins::kReadRecords, Cat({H("05"), Le24(0), Le24(0)}))),
            "0303030304040404");
  EXPECT_EQ(HexEncode(host_.Send(Ins::kGetFileSettings, H("05"))), "0400eeee040000030000020000");
}

TEST_F(CardTest, AccessRightsNeverAndKeyRequired) {
  // File 6: read key 1, write never, rw never, change 0.
  EXPECT_EQ(host_.Status(Ins::kCreateStdDataFile, Cat({H("06 00 F0 1F"), Le24(8)})), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kReadData, Cat({H("06"), Le24(0), Le24(1)})),
            Sw::kAuthenticationError);
  EXPECT_EQ(host_.Status(Ins::kWriteData, Cat({H("06"), Le24(0), Le24(1), H("00")})),
            Sw::kPermissionDenied);
}

TEST_F(CardTest, FreeMemoryAndDeleteFile) {
  const Bytes before = host_.Send(Ins::kFreeMemory, {});
  EXPECT_EQ(host_.Status(Ins::kDeleteFile, H("01")), Sw::kOk);
  const Bytes after = host_.Send(Ins::kFreeMemory, {});
  EXPECT_EQ(LoadLe24(after.data()) - LoadLe24(before.data()), 128u);
  EXPECT_EQ(host_.Status(Ins::kDeleteFile, H("01")), Sw::kFileNotFound);
}

TEST_F(CardTest, FormatNeedsMasterKey) {
  EXPECT_EQ(host_.Status(Ins::kSelectApplication, H("000000")), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kFormatPicc, {}), Sw::kAuthenticationError);
}

TEST_F(CardTest, AuthenticationWithWrongKeyFails) {
  // DES key 00×8 at PICC level; answer with a token that does not contain rol(RndB).
  EXPECT_EQ(host_.Status(Ins::kSelectApplication, H("000000")), Sw::kOk);
  EXPECT_EQ(host_.Status(Ins::kAuthenticateIso, H("00")), Sw::kAdditionalFrame);
  EXPECT_EQ(host_.Status(Ins::kAdditionalFrame, Bytes(16, 0x11)), Sw::kAuthenticationError);
  EXPECT_FALSE(card_.channel().authenticated());
  EXPECT_EQ(host_.Status(Ins::kAuthenticateAes, H("00")), Sw::kAuthenticationError);
  EXPECT_EQ(host_.Status(Ins::kAuthenticateIso, H("05")), Sw::kNoSuchKey);
}

TEST(CardFrontTest, GetVersionFramesAndUid) {
  Card card(CardState::Blank());
  Host host(card);
  Bytes v = host.SendAll(Ins::kGetVersion, {});
  EXPECT_EQ(HexEncode(v), "04010101001a0504010101041a0504063f72633480ba4519e3204913");
  EXPECT_EQ(HexEncode(card.Transmit(H("FFCA000000"))), "04063f726334809000");
}

TEST(CardFrontTest, IsoSelectOfDesfireDfName) {
  Card card(CardState::Blank());
  EXPECT_EQ(HexEncode(card.Transmit(H("00A4040007D276000085010000"))), "9000");
  EXPECT_EQ(HexEncode(card.Transmit(H("00A4040007D276000085010100"))), "6a82");
  EXPECT_EQ(HexEncode(card.Transmit(H("00A4000002 3F00"))), "9000");  // the PICC level
  EXPECT_EQ(HexEncode(card.Transmit(H("00A4010002 3F00"))), "6a86");
}

TEST(CardFrontTest, NativeFraming) {
  Card card(CardState::Blank());
  EXPECT_EQ(HexEncode(card.Transmit(H("60"))), "af04010101001a05");
  EXPECT_EQ(HexEncode(card.Transmit(H("AF"))), "af04010101041a05");
  EXPECT_EQ(HexEncode(card.Transmit(H("6E"))).substr(0, 2), "00");
}

TEST(CardFrontTest, MalformedApdusGetStatusWords) {
  Card card(CardState::Blank());
  EXPECT_EQ(HexEncode(card.Transmit({})), "6700");
  EXPECT_EQ(HexEncode(card.Transmit(H("90"))), "6700");
  EXPECT_EQ(HexEncode(card.Transmit(H("906000"))), "6700");
  EXPECT_EQ(HexEncode(card.Transmit(H("9060010000"))), "6a86");
  EXPECT_EQ(HexEncode(card.Transmit(H("905A000005010203"))), "6700");    // Lc 5, 3 bytes
  EXPECT_EQ(HexEncode(card.Transmit(H("905A00000201020300"))), "6700");  // Lc 2, 3 bytes
  EXPECT_EQ(HexEncode(card.Transmit(H("905A0000020102 00"))), "917e");   // AID too short
  EXPECT_EQ(HexEncode(card.Transmit(H("9099000000"))), "911c");          // unknown INS
  EXPECT_EQ(HexEncode(card.Transmit(H("90AF000000"))), "911c");          // nothing to continue
  EXPECT_EQ(HexEncode(card.Transmit(H("80CA000000"))), "6e00");          // unknown CLA
  EXPECT_EQ(HexEncode(card.Transmit(H("0084000008"))), "6d00");          // ISO INS
  EXPECT_EQ(HexEncode(card.Transmit(H("00B0000000"))), "6986");          // no current EF
  EXPECT_EQ(HexEncode(card.Transmit(H("90BD0000010100"))), "919d");      // no application
}

// Every 1- to 3-byte input and a sweep of INS values with random-ish bodies: the card
// always answers with at least two bytes and never crashes.
TEST(CardFrontTest, NeverCrashesOnShortOrOddInput) {
  Card card(CardState::Blank());
  for (int a = 0; a < 256; ++a) {
    EXPECT_GE(card.Transmit(Bytes{uint8_t(a)}).size(), 1u);
    for (int b = 0; b < 256; b += 17) {
      EXPECT_GE(card.Transmit(Bytes{uint8_t(a), uint8_t(b)}).size(), 1u);
      Bytes apdu = {kClaNativeWrapped, uint8_t(a), 0, 0, 3, uint8_t(b), 0x01, 0xFF, 0};
      EXPECT_GE(card.Transmit(apdu).size(), 2u);
    }
  }
}

}  // namespace
}  // namespace desfired::sim
