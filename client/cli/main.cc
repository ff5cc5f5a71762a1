// desfirectl: the command-line client of desfired.
#include <cstring>
#include <iostream>

#include "absl/strings/string_view.h"
#include "client/cli/commands.h"

namespace {

constexpr char kUsage[] =
    "usage: desfirectl <command> [options]\n"
    "\n"
    "commands:\n"
    "  taps parse     parse tap records from a file or stdin (locally)\n"
    "\n"
    "Run 'desfirectl <command> --help' for the options of a command.\n";

}  // namespace

int main(int argc, char** argv) {
  using desfired::cli::kExitUsage;
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
    std::cerr << "desfirectl taps: expected a subcommand: parse\n";
    return kExitUsage;
  }
  std::cerr << "desfirectl: unknown command '" << cmd << "'\n" << kUsage;
  return kExitUsage;
}
