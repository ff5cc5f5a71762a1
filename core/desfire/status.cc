#include "core/desfire/status.h"

#include <array>

#include "absl/strings/cord.h"
#include "absl/strings/str_format.h"
#include "core/apdu/status_payload.h"

namespace desfired::desfire {
namespace {

using absl::StatusCode;

constexpr std::array<DesfireStatusInfo, 22> kTable = {{
    {0x00, StatusCode::kOk, "OPERATION_OK", "OK", "successful operation"},
    {0x0C, StatusCode::kOk, "NO_CHANGES", "OK", "no changes done to backup files"},
    {0x0E, StatusCode::kResourceExhausted, "OUT_OF_EEPROM_ERROR", "OUT_OF_EEPROM",
     "insufficient NV memory to complete the command"},
    {0x1C, StatusCode::kUnimplemented, "ILLEGAL_COMMAND_CODE", "ILLEGAL_COMMAND",
     "command code not supported (or a frame sequence was broken)"},
    {0x1E, StatusCode::kDataLoss, "INTEGRITY_ERROR", "INTEGRITY_ERROR",
     "CRC or MAC does not match data, or invalid padding"},
    {0x40, StatusCode::kNotFound, "NO_SUCH_KEY", "NO_SUCH_KEY", "invalid key number"},
    {0x7E, StatusCode::kInvalidArgument, "LENGTH_ERROR", "LENGTH_ERROR",
     "length of command string invalid"},
    {0x9D, StatusCode::kPermissionDenied, "PERMISSION_DENIED", "PERMISSION_DENIED",
     "current configuration or status does not allow the command"},
    {0x9E, StatusCode::kInvalidArgument, "PARAMETER_ERROR", "PARAMETER_ERROR",
     "value of a parameter invalid"},
    {0xA0, StatusCode::kNotFound, "APPLICATION_NOT_FOUND", "APPLICATION_NOT_FOUND",
     "requested AID not present on the card"},
    {0xA1, StatusCode::kDataLoss, "APPL_INTEGRITY_ERROR", "CARD_INTEGRITY_ERROR",
     "unrecoverable error within the application; it will be disabled"},
    {0xAE, StatusCode::kPermissionDenied, "AUTHENTICATION_ERROR", "AUTHENTICATION_FAILED",
     "authentication failed or not authenticated for this command"},
    {0xAF, StatusCode::kOk, "ADDITIONAL_FRAME", "OK", "additional data frame expected"},
    {0xBE, StatusCode::kOutOfRange, "BOUNDARY_ERROR", "BOUNDARY_ERROR",
     "attempt to read or write beyond the file's or record's limits, or value limit "
     "exceeded"},
    {0xC1, StatusCode::kDataLoss, "PICC_INTEGRITY_ERROR", "CARD_INTEGRITY_ERROR",
     "unrecoverable error within the card; it will be disabled"},
    {0xCA, StatusCode::kAborted, "COMMAND_ABORTED", "COMMAND_ABORTED",
     "previous command was not fully completed"},
    {0xCD, StatusCode::kFailedPrecondition, "PICC_DISABLED_ERROR", "CARD_DISABLED",
     "card was disabled by an unrecoverable error"},
    {0xCE, StatusCode::kResourceExhausted, "COUNT_ERROR", "COUNT_ERROR",
     "number of applications or files limited, no more can be created"},
    {0xDE, StatusCode::kAlreadyExists, "DUPLICATE_ERROR", "DUPLICATE",
     "application or file already exists"},
    {0xEE, StatusCode::kDataLoss, "EEPROM_ERROR", "CARD_INTEGRITY_ERROR",
     "could not complete NV write operation due to loss of power"},
    {0xF0, StatusCode::kNotFound, "FILE_NOT_FOUND", "FILE_NOT_FOUND",
     "specified file number does not exist"},
    {0xF1, StatusCode::kDataLoss, "FILE_INTEGRITY_ERROR", "CARD_INTEGRITY_ERROR",
     "unrecoverable error within the file; it will be disabled"},
}};

}  // namespace

absl::Span<const DesfireStatusInfo> DesfireStatusTable() { return kTable; }

const DesfireStatusInfo* FindDesfireStatus(uint8_t status) {
  for (const DesfireStatusInfo& info : kTable) {
    if (info.status == status) return &info;
  }
  return nullptr;
}

absl::Status DesfireStatusToStatus(uint8_t status) {
  const DesfireStatusInfo* info = FindDesfireStatus(status);
  if (info != nullptr && info->code == StatusCode::kOk) return absl::OkStatus();
  absl::Status result =
      info != nullptr ? absl::Status(info->code, absl::StrFormat("%s (DESFire status %02X %s)",
                                                                 info->text, status, info->name))
                      : absl::UnknownError(absl::StrFormat("unknown DESFire status %02X", status));
  const char byte = static_cast<char>(status);
  result.SetPayload(apdu::kDesfireStatusTypeUrl, absl::Cord(absl::string_view(&byte, 1)));
  return apdu::WithReason(std::move(result), info != nullptr ? info->reason : "DESFIRE_STATUS");
}

absl::Status IntegrityError(absl::string_view message) {
  return apdu::WithReason(absl::DataLossError(message), kReasonIntegrityError);
}

absl::Status AuthenticationFailedError(absl::string_view message) {
  return apdu::WithReason(absl::PermissionDeniedError(message), kReasonAuthenticationFailed);
}

}  // namespace desfired::desfire
