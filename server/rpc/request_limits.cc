#include "server/rpc/request_limits.h"

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "core/apdu/error_metadata.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/wire_format.h"

namespace desfired::server {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr FieldLimit kLimits[] = {
    {.field = "reader", .max_bytes = kMaxReaderNameBytes},
    {.field = "readers", .max_bytes = kMaxReaderNameBytes, .max_count = kMaxWatchedReaders},
    {.field = "expected_uid", .max_bytes = kMaxUidBytes},
    {.field = "key_name", .max_bytes = kMaxKeyNameBytes},
    {.field = "new_key_name", .max_bytes = kMaxKeyNameBytes},
    {.field = "old_key_name", .max_bytes = kMaxKeyNameBytes},
    {.field = "request_id", .max_bytes = kMaxRequestIdBytes},
    {.field = "page_token", .max_bytes = kMaxPageTokenBytes},
    {.field = "data", .max_bytes = kMaxWriteDataBytes},
    {.field = "df_name", .max_bytes = kMaxDfNameBytes},
    {.field = "raw", .max_bytes = kMaxTapRecordBytes},
    {.field = "raw_hex", .max_bytes = kMaxTapRecordHexChars},
    {.field = "meta_key_name", .max_bytes = kMaxKeyNameBytes},
    {.field = "file_key_name", .max_bytes = kMaxKeyNameBytes},
    {.field = "picc_data", .max_bytes = kMaxSunFieldChars},
    {.field = "uid", .max_bytes = kMaxSunFieldChars},
    {.field = "counter", .max_bytes = kMaxSunFieldChars},
    {.field = "mac", .max_bytes = kMaxSunFieldChars},
    {.field = "enc_file_data", .max_bytes = kMaxSunDataChars},
    {.field = "mac_input", .max_bytes = kMaxSunDataChars},
    {.field = "reader_id", .max_bytes = kMaxReaderIdBytes},
};

// One field from the request down to the one at fault, and the element of a repeated one.
struct Step {
  const FieldDescriptor* field;
  int index = -1;
};
using FieldPath = std::vector<Step>;

// The field's name ("records.raw"), or with `indexes` the element's ("records[2].raw").
std::string PathOf(const FieldPath& path, bool indexes = false) {
  return absl::StrJoin(path, ".", [indexes](std::string* out, const Step& step) {
    out->append(step.field->name());
    if (indexes && step.index >= 0) absl::StrAppend(out, "[", step.index, "]");
  });
}

absl::Status TooLong(const FieldPath& path, size_t size, size_t max) {
  return apdu::InvalidFieldError(PathOf(path),
                                 absl::StrFormat("%s has %d bytes; at most %d are allowed",
                                                 PathOf(path, /*indexes=*/true), size, max));
}

absl::Status CheckUnknown(const Message& message, const FieldPath& path) {
  const google::protobuf::UnknownFieldSet& unknown =
      message.GetReflection()->GetUnknownFields(message);
  if (unknown.empty()) return absl::OkStatus();
  const size_t size = google::protobuf::internal::WireFormat::ComputeUnknownFieldsSize(unknown);
  if (size <= kMaxUnknownFieldBytes) return absl::OkStatus();
  return apdu::InvalidFieldError(
      path.empty() ? "(unknown fields)" : PathOf(path) + ".(unknown fields)",
      absl::StrFormat("%s has %d bytes of fields this server does not know; at most %d",
                      path.empty() ? "the request" : PathOf(path, /*indexes=*/true), size,
                      kMaxUnknownFieldBytes));
}

// The limit of a string field by its name; kDefaultMaxStringBytes without an entry.
FieldLimit LimitOf(const FieldDescriptor* field) {
  const FieldLimit* limit = FindFieldLimit(field->name());
  return limit != nullptr ? *limit : FieldLimit{.field = "", .max_bytes = kDefaultMaxStringBytes};
}

absl::Status CheckMessage(const Message& message, FieldPath& path) {
  if (absl::Status s = CheckUnknown(message, path); !s.ok()) return s;
  const Reflection* reflection = message.GetReflection();
  const google::protobuf::Descriptor* descriptor = message.GetDescriptor();
  std::string scratch;
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const FieldDescriptor* field = descriptor->field(i);
    const bool is_string = field->cpp_type() == FieldDescriptor::CPPTYPE_STRING;
    const bool is_message = field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
    if (!is_string && !is_message) continue;
    path.push_back({field});
    absl::Status status;
    if (is_string && field->is_repeated()) {
      const FieldLimit limit = LimitOf(field);
      const int n = reflection->FieldSize(message, field);
      if (limit.max_count > 0 && static_cast<size_t>(n) > limit.max_count) {
        return apdu::InvalidFieldError(
            PathOf(path), absl::StrFormat("%s has %d entries; at most %d are allowed", PathOf(path),
                                          n, limit.max_count));
      }
      for (int j = 0; j < n && status.ok(); ++j) {
        path.back().index = j;
        const std::string& value =
            reflection->GetRepeatedStringReference(message, field, j, &scratch);
        if (value.size() > limit.max_bytes) status = TooLong(path, value.size(), limit.max_bytes);
      }
    } else if (is_string) {
      const size_t max = LimitOf(field).max_bytes;
      const std::string& value = reflection->GetStringReference(message, field, &scratch);
      if (value.size() > max) status = TooLong(path, value.size(), max);
    } else if (field->is_repeated()) {
      const int n = reflection->FieldSize(message, field);
      for (int j = 0; j < n && status.ok(); ++j) {
        path.back().index = j;
        status = CheckMessage(reflection->GetRepeatedMessage(message, field, j), path);
      }
    } else if (reflection->HasField(message, field)) {
      status = CheckMessage(reflection->GetMessage(message, field), path);
    }
    if (!status.ok()) return status;
    path.pop_back();
  }
  return absl::OkStatus();
}

}  // namespace

absl::Span<const FieldLimit> FieldLimits() { return kLimits; }

const FieldLimit* FindFieldLimit(absl::string_view field) {
  for (const FieldLimit& limit : kLimits) {
    if (limit.field == field) return &limit;
  }
  return nullptr;
}

absl::Status CheckLimits(const google::protobuf::Message& request) {
  FieldPath path;
  return CheckMessage(request, path);
}

}  // namespace desfired::server
