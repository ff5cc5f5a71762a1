#include "proto/convert/proto_json.h"

#include "google/protobuf/util/json_util.h"

namespace desfired {

std::string ProtoJson(const google::protobuf::Message& message) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out,
                                                    google::protobuf::util::JsonPrintOptions());
  return out;
}

}  // namespace desfired
