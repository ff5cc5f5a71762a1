// ISO/IEC 7816-4 command and response APDUs (short form only) and status words.
//
//   CommandApdu select{.cla = 0x00, .ins = 0xA4, .p1 = 0x04, .p2 = 0x00,
//                      .data = aid, .le = 0};
//   Bytes wire = select.Encode();                       // 00 A4 04 00 07 <aid> 00
//   DESFIRED_ASSIGN_OR_RETURN(ResponseApdu r, ResponseApdu::Parse(reply));
//   if (r.sw() != kSwSuccess) return StatusWordToStatus(r.sw());
//
// Errors:
//   CommandApdu::Validate   INVALID_ARGUMENT when data.size() > 255 or le > 256 (Encode
//                           itself cannot fail; validate sizes that come from callers).
//   ResponseApdu::Parse       UNAVAILABLE, reason CARD_REMOVED, for fewer than 2 bytes (an
//                             empty or one-byte reply means the card left the field).
//   StatusWordToStatus        the status of the ISO table below, with the SW as payload
//                             (type.desfired.dev/iso7816-sw) and a reason.
//
// Thread-safe: value types and pure functions.
#ifndef DESFIRED_CORE_APDU_APDU_H_
#define DESFIRED_CORE_APDU_APDU_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/util/bytes.h"

namespace desfired::apdu {

// Largest Lc of a short APDU.
inline constexpr size_t kMaxShortLc = 255;

struct CommandApdu {
  uint8_t cla = 0;
  uint8_t ins = 0;
  uint8_t p1 = 0;
  uint8_t p2 = 0;
  Bytes data;                  // omitted from the wire (no Lc) when empty
  std::optional<uint16_t> le;  // 1..256 or 0 meaning 256 (encoded 00); nullopt = no Le

  // INVALID_ARGUMENT if data.size() > 255 or le > 256.
  absl::Status Validate() const;
  // CLA INS P1 P2 [Lc data] [Le]. Call Validate() first for untrusted sizes.
  Bytes Encode() const;
};

struct ResponseApdu {
  Bytes data;
  uint8_t sw1 = 0;
  uint8_t sw2 = 0;

  uint16_t sw() const { return static_cast<uint16_t>(sw1 << 8 | sw2); }

  // Splits `raw` into data and SW1 SW2. UNAVAILABLE / CARD_REMOVED when raw.size() < 2.
  static absl::StatusOr<ResponseApdu> Parse(ByteSpan raw);
};

// Status words with a name.
inline constexpr uint16_t kSwSuccess = 0x9000;
inline constexpr uint16_t kSwWrongLength = 0x6700;
inline constexpr uint16_t kSwSecurityNotSatisfied = 0x6982;
inline constexpr uint16_t kSwConditionsNotSatisfied = 0x6985;
inline constexpr uint16_t kSwWrongData = 0x6A80;
inline constexpr uint16_t kSwFileNotFound = 0x6A82;
inline constexpr uint16_t kSwWrongP1P2 = 0x6B00;
inline constexpr uint16_t kSwFileIncompatible = 0x6981;  // command incompatible with the file
inline constexpr uint16_t kSwNoCurrentEf = 0x6986;       // command not allowed: no current EF
inline constexpr uint16_t kSwRecordNotFound = 0x6A83;
inline constexpr uint16_t kSwNotEnoughMemory = 0x6A84;  // not enough memory space in the file
inline constexpr uint16_t kSwIncorrectP1P2 = 0x6A86;
inline constexpr uint16_t kSwInsNotSupported = 0x6D00;
inline constexpr uint16_t kSwClaNotSupported = 0x6E00;
inline constexpr uint16_t kSwUnknown = 0x6F00;

struct StatusWordInfo {
  uint16_t sw;
  absl::StatusCode code;
  absl::string_view reason;
  absl::string_view text;
};

// The table entry for `sw`, or nullptr for status words not in the table.
const StatusWordInfo* FindStatusWord(uint16_t sw);

// OK for 9000; otherwise the table's code (UNKNOWN for status words not in it), a message
// "<text> (SW 6A82)", the SW payload and the reason payload.
absl::Status StatusWordToStatus(uint16_t sw);

}  // namespace desfired::apdu

#endif  // DESFIRED_CORE_APDU_APDU_H_
