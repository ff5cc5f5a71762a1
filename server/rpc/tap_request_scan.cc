#include "server/rpc/tap_request_scan.h"

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "server/rpc/tap_limits.h"

namespace desfired::server {

absl::StatusOr<size_t> ScanTapRequest(grpc::ByteBuffer* buffer, size_t max_records, int* view) {
  using google::protobuf::internal::WireFormatLite;
  constexpr uint32_t kRecordsTag =
      WireFormatLite::MakeTag(1, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  grpc::ProtoBufferReader reader(buffer);
  google::protobuf::io::CodedInputStream in(&reader);
  in.SetTotalBytesLimit(INT32_MAX);
  constexpr uint32_t kViewTag = WireFormatLite::MakeTag(2, WireFormatLite::WIRETYPE_VARINT);
  if (view != nullptr) *view = 0;
  size_t records = 0;
  while (const uint32_t tag = in.ReadTag()) {
    if (tag == kViewTag && view != nullptr) {  // an enum: the last one read wins
      uint64_t v = 0;
      if (!in.ReadVarint64(&v)) break;
      *view = static_cast<int>(static_cast<int32_t>(v));
      continue;
    }
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

using google::protobuf::internal::WireFormatLite;
constexpr uint32_t LengthTag(int field) {
  return WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
}
constexpr uint32_t VarintTag(int field) {
  return WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_VARINT);
}

// What a field reader did with a field: read it, left it (to be skipped), or met bytes that
// are not an encoding.
enum class Field { kRead, kOther, kBad };

// A length (of a length-delimited field) as protobuf's parser takes it: at most 5 bytes, at
// most INT32_MAX, within the enclosing message.
bool ReadSize(google::protobuf::io::CodedInputStream& in, int* size) {
  const int start = in.CurrentPosition();
  uint32_t v = 0;
  if (!in.ReadVarint32(&v) || in.CurrentPosition() - start > 5 || v > INT32_MAX) return false;
  if (in.BytesUntilLimit() >= 0 && static_cast<int>(v) > in.BytesUntilLimit()) return false;
  *size = static_cast<int>(v);
  return true;
}

// A tag as protobuf's parser takes it (at most 5 bytes, field number not 0); 0 at the end of
// the message (or of the stream's limit) and for bytes that are no tag (*bad then).
uint32_t ReadTag(google::protobuf::io::CodedInputStream& in, bool* bad) {
  const int start = in.CurrentPosition();
  const uint32_t tag = in.ReadTag();
  *bad = tag == 0 ? !in.ConsumedEntireMessage() : in.CurrentPosition() - start > 5 || tag >> 3 == 0;
  return *bad ? 0 : tag;
}

bool SkipField(google::protobuf::io::CodedInputStream& in, uint32_t tag, int depth);

// The rest of a group opened by `tag`, up to its end tag.
bool SkipGroup(google::protobuf::io::CodedInputStream& in, uint32_t tag, int depth) {
  if (depth > 100) return false;  // protobuf's recursion limit
  while (true) {
    bool bad = false;
    const uint32_t t = ReadTag(in, &bad);
    if (t == 0) return false;  // the end before the group's end
    if (t == (tag & ~7u) + WireFormatLite::WIRETYPE_END_GROUP) return true;
    if (!SkipField(in, t, depth + 1)) return false;
  }
}

// Skips the field of `tag` as protobuf's parser would keep it as an unknown field.
bool SkipField(google::protobuf::io::CodedInputStream& in, uint32_t tag, int depth) {
  uint64_t v = 0;
  int size = 0;
  switch (WireFormatLite::GetTagWireType(tag)) {
    case WireFormatLite::WIRETYPE_VARINT:
      return in.ReadVarint64(&v);
    case WireFormatLite::WIRETYPE_FIXED64:
      return in.Skip(8);
    case WireFormatLite::WIRETYPE_FIXED32:
      return in.Skip(4);
    case WireFormatLite::WIRETYPE_LENGTH_DELIMITED:
      return ReadSize(in, &size) && in.Skip(size);
    case WireFormatLite::WIRETYPE_START_GROUP:
      return SkipGroup(in, tag, depth);
    default:
      return false;
  }
}

// Reads the fields of the message up to the stream's limit, skipping those `on_field(tag)`
// leaves; false when they are not a valid encoding.
template <typename OnField>
bool ReadFields(google::protobuf::io::CodedInputStream& in, OnField on_field) {
  while (true) {
    bool bad = false;
    const uint32_t tag = ReadTag(in, &bad);
    if (bad) return false;
    if (tag == 0) return true;
    const Field f = on_field(tag);
    if (f == Field::kBad) return false;
    if (f == Field::kOther && !SkipField(in, tag, 0)) return false;
  }
}

// A length-delimited field's contents, read by `read` (true: valid) within their length.
template <typename Read>
Field ReadNested(google::protobuf::io::CodedInputStream& in, Read read) {
  int length = 0;
  if (!ReadSize(in, &length)) return Field::kBad;
  const auto limit = in.PushLimit(length);
  if (!read()) return Field::kBad;
  in.PopLimit(limit);
  return Field::kRead;
}

// A TapInput (raw = 1; backend_time = 2, a Timestamp: seconds = 1; raw_hex = 3) into *raw,
// *backend and *raw_hex.
bool ReadTapInput(google::protobuf::io::CodedInputStream& in, std::string* raw,
                  std::optional<int64_t>* backend, std::string* raw_hex) {
  raw->clear();
  raw_hex->clear();
  backend->reset();
  return ReadFields(in, [&](uint32_t tag) {
    if (tag == LengthTag(1) || tag == LengthTag(3)) {
      int size = 0;
      std::string* to = tag == LengthTag(1) ? raw : raw_hex;
      if (!ReadSize(in, &size) || !in.ReadString(to, size)) return Field::kBad;
      // raw_hex is a proto3 string: protobuf's parser refuses one that is not UTF-8.
      const bool utf8 = to == raw || google::protobuf::internal::IsStructurallyValidUTF8(
                                         to->data(), static_cast<int>(to->size()));
      return utf8 ? Field::kRead : Field::kBad;
    }
    if (tag != LengthTag(2)) return Field::kOther;
    if (!backend->has_value()) *backend = 0;
    return ReadNested(in, [&] {
      return ReadFields(in, [&](uint32_t t) {
        if (t != VarintTag(1)) return Field::kOther;
        uint64_t seconds = 0;
        if (!in.ReadVarint64(&seconds)) return Field::kBad;
        **backend = static_cast<int64_t>(seconds);
        return Field::kRead;
      });
    });
  });
}

}  // namespace

absl::Status ReadTapRequest(
    grpc::ByteBuffer* buffer,
    absl::FunctionRef<absl::Status(size_t index, const WireTapInput& input)> on_record) {
  grpc::ProtoBufferReader reader(buffer);
  google::protobuf::io::CodedInputStream in(&reader);
  in.SetTotalBytesLimit(INT32_MAX);
  std::string raw, raw_hex;  // one buffer each for every record: no allocation per record
  std::optional<int64_t> backend;
  size_t index = 0;
  absl::Status stopped;  // what on_record returned, when not OK
  const bool ok = ReadFields(in, [&](uint32_t tag) {
    if (tag != LengthTag(1)) return Field::kOther;
    if (ReadNested(in, [&] { return ReadTapInput(in, &raw, &backend, &raw_hex); }) == Field::kBad) {
      return Field::kBad;
    }
    stopped = on_record(index++, WireTapInput{AsBytes(raw), raw_hex, backend});
    return stopped.ok() ? Field::kRead : Field::kBad;
  });
  if (!stopped.ok()) return stopped;
  if (!ok) return MalformedTapRequestError();
  return absl::OkStatus();
}

absl::Status MalformedTapRequestError() { return absl::InvalidArgumentError(kNotAMessage); }

bool IsMalformedTapRequest(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInvalidArgument && status.message() == kNotAMessage;
}

}  // namespace desfired::server
