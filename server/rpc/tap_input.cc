#include "server/rpc/tap_input.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"
#include "server/rpc/tap_request_scan.h"

namespace desfired::server {
namespace {

// INVALID_ARGUMENT about field `field` of record `index` ("" for the record itself).
absl::Status RecordError(absl::string_view field, size_t index, absl::string_view problem) {
  const std::string element = field.empty() ? absl::StrCat("records[", index, "]")
                                            : absl::StrCat("records[", index, "].", field);
  return apdu::InvalidFieldError(field.empty() ? "records" : absl::StrCat("records.", field),
                                 absl::StrCat(element, ": ", problem));
}

absl::Status TooMany(absl::string_view field, size_t index, size_t size, absl::string_view unit,
                     size_t max) {
  return RecordError(field, index,
                     absl::StrFormat("%d %s; at most %d are allowed", size, unit, max));
}

}  // namespace

absl::StatusOr<ByteSpan> TapInputDecoder::Bytes(size_t index, ByteSpan raw,
                                                absl::string_view raw_hex) {
  if (raw_hex.empty()) {
    if (raw.size() > kMaxTapRecordBytes) {
      return TooMany("raw", index, raw.size(), "bytes", kMaxTapRecordBytes);
    }
    return raw;
  }
  if (!raw.empty()) return RecordError("", index, "both raw and raw_hex are set; set one");
  if (raw_hex.size() > kMaxTapRecordHexChars) {
    return TooMany("raw_hex", index, raw_hex.size(), "characters", kMaxTapRecordHexChars);
  }
  scratch_.clear();
  size_t offset = 0;
  switch (HexDecodeAppend(raw_hex, scratch_, &offset)) {
    case HexStop::kNonHex:
      return RecordError("raw_hex", index,
                         absl::StrCat("not a hex digit at offset ", offset,
                                      " (hex digits, with space, tab, ':' or '-' between bytes)"));
    case HexStop::kOddDigits:
      return RecordError("raw_hex", index, "an odd number of hex digits");
    case HexStop::kDone:
      break;
  }
  if (scratch_.size() > kMaxTapRecordBytes) {
    return TooMany("raw_hex", index, scratch_.size(), "bytes", kMaxTapRecordBytes);
  }
  return ByteSpan(scratch_.data(), scratch_.size());
}

absl::Status ProcessTapRequest(tap::TapPipeline& pipeline, uint64_t first_index,
                               grpc::ByteBuffer* request,
                               absl::FunctionRef<void(const tap::TapResult&)> on_result) {
  tap::TapResult result;
  TapInputDecoder decoder;
  return ReadTapRequest(request, [&](size_t i, const WireTapInput& input) -> absl::Status {
    absl::StatusOr<ByteSpan> raw = decoder.Bytes(i, input.raw, input.raw_hex);
    if (!raw.ok()) return raw.status();
    pipeline.Process(first_index + i, *raw, input.backend_time, &result);
    on_result(result);
    return absl::OkStatus();
  });
}

}  // namespace desfired::server
