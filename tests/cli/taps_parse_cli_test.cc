// Runs the real desfirectl binary (path in DESFIRECTL) on files and checks its output and
// exit codes.
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "desfired/v1/taps.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"

namespace {

using ::testing::HasSubstr;

constexpr char kKey[] = "2b7e151628aed2a6abf7158809cf4f3c";

using desfired::testing::CliRun;
using desfired::testing::ReadFile;
using desfired::testing::TempPath;  // unique to this test process (ctest runs tests in parallel)

CliRun Desfirectl(const std::string& args, const std::string& stdin_text = "") {
  return desfired::testing::RunDesfirectl(DESFIRECTL, args, {}, stdin_text);
}

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

std::string Sample() { return absl::StrCat(SOURCE_DIR, "/docs/examples/taps-sample.hex"); }

std::string WriteTemp(const std::string& name, const std::string& text, mode_t mode = 0600) {
  const std::string path = TempPath(name);
  std::ofstream(path, std::ios::binary) << text;
  chmod(path.c_str(), mode);
  return path;
}

TEST(TapsParseCliTest, JsonLinesWithMacKey) {
  CliRun r = Desfirectl(absl::StrCat("taps parse --mac-key ", kKey, " --json ", Sample()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 11u);  // one per record line of the sample
  std::vector<desfired::v1::TapResult> results;
  for (const std::string& line : lines) {
    desfired::v1::TapResult res;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &res).ok()) << line;
    results.push_back(res);
  }
  using R = desfired::v1::TapResult;
  EXPECT_EQ(results[0].status(), R::VALID);
  EXPECT_EQ(results[0].record_id(), "04a1b2c3_1700000000");
  EXPECT_EQ(results[0].record().card_uid(), "04a1b2c3d4e5f680");
  EXPECT_EQ(results[0].record().terminal_id(), 0x1234u);
  EXPECT_EQ(results[3].status(), R::FLAGGED);
  EXPECT_EQ(results[3].warnings(0), desfired::v1::CRC8_MISMATCH);
  EXPECT_EQ(results[4].warnings(0), desfired::v1::MAC_VERIFICATION_FAILED);
  EXPECT_EQ(results[6].warnings(0), desfired::v1::DUPLICATE_TAP);
  EXPECT_EQ(results[8].status(), R::REJECTED);
  EXPECT_THAT(results[9].error(), HasSubstr("line 12"));
  // The names DESIGN.md promises, in the JSON text itself.
  for (const char* field : {"\"status\":", "\"rawHex\":", "\"recordId\":", "\"recordType\":",
                            "\"tapTime\":\"2023-11-14T22:13:20Z\"", "\"terminalId\":",
                            "\"fareProduct\":", "\"zoneRoute\":", "\"cardUid\":", "\"mac\":"}) {
    EXPECT_THAT(lines[0], HasSubstr(field));
  }
  EXPECT_THAT(r.err, HasSubstr("11 records: 6 valid, 2 flagged, 3 rejected"));
}

TEST(TapsParseCliTest, WithoutKeyEverythingIsFlaggedNotVerified) {
  CliRun r = Desfirectl(absl::StrCat("taps parse --json ", Sample()));
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_THAT(Lines(r.out)[0], HasSubstr("MAC_NOT_VERIFIED"));
  EXPECT_THAT(r.err, HasSubstr("0 valid"));
}

TEST(TapsParseCliTest, CsvAndTableOutputs) {
  CliRun csv = Desfirectl(absl::StrCat("taps parse --mac-key ", kKey, " --csv ", Sample()));
  ASSERT_EQ(csv.exit_code, 0);
  std::vector<std::string> lines = Lines(csv.out);
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_THAT(lines[0], HasSubstr("index,status,record_id"));
  EXPECT_THAT(lines[1], HasSubstr("0,VALID,04a1b2c3_1700000000,ENTRY,2023-11-14T22:13:20Z"));
  CliRun table = Desfirectl(absl::StrCat("taps parse --mac-key ", kKey, " --table ", Sample()));
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("STATUS"));
  EXPECT_THAT(table.out, HasSubstr("CRC8_MISMATCH"));
}

TEST(TapsParseCliTest, StdinDash) {
  CliRun r =
      Desfirectl(absl::StrCat("taps parse --mac-key ", kKey, " --json -"), ReadFile(Sample()));
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(Lines(r.out).size(), 11u);
}

TEST(TapsParseCliTest, BinaryWithTail) {
  std::string hex = Lines(ReadFile(Sample()))[2];  // first record line
  std::string bin;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    bin.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  const std::string path = WriteTemp("taps.bin", bin + bin + bin.substr(0, 30));
  CliRun r = Desfirectl(absl::StrCat("taps parse --mac-key ", kKey, " --json ", path));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[1], HasSubstr("DUPLICATE_TAP"));
  EXPECT_THAT(lines[2], HasSubstr("RECORD_TRUNCATED"));
  EXPECT_THAT(r.err, HasSubstr("not a multiple of 32"));
}

TEST(TapsParseCliTest, CsvWithBackendTimeAndTables) {
  std::vector<std::string> rec = Lines(ReadFile(Sample()));
  const std::string csv =
      WriteTemp("taps.csv", absl::StrCat("hex,backend_time\n", rec[2], ",1700000000\n", rec[3],
                                         ",1700001700\n"));  // second one is 100 s off
  const std::string terms = WriteTemp("terms.csv", "terminal_id,name\n0x001234,Central\n");
  const std::string fares = WriteTemp("fares.csv", "fare_product,name\n9,Day pass\n");
  CliRun r = Desfirectl(absl::StrCat("taps parse --mac-key ", kKey, " --json --terminals ", terms,
                                     " --tariffs ", fares, " ", csv));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("\"terminalName\":\"Central\""));
  EXPECT_THAT(lines[0], HasSubstr("UNKNOWN_FARE_PRODUCT"));
  EXPECT_THAT(lines[1], HasSubstr("UNKNOWN_TERMINAL"));
  EXPECT_THAT(lines[1], HasSubstr("CLOCK_DRIFT_DETECTED"));
  EXPECT_THAT(lines[1], HasSubstr("\"correctedTapTime\""));
}

TEST(TapsParseCliTest, KeysFile) {
  const std::string keys =
      WriteTemp("keys.conf",
                absl::StrCat("key transit AES128 ", kKey, "\ntap terminal 0x1234 key=transit\n"));
  CliRun r = Desfirectl(absl::StrCat("taps parse --json --keys ", keys, " ", Sample()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  EXPECT_THAT(lines[0], HasSubstr("\"status\":\"VALID\""));  // terminal 0x1234
  EXPECT_THAT(lines[1], HasSubstr("MAC_NOT_VERIFIED"));      // terminal 0x1235: no rule
}

TEST(TapsParseCliTest, ErrorsAndExitCodes) {
  struct Case {
    std::string args;
    int code;
    const char* message;
  };
  const std::string open_keys =
      WriteTemp("open.conf", absl::StrCat("key k AES128 ", kKey, "\n"), 0644);
  const std::string bad_keys = WriteTemp("bad.conf", "key k AES128 00112233\n");
  const std::string no_hex = WriteTemp("nohex.csv", "a,b\n1,2\n");
  const Case cases[] = {
      {"taps parse /nonexistent/taps.hex", 1, "cannot open /nonexistent/taps.hex"},
      {absl::StrCat("taps parse ", no_hex), 1, "line 1: no hex column"},
      {"taps parse --mac-key 00112233 -", 2, "16 bytes"},
      {"taps parse --mac-key zz -", 2, "--mac-key is not hex"},
      {absl::StrCat("taps parse --keys ", open_keys, " -"), 2, "chmod 600"},
      {absl::StrCat("taps parse --keys ", bad_keys, " -"), 2, "bad.conf:1"},
      {"taps parse --json --csv -", 2, "choose one"},
      {"taps parse --format xml -", 2, "unknown --format"},
      {"taps parse --min-year 3000 -", 2, "--min-year must be"},
      {"taps parse --bogus -", 2, "unknown option '--bogus'"},
      {"taps parse", 2, "expected exactly one input"},
      {"frobnicate", 2, "unknown command"},
  };
  for (const Case& c : cases) {
    CliRun r = Desfirectl(c.args);
    EXPECT_EQ(r.exit_code, c.code) << c.args << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << c.args;
    EXPECT_THAT(r.err, ::testing::Not(HasSubstr(kKey)));
  }
  CliRun help = Desfirectl("taps parse --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--mac-key HEX"));

  // With --json each failure is one JSON object on stderr (docs/cli.md, "Errors"), with the same
  // exit code; before, the text went to stderr whatever --json said.
  for (const Case& c : cases) {
    if (!absl::StartsWith(c.args, "taps parse") || absl::StrContains(c.args, "--json")) continue;
    const std::string args = absl::StrCat("taps parse --json", c.args.substr(10));
    CliRun r = Desfirectl(args);
    EXPECT_EQ(r.exit_code, c.code) << args << "\n" << r.err;
    EXPECT_EQ(r.out, "") << args;
    ASSERT_EQ(Lines(r.err).size(), 1u) << args << "\n" << r.err;
    google::protobuf::Struct e;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.err, &e).ok()) << r.err;
    const auto& f = e.fields();
    EXPECT_EQ(f.at("command").string_value(), "desfirectl taps parse") << args;
    EXPECT_EQ(f.at("exitCode").number_value(), c.code) << args;
    EXPECT_FALSE(f.at("code").string_value().empty()) << args;
    EXPECT_THAT(f.at("message").string_value(), HasSubstr(c.message)) << args;
    if (c.code == 2) {
      EXPECT_EQ(f.at("code").string_value(), "INVALID_ARGUMENT") << args;
    }
  }
}

// 300,000 records through a pipe: the CLI streams, so its peak memory stays small.
TEST(TapsParseCliTest, MemoryStaysBoundedOnLargeInput) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "sanitizer quarantine and shadow memory dominate the child's RSS";
#endif
  const std::string line = Lines(ReadFile(Sample()))[2];
  const std::string cmd =
      absl::StrCat("yes ", line, " | head -n 300000 | ", DESFIRECTL, " taps parse --mac-key ", kKey,
                   " --json - >/dev/null 2>", TempPath("big_err"));
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_THAT(ReadFile(TempPath("big_err")), HasSubstr("300000 records"));
  struct rusage ru {};
  getrusage(RUSAGE_CHILDREN, &ru);
  EXPECT_LT(ru.ru_maxrss, 64 * 1024) << "peak RSS in KiB";  // 300k results would be far more
}

// On a terminal, large inputs show a progress line on stderr; piped, they do not.
TEST(TapsParseCliTest, ProgressLineOnlyOnATerminal) {
  const std::string line = Lines(ReadFile(Sample()))[2];
  const std::string input = TempPath("progress_in");
  {
    std::ofstream out(input);
    for (int i = 0; i < 40000; ++i) out << line << "\n";
  }
  // script(1) runs the command with a pseudo-terminal as stdin/stdout/stderr.
  const std::string tty_out = TempPath("progress_tty");
  const std::string cmd =
      absl::StrCat("script -qec \"", DESFIRECTL, " taps parse --json --no-summary ", input,
                   " >/dev/null\" /dev/null >", tty_out, " 2>&1");
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  // A file's size is known: a bar with the share read.
  // Drawn after each 16384 records at most (records go through in chunks: a count at or past it).
  EXPECT_THAT(ReadFile(tty_out), ::testing::ContainsRegex("parsed [0-9]+ records  \\["));
  EXPECT_THAT(ReadFile(tty_out), ::testing::ContainsRegex("[0-9]+% +[0-9.]+ of [0-9.]+ MB"));

  CliRun piped = Desfirectl(absl::StrCat("taps parse --json --no-summary ", input));
  ASSERT_EQ(piped.exit_code, 0);
  EXPECT_THAT(piped.err, ::testing::Not(HasSubstr("parsed")));
}

}  // namespace
