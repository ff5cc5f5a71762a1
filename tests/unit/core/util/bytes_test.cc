#include "core/util/bytes.h"

#include <string>

#include "gtest/gtest.h"

namespace desfired {
namespace {

TEST(BytesTest, HexRoundTrip) {
  Bytes all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  const std::string hex = HexEncode(all);
  EXPECT_EQ(hex.size(), 512u);
  EXPECT_EQ(hex.substr(0, 8), "00010203");
  EXPECT_EQ(hex.substr(hex.size() - 4), "feff");
  absl::StatusOr<Bytes> back = HexDecode(hex);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, all);
  EXPECT_EQ(HexEncode(Bytes{}), "");
  absl::StatusOr<Bytes> empty = HexDecode("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(BytesTest, HexEncodeToWritesNoTerminator) {
  const Bytes data = {0xAB, 0x01};
  char out[6] = {'x', 'x', 'x', 'x', 'x', 'x'};
  HexEncodeTo(data, out);
  EXPECT_EQ(std::string(out, 6), "ab01xx");
}

TEST(BytesTest, HexDecodeAcceptsCaseAndSeparators) {
  const Bytes expected = {0x2B, 0x7E, 0x15, 0x16, 0xAB, 0xCD};
  for (const char* text : {"2b7e1516abcd", "2B7E1516ABCD", "2b 7e 15 16 ab cd", "2b:7e:15:16:AB:cd",
                           "2b-7e-15-16-ab-cd", "2b7e1516\tabcd", " 2b7e  1516 abcd "}) {
    absl::StatusOr<Bytes> bytes = HexDecode(text);
    ASSERT_TRUE(bytes.ok()) << text << ": " << bytes.status();
    EXPECT_EQ(*bytes, expected) << text;
  }
}

TEST(BytesTest, HexDecodeOddLength) {
  absl::StatusOr<Bytes> bytes = HexDecode("abc");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bytes.status().message()).find("odd"), std::string::npos) << bytes.status();
}

TEST(BytesTest, HexDecodeNonHexNamesOffset) {
  absl::StatusOr<Bytes> bytes = HexDecode("00 1g");
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bytes.status().message()).find("offset 4"), std::string::npos)
      << bytes.status();
  // A separator inside a byte pair is not allowed.
  bytes = HexDecode("0 1");
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(std::string(bytes.status().message()).find("offset 1"), std::string::npos)
      << bytes.status();
  bytes = HexDecode("zz");
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(std::string(bytes.status().message()).find("offset 0"), std::string::npos)
      << bytes.status();
}

TEST(BytesTest, HexDigitValue) {
  EXPECT_EQ(HexDigitValue('0'), 0);
  EXPECT_EQ(HexDigitValue('9'), 9);
  EXPECT_EQ(HexDigitValue('a'), 10);
  EXPECT_EQ(HexDigitValue('F'), 15);
  EXPECT_EQ(HexDigitValue('g'), -1);
  EXPECT_EQ(HexDigitValue(' '), -1);
}

TEST(BytesTest, LittleEndianLoadStore) {
  const uint8_t bytes[4] = {0x78, 0x56, 0x34, 0x12};
  EXPECT_EQ(LoadLe16(bytes), 0x5678u);
  EXPECT_EQ(LoadLe24(bytes), 0x345678u);
  EXPECT_EQ(LoadLe32(bytes), 0x12345678u);
  const uint8_t high[4] = {0xFF, 0xFE, 0xFD, 0xFC};
  EXPECT_EQ(LoadLe32(high), 0xFCFDFEFFu);

  uint8_t out[5] = {0xAA, 0xAA, 0xAA, 0xAA, 0xAA};
  StoreLe16(0xBEEF, out);
  EXPECT_EQ(HexEncode(out), "efbeaaaaaa");
  StoreLe24(0x123456, out);
  EXPECT_EQ(HexEncode(out), "563412aaaa");
  StoreLe32(0xDEADBEEF, out);
  EXPECT_EQ(HexEncode(out), "efbeaddeaa");
  // Only the low bits are stored.
  StoreLe16(0x12345678, out);
  EXPECT_EQ(HexEncode(out), "7856addeaa");
  StoreLe32(0x01020304, out);
  EXPECT_EQ(LoadLe32(out), 0x01020304u);
}

}  // namespace
}  // namespace desfired
