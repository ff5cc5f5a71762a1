// desfirectl subcommands and exit codes (docs/cli.md lists them).
#ifndef DESFIRED_CLIENT_CLI_COMMANDS_H_
#define DESFIRED_CLIENT_CLI_COMMANDS_H_

#include "client/cli/args.h"

namespace desfired::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;       // the server answered the call with an error (or:
                                            // ledger verify found the chain broken)
inline constexpr int kExitInput = 1;        // the input could not be read
inline constexpr int kExitUsage = 2;        // bad arguments, or a key / table / TLS file invalid
inline constexpr int kExitUnreachable = 3;  // no answer from desfired (down, address, TLS)

// Each takes the arguments after its subcommand words and returns the exit code.
int TapsParse(int argc, char** argv);

// Readers and events (readers.cc).
int Readers(int argc, char** argv);
int Watch(int argc, char** argv);
// Card, applications, files (card_info.cc).
int Info(int argc, char** argv);
int Apps(int argc, char** argv);
int Files(int argc, char** argv);
// The originality signature (originality.cc).
int Originality(int argc, char** argv);
// SUN messages of SDM tags (sun.cc).
int SunVerify(int argc, char** argv);
// Data and record files (data.cc).
int Read(int argc, char** argv);
int Write(int argc, char** argv);
int Records(int argc, char** argv);
int WriteRecord(int argc, char** argv);
int ClearRecords(int argc, char** argv);
// Value files (value.cc).
int Value(int argc, char** argv);
int Debit(int argc, char** argv);
int Credit(int argc, char** argv);
int LimitedCredit(int argc, char** argv);
// The transaction left open by --defer-commit (transaction.cc).
int Commit(int argc, char** argv);
int Abort(int argc, char** argv);
// The tap log of a card (taplog.cc).
int TapLog(int argc, char** argv);
// The audit ledger file, read locally (ledger.cc); the central ledger's migration.
int LedgerVerify(int argc, char** argv);
int LedgerExport(int argc, char** argv);
int LedgerMigrate(int argc, char** argv);
// Key files and PKCS#11 tokens, locally (keys.cc).
int Keys(int argc, char** argv);  // argv[0]: list or import
// Issuing (admin.cc).
int Format(int argc, char** argv);
int CreateApp(int argc, char** argv);
int DeleteApp(int argc, char** argv);
int CreateFile(int argc, char** argv);
int ChangeFileSettings(int argc, char** argv);
int DeleteFile(int argc, char** argv);
int ChangeKey(int argc, char** argv);
int ChangeKeySettings(int argc, char** argv);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_COMMANDS_H_
