#include "core/apdu/apdu.h"

#include <gtest/gtest.h>

#include "core/apdu/status_payload.h"
#include "tests/unit/hex_testing.h"

namespace desfired::apdu {
namespace {

Bytes H(absl::string_view hex) { return test_util::Hex(hex); }

TEST(CommandApduTest, EncodesCaseFourWithLeZero) {
  // SELECT of the DESFire ISO DF name (vectors §7.3).
  CommandApdu select{
      .cla = 0x00, .ins = 0xA4, .p1 = 0x04, .p2 = 0x00, .data = H("D2760000850100"), .le = 0};
  ASSERT_TRUE(select.Validate().ok());
  EXPECT_EQ(HexEncode(select.Encode()), "00a4040007d276000085010000");
}

TEST(CommandApduTest, EncodesWithoutDataOrLe) {
  CommandApdu c{.cla = 0x90, .ins = 0x60, .p1 = 0, .p2 = 0, .data = {}, .le = std::nullopt};
  EXPECT_EQ(HexEncode(c.Encode()), "90600000");
  c.le = 256;
  EXPECT_EQ(HexEncode(c.Encode()), "9060000000");
}

TEST(CommandApduTest, RejectsExtendedLengths) {
  CommandApdu c{.cla = 0, .ins = 0, .p1 = 0, .p2 = 0, .data = Bytes(256), .le = std::nullopt};
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
  c.data.resize(255);
  EXPECT_TRUE(c.Validate().ok());
  c.le = 257;
  EXPECT_EQ(c.Validate().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ResponseApduTest, SplitsDataAndStatusWord) {
  absl::StatusOr<ResponseApdu> r = ResponseApdu::Parse(H("0102 91af"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(HexEncode(r->data), "0102");
  EXPECT_EQ(r->sw1, 0x91);
  EXPECT_EQ(r->sw2, 0xAF);
  EXPECT_EQ(r->sw(), 0x91AF);
  r = ResponseApdu::Parse(H("9000"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->data.empty());
}

TEST(ResponseApduTest, ShortReplyMeansCardRemoved) {
  for (const char* raw : {"", "91"}) {
    absl::StatusOr<ResponseApdu> r = ResponseApdu::Parse(H(raw));
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << raw;
    EXPECT_EQ(GetReason(r.status()), "CARD_REMOVED") << raw;
  }
}

TEST(StatusWordTest, MapsThroughTheTableWithPayloads) {
  EXPECT_TRUE(StatusWordToStatus(kSwSuccess).ok());
  absl::Status s = StatusWordToStatus(0x6A82);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetStatusWord(s), 0x6A82);
  EXPECT_EQ(GetReason(s), "FILE_NOT_FOUND");
  EXPECT_NE(s.message().find("6A82"), absl::string_view::npos);
  s = StatusWordToStatus(0x6283);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(GetStatusWord(s), 0x6283);
  EXPECT_EQ(GetReason(s), "ISO_STATUS");
}

TEST(StatusPayloadTest, OkStatusGetsNoReason) {
  EXPECT_TRUE(WithReason(absl::OkStatus(), "X").ok());
  EXPECT_FALSE(GetReason(absl::InternalError("x")).has_value());
  EXPECT_FALSE(GetDesfireStatus(absl::InternalError("x")).has_value());
}

}  // namespace
}  // namespace desfired::apdu
