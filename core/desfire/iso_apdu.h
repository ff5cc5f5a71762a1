// ISO/IEC 7816-4 file commands of MIFARE DESFire EV1/EV2/EV3, DESFire Light and NTAG 424 DNA:
// the command APDUs and the decoding of their answers, as pure functions (DesfireCard sends
// them: iso_files.cc; docs/ev3.md "ISO 7816-4 file access" says what the cards offer).
//
//   SELECT FILE      00 A4 P1 0C Lc id        P1 00: a DF or EF by its 2-byte ISO FID (3F00:
//                                             the PICC level); 02: an EF of the current DF;
//                                             04: a DF by its name (1..16 bytes)
//   READ BINARY      00 B0 P1 P2 Le           P1 b8=1: b5..b1 the short file id (the DESFire
//                                             file number), P2 the offset (0..255); b8=0:
//                                             the current EF, P1 P2 the offset (0..32767)
//   UPDATE BINARY    00 D6 P1 P2 Lc data      addressed as READ BINARY; no Le
//   READ RECORD(S)   00 B2 P1 P2 Le           P1 the record number (1: the newest), P2
//                                             SFI << 3 | 04 (that record) or | 05 (it and all
//                                             older ones); SFI 0: the current EF
//   APPEND RECORD    00 E2 00 P2 Lc data      P2 SFI << 3 (0: the current EF)
//
// (pm3 client/src/mifare/desfirecore.c DesfireISO*, NXP reader library phalMfdfEVx_Sw_Iso*.)
// Le 256 is sent as 00: "as many as there are, up to 256".
//
// Errors: the builders return OUT_OF_RANGE for an offset over 255 with an SFI or over 32767
// without, or a record number outside 1..254, and INVALID_ARGUMENT for the rest the APDU cannot
// carry (an SFI over 31, an empty or over-255-byte update, a DF name outside 1..16 bytes).
// DecodeIsoAnswer returns the data of a 90 00 answer; another status word is the ISO table's error
// (core/apdu/apdu.h: 6A82 NOT_FOUND, 6982 PERMISSION_DENIED, 6B00 / 6700 INVALID_ARGUMENT,
// 6A83 NOT_FOUND, ...); fewer than 2 bytes UNAVAILABLE / CARD_REMOVED; more data than asked
// for INTERNAL / PROTOCOL_ERROR.
//
// Thread-safe: pure functions.
#ifndef DESFIRED_CORE_DESFIRE_ISO_APDU_H_
#define DESFIRED_CORE_DESFIRE_ISO_APDU_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "core/apdu/apdu.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

inline constexpr uint8_t kIsoInsSelect = 0xA4;
inline constexpr uint8_t kIsoInsReadBinary = 0xB0;
inline constexpr uint8_t kIsoInsUpdateBinary = 0xD6;
inline constexpr uint8_t kIsoInsReadRecord = 0xB2;
inline constexpr uint8_t kIsoInsAppendRecord = 0xE2;

// The PICC level (master file) and the NDEF application of NTAG 424 DNA (NFC Forum Type 4
// Tag): DF name D2 76 00 00 85 01 01, DF FID E110, capability container E103, NDEF file E104.
inline constexpr uint16_t kIsoMasterFileId = 0x3F00;
inline constexpr uint8_t kNdefDfName[] = {0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01};

// Largest offset with a short file id, and without one (the current EF).
inline constexpr uint32_t kIsoMaxSfiOffset = 0xFF;
inline constexpr uint32_t kIsoMaxOffset = 0x7FFF;
// Most bytes one READ BINARY / READ RECORD answers, one UPDATE BINARY / APPEND RECORD carries.
inline constexpr size_t kIsoMaxRead = 256;
inline constexpr size_t kIsoMaxWrite = 255;
// Highest record number READ RECORD can name.
inline constexpr uint32_t kIsoMaxRecordNo = 254;

enum class IsoSelectBy : uint8_t {
  kFileId = 0x00,   // a DF or an EF by its ISO FID
  kChildEf = 0x02,  // an EF of the current DF by its ISO FID
  kDfName = 0x04,   // a DF by its name
};

// A file of the selected DF: by short file id (the file number) or the current EF (nullopt).
using IsoFile = std::optional<uint8_t>;

absl::StatusOr<apdu::CommandApdu> IsoSelectCommand(IsoSelectBy by, ByteSpan id);
// `le` 1..256.
absl::StatusOr<apdu::CommandApdu> IsoReadBinaryCommand(IsoFile file, uint32_t offset, size_t le);
absl::StatusOr<apdu::CommandApdu> IsoUpdateBinaryCommand(IsoFile file, uint32_t offset,
                                                         ByteSpan data);
absl::StatusOr<apdu::CommandApdu> IsoReadRecordCommand(IsoFile file, uint32_t record_no,
                                                       bool and_older);
absl::StatusOr<apdu::CommandApdu> IsoAppendRecordCommand(IsoFile file, ByteSpan data);

// The data of the answer `raw` to a command that asked for at most `max_data` bytes.
absl::StatusOr<Bytes> DecodeIsoAnswer(ByteSpan raw, size_t max_data);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_ISO_APDU_H_
