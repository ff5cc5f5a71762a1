#include "core/tap/input.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace desfired::tap {
namespace {

using ::testing::HasSubstr;

std::vector<TapInputRecord> ReadAll(InputFormat f, const std::string& text,
                                    std::vector<std::string>* notices = nullptr) {
  std::istringstream in(text);
  auto reader = NewTapInputReader(f, &in);
  std::vector<TapInputRecord> out;
  TapInputRecord rec;
  while (true) {
    absl::StatusOr<bool> more = reader->Next(&rec);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) break;
    out.push_back(rec);
  }
  if (notices) *notices = reader->notices();
  return out;
}

TEST(HexInputTest, CommentsBlanksSeparatorsAndErrors) {
  auto recs = ReadAll(InputFormat::kHex,
                      "# header\n"
                      "\n"
                      "0102 03:04\r\n"
                      "  0xAABB\n"
                      "01zz\n"
                      "123\n");
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(HexEncode(recs[0].bytes), "01020304");
  EXPECT_EQ(recs[0].location, "line 3");
  EXPECT_EQ(HexEncode(recs[1].bytes), "aabb");
  EXPECT_EQ(recs[2].error, "line 5: non-hex character 'z' at column 3");
  EXPECT_EQ(recs[3].error, "line 6: odd number of hex digits (3)");
}

TEST(HexInputTest, OverlongLineIsOneBadRecord) {
  std::string text(kMaxLineLength + 10, 'a');
  text += "\n0102\n";
  auto recs = ReadAll(InputFormat::kHex, text);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_THAT(recs[0].error, HasSubstr("line 1: line longer than"));
  EXPECT_EQ(HexEncode(recs[1].bytes), "0102");
  EXPECT_EQ(recs[1].location, "line 2");
}

TEST(HexInputTest, NoTrailingNewline) {
  auto recs = ReadAll(InputFormat::kHex, "0a0b");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(HexEncode(recs[0].bytes), "0a0b");
}

TEST(BinaryInputTest, RecordsOf32AndATail) {
  std::string data(32 * 2 + 29, '\x01');
  std::vector<std::string> notices;
  auto recs = ReadAll(InputFormat::kBinary, data, &notices);
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].bytes.size(), 32u);
  EXPECT_EQ(recs[1].location, "offset 32");
  EXPECT_EQ(recs[2].bytes.size(), 29u);
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_THAT(notices[0], HasSubstr("not a multiple of 32"));
  EXPECT_THAT(notices[0], HasSubstr("offset 64"));
}

TEST(BinaryInputTest, ExactMultipleHasNoNotice) {
  std::vector<std::string> notices;
  auto recs = ReadAll(InputFormat::kBinary, std::string(64, '\0'), &notices);
  EXPECT_EQ(recs.size(), 2u);
  EXPECT_TRUE(notices.empty());
}

TEST(CsvInputTest, HexAndBackendTimeColumns) {
  auto recs = ReadAll(InputFormat::kCsv,
                      "id,raw_hex,backend_time\n"
                      "1,0102,1700000000\n"
                      "2,\"0304\",2023-11-14T22:13:20Z\n"
                      "3,0506,\n"
                      "4,0708,yesterday\n"
                      "5\n"
                      "6,0g,1\n");
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(HexEncode(recs[0].bytes), "0102");
  EXPECT_EQ(*recs[0].backend_time, 1700000000);
  EXPECT_EQ(*recs[1].backend_time, 1700000000);
  EXPECT_FALSE(recs[2].backend_time.has_value());
  EXPECT_THAT(recs[3].error, HasSubstr("line 5: column 'backend_time'"));
  EXPECT_THAT(recs[4].error, HasSubstr("line 6: missing column 'raw_hex'"));
  EXPECT_THAT(recs[5].error, HasSubstr("line 7: column 'raw_hex': non-hex"));
}

TEST(CsvInputTest, HeaderWithoutHexColumnIsAnError) {
  std::istringstream in("a,b\n1,2\n");
  auto reader = NewTapInputReader(InputFormat::kCsv, &in);
  TapInputRecord rec;
  absl::StatusOr<bool> more = reader->Next(&rec);
  ASSERT_FALSE(more.ok());
  EXPECT_THAT(std::string(more.status().message()), HasSubstr("line 1: no hex column"));
}

TEST(CsvInputTest, EmptyInputIsAnError) {
  std::istringstream in("");
  auto reader = NewTapInputReader(InputFormat::kCsv, &in);
  TapInputRecord rec;
  EXPECT_FALSE(reader->Next(&rec).ok());
}

TEST(InputFormatTest, ParseAndGuess) {
  EXPECT_EQ(*ParseInputFormat("bin"), InputFormat::kBinary);
  EXPECT_FALSE(ParseInputFormat("xml").has_value());
  EXPECT_EQ(GuessInputFormat("a/taps.CSV"), InputFormat::kCsv);
  EXPECT_EQ(GuessInputFormat("dump.bin"), InputFormat::kBinary);
  EXPECT_EQ(GuessInputFormat("taps.txt"), InputFormat::kHex);
}

}  // namespace
}  // namespace desfired::tap
