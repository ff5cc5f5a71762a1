#include "server/rpc/tap_request_scan.h"

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "server/rpc/tap_limits.h"

namespace desfired::server {

absl::StatusOr<size_t> ScanTapRequest(grpc::ByteBuffer* buffer, size_t max_records) {
  using google::protobuf::internal::WireFormatLite;
  constexpr uint32_t kRecordsTag =
      WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  grpc::ProtoBufferReader reader(buffer);
  google::protobuf::io::CodedInputStream in(&reader);
  in.SetTotalBytesLimit(INT32_MAX);
  size_t records = 0;
  while (const uint32_t tag = in.ReadTag()) {
    if (tag != kRecordsTag) {
      if (!WireFormatLite::SkipField(&in, tag)) break;
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) break;
    // A length beyond the end of the message: not an encoding at all (checked first, so that
    // random bytes are told as such, not as an overlong record).
    if (length > buffer->Length() - static_cast<size_t>(in.CurrentPosition())) break;
    if (length > kMaxTapInputBytes) {
      return apdu::InvalidFieldError(
          absl::StrCat("records[", records, "]"),
          absl::StrFormat("%u bytes encoded; at most %u (a record has 28..32 bytes)", length,
                          kMaxTapInputBytes));
    }
    if (++records > max_records) {
      return apdu::InvalidFieldError(
          "records", absl::StrFormat("more than %u records in one message (the server's batch "
                                     "limit)",
                                     max_records));
    }
    if (!in.Skip(static_cast<int>(length))) break;
  }
  if (!in.ConsumedEntireMessage()) return MalformedTapRequestError();
  return records;
}

namespace {
constexpr absl::string_view kNotAMessage = "the message is not a valid encoding of its type";
}  // namespace

absl::Status MalformedTapRequestError() { return absl::InvalidArgumentError(kNotAMessage); }

bool IsMalformedTapRequest(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument && status.message() == kNotAMessage;
}

}  // namespace desfired::server
