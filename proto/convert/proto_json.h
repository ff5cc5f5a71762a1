// The proto3 JSON of a message, as the HTTP API answers and the NATS publisher sends it.
//
//   std::string json = ProtoJson(item);   // {"event":{"sequence":"7","kind":"CARD_INSERTED",...}}
//
// Thread-safe: a pure function.
#ifndef DESFIRED_PROTO_CONVERT_PROTO_JSON_H_
#define DESFIRED_PROTO_CONVERT_PROTO_JSON_H_

#include <string>

#include "google/protobuf/message.h"

namespace desfired {

// The proto3 JSON of `message` (google::protobuf::util::MessageToJsonString, default options:
// lowerCamelCase names, fields at their default left out, 64-bit integers as strings, bytes in
// base64), one line.
std::string ProtoJson(const google::protobuf::Message& message);

}  // namespace desfired

#endif  // DESFIRED_PROTO_CONVERT_PROTO_JSON_H_
