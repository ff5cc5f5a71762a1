// desfirectl subcommands and exit codes (docs/cli.md lists them).
#ifndef DESFIRED_CLIENT_CLI_COMMANDS_H_
#define DESFIRED_CLIENT_CLI_COMMANDS_H_

#include "client/cli/args.h"

namespace desfired::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitInput = 1;  // the input could not be read
inline constexpr int kExitUsage = 2;  // bad arguments, or a key / table file that is invalid

// Each takes the arguments after its subcommand words.
int TapsParse(int argc, char** argv);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_COMMANDS_H_
