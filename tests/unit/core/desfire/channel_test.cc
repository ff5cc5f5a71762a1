#include "core/desfire/channel.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "core/apdu/scripted_transport.h"
#include "core/apdu/status_payload.h"
#include "test_util.h"

namespace desfired::desfire {
namespace {

using apdu::ScriptedTransport;
using testing::H;
using testing::ReasonOf;

ScriptedTransport Script(const std::vector<ScriptedTransport::HexExchange>& s) {
  absl::StatusOr<ScriptedTransport> t = ScriptedTransport::FromHex(s);
  EXPECT_TRUE(t.ok()) << t.status();
  return *std::move(t);
}

// GetVersion of an EV1 4K card, three reply frames (skjolber/desfire-tools-for-android,
// AESEncryptionTest.java testAES2; vectors §7.1).
TEST(ChannelTest, FetchesAdditionalReplyFrames) {
  ScriptedTransport t = Script({
      {"90 60 00 00 00", "04 01 01 01 00 18 05 91 af"},
      {"90 af 00 00 00", "04 01 01 01 04 18 05 91 af"},
      {"90 af 00 00 00", "04 1f 5b 92 da 2c 80 ba 34 98 ba d0 29 12 91 00"},
  });
  Channel channel(t);
  absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kGetVersion, {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 0x00);
  EXPECT_EQ(HexEncode(r->data),
            "04010101001805040101010418050"
            "41f5b92da2c80ba3498bad02912");
  EXPECT_TRUE(t.Finished());
}

// The enciphered WriteData of vectors §2.3: 7 header bytes + 48 bytes = 55 bytes, sent as
// 54 bytes, then `90 AF 00 00 01 <last byte> 00`.
TEST(ChannelTest, ChainsCommandsAtFiftyFourBytes) {
  const Bytes payload =
      H("0f 00 00 00 1e 00 00 81 99 5d f0 a7 5c f3 9b f6 59 1b bf 98 2a 9e fa 05 5b 94 d4 f6 "
        "88 b0 8c 2b 7e c7 18 63 14 8d 28 21 20 65 97 72 53 6e 33 d3 50 7e 07 1d ed 14 64");
  ASSERT_EQ(payload.size(), 55u);
  ScriptedTransport t = Script({
      {"90 3d 00 00 36 0f 00 00 00 1e 00 00 81 99 5d f0 a7 5c f3 9b f6 59 1b bf 98 2a 9e fa "
       "05 5b 94 d4 f6 88 b0 8c 2b 7e c7 18 63 14 8d 28 21 20 65 97 72 53 6e 33 d3 50 7e 07 "
       "1d ed 14 00",
       "91 af"},
      {"90 af 00 00 01 64 00", "d5 1c 9d c8 12 42 8d 40 91 00"},
  });
  Channel channel(t);
  absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kWriteData, payload);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(HexEncode(r->data), "d51c9dc812428d40");
  EXPECT_TRUE(t.Finished());
}

TEST(ChannelTest, TruncatedReplyIsCardRemoved) {
  for (const char* reply : {"", "91"}) {
    ScriptedTransport t = Script({{"90 60 00 00 00", reply}});
    Channel channel(t);
    absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kGetVersion, {});
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(ReasonOf(r.status()), "CARD_REMOVED");
  }
}

TEST(ChannelTest, CardRemovedBetweenFrames) {
  ScriptedTransport t = Script({
      {"90 60 00 00 00", "04 01 01 01 00 18 05 91 af"},
      {"90 af 00 00 00", ""},
  });
  Channel channel(t);
  absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kGetVersion, {});
  EXPECT_EQ(ReasonOf(r.status()), "CARD_REMOVED");
}

// ReadData refused by a real card (pokusew/nfc-pcsc#17; vectors §1.3).
TEST(ChannelTest, MapsFinalStatusThroughTheTable) {
  ScriptedTransport t = Script({{"90 bd 00 00 07 02 00 00 00 0e 00 00 00", "91 9d"}});
  Channel channel(t);
  absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kReadData, H("02 000000 0e0000"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(apdu::GetDesfireStatus(r.status()), 0x9D);
}

TEST(ChannelTest, MapsIsoStatusWords) {
  ScriptedTransport t = Script({{"90 60 00 00 00", "6e 00"}});
  Channel channel(t);
  absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kGetVersion, {});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(apdu::GetStatusWord(r.status()), 0x6E00);
}

TEST(ChannelTest, CardEndingAChainEarlyIsAProtocolError) {
  ScriptedTransport t = Script({{"90 3d 00 00 36 " + std::string(54 * 2, '0') + " 00", "91 00"}});
  Channel channel(t);
  absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kWriteData, Bytes(60));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ReasonOf(r.status()), "PROTOCOL_ERROR");
}

TEST(ChannelTest, ErrorInTheMiddleOfAChain) {
  ScriptedTransport t = Script({{"90 3d 00 00 36 " + std::string(54 * 2, '0') + " 00", "91 9d"}});
  Channel channel(t);
  absl::StatusOr<NativeResponse> r = channel.Transceive(Ins::kWriteData, Bytes(60));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
}

TEST(ChannelTest, AuthenticationStepReturnsAdditionalFrame) {
  ScriptedTransport t = Script({{"90 aa 00 00 01 00 00", "0102030405060708090a0b0c0d0e0f10 91af"}});
  Channel channel(t);
  std::vector<std::string> log;
  channel.set_frame_logger([&](FrameDirection d, absl::string_view hex) {
    log.push_back(std::string(d == FrameDirection::kToCard ? ">> " : "<< ") + std::string(hex));
  });
  const uint8_t key_no[1] = {0};
  absl::StatusOr<NativeResponse> r = channel.Transceive(
      Ins::kAuthenticateAes, key_no, {.fetch_additional_frames = false, .redact = true});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 0xAF);
  EXPECT_EQ(r->data.size(), 16u);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], ">> 90aa000001 <2 bytes redacted>");
  EXPECT_EQ(log[1], "<< <16 bytes redacted> 91af");
}

TEST(ChannelTest, LogsEveryFrameInHex) {
  ScriptedTransport t = Script({
      {"90 60 00 00 00", "04 01 01 01 00 18 05 91 af"},
      {"90 af 00 00 00", "91 00"},
  });
  Channel channel(t);
  std::vector<std::string> log;
  channel.set_frame_logger(
      [&](FrameDirection, absl::string_view hex) { log.push_back(std::string(hex)); });
  ASSERT_TRUE(channel.Transceive(Ins::kGetVersion, {}).ok());
  EXPECT_EQ(log, (std::vector<std::string>{"9060000000",
                                           "04010101001805"
                                           "91af",
                                           "90af000000", "9100"}));
}

TEST(ScriptedTransportTest, MismatchFailsClearly) {
  ScriptedTransport t = Script({{"90 60 00 00 00", "91 00"}});
  absl::StatusOr<Bytes> r = t.Transmit(H("90 6a 00 00 00"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("expected command 9060000000, got 906a000000"),
            absl::string_view::npos)
      << r.status();
  EXPECT_FALSE(t.Finished());
  ASSERT_TRUE(t.Transmit(H("90 60 00 00 00")).ok());
  EXPECT_EQ(t.Transmit(H("90 60 00 00 00")).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace desfired::desfire
