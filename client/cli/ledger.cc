// desfirectl ledger verify / export: desfired's audit ledger (docs/ledger.md), read locally and
// read-only, so desfired may keep running and appending meanwhile. ledger migrate: the schema
// and grants of a fleet's central ledger in PostgreSQL, run once by the tables' owner.
#include "core/ledger/ledger.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/cli/commands.h"
#include "client/cli/server_command.h"
#include "core/ledger/central_verify.h"
#include "core/ledger/postgres_backend.h"
#include "core/ledger/verify.h"
#include "core/util/json_escape.h"

namespace desfired::cli {
namespace {

using ledger::Ledger;

constexpr char kLedgerHelp[] = "the ledger file (ledger.sqlite in desfired's --data_dir)";
constexpr char kLedgerEnv[] = "DESFIRED_LEDGER";

// A usage error, as Failed says it; returns kExitUsage.
int UsageError(const ArgParser& args, const std::string& command, absl::string_view message) {
  return ReportLocalError(command, kExitUsage, absl::InvalidArgumentError(message),
                          args.Has("json"));
}

// Parses `args`; prints --help or a usage error. Returns the exit code when the command is done.
std::optional<int> ParseLedgerArgs(ArgParser& args, const std::string& command, int argc,
                                   char** argv) {
  if (absl::Status s = args.Parse(argc, argv); !s.ok())
    return UsageError(args, command, s.message());
  if (args.help_requested()) {
    std::cout << args.Usage();
    return kExitOk;
  }
  if (!args.positionals().empty()) {
    return UsageError(args, command,
                      absl::StrCat("unexpected argument '", args.positionals()[0],
                                   "' (the file goes with --ledger FILE)"));
  }
  if ((!args.Has("ledger") || args.Value("ledger")->empty()) && !args.Has("postgres")) {
    return UsageError(args, command,
                      absl::StrCat("--ledger FILE is required (or set ", kLedgerEnv, ")"));
  }
  return std::nullopt;
}

// How `ledger verify --json` writes its strings (the problem texts quote row values with C
// escapes): `"` and `\` escaped, control characters as \u00xx, every other byte as it is.
constexpr JsonEscapeOptions kVerifyJson{.short_escapes = "", .replace_invalid_utf8 = false};

// A ledger that cannot be read or written: "COMMAND: message", or with --json an error object
// (docs/cli.md, "Errors"). Returns kExitFailed.
int Failed(const ArgParser& args, const std::string& command, const absl::Status& status) {
  return ReportLocalError(command, kExitFailed, status, args.Has("json"));
}

// Prints one verify result (`instance`: of the central ledger, else empty); true when intact.
bool PrintVerify(const ledger::VerifyResult& v, bool json, const std::string& instance) {
  if (json) {
    std::cout << "{"
              << (instance.empty() ? "" : "\"instance\":" + JsonQuote(instance, kVerifyJson) + ",")
              << "\"ok\":" << (v.ok ? "true" : "false") << ",\"rows\":" << v.rows
              << ",\"head_hash\":" << JsonQuote(v.head_hash, kVerifyJson)
              << ",\"bad_seq\":" << v.bad_seq
              << ",\"problem\":" << JsonQuote(v.problem, kVerifyJson) << "}\n";
    return v.ok;
  }
  if (!instance.empty()) std::cout << "instance " << instance << ": ";
  if (v.ok) {
    std::cout << "ledger OK: " << v.rows << " rows, head " << v.head_hash << "\n";
  } else {
    std::cout << "ledger BROKEN at "
              << (v.bad_seq == 0 ? std::string("the chain head") : absl::StrCat("row ", v.bad_seq))
              << ": " << v.problem << "\n"
              << "(" << v.rows << " rows read; the last row's hash is " << v.head_hash << ")\n";
  }
  return v.ok;
}

// ledger verify --postgres CONNFILE [--instance ID] [--threads N]: every instance's chain (or
// one) in the central database, each in a snapshot of its own, N instances at once.
int VerifyCentral(const ArgParser& args, const std::string& command) {
  const bool json = args.Has("json");
  absl::StatusOr<std::string> conninfo = ledger::ReadConnInfoFile(*args.Value("postgres"));
  if (!conninfo.ok()) return Failed(args, command, conninfo.status());
  // One connection, its schema checked once, for every instance.
  absl::StatusOr<std::unique_ptr<ledger::CentralReader>> central =
      ledger::CentralReader::Open(*conninfo);
  if (!central.ok()) return Failed(args, command, central.status());
  absl::StatusOr<std::vector<std::string>> instances = (*central)->Instances();
  if (!instances.ok()) return Failed(args, command, instances.status());
  if (std::optional<std::string> only = args.Value("instance")) {
    if (std::find(instances->begin(), instances->end(), *only) == instances->end()) {
      return Failed(
          args, command,
          absl::NotFoundError(absl::StrCat("the central ledger has no instance '", *only, "'")));
    }
    *instances = {*only};
  }
  int threads = 4;
  if (std::optional<std::string> v = args.Value("threads")) {
    if (!absl::SimpleAtoi(*v, &threads) || threads < 1 || threads > 64) {
      return Failed(args, command,
                    absl::InvalidArgumentError(
                        absl::StrCat("--threads must be a number from 1 to 64, got '", *v, "'")));
    }
  }
  central->reset();  // the instances verify on connections of their own
  absl::StatusOr<std::vector<ledger::InstanceVerify>> results =
      ledger::VerifyInstances(*conninfo, *instances, threads);
  if (!results.ok()) return Failed(args, command, results.status());
  int broken = 0;
  int64_t rows = 0;
  for (const ledger::InstanceVerify& v : *results) {
    rows += v.result.rows;
    if (!PrintVerify(v.result, json, v.instance)) ++broken;
  }
  if (!json) {
    std::cout << "central ledger " << (broken == 0 ? "OK" : "BROKEN") << ": " << instances->size()
              << " instances, " << rows << " rows checked"
              << (broken == 0 ? "" : absl::StrCat(", ", broken, " broken")) << "\n";
  }
  return broken == 0 ? kExitOk : kExitFailed;
}

}  // namespace

int LedgerVerify(int argc, char** argv) {
  const std::string command = "ledger verify";
  ArgParser args(
      absl::StrCat("desfirectl ", command),
      "Check the hash chain of desfired's audit ledger (docs/ledger.md): every row's "
      "hash,\nthe order of the rows, the chain head and the head file. Read-only; desfired may be "
      "running.\nPrints the rows checked and the hash of the last row: keep that hash "
      "elsewhere,\nso that a later verify can show the ledger still ends with it.\n"
      "Exit code 0: the chain is intact; 1: it is broken (the first row at fault is "
      "named),\nor the file cannot be read or is not a ledger; 2: bad usage.",
      "");
  args.Option("ledger", "FILE", kLedgerHelp, kLedgerEnv);
  args.Option("head-file", "FILE",
              "the ledger's head file (default: ledger.head beside a ledger.sqlite; skipped "
              "when missing): the ledger must end at the head it holds");
  args.Flag("json", "print one JSON object: ok, rows, head_hash, bad_seq, problem");
  args.Option("postgres", "CONNFILE",
              "verify the central ledger of a fleet instead: every instance's chain in the "
              "PostgreSQL database whose connection string (libpq) is in CONNFILE (mode 0600)");
  args.Option("instance", "ID", "with --postgres: only this instance's chain");
  args.Option("threads", "N",
              "with --postgres: instances verified at once, each on a connection of its own "
              "(default 4)");
  if (std::optional<int> done = ParseLedgerArgs(args, command, argc, argv)) return *done;
  if (args.Has("postgres")) return VerifyCentral(args, command);
  const std::string path = *args.Value("ledger");
  const std::string head_file = args.Value("head-file").value_or(ledger::HeadFilePathFor(path));

  absl::StatusOr<Ledger::VerifyResult> v = Ledger::VerifyFile(path, head_file);
  if (!v.ok()) return Failed(args, command, v.status());
  return PrintVerify(*v, args.Has("json"), "") ? kExitOk : kExitFailed;
}

int LedgerExport(int argc, char** argv) {
  const std::string command = "ledger export";
  ArgParser args(absl::StrCat("desfirectl ", command),
                 "Write every row of desfired's audit ledger (docs/ledger.md), oldest first, with "
                 "every\ncolumn: JSON lines (one object per row; payload in hex, null for absent "
                 "values)\nor CSV (a header line, RFC 4180 quoting). Read-only; desfired may be "
                 "running.\nThe export holds every hash input: a row's hash can be recomputed "
                 "from it.\nA file written with --output is created with mode 0600.",
                 "");
  args.Option("ledger", "FILE", kLedgerHelp, kLedgerEnv);
  args.Option("format", "jsonl|csv", "output format (default jsonl)");
  args.Option("output", "FILE|-", "write to FILE (default -, stdout)");
  args.Short('o', "output");
  if (std::optional<int> done = ParseLedgerArgs(args, command, argc, argv)) return *done;
  const std::string path = *args.Value("ledger");

  Ledger::ExportFormat format = Ledger::ExportFormat::kJsonLines;
  if (std::optional<std::string> f = args.Value("format")) {
    if (*f == "csv") {
      format = Ledger::ExportFormat::kCsv;
    } else if (*f != "jsonl" && *f != "json") {
      return UsageError(args, command, absl::StrCat("unknown --format '", *f, "' (jsonl or csv)"));
    }
  }
  const std::string output = args.Value("output").value_or("-");
  if (output == "-") {
    absl::Status s = Ledger::ExportFile(path, std::cout, format);
    return s.ok() ? kExitOk : Failed(args, command, s);
  }

  // A failed export (a bad --ledger, a full disk) leaves no output file behind.
  const int fd = ::open(output.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Failed(
        args, command,
        absl::UnavailableError(absl::StrCat("cannot create ", output, ": ", std::strerror(errno))));
  }
  ::close(fd);
  std::ofstream out(output, std::ios::binary | std::ios::trunc);
  absl::Status s = out ? Ledger::ExportFile(path, out, format)
                       : absl::UnavailableError(absl::StrCat("cannot write ", output));
  out.close();
  if (s.ok() && !out) s = absl::UnavailableError(absl::StrCat("cannot write ", output));
  if (!s.ok()) {
    std::remove(output.c_str());
    return Failed(args, command, s);
  }
  return kExitOk;
}

int LedgerMigrate(int argc, char** argv) {
  const std::string command = "ledger migrate";
  ArgParser args(absl::StrCat("desfirectl ", command),
                 "Create or complete the central ledger of a fleet (docs/ledger.md) in the "
                 "PostgreSQL\ndatabase whose connection string (libpq) is in CONNFILE (mode "
                 "0600), as the role that\nowns the tables, and grant the shipping role "
                 "(desfired-ship's) what shipping needs:\nadding and reading rows, never "
                 "rewriting them. Idempotent: run it again after an upgrade.\n"
                 "Exit code 0: migrated; 1: the database cannot be reached or refused; 2: bad "
                 "usage.",
                 "");
  args.Option("postgres", "CONNFILE", "the central database's connection string, in a file");
  args.Option("shipping-role", "ROLE",
              "the role the boxes' desfired-ship connects as (it must exist); none: no grants");
  args.Flag("json", "errors as a JSON object");
  if (absl::Status s = args.Parse(argc, argv); !s.ok())
    return UsageError(args, command, s.message());
  if (args.help_requested()) {
    std::cout << args.Usage();
    return kExitOk;
  }
  if (!args.positionals().empty() || !args.Has("postgres") || args.Value("postgres")->empty()) {
    return UsageError(args, command, "--postgres CONNFILE is required (and nothing else)");
  }
  absl::StatusOr<std::string> conninfo = ledger::ReadConnInfoFile(*args.Value("postgres"));
  if (!conninfo.ok()) return Failed(args, command, conninfo.status());
  const std::string role = args.Value("shipping-role").value_or("");
  if (absl::Status s = ledger::PostgresBackend::Migrate(*conninfo, role); !s.ok()) {
    return Failed(args, command, s);
  }
  std::cout << "central ledger migrated"
            << (role.empty() ? "" : absl::StrCat("; shipping role ", role, ": rows add and read"))
            << "\n";
  return kExitOk;
}

}  // namespace desfired::cli
