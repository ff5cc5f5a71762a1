// The ISO/IEC 7816-4 options of desfirectl read, write, records and write-record (docs/cli.md,
// docs/ev3.md): --iso, --iso-df-name HEX, --iso-df-id HEX, --iso-ef-id HEX, into the request's
// desfired.v1.IsoAccess.
//
// Thread-compatible.
#ifndef DESFIRED_CLIENT_CLI_ISO_OPTIONS_H_
#define DESFIRED_CLIENT_CLI_ISO_OPTIONS_H_

#include "absl/status/status.h"
#include "client/cli/server_command.h"
#include "desfired/v1/card.pb.h"

namespace desfired::cli {

void AddIsoOptions(ServerCommand& cmd);

// INVALID_ARGUMENT naming the option for a malformed id or name, or an --iso-* option
// without --iso.
absl::Status IsoOptionsInto(const ServerCommand& cmd, v1::IsoAccess* iso);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_ISO_OPTIONS_H_
