// desfirectl --help: every command that `desfirectl --help` lists answers `--help` (and
// `desfirectl help COMMAND`) with its usage on stdout and exit code 0, and the usage names
// the options a user needs. The command list comes from desfirectl's own usage text, so a
// command added there is covered here too.
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/desfired_client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

using desfired::testing::CliRun;

CliRun Desfirectl(const std::string& args) {
  return desfired::testing::RunDesfirectl(DESFIRECTL, args);
}

// The commands of `desfirectl --help`: the indented lines "  NAME[ SUB]   description".
std::vector<std::string> Commands() {
  CliRun r = Desfirectl("--help");
  EXPECT_EQ(r.exit_code, 0);
  std::vector<std::string> commands;
  for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
    if (!absl::StartsWith(line, "  ") || line.size() < 3 || line[2] == ' ') continue;
    line.remove_prefix(2);
    const size_t gap = line.find("  ");
    if (gap == absl::string_view::npos) continue;
    commands.emplace_back(line.substr(0, gap));
  }
  return commands;
}

TEST(CliHelpTest, EveryCommandHasHelp) {
  const std::vector<std::string> commands = Commands();
  ASSERT_GE(commands.size(), 20u);
  EXPECT_THAT(commands, ::testing::Contains("taps parse"));
  EXPECT_THAT(commands, ::testing::Contains("debit"));
  for (const std::string& command : commands) {
    SCOPED_TRACE(command);
    for (const std::string& args :
         {absl::StrCat(command, " --help"), absl::StrCat("help ", command)}) {
      CliRun r = Desfirectl(args);
      EXPECT_EQ(r.exit_code, 0) << args << ": " << r.err;
      EXPECT_THAT(r.out, StartsWith(absl::StrCat("usage: desfirectl ", command)));
      EXPECT_THAT(r.out, HasSubstr("--help"));
      EXPECT_EQ(r.err, "");
    }
  }
}

TEST(CliHelpTest, CardCommandsDocumentTheirOptions) {
  CliRun debit = Desfirectl("debit --help");
  for (const char* option :
       {"--reader", "--aid", "--file", "--key", "--key-no", "--amount", "--request-id",
        "--expected-uid", "--json", "--server", "--token", "--tls-ca"}) {
    EXPECT_THAT(debit.out, HasSubstr(option)) << option;
  }
  CliRun write = Desfirectl("write --help");
  EXPECT_THAT(write.out, HasSubstr("--in FILE|-"));
}

TEST(CliHelpTest, TapsAloneShowsItsSubcommand) {
  CliRun help = Desfirectl("taps --help");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("desfirectl taps parse"));
  CliRun bare = Desfirectl("taps");
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_THAT(bare.err, HasSubstr("desfirectl taps parse"));
}

TEST(CliHelpTest, LedgerAloneShowsItsSubcommands) {
  for (const char* args : {"ledger --help", "help ledger", "ledger -h"}) {
    CliRun help = Desfirectl(args);
    EXPECT_EQ(help.exit_code, 0) << args << ": " << help.err;
    EXPECT_THAT(help.out, HasSubstr("desfirectl ledger verify|export|migrate")) << args;
    EXPECT_THAT(help.out, HasSubstr("ledger SUBCOMMAND --help")) << args;
    EXPECT_EQ(help.err, "") << args;
  }
  CliRun bare = Desfirectl("ledger");
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_THAT(bare.err, HasSubstr("expected a subcommand: verify, export or migrate"));
}

// --retries states the client's default, the one constant every client uses.
TEST(CliHelpTest, RetriesDefaultIsTheClients) {
  const std::string want =
      absl::StrCat("(default ", desfired::client::kDefaultMutationRetries, ")");
  for (const char* command : {"debit", "write", "write-record", "commit", "readers"}) {
    CliRun help = Desfirectl(absl::StrCat(command, " --help"));
    std::string retries_line;
    for (absl::string_view line : absl::StrSplit(help.out, '\n')) {
      if (absl::StrContains(line, "--retries")) retries_line = std::string(line);
    }
    EXPECT_THAT(retries_line, HasSubstr(want)) << command;
  }
}

// The changes of the record files and the transaction commands, with --defer-commit.
TEST(CliHelpTest, TransactionOptions) {
  for (const char* command :
       {"write", "write-record", "clear-records", "debit", "credit", "limited-credit"}) {
    CliRun help = Desfirectl(absl::StrCat(command, " --help"));
    EXPECT_THAT(help.out, HasSubstr("--defer-commit")) << command;
    EXPECT_THAT(help.out, HasSubstr("--request-id ID")) << command;
  }
  for (const char* command : {"commit", "abort"}) {
    CliRun help = Desfirectl(absl::StrCat(command, " --help"));
    for (const char* option : {"--reader", "--aid", "--key", "--key-no", "--request-id"}) {
      EXPECT_THAT(help.out, HasSubstr(option)) << command << " " << option;
    }
  }
  CliRun record = Desfirectl("write-record --help");
  EXPECT_THAT(record.out, HasSubstr("--data HEX"));
  EXPECT_THAT(record.out, HasSubstr("--in FILE|-"));
}

TEST(CliHelpTest, UsageListsExitCodes) {
  CliRun r = Desfirectl("--help");
  EXPECT_THAT(r.out, HasSubstr("Exit codes: 0 ok, 1 the call failed, 2 bad usage, 3 desfired"));
  CliRun none = Desfirectl("");
  EXPECT_EQ(none.exit_code, 2);
  CliRun unknown = Desfirectl("frobnicate");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("unknown command 'frobnicate'"));
}

}  // namespace
