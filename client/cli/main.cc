// desfirectl: the command-line client of desfired.
#include <cstring>
#include <iostream>
#include <vector>

#include "absl/strings/string_view.h"
#include "client/cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: desfirectl <command> [options]\n"
    "\n"
    "readers and cards:\n"
    "  readers              list the readers and the cards on them\n"
    "  watch                print reader and card events as they happen\n"
    "  info                 version, UID, memory, key settings and applications of a card\n"
    "  apps                 list the applications on a card\n"
    "  files                list the files of an application with their settings\n"
    "  originality          check a card's NXP originality signature\n"
    "\n"
    "files:\n"
    "  read                 read a standard or backup data file\n"
    "  write                write a standard or backup data file\n"
    "  records              read the records of a record file\n"
    "  write-record         append a record to a record file\n"
    "  clear-records        empty a record file\n"
    "  value                print the value of a value file\n"
    "  debit                subtract from a value file\n"
    "  credit               add to a value file\n"
    "  limited-credit       refund up to the last debit (limited credit)\n"
    "  commit               commit the changes made with --defer-commit\n"
    "  abort                discard the changes made with --defer-commit\n"
    "\n"
    "tap records:\n"
    "  taplog               read a card's tap log, parsed by the server\n"
    "  taps parse           parse tap records from a file or stdin (locally, or with --server)\n"
    "  sun verify           verify a SUN message of an NTAG 424 DNA / EV3 tag's URL (server)\n"
    "\n"
    "issuing (admin):\n"
    "  format               erase all applications of a card\n"
    "  create-app           create an application\n"
    "  delete-app           delete an application\n"
    "  create-file          create a file\n"
    "  change-file-settings change a file's mode, access rights and SDM settings\n"
    "  delete-file          delete a file\n"
    "  change-key           change a key to one of the server's key store\n"
    "  change-key-settings  change the key settings of an application or the card\n"
    "\n"
    "key files (local):\n"
    "  keys list            list a key file's keys and where each lives (never a value)\n"
    "  keys import          move file keys into a PKCS#11 token, naming them by URI\n"
    "\n"
    "audit ledger (local, read-only):\n"
    "  ledger verify        check the hash chain of desfired's ledger file\n"
    "  ledger export        write the ledger's rows as JSON lines or CSV\n"
    "\n"
    "Commands that talk to desfired take --server HOST:PORT (env DESFIRED_SERVER, default\n"
    "127.0.0.1:50051), --token, --tls-ca/--tls-cert/--tls-key and --json.\n"
    "Exit codes: 0 ok, 1 the call failed, 2 bad usage, 3 desfired unreachable.\n"
    "Run 'desfirectl <command> --help' for the options of a command.\n";

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
};

constexpr Command kCommands[] = {
    {"readers", desfired::cli::Readers},
    {"watch", desfired::cli::Watch},
    {"info", desfired::cli::Info},
    {"apps", desfired::cli::Apps},
    {"files", desfired::cli::Files},
    {"originality", desfired::cli::Originality},
    {"read", desfired::cli::Read},
    {"write", desfired::cli::Write},
    {"records", desfired::cli::Records},
    {"write-record", desfired::cli::WriteRecord},
    {"clear-records", desfired::cli::ClearRecords},
    {"value", desfired::cli::Value},
    {"debit", desfired::cli::Debit},
    {"credit", desfired::cli::Credit},
    {"limited-credit", desfired::cli::LimitedCredit},
    {"commit", desfired::cli::Commit},
    {"abort", desfired::cli::Abort},
    {"taplog", desfired::cli::TapLog},
    {"format", desfired::cli::Format},
    {"create-app", desfired::cli::CreateApp},
    {"delete-app", desfired::cli::DeleteApp},
    {"create-file", desfired::cli::CreateFile},
    {"change-file-settings", desfired::cli::ChangeFileSettings},
    {"delete-file", desfired::cli::DeleteFile},
    {"change-key", desfired::cli::ChangeKey},
    {"change-key-settings", desfired::cli::ChangeKeySettings},
};

int Main(int argc, char** argv) {
  using desfired::cli::kExitOk;
  using desfired::cli::kExitUsage;
  // "desfirectl help COMMAND" is "desfirectl COMMAND --help".
  static char help_flag[] = "--help";
  if (argc >= 3 && absl::string_view(argv[1]) == "help") {
    std::vector<char*> args(argv + 1, argv + argc);
    args.erase(args.begin());  // "help"
    args.insert(args.begin(), argv[0]);
    args.push_back(help_flag);
    return Main(static_cast<int>(args.size()), args.data());
  }
  if (argc < 2 || absl::string_view(argv[1]) == "--help" || absl::string_view(argv[1]) == "-h" ||
      absl::string_view(argv[1]) == "help") {
    std::cout << kUsage;
    return argc < 2 ? kExitUsage : 0;
  }
  if (absl::string_view(argv[1]) == "--version") {
    std::cout << "desfirectl " DESFIRED_VERSION "\n";
    return 0;
  }
  const absl::string_view cmd = argv[1];
  if (cmd == "taps") {
    if (argc >= 3 && absl::string_view(argv[2]) == "parse") {
      return desfired::cli::TapsParse(argc - 3, argv + 3);
    }
    const bool help =
        argc >= 3 && (absl::string_view(argv[2]) == "--help" || absl::string_view(argv[2]) == "-h");
    (help ? std::cout : std::cerr)
        << "usage: desfirectl taps parse [options] FILE|-\n"
        << "  parse tap records (run 'desfirectl taps parse --help' for the options)\n";
    return help ? kExitOk : kExitUsage;
  }
  if (cmd == "sun") {
    if (argc >= 3 && absl::string_view(argv[2]) == "verify") {
      return desfired::cli::SunVerify(argc - 3, argv + 3);
    }
    const bool help =
        argc >= 3 && (absl::string_view(argv[2]) == "--help" || absl::string_view(argv[2]) == "-h");
    (help ? std::cout : std::cerr) << "usage: desfirectl sun verify [options]\n"
                                   << "  run 'desfirectl sun verify --help' for the options\n";
    return help ? kExitOk : kExitUsage;
  }
  if (cmd == "keys") return desfired::cli::Keys(argc - 2, argv + 2);
  if (cmd == "ledger") {
    const absl::string_view sub = argc >= 3 ? absl::string_view(argv[2]) : "";
    if (sub == "verify") return desfired::cli::LedgerVerify(argc - 3, argv + 3);
    if (sub == "export") return desfired::cli::LedgerExport(argc - 3, argv + 3);
    if (sub == "migrate") return desfired::cli::LedgerMigrate(argc - 3, argv + 3);
    const bool help = sub == "--help" || sub == "-h";
    (help ? std::cout : std::cerr)
        << (help ? "" : "desfirectl ledger: expected a subcommand: verify, export or migrate\n")
        << "usage: desfirectl ledger verify|export|migrate [options]\n"
        << "  verify   check the hash chain of desfired's ledger file (or the central ledger)\n"
        << "  export   write the ledger's rows as JSON lines or CSV\n"
        << "  migrate  create the central ledger's schema in PostgreSQL, grant the shipping role\n"
        << "run 'desfirectl ledger SUBCOMMAND --help' for the options\n";
    return help ? kExitOk : kExitUsage;
  }
  for (const Command& c : kCommands) {
    if (cmd == c.name) return c.run(argc - 2, argv + 2);
  }
  std::cerr << "desfirectl: unknown command '" << cmd << "'\n" << kUsage;
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) { return Main(argc, argv); }
