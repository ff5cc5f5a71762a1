#include "sim/card/protocol.h"

#include <algorithm>

#include "core/util/enum_table.h"

namespace desfired::sim {
namespace {

// The one status table of the card.
constexpr EnumRow<Sw, absl::string_view> kSwTable[] = {
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

absl::string_view SwName(Sw sw) { return ValueOf(kSwTable, sw).value_or("UNKNOWN_STATUS"); }

namespace {

constexpr size_t kAtsHeader = 2;  // TL, T0
constexpr uint8_t kT0InterfaceBits = 0x70;
constexpr size_t kMaxHistoricalBytes = 15;

size_t AtsInterfaceBytes(uint8_t t0) {
  size_t n = 0;
  for (uint8_t bit = 0x10; bit & kT0InterfaceBits; bit = static_cast<uint8_t>(bit << 1)) {
    if (t0 & bit) ++n;
  }
  return n;
}

}  // namespace

bool IsValidAts(ByteSpan ats) {
  if (ats.size() < kAtsHeader || ats.size() > kMaxAtsLength || ats[0] != ats.size()) {
    return false;
  }
  return kAtsHeader + AtsInterfaceBytes(ats[1]) <= ats.size();
}

ByteSpan AtsHistoricalBytes(ByteSpan ats) {
  if (!IsValidAts(ats)) return {};
  return ats.subspan(kAtsHeader + AtsInterfaceBytes(ats[1]));
}

Bytes AtrFromAts(ByteSpan ats) {
  ByteSpan hist = AtsHistoricalBytes(ats);
  if (hist.size() > kMaxHistoricalBytes) hist = hist.subspan(0, kMaxHistoricalBytes);
  constexpr size_t kAtrHeader = 4;  // TS 3B, T0 8n, TD1 80, TD2 01
  Bytes atr(kAtrHeader + hist.size() + 1);
  atr[0] = 0x3B;
  atr[1] = static_cast<uint8_t>(0x80 | hist.size());
  atr[2] = 0x80;
  atr[3] = 0x01;
  std::copy(hist.begin(), hist.end(), atr.begin() + kAtrHeader);
  uint8_t tck = 0;
  for (size_t i = 1; i + 1 < atr.size(); ++i) tck ^= atr[i];
  atr.back() = tck;
  return atr;
}

}  // namespace desfired::sim
