// Runs the real desfirectl binary (path in DESFIRECTL) on ledger files made with the Ledger
// library: `ledger verify` and `ledger export`, their output, exit codes and errors. The JSON
// export is re-verified by docs/examples/ledger_verify_export.py and the CSV read back by
// Python's csv module (Debian's /usr/bin/python3): independent readers of the formats.
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/ledger/head_file.h"
#include "core/ledger/ledger.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/cli_run.h"
#include "tests/unit/core/ledger/ledger_test_fixture.h"

namespace {

using desfired::ledger::Ledger;
using desfired::ledger::Row;
using ::testing::HasSubstr;
using ::testing::SizeIs;

using desfired::testing::CliRun;
using desfired::testing::ReadFile;

// The ledger unit tests' fixture: a ledger file (path_) in a directory of its own (dir_), Tamper.
class LedgerCliTest : public desfired::ledger::LedgerTest {
 protected:
  // Runs `command` through the shell (so "VAR=value desfirectl ..." works).
  CliRun Shell(const std::string& command) { return desfired::testing::RunShell(command); }
  CliRun Desfirectl(const std::string& args) {
    return desfired::testing::RunDesfirectl(DESFIRECTL, args);
  }

  // Five rows; the third with text that needs quoting in both formats.
  std::vector<Row> Fill(Ledger& l) {
    std::vector<Row> rows;
    for (int i = 1; i <= 5; ++i) {
      Row r = SampleRow(i);  // the unit tests' row, with this test's request ids and values
      r.request_id = absl::StrCat("order-", (i + 1) / 2);
      r.amount = 150;
      if (i % 2 == 0) {
        r.value_before = 2500;
        r.value_after = 2350;
      }
      if (i == 3) {
        r.detail = "card said \"no\",\nthen yes";
        r.payload = std::string("\x00\x01\xfe", 3);
      }
      absl::StatusOr<Row> s = l.Append(r);
      EXPECT_TRUE(s.ok()) << s.status();
      rows.push_back(*s);
    }
    return rows;
  }

  std::vector<Row> MakeLedger() {
    absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
    EXPECT_TRUE(l.ok()) << l.status();
    return Fill(**l);
  }
};

TEST_F(LedgerCliTest, VerifyOkWhileDesfiredHasTheFileOpen) {
  absl::StatusOr<std::unique_ptr<Ledger>> l = Ledger::Open(path_);
  ASSERT_TRUE(l.ok());
  std::vector<Row> rows = Fill(**l);  // stays open, as in a running desfired
  CliRun r = Desfirectl(absl::StrCat("ledger verify --ledger ", path_));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, absl::StrCat("ledger OK: 5 rows, head ", rows[4].hash, "\n"));
  // The writer goes on after (and the reader left nothing in its way).
  EXPECT_TRUE((*l)->Append(Row{}).ok());

  CliRun json = Desfirectl(absl::StrCat("ledger verify --json --ledger ", path_));
  EXPECT_EQ(json.exit_code, 0);
  EXPECT_THAT(json.out, HasSubstr("\"ok\":true,\"rows\":6,"));
}

TEST_F(LedgerCliTest, VerifyNamesTheEditedRowAndFails) {
  MakeLedger();
  Tamper("UPDATE ledger SET value_after = 9999 WHERE seq = 4");
  // The file from the environment.
  CliRun r = Shell(absl::StrCat("DESFIRED_LEDGER=", path_, " ", DESFIRECTL, " ledger verify"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("ledger BROKEN at row 4: row 4 was edited (hash mismatch)"));

  CliRun json = Desfirectl(absl::StrCat("ledger verify --json --ledger ", path_));
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_THAT(json.out, HasSubstr("\"ok\":false"));
  EXPECT_THAT(json.out, HasSubstr("\"bad_seq\":4"));
  // Valid JSON, as Python reads it.
  std::ofstream(dir_ + "/v.json") << json.out;
  CliRun py = Shell(absl::StrCat("/usr/bin/python3 -c 'import json,sys; d=json.load(open(\"", dir_,
                                 "/v.json\")); print(d[\"bad_seq\"], d[\"ok\"])'"));
  EXPECT_EQ(py.out, "4 False\n") << py.err;
}

TEST_F(LedgerCliTest, VerifyNamesADeletedRow) {
  MakeLedger();
  Tamper("DELETE FROM ledger WHERE seq = 2");
  CliRun r = Desfirectl(absl::StrCat("ledger verify --ledger ", path_));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("ledger BROKEN at row 3: row 2 is missing (deleted)"));
}

TEST_F(LedgerCliTest, ExportJsonLinesReverifiesIndependently) {
  std::vector<Row> rows = MakeLedger();
  CliRun r = Desfirectl(absl::StrCat("ledger export --ledger ", path_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_THAT(lines, SizeIs(5));
  EXPECT_THAT(lines[2], HasSubstr("\"detail\":\"card said \\\"no\\\",\\nthen yes\""));
  EXPECT_THAT(lines[2], HasSubstr("\"payload\":\"0001fe\""));
  EXPECT_THAT(lines[0], HasSubstr("\"value_after\":null"));

  const std::string file = dir_ + "/ledger.jsonl";
  std::ofstream(file) << r.out;
  CliRun py = Shell(absl::StrCat("/usr/bin/python3 ", SOURCE_DIR,
                                 "/docs/examples/ledger_verify_export.py ", file));
  EXPECT_EQ(py.exit_code, 0) << py.out << py.err;
  EXPECT_EQ(py.out, absl::StrCat("OK: 5 rows, head ", rows[4].hash, "\n"));

  // The same script catches an edit in the export.
  std::string edited = r.out;
  edited.replace(edited.find("\"amount\":150"), 12, "\"amount\":151");
  std::ofstream(file) << edited;
  py = Shell(absl::StrCat("/usr/bin/python3 ", SOURCE_DIR,
                          "/docs/examples/ledger_verify_export.py ", file));
  EXPECT_EQ(py.exit_code, 1);
  EXPECT_THAT(py.out, HasSubstr("row 1: hash mismatch"));
}

TEST_F(LedgerCliTest, ExportCsvToAFile) {
  MakeLedger();
  const std::string out = dir_ + "/ledger.csv";
  CliRun r = Desfirectl(absl::StrCat("ledger export --format csv -o ", out, " --ledger ", path_));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  struct stat st {};
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string text = ReadFile(out);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "seq,time,event,request_id,request_hash,caller,method,uid,reader,aid,file_no,amount,"
            "value_before,value_after,outcome,reason,commit_state,detail,payload,pending_seq,"
            "prev_hash,hash,tmc,tmv,reader_id");
  // Python's csv module: a header and 5 records of 25 fields; the quoted newline kept.
  CliRun py = Shell(absl::StrCat(
      "/usr/bin/python3 -c 'import csv; rows=list(csv.DictReader(open(\"", out,
      "\", newline=\"\"))); print(len(rows), len(rows[0]), repr(rows[2][\"detail\"]), "
      "rows[2][\"payload\"], rows[1][\"value_after\"], repr(rows[0][\"value_after\"]))'"));
  EXPECT_EQ(py.out, "5 25 'card said \"no\",\\nthen yes' 0001fe 2350 ''\n") << py.err;
}

TEST_F(LedgerCliTest, BadPathsAndUsage) {
  CliRun missing = Desfirectl(absl::StrCat("ledger verify --ledger ", dir_, "/nope.sqlite"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr(dir_ + "/nope.sqlite"));
  EXPECT_THAT(missing.err, HasSubstr("No such file"));
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/nope.sqlite"));

  std::ofstream(path_) << "not a database at all, just text\n";
  CliRun text = Desfirectl(absl::StrCat("ledger verify --ledger ", path_));
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_THAT(text.err, HasSubstr("is not a desfired ledger"));
  const std::string out = dir_ + "/out.jsonl";
  CliRun exp = Desfirectl(absl::StrCat("ledger export --ledger ", path_, " -o ", out));
  EXPECT_EQ(exp.exit_code, 1);
  EXPECT_THAT(exp.err, HasSubstr("is not a desfired ledger"));
  EXPECT_FALSE(std::filesystem::exists(out));  // no partial output left

  CliRun no_ledger = Shell(absl::StrCat("env -u DESFIRED_LEDGER ", DESFIRECTL, " ledger verify"));
  EXPECT_EQ(no_ledger.exit_code, 2);
  EXPECT_THAT(no_ledger.err, HasSubstr("--ledger FILE is required"));
  CliRun format = Desfirectl(absl::StrCat("ledger export --format xml --ledger ", path_));
  EXPECT_EQ(format.exit_code, 2);
  EXPECT_THAT(format.err, HasSubstr("unknown --format 'xml'"));
  CliRun sub = Desfirectl("ledger check");
  EXPECT_EQ(sub.exit_code, 2);
  EXPECT_THAT(sub.err, HasSubstr("verify, export or migrate"));
}

// With --json a failure is one JSON object on stderr (docs/cli.md, "Errors"), with the same exit
// codes as the text (before, the text went to stderr whatever --json said).
TEST_F(LedgerCliTest, VerifyJsonFailuresAreOneJsonObjectOnStderr) {
  const std::string err_file = dir_ + "/err.json";
  auto fields = [&](const CliRun& run) {
    std::ofstream(err_file, std::ios::trunc) << run.err;
    return Shell(
               absl::StrCat(
                   "/usr/bin/python3 -c 'import json,sys; lines=open(\"", err_file,
                   "\").read().splitlines(); assert len(lines)==1, lines; d=json.loads(lines[0]); "
                   "print(d[\"command\"], d[\"exitCode\"], d[\"code\"], d[\"hint\"] is not None, "
                   "d[\"message\"])'"))
        .out;
  };
  CliRun missing = Desfirectl(absl::StrCat("ledger verify --json --ledger ", dir_, "/nope.sqlite"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(missing.out, "");
  const std::string m = fields(missing);
  EXPECT_THAT(m, HasSubstr("desfirectl ledger verify 1 "));
  EXPECT_THAT(m, HasSubstr("/nope.sqlite"));

  CliRun usage = Desfirectl(absl::StrCat("ledger verify --json --ledger ", path_, " extra"));
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(fields(usage),
              HasSubstr("desfirectl ledger verify 2 INVALID_ARGUMENT True unexpected argument"));
  // Without --json the text stays.
  CliRun text = Desfirectl(absl::StrCat("ledger verify --ledger ", path_, " extra"));
  EXPECT_EQ(text.exit_code, 2);
  EXPECT_THAT(text.err, HasSubstr("desfirectl ledger verify: unexpected argument 'extra'"));
}

// One flag spelling across desfired, desfirectl and the probe: dashes; the old underscore
// spelling of --head-file still works.
TEST_F(LedgerCliTest, HeadFileTakesDashesAndTheOldUnderscore) {
  MakeLedger();
  const std::string head = dir_ + "/copy.head";
  std::filesystem::copy_file(desfired::ledger::HeadFilePathFor(path_), head);
  for (const char* flag : {"--head-file", "--head_file"}) {
    CliRun r = Desfirectl(absl::StrCat("ledger verify --ledger ", path_, " ", flag, " ", head));
    EXPECT_EQ(r.exit_code, 0) << flag << ": " << r.err;
  }
  std::ofstream(head, std::ios::trunc) << "not a head\n";
  CliRun bad = Desfirectl(absl::StrCat("ledger verify --ledger ", path_, " --head-file ", head));
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_THAT(Desfirectl("ledger verify --help").out, HasSubstr("--head-file FILE"));
}

TEST_F(LedgerCliTest, Help) {
  CliRun v = Desfirectl("ledger verify --help");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_THAT(v.out, HasSubstr("usage: desfirectl ledger verify"));
  EXPECT_THAT(v.out, HasSubstr("--ledger FILE"));
  EXPECT_THAT(v.out, HasSubstr("[env: DESFIRED_LEDGER]"));
  CliRun e = Desfirectl("ledger export --help");
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_THAT(e.out, HasSubstr("-o, --output FILE|-"));
  EXPECT_THAT(e.out, HasSubstr("--format jsonl|csv"));
  CliRun top = Desfirectl("--help");
  EXPECT_THAT(top.out, HasSubstr("ledger verify"));
}

}  // namespace
