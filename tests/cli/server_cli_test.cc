// Runs the real desfirectl binary (path in DESFIRECTL) against an in-process desfired on
// loopback, over a sandboxed pcscd with a desfire-sim transit card on reader 0 (the set-up of
// tests/e2e/server_e2e_test.cc). One sandbox and one server per test process (libpcsclite
// reads its socket name once); ctest runs every test in its own process. Skipped when not
// root (the sandbox needs namespaces).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "desfired/v1/card.pb.h"
#include "desfired/v1/taps.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/integration/pcsc_sandbox.h"
#include "tests/testing/cli_run.h"
#include "tests/testing/e2e_support.h"

namespace desfired {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

using testing::CliRun;
using testing::ReadFile;
using testing::TempPath;

// Runs desfirectl with `args` (shell words; quote reader names) and no environment
// defaults for the connection; `stdin_text` is its standard input.
CliRun Desfirectl(const std::string& args, const std::string& stdin_text = "") {
  return testing::RunDesfirectl(DESFIRECTL, args, {}, stdin_text);
}

std::vector<std::string> Lines(const std::string& s) {
  return absl::StrSplit(s, '\n', absl::SkipEmpty());
}

// `run` exited 0 and printed `*out` as JSON.
template <typename Message>
void ParseJsonOut(const CliRun& run, Message* out) {
  ASSERT_EQ(run.exit_code, 0) << run.err;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(run.out, out).ok()) << run.out;
}

class ServerCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::StartTransitSandbox(&sandbox_, /*blank_card=*/false)) return;
    reader_ = sandbox_->ReaderName(0);
    absl::StatusOr<std::string> key_path = testing::WriteKeyFile(sandbox_->dir());
    ASSERT_TRUE(key_path.ok()) << key_path.status();
    key_path_ = *key_path;

    server::ServerConfig config;
    config.listen = "127.0.0.1:0";
    config.keys_file = *key_path;
    auto server = server::DesfiredServer::Start(config);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    server_flag_ = absl::StrCat("--server 127.0.0.1:", server_->port());
  }

  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  // desfirectl <command> --server ... --reader '<reader 0>' <args>
  CliRun OnCard(const std::string& command, const std::string& args,
                const std::string& stdin_text = "") {
    return Desfirectl(absl::StrCat(command, " ", server_flag_, " --reader '", reader_, "' ", args),
                      stdin_text);
  }

  // OnCard, expected to succeed: its stdout (a failure names the command and its stderr).
  std::string OkOnCard(const std::string& command, const std::string& args,
                       const std::string& stdin_text = "") {
    CliRun r = OnCard(command, args, stdin_text);
    EXPECT_EQ(r.exit_code, 0) << command << " " << args << ": " << r.err;
    return r.out;
  }

  // File 2 (the backup file) starts with `want`: read with --length of `want` to stdout.
  void ExpectFile2(const std::string& want) {
    CliRun back = OnCard("read", absl::StrCat("--aid F51001 --file 2 --key transit-read --key-no 1 "
                                              "--length ",
                                              want.size(), " --out -"));
    ASSERT_EQ(back.exit_code, 0) << back.err;
    EXPECT_EQ(back.out, want);
  }

  int32_t Value() {
    CliRun r = OnCard("value", "--aid F51001 --file 1 --key transit-read --key-no 1 --json");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    v1::GetValueResponse resp;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &resp).ok()) << r.out;
    return resp.value();
  }

  std::unique_ptr<testing::PcscSandbox> sandbox_;
  std::string reader_;
  std::unique_ptr<server::DesfiredServer> server_;
  std::string server_flag_;
  std::string key_path_;  // the server's key store
};

TEST_F(ServerCliTest, ReadersTableAndJson) {
  CliRun table = Desfirectl(absl::StrCat("readers ", server_flag_));
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> lines = Lines(table.out);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("READER"));
  EXPECT_THAT(lines[1], HasSubstr(reader_));
  EXPECT_THAT(lines[1], HasSubstr("yes"));
  EXPECT_THAT(lines[1], HasSubstr("04a1b2c3d4e5f6"));
  EXPECT_THAT(lines[1], HasSubstr("3b8180018080"));

  CliRun json = Desfirectl(absl::StrCat("readers --json ", server_flag_));
  ASSERT_EQ(json.exit_code, 0) << json.err;
  ASSERT_EQ(Lines(json.out).size(), 1u);
  google::protobuf::Struct resp;
  ASSERT_NO_FATAL_FAILURE(ParseJsonOut(json, &resp));
  const auto& readers = resp.fields().at("readers").list_value().values();
  ASSERT_GE(readers.size(), 1);
  const auto& reader = readers[0].struct_value().fields();
  EXPECT_EQ(reader.at("name").string_value(), reader_);
  EXPECT_TRUE(reader.at("cardPresent").bool_value());
  // Bytes in hex, as the flags take them (not base64).
  EXPECT_EQ(reader.at("uid").string_value(), "04a1b2c3d4e5f6");
  EXPECT_EQ(reader.at("atr").string_value(), "3b8180018080");
}

// --json renders bytes as hex and AIDs as six hex digits, so what one command prints is what
// the next one's flags take.
TEST_F(ServerCliTest, JsonOutputFeedsBackIntoFlags) {
  google::protobuf::Struct readers;
  ASSERT_NO_FATAL_FAILURE(
      ParseJsonOut(Desfirectl(absl::StrCat("readers --json ", server_flag_)), &readers));
  const std::string uid = readers.fields()
                              .at("readers")
                              .list_value()
                              .values(0)
                              .struct_value()
                              .fields()
                              .at("uid")
                              .string_value();
  google::protobuf::Struct apps;
  ASSERT_NO_FATAL_FAILURE(ParseJsonOut(OnCard("apps", "--json"), &apps));
  const std::string aid = apps.fields()
                              .at("applications")
                              .list_value()
                              .values(0)
                              .struct_value()
                              .fields()
                              .at("aid")
                              .string_value();
  EXPECT_EQ(aid, "F51001");
  google::protobuf::Struct info;
  ASSERT_NO_FATAL_FAILURE(ParseJsonOut(OnCard("info", "--json"), &info));
  ASSERT_EQ(info.fields().at("aids").list_value().values_size(), 1);
  EXPECT_EQ(info.fields().at("aids").list_value().values(0).string_value(), "F51001");

  google::protobuf::Struct data;
  ASSERT_NO_FATAL_FAILURE(ParseJsonOut(
      OnCard("read", absl::StrCat("--expected-uid ", uid, " --aid ", aid,
                                  " --file 5 --key transit-read --key-no 1 --length 6 --json")),
      &data));
  EXPECT_EQ(data.fields().at("data").string_value(), "534543524554");  // "SECRET"
}

TEST_F(ServerCliTest, InfoAppsFiles) {
  CliRun info = OnCard("info", "");
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("04a1b2c3d4e5f6"));
  EXPECT_THAT(info.out, HasSubstr("DESFire EV1"));
  EXPECT_THAT(info.out, HasSubstr("product       DESFire EV1"));
  EXPECT_THAT(info.out, HasSubstr("F51001"));

  CliRun apps = OnCard("apps", "");
  ASSERT_EQ(apps.exit_code, 0) << apps.err;
  std::vector<std::string> lines = Lines(apps.out);
  ASSERT_EQ(lines.size(), 2u) << apps.out;
  EXPECT_THAT(lines[0], HasSubstr("AID"));
  EXPECT_THAT(lines[1], HasSubstr("F51001"));

  CliRun files = OnCard("files", "--aid F51001");
  ASSERT_EQ(files.exit_code, 0) << files.err;
  lines = Lines(files.out);
  ASSERT_EQ(lines.size(), 6u) << files.out;  // header + 5 files
  EXPECT_THAT(files.out, HasSubstr("VALUE"));
  EXPECT_THAT(files.out, HasSubstr("CYCLIC_RECORD"));
  EXPECT_THAT(files.out, HasSubstr("limits 0..100000"));

  CliRun files_json = OnCard("files", "--aid f51001 --json");
  ASSERT_EQ(files_json.exit_code, 0) << files_json.err;
  v1::ListFilesResponse resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(files_json.out, &resp).ok());
  EXPECT_EQ(resp.files_size(), 5);
}

TEST_F(ServerCliTest, ValueAndDebitWithRequestId) {
  CliRun value = OnCard("value", "--aid F51001 --file 1 --key transit-read --key-no 1");
  ASSERT_EQ(value.exit_code, 0) << value.err;
  EXPECT_EQ(value.out, "value: 2500\n");

  const std::string debit_args =
      "--aid F51001 --file 1 --key transit-debit --key-no 2 --amount 150 --request-id cli-d-1";
  CliRun debit = OnCard("debit", debit_args);
  ASSERT_EQ(debit.exit_code, 0) << debit.err;
  EXPECT_THAT(debit.out, HasSubstr("debit 150: 2500 -> 2350 (committed)"));
  EXPECT_THAT(debit.out, HasSubstr("request id: cli-d-1"));
  EXPECT_EQ(Value(), 2350);

  // The same request id again is accepted; a server that deduplicates answers "replayed" and
  // leaves the value alone.
  CliRun again = OnCard("debit", debit_args);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  if (again.out.find("replayed") != std::string::npos) {
    EXPECT_EQ(Value(), 2350);
  }

  // Without --request-id one is made up and printed.
  CliRun fresh = OnCard("debit",
                        "--aid F51001 --file 1 --key transit-debit --key-no 2 "
                        "--amount 1 --json");
  v1::DebitResponse resp;
  ASSERT_NO_FATAL_FAILURE(ParseJsonOut(fresh, &resp));
  EXPECT_TRUE(resp.change().committed());

  // Too much: INSUFFICIENT_VALUE with its hint, exit code 1.
  CliRun too_much =
      OnCard("debit", "--aid F51001 --file 1 --key transit-debit --key-no 2 --amount 1000000");
  EXPECT_EQ(too_much.exit_code, 1);
  EXPECT_THAT(too_much.err, HasSubstr("INSUFFICIENT_VALUE (OUT_OF_RANGE)"));
  EXPECT_THAT(too_much.err, HasSubstr("desfire_status: BE"));
  EXPECT_THAT(too_much.err, HasSubstr("what to do:"));
  EXPECT_THAT(too_much.err, HasSubstr("request id: "));
}

TEST_F(ServerCliTest, TapLogTableAndSummary) {
  CliRun log = OnCard("taplog", "--aid F51001 --file 3 --key transit-read --key-no 1");
  ASSERT_EQ(log.exit_code, 0) << log.err;
  std::vector<std::string> lines = Lines(log.out);
  ASSERT_EQ(lines.size(), 8u) << log.out;  // header, 6 records, summary
  EXPECT_THAT(lines[0], HasSubstr("STATUS"));
  EXPECT_THAT(lines[1], HasSubstr("VALID"));
  EXPECT_THAT(lines[1], HasSubstr("04a1b2c3d4e5f680"));
  EXPECT_THAT(lines[7], HasSubstr("6 records: 6 valid, 0 flagged, 0 rejected"));

  CliRun json = OnCard("taplog",
                       "--aid F51001 --file 3 --key transit-read --key-no 1 --max-records 2 "
                       "--json");
  v1::ReadTapLogResponse resp;
  ASSERT_NO_FATAL_FAILURE(ParseJsonOut(json, &resp));
  EXPECT_EQ(resp.results_size(), 2);
}

TEST_F(ServerCliTest, ReadAndWrite) {
  CliRun dump = OnCard("read", "--aid F51001 --file 5 --key transit-read --key-no 1");
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_THAT(dump.out, HasSubstr("000000  53 45 43 52 45 54 00 00"));
  EXPECT_THAT(dump.out, HasSubstr("|SECRET.."));

  const std::string out_path = TempPath("file5.bin");
  CliRun to_file = OnCard("read", absl::StrCat("--aid F51001 --file 5 --key transit-read "
                                               "--key-no 1 --offset 2 --length 4 --out ",
                                               out_path));
  ASSERT_EQ(to_file.exit_code, 0) << to_file.err;
  EXPECT_EQ(ReadFile(out_path), "CRET");

  // Backup file 2: written with key 2, read back with key 1.
  CliRun write = OnCard("write",
                        "--aid F51001 --file 2 --key transit-debit --key-no 2 "
                        "--data 68656c6c6f --request-id cli-w-1");
  ASSERT_EQ(write.exit_code, 0) << write.err;
  EXPECT_THAT(write.out, HasSubstr("wrote 5 bytes at offset 0 of file 2 in F51001 (committed)"));
  ASSERT_NO_FATAL_FAILURE(ExpectFile2("hello"));
}

TEST_F(ServerCliTest, UsageErrorsExitTwo) {
  CliRun no_amount = OnCard("debit", "--aid F51001 --file 1 --key transit-debit --key-no 2");
  EXPECT_EQ(no_amount.exit_code, 2);
  EXPECT_THAT(no_amount.err, HasSubstr("--amount is required"));
  CliRun bad_aid = OnCard("value", "--aid XYZ --file 1");
  EXPECT_EQ(bad_aid.exit_code, 2);
  EXPECT_THAT(bad_aid.err, HasSubstr("--aid"));
  CliRun unknown = OnCard("apps", "--frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  CliRun no_reader = Desfirectl(absl::StrCat("apps ", server_flag_));
  EXPECT_EQ(no_reader.exit_code, 2);
  EXPECT_THAT(no_reader.err, HasSubstr("--reader is required"));
  EXPECT_EQ(Value(), 2500);  // nothing reached the card
}

TEST_F(ServerCliTest, UnknownReaderExitsOneWithReason) {
  CliRun r = Desfirectl(absl::StrCat(
      "value ", server_flag_,
      " --reader 'No Such Reader 00 00' --aid F51001 --file 1 --key transit-read --key-no 1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("READER_NOT_FOUND"));
  EXPECT_THAT(r.err, HasSubstr("No Such Reader 00 00"));
  EXPECT_THAT(r.err, HasSubstr("desfirectl readers"));
  EXPECT_EQ(r.out, "");
}

TEST_F(ServerCliTest, TapsParseThroughTheServer) {
  const std::string sample = absl::StrCat(SOURCE_DIR, "/docs/examples/taps-sample.hex");
  CliRun r = Desfirectl(absl::StrCat("taps parse ", server_flag_, " --json ", sample));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 11u);
  std::vector<v1::TapResult> results;
  for (const std::string& line : lines) {
    v1::TapResult res;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &res).ok()) << line;
    results.push_back(res);
  }
  EXPECT_EQ(results[0].status(), v1::TapResult::VALID);
  EXPECT_EQ(results[0].record_id(), "04a1b2c3_1700000000");
  EXPECT_EQ(results[3].status(), v1::TapResult::FLAGGED);
  EXPECT_EQ(results[8].status(), v1::TapResult::REJECTED);
  EXPECT_THAT(results[9].error(), HasSubstr("line 12"));  // the local reason of the bad line
  EXPECT_THAT(r.err, HasSubstr("11 records: 6 valid, 2 flagged, 3 rejected"));

  // The local parser's options make no sense with --server.
  CliRun local_opt = Desfirectl(absl::StrCat(
      "taps parse ", server_flag_, " --mac-key 00112233445566778899aabbccddeeff ", sample));
  EXPECT_EQ(local_opt.exit_code, 2);
}

// `taps parse --server` prints, byte for byte, what the local parser prints with the server's
// keys, in every output format (it asks for BASIC results and prints the bytes it sent), from
// hex lines with bad ones and from CSV with backend times (clock offsets).
TEST_F(ServerCliTest, TapsParseThroughTheServerPrintsWhatTheLocalParserPrints) {
  const std::string sample = absl::StrCat(SOURCE_DIR, "/docs/examples/taps-sample.hex");
  std::string csv = "raw_hex,backend_time\n";
  int n = 0;
  for (const std::string& line : Lines(ReadFile(sample))) {
    if (line[0] == '#') continue;
    absl::StrAppend(&csv, line, ",", 1700000000 - 7 * n++, "\n");
  }
  const std::string csv_path = TempPath("taps_backend.csv");
  std::ofstream(csv_path) << csv;
  for (const std::string& input : {sample, csv_path}) {
    for (const char* format : {"--json", "--csv", "--table"}) {
      CliRun local = Desfirectl(
          absl::StrCat("taps parse --keys ", key_path_, " ", format, " --no-summary ", input));
      ASSERT_EQ(local.exit_code, 0) << local.err;
      CliRun remote = Desfirectl(
          absl::StrCat("taps parse ", server_flag_, " ", format, " --no-summary ", input));
      ASSERT_EQ(remote.exit_code, 0) << remote.err;
      EXPECT_EQ(remote.out, local.out) << input << " " << format;
      EXPECT_EQ(Lines(local.out).size(), format == std::string("--json") ? 11u : 12u);
    }
  }
}

TEST_F(ServerCliTest, WatchPrintsEventsAndStopsAfterCount) {
  CliRun r;
  std::thread watcher([&] {
    r = Desfirectl(absl::StrCat("watch ", server_flag_, " --reader '", reader_, "' --count 2"));
  });
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (server_->watchers() == 0 && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(20));
  ASSERT_EQ(server_->watchers(), 1u);
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  ASSERT_TRUE(sandbox_->WaitForCard(0, false, absl::Seconds(3)).ok());
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  watcher.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_THAT(lines[0], HasSubstr("SNAPSHOT"));
  EXPECT_THAT(lines[1], HasSubstr("CARD_REMOVED"));
  EXPECT_THAT(lines[2], HasSubstr("CARD_INSERTED"));
  EXPECT_THAT(lines[2], HasSubstr("uid=04a1b2c3d4e5f6"));
}

// `watch` without --count: each event line is on stdout while the command still runs.
TEST_F(ServerCliTest, WatchPrintsEachEventLive) {
  const std::string out_path = TempPath("watch_live");
  const std::string server = absl::StrCat("127.0.0.1:", server_->port());
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, STDOUT_FILENO);
    execl(DESFIRECTL, DESFIRECTL, "watch", "--server", server.c_str(), "--reader", reader_.c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  auto shows = [&](const std::string& text) {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (absl::Now() < give_up) {
      if (ReadFile(out_path).find(text) != std::string::npos) return true;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return false;
  };
  EXPECT_TRUE(shows("SNAPSHOT"));
  ASSERT_TRUE(sandbox_->Control(0, "remove").ok());
  EXPECT_TRUE(shows("CARD_REMOVED"));
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, WNOHANG), 0);  // still watching: the line came live
  ASSERT_TRUE(sandbox_->Control(0, "insert").ok());
  EXPECT_TRUE(shows("CARD_INSERTED"));
  kill(pid, SIGINT);
  waitpid(pid, &status, 0);
}

// `write --in -` takes the bytes from stdin.
TEST_F(ServerCliTest, WriteFromStdin) {
  CliRun write =
      OnCard("write", "--aid F51001 --file 2 --key transit-debit --key-no 2 --in -", "from stdin");
  ASSERT_EQ(write.exit_code, 0) << write.err;
  EXPECT_THAT(write.out, HasSubstr("wrote 10 bytes"));
  ASSERT_NO_FATAL_FAILURE(ExpectFile2("from stdin"));
  CliRun empty = OnCard("write", "--aid F51001 --file 2 --key transit-debit --key-no 2 --in -");
  EXPECT_EQ(empty.exit_code, 2);
  EXPECT_THAT(empty.err, HasSubstr("nothing to write"));
}

// `taps parse --server` on a terminal: the progress bar of a large file, none when piped.
TEST_F(ServerCliTest, TapsParseProgressThroughTheServer) {
  const std::string line =
      Lines(ReadFile(absl::StrCat(SOURCE_DIR, "/docs/examples/taps-sample.hex")))[2];
  const std::string input = TempPath("progress_in.hex");
  {
    std::ofstream out(input);
    for (int i = 0; i < 40000; ++i) out << line << "\n";
  }
  const std::string tty_out = TempPath("progress_tty");
  const std::string cmd =
      absl::StrCat("script -qec \"", DESFIRECTL, " taps parse ", server_flag_,
                   " --json --no-summary ", input, " >/dev/null\" /dev/null >", tty_out, " 2>&1");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << ReadFile(tty_out);
  const std::string shown = ReadFile(tty_out);
  EXPECT_THAT(shown, HasSubstr("parsed 16384 records  ["));
  EXPECT_THAT(shown, HasSubstr("%"));
  CliRun piped =
      Desfirectl(absl::StrCat("taps parse ", server_flag_, " --json --no-summary ", input));
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(Lines(piped.out).size(), 40000u);
  EXPECT_THAT(piped.err, Not(HasSubstr("parsed")));
}

// write-record appends a record, clear-records empties the file; both are changes with a
// request id.
TEST_F(ServerCliTest, WriteRecordAndClearRecords) {
  const std::string read = "--aid F51001 --file 3 --key transit-read --key-no 1";
  const std::string write = "--aid F51001 --file 3 --key transit-debit --key-no 2";
  std::string out =
      OkOnCard("write-record", absl::StrCat(write, " --data 0102030405 --request-id cli-wr-1"));
  EXPECT_THAT(out, HasSubstr("wrote a record of 5 bytes at offset 0 to file 3 in F51001 "
                             "(committed)\nrequest id: cli-wr-1"));
  out = OkOnCard("records", absl::StrCat(read, " --max 1"));
  EXPECT_THAT(out, HasSubstr(" 0102030405000000"));
  EXPECT_THAT(out, HasSubstr("1 of 7 records"));
  EXPECT_THAT(OkOnCard("write-record", absl::StrCat(write, " --offset 1 --in -"), "AB"),
              HasSubstr("wrote a record of 2 bytes at offset 1"));
  CliRun no_data = OnCard("write-record", write);
  EXPECT_EQ(no_data.exit_code, 2);
  EXPECT_THAT(no_data.err, HasSubstr("give exactly one of --data and --in"));

  EXPECT_THAT(OkOnCard("clear-records",
                       "--aid F51001 --file 3 --key transit-credit --key-no 3 "
                       "--request-id cli-cr-1"),
              HasSubstr("cleared record file 3 in F51001 (committed)\nrequest id: cli-cr-1"));
  EXPECT_THAT(OkOnCard("records", read), HasSubstr("0 of 0 records"));
}

// --defer-commit leaves the change in the card's open transaction: commit makes it take effect,
// abort discards it.
TEST_F(ServerCliTest, DeferCommitThenCommitOrAbort) {
  const std::string key = "--aid F51001 --key transit-debit --key-no 2";
  EXPECT_THAT(OkOnCard("debit", absl::StrCat(key, " --file 1 --amount 100 --defer-commit")),
              HasSubstr("debit 100 (not committed: 'desfirectl commit' commits it"));
  EXPECT_THAT(OkOnCard("commit", absl::StrCat(key, " --request-id cli-cm-1")),
              HasSubstr("committed the transaction in F51001\nrequest id: cli-cm-1"));
  EXPECT_EQ(Value(), 2400);

  v1::DebitResponse resp;
  ASSERT_NO_FATAL_FAILURE(ParseJsonOut(
      OnCard("debit", absl::StrCat(key, " --file 1 --amount 50 --defer-commit --json")), &resp));
  EXPECT_FALSE(resp.change().committed());
  EXPECT_THAT(OkOnCard("abort", key), HasSubstr("aborted the transaction in F51001"));
  EXPECT_EQ(Value(), 2400);

  // A backup file and a record file, committed together.
  EXPECT_THAT(OkOnCard("write", absl::StrCat(key, " --file 2 --data 6f6b --defer-commit")),
              HasSubstr("(not committed"));
  EXPECT_THAT(OkOnCard("write-record", absl::StrCat(key, " --file 3 --data 0a0b --defer-commit")),
              HasSubstr("(not committed"));
  OkOnCard("commit", key);
  ASSERT_NO_FATAL_FAILURE(ExpectFile2("ok"));

  // Nothing left to commit: an answer, not a call error, but exit code 1 (--json too).
  CliRun nothing = OnCard("commit", absl::StrCat(key, " --request-id cli-cm-2"));
  EXPECT_EQ(nothing.exit_code, 1);
  EXPECT_EQ(nothing.out, "");
  EXPECT_THAT(nothing.err, HasSubstr("nothing was committed in F51001"));
  EXPECT_THAT(nothing.err, HasSubstr("request id: cli-cm-2"));
  CliRun nothing_json = OnCard("commit", absl::StrCat(key, " --json"));
  EXPECT_EQ(nothing_json.exit_code, 1);
  v1::CommitTransactionResponse commit;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(nothing_json.out, &commit).ok())
      << nothing_json.out;
  EXPECT_FALSE(commit.committed());

  CliRun no_aid = OnCard("commit", "--key transit-debit --key-no 2");
  EXPECT_EQ(no_aid.exit_code, 2);
  EXPECT_THAT(no_aid.err, HasSubstr("--aid is required"));
}

// With --json a failure is one JSON object on stderr, and the exit codes stay.
TEST_F(ServerCliTest, JsonErrorsOnStderr) {
  auto parse = [](const CliRun& run, google::protobuf::Struct* out) {
    ASSERT_EQ(Lines(run.err).size(), 1u) << run.err;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(run.err, out).ok()) << run.err;
    EXPECT_EQ(run.out, "");
  };
  CliRun too_much = OnCard("debit",
                           "--aid F51001 --file 1 --key transit-debit --key-no 2 "
                           "--amount 1000000 --request-id cli-j-1 --json");
  EXPECT_EQ(too_much.exit_code, 1);
  google::protobuf::Struct e;
  ASSERT_NO_FATAL_FAILURE(parse(too_much, &e));
  const auto& f = e.fields();
  EXPECT_EQ(f.at("command").string_value(), "desfirectl debit");
  EXPECT_EQ(f.at("exitCode").number_value(), 1);
  EXPECT_EQ(f.at("code").string_value(), "OUT_OF_RANGE");
  EXPECT_EQ(f.at("reason").string_value(), "INSUFFICIENT_VALUE");
  EXPECT_FALSE(f.at("message").string_value().empty());
  EXPECT_EQ(f.at("metadata").struct_value().fields().at("desfire_status").string_value(), "BE");
  EXPECT_EQ(f.at("requestId").string_value(), "cli-j-1");
  ASSERT_TRUE(f.count("commitState"));
  EXPECT_THAT(f.at("hint").string_value(), HasSubstr("credit first"));
  EXPECT_EQ(Value(), 2500);

  CliRun no_reader = Desfirectl(absl::StrCat(
      "value --json ", server_flag_,
      " --reader 'No Such Reader 00 00' --aid F51001 --file 1 --key transit-read --key-no 1"));
  EXPECT_EQ(no_reader.exit_code, 1);
  ASSERT_NO_FATAL_FAILURE(parse(no_reader, &e));
  EXPECT_EQ(e.fields().at("reason").string_value(), "READER_NOT_FOUND");
  EXPECT_EQ(e.fields().at("metadata").struct_value().fields().at("reader").string_value(),
            "No Such Reader 00 00");
  EXPECT_EQ(e.fields().at("requestId").kind_case(), google::protobuf::Value::kNullValue);

  CliRun usage = OnCard("debit", "--aid F51001 --file 1 --key transit-debit --json");
  EXPECT_EQ(usage.exit_code, 2);
  ASSERT_NO_FATAL_FAILURE(parse(usage, &e));
  EXPECT_EQ(e.fields().at("code").string_value(), "INVALID_ARGUMENT");
  EXPECT_THAT(e.fields().at("message").string_value(), HasSubstr("--amount is required"));
}

// No sandbox needed: nothing listens on the port.
TEST(ServerCliUnreachableTest, JsonErrorExitsThree) {
  CliRun r = Desfirectl(
      "debit --json --server 127.0.0.1:1 --retries 0 --reader R --aid F51001 --file 1 --key k "
      "--amount 1 --request-id u-2");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  google::protobuf::Struct e;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.err, &e).ok()) << r.err;
  EXPECT_EQ(e.fields().at("exitCode").number_value(), 3);
  EXPECT_EQ(e.fields().at("code").string_value(), "UNAVAILABLE");
  EXPECT_EQ(e.fields().at("reason").kind_case(), google::protobuf::Value::kNullValue);
  EXPECT_EQ(e.fields().at("requestId").string_value(), "u-2");
  EXPECT_THAT(e.fields().at("hint").string_value(), HasSubstr("check that desfired runs"));
}

// No sandbox needed: nothing listens on the port.
TEST(ServerCliUnreachableTest, ExitsThree) {
  CliRun r = Desfirectl("readers --server 127.0.0.1:1 --timeout 2s");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("no answer from desfired"));
  CliRun change = Desfirectl(
      "debit --server 127.0.0.1:1 --retries 0 --reader R --aid F51001 --file 1 --key k "
      "--amount 1 --request-id u-1");
  EXPECT_EQ(change.exit_code, 3);
  EXPECT_THAT(change.err, HasSubstr("--request-id u-1"));
  EXPECT_THAT(change.out, Not(HasSubstr("debit")));
}

}  // namespace
}  // namespace desfired
