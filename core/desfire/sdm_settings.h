// Secure Dynamic Messaging (SDM) settings of a standard data file (NTAG 424 DNA, DESFire EV3,
// DESFire Light): what the card mirrors into the file's content on every read (the UID and
// read counter, plain or enciphered as PICCData, enciphered file data, a MAC), and where.
//
//   SdmSettings sdm{.uid_mirror = true, .read_ctr_mirror = true, .meta_read = 2,
//                   .file_read = 1, .ctr_ret = 1, .picc_data_offset = 32,
//                   .mac_input_offset = 67, .mac_offset = 67};
//   DESFIRED_ASSIGN_OR_RETURN(Bytes tail, EncodeSdmSettings(sdm, {.file_size = 256}));
//
// The wire form follows the NT4H2421 data sheet as AN12196 §6.9 (ChangeFileSettings,
// p.34: `40 00E0 C1 F121 200000 430000 430000`) and proxmark3 `cmdhfntag424.c` lay it out,
// after FileOption (bit 6: SDM enabled) and the access rights:
//   SDMOptions(1): bit 7 UID mirror, bit 6 SDMReadCtr mirror, bit 5 SDMReadCtrLimit,
//                  bit 4 SDMENCFileData, bit 0 ASCII encoding (always set: the only mode)
//   SDMAccessRights(2, LE of MetaRead<<12 | FileRead<<8 | F<<4 | CtrRet)
//   then the 3-byte little-endian fields that apply, in this order:
//     UIDOffset        UID mirrored and SDMMetaRead = E (plain)
//     SDMReadCtrOffset counter mirrored and SDMMetaRead = E
//     PICCDataOffset   SDMMetaRead a key (0..D): PICCData enciphered
//     SDMMACInputOffset, [SDMENCOffset, SDMENCLength], SDMMACOffset   SDMFileRead a key
//     SDMReadCtrLimit  bit 5
// Offsets count bytes of the file; every mirror is ASCII hex: UID 14 characters, counter 6
// (most significant first), PICCData 32 (AES) or 48 (LRP: PICCRand ‖ ciphertext), the MAC 16,
// the enciphered file data SDMENCLength (a multiple of 32).
//
// Thread-safe: value types and pure functions.
#ifndef DESFIRED_CORE_DESFIRE_SDM_SETTINGS_H_
#define DESFIRED_CORE_DESFIRE_SDM_SETTINGS_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/util/bytes.h"

namespace desfired::desfire {

// FileOption bit 6 (ChangeFileSettings, GetFileSettings; CreateStdDataFile on EV3, where a file
// created without it can never get SDM).
inline constexpr uint8_t kFileOptionSdm = 0x40;

// SDM access-right values beside the key numbers 0..13.
inline constexpr uint8_t kSdmPlain = 0x0E;  // SDMMetaRead: mirror UID / counter in plain
inline constexpr uint8_t kSdmNone = 0x0F;   // no mirror, no MAC, no counter retrieval

struct SdmSettings {
  bool uid_mirror = false;        // SDMOptions bit 7
  bool read_ctr_mirror = false;   // bit 6
  bool enc_file_data = false;     // bit 4 (needs both mirrors and SDMFileRead a key)
  uint8_t meta_read = kSdmNone;   // key 0..13 (PICCData enciphered), kSdmPlain or kSdmNone
  uint8_t file_read = kSdmNone;   // key 0..13 (SDMMAC, file data) or kSdmNone
  uint8_t ctr_ret = kSdmNone;     // GetFileCounters: key 0..13, 0xE free, 0xF never
  uint32_t uid_offset = 0;        // meta_read plain, uid_mirror
  uint32_t read_ctr_offset = 0;   // meta_read plain, read_ctr_mirror
  uint32_t picc_data_offset = 0;  // meta_read a key
  uint32_t mac_input_offset = 0;  // file_read a key
  uint32_t enc_offset = 0;        // enc_file_data
  uint32_t enc_length = 0;        // enc_file_data: ASCII characters, a multiple of 32
  uint32_t mac_offset = 0;        // file_read a key
  std::optional<uint32_t> read_ctr_limit =
      std::nullopt;  // bit 5: reads stop when the counter reaches it

  bool operator==(const SdmSettings&) const = default;
};

struct SdmLayout {
  uint32_t file_size = 0;  // 0: unknown (the bounds against the file are not checked)
  bool lrp = false;        // PICCData is 48 characters under LRP, 32 under AES
  // Errors name the field as this prefix ‖ the desfired.v1.SdmSettings field name.
  absl::string_view field_prefix = "sdm.";
};

// Mirror lengths in the file (ASCII hex characters).
inline constexpr uint32_t kSdmUidChars = 14;
inline constexpr uint32_t kSdmCtrChars = 6;
inline constexpr uint32_t kSdmMacChars = 16;
uint32_t SdmPiccDataChars(bool lrp);

// Checks `sdm` (the rules of the header: fields that do not apply must be 0, offsets in 24 bits
// and, with a known size, inside the file; mirrors that do not overlap; the MAC input starting
// at or before the MAC, the enciphered data between the MAC input offset and the MAC) and
// returns SDMOptions ‖ SDMAccessRights ‖ the offsets. INVALID_ARGUMENT with the field's path
// in the "field" metadata (core/apdu/error_metadata.h).
absl::StatusOr<Bytes> EncodeSdmSettings(const SdmSettings& sdm, const SdmLayout& layout);

// Decodes what EncodeSdmSettings writes (the tail of a GetFileSettings answer after the file
// size). INTERNAL / PROTOCOL_ERROR when it is short or has bytes left over.
absl::StatusOr<SdmSettings> DecodeSdmSettings(ByteSpan data);

}  // namespace desfired::desfire

#endif  // DESFIRED_CORE_DESFIRE_SDM_SETTINGS_H_
