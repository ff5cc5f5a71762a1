#include "sim/card/protocol.h"

namespace desfired::sim {
namespace {

struct SwEntry {
  Sw sw;
  absl::string_view name;
};

// The one status table of the card.
constexpr SwEntry kSwTable[] = {
    {Sw::kOk, "OPERATION_OK"},
    {Sw::kNoChanges, "NO_CHANGES"},
    {Sw::kOutOfEeprom, "OUT_OF_EEPROM_ERROR"},
    {Sw::kIllegalCommand, "ILLEGAL_COMMAND_CODE"},
    {Sw::kIntegrityError, "INTEGRITY_ERROR"},
    {Sw::kNoSuchKey, "NO_SUCH_KEY"},
    {Sw::kLengthError, "LENGTH_ERROR"},
    {Sw::kPermissionDenied, "PERMISSION_DENIED"},
    {Sw::kParameterError, "PARAMETER_ERROR"},
    {Sw::kApplicationNotFound, "APPLICATION_NOT_FOUND"},
    {Sw::kApplicationIntegrityError, "APPL_INTEGRITY_ERROR"},
    {Sw::kAuthenticationError, "AUTHENTICATION_ERROR"},
    {Sw::kAdditionalFrame, "ADDITIONAL_FRAME"},
    {Sw::kBoundaryError, "BOUNDARY_ERROR"},
    {Sw::kPiccIntegrityError, "PICC_INTEGRITY_ERROR"},
    {Sw::kCommandAborted, "COMMAND_ABORTED"},
    {Sw::kPiccDisabled, "PICC_DISABLED_ERROR"},
    {Sw::kCountError, "COUNT_ERROR"},
    {Sw::kDuplicateError, "DUPLICATE_ERROR"},
    {Sw::kEepromError, "EEPROM_ERROR"},
    {Sw::kFileNotFound, "FILE_NOT_FOUND"},
    {Sw::kFileIntegrityError, "FILE_INTEGRITY_ERROR"},
};

}  // namespace

absl::string_view SwName(Sw sw) {
  for (const SwEntry& e : kSwTable) {
    if (e.sw == sw) return e.name;
  }
  return "UNKNOWN_STATUS";
}

}  // namespace desfired::sim
