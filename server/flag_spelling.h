// One flag spelling across desfired, desfirectl and desfired-health-probe: words joined by
// dashes (`--pcsc-socket`, `--tls-cert`). abseil, which parses desfired's flags, only knows the
// underscore names (`--pcsc_socket`); those stay accepted as the old spelling for one release.
//
//   std::vector<std::string> args = DashesToUnderscores(argc, argv);
//   std::vector<char*> argv2 = ArgvOf(args);      // for absl::ParseCommandLine
//
// Only a word that starts with "-", comes before a "--" terminator and whose name (the part
// before any "=", without the leading dashes) with its dashes turned into underscores names a
// registered flag is rewritten; values, positional arguments and unknown flags stay as they
// are, so that abseil reports the latter as the user wrote them. Inside a --flagfile abseil
// reads the names itself: write them with underscores there (docs/server.md).
//
// Thread-compatible; call from main before parsing.
#ifndef DESFIRED_SERVER_FLAG_SPELLING_H_
#define DESFIRED_SERVER_FLAG_SPELLING_H_

#include <string>
#include <vector>

namespace desfired::server {

// argv with the dash spelling of each registered flag's name turned into abseil's.
std::vector<std::string> DashesToUnderscores(int argc, char** argv);

// `args` as an argv for absl::ParseCommandLine (pointers into `args`, which must outlive it;
// a null pointer after the last).
std::vector<char*> ArgvOf(std::vector<std::string>& args);

// abseil's name of a flag ("pcsc_socket") as the documented spelling ("pcsc-socket").
std::string DashSpelling(const std::string& name);

}  // namespace desfired::server

#endif  // DESFIRED_SERVER_FLAG_SPELLING_H_
