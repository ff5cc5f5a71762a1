// desfirectl options of Secure Dynamic Messaging (create-file --sdm, change-file-settings
// --sdm): the SdmSettings of a standard data file (docs/ev3.md, docs/cli.md).
//
//   AddSdmOptions(cmd);
//   ...
//   DESFIRED_ASSIGN_OR_RETURN(bool on, SdmOptions(cmd, settings.mutable_sdm()));
//
// Thread-compatible.
#ifndef DESFIRED_CLIENT_CLI_SDM_OPTIONS_H_
#define DESFIRED_CLIENT_CLI_SDM_OPTIONS_H_

#include "absl/status/statusor.h"
#include "client/cli/server_command.h"
#include "desfired/v1/card.pb.h"

namespace desfired::cli {

// --sdm, --sdm-uid, --sdm-counter, --sdm-file-data, --sdm-meta-read, --sdm-file-read,
// --sdm-counter-read, the offsets and --sdm-counter-limit.
void AddSdmOptions(ServerCommand& cmd);

// Fills `out` when --sdm is given (true); false without it (the other --sdm-* options are
// then ignored). INVALID_ARGUMENT for a value out of range; the server checks the layout.
absl::StatusOr<bool> SdmOptions(const ServerCommand& cmd, v1::SdmSettings* out);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_SDM_OPTIONS_H_
