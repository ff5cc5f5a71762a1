// desfired's --help and --version.
//
//   ConfigureFlagUsage();                          // before absl::ParseCommandLine
//   if (WantsHelp(args)) { std::cout << FlagHelp(); return 0; }
//
// FlagHelp(): the program's usage message, then every flag defined by desfired's own sources
// (server/...), grouped by area ("Listening and connections", "Security", ...) in the dash
// spelling (server/flag_spelling.h), each with its default and help; a flag no group names
// yet is listed under "Other" so that none is ever missing; then abseil's config file
// mechanism (--flagfile) and the flags abseil adds itself. abseil's --helpfull still lists
// every flag by file.
//
// ConfigureFlagUsage() makes abseil's --version print VersionText() (server/build_info.h) and
// its --helpshort / --help=SUBSTRING consider desfired's files.
//
// Thread-compatible; call from main.
#ifndef DESFIRED_SERVER_FLAG_HELP_H_
#define DESFIRED_SERVER_FLAG_HELP_H_

#include <string>
#include <vector>

namespace desfired::server {

void ConfigureFlagUsage();

// True when the arguments (argv[0] first) ask for help: --help, -help or -h before any "--".
bool WantsHelp(const std::vector<std::string>& args);

std::string FlagHelp();

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_FLAG_HELP_H_
