// TapEncoder (proto/convert/tap_encoder.h) against its references (tests/testing/
// tap_result_builder.h): the JSON equals the protobuf printer's over ToProto byte for byte, the
// CSV and the table equal the absl::StrFormat printer's, on the golden records (the sample file
// and the parser's fuzz seeds through the pipeline), on every status, warning, reject reason and
// MAC algorithm, on texts that need escaping, on the time limits, and on random results.
#include "proto/convert/tap_encoder.h"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/keys/key_store.h"
#include "core/tap/input.h"
#include "core/tap/pipeline.h"
#include "gtest/gtest.h"
#include "tests/testing/tap_result_builder.h"

namespace desfired {
namespace {

using testing::ReferenceCsv;
using testing::ReferenceJson;
using testing::ReferenceRow;

class TapEncoderTest : public ::testing::Test {
 protected:
  // Every encoding of `r` equals its reference.
  void ExpectSame(const tap::TapResult& r) {
    buf_.clear();
    encoder_.Json(r, &buf_);
    EXPECT_EQ(buf_.view(), ReferenceJson(r)) << "index " << r.index;
    buf_.clear();
    encoder_.Json(r, &buf_, v1::TAP_RESULT_VIEW_BASIC);
    EXPECT_EQ(buf_.view(), ReferenceJson(r, v1::TAP_RESULT_VIEW_BASIC)) << "index " << r.index;
    buf_.clear();
    encoder_.Csv(r, &buf_);
    EXPECT_EQ(buf_.view(), ReferenceCsv(r)) << "index " << r.index;
    buf_.clear();
    encoder_.Row(r, &buf_);
    EXPECT_EQ(buf_.view(), ReferenceRow(r)) << "index " << r.index;
  }

  // Every record of `text` (in `format`) through a pipeline with keys, tables and (CSV)
  // backend times.
  void ExpectSameForInput(tap::InputFormat format, const std::string& text) {
    keys::KeyStore store = *keys::KeyStore::Parse(
        "key tap AES128 2b7e151628aed2a6abf7158809cf4f3c\n"
        "key t 2TDEA 0123456789abcdef23456789abcdef01\n"
        "tap terminal 0x001235 key=t\n"
        "tap static key=tap\n",
        "test");
    std::istringstream terminals("terminal_id,name\n0x001234,Central \"North\" <A>\n");
    std::istringstream tariffs("fare_product,name\n7,Day pass\n9,Zürich Tag\n");
    tap::IdTable terminal_table =
        *tap::IdTable::LoadCsv(terminals, "terminals", "terminal_id", 0xFFFFFF);
    tap::IdTable tariff_table = *tap::IdTable::LoadCsv(tariffs, "tariffs", "fare_product", 0xFFFF);
    tap::TapPipelineConfig config;
    config.keys = &store;
    config.terminals = &terminal_table;
    config.tariffs = &tariff_table;
    std::unique_ptr<tap::TapPipeline> pipeline = *tap::TapPipeline::Create(config);
    std::istringstream in(text);
    std::unique_ptr<tap::TapInputReader> reader = tap::NewTapInputReader(format, &in);
    tap::TapInputRecord rec;
    tap::TapResult result;
    for (uint64_t index = 0; *reader->Next(&rec); ++index) {
      if (!rec.error.empty()) {
        pipeline->ProcessUnreadable(index, {}, rec.error, &result);
      } else {
        pipeline->Process(index, rec.bytes, rec.backend_time, &result);
      }
      ExpectSame(result);
    }
  }

  TapEncoder encoder_;
  TextBuffer buf_;
};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(TapEncoderTest, SampleFile) {
  ExpectSameForInput(tap::InputFormat::kHex,
                     ReadFile(absl::StrCat(SOURCE_DIR, "/docs/examples/taps-sample.hex")));
}

TEST_F(TapEncoderTest, ParserSeedsWithBackendTimes) {
  // The parser's fuzz seeds (a selector byte, then a record) as CSV with backend times, so that
  // clock offsets and corrected times appear.
  std::string csv = "raw_hex,backend_time\n";
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(
           absl::StrCat(SOURCE_DIR, "/tests/fuzz/corpus/tap_parser_fuzz"))) {
    const std::string bytes = ReadFile(e.path().string());
    if (bytes.size() < 2) continue;
    absl::StrAppend(&csv, HexEncode(AsBytes(bytes).subspan(1)), ",", 1700000000 - 30 * n++, "\n");
  }
  ASSERT_GT(n, 0);
  ExpectSameForInput(tap::InputFormat::kCsv, csv);
}

TEST_F(TapEncoderTest, EveryStatusWarningReasonAndAlgorithm) {
  const std::string key = "mac-key";
  const Bytes raw = *HexDecode("0100f1536534120007000304a1b2c3d4e5f680d5e0afe067b6e46a80ffffffff");
  for (int status = 1; status <= 3; ++status) {
    for (int w = 0; w <= 16; ++w) {
      tap::TapResult r;
      r.index = static_cast<uint64_t>(w);
      r.status = static_cast<tap::TapStatus>(status);
      r.warnings = static_cast<uint16_t>(w == 16 ? 0xFFFF : 1u << w);
      r.raw = raw;
      r.reject = static_cast<tap::RejectReason>(w % 5);
      r.reject_detail = static_cast<uint32_t>(w * 7);
      r.input_error = "line 3: not hex";
      r.fields.type = static_cast<tap::RecordType>(1 + w % 3);
      r.fields.timestamp = 1700000000u + static_cast<uint32_t>(w);
      r.fields.terminal_id = static_cast<uint32_t>(w % 2 ? 0x1234 : 0);
      r.fields.crc8 = static_cast<uint8_t>(w);
      r.mac_algorithm = static_cast<crypto::MacAlgorithm>(w % 4);
      r.key_name = w % 2 ? &key : nullptr;
      r.has_clock_offset = w % 3 == 0;
      r.clock_offset = w - 8;
      r.corrected_time = r.fields.timestamp - r.clock_offset;
      ExpectSame(r);
    }
  }
}

TEST_F(TapEncoderTest, TextsThatNeedEscaping) {
  std::vector<std::string> texts = {
      "plain",
      "quote \" backslash \\",
      "<tag> & 'apos'",
      std::string("nul \0 bell \a", 11),
      "\b\f\n\r\t\x1f\x7f",
      "Zürich",
      "\xe2\x80\xa8 line sep, soft\xc2\xad hyphen, bom \xef\xbb\xbf",
      "emoji \xf0\x9f\x98\x80",
      "invalid \xff here",
      "truncated \xe2\x80",
      "lone \x80 cont",
      "overlong \xc0\xaf",
      "surrogate \xed\xa0\x80",
  };
  for (const std::string& text : texts) {
    testing::ForResultsWithText(text, [&](const tap::TapResult& r) { ExpectSame(r); });
  }
}

TEST_F(TapEncoderTest, TimeLimits) {
  for (int64_t t :
       {int64_t{0}, int64_t{-1}, int64_t{951782400} /* 2000-02-29 */, int64_t{4294967295},
        int64_t{-62135596800}, int64_t{-62135596801}, int64_t{253402300799}, int64_t{253402300800},
        int64_t{-30610224000}, int64_t{-30610224001}, INT64_MIN, INT64_MAX}) {
    tap::TapResult r;
    r.status = tap::TapStatus::kValid;
    r.fields.timestamp = static_cast<uint32_t>(t);
    r.has_clock_offset = true;
    r.corrected_time = t;
    r.clock_offset = -t;
    ExpectSame(r);
  }
}

TEST_F(TapEncoderTest, RandomResults) {
  testing::ForRandomResults(21, 20000, [&](const tap::TapResult& r) {
    ExpectSame(r);
    return !HasFailure();
  });
}

TEST_F(TapEncoderTest, BufferGrowsAcrossLines) {
  tap::TapResult r;
  r.status = tap::TapStatus::kValid;
  std::string want;
  for (int i = 0; i < 5000; ++i) {
    r.index = static_cast<uint64_t>(i);
    encoder_.Json(r, &buf_);
    want += ReferenceJson(r);
  }
  EXPECT_EQ(buf_.view(), want);
}

}  // namespace
}  // namespace desfired
