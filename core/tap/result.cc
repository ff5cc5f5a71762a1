#include "core/tap/result.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/util/text_buffer.h"

namespace desfired::tap {
namespace {

// The number of hex digits whose base64 decoding `raw` is, when that many digits would make a
// record of a decodable length (28..32 bytes); else 0. That is what a record given as hex where
// base64 is expected becomes: in the proto3 JSON of TapInput.raw (buf curl, grpc-gateway) hex
// digits are valid base64, so 64 hex digits arrive as 48 bytes.
size_t HexDigitsGivenAsBase64(ByteSpan raw) {
  if (raw.size() > 2 * kRecordSize) return 0;
  std::string text =
      absl::Base64Escape(absl::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
  while (!text.empty() && text.back() == '=') text.pop_back();
  if (text.size() % 2 != 0 || text.size() < 2 * kMinRecordSize || text.size() > 2 * kRecordSize) {
    return 0;
  }
  // Of a group of fewer than 4 characters at the end, the last one lost bits in the decoding:
  // it need not come back as it was.
  const size_t exact = text.size() % 4 == 0 ? text.size() : text.size() - 1;
  for (size_t i = 0; i < exact; ++i) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(text[i]))) return 0;
  }
  return text.size();
}

}  // namespace

absl::string_view TapWarningName(TapWarning w) {
  switch (w) {
    case TapWarning::kCrc8Mismatch:
      return "CRC8_MISMATCH";
    case TapWarning::kMacVerificationFailed:
      return "MAC_VERIFICATION_FAILED";
    case TapWarning::kMacNotVerified:
      return "MAC_NOT_VERIFIED";
    case TapWarning::kClockDriftDetected:
      return "CLOCK_DRIFT_DETECTED";
    case TapWarning::kPaddingInvalid:
      return "PADDING_INVALID";
    case TapWarning::kRecordTruncated:
      return "RECORD_TRUNCATED";
    case TapWarning::kUnknownTerminal:
      return "UNKNOWN_TERMINAL";
    case TapWarning::kUnknownFareProduct:
      return "UNKNOWN_FARE_PRODUCT";
    case TapWarning::kDuplicateTap:
      return "DUPLICATE_TAP";
  }
  return "UNKNOWN";
}

absl::string_view TapStatusName(TapStatus s) {
  switch (s) {
    case TapStatus::kValid:
      return "VALID";
    case TapStatus::kFlagged:
      return "FLAGGED";
    case TapStatus::kRejected:
      return "REJECTED";
  }
  return "UNKNOWN";
}

absl::string_view RecordTypeName(RecordType t) {
  switch (t) {
    case RecordType::kEntry:
      return "ENTRY";
    case RecordType::kExit:
      return "EXIT";
    case RecordType::kTransfer:
      return "TRANSFER";
  }
  return "UNKNOWN";
}

std::string TapResult::ErrorText() const {
  switch (reject) {
    case RejectReason::kNone:
      return "";
    case RejectReason::kTooShort:
      return absl::StrCat("record too short: ", reject_detail, " bytes (minimum ", kMinRecordSize,
                          ")");
    case RejectReason::kTooLong:
      if (const size_t digits = HexDigitsGivenAsBase64(raw); digits > 0) {
        return absl::StrCat("record too long: ", reject_detail, " bytes (maximum ", kRecordSize,
                            "); these bytes are the base64 decoding of ", digits,
                            " hex digits: the record was given as hex where base64 is expected "
                            "(the JSON form of bytes fields); send hex in raw_hex instead, or "
                            "base64 in raw, or parse hex with 'desfirectl taps parse'");
      }
      return absl::StrCat("record too long: ", reject_detail, " bytes (maximum ", kRecordSize, ")");
    case RejectReason::kBadRecordType:
      return absl::StrFormat("unknown record type 0x%02x (expected 0x01..0x03)", reject_detail);
    case RejectReason::kUnreadableInput:
      return std::string(input_error);
  }
  return "";
}

std::string TapResult::RecordId() const {
  char buf[kMaxRecordIdLength];
  return std::string(buf, WriteRecordId(buf));
}

std::string TapResult::DedupKey() const {
  char buf[kMaxDedupKeyLength];
  return std::string(buf, WriteDedupKey(buf));
}

char* TapResult::WriteRecordId(char* out) const {
  HexEncodeTo(ByteSpan(fields.uid, 4), out);
  out[8] = '_';
  return WriteDecimal(out + 9, fields.timestamp);
}

char* TapResult::WriteDedupKey(char* out) const {
  HexEncodeTo(ByteSpan(fields.uid, kUidLength), out);
  out += 2 * kUidLength;
  *out++ = ':';
  out = WriteDecimal(out, fields.timestamp);
  *out++ = ':';
  return WriteDecimal(out, fields.terminal_id);
}

}  // namespace desfired::tap
