#include "server/rpc/tap_input.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/apdu/error_metadata.h"

namespace desfired::server {
namespace {

absl::Status RecordError(absl::string_view field, int index, absl::string_view problem) {
  const std::string element = field.empty() ? absl::StrCat("records[", index, "]")
                                            : absl::StrCat("records[", index, "].", field);
  return apdu::InvalidFieldError(field.empty() ? "records" : absl::StrCat("records.", field),
                                 absl::StrCat(element, ": ", problem));
}

// Why `hex` is not the hex of a record, or OK.
absl::Status CheckHex(absl::string_view hex, int index, desfired::Bytes& scratch) {
  if (hex.size() > kMaxTapRecordHexChars) {
    return RecordError("raw_hex", index,
                       absl::StrFormat("%d characters; at most %d are allowed", hex.size(),
                                       kMaxTapRecordHexChars));
  }
  scratch.clear();
  size_t offset = 0;
  switch (HexDecodeAppend(hex, scratch, &offset)) {
    case HexStop::kNonHex:
      return RecordError("raw_hex", index,
                         absl::StrCat("not a hex digit at offset ", offset,
                                      " (hex digits, with space, tab, ':' or '-' between bytes)"));
    case HexStop::kOddDigits:
      return RecordError("raw_hex", index, "an odd number of hex digits");
    case HexStop::kDone:
      break;
  }
  if (scratch.size() > kMaxTapRecordBytes) {
    return RecordError(
        "raw_hex", index,
        absl::StrFormat("%d bytes; at most %d are allowed", scratch.size(), kMaxTapRecordBytes));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckTapInputs(const google::protobuf::RepeatedPtrField<v1::TapInput>& records) {
  desfired::Bytes scratch;
  for (int i = 0; i < records.size(); ++i) {
    const v1::TapInput& input = records.Get(i);
    if (input.raw_hex().empty()) {
      if (input.raw().size() > kMaxTapRecordBytes) {
        return RecordError("raw", i,
                           absl::StrFormat("%d bytes; at most %d are allowed", input.raw().size(),
                                           kMaxTapRecordBytes));
      }
      continue;
    }
    if (!input.raw().empty()) {
      return RecordError("", i, "both raw and raw_hex are set; set one");
    }
    if (absl::Status s = CheckHex(input.raw_hex(), i, scratch); !s.ok()) return s;
  }
  return absl::OkStatus();
}

ByteSpan TapInputDecoder::Bytes(const v1::TapInput& input) {
  if (input.raw_hex().empty()) return AsBytes(input.raw());
  scratch_.clear();
  size_t offset = 0;
  HexDecodeAppend(input.raw_hex(), scratch_, &offset);
  return ByteSpan(scratch_.data(), scratch_.size());
}

}  // namespace desfired::server
