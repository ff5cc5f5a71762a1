// desfirectl taps parse --threads: the output (stdout and stderr) is byte for byte the same for
// one and several threads, on files with duplicates, clock jumps and bad records, and the
// chunked hex and binary readers print what the record-by-record CSV reader prints.
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/unit/core/tap/test_records.h"

namespace desfired::tap {
namespace {

using desfired::testing::CliRun;
using desfired::testing::TempPath;
using ::testing::HasSubstr;

CliRun Desfirectl(const std::string& args) {
  return desfired::testing::RunDesfirectl(DESFIRECTL, args);
}

std::string Write(const std::string& name, const std::string& content) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

// 30,000 records over several chunks: duplicates (also across chunks), clock jumps (ahead
// beyond the dedup window, back, out of the plausible years), bad MACs, bad types, short and
// truncated records.
std::vector<Bytes> Records() {
  std::vector<Bytes> out;
  uint32_t t = 1700000000;
  for (uint32_t i = 0; i < 30000; ++i) {
    if (i % 50 == 49) {
      out.push_back(out[i - (i % 3 == 0 && i > 4000 ? 4000 : 7)]);  // a duplicate
      continue;
    }
    t += 2;
    if (i % 5000 == 0) t += 200000;  // ahead, beyond the dedup window
    if (i % 7001 == 0) t -= 100000;  // back
    testing::RecordSpec s;
    s.timestamp = i % 9000 == 1 ? 1300000000 : t;  // 2011: outside the clock window
    s.terminal = 1 + i % 40;
    s.uid[5] = static_cast<uint8_t>(i >> 8);
    s.uid[6] = static_cast<uint8_t>(i);
    Bytes r = testing::MakeRecord(s);
    if (i % 97 == 0) r[kMacOffset] ^= 1;
    if (i % 211 == 0) r[kTypeOffset] = 0x7f;
    if (i % 307 == 0) r.resize(30);
    if (i % 401 == 0) r.resize(12);
    testing::FixCrc(&r);
    out.push_back(std::move(r));
  }
  return out;
}

class TapsParseThreadsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string hex, bin, csv = "hex\n";
    size_t i = 0;
    for (const Bytes& r : Records()) {
      hex += HexEncode(r) + (++i % 1000 == 0 ? "\r\n# a comment\n\n" : "\n");
      csv += HexEncode(r) + "\n";
      if (r.size() == kRecordSize) bin += AsString(r);
    }
    hex_ = Write("threads.hex", hex);
    csv_ = Write("threads.csv", csv);
    // Binary: whole records only, then a short tail.
    bin_ = Write("threads.bin", bin + std::string(13, '\x01'));
    // Hex with unreadable lines too: non-hex, odd digits, a line over the length limit.
    bad_hex_ = Write("threads_bad.hex", hex + "zz\nabc\n" + std::string(70000, 'a') + "\n" + hex);
  }
  static std::string hex_, csv_, bin_, bad_hex_;
};
std::string TapsParseThreadsTest::hex_, TapsParseThreadsTest::csv_, TapsParseThreadsTest::bin_,
    TapsParseThreadsTest::bad_hex_;

constexpr char kArgs[] =
    "taps parse --mac-key 2b7e151628aed2a6abf7158809cf4f3c --dedup-window 86400 ";

TEST_F(TapsParseThreadsTest, SameOutputForOneAndSeveralThreads) {
  for (const std::string* file : {&hex_, &bin_, &bad_hex_}) {
    for (const char* output : {"--csv", "--json"}) {
      const CliRun one = Desfirectl(absl::StrCat(kArgs, output, " --threads 1 ", *file));
      ASSERT_EQ(one.exit_code, 0) << one.err;
      ASSERT_GT(one.out.size(), 30000u);
      for (int threads : {2, 8}) {
        const CliRun many =
            Desfirectl(absl::StrCat(kArgs, output, " --threads ", threads, " ", *file));
        ASSERT_EQ(many.exit_code, 0) << many.err;
        EXPECT_TRUE(many.out == one.out) << *file << " " << output << " " << threads;
        EXPECT_EQ(many.err, one.err) << *file << " " << output << " " << threads;
      }
    }
  }
}

TEST_F(TapsParseThreadsTest, ChunkedReadersPrintWhatTheCsvReaderPrints) {
  const CliRun csv = Desfirectl(absl::StrCat(kArgs, "--csv ", csv_));
  const CliRun hex = Desfirectl(absl::StrCat(kArgs, "--csv --threads 2 ", hex_));
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  ASSERT_EQ(hex.exit_code, 0) << hex.err;
  EXPECT_TRUE(hex.out == csv.out);
  EXPECT_EQ(hex.err, csv.err);
  EXPECT_THAT(hex.err, HasSubstr("DUPLICATE_TAP"));
  EXPECT_THAT(hex.err, HasSubstr("CLOCK_DRIFT_DETECTED"));
  EXPECT_THAT(hex.err, HasSubstr("rejected"));
  const CliRun bin = Desfirectl(absl::StrCat(kArgs, "--csv --threads 2 ", bin_));
  EXPECT_THAT(bin.err, HasSubstr("is not a multiple of 32 bytes"));
}

TEST_F(TapsParseThreadsTest, BadThreadsIsAUsageError) {
  for (const char* bad : {"0", "-1", "x", "100000"}) {
    const CliRun r = Desfirectl(absl::StrCat("taps parse --threads ", bad, " ", hex_));
    EXPECT_EQ(r.exit_code, 2) << bad;
    EXPECT_THAT(r.err, HasSubstr("--threads must be a number from 1 to 256")) << bad;
  }
  const CliRun server =
      Desfirectl(absl::StrCat("taps parse --server 127.0.0.1:1 --threads 2 ", hex_));
  EXPECT_THAT(server.err, HasSubstr("--threads is for the local parser"));
}

}  // namespace
}  // namespace desfired::tap
