// desfirectl's --json: the proto3 JSON mapping of a response (docs/cli.md, "Output"), with the
// two changes that let a script feed what it reads back into desfirectl's flags, which take
// hex: `bytes` fields are lower-case hex strings ("04a1b2c3d4e5f6", not base64), and AIDs —
// uint32 fields named `aid`, and the elements of `aids` — are six upper-case hex digits
// ("F51001", not 16060417). Everything else is as the mapping has it: lowerCamelCase names,
// fields with default values included (unset message fields, optional and oneof fields left
// out), enums by name, 64-bit integers as strings, google.protobuf types (Timestamp, ...) in
// their JSON form.
//
//   std::cout << CliJson(response) << "\n";   // one line
//
// Thread-safe: a pure function.
#ifndef DESFIRED_CLIENT_CLI_JSON_OUTPUT_H_
#define DESFIRED_CLIENT_CLI_JSON_OUTPUT_H_

#include <string>

#include "google/protobuf/message.h"

namespace desfired::cli {

// `message` as one line of desfirectl JSON (no whitespace).
std::string CliJson(const google::protobuf::Message& message);

}  // namespace desfired::cli

#endif  // DESFIRED_CLIENT_CLI_JSON_OUTPUT_H_
