#include "client/cli/json_output.h"

#include <cmath>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/bytes.h"
#include "core/util/json_escape.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/json_util.h"

namespace desfired::cli {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

// An AID: a uint32 field named `aid` or `aids`.
bool IsAid(const FieldDescriptor& field) {
  return field.cpp_type() == FieldDescriptor::CPPTYPE_UINT32 &&
         (field.name() == "aid" || field.name() == "aids");
}

template <typename T>
std::string FloatText(T v, int digits) {
  if (std::isnan(v)) return "\"NaN\"";
  if (std::isinf(v)) return v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  return absl::StrFormat("%.*g", digits, v);
}

void AppendMessage(const Message& message, std::string& out);

// The value of `field` of `message` (element `index` of a repeated field, else -1).
void AppendValue(const Message& message, const FieldDescriptor& field, int index,
                 std::string& out) {
  const Reflection& r = *message.GetReflection();
  const bool rep = index >= 0;
  switch (field.cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      absl::StrAppend(
          &out, rep ? r.GetRepeatedInt32(message, &field, index) : r.GetInt32(message, &field));
      return;
    case FieldDescriptor::CPPTYPE_UINT32: {
      const uint32_t v =
          rep ? r.GetRepeatedUInt32(message, &field, index) : r.GetUInt32(message, &field);
      if (IsAid(field)) {
        absl::StrAppend(&out, "\"", absl::StrFormat("%06X", v), "\"");
      } else {
        absl::StrAppend(&out, v);
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_INT64:
      absl::StrAppend(
          &out, "\"",
          rep ? r.GetRepeatedInt64(message, &field, index) : r.GetInt64(message, &field), "\"");
      return;
    case FieldDescriptor::CPPTYPE_UINT64:
      absl::StrAppend(
          &out, "\"",
          rep ? r.GetRepeatedUInt64(message, &field, index) : r.GetUInt64(message, &field), "\"");
      return;
    case FieldDescriptor::CPPTYPE_DOUBLE:
      out += FloatText(
          rep ? r.GetRepeatedDouble(message, &field, index) : r.GetDouble(message, &field), 17);
      return;
    case FieldDescriptor::CPPTYPE_FLOAT:
      out += FloatText(
          rep ? r.GetRepeatedFloat(message, &field, index) : r.GetFloat(message, &field), 9);
      return;
    case FieldDescriptor::CPPTYPE_BOOL:
      out += (rep ? r.GetRepeatedBool(message, &field, index) : r.GetBool(message, &field))
                 ? "true"
                 : "false";
      return;
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int number =
          rep ? r.GetRepeatedEnumValue(message, &field, index) : r.GetEnumValue(message, &field);
      if (const auto* value = field.enum_type()->FindValueByNumber(number)) {
        AppendJsonString(out, value->name());
      } else {
        absl::StrAppend(&out, number);
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string scratch;
      const std::string& s = rep ? r.GetRepeatedStringReference(message, &field, index, &scratch)
                                 : r.GetStringReference(message, &field, &scratch);
      if (field.type() == FieldDescriptor::TYPE_BYTES) {
        absl::StrAppend(&out, "\"", HexEncode(AsBytes(s)), "\"");
      } else {
        AppendJsonString(out, s);
      }
      return;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      AppendMessage(
          rep ? r.GetRepeatedMessage(message, &field, index) : r.GetMessage(message, &field), out);
      return;
  }
}

// A map field: an object keyed by the entries' keys as text.
void AppendMap(const Message& message, const FieldDescriptor& field, std::string& out) {
  const Reflection& r = *message.GetReflection();
  const FieldDescriptor& key = *field.message_type()->map_key();
  const FieldDescriptor& value = *field.message_type()->map_value();
  std::map<std::string, std::string> entries;  // sorted, as the entries have no order
  for (int i = 0; i < r.FieldSize(message, &field); ++i) {
    const Message& entry = r.GetRepeatedMessage(message, &field, i);
    std::string k;
    AppendValue(entry, key, -1, k);
    if (k.empty() || k.front() != '"') k = absl::StrCat("\"", k, "\"");
    AppendValue(entry, value, -1, entries[k]);
  }
  out += "{";
  for (const auto& [k, v] : entries) {
    if (out.back() != '{') out += ",";
    absl::StrAppend(&out, k, ":", v);
  }
  out += "}";
}

void AppendMessage(const Message& message, std::string& out) {
  const google::protobuf::Descriptor& descriptor = *message.GetDescriptor();
  if (descriptor.file()->package() == "google.protobuf") {
    // Well-known types (Timestamp, Duration, ...) have JSON forms of their own.
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(message, &json);
    out += json;
    return;
  }
  const Reflection& r = *message.GetReflection();
  out += "{";
  bool first = true;
  for (int i = 0; i < descriptor.field_count(); ++i) {
    const FieldDescriptor& field = *descriptor.field(i);
    if (!field.is_repeated() && field.has_presence() && !r.HasField(message, &field)) continue;
    if (!first) out += ",";
    first = false;
    AppendJsonString(out, field.json_name());
    out += ":";
    if (field.is_map()) {
      AppendMap(message, field, out);
    } else if (field.is_repeated()) {
      out += "[";
      for (int j = 0; j < r.FieldSize(message, &field); ++j) {
        if (j > 0) out += ",";
        AppendValue(message, field, j, out);
      }
      out += "]";
    } else {
      AppendValue(message, field, -1, out);
    }
  }
  out += "}";
}

}  // namespace

std::string CliJson(const google::protobuf::Message& message) {
  std::string out;
  AppendMessage(message, out);
  return out;
}

}  // namespace desfired::cli
