// The ISO/IEC 7816-4 file commands on the host side: the APDUs of iso_apdu.h (P1/P2 layouts
// as pm3 desfirecore.c DesfireISO* and NXP's reader library phalMfdfEVx_Sw_Iso* build them),
// the decoding of the answers, and DesfireCard's ISO calls over scripted answers (chunking,
// commits, the end of a record file, sessions). No public trace of these commands on a DESFire
// EV2/EV3 exists; the emulator is checked against the host end to end (tests/e2e/iso_e2e_test.cc).
#include "core/desfire/iso_apdu.h"

#include <gtest/gtest.h>

#include <string>

#include "core/apdu/scripted_transport.h"
#include "core/apdu/status_payload.h"
#include "core/desfire/card.h"
#include "test_util.h"

namespace desfired::desfire {
namespace {

using apdu::ScriptedTransport;
using testing::H;
using testing::ReasonOf;

std::string Wire(const absl::StatusOr<apdu::CommandApdu>& c) {
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? HexEncode(c->Encode()) : "";
}

TEST(IsoApduTest, Select) {
  EXPECT_EQ(Wire(IsoSelectCommand(IsoSelectBy::kFileId, H("3F00"))), "00a4000c023f00");
  EXPECT_EQ(Wire(IsoSelectCommand(IsoSelectBy::kChildEf, H("E104"))), "00a4020c02e104");
  EXPECT_EQ(Wire(IsoSelectCommand(IsoSelectBy::kDfName, ByteSpan(kNdefDfName))),
            "00a4040c07d2760000850101");
  EXPECT_FALSE(IsoSelectCommand(IsoSelectBy::kFileId, H("E1")).ok());
  EXPECT_FALSE(IsoSelectCommand(IsoSelectBy::kDfName, {}).ok());
  EXPECT_FALSE(IsoSelectCommand(IsoSelectBy::kDfName, Bytes(17, 1)).ok());
}

TEST(IsoApduTest, ReadAndUpdateBinary) {
  EXPECT_EQ(Wire(IsoReadBinaryCommand(2, 0x10, 32)), "00b0821020");
  EXPECT_EQ(Wire(IsoReadBinaryCommand(2, 0, 256)), "00b0820000");
  EXPECT_EQ(Wire(IsoReadBinaryCommand(std::nullopt, 0x1234, 4)), "00b0123404");
  EXPECT_EQ(Wire(IsoUpdateBinaryCommand(31, 255, H("ABCD"))), "00d69fff02abcd");
  EXPECT_EQ(Wire(IsoUpdateBinaryCommand(std::nullopt, 0x7FFF, H("01"))), "00d67fff0101");
  EXPECT_EQ(IsoReadBinaryCommand(2, 256, 1).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(IsoReadBinaryCommand(std::nullopt, 0x8000, 1).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(IsoReadBinaryCommand(32, 0, 1).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IsoReadBinaryCommand(1, 0, 0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(IsoReadBinaryCommand(1, 0, 257).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(IsoUpdateBinaryCommand(1, 0, {}).ok());
  EXPECT_FALSE(IsoUpdateBinaryCommand(1, 0, Bytes(256, 0)).ok());
}

TEST(IsoApduTest, Records) {
  EXPECT_EQ(Wire(IsoReadRecordCommand(4, 1, false)), "00b2012400");
  EXPECT_EQ(Wire(IsoReadRecordCommand(4, 2, true)), "00b2022500");
  EXPECT_EQ(Wire(IsoReadRecordCommand(std::nullopt, 254, false)), "00b2fe0400");
  EXPECT_EQ(Wire(IsoAppendRecordCommand(4, H("1122"))), "00e20020021122");
  EXPECT_EQ(Wire(IsoAppendRecordCommand(std::nullopt, H("11"))), "00e200000111");
  EXPECT_FALSE(IsoReadRecordCommand(4, 0, false).ok());
  EXPECT_FALSE(IsoReadRecordCommand(4, 255, false).ok());
  EXPECT_FALSE(IsoAppendRecordCommand(40, H("11")).ok());
}

TEST(IsoApduTest, DecodesAnswers) {
  EXPECT_EQ(HexEncode(*DecodeIsoAnswer(H("0102 9000"), 2)), "0102");
  struct Case {
    const char* reply;
    absl::StatusCode code;
    const char* reason;
  };
  for (const Case& c : {
           Case{"6A82", absl::StatusCode::kNotFound, "FILE_NOT_FOUND"},
           Case{"6982", absl::StatusCode::kPermissionDenied, "PERMISSION_DENIED"},
           Case{"6B00", absl::StatusCode::kInvalidArgument, "PARAMETER_ERROR"},
           Case{"6700", absl::StatusCode::kInvalidArgument, "LENGTH_ERROR"},
           Case{"6A83", absl::StatusCode::kOutOfRange, "BOUNDARY_ERROR"},
           Case{"6A84", absl::StatusCode::kOutOfRange, "BOUNDARY_ERROR"},
           Case{"6981", absl::StatusCode::kFailedPrecondition, "WRONG_FILE_TYPE"},
           Case{"6986", absl::StatusCode::kFailedPrecondition, "CONDITIONS_NOT_SATISFIED"},
           Case{"6A86", absl::StatusCode::kInvalidArgument, "PARAMETER_ERROR"},
           Case{"6C10", absl::StatusCode::kUnknown, "ISO_STATUS"},
           Case{"91AE", absl::StatusCode::kInternal, "PROTOCOL_ERROR"},
           Case{"010203 9000", absl::StatusCode::kInternal, "PROTOCOL_ERROR"},  // too long
           Case{"90", absl::StatusCode::kUnavailable, "CARD_REMOVED"},
       }) {
    absl::StatusOr<Bytes> r = DecodeIsoAnswer(H(c.reply), 2);
    EXPECT_EQ(r.status().code(), c.code) << c.reply;
    EXPECT_EQ(ReasonOf(r.status()), c.reason) << c.reply;
  }
}

struct ScriptedCard {
  ScriptedCard(std::initializer_list<ScriptedTransport::HexExchange> script)
      : transport(*ScriptedTransport::FromHex(script)), card(transport) {}
  ScriptedTransport transport;
  DesfireCard card;
};

TEST(DesfireCardIsoTest, ReadsInChunksToTheEnd) {
  const std::string full(2 * 256, 'a');
  ScriptedCard c{
      {"00b0000000", full + "9000"}, {"00b0010000", full + "9000"}, {"00b0020000", "bbbb9000"}};
  absl::StatusOr<Bytes> data = c.card.IsoReadBinary(std::nullopt, 0, 0);
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(data->size(), 514u);
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
}

TEST(DesfireCardIsoTest, ShortFileIdStopsAt255) {
  const std::string full(2 * 256, '0');
  ScriptedCard c{{"00b0820000", full + "9000"}};
  absl::StatusOr<Bytes> data = c.card.IsoReadBinary(2, 0, 0);
  EXPECT_EQ(data.status().code(), absl::StatusCode::kOutOfRange);
}

TEST(DesfireCardIsoTest, UpdateCommitsAndFailureAborts) {
  ScriptedCard c{{"00d68100020102", "9000"},
                 {"90c7000000", "9100"},
                 {"00d68100020102", "6982"},
                 {"90a7000000", "9100"}};
  EXPECT_TRUE(c.card.IsoUpdateBinary(1, 0, H("0102")).ok());
  absl::Status s = c.card.IsoUpdateBinary(1, 0, H("0102"));
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(apdu::GetCommitState(s), apdu::CommitState::kNotCommitted);
  EXPECT_TRUE(c.transport.Finished()) << c.transport.Remaining();
}

TEST(DesfireCardIsoTest, RecordsEndAtRecordNotFound) {
  ScriptedCard c{{"00b2012400", "11229000"}, {"00b2022400", "33449000"}, {"00b2032400", "6a83"}};
  absl::StatusOr<std::vector<Bytes>> r = c.card.IsoReadRecords(4, 1, 0);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(HexEncode((*r)[1]), "3344");
  ScriptedCard empty{{"00b2012400", "6a83"}};
  EXPECT_TRUE(empty.card.IsoReadRecords(4, 1, 5)->empty());
}

TEST(DesfireCardIsoTest, SelectingADfForgetsTheApplication) {
  ScriptedCard c{{"905a00000311223300", "9100"}, {"00a4040c07d2760000850101", "9000"}};
  ASSERT_TRUE(c.card.SelectApplication(0x332211).ok());
  ASSERT_TRUE(c.card.IsoSelectFile(IsoSelectBy::kDfName, ByteSpan(kNdefDfName)).ok());
  EXPECT_FALSE(c.card.selected_aid().has_value());
}

}  // namespace
}  // namespace desfired::desfire
