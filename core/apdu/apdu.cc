#include "core/apdu/apdu.h"

#include <algorithm>
#include <array>
#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"

namespace desfired::apdu {
namespace {

// One table for the ISO 7816-4 status words this project acts on. The code says what the
// caller should do next: fix the request (INVALID_ARGUMENT), get the right credentials or
// state first (PERMISSION_DENIED / FAILED_PRECONDITION), or give up on the command
// (UNIMPLEMENTED).
constexpr std::array<StatusWordInfo, 14> kStatusWords = {{
    {kSwWrongLength, absl::StatusCode::kInvalidArgument, "LENGTH_ERROR", "wrong length"},
    {kSwSecurityNotSatisfied, absl::StatusCode::kPermissionDenied, "PERMISSION_DENIED",
     "security status not satisfied"},
    {kSwConditionsNotSatisfied, absl::StatusCode::kFailedPrecondition, "CONDITIONS_NOT_SATISFIED",
     "conditions of use not satisfied"},
    {kSwWrongData, absl::StatusCode::kInvalidArgument, "PARAMETER_ERROR",
     "incorrect parameters in the data field"},
    {kSwFileNotFound, absl::StatusCode::kNotFound, "FILE_NOT_FOUND",
     "file or application not found"},
    {kSwWrongP1P2, absl::StatusCode::kInvalidArgument, "PARAMETER_ERROR", "wrong P1 P2"},
    {kSwInsNotSupported, absl::StatusCode::kUnimplemented, "ILLEGAL_COMMAND",
     "instruction not supported"},
    {kSwClaNotSupported, absl::StatusCode::kUnimplemented, "ILLEGAL_COMMAND",
     "class not supported"},
    {kSwUnknown, absl::StatusCode::kUnknown, "ISO_STATUS", "no precise diagnosis"},
    {kSwFileIncompatible, absl::StatusCode::kFailedPrecondition, "WRONG_FILE_TYPE",
     "command incompatible with the file structure"},
    {kSwNoCurrentEf, absl::StatusCode::kFailedPrecondition, "CONDITIONS_NOT_SATISFIED",
     "command not allowed: no current EF"},
    {kSwRecordNotFound, absl::StatusCode::kOutOfRange, "BOUNDARY_ERROR", "record not found"},
    {kSwNotEnoughMemory, absl::StatusCode::kOutOfRange, "BOUNDARY_ERROR",
     "not enough memory space in the file"},
    {kSwIncorrectP1P2, absl::StatusCode::kInvalidArgument, "PARAMETER_ERROR",
     "incorrect parameters P1 P2"},
}};

}  // namespace

absl::Status CommandApdu::Validate() const {
  if (data.size() > kMaxShortLc) {
    return absl::InvalidArgumentError(
        absl::StrFormat("APDU data of %d bytes exceeds a short APDU (255)", data.size()));
  }
  if (le.has_value() && *le > 256) {
    return absl::InvalidArgumentError(absl::StrFormat("Le %d exceeds 256", *le));
  }
  return absl::OkStatus();
}

Bytes CommandApdu::Encode() const {
  const size_t lc_size = data.empty() ? 0 : 1 + data.size();
  Bytes out(4 + lc_size + (le.has_value() ? 1 : 0));
  out[0] = cla;
  out[1] = ins;
  out[2] = p1;
  out[3] = p2;
  if (!data.empty()) {
    out[4] = static_cast<uint8_t>(data.size());
    std::copy(data.begin(), data.end(), out.begin() + 5);
  }
  if (le.has_value()) out.back() = static_cast<uint8_t>(*le);  // 256 encodes as 00
  return out;
}

absl::StatusOr<ResponseApdu> ResponseApdu::Parse(ByteSpan raw) {
  if (raw.size() < 2) {
    return CardRemovedError(
        absl::StrFormat("response of %d bytes has no status word: card removed", raw.size()));
  }
  ResponseApdu r;
  r.data.assign(raw.begin(), raw.end() - 2);
  r.sw1 = raw[raw.size() - 2];
  r.sw2 = raw[raw.size() - 1];
  return r;
}

const StatusWordInfo* FindStatusWord(uint16_t sw) {
  for (const StatusWordInfo& info : kStatusWords) {
    if (info.sw == sw) return &info;
  }
  return nullptr;
}

absl::Status StatusWordToStatus(uint16_t sw) {
  if (sw == kSwSuccess) return absl::OkStatus();
  const StatusWordInfo* info = FindStatusWord(sw);
  absl::StatusCode code = info ? info->code : absl::StatusCode::kUnknown;
  absl::string_view text = info ? info->text : "unexpected status word";
  absl::string_view reason = info ? info->reason : kReasonIsoStatus;
  absl::Status status(code, absl::StrFormat("%s (SW %04X)", text, sw));
  const char bytes[2] = {static_cast<char>(sw >> 8), static_cast<char>(sw & 0xFF)};
  status.SetPayload(kStatusWordTypeUrl, absl::Cord(absl::string_view(bytes, 2)));
  return WithReason(std::move(status), reason);
}

}  // namespace desfired::apdu
