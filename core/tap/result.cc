#include "core/tap/result.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace desfired::tap {

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
      return absl::StrCat("record too long: ", reject_detail, " bytes (maximum ", kRecordSize, ")");
    case RejectReason::kBadRecordType:
      return absl::StrFormat("unknown record type 0x%02x (expected 0x01..0x03)", reject_detail);
    case RejectReason::kUnreadableInput:
      return std::string(input_error);
  }
  return "";
}

std::string TapResult::RecordId() const {
  return absl::StrCat(HexEncode(ByteSpan(fields.uid, 4)), "_", fields.timestamp);
}

std::string TapResult::DedupKey() const {
  return absl::StrCat(HexEncode(ByteSpan(fields.uid, kUidLength)), ":", fields.timestamp, ":",
                      fields.terminal_id);
}

}  // namespace desfired::tap
