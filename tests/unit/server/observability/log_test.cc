#include "server/observability/log.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace desfired::log {
namespace {

const absl::Time kT = absl::FromUnixMillis(1735787045678);  // 2025-01-02T03:04:05.678Z

// A line parsed by protobuf's JSON parser (strict: one object, valid UTF-8, proper escapes).
google::protobuf::Struct ParseJson(const std::string& line) {
  google::protobuf::Struct out;
  const auto status = google::protobuf::util::JsonStringToMessage(line, &out);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\nline: " << line;
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string TempDir() {
  std::string tmpl = ::testing::TempDir() + "log_test.XXXXXX";
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

TEST(FormatLineTest, JsonLineHasTsLevelMsgThenFieldsInOrder) {
  const std::string line = FormatLine(Format::kJson, kT, Level::kInfo, "rpc",
                                      Fields()
                                          .Str("request_id", "log-test-1")
                                          .Str("method", "Debit")
                                          .Str("reader", "Test PCD 0 00")
                                          .Str("caller", "ipv4:127.0.0.1:5000")
                                          .Str("code", "OK")
                                          .Str("reason", "")  // unknown: left out
                                          .Num("latency_ms", 12.5)
                                          .Int("port", 50051)
                                          .Bool("replayed", true));
  EXPECT_EQ(line, R"({"ts":"2025-01-02T03:04:05.678Z","level":"info","msg":"rpc",)"
                  R"("request_id":"log-test-1","method":"Debit","reader":"Test PCD 0 00",)"
                  R"("caller":"ipv4:127.0.0.1:5000","code":"OK","latency_ms":12.500,"port":50051,)"
                  R"("replayed":true})");
  const google::protobuf::Struct parsed = ParseJson(line);
  EXPECT_EQ(parsed.fields().at("latency_ms").number_value(), 12.5);
  EXPECT_FALSE(parsed.fields().contains("reason"));
}

TEST(FormatLineTest, LevelNamesAndMillisecondsInUtc) {
  EXPECT_EQ(FormatLine(Format::kJson, absl::FromUnixMillis(5), Level::kWarn, "m", {}),
            R"({"ts":"1970-01-01T00:00:00.005Z","level":"warn","msg":"m"})");
  EXPECT_EQ(FormatLine(Format::kJson, kT, Level::kError, "m", {}),
            R"({"ts":"2025-01-02T03:04:05.678Z","level":"error","msg":"m"})");
  EXPECT_NE(FormatLine(Format::kJson, kT, Level::kDebug, "m", {}).find(R"(,"level":"debug",)"),
            std::string::npos);
}

TEST(JsonEscapeTest, QuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(JsonEscape("a\"b\\c/d"), R"(a\"b\\c/d)");
  EXPECT_EQ(JsonEscape("\n\r\t\b\f"), R"(\n\r\t\b\f)");
  EXPECT_EQ(JsonEscape(std::string("\x00\x01\x1f\x7f", 4)), R"(\u0000\u0001\u001f\u007f)");
  // A request id that tries to end the line and start a forged one stays on its line.
  const std::string forged = "x\"}\n{\"level\":\"error\",\"msg\":\"forged";
  const std::string line =
      FormatLine(Format::kJson, kT, Level::kInfo, "rpc", Fields().Str("request_id", forged));
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(ParseJson(line).fields().at("request_id").string_value(), forged);
}

TEST(JsonEscapeTest, MalformedUtf8BecomesReplacementCharacter) {
  EXPECT_EQ(JsonEscape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");  // well-formed: kept as is
  EXPECT_EQ(JsonEscape("\xff"), R"(\ufffd)");
  EXPECT_EQ(JsonEscape("a\x80z"), R"(a\ufffdz)");                  // a lone continuation byte
  EXPECT_EQ(JsonEscape("\xc0\xaf"), R"(\ufffd\ufffd)");            // overlong '/'
  EXPECT_EQ(JsonEscape("\xe0\x80\xaf"), R"(\ufffd\ufffd\ufffd)");  // overlong, 3 bytes
  EXPECT_EQ(JsonEscape("\xed\xa0\x80"), R"(\ufffd\ufffd\ufffd)");  // a UTF-16 surrogate
  EXPECT_EQ(JsonEscape("\xf4\x90\x80\x80"), R"(\ufffd\ufffd\ufffd\ufffd)");  // > U+10FFFF
  EXPECT_EQ(JsonEscape("\xe2\x82"), R"(\ufffd\ufffd)");                      // truncated at the end
  EXPECT_EQ(JsonEscape("\xe2\x82z"), R"(\ufffd\ufffdz)");  // truncated in the middle
}

TEST(JsonEscapeTest, EveryByteGivesAValidLine) {
  for (int b = 0; b < 256; ++b) {
    const std::string value = absl::StrCat("<", std::string(1, static_cast<char>(b)), ">");
    const std::string line =
        FormatLine(Format::kJson, kT, Level::kInfo, value, Fields().Str("reader", value));
    ASSERT_EQ(line.find('\n'), std::string::npos) << b;
    const google::protobuf::Struct parsed = ParseJson(line);
    const std::string expected = b < 0x80 ? value : "<\xef\xbf\xbd>";  // U+FFFD in UTF-8
    EXPECT_EQ(parsed.fields().at("msg").string_value(), expected) << b;
    EXPECT_EQ(parsed.fields().at("reader").string_value(), expected) << b;
  }
}

TEST(FormatLineTest, TextLineQuotesWhatNeedsIt) {
  EXPECT_EQ(FormatLine(Format::kText, kT, Level::kInfo, "rpc",
                       Fields()
                           .Str("method", "Debit")
                           .Str("reader", "Test PCD 0 00")
                           .Str("request_id", "a=b")
                           .Num("latency_ms", 3)),
            R"(2025-01-02T03:04:05.678Z INFO rpc method=Debit reader="Test PCD 0 00" )"
            R"(request_id="a=b" latency_ms=3.000)");
  EXPECT_EQ(
      FormatLine(Format::kText, kT, Level::kWarn, "two\nlines", Fields().Str("caller", "x\ny\xff")),
      R"(2025-01-02T03:04:05.678Z WARN two\nlines caller="x\ny\ufffd")");
}

TEST(ParseTest, FormatsAndLevels) {
  EXPECT_EQ(*ParseFormat("json"), Format::kJson);
  EXPECT_EQ(*ParseFormat("text"), Format::kText);
  EXPECT_EQ(ParseFormat("xml").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ParseFormat("xml").status().message().find("'xml'"), absl::string_view::npos);
  for (absl::string_view name : {"trace", "debug", "info", "warn", "error", "off"}) {
    ASSERT_TRUE(ParseLevel(name).ok()) << name;
    EXPECT_EQ(LevelName(*ParseLevel(name)), name);
  }
  EXPECT_NE(ParseLevel("verbose").status().message().find("'verbose'"), absl::string_view::npos);
}

TEST(LoggerTest, AppendsLinesAtTheLevelToTheFileWithThePid) {
  const std::string dir = TempDir();
  const std::string pattern = dir + "/sub/d-%p.log";  // the directory is created
  const std::string path = absl::StrCat(dir, "/sub/d-", ::getpid(), ".log");
  {
    auto logger = Logger::Create({.format = Format::kJson,
                                  .level = Level::kInfo,
                                  .to_stderr = false,
                                  .file = pattern,
                                  .use_env_file = false});
    ASSERT_TRUE(logger.ok()) << logger.status();
    ASSERT_EQ((*logger)->files(), std::vector<std::string>{path});
    (*logger)->Debug("not at info");
    (*logger)->Info("first", Fields().Str("method", "ListReaders"));
    (*logger)->Warn("second {} %s");  // no format interpretation
    // Flushed per line: readable before the logger goes.
    EXPECT_NE(ReadFile(path).find("\"msg\":\"second {} %s\""), std::string::npos);
  }
  const std::vector<std::string> lines = absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(ParseJson(lines[0]).fields().at("method").string_value(), "ListReaders");
  EXPECT_EQ(ParseJson(lines[1]).fields().at("level").string_value(), "warn");
  // Appends, never truncates.
  auto again = Logger::Create({.to_stderr = false, .file = pattern, .use_env_file = false});
  ASSERT_TRUE(again.ok());
  (*again)->Error("third");
  EXPECT_EQ(
      std::vector<std::string>(absl::StrSplit(ReadFile(path), '\n', absl::SkipEmpty())).size(), 3u);
}

TEST(LoggerTest, EnvironmentFileIsAddedAndBadFilesAreNamed) {
  const std::string dir = TempDir();
  ASSERT_EQ(::setenv("DESFIRED_LOG_FILE", (dir + "/env-%p.log").c_str(), 1), 0);
  auto logger = Logger::Create({.format = Format::kText, .to_stderr = false});
  ::unsetenv("DESFIRED_LOG_FILE");
  ASSERT_TRUE(logger.ok()) << logger.status();
  (*logger)->Info("from env");
  const std::string env_path = absl::StrCat(dir, "/env-", ::getpid(), ".log");
  EXPECT_NE(ReadFile(env_path).find(" INFO from env"), std::string::npos);

  // A directory where the file should be cannot be opened.
  auto bad = Logger::Create({.to_stderr = false, .file = dir, .use_env_file = false});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find(dir), absl::string_view::npos) << bad.status();
  ASSERT_EQ(::setenv("DESFIRED_LOG_FILE", dir.c_str(), 1), 0);
  bad = Logger::Create({.to_stderr = false});
  ::unsetenv("DESFIRED_LOG_FILE");
  EXPECT_NE(bad.status().message().find("DESFIRED_LOG_FILE"), absl::string_view::npos);
}

TEST(LoggerTest, OffWritesNothing) {
  const std::string dir = TempDir();
  auto logger = Logger::Create(
      {.level = Level::kOff, .to_stderr = false, .file = dir + "/off.log", .use_env_file = false});
  ASSERT_TRUE(logger.ok());
  (*logger)->Error("nothing");
  EXPECT_FALSE((*logger)->enabled(Level::kError));
  EXPECT_EQ(ReadFile(dir + "/off.log"), "");
}

}  // namespace
}  // namespace desfired::log
